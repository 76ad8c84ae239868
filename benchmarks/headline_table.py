"""The README's headline table, from the committed leaderboards' ``summary.csv`` files.

    python benchmarks/headline_table.py                   # q10, Set5/Set14/McMaster/sample
    python benchmarks/headline_table.py --quality 30 --sets sample
    python benchmarks/headline_table.py --targets         # the q10 targets, met or not

One row per set, protocol and model: JPEG first, then the models by PSNR, best first. PSNR
carries its gain over the JPEG input, LPIPS its change against the JPEG's in per cent.
``--targets`` prints instead, per set and protocol, whether the project's q10 targets are met
(at q10 only; "unknown" where a model's LPIPS that could be lower was not measured).
``tests/test_headline_table.py`` checks that the README shows exactly these tables.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.bench.leaderboard import PARTIAL_NOTE, cell_text, coverage_text, has_partial
from zoo.bench.results import read_summary
from zoo.cli.arg_types import jpeg_quality
from zoo.errors import ZooError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = ("McMaster", "Set14", "Set5", "sample")
BASELINE = "jpeg"
DIGITS = {"psnr": 2, "psnr_b": 2, "ssim": 4, "lpips_alex": 4, "niqe": 2, "brisque": 1}
METRICS = tuple(DIGITS)  # the table's columns
Models = dict[str, dict[str, Any]]  # {model: its read_summary entry}
HEADER = ("| set | protocol | model | PSNR | PSNR-B | SSIM | LPIPS (alex) | NIQE | BRISQUE |\n"
          "|---|---|---|---|---|---|---|---|---|")


def _at_quality(path: Path, quality: int) -> dict[str, Models]:
    """``{protocol: {model: entry}}`` of one ``summary.csv`` at one quality."""
    entries = read_summary(path)
    table: dict[str, Models] = {}
    for entry in entries:
        if entry["quality"] == quality:
            table.setdefault(entry["protocol"], {})[entry["model"]] = entry
    if not table:
        found = sorted({entry["quality"] for entry in entries})
        there = f"it has q{', q'.join(map(str, found))}" if found else "it has no rows"
        raise ZooError(f"{path}: no rows at q{quality} ({there})")
    return table


def _change(value: float, base: float) -> float:
    """``value``'s change against ``base`` in per cent; NaN when either is not measured."""
    return 100 * (value / base - 1) if base > 0 else math.nan


def _row(name: str, protocol: str, model: str, m: dict[str, Any], base: dict[str, Any]) -> str:
    cells = {k: cell_text(m, k, digits) for k, digits in DIGITS.items()}
    if model != BASELINE:
        gain = m["psnr"] - base["psnr"]
        if not math.isnan(gain):
            cells["psnr"] += f" ({gain:+.2f})"
        change = _change(m["lpips_alex"], base["lpips_alex"])
        if not math.isnan(change):
            cells["lpips_alex"] += f" ({change:+.1f} %)" if abs(change) < 1 else f" ({change:+.0f} %)"  # never "+0 %"
    return f"| {name} | {protocol} | `{model}` | " + " | ".join(cells.values()) + " |"


def _pairs(leaderboard: Path, sets: tuple[str, ...], quality: int) -> Iterator[tuple[str, str, Models]]:
    """``(set, protocol, {model: entry})`` in table order, each with its JPEG row."""
    for name in sets:
        path = leaderboard / name / "summary.csv"
        summary = _at_quality(path, quality)
        for protocol in sorted(summary):
            if BASELINE not in summary[protocol]:
                raise ZooError(f"{path}: no {BASELINE!r} row at q{quality}, {protocol}")
            yield name, protocol, summary[protocol]


def _by_psnr(models: Models) -> list[str]:
    """The models other than the JPEG, best PSNR first, unmeasured last."""
    rest = [m for m in models if m != BASELINE]
    return sorted(rest, key=lambda m: (math.isnan(models[m]["psnr"]), -models[m]["psnr"]))


def headline_table(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS, quality: int = 10) -> str:
    """The markdown table for ``sets`` (folders under ``leaderboard``) at ``quality``; a note
    under it when some mean covers fewer images than its row."""
    lines = [HEADER]
    partial = False
    for name, protocol, models in _pairs(leaderboard, sets, quality):
        base = models[BASELINE]
        lines += [_row(name, protocol, m, models[m], base) for m in (BASELINE, *_by_psnr(models))]
        partial = partial or has_partial(list(models.values()), METRICS)
    if partial:
        lines += ["", PARTIAL_NOTE]
    return "\n".join(lines) + "\n"


