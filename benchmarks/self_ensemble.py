"""What the x8 geometric self-ensemble would add: PSNR of one pass against the mean of eight.

    python benchmarks/self_ensemble.py ../shared/data/val/Set14
    python benchmarks/self_ensemble.py sample --model arnet-nogan --protocol y

Each image is scored as ``zoo bench`` does (the protocol's ground truth, libjpeg at
``--quality``). The ensemble restores the eight rotations and mirrors of the JPEG and averages
the eight outputs mapped back. The JPEG is first reflect-padded to a multiple of 8, so that
every transform keeps the 8x8 block grid where the network was trained to find it. The
ensemble costs eight passes; the zoo does not offer it, and this script only measures it.
"""

from __future__ import annotations

import argparse

import numpy as np

import zoo
from zoo.bench.runner import restore
from zoo.datasets import resolve_dataset
from zoo.degrade import jpeg_roundtrip, to_protocol
from zoo.errors import ZooError
from zoo.metrics import compute_metrics


def self_ensemble(model: object, jpeg: np.ndarray) -> np.ndarray:
    """The mean of the eight grid-aligned rotations and mirrors, as uint8."""
    h, w = jpeg.shape[:2]
    pad = ((0, -h % 8), (0, -w % 8)) + (((0, 0),) if jpeg.ndim == 3 else ())
    padded = np.pad(jpeg, pad, mode="reflect")
    total = np.zeros(padded.shape, np.float64)
    for turns in range(4):
        for mirror in (False, True):
            view = np.rot90(padded, turns)
            view = view[:, ::-1] if mirror else view
            out = restore(model, np.ascontiguousarray(view)).astype(np.float64)
            total += np.rot90(out[:, ::-1] if mirror else out, -turns)
    return np.clip(np.round(total / 8), 0, 255).astype(np.uint8)[:h, :w]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="a folder of images, `sample`, or a dataset in the data cache")
    p.add_argument("--model", default="unet-l1")
    p.add_argument("--protocol", nargs="+", default=["rgb", "y"], choices=["rgb", "y"])
    p.add_argument("--quality", type=int, default=10)
    args = p.parse_args()
    try:
        dataset = resolve_dataset(args.data)
    except ZooError as exc:
        raise SystemExit(f"error: {exc}") from None
    model = zoo.load(args.model, device="cpu")
    gains: dict[str, list[tuple[float, float]]] = {protocol: [] for protocol in args.protocol}
    for image_id, image in dataset.readable():
        for protocol in args.protocol:
            truth = to_protocol(image, protocol)
            jpeg = jpeg_roundtrip(truth, args.quality)
            base, one, eight = (compute_metrics(x, truth, names=["psnr"])["psnr"]
                                for x in (jpeg, restore(model, jpeg), self_ensemble(model, jpeg)))
            gains[protocol].append((one - base, eight - base))
            print(f"{image_id:>12} {protocol:>3}  PSNR: JPEG {base:.3f}, one pass {one:.3f}, "
                  f"x8 {eight:.3f} dB", flush=True)
    for protocol, pairs in gains.items():
        one, eight = np.mean(pairs, axis=0)
        print(f"{dataset.name} {protocol} q{args.quality} mean gain over the JPEG: one pass "
              f"{one:+.3f} dB, x8 {eight:+.3f} dB ({eight - one:+.3f})")


if __name__ == "__main__":
    main()
