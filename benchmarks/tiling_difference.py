"""How far tiled restoration is from restoring the whole image at once, per shipped model.

    python benchmarks/tiling_difference.py
    python benchmarks/tiling_difference.py --image coffee --tile 512 --models unet-l1
    python benchmarks/tiling_difference.py --image coffee astronaut ../shared/data/train/Urban100_subset/img_001.png --tile 256 512 --score

Restores each image (a scikit-image sample name or an image file), JPEG-compressed at
``--quality``, once whole and once in ``--tile``-pixel tiles with ``--overlap`` pixels
cross-faded, and prints the mean absolute difference on the 0..1 scale (the numbers README.md
and docs/restore.md quote). ``--score`` adds PSNR and LPIPS-alex of both against the ground
truth, to show whether tiling changes what a leaderboard would measure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import zoo
from zoo.datasets import read_image
from zoo.degrade import jpeg_roundtrip
from zoo.metrics import METRICS
from zoo.restore import array_to_tensor
from zoo.samples import sample_images
from zoo.tiling import restore_tiled


def _truth(spec: str, samples: dict[str, np.ndarray]) -> np.ndarray:
    pixels = samples[spec] if spec in samples else read_image(Path(spec))
    pixels = np.ascontiguousarray(pixels)
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["arnet-nogan", "unet-l1", "gan"])
    p.add_argument("--image", nargs="+", default=["astronaut"],
                   help="scikit-image sample names or image files")
    p.add_argument("--quality", type=int, default=10)
    p.add_argument("--tile", type=int, nargs="+", default=[256])
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--score", action="store_true", help="also PSNR and LPIPS-alex against the truth")
    args = p.parse_args()
    samples = sample_images()
    for spec in args.image:
        if spec not in samples and not Path(spec).is_file():
            raise SystemExit(f"error: {spec!r} is neither a sample image ({', '.join(sorted(samples))}) "
                             "nor an image file")
    for name in args.models:
        model = zoo.load(name, device="cpu")
        for spec in args.image:
            truth = _truth(spec, samples)
            x = array_to_tensor(jpeg_roundtrip(truth, args.quality))
            with torch.inference_mode():
                whole = model(x)
                for tile in args.tile:
                    tiled = restore_tiled(model, x, tile=tile, overlap=args.overlap)
                    line = (f"{name}: {Path(spec).name} q{args.quality}, {tile}-px tiles, "
                            f"{args.overlap}-px overlap: mean |tiled - whole| = "
                            f"{(whole - tiled).abs().mean().item():.2e}")
                    if args.score:
                        scores = {m: (METRICS[m](_uint8(tiled), truth), METRICS[m](_uint8(whole), truth))
                                  for m in ("psnr", "lpips_alex")}
                        line += "; " + ", ".join(f"{m} tiled {t:.4f} / whole {w:.4f}"
                                                 for m, (t, w) in scores.items())
                    print(line)


if __name__ == "__main__":
    main()
