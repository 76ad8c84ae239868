"""How far tiled restoration is from restoring the whole image at once, per shipped model.

    python benchmarks/tiling_difference.py
    python benchmarks/tiling_difference.py --image coffee --tile 512 --models unet-l1
    python benchmarks/tiling_difference.py --image coffee astronaut ../shared/data/train/Urban100_subset/img_001.png --tile 256 512 --score

Restores each image (a scikit-image sample name or an image file), JPEG-compressed at
``--quality``, once whole and once in ``--tile``-pixel tiles with ``--overlap`` pixels
cross-faded, and prints the mean absolute difference on the 0..1 scale (the numbers README.md
and docs/restore.md quote) and the largest difference of one pixel's value in the 8-bit output. ``--score`` adds PSNR and LPIPS-alex of both against the ground
truth, to show whether tiling changes what a leaderboard would measure.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

import zoo
from zoo.cli.arg_types import int_at_least, jpeg_quality
from zoo.datasets import read_image
from zoo.degrade import jpeg_roundtrip
from zoo.errors import ZooError
from zoo.metrics import METRICS
from zoo.models.base import Restorer
from zoo.restore import array_to_tensor, tensor_to_uint8
from zoo.samples import sample_images
from zoo.tiling import restore_tiled, tile_plan


def _truth(spec: str, samples: dict[str, np.ndarray]) -> np.ndarray:
    if spec not in samples and not Path(spec).exists():
        raise ZooError(f"{spec!r} is neither a sample image ({', '.join(sorted(samples))}) "
                       "nor an image file")
    pixels = samples[spec] if spec in samples else read_image(Path(spec))
    pixels = np.ascontiguousarray(pixels)
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


def tiling_used(model: Restorer, height: int, width: int, tile: int, overlap: int) -> str | None:
    """The tiles ``restore_tiled`` really uses, as the output names them (its tile side is
    rounded to the model's grid and its overlap bounded by the tile); None when the image fits
    in one tile, so that nothing is tiled."""
    plan = tile_plan(model, height, width, tile, overlap)
    if plan is None:
        return None
    text = f"{plan.side}-px tiles, {plan.overlap}-px overlap"
    if (plan.side, plan.overlap) != (tile, overlap):
        text += f" (asked: --tile {tile} --overlap {overlap})"
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["arnet-nogan", "unet-l1", "gan"])
    p.add_argument("--image", nargs="+", default=["astronaut"],
                   help="scikit-image sample names or image files")
    p.add_argument("--quality", type=jpeg_quality, default=10)
    p.add_argument("--tile", type=int_at_least(1), nargs="+", default=[256])
    p.add_argument("--overlap", type=int_at_least(0), default=64)
    p.add_argument("--score", action="store_true", help="also PSNR and LPIPS-alex against the truth")
    args = p.parse_args(argv)
    samples = sample_images()
    # Every image read and every model loaded before the first measurement: a bad one is
    # refused in one line, before any work, rather than ending the run halfway.
    truths = [(spec, _truth(spec, samples)) for spec in args.image]
    models = {name: zoo.load(name, device="cpu") for name in args.models}
    for name, model in models.items():
        for spec, truth in truths:
            x = array_to_tensor(jpeg_roundtrip(truth, args.quality))
            with torch.inference_mode():
                whole = model(x)
                for tile in args.tile:
                    line = f"{name}: {Path(spec).name} q{args.quality}, "
                    tiles = tiling_used(model, *x.shape[-2:], tile, args.overlap)
                    if tiles is None:
                        print(line + f"--tile {tile}: whole image, one tile (nothing tiled to "
                              "compare)", flush=True)
                        continue
                    tiled = restore_tiled(model, x, tile=tile, overlap=args.overlap)
                    tiled8, whole8 = tensor_to_uint8(tiled), tensor_to_uint8(whole)
                    levels = np.abs(tiled8.astype(int) - whole8).max()
                    line += (f"{tiles}: mean |tiled - whole| = "
                             f"{(whole - tiled).abs().mean().item():.2e}, at most {levels} of 255 "
                             "levels apart in the 8-bit output")
                    if args.score:
                        scores = {m: (METRICS[m](tiled8, truth), METRICS[m](whole8, truth))
                                  for m in ("psnr", "lpips_alex")}
                        line += "; " + ", ".join(f"{m} tiled {_score(t)} / whole {_score(w)}"
                                                 for m, (t, w) in scores.items())
                    print(line, flush=True)  # each as it is measured: a Ctrl-C keeps them


def _score(value: float) -> str:
    """A score, or why there is none (LPIPS needs 31 px; PSNR of an exact copy is infinite)."""
    return f"{value:.4f}" if math.isfinite(value) else f"{value} (undefined here)"


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
