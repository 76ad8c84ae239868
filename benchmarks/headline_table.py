"""The README's headline table, from the committed leaderboards' ``summary.csv`` files.

    python benchmarks/headline_table.py                   # q10, Set5/Set14/McMaster/sample
    python benchmarks/headline_table.py --quality 30 --sets sample
    python benchmarks/headline_table.py --targets         # the q10 targets, met or not

One row per set, protocol and model: JPEG first, then the models by PSNR, best first. PSNR
carries its gain over the JPEG input (dB), LPIPS its change against the JPEG's in per cent; ``n``
is the number of images. ``--targets`` prints instead, per set and protocol, whether the
project's q10 targets are met (at q10 only; "unknown" where a model's LPIPS that could be lower
was not measured), each mean with the standard error of the per-image differences from the
JPEG (the set's ``results.csv``), and which verdicts lie within one standard error of their target.
``tests/test_headline_table.py`` checks that the README shows exactly these tables.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from zoo.bench.leaderboard import PARTIAL_NOTE, cell_text, coverage_text, has_partial
from zoo.bench.results import read_rows, read_summary
from zoo.cli.arg_types import jpeg_quality
from zoo.errors import ZooError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = ("Set5", "Set14", "McMaster", "sample")
BASELINE = "jpeg"
DIGITS = {"psnr": 2, "psnr_b": 2, "ssim": 4, "lpips_alex": 4, "niqe": 2, "brisque": 1}
METRICS = tuple(DIGITS)  # the table's columns
Models = dict[str, dict[str, Any]]  # {model: its read_summary entry}
HEADER = ("| set | protocol | model | PSNR (dB) ↑ | PSNR-B (dB) ↑ | SSIM ↑ | LPIPS (alex) ↓ | NIQE ↓ "
          "| BRISQUE ↓ | n |\n|---|---|---|---|---|---|---|---|---|---|")


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
    return f"| {name} | {protocol} | `{model}` | " + " | ".join(cells.values()) + f" | {m['images']} |"


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


TARGET_HEADER = ("| set | protocol | n | `unet-l1` PSNR gain (>= +1.6 dB) | `arnet-nogan` LPIPS change "
                 "(<= -35 %) | `arnet-nogan` PSNR gain (>= 0) | lowest LPIPS (`arnet-nogan`) |\n"
                 "|---|---|---|---|---|---|---|")
TARGET_MODELS = ("unet-l1", "arnet-nogan")
TARGET_QUALITY = 10
Images = dict[str, dict[str, float]]  # {image: its values} of one model in results.csv


class Target(NamedTuple):
    """One of the project's q10 targets: ``model``'s change in ``metric`` against the JPEG
    (PSNR in dB, LPIPS in per cent of the JPEG's mean) at ``goal`` or beyond."""

    model: str
    metric: str
    goal: float
    label: str


TARGETS = (Target("unet-l1", "psnr", 1.6, "`unet-l1` PSNR gain"),
           Target("arnet-nogan", "lpips_alex", -35.0, "`arnet-nogan` LPIPS change"),
           Target("arnet-nogan", "psnr", 0.0, "`arnet-nogan` PSNR gain"))
SE_NOTE = ("±: the standard error of the mean per-image difference from the JPEG (model minus "
           "`jpeg`, same image, protocol and quality, from the set's `results.csv`: sample "
           "standard deviation / √n; for LPIPS over the JPEG's mean, in per cent).")


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _per_image(path: Path, quality: int) -> dict[tuple[str, str], Images]:
    """``{(protocol, model): {image: values}}`` of one ``results.csv`` at ``quality`` (empty
    when there is no such file)."""
    table: dict[tuple[str, str], Images] = {}
    for row in read_rows(path):
        if row.quality == quality:
            table.setdefault((row.protocol, row.model), {})[row.image] = row.values
    return table


def _paired_se(base: Images, other: Images, metric: str) -> float:
    """The standard error of the mean of ``other`` minus ``base`` over the images where both
    have a finite ``metric``; NaN with fewer than two such images."""
    diffs = [other[i][metric] - base[i][metric] for i in sorted(base.keys() & other.keys())
             if math.isfinite(base[i].get(metric, math.nan))
             and math.isfinite(other[i].get(metric, math.nan))]
    return statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan


def _measure(target: Target, models: Models, per_image: dict[str, Images]) -> tuple[float, float]:
    """``target``'s value (from the summaries' means) and its standard error (from the
    per-image rows; NaN without them)."""
    base, entry = models[BASELINE], models[target.model]
    se = _paired_se(per_image.get(BASELINE, {}), per_image.get(target.model, {}), target.metric)
    if target.metric != "lpips_alex":
        return entry[target.metric] - base[target.metric], se
    scale = 100 / base["lpips_alex"] if base["lpips_alex"] > 0 else math.nan  # per cent of the JPEG's
    return _change(entry["lpips_alex"], base["lpips_alex"]), se * scale


def _value_text(target: Target, value: float, se: float) -> str:
    """``+1.512 ± 0.24`` (dB) or ``-16.1 ± 5.5 %``; no ± when the error is not known."""
    if target.metric == "lpips_alex":
        return f"{value:+.1f}" + (f" ± {se:.1f}" if math.isfinite(se) else "") + " %"
    return f"{value:+.3f}" + (f" ± {se:.2f}" if math.isfinite(se) else "")


def _met(target: Target, value: float) -> bool:
    return value <= target.goal if target.metric == "lpips_alex" else value >= target.goal


def _goal_text(target: Target) -> str:
    if target.metric == "lpips_alex":
        return f"{target.goal:+.0f} %"
    return f"{target.goal:+g} dB" if target.goal else "0 dB"


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


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _near_note(near: list[str], unknown: list[str]) -> str:
    """The sentence under the targets table: which verdicts lie within one standard error of
    their target (and where the error is not known)."""
    note = (f"Verdicts within one standard error of their target (other images could turn "
            f"them): {_and(near)}." if near else
            "No verdict lies within one standard error of its target.")
    if unknown:
        note += f" No standard error (no per-image rows in `results.csv`): {_and(unknown)}."
    return note


def target_rows(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS) -> Iterator[
        tuple[str, str, Models, list[tuple[Target, float, float]]]]:
    """``(set, protocol, {model: entry}, [(target, value, standard error)])`` at q10."""
    quality = TARGET_QUALITY
    per_image: dict[str, dict[tuple[str, str], Images]] = {}
    for name, protocol, models in _pairs(leaderboard, sets, quality):
        for model in TARGET_MODELS:
            if model not in models:
                raise ZooError(f"{leaderboard / name / 'summary.csv'}: no {model!r} row at "
                               f"q{quality}, {protocol} (--targets compares {' and '.join(TARGET_MODELS)} "
                               "with the JPEG)")
        if name not in per_image:
            per_image[name] = _per_image(leaderboard / name / "results.csv", quality)
        rows = {model: images for (p, model), images in per_image[name].items() if p == protocol}
        yield name, protocol, models, [(t, *_measure(t, models, rows)) for t in TARGETS]


def target_table(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS) -> str:
    """The project's q10 targets (issue 5) per set and protocol, met or not, from the summaries
    (at q10 only: a target is not checked at another quality), each with its standard error
    from ``results.csv``; under the table, the verdicts within one standard error of their target."""
    lines = [TARGET_HEADER]
    near: list[str] = []
    unknown: list[str] = []
    for name, protocol, models, measured in target_rows(leaderboard, sets):
        cells = [str(models[BASELINE]["images"])]
        for target, value, se in measured:
            if math.isnan(value):
                cells.append("–")
                continue
            text = _value_text(target, value, se)
            cells.append(f"{text}{coverage_text(models[target.model], target.metric)} "
                         f"{_mark(_met(target, value))}")
            if abs(value - target.goal) <= se:
                near.append(f"{name} {protocol} {target.label} {text} (target {_goal_text(target)})")
            elif math.isnan(se) and f"{name} {protocol}" not in unknown:
                unknown.append(f"{name} {protocol}")
        cells.append(_lowest_lpips(models))
        lines.append(f"| {name} | {protocol} | " + " | ".join(cells) + " |")
    lines += ["", SE_NOTE + " " + _near_note(near, unknown)]
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
