"""Checkpoints that survive a kill: safetensors for tensors, a JSON sidecar for the rest.

Each checkpoint is a folder ``step-XXXXXXXX/`` holding ``state.safetensors`` and ``meta.json``
(with the sha256 of the tensor file). It is written into a hidden temporary folder, synced,
then renamed into place, so a kill leaves either the whole checkpoint or none. A checkpoint
whose files are torn or whose checksum does not match is skipped, with a warning, in favour
of the previous one. No pickle anywhere: RNG states are stored as tensors and JSON lists.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

__all__ = ["flatten_optimizer", "latest_checkpoint", "list_checkpoints", "restore_rng",
           "rng_state", "save_checkpoint", "unflatten_optimizer"]

STATE_FILE = "state.safetensors"
META_FILE = "meta.json"
_PREFIX = "step-"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(folder: Path, step: int, tensors: dict[str, torch.Tensor],
                    meta: dict[str, Any], keep: int) -> Path:
    """Write a checkpoint atomically and delete all but the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PREFIX}{step:08d}"
    tmp = folder / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = tmp / STATE_FILE
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, state)
    meta = {**meta, "step": step, "sha256": _sha256(state)}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
    for path in (state, tmp / META_FILE, tmp):
        _fsync(path)
    if final.exists():  # the same step saved again after a resume
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(folder)
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(_PREFIX))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta = json.loads((path / META_FILE).read_text())
    state = path / STATE_FILE
    if _sha256(state) != meta.get("sha256"):
        raise ValueError("checksum mismatch (torn or modified state file)")
    return load_file(state), meta


def latest_checkpoint(folder: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest intact checkpoint; torn ones are reported and skipped."""
    for path in reversed(list_checkpoints(folder)):
        try:
            tensors, meta = _read(path)
        except (OSError, ValueError, KeyError) as exc:  # JSONDecodeError is a ValueError
            warnings.warn(f"checkpoint {path} is unusable ({exc}); trying the previous one",
                          stacklevel=2)
            continue
        return path, tensors, meta
    return None


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state as (tensors, JSON-able rest)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                        rest: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for idx, entries in rest["scalars"].items():
        state.setdefault(int(idx), {}).update(entries)
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Python, numpy and torch (CPU and CUDA) RNG states as tensors + JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
