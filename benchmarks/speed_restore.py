"""Restoration speed and memory of every registry model: MP/s and peak memory at 512x512, and a
12-megapixel image restored through tiling.

    python benchmarks/speed_restore.py [--models arnet-nogan unet-l1] [--device cpu|cuda]
                                       [--precision fp32 bf16] [--threads N] [--compile]
                                       [--markdown FILE]

Each measurement runs in a fresh subprocess, so that its peak resident memory (the RSS high-water
mark from ``resource.getrusage``; on CUDA ``torch.cuda.max_memory_allocated``) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from zoo.atomic import atomic_write, check_output_file
from zoo.bench.meta import cpu_name
from zoo.cli import print_table
from zoo.cli.arg_types import float_above, int_at_least
from zoo.cli.children import ChildError, PeakMemory, run_child, until_interrupted
from zoo.cli.restore_cmd import PRECISION_CHOICES  # torch-free: workers import torch themselves
from zoo.errors import ZooError

INTERRUPTED = "interrupted"


def _setup(name: str, device: str, threads: int | None, precision: str,
           compiled: bool) -> tuple[Any, Any]:
    """The model as ``zoo restore`` runs it; ``compiled`` wraps its calls in ``torch.compile``
    (the zoo itself does not: this is the measurement of why)."""
    import torch

    import zoo

    if threads:
        torch.set_num_threads(threads)
    from zoo.ensemble import SelfEnsemble, split_ensemble
    from zoo.precision import with_precision

    spec, ensemble = split_ensemble(name)
    base, overrides = parse_model_spec(spec)
    model = zoo.create_model(base, **overrides).eval().to(device)
    model = with_precision(SelfEnsemble(model) if ensemble else model, precision)
    if compiled:
        model.compile()  # in place: the module keeps its type, so tiling takes it as it is
    return torch, model


def parse_model_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"arnet-nogan:nf=48:last_blocks=4"`` -> the entry and architecture overrides (JSON values):
    the speed of a layout before anyone trains it (weights do not change the time). A ``+x8``
    suffix (``unet-l1+x8``) times the model's self-ensemble."""
    name, *assignments = spec.split(":")
    overrides = {}
    for item in assignments:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ZooError(f"--models {spec}: {item!r} is not KEY=JSON (e.g. nf=48, "
                           "'blocks=[2,2,4]')") from None
    return name, overrides


def _check_models(specs: list[str], known: list[str]) -> None:
    """Refuse an unknown entry or an override that is not KEY=JSON before anything runs."""
    from zoo.ensemble import split_ensemble

    for spec in specs:
        name, _ = parse_model_spec(split_ensemble(spec)[0])
        if name not in known:
            raise ZooError(f"--models {spec}: unknown model {name!r} (known: {', '.join(known)})")


def measure_patch(name: str, device: str, threads: int | None, precision: str, compiled: bool,
                  size: int, warmup: int, runs: int) -> dict[str, Any]:
    """Median MP/s of ``model(x)`` on a (1, 3, size, size) batch, and the peak memory. ``x`` is
    the tensor ``zoo restore`` builds from a uint8 image (``array_to_tensor``), in its layout."""
    import numpy as np

    torch, model = _setup(name, device, threads, precision, compiled)
    from zoo.restore import array_to_tensor

    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    x = array_to_tensor(pixels).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    memory = PeakMemory(device)
    times = []
    from zoo.fp32 import exact_fp32

    with torch.inference_mode(), exact_fp32():  # fp32 as `zoo restore` runs it: no TF32 on GPUs
        for i in range(warmup + runs):
            sync()
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times[warmup:])
    return {"params": model.num_parameters(), "threads": torch.get_num_threads(),
            "mp_s": size * size / 1e6 / seconds, "seconds": seconds, "first_s": times[0],
            **memory.fields()}


def measure_tiled(name: str, device: str, threads: int | None, precision: str, compiled: bool,
                  megapixels: float, tile: int, runs: int = 1) -> dict[str, Any]:
    """The median of ``runs`` restores of a random uint8 image of about ``megapixels`` (4:3)
    through tiling, after a one-tile warm-up."""
    import numpy as np

    _, model = _setup(name, device, threads, precision, compiled)
    from zoo.restore import restore_image

    height = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = int(round(height * 4 / 3))
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    memory = PeakMemory(device)  # before the warm-up, as for the patch: its peak is the run's too
    restore_image(model, image[:tile, :tile], tile=tile, device=device)  # warm up
    # A compiled model compiles again for each new tile shape (the image's edges): timed in the
    # first run, as a user would wait for it.
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = restore_image(model, image, tile=tile, device=device)
        times.append(time.perf_counter() - start)
        assert out.shape == image.shape
    seconds = statistics.median(times)
    return {"mp_s": height * width / 1e6 / seconds, "seconds": seconds, "runs": runs,
            "size": f"{width}x{height}", **memory.fields()}


