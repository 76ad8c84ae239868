"""Does a model restore full-range grey photographs as well as the luma it was trained on?

    python training/grey_gap.py ../shared/data/val/Set14 ../shared/data/val/McMaster
    python training/grey_gap.py sample --model arnet-nogan --quality 20

The recipes' grey samples (``data.grey_fraction``) are the Y protocol's luma, MATLAB's
``rgb2ycbcr``, which spans 16-235, unless ``data.grey_full_range`` makes a share of them
full-range. A black-and-white photograph, and a grey image under the
``rgb`` protocol, spans 0-255. For each colour image of each set, this scores the model's PSNR
gain over the JPEG on both greys of the same picture: the luma, and the full-range ITU-R
BT.601 grey (0.299 R + 0.587 G + 0.114 B).
The exit status is 1 when a dataset could not be read or had no colour image to measure.
"""

from __future__ import annotations

import argparse

import numpy as np

import zoo
from zoo.bench.runner import restore
from zoo.cli.arg_types import jpeg_quality
from zoo.datasets import resolve_dataset
from zoo.degrade import full_range_grey, jpeg_roundtrip, to_protocol
from zoo.errors import ZooError
from zoo.metrics import compute_metrics


def gain(model: object, truth: np.ndarray, quality: int) -> float:
    """PSNR of the model's output minus that of the JPEG it restored, in dB."""
    jpeg = jpeg_roundtrip(truth, quality)
    psnr = [compute_metrics(x, truth, names=["psnr"])["psnr"] for x in (jpeg, restore(model, jpeg))]
    return psnr[1] - psnr[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="folders of images, `sample`, or datasets in the data cache")
    p.add_argument("--model", default="unet-l1", help="registry name or export folder")
    p.add_argument("--quality", type=jpeg_quality, default=10)
    args = p.parse_args()
    datasets = []
    for spec in args.data:
        try:
            datasets.append(resolve_dataset(spec))
        except ZooError as exc:
            print(f"skipped: {exc}")
    if not datasets:
        raise ZooError("none of the datasets could be read")
    model = zoo.load(args.model, device="cpu")
    measured = 0
    for dataset in datasets:
        luma, full = [], []
        for _, image in dataset.readable():
            if image.ndim == 2:
                continue  # already grey: it has no luma of its own to compare with
            luma.append(gain(model, to_protocol(image, "y"), args.quality))
            full.append(gain(model, full_range_grey(image), args.quality))
        if luma:
            measured += 1
            print(f"{dataset.name}: {len(luma)} colour images, q{args.quality} gain over the JPEG: "
                  f"luma (16-235) {np.mean(luma):+.3f} dB, full-range grey {np.mean(full):+.3f} dB")
        else:
            print(f"{dataset.name}: no colour image was measured "
                  "(its images are grey or unreadable)")
    return 1 if measured < len(args.data) else 0


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
