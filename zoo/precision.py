"""Running a model at a lower precision: bfloat16 or float16 autocast around its forward.

The weights stay as they are (float32 when loaded by the zoo); ``torch.autocast`` runs the
convolutions and matrix products in the lower precision and the output comes back in the
input's dtype. The measured cost is in docs/restore.md ("Precision"); it is faster only where
the hardware computes that precision natively (recent GPUs; bf16 on CPUs with AVX512-BF16 or
AMX).
"""

from __future__ import annotations

import warnings

import torch
from torch.amp.autocast_mode import is_autocast_available

from zoo.devices import cuda_bf16_problem
from zoo.errors import ZooError, caller_stacklevel, first_line
from zoo.models.base import ModelWrapper, Restorer
from zoo.resources import doc_path

__all__ = ["DEFAULT_PRECISION", "PRECISIONS", "LowPrecision", "PrecisionWarning", "check_autocast",
           "check_precision", "warn_if_emulated", "with_precision"]

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}
"""Names accepted by ``precision=`` and ``--precision``; fp32 runs the model as it is."""
DEFAULT_PRECISION = "fp32"


def check_precision(precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision name, or a one-line error listing the names."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ZooError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def check_autocast(device: torch.device | str, precision: str) -> None:
    """Refuse in one line a precision that autocast cannot run on ``device``.

    torch fails at the first forward (a dtype a kernel lacks), warns and quietly runs fp32 (an
    unsupported dtype), or emulates bf16 on GPUs older than Ampere, far slower than fp32; all are
    caught here, before any image is read.
    """
    dtype = check_precision(precision)
    if dtype is None:
        return
    target = torch.device(device)
    kind = target.type
    if not is_autocast_available(kind):
        raise ZooError(f"{precision} is not available on {kind}; use fp32 there")
    if kind == "cuda" and dtype == torch.bfloat16:
        problem = cuda_bf16_problem(target)
        if problem:
            raise ZooError(f"bf16: {problem}; use fp16 there")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with torch.autocast(kind, dtype=dtype):
                pass
        except (RuntimeError, UserWarning) as exc:
            raise ZooError(f"{precision} is not available on {kind} "
                           f"({first_line(exc)}); use fp32 there") from None


class LowPrecision(ModelWrapper):
    """Wraps a restorer; its forward runs under ``torch.autocast`` at ``precision``."""

    def __init__(self, model: Restorer, precision: str) -> None:
        from zoo.restore import resolve_device  # here: zoo.loading need not import PIL and imaging

        dtype = check_precision(precision)
        if dtype is None:
            raise ZooError("LowPrecision needs bf16 or fp16; fp32 is the model itself")
        super().__init__(model)
        self.precision = precision
        self.dtype = dtype
        device = resolve_device(None, model)
        check_autocast(device, precision)
        self._checked = {device}

    @property
    def description(self) -> str:
        """What runs, for messages: ``unet-l1 at bf16``."""
        return f"{self.model.name} at {self.precision}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device not in self._checked:  # the model was moved after wrapping
            check_autocast(x.device, self.precision)
            self._checked.add(x.device)
        with torch.autocast(x.device.type, dtype=self.dtype):
            out = self.model(x)
        return out.to(x.dtype)


def with_precision(model: Restorer, precision: str) -> Restorer:
    """``model`` itself for fp32, else the model wrapped to run at ``precision``."""
    if check_precision(precision) is None:
        return model
    return LowPrecision(model, precision)


class PrecisionWarning(UserWarning):
    """A precision that runs, but slower than fp32 where the model is."""


def warn_if_emulated(model: Restorer, precision: str) -> None:
    """Warn once, where the model is loaded, that fp16 on a CPU is emulated: it runs, several
    times slower than fp32 (bf16 is the CPUs' fast precision)."""
    from zoo.restore import resolve_device  # here: zoo.loading need not import PIL and imaging

    if precision == "fp16" and model.num_parameters() and resolve_device(None, model).type == "cpu":
        warnings.warn(f"{model.name}: most CPUs emulate fp16, several times slower than fp32 "
                      f"({doc_path('restore.md')}, \"Precision\"); bf16 is the CPUs' fast "
                      "precision", PrecisionWarning, stacklevel=caller_stacklevel())