def _hardware_name(device: str) -> str:
    """The GPU's name for a CUDA device (the card is what the speeds belong to), else the CPU's."""
    if device.startswith("cuda"):
        import torch

        try:
            return f"{torch.cuda.get_device_name(torch.device(device))}, CPU {cpu_name()}"
        except (RuntimeError, AssertionError, ValueError):
            pass
    return cpu_name()


def _in_subprocess(args: list[str], what: str) -> dict[str, Any]:
    """One measurement in a fresh process: its result, or ``{"error": "what: why it failed"}``."""
    try:
        out = run_child([sys.executable, __file__, "--worker", *args], what).stdout
    except ChildError as exc:
        return {"error": str(exc)}
    return json.loads(out.strip().splitlines()[-1])


def _memory(row: dict[str, Any]) -> str:
    if "error" in row:
        return "failed"
    if INTERRUPTED in row:
        return INTERRUPTED
    if "peak_cuda_mb" in row:
        return f"{row['peak_cuda_mb']:.0f} (CUDA)"
    return f"{row['peak_rss_mb']:.0f} (+{row['peak_rss_mb'] - row['rss_before_mb']:.0f})"


def _rows(results: list[dict[str, Any]], size: int,
          tiled_mp: float | None) -> tuple[list[str], list[list[str]]]:
    header = ["model", "params", f"MP/s {size}x{size}", f"peak MB {size}x{size}"]
    if tiled_mp is not None:
        header += [f"MP/s {tiled_mp:g} MP tiled", f"peak MB {tiled_mp:g} MP tiled"]
    rows = []
    for r in results:
        p, t = r["patch"], r.get("tiled", {})
        row = [r["name"], f"{p['params'] / 1e6:.2f}M" if "params" in p else "-",
               f"{p['mp_s']:.2f}" if "mp_s" in p else "failed", _memory(p)]
        if tiled_mp is not None:
            row += [f"{t['mp_s']:.2f}" if "mp_s" in t else _memory(t), _memory(t)]
        rows.append(row)
    return header, rows


def _markdown(header: list[str], rows: list[list[str]], notes: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines + [""] + [f"{n}  " for n in notes]) + "\n"


def _rows_to_measure(args: argparse.Namespace, names: list[str]) -> list[tuple[str, str, bool]]:
    """``(model, precision, compiled)`` of each row, in the table's order."""
    compiled = (False, True) if args.compile else (False,)
    return [(name, p, c) for name in names for p in args.precision for c in compiled]


