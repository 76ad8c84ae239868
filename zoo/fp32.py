"""fp32 computed as fp32: :func:`exact_fp32` turns off TF32 on GPUs and bf16 matrix products on
CPUs for the code inside, and puts the caller's settings back after."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["exact_fp32"]

_PRECISION_SETTINGS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul", "mkldnn.conv",
                       "mkldnn.rnn")
"""torch.backends' ``fp32_precision`` settings (torch 2.9 and later): TF32 on GPUs, and bf16 on
CPUs for a caller that asked for ``set_float32_matmul_precision("medium")``."""
_exact_lock = threading.Lock()
_exact_users = 0
_exact_restore: Callable[[], None] | None = None


@contextmanager
def exact_fp32() -> Iterator[None]:
    """fp32 convolutions and matrix products computed in fp32: on GPUs that have TF32 (Ampere
    and later) cuDNN's convolutions default to TF32's 10 mantissa bits, enough to move scores by
    thousandths of a dB, and "fp32" results and speeds would not be fp32; a caller may also have
    asked torch for TF32, or for bf16 matrix products on a CPU. The caller's settings come back
    as they were when the last of the threads inside leaves (the settings are the process's).
    On torch 2.9 and later, code inside (in any thread) must not read the legacy ``allow_tf32``
    flags, which torch refuses once the newer settings are used."""
    global _exact_users, _exact_restore
    with _exact_lock:
        if _exact_users == 0:
            _exact_restore = _set_exact_fp32()
        _exact_users += 1
    try:
        yield
    finally:
        with _exact_lock:
            _exact_users -= 1
            if _exact_users == 0 and _exact_restore is not None:
                _exact_restore()
                _exact_restore = None


def fp32_settings() -> dict[str, object]:
    """torch's reduced-precision fp32 settings now, by name: ``fp32_precision`` values (torch
    2.9 and later; ``"ieee"`` is full fp32), else the legacy ``allow_tf32`` flags."""
    settings = _precision_settings()
    if settings:
        return {path: s.fp32_precision for path, s in settings.items()}
    return {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32}


def _set_exact_fp32() -> Callable[[], None]:
    """Turn every reduced-precision fp32 setting off; returns what puts them back."""
    settings = list(_precision_settings().values())
    if settings:  # the newer API: reading the legacy flags once it was used is an error
        before = [s.fp32_precision for s in settings]

        def put_back() -> None:
            for s, value in zip(settings, before):
                s.fp32_precision = value
        try:
            for s in settings:
                s.fp32_precision = "ieee"
        except BaseException:  # one refused: the ones set already go back too
            put_back()
            raise
        return put_back
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    cudnn_before, matmul_before = cudnn.allow_tf32, matmul.allow_tf32
    cudnn.allow_tf32 = matmul.allow_tf32 = False

    def put_back_legacy() -> None:
        cudnn.allow_tf32, matmul.allow_tf32 = cudnn_before, matmul_before
    return put_back_legacy


@functools.cache
def _precision_settings() -> dict[str, Any]:
    """The ``fp32_precision`` settings this torch has, by name (none before torch 2.9); looked
    up once, as each outermost :func:`exact_fp32` would otherwise walk the six paths again."""
    found = {path: _backend(path) for path in _PRECISION_SETTINGS}
    return {path: s for path, s in found.items() if hasattr(s, "fp32_precision")}


def _backend(path: str) -> object | None:
    found: object | None = torch.backends
    for part in path.split("."):
        found = getattr(found, part, None)
    return found
