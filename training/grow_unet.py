"""Grow a trained ``UNet`` to more residual blocks per level, starting from the same function.

The new blocks start as the identity (``UNet.grown``), so fine-tuning the grown file begins
exactly where the source model is. The shipped ``unet-l1`` went from ``blocks=(1, 1, 2)`` to
``(2, 2, 4)`` this way (training/README.md).

    python training/grow_unet.py SOURCE.safetensors OUT.safetensors --blocks 2 2 4
"""

from __future__ import annotations

import argparse

import torch

from zoo.models.unet import UNet
from zoo.weights import load_weights, save_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="weights of the smaller UNet (.safetensors)")
    parser.add_argument("out", help="where to write the grown weights (fp32 .safetensors)")
    parser.add_argument("--channels", type=int, nargs="+", default=[48, 96, 192])
    parser.add_argument("--from-blocks", type=int, nargs="+", default=[1, 1, 2])
    parser.add_argument("--blocks", type=int, nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0, help="seeds the new blocks' first convs")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    small = UNet(channels=args.channels, blocks=args.from_blocks)
    load_weights(small, args.source)
    grown = small.grown(args.blocks)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        gap = (grown.forward_padded(x) - small.forward_padded(x)).abs().max().item()
    sha = save_weights(grown, args.out, dtype=torch.float32)
    print(f"{args.out}: {sum(p.numel() for p in grown.parameters()) / 1e6:.2f}M parameters, "
          f"max |grown - source| = {gap:.1e} on a random image, sha256 {sha}")


if __name__ == "__main__":
    main()
