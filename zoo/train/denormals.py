"""Flush float32 denormals to zero during CPU training.

Adam's moment estimates for parameters whose gradients are near zero decay into the denormal
range (below 1.2e-38). On x86, each arithmetic instruction on a denormal needs a microcode
assist. At the end of `unet-l1` run 4, 5.6M of its 14.2M moment values were denormal, and
flushing made Adam's step 3.4x faster on 2 threads (`python benchmarks/speed_denormals.py`).
Without flushing, run 5's throughput fell 18 % over its first 12000 steps; with it, the rate held.
Values this small are far below Adam's epsilon, so flushing them changes no update in any way
that matters.

MXCSR, the register that holds the flush mode, is per thread. torch's intra-op threads copy it
when they start, at the first parallel op. So :func:`flush_denormals` must run before that op to
reach every thread.
"""

from __future__ import annotations

import torch

__all__ = ["DENORMAL_BITS", "flush_denormals", "flushed_share"]

# Exponent bits zero, mantissa non-zero: a float32 denormal (about 1.5e-39), built from its bits
# so that no float conversion (which flushing would itself zero) is involved.
DENORMAL_BITS = 0x00100000


def flushed_share() -> float:
    """The share of an elementwise op's output that torch's CPU threads flush to zero.

    1.0 when every intra-op thread flushes, 0.0 when none does, in between when only some do.
    """
    x = torch.full((1 << 20,), DENORMAL_BITS, dtype=torch.int32).view(torch.float32)
    return float((x * 1.0 == 0).float().mean())


def flush_denormals() -> float:
    """Turn on flush-to-zero and denormals-are-zero; return :func:`flushed_share` after.

    Returns 0.0 where the CPU or this torch build does not support the flags.
    """
    if not torch.set_flush_denormal(True):
        return 0.0
    return flushed_share()
