"""The training data pipeline: image folders -> random patches -> JPEG on the fly.

Determinism: sample number ``p`` of the stream (over all steps, ranks and epochs) is a pure
function of ``(seed, p)``: its image is the ``p % N``-th entry of epoch ``p // N``'s permutation,
and its crop, flip, rotation, grey choices and JPEG quality come from a generator seeded with
``(seed, p)``. Worker count and timing never matter, and resuming at step ``s`` only needs ``s``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.child_signals import quiet_children
from zoo.degrade import full_range_grey, jpeg_roundtrip, rgb_to_y
from zoo.errors import DataError, ImageError, ZooError, first_few, first_line, os_reason
from zoo.folders import walk_files
from zoo.imaging import READ_SUFFIXES, read_image

__all__ = ["SKIPPED_IMAGES", "ImageStore", "PatchDataset", "StepBatchSampler", "ValidationSet", "centre_crop",
           "find_images", "loader_failure", "make_loader", "next_batch", "read_opaque", "scan_folders"]


def find_images(folders: Sequence[str | Path]) -> list[Path]:
    """Image files under ``folders`` (recursive, linked sub-folders followed once, hidden files
    and folders skipped), sorted for determinism."""
    return scan_folders(folders)[0]


def scan_folders(folders: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """:func:`find_images`'s images, and the other files it passed over (not images zoo
    reads: a ``.heic``, a ``.txt``), each named by its path under the folder given."""
    files: list[Path] = []
    others: list[str] = []
    seen: set[Path] = set()  # a folder given twice, or inside another one, counts its images once
    for folder in folders:
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise DataError(f"{root}: not a folder of images")
        def unreadable(exc: OSError, root: Path = root) -> None:
            where = Path(exc.filename or root)
            name = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
            others.append(f"{name}/ (a folder that cannot be read: {os_reason(exc)})")

        for p in sorted(walk_files(root, skip_hidden=True, onerror=unreadable)):
            try:
                real = p.resolve()
            except (RuntimeError, OSError):  # a link that loops (3.11: RuntimeError; 3.13: ELOOP)
                others.append(f"{p.relative_to(root).as_posix()} (a link that loops)")
                continue
            if not p.exists():  # resolve() of a dangling link does not fail
                others.append(f"{p.relative_to(root).as_posix()} (a link to a missing file)")
                continue
            if real in seen or not p.is_file():
                continue
            seen.add(real)
            if p.suffix.lower() in READ_SUFFIXES:
                files.append(p)
            else:
                others.append(p.relative_to(root).as_posix())
    return files, others


def warn_passed_over(kind: str, others: list[str]) -> None:
    """One warning naming the first few files of a data folder that are not images zoo reads."""
    if others:
        warnings.warn(f"{kind} data: {len(others)} file{'s' if len(others) != 1 else ''} passed "
                      f"over, not being images zoo reads: {first_few(others, 5)}", stacklevel=3)


def read_opaque(path: Path) -> np.ndarray:
    """An image's pixels; one with transparent pixels is refused (their hidden colours, often
    black, would be trained on and scored as if they were the picture)."""
    loaded = read_image(path)
    if loaded.alpha is not None and int(loaded.alpha.min()) < 255:
        raise ImageError(f"{path}: has transparent pixels; training and validation use opaque "
                         "images only")
    return loaded.pixels


MAX_SKIP_WARNINGS = 10
"""Skipped images named one by one; past this, one line gives the total."""
SKIPPED_IMAGES = "skipped-images.txt"
"""In a training's output folder, every skipped image where the warnings did not name them all."""


