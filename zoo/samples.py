"""Built-in sample photographs (shipped losslessly in scikit-image's wheel), for demos and tests.

``sample_image_path("astronaut", quality=10)`` writes the photograph JPEG-compressed under the
benchmark protocol (libjpeg, 4:2:0) and returns the file, ready for ``zoo restore``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.atomic import atomic_write
from zoo.errors import ZooError

__all__ = ["SAMPLE_NAMES", "sample_image", "sample_image_path", "sample_images"]


def _stereo_left() -> np.ndarray:
    from skimage import data

    return data.stereo_motorcycle()[0]


def _loader(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _loader("astronaut"),    # 512x512 RGB
    "camera": _loader("camera"),          # 512x512 grey
    "chelsea": _loader("chelsea"),        # 300x451 RGB
    "coffee": _loader("coffee"),          # 400x600 RGB
    "motorcycle": _stereo_left,           # 500x741 RGB, left image of stereo_motorcycle
}
SAMPLE_NAMES: tuple[str, ...] = tuple(sorted(_LOADERS))


def sample_image(name: str) -> np.ndarray:
    """One sample photograph: uint8 HxWx3 RGB (``camera`` is HxW grey)."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ZooError(f"unknown sample image {name!r}; choose one of "
                       f"{', '.join(SAMPLE_NAMES)}") from None
    return np.ascontiguousarray(loader(), dtype=np.uint8)


def sample_images() -> dict[str, np.ndarray]:
    """Every sample photograph by name."""
    return {name: sample_image(name) for name in SAMPLE_NAMES}


def sample_file_name(name: str, quality: int | None) -> str:
    """The file :func:`sample_image_path` writes: ``NAME.png``, or ``NAME-qQ.jpg`` at a quality."""
    return f"{name}.png" if quality is None else f"{name}-q{int(quality)}.jpg"


def sample_image_path(name: str, quality: int | None = None,
                      folder: str | os.PathLike[str] | None = None) -> Path:
    """Write a sample to ``folder`` (default: the zoo cache) and return the file.

    ``quality=None`` writes the lossless original as PNG; a quality writes ``NAME-qQ.jpg``
    encoded with libjpeg at that quality and 4:2:0 chroma subsampling.
    """
    from zoo.resources import cache_dir

    data = sample_file_bytes(name, quality)
    folder = Path(folder) if folder is not None else cache_dir() / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(folder / sample_file_name(name, quality),
                        lambda handle: handle.write(data), mode="wb")


def sample_file_bytes(name: str, quality: int | None = None) -> bytes:
    """The file :func:`sample_image_path` writes: PNG for ``quality=None``, else libjpeg's JPEG
    at that quality with 4:2:0 chroma subsampling."""
    from zoo.degrade import jpeg_bytes

    pixels = sample_image(name)
    if quality is not None:
        return jpeg_bytes(pixels, quality)
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
