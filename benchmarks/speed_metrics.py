"""Seconds per megapixel of every metric in zoo.metrics (CPU, and CUDA when present).

    python benchmarks/speed_metrics.py [--repeats 3] [--protocol rgb|y] [--megapixels M]
                                       [--memory] [--markdown FILE]

Scores one 512x512 photograph (scikit-image's astronaut; ``--megapixels``: enlarged to about M
megapixels) against its JPEG copies, after one warm-up call per metric (the warm-up loads LPIPS
and the NIQE/BRISQUE parameters, and LPIPS keeps the reference's features, as a benchmark does
across its models); each timed call scores another copy (q11, q12, ...), so no call is a
cache hit. ``--memory`` measures each metric in a fresh process and adds the memory it took:
on the CPU, the process's peak resident set less its size before the metric's first call (the
images are made before); on CUDA, the GPU memory it allocated at its peak
(``torch.cuda.max_memory_allocated`` less what was allocated before), shown "(CUDA)". A metric
that is undefined at the image's size (NaN: MS-SSIM below 161 px, LPIPS below 31, NIQE below
two 96-px blocks) is not timed: its row says so.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from zoo.atomic import atomic_write, check_output_file
from zoo.cli import print_table
from zoo.cli.arg_types import float_above, int_in
from zoo.cli.children import PeakMemory, run_child
from zoo.degrade import jpeg_roundtrip, to_protocol
from zoo.metrics import METRICS


MAX_REPEATS = 90
"""Copies at JPEG qualities 11 to 100 (q10 is the warm-up's)."""
PHOTO_SIDE = 512
"""The astronaut's side, measured when ``--megapixels`` is not given."""
Row = tuple[str, str, float | None, float | None]
"""(metric, device, seconds per megapixel or None when the metric is undefined at the image's
size, MB the metric took or None when not measured)."""


def _side(megapixels: float | None) -> int:
    """The side of the square image measured."""
    return max(16, round((megapixels * 1e6) ** 0.5)) if megapixels else PHOTO_SIDE


def _image(protocol: str, megapixels: float | None) -> np.ndarray:
    from PIL import Image
    from skimage import data

    photo = data.astronaut()
    if megapixels:
        side = _side(megapixels)
        photo = np.asarray(Image.fromarray(photo).resize((side, side), Image.BICUBIC))
    return to_protocol(photo, protocol)  # type: ignore[arg-type]


def measure(protocol: str, repeats: int, devices: list[str], megapixels: float | None = None,
            only: str | None = None) -> list[Row]:
    """A row for every metric (or ``only`` that one) and device."""
    reference = _image(protocol, megapixels)
    # One JPEG per call (q10, q11, ...): SSIM and MS-SSIM share the filtering of the last pair,
    # and LPIPS keeps the reference's features, so a repeat of one pair would time a cache hit.
    copies = [jpeg_roundtrip(reference, 10 + i) for i in range(repeats + 1)]
    size = reference.shape[0] * reference.shape[1] / 1e6
    rows = []
    for device in devices:
        for name, metric in METRICS.items():
            uses_device = name == "lpips_alex"
            if (device != "cpu" and not uses_device) or (only and name != only):
                continue  # numpy/float64 metrics run on the CPU only
            memory = PeakMemory(device)
            if math.isnan(metric(copies[0], reference, device=device)):  # warm-up
                rows.append((name, device, None, None))  # a speed of no score would mislead
                continue
            start = time.perf_counter()
            for restored in copies[1:]:
                metric(restored, reference, device=device)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rows.append((name, device, (time.perf_counter() - start) / repeats / size,
                         memory.taken_mb()))
    return rows


def measure_apart(protocol: str, repeats: int, devices: list[str],
                  megapixels: float | None) -> list[Row]:
    """:func:`measure`, each metric in a fresh process, so that its memory is its own."""
    rows = []
    for name in METRICS:
        command = [sys.executable, __file__, "--child", name, "--protocol", protocol,
                   "--repeats", str(repeats)] + (["--megapixels", str(megapixels)] if megapixels else [])
        done = run_child(command, f"{name} in a fresh process")
        rows += [tuple(row) for row in json.loads(done.stdout) if row[1] in devices]
    return rows


def _cells(row: Row, memory: bool, side: int) -> list[str]:
    """A row's cells: its speed, or that the metric is undefined at this size; its MB."""
    name, device, sec, mb = row
    speed = f"undefined at {side}x{side}" if sec is None else f"{sec:.3f}"
    where = " (CUDA)" if device.startswith("cuda") else ""
    return [name, device, speed] + (["–" if mb is None else f"{mb:.0f}{where}"] if memory else [])


def to_markdown(rows: list[Row], protocol: str, megapixels: float | None) -> str:
    side = _side(megapixels)
    size = f"{megapixels} MP ({side}x{side})" if megapixels else f"{side}x{side}"
    memory = any(mb is not None for *_, mb in rows)
    lines = [f"Metric cost, protocol `{protocol}`, {size} (s per megapixel; "
             f"{torch.get_num_threads()} CPU threads)", "",
             "| metric | device | s / MP |" + (" MB |" if memory else ""),
             "|---|---|---|" + ("---|" if memory else "")]
    lines += ["| " + " | ".join(_cells(row, memory, side)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int_in(1, MAX_REPEATS), default=3,
                        help=f"timed calls per metric, each on another JPEG copy (1 to {MAX_REPEATS})")
    parser.add_argument("--protocol", choices=["rgb", "y"], default="rgb")
    parser.add_argument("--megapixels", type=float_above(0.0), metavar="M",
                        help="enlarge the photograph to about M megapixels (default: 512x512)")
    parser.add_argument("--memory", action="store_true",
                        help="each metric in a fresh process, with the memory it took")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--child", choices=list(METRICS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.child:  # one metric for --memory: its rows as JSON
        print(json.dumps(measure(args.protocol, args.repeats, devices, args.megapixels, args.child)))
        return
    if args.markdown:
        check_output_file(args.markdown, "--markdown")
    rows = (measure_apart(args.protocol, args.repeats, devices, args.megapixels) if args.memory
            else [(*row[:3], None) for row in measure(args.protocol, args.repeats, devices,
                                                      args.megapixels)])
    table = Table(title=f"zoo.metrics cost (protocol {args.protocol})")
    columns = ("metric", "device", "s / MP") + (("MB",) if args.memory else ())
    for column in columns:
        table.add_column(column, justify="left" if column in ("metric", "device") else "right")
    for row in rows:
        table.add_row(*_cells(row, args.memory, _side(args.megapixels)))
    print_table(table)
    if args.markdown:
        atomic_write(args.markdown,
                     lambda fh: fh.write(to_markdown(rows, args.protocol, args.megapixels)))


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
