"""EXIF orientations as operations on pixel arrays (HxW or HxWxC).

A file read by :func:`zoo.imaging.read_image` is turned upright, as viewers show it. A JPEG's
8x8 blocks, though, are laid out from the top-left corner of the image *as stored*: restoring
the upright pixels of a turned file whose sides are not multiples of 16 puts the block grid
where no network expects it (it cost ``unet-l1`` 1-2 dB of its gain), so the restore runs on
the stored layout (:func:`as_stored`) and turns the result upright again (:func:`upright`).
"""

from __future__ import annotations

import numpy as np

ORIENTATIONS = range(1, 9)


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as EXIF ``orientation`` says (what Pillow's exif_transpose does)."""
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 5:
        return pixels.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(pixels, -1)
    if orientation == 7:
        return pixels[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(pixels, 1)
    return pixels


def as_stored(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The upright pixels turned back to the layout the file stores (undoes :func:`upright`)."""
    if orientation == 6:
        return np.rot90(pixels, 1)
    if orientation == 8:
        return np.rot90(pixels, -1)
    return upright(pixels, orientation)  # the others undo themselves
