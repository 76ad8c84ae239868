"""PSNR and PSNR-B (Yim and Bovik 2011) on uint8 images, 0..255 scale, float64."""

from __future__ import annotations

import math

import numpy as np

BLOCK = 8


def _as_float(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def check_pair(restored: np.ndarray, reference: np.ndarray | None) -> None:
    """ValueError unless a reference of the restored image's shape is given (full-reference
    metrics)."""
    if reference is None:
        raise ValueError("this metric needs a reference image")
    if restored.shape != reference.shape:
        raise ValueError(f"image shapes differ: {restored.shape} vs {reference.shape}")


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def psnr(restored: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB; one MSE over all pixels and channels (BasicSR convention)."""
    check_pair(restored, reference)
    diff = _as_float(restored) - _as_float(reference)
    return _psnr_from_mse(float(np.mean(diff * diff)))


def blocking_effect_factor(channel: np.ndarray, block: int = BLOCK, *,
                           exact_counts: bool = False) -> float:
    """BEF of one 2-D channel: eta * (D_B - D_B^c) when positive, else 0.

    D_B is the mean squared difference of horizontally and vertically adjacent pixel pairs
    that straddle a block boundary, D_B^c that of all other adjacent pairs; eta =
    log2(block) / log2(min(H, W)). The sums run over every pair, but the pair counts that
    divide them are those of SwinIR's evaluation code (after Ehrlich's quantization-guided-ac):
    ``H * (W // block - 1)`` boundary pairs along a row, although a width that is not a multiple
    of ``block`` has one boundary more (FBCNN's code divides by ``H * (W / block - 1)``, a
    fraction; docs/metrics.md gives both differences).
    Where a count is not positive (a side under 8 px, or both under 16; that code divides by
    zero or by a negative count) BEF is 0, and PSNR-B is PSNR. ``exact_counts``: divide by the
    pairs really summed instead (benchmarks/psnr_b_counts.py measures what that changes).
    """
    x = _as_float(channel)
    h, w = x.shape
    if min(h, w) < 2:
        return 0.0
    dh = (x[:, 1:] - x[:, :-1]) ** 2  # pair (c, c+1) for c = 0..W-2
    dv = (x[1:, :] - x[:-1, :]) ** 2
    col_boundary = (np.arange(w - 1) % block) == block - 1
    row_boundary = (np.arange(h - 1) % block) == block - 1
    n_b = (h * int(col_boundary.sum()) + w * int(row_boundary.sum()) if exact_counts
           else h * (w // block - 1) + w * (h // block - 1))
    n_c = h * (w - 1) + w * (h - 1) - n_b
    if n_b <= 0 or n_c <= 0:
        return 0.0
    d_b = (dh[:, col_boundary].sum() + dv[row_boundary, :].sum()) / n_b
    d_c = (dh[:, ~col_boundary].sum() + dv[~row_boundary, :].sum()) / n_c
    eta = math.log2(block) / math.log2(min(h, w))
    return float(eta * (d_b - d_c)) if d_b > d_c else 0.0


def psnr_b(restored: np.ndarray, reference: np.ndarray, *, exact_counts: bool = False) -> float:
    """PSNR-B in dB: 10 log10(255^2 / (MSE + BEF(restored))) per channel, then averaged
    (``exact_counts``: :func:`blocking_effect_factor`'s)."""
    check_pair(restored, reference)
    out = _as_float(restored)
    ref = _as_float(reference)
    if out.ndim == 2:
        out, ref = out[..., None], ref[..., None]
    values = []
    for c in range(out.shape[2]):
        mse = float(np.mean((out[..., c] - ref[..., c]) ** 2))
        values.append(_psnr_from_mse(mse + blocking_effect_factor(out[..., c],
                                                                  exact_counts=exact_counts)))
    return float(np.mean(values))
