"""The degradation of the benchmark protocol: libjpeg at quality q, 4:2:0 set explicitly.

Two protocols (../shared/DESIGN.md; docs/bench.md states them): ``rgb`` encodes the RGB image; ``y`` first converts it to the
MATLAB ``rgb2ycbcr`` luma (rounded to uint8) and encodes that as a greyscale JPEG.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image, features

Protocol = Literal["rgb", "y"]
PROTOCOLS: tuple[Protocol, ...] = ("rgb", "y")
GREY_WEIGHTS = (0.299, 0.587, 0.114)
"""BT.601 weights of R, G, B in a full-range (0..255) grey image."""


def luma(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma of an RGB image on 0..255, unrounded float64."""
    x = rgb[..., :3].astype(np.float64)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma of a uint8 RGB image, rounded to uint8 (16..235)."""
    if rgb.ndim == 2:
        return rgb
    return np.clip(np.round(luma(rgb)), 0, 255).astype(np.uint8)


def full_range_grey(rgb: np.ndarray) -> np.ndarray:
    """BT.601 grey of a uint8 RGB image on the full 0..255 range, as a black-and-white photograph
    has (unlike ``rgb_to_y``'s 16..235 luma)."""
    if rgb.ndim == 2:
        return rgb
    grey = rgb[..., :3].astype(np.float64) @ np.array(GREY_WEIGHTS)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def to_protocol(rgb_or_grey: np.ndarray, protocol: Protocol) -> np.ndarray:
    """The ground truth under a protocol: HxWx3 RGB for ``rgb``, HxW luma for ``y``."""
    if protocol == "y":
        return rgb_to_y(rgb_or_grey)
    if protocol == "rgb":
        if rgb_or_grey.ndim == 2:
            return np.repeat(rgb_or_grey[..., None], 3, axis=2)
        return rgb_or_grey[..., :3]
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """Encode a uint8 HxW (grey) or HxWx3 (RGB) image with libjpeg, 4:2:0 chroma subsampling."""
    # A whole number only: int() would make 10.7 quality 10 and True quality 1 without a word.
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be a whole number in 1..100, got {quality!r}")
    buf = io.BytesIO()
    # subsampling=2 is 4:2:0; optimize/progressive off so the bytes match OpenCV's defaults.
    Image.fromarray(np.ascontiguousarray(image)).save(
        buf, format="JPEG", quality=int(quality), subsampling=2, optimize=False, progressive=False)
    return buf.getvalue()


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode then decode: the degraded image the models see (same shape and dtype)."""
    with Image.open(io.BytesIO(jpeg_bytes(image, quality))) as decoded:
        return np.asarray(decoded.convert("L" if image.ndim == 2 else "RGB"))


def encoder_description() -> str:
    """The encoder and its libjpeg version, recorded with every result."""
    import PIL

    return f"Pillow {PIL.__version__} ({libjpeg_description()}), 4:2:0"


def libjpeg_description() -> str:
    """The libjpeg that encodes (what decides the JPEG's bytes; Pillow only passes settings)."""
    turbo = features.version("libjpeg_turbo")
    api = features.version("jpg") or "unknown"
    return f"libjpeg-turbo {turbo}, libjpeg API {api}" if turbo else f"libjpeg {api}"
