"""Numerical building blocks that follow MATLAB's definitions exactly (float64, numpy).

The reference NIQE and BRISQUE values come from MATLAB code, so the details that change
their scores are reproduced here: ``fspecial('gaussian')``, ``imfilter`` padding modes and
``imresize``'s antialiased kernels with symmetric boundary handling.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import ndimage

Padding = Literal["replicate", "zeros", "symmetric"]
_SCIPY_MODE = {"replicate": "nearest", "zeros": "constant", "symmetric": "reflect"}


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """The separable factor of ``fspecial('gaussian', size, sigma)`` (sums to one)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def filter_same(image: np.ndarray, kernel_1d: np.ndarray, padding: Padding) -> np.ndarray:
    """``imfilter(image, k' * k, padding, 'same')`` for a symmetric separable kernel ``k``."""
    mode = _SCIPY_MODE[padding]
    out = ndimage.correlate1d(image, kernel_1d, axis=0, mode=mode, cval=0.0)
    return ndimage.correlate1d(out, kernel_1d, axis=1, mode=mode, cval=0.0)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``bicubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2)))


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - np.abs(x), 0.0, None)


_KERNELS = {"bicubic": (_cubic, 4.0), "bilinear": (_triangle, 2.0)}


@lru_cache(maxsize=64)
def _resize_taps(in_len: int, scale: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize``'s per-output weights and 0-based source indices along one axis.

    Both are (out_len, taps); mirrored out-of-range taps keep their own column, as in
    MATLAB's ``contributions``, and all-zero tap columns are dropped like its ``kill`` step.
    """
    kernel, width = _KERNELS[method]
    out_len = int(np.ceil(in_len * scale))
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in input coordinates (1-based)
    if scale < 1:  # antialiasing: the kernel is stretched by 1/scale
        width = width / scale
        def h(t: np.ndarray) -> np.ndarray:
            return scale * kernel(scale * t)
    else:
        h = kernel
    left = np.floor(u - width / 2.0)
    idx = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    weights = h(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    # Out-of-range taps mirror back into the image (MATLAB's symmetric index folding).
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    src = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], src[:, keep]


def _resize_axis0(image: np.ndarray, scale: float, method: str) -> np.ndarray:
    weights, src = _resize_taps(image.shape[0], scale, method)
    # Tap by tap, in order, like MATLAB's imresizemex: no BLAS, so the rounding (which
    # decides the sign of MSCN values in flat regions) is the same on every machine.
    out = np.zeros((weights.shape[0],) + image.shape[1:], dtype=np.float64)
    for k in range(weights.shape[1]):
        out += weights[:, k, None] * image[src[:, k]]
    return out


def imresize(image: np.ndarray, scale: float, method: str = "bicubic") -> np.ndarray:
    """MATLAB ``imresize(image, scale, method)`` on a 2-D float64 array (antialiased)."""
    image = np.asarray(image, dtype=np.float64)
    rows_done = _resize_axis0(image, float(scale), method)  # MATLAB resizes dimension 1 first
    return _resize_axis0(rows_done.T, float(scale), method).T


# MATLAB rgb2gray: the first row of inv(ntsc matrix), rounded back to uint8 for uint8 input.
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def rgb2gray(image: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of a uint8 image as float64 (grey input is returned as float64)."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return np.round(image[..., :3].astype(np.float64) @ _RGB2GRAY)
