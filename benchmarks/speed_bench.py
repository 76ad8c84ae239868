"""The benchmark's own cost: wall time of `zoo bench` on the sample suite, seconds per megapixel
per stage (JPEG round trip, each model, each metric), and an estimate for DIV2K validation.

    python benchmarks/speed_bench.py [--models jpeg arnet-nogan] [--quality 10 20 30] [--json out.json]

The one-time LPIPS weight conversion is done (and not timed) before anything is measured. Each
model restores one image untimed before its stage is timed (its first call pays one-time costs),
and each restore is the median of a few.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zoo.atomic import atomic_write, check_output_file
from zoo.cli.arg_types import jpeg_quality
from zoo.cli.children import ChildError, run_child
from zoo.errors import ZooError

# DIV2K validation: 100 images with 2040 pixels on the long side; when the set is in the data
# cache its pixels are counted exactly, otherwise this assumption (2040 x 1356, i.e. 3:2) is used.
DIV2K_ASSUMED_MP = 100 * 2040 * 1356 / 1e6
RESTORE_REPEATS = 3
"""Timed restores of each image per model, their median kept (a metric is timed once: LPIPS
keeps the ground truth's features, so a repeat would time a cache hit)."""


def _timed(fn, *args, repeat: int = 1, **kwargs):  # noqa: ANN001, ANN202
    """The median seconds of ``repeat`` calls, and the last call's result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def stage_costs(models: list[str], metrics: tuple[str, ...], quality: int,
                device: str | None) -> dict:
    """Seconds per megapixel of each stage, over the sample photographs (RGB protocol).

    As in ``zoo bench``, every metric scores every model's output against the ground truth,
    so a metric's cost is per row (per model), and LPIPS pays for the ground truth's features
    only at the first model of an image.
    """
    import zoo
    from zoo.bench.runner import restore
    from zoo.datasets import sample_dataset
    from zoo.degrade import jpeg_roundtrip, to_protocol
    from zoo.metrics import compute_metrics

    loaded = {name: zoo.load(name, device=device) for name in models}
    items = sample_dataset().items
    first = jpeg_roundtrip(to_protocol(items[0][1](), "rgb"), quality)
    for model in loaded.values():
        restore(model, first)  # untimed: the first call's one-time costs are no image's
    seconds: dict[str, float] = {"jpeg_roundtrip": 0.0, **{f"restore:{m}": 0.0 for m in models},
                                 **{f"metric:{m}": 0.0 for m in metrics}}
    megapixels = 0.0
    for _, loader in items:
        truth = to_protocol(loader(), "rgb")
        megapixels += truth.shape[0] * truth.shape[1] / 1e6
        t, degraded = _timed(jpeg_roundtrip, truth, quality)
        seconds["jpeg_roundtrip"] += t
        for name, model in loaded.items():
            t, restored = _timed(restore, model, degraded, repeat=RESTORE_REPEATS)
            seconds[f"restore:{name}"] += t
            for metric in metrics:
                t, _ = _timed(compute_metrics, restored, truth, names=[metric], device=device)
                seconds[f"metric:{metric}"] += t
    rows = {k: len(models) if k.startswith("metric:") else 1 for k in seconds}
    return {"megapixels": megapixels,
            "s_per_mp_per_quality": sum(seconds.values()) / megapixels,
            "s_per_mp": {k: v / megapixels / rows[k] for k, v in seconds.items()}}


def div2k_megapixels() -> tuple[float, str]:
    from zoo.div2k import div2k_dir, div2k_present

    if not div2k_present():
        return DIV2K_ASSUMED_MP, "assumed: 100 images of 2040x1356"
    from PIL import Image

    total = 0
    for path in sorted(div2k_dir().glob("*.png")):
        with Image.open(path) as im:
            total += im.width * im.height
    return total / 1e6, f"counted in {div2k_dir()}"


def warm_up(metrics: tuple[str, ...]) -> None:
    """Metric networks loaded and converted once (LPIPS weights cached as safetensors)."""
    from zoo.metrics import compute_metrics

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
    compute_metrics(a, a, names=list(metrics))


def timed_bench(cmd: list[str]) -> float:
    """Wall seconds of a ``zoo bench`` run that measured every row. A run that did not is
    refused, its time not being a full run's: exit status 1 (a model failed to load or on an
    image), or an image it skipped (its ``skipped`` lines; zoo bench exits 0 for those)."""
    what = "zoo bench on the sample suite"
    t0 = time.perf_counter()
    try:
        stderr, reason = run_child(cmd, what).stderr, None
    except ChildError as exc:
        if exc.returncode != 1:
            raise
        stderr, reason = exc.stderr, exc.reason
    wall = time.perf_counter() - t0
    lines = stderr.splitlines()
    missed = ([line for line in lines if line.startswith("failed")]
              + [line for line in lines if line.startswith("skipped")])
    if missed or reason:
        raise ZooError(f"{what} did not measure every row ({missed[0] if missed else reason}), "
                       "so its wall time is not a full run's")
    return wall


def main(argv: list[str] | None = None) -> None:
    from zoo.bench.api import select_models
    from zoo.bench.suites import ALL_METRICS

    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", nargs="+", default=None, help="default: every entry with weights + jpeg")
    parser.add_argument("--quality", nargs="+", type=jpeg_quality, default=[10, 20, 30],
                        dest="qualities", metavar="Q",
                        help="JPEG qualities, as zoo bench --quality (10 20 30)")
    parser.add_argument("--qualities", nargs="+", type=jpeg_quality, dest="qualities",
                        help=argparse.SUPPRESS)  # its old name
    parser.add_argument("--metrics", nargs="+", default=list(ALL_METRICS), choices=ALL_METRICS)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.json:
        check_output_file(args.json, "--json")
    # Named as zoo bench names them, a bad name refused now; loaded only after the timed run,
    # which must have the device to itself.
    models = select_models(args.models)
    metrics = tuple(args.metrics)

    warm_up(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        wall = timed_bench([sys.executable, "-m", "zoo", "bench", "--data", "sample", "--quality",
                            *map(str, args.qualities), "--models", *models, "--metrics", *metrics,
                            "--out", tmp, "--no-progress",
                            *(["--device", args.device] if args.device else [])])
    costs = stage_costs(models, metrics, min(args.qualities), args.device)
    per_mp_per_quality = costs["s_per_mp_per_quality"]
    div2k_mp, how = div2k_megapixels()
    estimate = div2k_mp * per_mp_per_quality * len(args.qualities)
    report = {"models": models, "metrics": list(metrics), "qualities": args.qualities,
              "threads": __import__("torch").get_num_threads(), "sample_wall_seconds": round(wall, 2),
              "sample_megapixels": round(costs["megapixels"], 3),
              "seconds_per_megapixel": {k: round(v, 4) for k, v in costs["s_per_mp"].items()},
              "div2k_megapixels": round(div2k_mp, 1), "div2k_megapixels_source": how,
              "div2k_estimate_seconds": round(estimate, 1), "restore_repeats": RESTORE_REPEATS}
    print(f"zoo bench --quality {' '.join(map(str, args.qualities))} on the sample suite "
          f"({costs['megapixels']:.2f} MP, models {', '.join(models)}): {wall:.1f} s wall")
    print(f"{'stage':<24}{'s / MP':>10}   (metrics: per row, i.e. per model; restores: median "
          f"of {RESTORE_REPEATS} after one untimed)")
    for stage, value in costs["s_per_mp"].items():
        print(f"{stage:<24}{value:>10.3f}")
    print(f"DIV2K validation ({div2k_mp:.1f} MP, {how}): about {estimate / 60:.1f} min "
          f"at {len(args.qualities)} qualities")
    if args.json:
        atomic_write(args.json, lambda fh: fh.write(json.dumps(report, indent=2)))


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
