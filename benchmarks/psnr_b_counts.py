"""How far PSNR-B's pair counts (SwinIR's, which the zoo uses) move it from exact counts.

    python benchmarks/psnr_b_counts.py
    python benchmarks/psnr_b_counts.py --image chelsea coffee --quality 10 50 90 95 --crop 100 37x45

The Y channel of each image (a scikit-image sample name or an image file; ``--crop`` also its
top-left HxW or NxN crops), JPEG-compressed at each ``--quality``: PSNR-B of the decoded JPEG
with the zoo's counts, with the boundary pairs really summed as the divisor, and the gap (the
numbers docs/metrics.md quotes). The gap is nil when both sides are multiples of 8.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from zoo.cli.arg_types import jpeg_quality
from zoo.datasets import read_image
from zoo.degrade import jpeg_roundtrip, to_protocol
from zoo.errors import ZooError
from zoo.metrics.psnr import psnr_b
from zoo.samples import sample_images


def crop_size(text: str) -> tuple[int, int]:
    """``100`` or ``37x45`` as (height, width), each at least 1."""
    try:
        sides = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        sides = ()
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a crop size such as 100 or 37x45")
    return (sides[0], sides[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", nargs="+", default=["chelsea", "astronaut"],
                   help="scikit-image sample names or image files")
    p.add_argument("--quality", type=jpeg_quality, nargs="+", default=[10, 50, 90, 95])
    p.add_argument("--crop", type=crop_size, nargs="*", default=[],
                   help="also the top-left crops of these sizes (N or HxW)")
    args = p.parse_args(argv)
    samples = sample_images()
    truths = []
    for spec in args.image:  # every image read before the first measurement
        if spec not in samples and not Path(spec).is_file():
            raise ZooError(f"{spec!r} is neither a sample image ({', '.join(sorted(samples))}) "
                           "nor an image file")
        y = to_protocol(samples[spec] if spec in samples else read_image(Path(spec)), "y")
        truths += [(f"{Path(spec).name} {y.shape[0]}x{y.shape[1]}", y)]
        for h, w in args.crop:
            if h > y.shape[0] or w > y.shape[1]:
                print(f"{Path(spec).name}: crop {h}x{w} is larger than the image "
                      f"({y.shape[0]}x{y.shape[1]}): left out")
            else:
                truths.append((f"{Path(spec).name} crop {h}x{w}", y[:h, :w]))
    print("image, quality: PSNR-B zoo counts / exact counts (exact - zoo)")
    for label, truth in truths:
        for quality in args.quality:
            jpeg = jpeg_roundtrip(np.ascontiguousarray(truth), quality)
            zoo_value, exact = (psnr_b(jpeg, truth, exact_counts=e) for e in (False, True))
            print(f"{label}, q{quality}: {zoo_value:.3f} / {exact:.3f} dB "
                  f"({exact - zoo_value:+.3f})", flush=True)


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
