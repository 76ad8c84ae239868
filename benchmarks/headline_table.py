"""The README's headline table, from the committed leaderboards' ``summary.csv`` files.

    python benchmarks/headline_table.py                   # q10, Set5/Set14/McMaster/sample
    python benchmarks/headline_table.py --quality 30 --sets sample
    python benchmarks/headline_table.py --targets         # the q10 targets, met or not
    python benchmarks/headline_table.py --margins lpips_alex   # the best mean's margin, q10-q30

One row per set, protocol and model: JPEG first, then the models by PSNR, best first. PSNR
carries its gain over the JPEG input (dB), LPIPS its change against the JPEG's in per cent; ``n``
is the number of images. ``--targets`` prints instead, per set and protocol, whether the
project's q10 targets are met (at q10 only; "unknown" where a model's LPIPS that could be lower
was not measured), each mean with its paired standard error (the set's ``results.csv``), and
which verdicts' 95 % intervals hold their target.
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
FLAGSHIP = "arnet-nogan"
TARGET_QUALITY = 10
CONFIDENCE = 0.95
Images = dict[str, dict[str, float]]  # {image: its values} of one model in results.csv


class Target(NamedTuple):
    """One of the project's q10 targets: ``model``'s change in ``metric`` against the JPEG
    (PSNR in dB, LPIPS in per cent of the JPEG's mean) at ``goal`` or beyond."""

    model: str
    metric: str
    goal: float
    label: str


class Estimate(NamedTuple):
    """A comparison's value (from the summaries' means), its standard error and the number of
    images it pairs (NaN and 0 where ``results.csv`` cannot give them: ``why``)."""

    value: float
    se: float
    n: int
    why: str = ""

    def half_width(self) -> float:
        """Half the 95 % interval: t (n - 1 degrees of freedom) standard errors; NaN unknown."""
        if self.n < 2 or not math.isfinite(self.se):
            return math.nan
        from scipy.stats import t

        return float(t.ppf(0.5 + CONFIDENCE / 2, self.n - 1)) * self.se

    def holds(self, bound: float) -> bool:
        """Whether ``bound`` lies inside the 95 % interval (other images could put the mean on
        its other side)."""
        return abs(self.value - bound) <= self.half_width()


TARGETS = (Target("unet-l1", "psnr", 1.6, "`unet-l1` PSNR gain"),
           Target("arnet-nogan", "lpips_alex", -35.0, "`arnet-nogan` LPIPS change"),
           Target("arnet-nogan", "psnr", 0.0, "`arnet-nogan` PSNR gain"))
SE_NOTE = ("±: the standard error from the set's `results.csv`, pairing each image's value with "
           "the JPEG's (same image, protocol and quality): for a gain, the sample standard "
           "deviation of the per-image differences / √n; for the LPIPS change, a ratio of two "
           "means, that of the images' LPIPS minus the ratio times the JPEG's, over the JPEG's "
           "mean, in per cent (the delta method); for the lowest LPIPS, `arnet-nogan`'s minus "
           "that of the model it leads least surely (its lead over each other model, in "
           "95 %-interval widths, the smallest), that of the per-image differences. A verdict is \"yes\" or "
           "\"no\" by the means, as the targets say; its 95 % interval is the mean ± t standard errors, t of n - 1 degrees of "
           "freedom")


def _t_text(counts: set[int]) -> str:
    """``(3.18 for 4 images, 2.45 for 7)``: the t of each image count in the table."""
    return "(" + ", ".join(f"{Estimate(0.0, 1.0, n).half_width():.2f} for {n} images"
                           for n in sorted(counts)) + ")"


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _protocol_rows(tables: dict[tuple[str, int], dict[tuple[str, str], Images]], leaderboard: Path,
                   name: str, quality: int, protocol: str) -> dict[str, Images]:
    """``{model: {image: values}}`` of one set, quality and protocol; each set's ``results.csv``
    read once per quality into ``tables``."""
    if (name, quality) not in tables:
        tables[name, quality] = _per_image(leaderboard / name / "results.csv", quality)
    return {model: images for (p, model), images in tables[name, quality].items() if p == protocol}


def _per_image(path: Path, quality: int) -> dict[tuple[str, str], Images]:
    """``{(protocol, model): {image: values}}`` of one ``results.csv`` at ``quality`` (empty
    when there is no such file)."""
    table: dict[tuple[str, str], Images] = {}
    for row in read_rows(path):
        if row.quality == quality:
            table.setdefault((row.protocol, row.model), {})[row.image] = row.values
    return table


def _paired(base: Images, other: Images, metric: str) -> list[tuple[float, float]]:
    """``(base, other)`` values of ``metric`` on the images where both are finite."""
    return [(base[i][metric], other[i][metric]) for i in sorted(base.keys() & other.keys())
            if math.isfinite(base[i].get(metric, math.nan))
            and math.isfinite(other[i].get(metric, math.nan))]


def _compare(base: Images, other: Images, metric: str, means: tuple[float, float],
             relative: bool = False) -> Estimate:
    """``other``'s mean against ``base``'s (``means``, from the summaries): the difference, or
    with ``relative`` the change in per cent, with its paired standard error. The per-image
    rows must average to those means: rows the summary left out (an image since removed, other
    weights) would give another standard error than the mean's."""
    base_mean, other_mean = means
    value = (_change(other_mean, base_mean) if relative else other_mean - base_mean)
    pairs = _paired(base, other, metric)
    if not base or not other:
        return Estimate(value, math.nan, 0, "no per-image rows in `results.csv`")
    if len(pairs) < 2:
        return Estimate(value, math.nan, len(pairs), "fewer than two images")
    bases, others = zip(*pairs)
    if not (math.isclose(statistics.fmean(bases), base_mean, rel_tol=1e-9, abs_tol=1e-12)
            and math.isclose(statistics.fmean(others), other_mean, rel_tol=1e-9, abs_tol=1e-12)):
        return Estimate(value, math.nan, 0, "`results.csv` rows other than the summary's means")
    if relative:
        ratio = other_mean / base_mean
        spread = statistics.stdev(o - ratio * b for b, o in pairs) * 100 / base_mean
    else:
        spread = statistics.stdev(o - b for b, o in pairs)
    return Estimate(value, spread / math.sqrt(len(pairs)), len(pairs))


def _measure(target: Target, models: Models, per_image: dict[str, Images]) -> Estimate:
    """``target``'s value (from the summaries' means) and its standard error (from the
    per-image rows)."""
    means = (models[BASELINE][target.metric], models[target.model][target.metric])
    return _compare(per_image.get(BASELINE, {}), per_image.get(target.model, {}), target.metric,
                    means, relative=target.metric == "lpips_alex")


def _value_text(target: Target, found: Estimate) -> str:
    """``+1.512 ± 0.24`` (dB) or ``-16.1 ± 5.5 %``; no ± when the error is not known."""
    value, se = found.value, found.se
    if target.metric == "lpips_alex":
        return f"{value:+.1f}" + (f" ± {se:.1f}" if math.isfinite(se) else "") + " %"
    return f"{value:+.3f}" + (f" ± {se:.2f}" if math.isfinite(se) else "")


def _met(target: Target, value: float) -> bool:
    return value <= target.goal if target.metric == "lpips_alex" else value >= target.goal


def _goal_text(target: Target) -> str:
    if target.metric == "lpips_alex":
        return f"{target.goal:+.0f} %"
    return f"{target.goal:+g} dB" if target.goal else "0 dB"


class Lowest(NamedTuple):
    """The lowest-LPIPS column of one set and protocol: its cell, and, where the flagship is
    measured and so is another model, its LPIPS minus the best other model's (``versus``)."""

    cell: str
    versus: str = ""
    difference: Estimate | None = None


def _closest(best: str, others: list[str], metric: str, models: Models,
             rows: dict[str, Images]) -> tuple[str, Estimate]:
    """Of ``others`` (best mean first), the one ``best``'s lead over is least sure, with
    ``best``'s mean minus its: the smallest margin in 95 %-interval half-widths. Being best of
    all needs the lead over each of them, and the next mean is not always the nearest call (a
    close mean with a steady gap can be surer than a far one with a wide spread); without
    standard errors, the next mean."""
    def compare(other: str) -> Estimate:
        return _compare(rows.get(other, {}), rows.get(best, {}), metric,
                        (models[other][metric], models[best][metric]))

    found = [(other, compare(other)) for other in others]

    def surety(pair: tuple[str, Estimate]) -> float:
        width = pair[1].half_width()
        return abs(pair[1].value) / width if math.isfinite(width) and width > 0 else math.inf

    return min(found, key=surety)  # min keeps the first of equals: the next mean


def _lowest_lpips(models: Models, per_image: dict[str, Images]) -> Lowest:
    """Whether the flagship has the lowest LPIPS of the models: "–" when its own is not
    measured, "unknown" when another's is not and could be lower; its difference, with its
    paired standard error, from the model it leads least surely (:func:`_closest`), or when it
    is not the lowest, from the lowest."""
    unmeasured = [m for m in models if math.isnan(models[m]["lpips_alex"])]
    if FLAGSHIP in unmeasured:
        return Lowest("–")
    measured = sorted((m for m in models if m not in unmeasured), key=lambda m: models[m]["lpips_alex"])
    if measured[0] == FLAGSHIP and unmeasured:
        return Lowest(f"unknown: {', '.join(f'`{m}`' for m in unmeasured)}'s LPIPS not measured")
    cell = f"`{measured[0]}` {_mark(measured[0] == FLAGSHIP)}"
    others = [m for m in measured if m != FLAGSHIP]
    if not others:
        return Lowest(cell)
    versus, found = _closest(FLAGSHIP, others if measured[0] == FLAGSHIP else others[:1],
                             "lpips_alex", models, per_image)
    se = f" ± {found.se:.4f}" if math.isfinite(found.se) else ""
    return Lowest(f"{cell} ({found.value:+.4f}{se} against `{versus}`)", versus, found)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _near_note(near: dict[str, list[str]], unknown: dict[str, list[str]]) -> str:
    """The sentence under the targets table: which verdicts' 95 % intervals hold their target
    (and where the error is not known)."""
    note = ("Verdicts whose 95 % interval holds the target, the likeliest to turn on other "
            "images: " + "; ".join(f"{where}: {_and(labels)}" for where, labels in near.items())
            + "." if near else "No verdict's 95 % interval holds its target.")
    for why, where in unknown.items():
        note += f" No standard error ({why}): {_and(where)}."
    return note


def target_rows(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS) -> Iterator[
        tuple[str, str, Models, list[tuple[Target, Estimate]], Lowest]]:
    """``(set, protocol, {model: entry}, [(target, estimate)], lowest LPIPS)`` at q10."""
    quality = TARGET_QUALITY
    tables: dict[tuple[str, int], dict[tuple[str, str], Images]] = {}
    for name, protocol, models in _pairs(leaderboard, sets, quality):
        for model in TARGET_MODELS:
            if model not in models:
                raise ZooError(f"{leaderboard / name / 'summary.csv'}: no {model!r} row at "
                               f"q{quality}, {protocol} (--targets compares {' and '.join(TARGET_MODELS)} "
                               "with the JPEG)")
        rows = _protocol_rows(tables, leaderboard, name, quality, protocol)
        yield (name, protocol, models, [(t, _measure(t, models, rows)) for t in TARGETS],
               _lowest_lpips(models, rows))


def target_table(leaderboard: Path, sets: tuple[str, ...] = DEFAULT_SETS) -> str:
    """The project's q10 targets (issue 5) per set and protocol, met or not, from the summaries
    (at q10 only: a target is not checked at another quality), each with its standard error
    from ``results.csv``; under the table, the verdicts whose 95 % interval holds the target."""
    lines = [TARGET_HEADER]
    near: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    counts: set[int] = set()
    for name, protocol, models, measured, lowest in target_rows(leaderboard, sets):
        where = f"{name} {protocol}"
        cells = [str(models[BASELINE]["images"])]
        for target, found in measured:
            if math.isnan(found.value):
                cells.append("–")
                continue
            text = _value_text(target, found)
            cells.append(f"{text}{coverage_text(models[target.model], target.metric)} "
                         f"{_mark(_met(target, found.value))}")
            counts.add(found.n)
            if found.holds(target.goal):
                near.setdefault(where, []).append(f"{target.label} ({_goal_text(target)})")
            elif found.why and where not in unknown.get(found.why, []):
                unknown.setdefault(found.why, []).append(where)
        cells.append(lowest.cell)
        if lowest.difference is not None and lowest.difference.holds(0.0):
            near.setdefault(where, []).append(f"the lowest LPIPS (against `{lowest.versus}`)")
        lines.append(f"| {name} | {protocol} | " + " | ".join(cells) + " |")
    counts = {n for n in counts if n > 1}  # fewer images give no standard error, hence no t
    note = SE_NOTE + (" " + _t_text(counts) if counts else "") + ". "
    lines += ["", note + _near_note(near, unknown)]
    return "\n".join(lines) + "\n"


MARGIN_HEADER = ("| set | protocol | q | model | against | difference | ± | 95 % interval holds 0 |\n"
                 "|---|---|---|---|---|---|---|---|")


def margin_rows(leaderboard: Path, metric: str, sets: tuple[str, ...] = DEFAULT_SETS,
                qualities: tuple[int, ...] = (10, 20, 30), model: str | None = None,
                against: str | None = None) -> Iterator[tuple[str, str, int, str, str, Estimate]]:
    """``(set, protocol, quality, model, against, estimate)``: ``model``'s mean ``metric`` minus
    ``against``'s, with its paired standard error, per set, protocol and quality. By default
    ``model`` is the best mean there and ``against`` the other it leads least surely
    (:func:`_closest`): the margin a bold cell or a "best of every entry" stands on."""
    from zoo.bench.suites import LOWER_IS_BETTER

    sign = 1 if metric in LOWER_IS_BETTER else -1
    tables: dict[tuple[str, int], dict[tuple[str, str], Images]] = {}
    for quality in qualities:
        for name, protocol, models in _pairs(leaderboard, sets, quality):
            measured = sorted((m for m in models if math.isfinite(models[m][metric])),
                              key=lambda m: sign * models[m][metric])
            for option, wanted in (("--model", model), ("--against", against)):
                if wanted is not None and wanted not in models:
                    raise ZooError(f"{option} {wanted}: no such model in {leaderboard / name}'s "
                                   f"summary.csv at q{quality}, {protocol} (there: "
                                   f"{', '.join(sorted(models))})")
            first = model or (measured[0] if measured else None)
            others = [against] if against else [m for m in measured if m != first]
            if first is None or not others:
                continue
            rows = _protocol_rows(tables, leaderboard, name, quality, protocol)
            second, found = _closest(first, others, metric, models, rows)
            yield name, protocol, quality, first, second, found


def margin_table(leaderboard: Path, metric: str, sets: tuple[str, ...] = DEFAULT_SETS,
                 qualities: tuple[int, ...] = (10, 20, 30), model: str | None = None,
                 against: str | None = None) -> str:
    """:func:`margin_rows` as a table, and how many of the differences could be nil."""
    lines, inside, count = [MARGIN_HEADER], 0, 0
    digits = DIGITS.get(metric, 4)
    for name, protocol, quality, first, second, found in margin_rows(
            leaderboard, metric, sets, qualities, model, against):
        holds = found.holds(0.0)
        inside, count = inside + holds, count + 1
        se = f"{found.se:.{digits}f}" if math.isfinite(found.se) else f"– ({found.why})"
        lines.append(f"| {name} | {protocol} | {quality} | `{first}` | `{second}` | "
                     f"{found.value:+.{digits}f} | {se} | {'yes' if holds else 'no'} |")
    return "\n".join(lines) + (f"\n\n{inside} of {count} differences have a 95 % interval (mean ± t "
                               "standard errors, t of n - 1 degrees of freedom) that holds 0.\n")


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
    p.add_argument("--quality", type=jpeg_quality)
    p.add_argument("--targets", action="store_true",
                   help="the project's targets (met or not) instead of the metrics table")
    p.add_argument("--margins", metavar="METRIC",
                   help="instead: per set, protocol and quality (default 10 20 30), the best mean "
                        "METRIC's margin over the model it leads least surely, with its paired "
                        "standard error")
    p.add_argument("--model", help="with --margins: this model's difference, not the best's")
    p.add_argument("--against", help="with --margins: the difference from this model, not the "
                                     "one led least surely")
    args = p.parse_args(argv)
    args.quality_given = args.quality is not None
    args.quality = args.quality or TARGET_QUALITY
    if args.margins:
        from zoo.bench.suites import validate_metrics

        if validate_metrics([args.margins], "--margins") != (args.margins,):
            raise ZooError(f"--margins {args.margins}: one metric, not a set of them")
        _check_sets(args.leaderboard, args.sets)
        qualities = (args.quality,) if args.quality_given else (10, 20, 30)
        print(margin_table(args.leaderboard, args.margins, tuple(args.sets), qualities,
                           args.model, args.against), end="")
        return
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
