"""Content digests of images, and a one-entry store, so a metric can keep work for the last
image (pair) it saw.

A benchmark scores every model at every quality against the same ground truth and computes
several metrics of one pair in a row; keys follow pixel content, not object identity (arrays
are re-created between calls and may be views of changing buffers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def pixel_digest(*images: np.ndarray) -> tuple[bytes, tuple[tuple[int, ...], ...], tuple[str, ...]]:
    """A key naming the images' pixels, shapes and dtypes (blake2b, 128 bits)."""
    h = hashlib.blake2b(digest_size=16)
    for image in images:
        h.update(np.ascontiguousarray(image).data)
    return (h.digest(), tuple(image.shape for image in images),
            tuple(str(image.dtype) for image in images))


class KeepLast(Generic[T]):
    """The value computed for the last key asked for, kept until another key comes. Threads
    may share it: each gets its own key's value (it read the entry back after storing it, and
    another thread's entry could come in between: 16-20 of 1200 LPIPS values from 4 threads
    were another image's)."""

    def __init__(self) -> None:
        self._entry: tuple[Hashable, T] | None = None

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value kept for ``key``, else ``compute()``'s, which is kept in its place."""
        entry = self._entry  # one read: another thread may replace it at any moment
        if entry is None or entry[0] != key:
            entry = (key, compute())
            self._entry = entry
        return entry[1]
