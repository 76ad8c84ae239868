"""How far tiled restoration is from restoring the whole image at once, per shipped model.

    python benchmarks/tiling_difference.py
    python benchmarks/tiling_difference.py --image coffee --tile 512 --models unet-l1

Restores a scikit-image photograph, JPEG-compressed at ``--quality``, once whole and once in
``--tile``-pixel tiles with ``--overlap`` pixels cross-faded, and prints the mean absolute
difference on the 0..1 scale (the numbers README.md and docs/restore.md quote).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import zoo
from zoo.degrade import jpeg_roundtrip
from zoo.restore import array_to_tensor
from zoo.samples import sample_images
from zoo.tiling import restore_tiled


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["arnet-nogan", "unet-l1", "gan"])
    p.add_argument("--image", default="astronaut", help="a scikit-image sample photograph")
    p.add_argument("--quality", type=int, default=10)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--overlap", type=int, default=64)
    args = p.parse_args()
    images = sample_images()
    if args.image not in images:
        raise SystemExit(f"error: no sample image {args.image!r}; choose from {', '.join(sorted(images))}")
    jpeg = jpeg_roundtrip(np.ascontiguousarray(images[args.image]), args.quality)
    x = array_to_tensor(np.repeat(jpeg[..., None], 3, axis=2) if jpeg.ndim == 2 else jpeg)
    for name in args.models:
        model = zoo.load(name, device="cpu")
        with torch.inference_mode():
            whole = model(x)
            tiled = restore_tiled(model, x, tile=args.tile, overlap=args.overlap)
        difference = (whole - tiled).abs().mean().item()
        print(f"{name}: {args.image} q{args.quality}, {args.tile}-px tiles, {args.overlap}-px overlap: "
              f"mean |tiled - whole| = {difference:.2e}")


if __name__ == "__main__":
    main()
