"""Near-duplicate images between training and validation folders, or within one set of folders.

    python benchmarks/data_overlap.py --train ../shared/data/train --val ../shared/data/val
    python benchmarks/data_overlap.py --val ../shared/data/val        # the validation images among themselves

Each image becomes a grey SIDE x SIDE thumbnail, whatever its size and aspect ratio, so that a
rescaled copy gets about the same one; a pair whose thumbnails correlate at ``--threshold`` or
above (under any of the eight flips and rotations of the validation image) is printed, most
alike first. A crop is found only when it covers most of the image it was cut from. The numbers
README.md and leaderboard/README.md quote on the shipped data come from the first command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.errors import first_line
from zoo.train.data import find_images

SIDE = 24


def thumbnail(path: Path, side: int = SIDE) -> np.ndarray:
    """The image's grey ``side`` x ``side`` thumbnail, zero mean and unit norm (flat: all zero)."""
    with Image.open(path) as image:
        grey = image.convert("L").resize((side, side), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    pixels = pixels - pixels.mean()
    norm = np.linalg.norm(pixels)
    return pixels / norm if norm > 0 else pixels


def _orientations(pixels: np.ndarray) -> list[np.ndarray]:
    """The eight flips and rotations of a square thumbnail."""
    return [np.rot90(flipped, k) for flipped in (pixels, pixels[:, ::-1]) for k in range(4)]


def thumbnails(folders: list[str]) -> tuple[list[Path], np.ndarray]:
    """The readable images under ``folders`` and their thumbnails (one line per image that is
    not read, on stderr)."""
    kept, rows = [], []
    for path in find_images(folders):
        try:
            rows.append(thumbnail(path))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            print(f"skipped {path}: {first_line(exc)}", file=sys.stderr)
            continue
        kept.append(path)
    return kept, np.array(rows).reshape(len(rows), SIDE, SIDE)


def near_duplicates(val: list[str], train: list[str] | None = None,
                    threshold: float = 0.98) -> list[tuple[float, Path, Path]]:
    """``(correlation, validation image, other image)`` for each pair at ``threshold`` or above,
    most alike first: against the ``train`` images, or without them among the ``val`` images."""
    val_files, val_thumbs = thumbnails(val)
    other_files, other_thumbs = thumbnails(train) if train else (val_files, val_thumbs)
    if not val_files or not other_files:
        return []
    others = other_thumbs.reshape(len(other_files), -1)
    found = []
    for i, (path, thumb) in enumerate(zip(val_files, val_thumbs)):
        best = np.max([others @ turned.ravel() for turned in _orientations(thumb)], axis=0)
        for j in np.flatnonzero(best >= threshold):
            if train or j > i:  # among one set: each pair once, never an image with itself
                found.append((float(best[j]), path, other_files[j]))
    return sorted(found, key=lambda pair: -pair[0])


def correlation(text: str) -> float:
    """A correlation from -1 to 1, for ``--threshold``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a correlation from -1 to 1")
    return value


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--val", nargs="+", required=True, metavar="DIR",
                   help="validation (or test) image folders, searched recursively")
    p.add_argument("--train", nargs="+", metavar="DIR",
                   help="training image folders (default: the --val images among themselves)")
    p.add_argument("--threshold", type=correlation, default=0.98,
                   help="the least thumbnail correlation printed (default 0.98)")
    args = p.parse_args(argv)
    pairs = near_duplicates(args.val, args.train, args.threshold)
    print("| correlation | image | alike |\n|---|---|---|")
    for score, path, other in pairs:
        print(f"| {score:.4f} | {path} | {other} |")
    print(f"\n{len(pairs)} pair(s) at {args.threshold} or above.")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
