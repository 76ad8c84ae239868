"""SSIM and MS-SSIM in numpy/scipy, float64 on the 0..255 scale.

SSIM: Gaussian window 11x11, sigma 1.5, K = (0.01, 0.03), 'valid' filtering, no automatic
downsampling (MATLAB ``ssim_index`` of Wang et al.). MS-SSIM: Wang's MATLAB ``msssim``
(5 scales, weights 0.0448/0.2856/0.3001/0.2363/0.1333, mean contrast-structure at the
first four scales, SSIM at the last; between scales a 2x2 box filter with symmetric
padding, then every second pixel). RGB: the mean of the per-channel values
(pytorch_msssim's and BasicSR's convention).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from zoo.metrics.digest import KeepLast, pixel_digest
from zoo.metrics.matlab import gaussian_kernel_1d
from zoo.metrics.psnr import check_pair

WIN_SIZE = 11
WIN_SIGMA = 1.5
MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
# The coarsest of the 5 scales must hold the 11-pixel window; like pytorch_msssim we ask
# for a short side above (WIN_SIZE - 1) * 2**4 = 160 pixels.
MS_SSIM_MIN_SIDE = (WIN_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1

_WINDOW = gaussian_kernel_1d(WIN_SIZE, WIN_SIGMA)
_C1, _C2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2

# SSIM and MS-SSIM's first scale filter the same full-resolution pair; a benchmark row computes
# both, so the terms of the last pair are kept (the filtering is most of either metric's cost).
_FULL_SCALE: KeepLast[tuple[np.ndarray, np.ndarray]] = KeepLast()


def _channels(image: np.ndarray) -> np.ndarray:
    """A float64 (C, H, W) view of an HxW or HxWxC image."""
    x = np.asarray(image, dtype=np.float64)
    return x[None] if x.ndim == 2 else np.moveaxis(x, 2, 0)


def _blur_valid(stack: np.ndarray) -> np.ndarray:
    """Gaussian 'valid' filtering of every map of a (..., H, W) stack (crop after each pass)."""
    half = WIN_SIZE // 2
    out = ndimage.correlate1d(stack, _WINDOW, axis=-2)[..., half:-half, :]
    return ndimage.correlate1d(out, _WINDOW, axis=-1)[..., half:-half]


BAND_ROWS = 128
"""Rows of the SSIM maps computed at a time: the filtered terms of a whole 20-MP colour image
took 7.7 GB; a band of rows holds them for its rows only (the maps, and so the means, are the
same to the bit: every value is computed from the same pixels in the same order)."""


def _ssim_and_cs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean SSIM and mean contrast-structure term per channel of (C, H, W) images."""
    margin = WIN_SIZE - 1
    rows, cols = x.shape[-2] - margin, x.shape[-1] - margin
    ssim_map = np.empty(x.shape[:-2] + (rows, cols))
    cs_map = np.empty_like(ssim_map)
    for top in range(0, rows, BAND_ROWS):
        end = min(top + BAND_ROWS, rows)
        xs, ys = x[..., top:end + margin, :], y[..., top:end + margin, :]
        mu_x, mu_y, xx, yy, xy = _blur_valid(np.stack([xs, ys, xs * xs, ys * ys, xs * ys]))
        mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
        cs = (2 * (xy - mu_xy) + _C2) / ((xx - mu_xx) + (yy - mu_yy) + _C2)
        luminance = (2 * mu_xy + _C1) / (mu_xx + mu_yy + _C1)
        cs_map[..., top:end, :] = cs
        ssim_map[..., top:end, :] = luminance * cs
    return ssim_map.mean(axis=(-2, -1)), cs_map.mean(axis=(-2, -1))


def _halve(x: np.ndarray) -> np.ndarray:
    """MATLAB ``imfilter(x, ones(2)/4, 'symmetric', 'same')`` sampled at ``(1:2:end, 1:2:end)``."""
    h, w = x.shape[-2:]
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, h % 2), (0, w % 2)], mode="edge")
    return 0.25 * (x[..., 0::2, 0::2] + x[..., 1::2, 0::2]
                   + x[..., 0::2, 1::2] + x[..., 1::2, 1::2])


def ssim(restored: np.ndarray, reference: np.ndarray) -> float:
    """SSIM in [-1, 1]; NaN when a side is shorter than the 11-pixel window."""
    check_pair(restored, reference)
    if min(restored.shape[:2]) < WIN_SIZE:
        return float("nan")
    value, _ = _FULL_SCALE.get(pixel_digest(restored, reference),
                               lambda: _ssim_and_cs(_channels(restored), _channels(reference)))
    return float(value.mean())


def ms_ssim_scales(restored: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The (5, C) per-scale terms of MS-SSIM: mean contrast-structure at scales 1-4, SSIM at 5.

    Scale 1 is the full image; between scales ``msssim.m``'s 2x2 box filter and decimation.
    """
    check_pair(restored, reference)
    x, y = _channels(restored), _channels(reference)
    terms = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        if level == 0:
            value, cs = _FULL_SCALE.get(pixel_digest(restored, reference), lambda: _ssim_and_cs(x, y))
        else:
            value, cs = _ssim_and_cs(x, y)
        if level < len(MS_SSIM_WEIGHTS) - 1:
            terms.append(cs)
            x, y = _halve(x), _halve(y)
        else:
            terms.append(value)
    return np.stack(terms)


def ms_ssim(restored: np.ndarray, reference: np.ndarray) -> float:
    """MS-SSIM (5 scales, Wang 2003 weights); NaN when the short side is <= 160 pixels.

    The weighted product of the per-scale terms (``msssim.m``'s ``'product'`` method, the
    definition of the paper). Negative terms are clamped to zero before the product (as
    pytorch_msssim does; MATLAB would return a complex number there).
    """
    check_pair(restored, reference)
    if min(restored.shape[:2]) < MS_SSIM_MIN_SIDE:
        return float("nan")
    terms = ms_ssim_scales(restored, reference)
    per_channel = np.prod(np.maximum(terms, 0.0) ** MS_SSIM_WEIGHTS[:, None], axis=0)
    return float(per_channel.mean())