class SkipWarnings:
    """A warning for each of the first ``MAX_SKIP_WARNINGS`` skipped images of one kind, then
    one line with the total: a folder of thousands of bad files must not flood the log."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.problems: list[str] = []  # every one, for a listing past the first few

    @property
    def skipped(self) -> int:
        """How many images were skipped so far."""
        return len(self.problems)

    @property
    def unnamed(self) -> bool:
        """Whether some skipped images were not named one by one."""
        return self.skipped > MAX_SKIP_WARNINGS

    def skip(self, problem: str) -> None:
        """Count a skipped image; ``problem`` (its path and why) is warned of among the first
        ``MAX_SKIP_WARNINGS``."""
        self.problems.append(problem)
        if self.skipped <= MAX_SKIP_WARNINGS:
            warnings.warn(f"skipping {self.kind} image {problem}", stacklevel=3)

    def summarise(self, found: int) -> None:
        """After the last image: the total, when some were not named."""
        if self.unnamed:
            warnings.warn(f"skipped {self.skipped} of {found} {self.kind} images in all (the "
                          f"first {MAX_SKIP_WARNINGS} are named above)", stacklevel=3)


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


class ImageStore:
    """The usable training images: decoded once (corrupt or too-small files skipped with a
    warning), kept in memory as far as ``cache_mb`` holds them (the others re-read at each
    use, with one warning saying how many). An image that
    cannot be re-read (changed or removed during the run) is replaced by the next usable one,
    with one warning naming it, so that the run goes on."""

    def __init__(self, folders: Sequence[str | Path], *, min_side: int, cache_mb: int = 4096) -> None:
        self.min_side = min_side
        self._gone: set[Path] = set()
        self.paths: list[Path] = []
        self._cache: list[np.ndarray | None] = []
        cached_bytes = uncached_bytes = 0
        found, others = scan_folders(folders)
        warn_passed_over("training", others)
        self.skips = skips = SkipWarnings("training")
        for path in found:
            try:
                pixels = read_opaque(path)
                problem = "" if min(pixels.shape[:2]) >= min_side else (
                    f"{path}: {pixels.shape[1]}x{pixels.shape[0]} is smaller than the "
                    f"{min_side}-pixel patch")
            except ImageError as exc:
                problem = str(exc)
            if problem:
                skips.skip(problem)
                continue
            self.paths.append(path)
            size = pixels.shape[0] * pixels.shape[1] * 3  # kept as three channels, grey too
            if cached_bytes + size <= cache_mb * 2**20:
                cached_bytes += size
                self._cache.append(_as_rgb(pixels))
            else:  # read from disk at each use
                uncached_bytes += size
                self._cache.append(None)
        skips.summarise(len(found))
        kept = sum(pixels is not None for pixels in self._cache)
        if kept < len(self.paths):
            warnings.warn(f"training images: {kept} of {len(self.paths)} kept in memory "
                          f"(data.cache_mb={cache_mb}; all of them need "
                          f"{math.ceil((cached_bytes + uncached_bytes) / 2**20)} MB); the others are "
                          "decoded again at each use, which can make loading the bottleneck: "
                          "raise data.cache_mb, or add data.workers", stacklevel=2)
        if not self.paths:
            where = ", ".join(str(f) for f in folders)
            raise DataError(f"{where}: no usable training images (need readable images with sides "
                            f">= {min_side} px)")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def cached(self) -> bool:
        """Whether every image is kept in memory."""
        return all(pixels is not None for pixels in self._cache)

    def __getitem__(self, index: int) -> np.ndarray:
        for offset in range(len(self.paths)):
            at = (index + offset) % len(self.paths)
            kept = self._cache[at]  # a kept image is used as it is, also in a bad one's place
            if kept is not None:
                return kept
            path = self.paths[at]
            try:
                pixels = read_opaque(path)
            except ImageError as exc:
                problem = str(exc)
            else:
                if min(pixels.shape[:2]) >= self.min_side:
                    return _as_rgb(pixels)
                problem = (f"{path}: now {pixels.shape[1]}x{pixels.shape[0]}, smaller than the "
                           f"{self.min_side}-pixel patch")
            if path not in self._gone:
                self._gone.add(path)
                warnings.warn(f"training image no longer usable, the next one is used in its "
                              f"place: {problem}", stacklevel=2)
        folders = sorted({str(p.parent) for p in self.paths})
        raise DataError(f"none of the training images can be read any more ({len(self.paths)} "
                        f"in {first_few(folders)}): put them back, then --resume continues from "
                        "the last checkpoint")


@dataclass(frozen=True)
class Augment:
    """How a training sample is made: a random ``patch``-px crop, flipped and rotated, JPEG-coded
    at a quality drawn from ``quality`` (both ends included), made grey at ``grey_fraction``."""

    patch: int
    quality: tuple[int, int]
    grey_fraction: float
    grey_full_range: float = 0.0
    """Share of the grey samples made full-range (0..255) rather than luma (16..235)."""


class PatchDataset(Dataset):
    """Maps a stream position to ``(degraded, target)`` uint8 tensors ``(3, P, P)``."""

    def __init__(self, store: ImageStore, augment: Augment, seed: int) -> None:
        self.store, self.augment, self.seed = store, augment, int(seed)
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:  # one epoch; positions beyond it are valid too
        return len(self.store)

    def image_index(self, position: int) -> int:
        """The store's index of the image at stream ``position``: each epoch takes every image
        once, in an order fixed by the seed and the epoch."""
        n = len(self.store)
        epoch = position // n
        perm = self._perms.get(epoch)
        if perm is None:
            perm = np.random.default_rng([self.seed, epoch, 1]).permutation(n)
            self._perms = {epoch: perm}
        return int(perm[position % n])

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.store[self.image_index(position)]
        rng = np.random.default_rng([self.seed, position, 2])
        a = self.augment
        h, w = image.shape[:2]
        y0 = int(rng.integers(0, h - a.patch + 1))
        x0 = int(rng.integers(0, w - a.patch + 1))
        patch = image[y0:y0 + a.patch, x0:x0 + a.patch]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = np.rot90(patch, int(rng.integers(0, 4)))
        quality = int(rng.integers(a.quality[0], a.quality[1] + 1))
        if rng.random() < a.grey_fraction:
            # Draw only when the option is on, so that recipes without it keep their streams.
            full = a.grey_full_range > 0 and rng.random() < a.grey_full_range
            target = (full_range_grey if full else rgb_to_y)(np.ascontiguousarray(patch))
            degraded = _as_rgb(jpeg_roundtrip(target, quality))
            target = _as_rgb(target)
        else:
            target = np.ascontiguousarray(patch)
            degraded = jpeg_roundtrip(target, quality)
        return _chw(degraded), _chw(target)


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class StepBatchSampler(Sampler[list[int]]):
    """Endless batches of stream positions from ``start`` (the samples the run has taken so
    far); rank ``r`` of ``world`` gets a disjoint share of each step's global batch, so a run
    resumed with another process count or batch goes on with the next samples, none twice."""

    def __init__(self, batch: int, start: int = 0, rank: int = 0, world: int = 1) -> None:
        self.batch, self.start, self.rank, self.world = batch, start, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        base = self.start + self.rank * self.batch
        while True:
            yield list(range(base, base + self.batch))
            base += self.world * self.batch


def make_loader(dataset: PatchDataset, sampler: StepBatchSampler, workers: int, *,
                pin_memory: bool = False) -> DataLoader:
    """``pin_memory`` (for a GPU) lets the copy to the device overlap the step before it.

    iter() draws the workers' base seed from the loader's own generator, not from torch's global
    stream, which a resume restores before it (the samples do not depend on it: see above)."""
    extra = {"prefetch_factor": 4, "persistent_workers": True} if workers > 0 else {}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                      generator=torch.Generator().manual_seed(dataset.seed), **extra)


_WORKER_HINT = ("the workers hand batches over through shared memory (/dev/shm): give it more room "
                "(in Docker, --shm-size=2g) or set data.workers=0; --resume continues from the last "
                "checkpoint")


_KILLED_HINT = ("a worker killed by the system (out of memory?) or by hand: set fewer data.workers "
                "(0: none); --resume continues from the last checkpoint")


def next_batch(batches: Iterator[list[torch.Tensor]]) -> list[torch.Tensor]:
    """The next batch; a loader worker that dies or cannot pass its batch on (a full /dev/shm,
    a file-size limit) is a one-line ZooError rather than torch's traceback; a worker's own
    ZooError (images gone bad) comes with its message alone, as without workers."""
    try:
        return next(batches)
    except ZooError as exc:
        message = _worker_message(exc)
        if message is None:
            raise
        raise type(exc)(message) from None
    except RuntimeError as exc:
        failure = loader_failure(exc)
        if failure is None:
            raise
        quiet_children()  # torch would raise the dead worker again while the error is printed
        raise failure from None
    except (ConnectionError, EOFError) as exc:  # a worker gone while this process fetched its
        # batch's memory: the connection reset, or closed before the answer (EOFError, no text)
        reason = getattr(exc, "strerror", None) or (first_line(exc) if str(exc) else
                                                    "the connection closed")
        quiet_children()
        raise ZooError(f"the training data loader failed (DataLoader worker gone while handing a "
                       f"batch over: {reason}); {_KILLED_HINT}") from None


def loader_failure(exc: RuntimeError) -> ZooError | None:
    """The one-line error for a loader that failed, None for another error. A worker killed by a
    signal (the out-of-memory killer, say) is reported by torch's SIGCHLD handler wherever the
    main process then is, not only in next()."""
    text = str(exc)
    if not any(s in text for s in ("DataLoader worker", "shared memory", "in pin memory thread",
                                   "Pin memory thread")):
        return None
    # A worker's (or, on a GPU, the pinning thread's) own exception comes as "Caught X in
    # DataLoader worker ... Original Traceback ...": its last line says what happened.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = lines[-1] if "Original Traceback" in text else lines[0]
    killed = any(f"killed by signal: {name}" in text for name in ("Killed", "Terminated"))
    hint = _KILLED_HINT if killed else _WORKER_HINT  # not a Bus error
    return ZooError(f"the training data loader failed ({detail}); {hint}")


def _worker_message(exc: ZooError) -> str | None:
    """The message of a loader worker's ZooError, which torch raises again in this process with
    the worker's traceback as its message ("Caught X in DataLoader worker ... Original
    Traceback ..."); None for an error raised here."""
    text = str(exc)
    kind = type(exc)
    head = f"{kind.__module__}.{kind.__qualname__}: "  # the traceback's last line: the error itself
    if "Original Traceback" not in text or head not in text:
        return None
    return text[text.rindex(head) + len(head):].rstrip("\n")


