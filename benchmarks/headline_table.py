"""The README's headline table, from the committed leaderboards' ``summary.csv`` files.

    python benchmarks/headline_table.py                   # q10, Set5/Set14/McMaster/sample
    python benchmarks/headline_table.py --quality 30 --sets sample
    python benchmarks/headline_table.py --targets         # the q10 targets, met or not

One row per set, protocol and model: JPEG first, then the models by PSNR, best first. PSNR
carries its gain over the JPEG input, LPIPS its change against the JPEG's in per cent.
``--targets`` prints instead, per set and protocol, whether the project's q10 targets are met.
``tests/test_headline_table.py`` checks that the README shows exactly these tables.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = ("McMaster", "Set14", "Set5", "sample")
BASELINE = "jpeg"
Models = dict[str, dict[str, float]]  # {model: {metric: mean}}
HEADER = ("| set | protocol | model | PSNR | PSNR-B | SSIM | LPIPS (alex) | NIQE | BRISQUE |\n"
          "|---|---|---|---|---|---|---|---|---|")


def read_summary(path: Path, quality: int) -> dict[str, Models]:
    """``{protocol: {model: {metric: mean}}}`` of one ``summary.csv`` at one quality."""
    table: dict[str, Models] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if int(row["quality"]) != quality:
                continue
            metrics = {k: float(row[k]) for k in ("psnr", "psnr_b", "ssim", "lpips_alex", "niqe", "brisque")}
            table.setdefault(row["protocol"], {})[row["model"]] = metrics
    return table


def _row(name: str, protocol: str, model: str, m: dict[str, float], base: dict[str, float]) -> str:
    psnr = f"{m['psnr']:.2f}"
    lpips = f"{m['lpips_alex']:.4f}"
    if model != BASELINE:
        psnr += f" ({m['psnr'] - base['psnr']:+.2f})"
        change = 100 * (m['lpips_alex'] / base['lpips_alex'] - 1)
        lpips += f" ({change:+.1f} %)" if abs(change) < 1 else f" ({change:+.0f} %)"  # never "+0 %"
    return (f"| {name} | {protocol} | `{model}` | {psnr} | {m['psnr_b']:.2f} | {m['ssim']:.4f} | "
            f"{lpips} | {m['niqe']:.2f} | {m['brisque']:.1f} |")


def _pairs(leaderboard: Path, sets: tuple[str, ...], quality: int) -> Iterator[tuple[str, str, Models]]:
    """``(set, protocol, {model: metrics})`` in table order, each with its JPEG row."""
    for name in sets:
        summary = read_summary(leaderboard / name / "summary.csv", quality)
        for protocol in sorted(summary):
            if BASELINE not in summary[protocol]:
                raise SystemExit(f"{leaderboard / name / 'summary.csv'}: no {BASELINE!r} row at "
                                 f"q{quality}, {protocol}")
            yield name, protocol, summary[protocol]


def headline_table(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS, quality: int = 10) -> str:
    """The markdown table for ``sets`` (folders under ``leaderboard``) at ``quality``."""
    lines = [HEADER]
    for name, protocol, models in _pairs(leaderboard, sets, quality):
        base = models[BASELINE]
        order = sorted((m for m in models if m != BASELINE), key=lambda m: -models[m]["psnr"])
        lines += [_row(name, protocol, m, models[m], base) for m in (BASELINE, *order)]
    return "\n".join(lines) + "\n"


TARGET_HEADER = ("| set | protocol | `unet-l1` PSNR gain (>= +1.6 dB) | `arnet-nogan` LPIPS change "
                 "(<= -35 %) | `arnet-nogan` PSNR gain (>= 0) | lowest LPIPS (`arnet-nogan`) |\n|---|---|---|---|---|---|")


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def target_table(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS, quality: int = 10) -> str:
    """The project's q10 targets (issue 5) per set and protocol, met or not, from the summaries."""
    lines = [TARGET_HEADER]
    for name, protocol, models in _pairs(leaderboard, sets, quality):
        base, fidelity, flagship = models[BASELINE], models["unet-l1"], models["arnet-nogan"]
        gain = fidelity["psnr"] - base["psnr"]
        lpips = 100 * (flagship["lpips_alex"] / base["lpips_alex"] - 1)
        flagship_gain = flagship["psnr"] - base["psnr"]
        lowest = min(models, key=lambda m: models[m]["lpips_alex"])
        lines.append(f"| {name} | {protocol} | {gain:+.3f} {_mark(gain >= 1.6)} | "
                     f"{lpips:+.1f} % {_mark(lpips <= -35)} | {flagship_gain:+.3f} "
                     f"{_mark(flagship_gain >= 0)} | `{lowest}` {_mark(lowest == 'arnet-nogan')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leaderboard", type=Path, default=ROOT / "leaderboard")
    p.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS))
    p.add_argument("--quality", type=int, default=10)
    p.add_argument("--targets", action="store_true",
                   help="the project's targets (met or not) instead of the metrics table")
    args = p.parse_args()
    table = target_table if args.targets else headline_table
    print(table(args.leaderboard, tuple(args.sets), args.quality), end="")


if __name__ == "__main__":
    main()
