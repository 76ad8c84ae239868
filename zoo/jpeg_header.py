"""A JPEG's frame header, read without decoding: whether the file is long enough for the size it
claims. A header damaged or forged to a larger size decodes to grey filler at the cost of that
size's memory (a 1.2 KB file claiming 14000x14000 took 5.9 GB and 37 s), with no error."""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["huffman_coded", "too_short_for"]

_HUFFMAN_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})
_ARITHMETIC_FRAMES = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and the restart markers


def huffman_coded(path: str | os.PathLike[str]) -> bool | None:
    """Whether the JPEG's frame is Huffman-coded (True) or arithmetic-coded (False); None when
    its markers cannot be followed to a frame header."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return None
        while True:
            if f.read(1) != b"\xff":
                return None
            marker = f.read(1)
            while marker == b"\xff":  # fill bytes before a marker
                marker = f.read(1)
            if not marker:
                return None
            code = marker[0]
            if code in _HUFFMAN_FRAMES or code in _ARITHMETIC_FRAMES:
                return code in _HUFFMAN_FRAMES
            if code in (0xD9, 0xDA):  # the end, or scan data, before any frame header
                return None
            if code in _NO_LENGTH:
                continue
            length = int.from_bytes(f.read(2), "big")
            if length < 2:
                return None
            f.seek(length - 2, os.SEEK_CUR)


def too_short_for(path: str | os.PathLike[str], width: int, height: int) -> str | None:
    """Why a Huffman-coded JPEG of ``width`` x ``height`` cannot be this file, or None. Each 8x8
    block of its full-resolution component codes a DC value in one bit at least (the shortest
    Huffman code; a flat image written with optimised tables takes two), so the file holds
    at least a bit per block. Arithmetic coding has no such floor and is not judged."""
    blocks = math.ceil(width / 8) * math.ceil(height / 8)
    size = Path(path).stat().st_size
    if 8 * size >= blocks or not huffman_coded(path):
        return None
    return (f"its header claims {width}x{height} pixels, which take {math.ceil(blocks / 8):,} "
            f"bytes at least, but the file has {size:,}: a damaged or forged header")