TARGET_HEADER = ("| set | protocol | `unet-l1` PSNR gain (>= +1.6 dB) | `arnet-nogan` LPIPS change "
                 "(<= -35 %) | `arnet-nogan` PSNR gain (>= 0) | lowest LPIPS (`arnet-nogan`) |\n|---|---|---|---|---|---|")
TARGET_MODELS = ("unet-l1", "arnet-nogan")
TARGET_QUALITY = 10


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _met(value: float, ok: bool, text: str) -> str:
    """A target's cell: ``text`` and whether the target is met; "–" when not measured."""
    return "–" if math.isnan(value) else f"{text} {_mark(ok)}"


def _lowest_lpips(models: Models, flagship: str = "arnet-nogan") -> str:
    """Whether ``flagship`` has the lowest LPIPS of the models: "–" when its own is not
    measured, "unknown" when another's is not and could be lower."""
    unmeasured = [m for m in models if math.isnan(models[m]["lpips_alex"])]
    if flagship in unmeasured:
        return "–"
    lowest = min((m for m in models if m not in unmeasured), key=lambda m: models[m]["lpips_alex"])
    if lowest == flagship and unmeasured:
        return f"unknown: {', '.join(f'`{m}`' for m in unmeasured)}'s LPIPS not measured"
    return f"`{lowest}` {_mark(lowest == flagship)}"


def target_table(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS) -> str:
    """The project's q10 targets (issue 5) per set and protocol, met or not, from the summaries
    (at q10 only: a target is not checked at another quality)."""
    quality = TARGET_QUALITY
    lines = [TARGET_HEADER]
    for name, protocol, models in _pairs(leaderboard, sets, quality):
        for model in TARGET_MODELS:
            if model not in models:
                raise ZooError(f"{leaderboard / name / 'summary.csv'}: no {model!r} row at "
                               f"q{quality}, {protocol} (--targets compares {' and '.join(TARGET_MODELS)} "
                               "with the JPEG)")
        base, fidelity, flagship = models[BASELINE], models["unet-l1"], models["arnet-nogan"]
        gain = fidelity["psnr"] - base["psnr"]
        lpips = _change(flagship["lpips_alex"], base["lpips_alex"])
        flagship_gain = flagship["psnr"] - base["psnr"]
        cells = [_met(gain, gain >= 1.6, f"{gain:+.3f}{coverage_text(fidelity, 'psnr')}"),
                 _met(lpips, lpips <= -35, f"{lpips:+.1f} %{coverage_text(flagship, 'lpips_alex')}"),
                 _met(flagship_gain, flagship_gain >= 0,
                      f"{flagship_gain:+.3f}{coverage_text(flagship, 'psnr')}"),
                 _lowest_lpips(models)]
        lines.append(f"| {name} | {protocol} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _check_sets(leaderboard: Path, sets: list[str]) -> None:
    """Refuse a missing leaderboard folder or set before reading any (one line each)."""
    if not leaderboard.is_dir():
        raise ZooError(f"--leaderboard {leaderboard}: no such folder")
    there = sorted(p.parent.name for p in leaderboard.glob("*/summary.csv"))
    for name in sets:
        if not (leaderboard / name / "summary.csv").exists():
            raise ZooError(f"--sets {name}: no {leaderboard / name / 'summary.csv'} (sets in "
                           f"{leaderboard}: {', '.join(there) or 'none'})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leaderboard", type=Path, default=ROOT / "leaderboard")
    p.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS))
    p.add_argument("--quality", type=jpeg_quality, default=10)
    p.add_argument("--targets", action="store_true",
                   help="the project's targets (met or not) instead of the metrics table")
    args = p.parse_args(argv)
    if args.targets and args.quality != TARGET_QUALITY:
        raise ZooError(f"--targets --quality {args.quality}: the project's targets are set at "
                       f"q{TARGET_QUALITY}; leave out --quality")
    _check_sets(args.leaderboard, args.sets)
    sets = tuple(args.sets)
    print(target_table(args.leaderboard, sets) if args.targets
          else headline_table(args.leaderboard, sets, args.quality), end="")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
