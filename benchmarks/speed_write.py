"""How long writing a result takes, per output format and PNG compression level.

    python benchmarks/speed_write.py [--megapixels 24] [--repeats 3] [--levels 1 3 6]
    python benchmarks/speed_write.py --image photo.restored.png

The image is scikit-image's astronaut enlarged with Pillow's bicubic filter to about
``--megapixels`` (smooth), JPEG-compressed at quality 75 and decoded, or ``--image`` (a real
result: a GAN-trained model's texture compresses less), and written to memory as ``zoo restore`` writes each format (``zoo.image_output``'s
options; PNG once per ``--levels`` level). Each line is the median of ``--repeats`` writes
after one untimed write, and the bytes written. The default PNG level (``PNG_COMPRESS_LEVEL``)
was chosen from this table.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.cli.arg_types import float_above, int_at_least, int_in
from zoo.degrade import jpeg_roundtrip
from zoo.image_output import PNG_COMPRESS_LEVEL, output_format, save_options, to_pil
from zoo.imaging import LoadedImage, read_image
from zoo.samples import sample_image

SUFFIXES = (".png", ".webp", ".tif", ".jpg", ".bmp")


def enlarged_photograph(megapixels: float) -> LoadedImage:
    """The astronaut enlarged to about ``megapixels``, through a q75 JPEG."""
    small = Image.fromarray(sample_image("astronaut"))
    side = math.sqrt(megapixels * 1e6 / (small.width * small.height))
    big = small.resize((round(small.width * side), round(small.height * side)), Image.BICUBIC)
    return LoadedImage(pixels=jpeg_roundtrip(np.asarray(big), 75))


def time_write(image: LoadedImage, suffix: str, repeats: int,
               options: dict[str, object]) -> tuple[float, int]:
    """Median seconds of writing ``image`` as ``suffix`` with ``options``, and the bytes."""
    fmt, pil = output_format(Path(f"x{suffix}")), to_pil(image)
    times, size = [], 0
    for attempt in range(repeats + 1):
        buffer = io.BytesIO()
        start = time.perf_counter()
        pil.save(buffer, format=fmt, **options)
        if attempt:  # the first write is untimed: allocations, the encoder's tables
            times.append(time.perf_counter() - start)
        size = buffer.tell()
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float_above(0), default=24.0)
    parser.add_argument("--image", type=Path, help="time writing this image file instead")
    parser.add_argument("--repeats", type=int_at_least(1), default=3)
    parser.add_argument("--levels", type=int_in(0, 9), nargs="+", default=[1, 3, 6, 9],
                        help="PNG compression levels (zlib's 0-9) to time")
    args = parser.parse_args()
    image = read_image(args.image) if args.image else enlarged_photograph(args.megapixels)
    height, width = image.pixels.shape[:2]
    print(f"{width}x{height} ({width * height / 1e6:.1f} MP), median of {args.repeats} writes")
    print(f"{'format':<24} {'seconds':>8} {'MB':>8}")
    for suffix in SUFFIXES:
        options = save_options(Path(f"x{suffix}"), output_format(Path(f"x{suffix}")), image)
        levels = args.levels if suffix == ".png" else [None]
        for level in levels:
            chosen = options if level is None else {**options, "compress_level": level}
            label = suffix if level is None else f"{suffix} level {level}" + (
                " (zoo's)" if level == PNG_COMPRESS_LEVEL else "")
            seconds, size = time_write(image, suffix, args.repeats, chosen)
            print(f"{label:<24} {seconds:>8.2f} {size / 1e6:>8.1f}", flush=True)


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
