"""Benchmark datasets: any folder of images, the built-in ``sample`` suite, DIV2K validation.

A :class:`Dataset` is a name plus a sorted list of ``(image id, loader)`` pairs; a loader
returns the ground truth as a uint8 array (HxWx3 RGB or HxW grey) or raises
:class:`~zoo.errors.ImageError`, so that one bad file is reported and skipped, not fatal.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.div2k import div2k_dir, div2k_found, div2k_names, div2k_present
from zoo.errors import DataError, ImageError, ZooError, caller_stacklevel, first_few, os_reason
from zoo.folders import is_dir
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
        """The images' ids, in order."""
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
    """Read a ground-truth image: HxW grey or HxWx3 RGB uint8; ImageError if bad. An alpha
    channel that is opaque everywhere is dropped; one that is not refuses the image, whose
    colours under its transparency (often arbitrary) would be scored as if seen."""
    from zoo.imaging import read_image as read_file

    loaded = read_file(path)
    if loaded.alpha is not None and (seen := int(np.count_nonzero(loaded.alpha < 255))):
        raise ImageError(f"{path}: {seen:,} of {loaded.alpha.size:,} pixels are transparent or "
                         "partly so; a ground truth must be opaque (the colours under its "
                         "transparency would be scored): flatten it onto a background first")
    return loaded.pixels


def folder_dataset(folder: str | Path, label: str | None = None) -> Dataset:
    """Every image file in ``folder`` (not recursive), sorted by file name; ``label`` (default:
    :func:`portable_folder` of ``folder``) is how meta.json records it."""
    root = Path(folder).expanduser()
    if not str(folder).strip():
        raise DataError("--data '': give a folder of images (`.` for the current one), or a "
                        "dataset name (`zoo data list`)")
    try:
        if not root.exists():
            raise DataError(f"{root}: no such folder")
        if not root.is_dir():
            raise DataError(f"{root}: not a folder of images")
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
        images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    except OSError as exc:  # a folder that can be listed but not entered fails at is_file()
        raise DataError(f"{root}: cannot be read ({os_reason(exc)})") from None
    if not images:
        folders = [p.name + "/" for p in entries if p.is_dir()]
        inside = (f"; its sub-folders are not read ({first_few(folders)}): name one as --data"
                  if folders else "")
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
                        + inside)
    chosen = set(images)
    ignored = [_why_ignored(p) for p in entries if p not in chosen]
    return Dataset(text_name(root.resolve().name),
                   list(zip(image_ids(images), map(_file_loader, images))),
                   source=text_name(str(root.resolve())), ignored=ignored,
                   label=text_name(portable_folder(folder) if label is None else label))


def image_ids(files: list[Path]) -> list[str]:
    """Each file's id in results: its stem, or its whole name where another file shares the
    stem (a.png, a.jpg), so that adding such a file leaves the other ids (and their measured
    rows) as they were. Names that are not UTF-8 are written with escapes (:func:`text_name`)."""
    stems = Counter(p.stem for p in files)
    ids = [text_name(p.stem if stems[p.stem] == 1 else p.name) for p in files]
    # A stem can still be another file's whole name (a.jpg beside a.jpg.png): whole names then.
    clashing = {i for i, n in Counter(ids).items() if n > 1}
    ids = [text_name(p.name) if i in clashing else i for p, i in zip(files, ids)]
    # Two names can share an escape (a literal "\xff" beside the byte): numbered in name order.
    counts, seen = Counter(ids), Counter[str]()
    for k, i in enumerate(ids):
        if counts[i] > 1:
            seen[i] += 1
            ids[k] = f"{i}~{seen[i]}"
    return ids


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
    """The 100 DIV2K validation images in the data cache; a DataError saying what to do when their
    folder cannot be read or they are missing or incomplete."""
    problem = div2k_problem()
    if problem:
        raise DataError(f"{div2k_dir()}: DIV2K validation {problem}; fix its permissions, or pass "
                        "--data DIR for a copy elsewhere")
    if not div2k_present():
        found = div2k_found()
        state = (f"is incomplete ({found} of {len(div2k_names())} images); run `zoo data fetch "
                 "div2k --force`" if found else "is not there; run `zoo data fetch div2k`")
        raise DataError(f"{div2k_dir()}: DIV2K validation {state}, or pass --data DIR for a copy "
                        "elsewhere")
    # Only the 100 validation images: anything else in the cache folder (a copy, a converted
    # file) is named among the ignored files, never measured as DIV2K.
    root = div2k_dir()
    names = div2k_names()
    official = set(names)
    others = sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.name not in official)
    return Dataset("div2k", [(Path(name).stem, _file_loader(root / name)) for name in names],
                   source=text_name(str(root.resolve())),
                   ignored=[f"{_why_ignored(p)} (not one of DIV2K's validation images "
                            f"{names[0]}-{names[-1]})" for p in others],
                   label="data cache: div2k")


