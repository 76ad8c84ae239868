"""Benchmark datasets: any folder of images, the built-in ``sample`` suite, DIV2K validation.

A :class:`Dataset` is a name plus a sorted list of ``(image id, loader)`` pairs; a loader
returns the ground truth as a uint8 array (HxWx3 RGB or HxW grey) or raises
:class:`~zoo.errors.ImageError`, so that one bad file is reported and skipped, not fatal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.div2k import div2k_dir, div2k_found, div2k_names, div2k_present
from zoo.errors import DataError, ZooError
from zoo.resources import cache_dir

Loader = Callable[[], np.ndarray]

IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".ppm", ".pgm",
                            ".webp"})


@dataclass
class Dataset:
    """A named, ordered list of ground-truth images."""

    name: str
    items: list[tuple[str, Loader]]
    source: str = ""
    """Where the images come from (a resolved folder, a package), for the user; two datasets of
    one name are the same when their sources are."""
    label: str = ""
    """Where the images come from without this machine's layout, for meta.json and leaderboards:
    a folder as the user gave it (relative to the working directory when under it), ``data
    cache: NAME``; empty: ``source`` says it."""
    ignored: list[str] = field(default_factory=list)
    """Files in the folder that are not images (by suffix), reported, never read."""

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        return [image_id for image_id, _ in self.items]

    def readable(self, on_error: Callable[[str], None] = print) -> Iterator[tuple[str, np.ndarray]]:
        """``(id, pixels)`` of each image that loads; each one that does not goes to ``on_error``
        as one line, and the rest still follow."""
        for image_id, load in self.items:
            try:
                yield image_id, load()
            except ZooError as exc:
                on_error(f"skipped: {exc}")


def read_image(path: Path) -> np.ndarray:
    """Read a ground-truth image: HxW grey or HxWx3 RGB uint8 (alpha dropped); ImageError if bad."""
    from zoo.imaging import read_image as read_file

    return read_file(path).pixels


def folder_dataset(folder: str | Path, name: str | None = None, label: str | None = None) -> Dataset:
    """Every image file in ``folder`` (not recursive), sorted by file name; ``label`` (default:
    :func:`portable_folder` of ``folder``) is how meta.json records it."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of images")
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    items = [(p.stem, _file_loader(p)) for p in images]
    ids = [i for i, _ in items]
    if len(set(ids)) != len(ids):
        # Two files with one stem (a.png, a.bmp): keep the suffix so that ids stay unique.
        items = [(p.name, _file_loader(p)) for p in images]
    ignored = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return Dataset(name or root.resolve().name, items, source=str(root.resolve()), ignored=ignored,
                   label=portable_folder(folder) if label is None else label)


def portable_folder(folder: str | Path) -> str:
    """A folder as given, when relative (``../data/Set14``, ``~/LIVE1``); an absolute one
    relative to the working directory when under it, else as given."""
    path = Path(folder)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (OSError, ValueError):
        return str(folder)


def _file_loader(path: Path) -> Loader:
    return lambda: read_image(path)


def sample_dataset() -> Dataset:
    """The photographs shipped with scikit-image: runs anywhere, offline."""
    from zoo.samples import sample_images

    images = sample_images()
    items = [(name, _array_loader(images[name])) for name in sorted(images)]
    return Dataset("sample", items, source="scikit-image sample photographs (skimage.data)")


def _array_loader(array: np.ndarray) -> Loader:
    return lambda: np.asarray(array)


def div2k_dataset() -> Dataset:
    if not div2k_present():
        found = div2k_found()
        state = (f"is incomplete ({found} of {len(div2k_names())} images); run `zoo data fetch "
                 "div2k --force`" if found else "is not there; run `zoo data fetch div2k`")
        raise DataError(f"{div2k_dir()}: DIV2K validation {state}, or pass --data DIR for a copy "
                        "elsewhere")
    return folder_dataset(div2k_dir(), name="div2k", label="data cache: div2k")


def resolve_dataset(spec: str | None) -> Dataset:
    """``None`` (DIV2K when present, else sample), ``sample``, ``div2k``, or a folder path."""
    if spec is None:
        return div2k_dataset() if div2k_present() else sample_dataset()
    if spec == "sample":
        return sample_dataset()
    if spec == "div2k":
        return div2k_dataset()
    path = Path(spec).expanduser()
    if not path.exists() and not os.path.isabs(spec):
        if (cache_dir() / spec).is_dir():
            # A dataset placed in the data cache, e.g. ~/.cache/zoo/LIVE1
            return folder_dataset(cache_dir() / spec, label=f"data cache: {spec}")
        raise DataError(f"{spec}: no such folder here nor in the data cache ({cache_dir() / spec}); "
                        "pass --data DIR, or place the images in the data cache")
    return folder_dataset(spec)


def cached_datasets() -> list[tuple[str, Path, int]]:
    """Folders of images in the data cache: ``(name, path, image count)``; DIV2K counts only its
    validation images."""
    found = []
    if div2k_dir().is_dir():
        found.append(("div2k", div2k_dir(), div2k_found()))
    root = cache_dir()
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir()
                          if p.is_dir() and p.name != "div2k" and not p.name.startswith(".")):
            count = _count_images(sub)
            if count:
                found.append((sub.name, sub, count))
    return found


def _count_images(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
