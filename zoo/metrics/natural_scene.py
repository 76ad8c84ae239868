"""Natural-scene statistics shared by NIQE and BRISQUE (Mittal, Moorthy, Bovik).

MSCN coefficients and the moment-matching fits of the (asymmetric) generalised Gaussian,
vectorised over rows: each row of the input is one sample vector (a block or an image).
The parameter grid (0.2:0.001:10) and the NaN behaviour of empty halves follow the
reference MATLAB code (``min`` over a row of NaN picks the first grid value).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma

from zoo.metrics.matlab import Padding, filter_same, gaussian_kernel_1d

_GRID = 0.2 + 0.001 * np.arange(9801)  # MATLAB 0.2:0.001:10
_AGGD_RATIO = gamma(2.0 / _GRID) ** 2 / (gamma(1.0 / _GRID) * gamma(3.0 / _GRID))
_GGD_RATIO = gamma(1.0 / _GRID) * gamma(3.0 / _GRID) / gamma(2.0 / _GRID) ** 2
_WINDOW = gaussian_kernel_1d(7, 7.0 / 6.0)
# Shifts of MATLAB circshift(x, [dr dc]): horizontal, vertical, main and anti diagonal.
PAIR_SHIFTS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (-1, 1))


def mscn(image: np.ndarray, padding: Padding) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients, 7x7 Gaussian window (sigma 7/6)."""
    mu = filter_same(image, _WINDOW, padding)
    sigma = np.sqrt(np.abs(filter_same(image * image, _WINDOW, padding) - mu * mu))
    return (image - mu) / (sigma + 1.0)


def _grid_argmin(cost: np.ndarray) -> np.ndarray:
    """Grid value at the per-row minimum of ``cost``, as MATLAB's ``[m, i] = min(cost)``: NaN
    entries are passed over, and a row of NaN only (a block of zero MSCN coefficients, a black
    region's) gives the first grid value, 0.2, which NIQE's mean then counts as the reference's
    does (its standard deviations stay NaN and are left out, as ``nanmean`` leaves them)."""
    return _GRID[np.argmin(np.where(np.isnan(cost), np.inf, cost), axis=1)]


def ggd_fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Gaussian shape ``alpha`` and variance per row."""
    var = np.mean(rows * rows, axis=1)
    mean_abs = np.mean(np.abs(rows), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = var / mean_abs**2
    alpha = _grid_argmin(np.abs(rho[:, None] - _GGD_RATIO[None, :]))
    return alpha, var


def aggd_fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric generalised Gaussian fit per row: ``(alpha, left_std, right_std)``."""
    sq = rows * rows
    neg, pos = rows < 0, rows > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.sqrt((sq * neg).sum(axis=1) / neg.sum(axis=1))
        right = np.sqrt((sq * pos).sum(axis=1) / pos.sum(axis=1))
        g = left / right
        r_hat = np.mean(np.abs(rows), axis=1) ** 2 / np.mean(sq, axis=1)
        r_norm = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = _grid_argmin((_AGGD_RATIO[None, :] - r_norm[:, None]) ** 2)
    return alpha, left, right


def paired_products(coeffs: np.ndarray) -> list[np.ndarray]:
    """Products with the four circularly shifted neighbours over the last two axes."""
    return [coeffs * np.roll(coeffs, shift, axis=(-2, -1)) for shift in PAIR_SHIFTS]