def resolve_dataset(spec: str | None) -> Dataset:
    """``None`` (DIV2K when present, else sample), ``sample``, ``div2k``, or a folder path."""
    if spec is None:
        return div2k_dataset() if div2k_present() else sample_dataset()
    if spec == "sample":
        return sample_dataset()
    if spec == "div2k":
        return div2k_dataset()
    path = Path(spec).expanduser()
    try:
        here = path.exists()
    except OSError:  # there, in a folder that cannot be entered: folder_dataset says so
        here = True
    if not here and not os.path.isabs(spec):
        if is_dir(cache_dir() / spec):
            # A dataset placed in the data cache, e.g. ~/.cache/zoo/LIVE1
            return folder_dataset(cache_dir() / spec, label=f"data cache: {spec}")
        raise DataError(f"{spec}: no such folder here nor in the data cache ({cache_dir() / spec}); "
                        "pass --data DIR, or place the images in the data cache")
    return folder_dataset(spec)


def cached_datasets() -> list[tuple[str, Path, int | str]]:
    """Folders of images in the data cache: ``(name, path, image count)``, the count being why
    not where a folder cannot be read; DIV2K counts only its validation images."""
    found: list[tuple[str, Path, int | str]] = []
    problem = div2k_problem()
    if problem or is_dir(div2k_dir()):
        found.append(("div2k", div2k_dir(), problem or div2k_found()))
    root = cache_dir()
    try:
        folders = sorted(p for p in root.iterdir()
                         if p.is_dir() and p.name != "div2k" and not p.name.startswith("."))
    except FileNotFoundError:  # no cache yet
        folders = []
    except OSError as exc:
        warnings.warn(f"{root}: the data cache cannot be read ({os_reason(exc)}); the datasets "
                      "placed in it are not listed", stacklevel=caller_stacklevel())
        folders = []
    for sub in folders:
        count = _image_count(sub)
        if count:
            found.append((text_name(sub.name), sub, count))
    return found


def div2k_problem() -> str | None:
    """Why the data cache's DIV2K folder cannot be read (``cannot be read: Permission denied``);
    None when it can, or is not there."""
    try:
        if not div2k_dir().is_dir():
            return None
    except OSError as exc:  # a parent folder that cannot be entered
        return f"cannot be read: {os_reason(exc)}"
    return unreadable_folder(div2k_dir())


def unreadable_folder(folder: Path) -> str | None:
    """Why ``folder``'s entries cannot be listed (``cannot be read: Permission denied``), or None."""
    try:
        with os.scandir(folder):
            return None
    except OSError as exc:
        return f"cannot be read: {os_reason(exc)}"


def _image_count(folder: Path) -> int | str:
    """How many image files ``folder`` holds, or why they cannot be counted."""
    try:
        return sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as exc:  # listed but not entered (no x permission), or not listed at all
        return f"cannot be read: {os_reason(exc)}"
