"""Weights files: safetensors save (fp16), strict load with shape/dtype/finiteness checks, sha256.

Where a registry entry's weights come from (path, Hub, shipped copy) is :mod:`zoo.pretrained`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from zoo.atomic import atomic_write
from zoo.errors import WeightsError, first_few

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FLOAT_DTYPES", "FORMAT_VERSION", "REDOWNLOAD", "load_weights", "save_weights",
           "sha256_file", "state_digest", "weights_shapes"]

FORMAT_VERSION = "1"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_digest(model: nn.Module) -> str:
    """A short digest of a model's tensors (names, dtypes, shapes, values): which weights these are.

    ``"-"`` for a model without tensors (``jpeg``).
    """
    state = model.state_dict()
    if not state:
        return "-"
    h = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def save_weights(model: nn.Module, path: str | os.PathLike[str], *,
                 dtype: torch.dtype = torch.float16) -> str:
    """Write ``model``'s state dict as safetensors (floating tensors cast to ``dtype``); return sha256.

    The file is written atomically. Its metadata names the architecture and the format version.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        tensor = value.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.to(dtype)
            if not torch.isfinite(tensor).all():
                raise WeightsError(f"{path}: tensor {key!r} does not fit in {dtype} "
                                   "(overflow); save with dtype=torch.float32")
        # Clone so that tensors sharing storage are written as independent tensors.
        tensors[key] = tensor.contiguous().clone()
    metadata = {"format": "zoo", "format_version": FORMAT_VERSION,
                "architecture": type(model).__name__, "dtype": str(dtype).removeprefix("torch.")}
    data = _canonical_header(safetensors_bytes(tensors, metadata=metadata))
    atomic_write(path, lambda handle: handle.write(data), mode="wb")
    return sha256_file(path)


def _canonical_header(data: bytes) -> bytes:
    """``data`` with its JSON header's keys sorted, so equal tensors give equal bytes (sha256).

    safetensors writes ``__metadata__`` in a per-process random order (safetensors issue #584),
    so without this two exports of the same weights have different digests. Sorting keeps the
    header's length (same compact JSON, reordered), so the tensor bytes stay where they are.
    """
    (length,) = struct.unpack("<Q", data[:8])
    header = json.dumps(json.loads(data[8:8 + length]), sort_keys=True,
                        separators=(",", ":")).encode()
    if len(header) > length:  # the library's JSON differs in form: keep its header as it is
        return data
    return data[:8] + header.ljust(length, b" ") + data[8 + length:]


REDOWNLOAD = "delete it and download or export it again"

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
"""The float tensors a weights file may hold: float8 kinds have no finiteness check in torch
(and are no format the zoo writes)."""


def _is_torch_save(path: Path, head: bytes) -> bool:
    """A ``torch.save`` file: a zip archive holding ``data.pkl``, or (before torch 1.6) a pickle."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _pickle_refusal(path: Path) -> str:
    return (f"{path} is a PyTorch pickle (torch.save), not safetensors; the zoo loads "
            "safetensors only (they cannot run code): convert it with safetensors.torch."
            "save_file(torch.load(PATH, weights_only=True), 'model.safetensors')")


def torch_save_refusal(path: Path) -> str | None:
    """What to do with ``path`` when it is a ``torch.save`` file; None when it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return _pickle_refusal(path) if _is_torch_save(path, head) else None


def _check_complete(path: Path, remedy: str = REDOWNLOAD) -> None:
    """Refuse a missing file, or one shorter than its safetensors header says (a cut download)."""
    if path.is_dir():
        raise WeightsError(f"{path} is a folder, not a safetensors file (a saved model folder "
                           "loads as the model itself: zoo.load(FOLDER), --model FOLDER)")
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found; check the path")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            (header_len,) = struct.unpack("<Q", head)
            if header_len > size:
                raise ValueError
            header = json.loads(f.read(header_len))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        if not all(isinstance(e, int) and not isinstance(e, bool) for e in ends):
            raise TypeError
        end = max(ends, default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError,
            UnicodeDecodeError, RecursionError):
        # Only a file that is not safetensors is looked at as a pickle: a safetensors header
        # length can begin with the bytes of a pickle's protocol mark.
        if _is_torch_save(path, head):
            raise WeightsError(_pickle_refusal(path)) from None
        if path.suffix.lower() != ".safetensors":  # a photo or another format: nothing to delete
            raise WeightsError(f"{path} is not a safetensors file: weights are .safetensors files "
                               "(a zoo train export's model.safetensors, say)") from None
        raise WeightsError(f"{path} is truncated or not a safetensors file; {remedy}") from None
    if 8 + header_len + end > size:
        raise WeightsError(f"{path} is truncated ({size} of {8 + header_len + end} bytes); "
                           f"{remedy}")


def weights_shapes(path: str | os.PathLike[str], remedy: str = REDOWNLOAD) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a safetensors file, from its header (no data is read);
    ``remedy`` ends the message about a damaged file."""
    path = Path(path)
    _check_complete(path, remedy)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except SafetensorError as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc}); {remedy}") from None


def load_weights(model: nn.Module, path: str | os.PathLike[str], *,
                 expected_sha256: str | None = None, remedy: str = REDOWNLOAD) -> None:
    """Load a safetensors file into ``model``, strictly; tensors are cast to the model's dtypes.

    With ``expected_sha256`` the file's hash is checked before anything is read into the model.
    Missing or unexpected keys, shape mismatches and integer tensors for float parameters (or
    the reverse) are refused with a :class:`WeightsError`; ``remedy`` ends the messages about
    a damaged file.
    """
    path = Path(path)
    _check_complete(path, remedy)
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            raise WeightsError(
                f"{path}: sha256 {actual[:12]}... does not match the expected {expected_sha256[:12]}... "
                f"(corrupt file or another version); {remedy}")
    own = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            keys = set(f.keys())
            missing = sorted(set(own) - keys)
            unexpected = sorted(keys - set(own))
            if missing or unexpected:
                arch = metadata.get("architecture", "an unknown architecture")
                problems = [f"missing {first_few(missing)}" if missing else "",
                            f"unexpected {first_few(unexpected)}" if unexpected else ""]
                raise WeightsError(
                    f"{path} (saved from {arch}) does not fit {type(model).__name__}: "
                    f"{'; '.join(p for p in problems if p)}; use the weights made for this model")
            loaded: dict[str, torch.Tensor] = {}
            for key in sorted(keys):
                tensor = f.get_tensor(key)
                if tensor.shape != own[key].shape:
                    raise WeightsError(
                        f"{path}: {key!r} has shape {tuple(tensor.shape)}, the model expects "
                        f"{tuple(own[key].shape)}; use the weights made for this model's arguments")
                if tensor.is_floating_point() != own[key].is_floating_point():
                    raise WeightsError(
                        f"{path}: {key!r} is {tensor.dtype}, the model expects {own[key].dtype} "
                        "(a quantised or corrupt file?); use float weights made for this model")
                if tensor.is_floating_point() and tensor.dtype not in FLOAT_DTYPES:
                    raise WeightsError(
                        f"{path}: {key!r} is {tensor.dtype}; the zoo loads float16, bfloat16, "
                        "float32 or float64 weights: save them in one of those")
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    raise WeightsError(f"{path}: {key!r} holds NaN or infinite values (a diverged "
                                       "or corrupt training run); its restorations would be garbage")
                loaded[key] = tensor.to(own[key].dtype)
    except SafetensorError as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc}); {remedy}") from None
    model.load_state_dict(loaded, strict=True)
