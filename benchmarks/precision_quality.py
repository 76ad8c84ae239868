"""What running a model at bf16 or fp16 (``zoo restore --precision``) costs in quality.

    python benchmarks/precision_quality.py
    python benchmarks/precision_quality.py --data ../shared/data/val/Set14 --models unet-l1 --precision bf16

Restores every image of the datasets, JPEG-compressed at each ``--quality`` (RGB protocol), once
in fp32 and once at each ``--precision``, the way ``zoo restore`` does (automatic tiling), and
prints per model, precision and quality: each metric's fp32 mean (PSNR by default; ``--metrics
psnr lpips_alex`` for the GAN entries' measure too), the change of the mean, the largest change
on one image, and how far and how often the 8-bit outputs differ from fp32's.
Speed is measured separately: ``python benchmarks/speed_restore.py --precision fp32 bf16``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

import zoo
from zoo.cli.arg_types import jpeg_quality
from zoo.datasets import resolve_dataset
from zoo.degrade import jpeg_roundtrip, to_protocol
from zoo.errors import DataError
from zoo.metrics import METRICS
from zoo.precision import PRECISIONS, with_precision
from zoo.restore import restore_pixels

DEFAULT_DATA = ["../shared/data/val/Set5", "../shared/data/val/Set14",
                "../shared/data/val/McMaster", "sample"]


def _precisions(full: torch.nn.Module, precisions: list[str]) -> dict[str, torch.nn.Module]:
    """The model in fp32 and at each of ``precisions``."""
    return {"fp32": full, **{p: with_precision(full, p) for p in precisions}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=DEFAULT_DATA,
                   help="dataset folders or suite names (default: the validation sets and sample)")
    p.add_argument("--models", nargs="+", default=["arnet-nogan", "unet-l1", "gan"])
    lower = [name for name, dtype in PRECISIONS.items() if dtype is not None]
    p.add_argument("--precision", nargs="+", default=lower, choices=lower)
    p.add_argument("--quality", type=jpeg_quality, nargs="+", default=[10, 20, 30])
    p.add_argument("--metrics", nargs="+", default=["psnr"], choices=sorted(METRICS))
    args = p.parse_args(argv)
    datasets = [resolve_dataset(spec) for spec in args.data]  # a missing folder: before any reading
    # Every model loaded at every precision first: an unknown name, or a precision this CPU
    # cannot run, is refused before any measuring.
    loaded = {name: _precisions(zoo.load(name, device="cpu"), args.precision) for name in args.models}
    images = [to_protocol(pixels, "rgb") for dataset in datasets for _, pixels in dataset.readable()]
    if not images:
        raise DataError(f"no image could be read from {', '.join(args.data)}")
    jpegs = {quality: [jpeg_roundtrip(truth, quality) for truth in images]
             for quality in args.quality}
    print(f"{len(images)} images from {', '.join(args.data)}; torch {torch.__version__} on the CPU "
          f"({torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads)")
    for name, models in loaded.items():
        for quality in args.quality:
            scores: dict[tuple[str, str], list[float]] = defaultdict(list)
            largest: dict[str, int] = defaultdict(int)
            differing: dict[str, int] = defaultdict(int)
            values = 0
            for truth, jpeg in zip(images, jpegs[quality]):
                reference = restore_pixels(models["fp32"], jpeg)
                for metric in args.metrics:
                    scores["fp32", metric].append(METRICS[metric](reference, truth))
                for precision in args.precision:
                    out = restore_pixels(models[precision], jpeg)
                    for metric in args.metrics:
                        scores[precision, metric].append(METRICS[metric](out, truth))
                    diff = np.abs(out.astype(np.int16) - reference)
                    largest[precision] = max(largest[precision], int(diff.max()))
                    differing[precision] += int(np.count_nonzero(diff))
                values += jpeg.size
            for precision in args.precision:
                parts = [_compare(metric, np.array(scores["fp32", metric]),
                                  np.array(scores[precision, metric])) for metric in args.metrics]
                print(f"{name} q{quality} {precision}: {'; '.join(parts)}; outputs differ by at "
                      f"most {largest[precision]} grey levels, on "
                      f"{differing[precision] / values:.1%} of all values")


def _compare(metric: str, base: np.ndarray, other: np.ndarray) -> str:
    """fp32's mean of ``metric``, the change of the mean and the largest change on one image,
    over the images where both scores are finite (LPIPS is undefined below 31 px, MS-SSIM below
    161 px; a NaN would make every mean NaN), saying how many those are when not all."""
    both = np.isfinite(base) & np.isfinite(other)
    if not both.any():
        return f"{metric} undefined on every image"
    base, change = base[both], other[both] - base[both]
    covered = "" if both.all() else f" ({both.sum()} of {both.size} images: undefined on the others)"
    return (f"{metric} fp32 mean {base.mean():.4f}, change of the mean {change.mean():+.4f}, "
            f"largest on one image {change[np.abs(change).argmax()]:+.4f}{covered}")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
