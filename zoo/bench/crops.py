"""Side-by-side crops for the HTML page: ground truth, JPEG and each model, for a few images."""

from __future__ import annotations

import hashlib
import os
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo.atomic import atomic_write
from zoo.datasets import Dataset
from zoo.degrade import jpeg_roundtrip, to_protocol

CROP_SIDE = 128
"""Side of the square each crop shows, in pixels."""
CROP_MARGIN = 16
"""Context restored around a crop and cut off afterwards."""


def short_name(text: str, limit: int) -> str:
    """``text`` as it is when it encodes to ``limit`` bytes or fewer, else cut to fit with a
    digest of the whole appended: a crop's name joins an image's and a model's names, and one
    over the 255 bytes a file name may have cost the page (an image named by a long title)."""
    whole = os.fsencode(text)
    if len(whole) <= limit:
        return text
    cut = text
    while len(os.fsencode(cut)) > limit - 9:
        cut = cut[:-1]
    return f"{cut}-{hashlib.sha1(whole).hexdigest()[:8]}"


def busiest_window(image: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square with the most detail (gradient energy)."""
    grey = image.astype(np.float32) if image.ndim == 2 else image.astype(np.float32).mean(axis=2)
    h, w = grey.shape
    if h <= size or w <= size:
        return 0, 0
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    step = max(size // 4, 8)
    best, corner = -1.0, (0, 0)
    for y in range(0, h - size, step):
        for x in range(0, w - size, step):
            score = float(energy[y:y + size - 1, x:x + size - 1].sum())
            if score > best:
                best, corner = score, (y, x)
    return corner


def make_crops(dataset: Dataset, models: dict[str, Any], quality: int, protocol: str, folder: Path,
               restore: Callable[[Any, np.ndarray], np.ndarray], *,
               count: int = 3) -> list[dict[str, Any]]:
    """Write PNG crops for the first ``count`` readable images; returns what the page shows.

    The crop is degraded and restored with :data:`CROP_MARGIN` pixels of context around it
    (cut off afterwards) so that the models do not see an artificial border, and the JPEG is
    encoded on the whole image so that its 8x8 grid is the one of the benchmark.
    """
    from PIL import Image

    size, margin = CROP_SIDE, CROP_MARGIN
    folder.mkdir(parents=True, exist_ok=True)
    shown = []
    for image_id, loader in dataset.items:
        if len(shown) >= count:
            break
        try:
            truth = to_protocol(loader(), protocol)
        except Exception:  # noqa: BLE001  (unreadable images are reported by the runner)
            continue
        degraded = jpeg_roundtrip(truth, quality)
        y, x = busiest_window(truth, size)
        y0, x0 = max(y - margin, 0), max(x - margin, 0)
        y1, x1 = min(y + size + margin, truth.shape[0]), min(x + size + margin, truth.shape[1])
        inner = (slice(y - y0, y - y0 + size), slice(x - x0, x - x0 + size))
        panels = {"ground truth": truth[y:y + size, x:x + size],
                  f"JPEG q{quality}": degraded[y:y + size, x:x + size]}
        for name, model in models.items():
            try:
                panels[name] = restore(model, degraded[y0:y1, x0:x1])[inner]
            except Exception:  # noqa: BLE001  (the runner reports model failures)
                continue
        files = {}
        for label, crop in panels.items():
            safe = short_name("".join(c if c.isalnum() or c in "-_" else "_" for c in label), 80)
            path = folder / f"{short_name(image_id, 120)}_{protocol}_q{quality}_{safe}.png"
            png = Image.fromarray(np.ascontiguousarray(crop))
            atomic_write(path, partial(png.save, format="PNG"), mode="wb")
            files[label] = path
        shown.append({"image": image_id, "quality": quality, "protocol": protocol, "files": files})
    return shown
