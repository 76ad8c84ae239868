"""Write a run's files: summary.csv, LEADERBOARD.md, leaderboard.html (+ plots, crops), meta.json."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoo.bench.baselines import reported_for
from zoo.bench.crops import make_crops
from zoo.bench.html import render_html
from zoo.bench.leaderboard import render_markdown, write_markdown
from zoo.bench.meta import build_meta, device_description, read_meta, runs_that_measured, write_meta
from zoo.bench.plots import plot_metrics
from zoo.atomic import atomic_write
from zoo.degrade import PROTOCOLS
from zoo.bench.results import summarize, write_summary
from zoo.bench.runner import (BenchOutcome, BenchPlan, current_rows, load_models, not_shown,
                              restore)


def write_report(plan: BenchPlan, outcome: BenchOutcome, *, crops: int = 3) -> dict[str, Any]:
    """Write every output file under ``plan.out_dir``; returns the meta dict."""
    out = plan.out_dir
    rows = current_rows(plan, outcome)
    summary = summarize(rows)
    write_summary(out / "summary.csv", summary)
    meta = build_meta(
        dataset=plan.dataset.name, dataset_source=plan.dataset.label or plan.dataset.source,
        images=len(plan.dataset),
        models=plan.models,
        weights={name: {"digest": outcome.digests.get(name), "source": getattr(model, "weights_source", None)}
                 for name, model in outcome.models.items()},
        qualities=list(plan.qualities), protocols=list(plan.protocols),
        metrics=list(plan.metrics), device=device_description(plan.device), tile=plan.tile,
        rows=len(rows), measured_now=outcome.measured, measured_now_metrics=outcome.measured_metrics,
        wall_seconds=round(outcome.wall_seconds, 3),
        skipped_images=outcome.skipped_images, failures=outcome.failures,
        ignored_files=plan.dataset.ignored, not_shown=not_shown(plan, outcome),
        **({"identical_images": same} if (same := identical_images(outcome.truths)) else {}))
    meta["measured_by"] = runs_that_measured(read_meta(out / "meta.json"), meta, outcome.measured)
    write_meta(out / "meta.json", meta)  # first: the run's record, whatever fails after it
    reported = reported_for(plan.dataset.name, set(plan.protocols), set(plan.qualities))
    write_markdown(out / "LEADERBOARD.md", render_markdown(plan.dataset.name, summary, plan.metrics,
                                                           reported, meta))
    # The page of an earlier run goes first: were a figure to fail (a full disk), it would stay
    # beside this run's LEADERBOARD.md as if it showed the same numbers.
    (out / "leaderboard.html").unlink(missing_ok=True)
    plots = plot_metrics(summary, plan.metrics, out / "plots") if summary else []
    shown = []
    models = outcome.models or (load_models(plan.models, plan.device, []) if crops else {})
    models = {n: m for n, m in models.items() if n != "jpeg"}  # the JPEG panel already shows it
    if crops:
        shown = make_crops(plan.dataset, models, min(plan.qualities), plan.protocols[0],
                           out / "crops", lambda m, img: restore(m, img, tile=plan.tile), count=crops)
    page = render_html(plan.dataset.name, summary, plan.metrics, reported, meta, plots, shown, out)
    atomic_write(out / "leaderboard.html", lambda fh: fh.write(page))
    _remove_unshown(out / "plots", plots, _PLOT_NAME)
    _remove_unshown(out / "crops", [path for s in shown for path in s["files"].values()],
                    _CROP_NAME)
    return meta


_PLOT_NAME = re.compile(rf"(?:{'|'.join(PROTOCOLS)})_[a-z0-9_]+\.png")
"""A plot's file name as zoo.bench.plots writes it: ``PROTOCOL_METRIC.png``."""
_CROP_NAME = re.compile(rf".+_(?:{'|'.join(PROTOCOLS)})_q[0-9]{{1,3}}_[\w-]+\.png")
"""A crop's file name as zoo.bench.crops writes it: ``IMAGE_PROTOCOL_qQ_PANEL.png``."""


def identical_images(truths: dict[str, str]) -> list[list[str]]:
    """The images of one dataset with the same pixels (a copy, a link, one saved in two
    formats), in groups by name: each is a row of its own, counted again in the means."""
    by_digest: dict[str, list[str]] = {}
    for image, digest in sorted(truths.items()):
        by_digest.setdefault(digest, []).append(image)
    return [images for images in by_digest.values() if len(images) > 1]


def _remove_unshown(folder: Path, shown: list[Path], written: re.Pattern[str]) -> None:
    """Delete the figures of ``folder`` (plots/, crops/) that the page no longer shows, so the
    folder holds only figures of the values in it (a plot of a metric no longer asked for
    stayed beside them); a PNG whose name zoo does not write (a user's own) is left alone."""
    keep = {path.name for path in shown}
    for path in folder.glob("*.png") if folder.is_dir() else ():
        if path.name not in keep and written.fullmatch(path.name):
            path.unlink(missing_ok=True)
