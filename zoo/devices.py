"""Where models run: the default device, refusing in one line a device that is not here, and
whether a CUDA device computes bf16 natively. fp32 computed as fp32 there is :mod:`zoo.fp32`'s
job."""

from __future__ import annotations

import torch

from zoo.errors import ZooError

__all__ = ["SUPPORTED_DEVICE_TYPES", "DeviceSpec", "cuda_bf16_problem", "default_device", "usable_device"]

SUPPORTED_DEVICE_TYPES = ("cpu", "cuda", "mps")

DeviceSpec = str | int | torch.device | None
"""What a ``device`` argument takes: a name, a CUDA index, a torch.device, or None (the default)."""


def default_device() -> str:
    """CUDA when there is one, else the CPU (an Apple GPU only when asked for)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


_DEVICE_NAMES = "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
"""The device names every command takes (``--device``, a recipe's ``device``, ``device=``)."""


def usable_device(device: DeviceSpec) -> torch.device:
    """``device`` (default: CUDA when available), refused in one line when it is not here.

    An int is a CUDA index, as in torch; ``auto`` (a recipe's default) is the default. An empty
    name, as an unset shell variable gives, is refused rather than taken for the default. Checked
    before anything moves, so that a refused device leaves a model where it was.
    """
    spec = default_device() if device is None or device == "auto" else device
    if isinstance(spec, bool) or spec == "":
        raise ZooError(f"device {device!r}: not a device; use {_DEVICE_NAMES}")
    try:
        target = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ZooError(f"device {device!r}: not a torch device; use {_DEVICE_NAMES}") from None
    shown = repr(str(device))
    if target.type == "cuda":
        if not torch.cuda.is_available():
            raise ZooError(f"device {shown}: no CUDA device is available here; use 'cpu'")
        count = torch.cuda.device_count()
        if target.index is not None and target.index >= count:
            raise ZooError(f"device {shown}: this machine has {count} CUDA device(s), "
                           f"cuda:0 to cuda:{count - 1}")
    elif target.type == "mps" and not torch.backends.mps.is_available():
        raise ZooError(f"device {shown}: no MPS (Apple GPU) device is available here; use 'cpu'")
    elif target.type not in SUPPORTED_DEVICE_TYPES:
        raise ZooError(f"device {shown}: models run on {', '.join(SUPPORTED_DEVICE_TYPES)}, "
                       f"not {target.type}")
    return target


def cuda_bf16_problem(device: torch.device) -> str:
    """Why the CUDA ``device`` does not compute bf16 natively, or "" when it does (Ampere, compute
    capability 8.0, and later; ROCm GPUs). ``torch.cuda.is_bf16_supported()`` also says yes on
    older GPUs, where bf16 is only emulated (or fails in some kernels)."""
    if torch.version.hip:
        return ""
    props = torch.cuda.get_device_properties(device)
    if props.major >= 8:
        return ""
    return (f"{props.name} (compute capability {props.major}.{props.minor}) has no native bf16; "
            "it needs 8.0, Ampere or later")
