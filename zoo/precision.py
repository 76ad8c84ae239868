"""Running a model at a lower precision: bfloat16 or float16 autocast around its forward.

The weights stay as they are (float32 when loaded by the zoo); ``torch.autocast`` runs the
convolutions and matrix products in the lower precision and the output comes back in the
input's dtype. The measured cost is in docs/restore.md ("Precision"); it is faster only where
the hardware computes that precision natively (GPUs; CPUs with AVX512-BF16 or AMX for bf16).
"""

from __future__ import annotations

import torch
from torch.amp.autocast_mode import is_autocast_available

from zoo.errors import ZooError
from zoo.models.base import ModelWrapper, Restorer

__all__ = ["DEFAULT_PRECISION", "PRECISIONS", "LowPrecision", "check_precision", "with_precision"]

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}
"""Names accepted by ``precision=`` and ``--precision``; fp32 runs the model as it is."""
DEFAULT_PRECISION = "fp32"


def check_precision(precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision name, or a one-line error listing the names."""
    if precision not in PRECISIONS:
        raise ZooError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


class LowPrecision(ModelWrapper):
    """Wraps a restorer; its forward runs under ``torch.autocast`` at ``precision``."""

    def __init__(self, model: Restorer, precision: str) -> None:
        dtype = check_precision(precision)
        if dtype is None:
            raise ZooError("LowPrecision needs bf16 or fp16; fp32 is the model itself")
        super().__init__(model)
        self.precision = precision
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind = x.device.type
        if not is_autocast_available(kind):
            raise ZooError(f"{self.precision} is not available on {kind}; use fp32 there")
        with torch.autocast(kind, dtype=self.dtype):
            out = self.model(x)
        return out.to(x.dtype)


def with_precision(model: Restorer, precision: str) -> Restorer:
    """``model`` itself for fp32, else the model wrapped to run at ``precision``."""
    if check_precision(precision) is None:
        return model
    return LowPrecision(model, precision)