def _measurements(args: argparse.Namespace, wanted: list[tuple[str, str, bool]],
                  status: Any) -> Iterator[dict[str, Any]]:
    """Each row of ``wanted``, measured in child processes, one row at a time."""
    common = ["--device", args.device, "--size", str(args.size), "--warmup", str(args.warmup),
              "--runs", str(args.runs), "--tiled-mp", str(args.tiled_mp), "--tile", str(args.tile),
              "--tiled-runs", str(args.tiled_runs)]
    if args.threads:
        common += ["--threads", str(args.threads)]
    for name, precision, compiled in wanted:
        label = name if args.precision == ["fp32"] else f"{name} {precision}"
        label += " compiled" if compiled else ""
        how = [*common, "--compile"] if compiled else common
        patch = f"{label} at {args.size}x{args.size}"
        status.update(patch)
        row: dict[str, Any] = {"name": label,
                               "patch": _in_subprocess(["patch", name, precision, *how], patch)}
        row["compiled"] = compiled
        if not args.no_tiled:
            tiled = f"{label}, {args.tiled_mp:g} MP tiled"
            status.update(tiled)
            try:
                row["tiled"] = _in_subprocess(["tiled", name, precision, *how], tiled)
            except KeyboardInterrupt:
                # The patch time is measured: keep the row, its tiled cells marked, then stop.
                row["tiled"] = {INTERRUPTED: True}
                yield row
                raise
        yield row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", nargs="+",
                        help="registry names (default: all); NAME:KEY=JSON[:KEY=JSON] measures "
                             "an untrained variant, e.g. arnet-nogan:nf=48")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--threads", type=int_at_least(1), help="torch threads (default: torch's choice)")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=PRECISION_CHOICES,
                        help="measure every model at each of these (default: fp32); bf16 and "
                             "fp16 run under autocast, as zoo restore --precision does")
    parser.add_argument("--compile", action="store_true",
                        help="also measure every model under torch.compile (rows 'NAME compiled'; "
                             "a note gives each one's first call, the compilation)")
    parser.add_argument("--size", type=int_at_least(1), default=512, help="side of the square input (512)")
    parser.add_argument("--warmup", type=int_at_least(0), default=2)
    parser.add_argument("--runs", type=int_at_least(1), default=7,
                        help="timed runs; the median is reported")
    parser.add_argument("--tiled-mp", type=float_above(0), default=12.0, help="tiled image size in MP (12)")
    parser.add_argument("--tile", type=int_at_least(1), default=512, help="tile side for the tiled image")
    parser.add_argument("--tiled-runs", type=int_at_least(1), default=3,
                        help="timed restores of the tiled image; the median is reported (3)")
    parser.add_argument("--no-tiled", action="store_true", help="skip the tiled measurement")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as markdown")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # internal: one measurement, JSON on stdout
        kind, name, precision = args.worker[:3]
        if kind == "patch":
            out = measure_patch(name, args.device, args.threads, precision, args.compile,
                                args.size, args.warmup, args.runs)
        else:
            out = measure_tiled(name, args.device, args.threads, precision, args.compile,
                                args.tiled_mp, args.tile, args.tiled_runs)
        print(json.dumps(out))
        return 0

    from rich.markup import escape
    from rich.table import Table

    import zoo
    from zoo import terminal

    if args.markdown:
        check_output_file(args.markdown, "--markdown")
    from zoo.devices import usable_device

    usable_device(args.device)  # refused here, not in every row's child
    console = terminal.console()
    names = args.models or zoo.list_models()
    _check_models(names, zoo.list_models())
    wanted = _rows_to_measure(args, names)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with console.status("measuring") as status:
        results, interrupted = until_interrupted(_measurements(args, wanted, status))

    import torch

    notes = ["tiled column skipped (--no-tiled)"] if args.no_tiled else []
    for row in results:
        if row["compiled"] and "first_s" in row["patch"]:
            notes.append(f"{row['name']}: first {args.size}x{args.size} call (compilation) "
                         f"{row['patch']['first_s']:.1f} s")
    failures = [r[kind]["error"] for r in results for kind in ("patch", "tiled")
                if "error" in r.get(kind, {})]
    notes += [f"failed: {why}" for why in failures]
    threads = next((r["patch"]["threads"] for r in results if "threads" in r["patch"]), "?")
    notes.insert(0, f"device {args.device} ({_hardware_name(args.device)}), "
                    f"{threads} threads, torch {torch.__version__}, {'/'.join(args.precision)}, "
                    f"inference_mode; "
                    f"{args.size}x{args.size}: median of {args.runs} runs after {args.warmup} "
                    f"warm-up; peak MB: resident-set high-water mark of a fresh process "
                    f"(in brackets: "
                    f"the rise during the measurement and its warm-up, above imports, model "
                    f"and input), or CUDA max allocated")
    if load_before is not None:
        # Other processes on the same cores make every figure here lower: say so in the table.
        notes.append(f"1-minute load average {load_before:.1f} before, "
                     f"{os.getloadavg()[0]:.1f} after (on {os.cpu_count()} CPUs)")
    if interrupted:
        notes.append(f"partial: interrupted after {len(results)} of {len(wanted)} rows")
    header, rows = _rows(results, args.size, None if args.no_tiled else args.tiled_mp)
    table = Table(title="zoo restore speed" + (" (partial: interrupted)" if interrupted else ""))
    for column in header:
        table.add_column(column, justify="left" if column == "model" else "right")
    for table_row in rows:
        table.add_row(*table_row)
    print_table(table, console)
    for note in notes:
        style = "red" if note.startswith("failed:") else "dim"
        console.print(f"[{style}]{escape(note)}[/{style}]")
    if args.markdown:
        atomic_write(args.markdown, lambda fh: fh.write(_markdown(header, rows, notes)))
        console.print(f"wrote {escape(args.markdown)}")
    if interrupted:
        raise KeyboardInterrupt
    return 1 if failures else 0


if __name__ == "__main__":
    from zoo.cli import run_tool

    sys.exit(run_tool(main))