class ValidationSet:
    """The validation images, centre-cropped and JPEG-degraded once per quality (``rgb`` protocol)."""

    def __init__(self, folder: str | Path, qualities: Sequence[int], *, crop: int = 0,
                 max_images: int = 0) -> None:
        self.qualities = list(qualities)
        self.items: list[tuple[str, np.ndarray, dict[int, np.ndarray]]] = []
        root = Path(folder).expanduser()
        found, others = scan_folders([root])
        warn_passed_over("validation", others)
        self.skips = skips = SkipWarnings("validation")
        for path in found:
            try:
                target = _as_rgb(read_opaque(path))
            except ImageError as exc:
                skips.skip(str(exc))
                continue
            target = centre_crop(target, crop)
            degraded = {q: jpeg_roundtrip(target, q) for q in self.qualities}
            self.items.append((str(path.relative_to(root)), target, degraded))
            if max_images and len(self.items) >= max_images:
                break
        skips.summarise(len(found))
        if not self.items:
            raise DataError(f"{folder}: no readable validation images")

    def __len__(self) -> int:
        return len(self.items)


def centre_crop(image: np.ndarray, crop: int) -> np.ndarray:
    """Centre crop to at most ``crop`` (0 = none), keeping the origin on the 8x8 JPEG grid."""
    h, w = image.shape[:2]
    ch, cw = (min(h, crop), min(w, crop)) if crop else (h, w)
    y0, x0 = ((h - ch) // 2) // 8 * 8, ((w - cw) // 2) // 8 * 8
    return np.ascontiguousarray(image[y0:y0 + ch, x0:x0 + cw])
