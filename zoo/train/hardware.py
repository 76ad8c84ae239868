"""Where training runs and at what precision: the device, the autocast dtype, CPU denormals."""

from __future__ import annotations

import sys

import torch

from zoo.devices import cuda_bf16_problem, usable_device
from zoo.distributed import ReportedElsewhere, local_cuda_device
from zoo.errors import RecipeError, ZooError
from zoo.precision import PRECISIONS
from zoo.train.denormals import flush_denormals

__all__ = ["autocast_dtype", "cpu_has_native_bf16", "flush_cpu_denormals", "resolve_device"]


def resolve_device(spec: str, local_rank: int = 0, where: str = "") -> torch.device:
    """The recipe's device, checked: ``auto`` is CUDA when there is one; ``cuda`` is this rank's.
    An error names ``where`` (the recipe file, or the option that set the device) first."""
    try:
        if spec in ("cuda", "auto") and torch.cuda.is_available():
            spec = local_cuda_device(local_rank, "device=cuda:0")
        return usable_device(None if spec == "auto" else spec)
    except ReportedElsewhere:
        raise
    except ZooError as exc:
        raise RecipeError(f"{where}: {exc}" if where else str(exc)) from None


def cpu_has_native_bf16() -> bool:
    """Whether torch's oneDNN (mkldnn) reports bf16 support on this CPU; False where it cannot say."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(precision: str, device: torch.device, where: str = "") -> torch.dtype | None:
    """The autocast dtype: ``auto`` is bf16 on CUDA (fp16, with a gradient scaler, on GPUs without
    native bf16), and bf16 on a CPU with native bf16 kernels (AVX512-BF16/AMX), where it measured
    1.75x faster for unet-l1 and 1.8x for the LPIPS-VGG loss on an idle 2-core machine; fp32 on
    other CPUs, where bf16 is emulated. An explicit bf16 on a GPU without it is refused (an error
    names ``where``, the recipe file or option that set the precision)."""
    problem = cuda_bf16_problem(device) if device.type == "cuda" else ""
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16 if problem else torch.bfloat16
        return torch.bfloat16 if cpu_has_native_bf16() else None
    if precision == "bf16" and problem:
        message = f"precision bf16: {problem}; use fp16 or auto"
        raise RecipeError(f"{where}: {message}" if where else message)
    return PRECISIONS[precision]


def flush_cpu_denormals() -> None:
    """Flush denormals (zoo.train.denormals); say so when only some CPU threads could be reached."""
    share = flush_denormals()
    if 0.0 < share < 1.0:
        print(f"note: denormal floats are flushed on {share:.0%} of the CPU threads (torch's thread "
              "pool started before training did); training in a fresh process is faster",
              file=sys.stderr, flush=True)
