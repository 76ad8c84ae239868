"""Benchmark datasets: any folder of images, the built-in ``sample`` suite, DIV2K validation.

A :class:`Dataset` is a name plus a sorted list of ``(image id, loader)`` pairs; a loader
returns the ground truth as a uint8 array (HxWx3 RGB or HxW grey) or raises
:class:`~zoo.errors.ImageError`, so that one bad file is reported and skipped, not fatal.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.div2k import div2k_dir, div2k_found, div2k_names, div2k_present
from zoo.errors import DataError, ZooError, os_reason
from zoo.imaging import READ_SUFFIXES as IMAGE_SUFFIXES
from zoo.resources import cache_dir

Loader = Callable[[], np.ndarray]


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
    """Entries of the folder that are not image files (another suffix, a sub-folder, a broken
    link, with why where the name does not say it), reported, never read."""

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
    if not str(folder).strip():
        raise DataError("--data '': give a folder of images (`.` for the current one), or a "
                        "dataset name (`zoo data list`)")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of images")
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"{root}: cannot be read ({os_reason(exc)})") from None
    images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not images:
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    ignored = [_why_ignored(p) for p in entries if p not in images]
    return Dataset(name or text_name(root.resolve().name), list(zip(image_ids(images),
                                                                    map(_file_loader, images))),
                   source=text_name(str(root.resolve())), ignored=ignored,
                   label=text_name(portable_folder(folder) if label is None else label))


def image_ids(files: list[Path]) -> list[str]:
    """Each file's id in results: its stem, or its whole name where another file shares the
    stem (a.png, a.jpg), so that adding such a file leaves the other ids (and their measured
    rows) as they were. Names that are not UTF-8 are written with escapes (:func:`text_name`)."""
    stems = Counter(p.stem for p in files)
    return [text_name(p.stem if stems[p.stem] == 1 else p.name) for p in files]


def text_name(name: str) -> str:
    """``name`` as text every file format takes: bytes of a file name that are not UTF-8
    (which Python holds as lone surrogates, and a UTF-8 CSV or page cannot store) as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _why_ignored(entry: Path) -> str:
    """How a folder entry that is not an image file is listed among the ignored ones."""
    name = text_name(entry.name)
    if entry.is_symlink() and not entry.exists():
        return f"{name} (a broken link)"
    if entry.is_dir():
        return f"{name}/ (a folder: sub-folders are not read)"
    return name

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
    problem = div2k_dir().is_dir() and unreadable_folder(div2k_dir())
    if problem:
        raise DataError(f"{div2k_dir()}: DIV2K validation {problem}; fix its permissions, or pass "
                        "--data DIR for a copy elsewhere")
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


def cached_datasets() -> list[tuple[str, Path, int | str]]:
    """Folders of images in the data cache: ``(name, path, image count)``, the count being why
    not where a folder cannot be read; DIV2K counts only its validation images."""
    found: list[tuple[str, Path, int | str]] = []
    if div2k_dir().is_dir():
        found.append(("div2k", div2k_dir(), unreadable_folder(div2k_dir()) or div2k_found()))
    root = cache_dir()
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir()
                          if p.is_dir() and p.name != "div2k" and not p.name.startswith(".")):
            count = unreadable_folder(sub) or _count_images(sub)
            if count:
                found.append((text_name(sub.name), sub, count))
    return found


def unreadable_folder(folder: Path) -> str | None:
    """Why ``folder``'s entries cannot be listed (``cannot be read: Permission denied``), or None."""
    try:
        with os.scandir(folder):
            return None
    except OSError as exc:
        return f"cannot be read: {os_reason(exc)}"


def _count_images(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
