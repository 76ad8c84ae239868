"""Estimating a JPEG file's quality (the IJG/libjpeg 1-100 scale) from its quantization tables.

libjpeg, and so Pillow, ``cjpeg`` and most software, writes quality ``q`` as the standard tables
of the JPEG specification (Annex K) scaled by ``5000 / q`` below 50 and ``200 - 2 q`` from 50 on:
such a file's quality is found exactly. Other encoders (cameras, phones, MozJPEG) write tables
of their own; they get the quality whose tables are nearest, on average within
:data:`TOLERANCE`, marked ``exact=False``, and None when no quality comes that near.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

__all__ = ["QualityEstimate", "TOLERANCE", "estimate_quality", "ijg_table", "quality_from_tables"]

LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99)
"""The JPEG specification's luminance table (Annex K.1), row by row (Pillow's order)."""

CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *(99,) * 32)
"""The specification's chrominance table (Annex K.2), row by row."""

TOLERANCE = math.log(1.5)
"""How far tables that are no IJG quality's may lie from the nearest one's: the mean of
|log(entry / IJG entry)|, here a factor of 1.5 on average."""

_BASELINE_MAX = 255
"""A baseline JPEG's largest entry (8-bit tables); libjpeg clips to it unless told otherwise."""


@dataclass(frozen=True)
class QualityEstimate:
    """A JPEG's quality on the IJG scale; ``exact``: its tables are that quality's, entry for
    entry (else the nearest quality's, within :data:`TOLERANCE`)."""

    quality: int
    exact: bool

    def __str__(self) -> str:
        return str(self.quality) if self.exact else f"~{self.quality}"


@functools.cache  # an inexact estimate compares with all 100 qualities' tables
def ijg_table(base: tuple[int, ...], quality: int, largest: int = _BASELINE_MAX) -> tuple[int, ...]:
    """``base`` scaled to ``quality`` (1-100) as libjpeg's ``jpeg_set_quality`` does."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(max((value * scale + 50) // 100, 1), largest) for value in base)


def _distance(table: Sequence[int], reference: Sequence[int]) -> float:
    """Mean |log(entry / reference entry)|: 0 for equal tables, scale-free otherwise."""
    return sum(abs(math.log(a / b)) for a, b in zip(table, reference)) / len(reference)


@functools.cache
def _exact_qualities(bases: tuple[tuple[int, ...], ...],
                     largest: int) -> dict[tuple[tuple[int, ...], ...], int]:
    """Each IJG quality's scaled ``bases`` -> the lowest quality that has them."""
    qualities: dict[tuple[tuple[int, ...], ...], int] = {}
    for quality in range(1, 101):
        qualities.setdefault(tuple(ijg_table(base, quality, largest) for base in bases), quality)
    return qualities


def quality_from_tables(tables: Mapping[int, Sequence[int]]) -> QualityEstimate | None:
    """The IJG quality of quantization ``tables`` (Pillow's ``Image.quantization``: table 0
    luminance, table 1 chrominance if any); None when none is within :data:`TOLERANCE`."""
    pairs = [(tables[key], base) for key, base in ((0, LUMINANCE), (1, CHROMINANCE))
             if key in tables and len(tables[key]) == 64]
    if not pairs or any(min(table) < 1 for table, _ in pairs):
        return None
    largest = _BASELINE_MAX if max(max(t) for t, _ in pairs) <= _BASELINE_MAX else 32767
    given = tuple(tuple(table) for table, _ in pairs)
    exact = _exact_qualities(tuple(base for _, base in pairs), largest).get(given)
    if exact is not None:  # the common case: a libjpeg quality's own tables
        return QualityEstimate(exact, exact=True)
    best_distance, best = math.inf, 0
    for quality in range(1, 101):
        scaled = [(table, ijg_table(base, quality, largest)) for table, (_, base) in zip(given, pairs)]
        distance = sum(_distance(t, r) for t, r in scaled) / len(scaled)
        if distance < best_distance:
            best_distance, best = distance, quality
    return QualityEstimate(best, exact=False) if best_distance <= TOLERANCE else None


def estimate_quality(source: str | os.PathLike[str] | Image.Image) -> QualityEstimate | None:
    """The IJG quality of a JPEG file (or an opened PIL image); None for any other format, a file
    that cannot be read, or tables that match no quality (:func:`quality_from_tables`)."""
    if isinstance(source, Image.Image):
        return _image_quality(source)
    try:
        with Image.open(source) as image:  # the header only: the pixels are not decoded
            return _image_quality(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _image_quality(image: Image.Image) -> QualityEstimate | None:
    # Phones and cameras write MPO files (a JPEG and its previews), which Pillow opens as such.
    tables = getattr(image, "quantization", None) if isinstance(image, JpegImageFile) else None
    return quality_from_tables(tables) if tables else None
