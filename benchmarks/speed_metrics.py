"""Seconds per megapixel of every metric in zoo.metrics (CPU, and CUDA when present).

    python benchmarks/speed_metrics.py [--repeats 3] [--protocol rgb|y] [--markdown FILE]

Scores one 512x512 photograph (scikit-image's astronaut) against its JPEG q=10 copy, after
one warm-up call per metric (the warm-up loads LPIPS and the NIQE/BRISQUE parameters).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from zoo.atomic import atomic_write, check_output_file
from zoo.cli.arg_types import int_at_least
from zoo.degrade import jpeg_roundtrip, to_protocol
from zoo.metrics import METRICS


def _image(protocol: str) -> np.ndarray:
    from skimage import data

    return to_protocol(data.astronaut(), protocol)  # type: ignore[arg-type]


def measure(protocol: str, repeats: int, devices: list[str]) -> list[tuple[str, str, float]]:
    """(metric, device, seconds per megapixel) for every metric and device."""
    reference = _image(protocol)
    restored = jpeg_roundtrip(reference, 10)
    megapixels = reference.shape[0] * reference.shape[1] / 1e6
    rows = []
    for device in devices:
        for name, metric in METRICS.items():
            uses_device = name == "lpips_alex"
            if device != "cpu" and not uses_device:
                continue  # numpy/float64 metrics run on the CPU only
            metric(restored, reference, device=device)  # warm-up
            start = time.perf_counter()
            for _ in range(repeats):
                metric(restored, reference, device=device)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rows.append((name, device, (time.perf_counter() - start) / repeats / megapixels))
    return rows


def to_markdown(rows: list[tuple[str, str, float]], protocol: str) -> str:
    lines = [f"Metric cost, protocol `{protocol}` (s per megapixel; {torch.get_num_threads()} "
             "CPU threads)", "", "| metric | device | s / MP |", "|---|---|---|"]
    lines += [f"| {name} | {device} | {sec:.3f} |" for name, device, sec in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int_at_least(1), default=3)
    parser.add_argument("--protocol", choices=["rgb", "y"], default="rgb")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)
    if args.markdown:
        check_output_file(args.markdown, "--markdown")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = measure(args.protocol, args.repeats, devices)
    table = Table(title=f"zoo.metrics cost (protocol {args.protocol})")
    for column in ("metric", "device", "s / MP"):
        table.add_column(column, justify="right" if column == "s / MP" else "left")
    for name, device, sec in rows:
        table.add_row(name, device, f"{sec:.3f}")
    Console().print(table)
    if args.markdown:
        atomic_write(args.markdown, lambda fh: fh.write(to_markdown(rows, args.protocol)))


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
