"""LEADERBOARD.md: one table of means per protocol and quality, published rows beside them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from zoo.bench.baselines import ReportedRow, reported_at
from zoo.atomic import atomic_write
from zoo.errors import first_few
from zoo.bench.suites import LOWER_IS_BETTER, METRIC_DIGITS, METRIC_LABELS, METRIC_UNITS


def fmt_metric(name: str, value: float | None, digits: int | None = None) -> str:
    """``value`` with ``digits`` decimals (the metric's own by default); "–" when not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{METRIC_DIGITS.get(name, 3) if digits is None else digits}f}"


def coverage_text(entry: dict[str, Any], metric: str) -> str:
    """" (n of N)" when ``entry``'s mean of ``metric`` covers fewer images than its row, else ""."""
    covered = entry.get("partial", {}).get(metric)
    return f" ({covered} of {entry['images']})" if covered is not None else ""


def cell_text(entry: dict[str, Any], metric: str, digits: int | None = None) -> str:
    """A mean as shown in a table, with "(n of N)" when it covers fewer images than the row."""
    return fmt_metric(metric, entry.get(metric, math.nan), digits) + coverage_text(entry, metric)


PARTIAL_NOTE = ("(n of N): the mean covers only the n images that every model in the table has "
                "a finite value for; on the others the metric is undefined (NaN) or infinite (PSNR "
                "of a perfect reconstruction) for some model, or a model failed there.")


def has_partial(entries: list[dict[str, Any]], metrics: tuple[str, ...]) -> bool:
    """Whether any mean of ``metrics`` among ``entries`` covers fewer images than its row (the
    table then needs :data:`PARTIAL_NOTE`)."""
    return any(m in e.get("partial", {}) for e in entries for m in metrics)


def incomparable(reported: list[ReportedRow], entries: list[dict[str, Any]]) -> str:
    """Why published rows (of one dataset) do not compare with ``entries``' means: they cover
    another number of images (the fewest any mean covers, "(n of N)" included); "" when the
    counts agree or the published one is unknown."""
    published = reported[0].images if reported else None
    measured = min((min([int(e["images"]), *e.get("partial", {}).values()]) for e in entries),
                   default=0)
    if published is None or published == measured:
        return ""
    return (f"the published numbers are means over the {published} images of "
            f"{reported[0].dataset}; the means measured here cover {measured}")


def metric_header(name: str) -> str:
    """A metric's column header: its label, its unit if any, and which way is better (↑ or ↓)."""
    unit = f" ({METRIC_UNITS[name]})" if name in METRIC_UNITS else ""
    return f"{METRIC_LABELS.get(name, name)}{unit} {'↓' if name in LOWER_IS_BETTER else '↑'}"


def best_models(entries: list[dict[str, Any]], metric: str) -> set[str]:
    """The model(s) with the best mean of ``metric`` among ``entries`` (measured only)."""
    vals = [(e["model"], e[metric]) for e in entries if not math.isnan(e.get(metric, math.nan))]
    if not vals:
        return set()
    pick = min if metric in LOWER_IS_BETTER else max
    best = pick(v for _, v in vals)
    return {m for m, v in vals if round(v, METRIC_DIGITS.get(metric, 3)) ==
            round(best, METRIC_DIGITS.get(metric, 3))}


def groups(summary: list[dict[str, Any]]) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """Summary entries grouped by (protocol, quality), in that order."""
    keys = sorted({(e["protocol"], int(e["quality"])) for e in summary})
    return [(p, q, [e for e in summary if e["protocol"] == p and int(e["quality"]) == q])
            for p, q in keys]


def provenance(meta: dict[str, Any]) -> str:
    """Which run measured what: the last run, whether some values come from earlier ones (and
    the latest of those), and the rows of results.csv that the run's selection leaves out."""
    return " ".join(filter(None, [_measured_by(meta), not_shown_text(meta.get("not_shown"))]))


def _run_text(run: dict[str, Any]) -> str:
    return (f"zoo {run.get('zoo') or '?'} on {run.get('device') or '?'}, {run.get('date') or ''}, "
            f"commit {run.get('git_commit') or 'unknown'}")


def _measured_by(meta: dict[str, Any]) -> str:
    run = _run_text({**meta, "zoo": meta.get("versions", {}).get("zoo")})
    rows, now = meta.get("rows", 0), meta.get("measured_now", 0)
    per_metric: dict[str, int] = meta.get("measured_now_metrics") or {}
    wanted = meta.get("metrics") or list(per_metric)
    earlier = [r for r in meta.get("measured_by") or [] if isinstance(r, dict)
               and r.get("dataset") in (None, meta.get("dataset"))]  # None: older records
    if now:
        earlier = earlier[:-1]  # the last record is this run's
    latest = f"; the latest of them: {_run_text(earlier[-1])}" if earlier else ""
    behind = "results.csv names the weights, ground truth and setup behind each row"
    if rows == 0:
        return f"No value was measured by the last run ({run}), and none comes from an earlier one."
    if now == 0:
        return (f"No value was measured by the last run ({run}): every row comes from earlier runs "
                f"into this folder{latest} ({behind}).")
    if now >= rows and all(per_metric.get(m, 0) >= rows for m in wanted):
        return f"Measured by one run: {run}."
    done = ", ".join(f"{METRIC_LABELS.get(m, m)} on {n} rows" for m, n in per_metric.items())
    return (f"The last run ({run}) measured {done or f'{now} rows'} of {rows}; the other values come "
            f"from earlier runs into this folder, possibly on other machines{latest} ({behind}).")


def command_text(meta: dict[str, Any], markdown: bool = False) -> str:
    """The command of the last run, as its ``meta.json`` records it ("" when it does not)."""
    command = meta.get("command")
    if not isinstance(command, str) or not command:
        return ""
    return f"Its command: {md_code(command) if markdown else command}."


def not_shown_text(outside: Any) -> str:
    """What a leaderboard narrowed by the last command's selection leaves out."""
    if not isinstance(outside, dict) or not outside.get("rows"):
        return ""
    kinds = [f"{label} {', '.join(map(str, outside[key]))}"
             for key, label in (("datasets", "datasets"), ("models", "models"),
                                ("qualities", "qualities"), ("protocols", "protocols"))
             if outside.get(key)]
    other_data = (" (another dataset's rows are shown by a run on that dataset; give each its "
                  "own --out)" if outside.get("datasets") else "")
    return (f"results.csv also holds {outside['rows']} rows outside this run's selection "
            f"({'; '.join(kinds) or 'other combinations'}), not shown: name them in the command "
            f"(--models, --quality, --protocol) to show them{other_data}.")


PROTOCOL_TEXT = {
    "rgb": "the colour image is compressed, restored and scored in colour",
    "y": ("the literature's grey protocol: the image's BT.601 luma (16-235) is compressed as a grey "
          "JPEG, restored and scored"),
}


def has_ensembles(summary: list[dict[str, Any]]) -> bool:
    """Whether a model's self-ensemble (``NAME+x8``) is among the rows."""
    from zoo.ensemble import ENSEMBLE_SUFFIX  # here: the module imports torch

    return any(str(e["model"]).endswith(ENSEMBLE_SUFFIX) for e in summary)


def title_detail(summary: list[dict[str, Any]]) -> str:
    """What tells one page of a dataset from its others, for its title: the JPEG qualities, and
    the self-ensembles where there are any (`` (JPEG q10, q20, q30; self-ensembles)``)."""
    qualities = sorted({int(e["quality"]) for e in summary})
    parts = ["JPEG " + ", ".join(f"q{q}" for q in qualities)] if qualities else []
    if has_ensembles(summary):
        parts.append("self-ensembles")
    return f" ({'; '.join(parts)})" if parts else ""


def legend(summary: list[dict[str, Any]], metrics: tuple[str, ...], has_reported: bool,
           markdown: bool = False) -> str:
    """What the marks, the order, the protocols, the ``+x8`` names and the seconds column mean
    (with Markdown emphasis when ``markdown``)."""
    from zoo.ensemble import ENSEMBLE_SUFFIX  # here: the module imports torch

    bold, italic, code = ("**", "*", "`") if markdown else ("", "", "")
    text = (f"Best measured mean per column in {bold}bold{bold} (the best mean: over few images "
            "the next can be as good; docs/bench.md); ↑ higher is better, ↓ lower is better.")
    lead = lead_metric(summary, metrics)
    if lead is not None and len(metrics) > 1:
        text += (f" Rows are ranked by {METRIC_LABELS.get(lead, lead)} alone, not by an overall "
                 "score.")
    protocols = sorted({e["protocol"] for e in summary})
    if protocols:
        text += " Protocols: " + "; ".join(f"{code}{p}{code}: {PROTOCOL_TEXT.get(p, p)}"
                                           for p in protocols) + " (docs/bench.md)."
    if has_ensembles(summary):
        text += (f" {code}NAME{ENSEMBLE_SUFFIX}{code}: the model's geometric self-ensemble, its "
                 "outputs over the eight flips and rotations of the image averaged (docs/restore.md).")
    # A row's seconds add every metric it measured, in this run or an earlier one.
    text += (" s / image: seconds to restore one image and score it with every metric its row "
             "measured, on the machine of the runs that measured them, as busy as it was then: "
             "compare them within a table, not across pages.")
    if has_reported:
        text += (f" Rows marked {italic}reported{italic} are published numbers (not measured here), "
                 f"shown where the dataset, protocol and quality match; see {code}baselines/{code}.")
    return text


def md_text(text: str) -> str:
    """User text (a folder's name, a path) as Markdown that shows it as it is: the characters
    Markdown or a table would read (``<b>``, ``*``, ``|``) backslash-escaped."""
    return "".join("\\" + c if c in "\\`*_[]<>|#!" else c for c in str(text))


def md_code(text: str, *, in_table: bool = False) -> str:
    """User text as a Markdown code span that holds any backtick (and, ``in_table``, any ``|``,
    which would end the cell)."""
    text = str(text).replace("|", "\\|") if in_table else str(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(dataset: str, summary: list[dict[str, Any]], metrics: tuple[str, ...],
                    reported: list[ReportedRow], meta: dict[str, Any]) -> str:
    """The text of LEADERBOARD.md."""
    lines = [f"# Leaderboard: {md_text(dataset)}{title_detail(summary)}", ""]
    said = [f"Means over {image_count(summary)} images of {md_code(dataset)} "
            f"({md_text(meta.get('dataset_source', ''))}).",
            f"Degradation: {meta.get('encoder', '')}.", provenance(meta),
            command_text(meta, markdown=True)]
    lines += [" ".join(filter(None, said)),
              legend(summary, metrics, bool(reported), markdown=True), ""]
    for protocol, quality, entries in groups(summary):
        lines += [f"## `{protocol}` protocol, JPEG quality {quality}", ""]
        header = ["model", *(metric_header(m) for m in metrics), "s / image", "images"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        bests = {m: best_models(entries, m) for m in metrics}
        for e in ranked(entries, metrics):
            cells = [md_code(e["model"], in_table=True)]
            for m in metrics:
                text = cell_text(e, m)
                cells.append(f"**{text}**" if e["model"] in bests[m] else text)
            cells += [fmt_metric("seconds", e.get("seconds")), str(e["images"])]
            lines.append("| " + " | ".join(cells) + " |")
        if has_partial(entries, metrics):
            lines += ["", PARTIAL_NOTE]
        rep = reported_at(reported, protocol, quality)
        if rep:
            lines += ["", f"Reported (published, not measured here) on {rep[0].dataset}, `{protocol}`, q={quality}:", ""]
            why = incomparable(rep, entries)
            if why:
                lines += [f"**Not comparable:** {why}.", ""]
            rmetrics = [m for m in metrics if any(m in r.values for r in rep)]
            rheader = ["model", *(metric_header(m) for m in rmetrics), "source"]
            lines += ["| " + " | ".join(rheader) + " |", "|" + "---|" * len(rheader)]
            for r in rep:
                cells = [f"{r.model} *(reported)*", *(_reported_cell(r, m) for m in rmetrics),
                         f"[{r.source}]({r.source_url})" if r.source_url else r.source]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if meta.get("skipped_images"):
        lines += ["## Skipped images", ""] + [f"- {md_code(i)}: {md_text(why)}"
                                              for i, why in meta["skipped_images"]] + [""]
    if meta.get("failures"):
        lines += ["## Failures", ""] + [f"- {where}: {md_text(why)}" for where, why
                                        in grouped_failures(meta["failures"], md_code)] + [""]
    lines += ["Files: `results.csv` (per image), `summary.csv` (means), `leaderboard.html`, `meta.json`.", ""]
    return "\n".join(lines)


def _reported_cell(row: ReportedRow, metric: str) -> str:
    # Published numbers keep their printed precision: show them as given, not re-rounded.
    return row.printed.get(metric, "–")


def image_count(summary: list[dict[str, Any]]) -> int:
    """The most images any row of ``summary`` is a mean over."""
    return max((int(e["images"]) for e in summary), default=0)


def ranked(entries: list[dict[str, Any]], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of one table best first by its first metric that any row has (ties and rows
    without it by name, after the others): the order of LEADERBOARD.md and of leaderboard.html
    before a click sorts it."""
    lead = lead_metric(entries, metrics)
    return sorted(entries, key=lambda e: _sort_key(e, lead))


def lead_metric(entries: list[dict[str, Any]], metrics: tuple[str, ...]) -> str | None:
    """The first of ``metrics`` that any of ``entries`` has a value of: what they are ranked by."""
    return next((m for m in metrics if any(not math.isnan(e.get(m, math.nan)) for e in entries)),
                None)


def grouped_failures(failures: Iterable[Sequence[str]],
                     name: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """``(where, why)`` once per reason: a model or a metric that fails the same way on many
    images, or at every quality and protocol, is one line naming the first few places and how
    many times (``failures`` are ``(model, image, why)``, as :func:`failure_where` takes them)."""
    by_reason: dict[str, list[str]] = {}
    for model, image, why in failures:
        by_reason.setdefault(why, []).append(failure_where(model, image, name))
    return [(first_few(list(dict.fromkeys(wheres))) + (f" ({len(wheres)} times)" if len(wheres) > 1
                                                        else ""), why)
            for why, wheres in by_reason.items()]


def failure_where(model: str, image: str, name: Callable[[str], str] = str) -> str:
    """Where a failure happened: a model on an image, or ``"*"``, a model that did not load;
    ``name`` formats the names (Markdown code in LEADERBOARD.md)."""
    return f"{name(model)} (could not be loaded)" if image == "*" else f"{name(model)} on {name(image)}"


def _sort_key(entry: dict[str, Any], lead: str | None) -> tuple:
    # One metric for every row: ranking a row on another metric would mix scales.
    value = entry.get(lead, math.nan) if lead else math.nan
    if math.isnan(value):
        return (1, 0.0, entry["model"])
    return (0, value if lead in LOWER_IS_BETTER else -value, entry["model"])


def write_markdown(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a file)."""
    atomic_write(path, lambda fh: fh.write(text))
