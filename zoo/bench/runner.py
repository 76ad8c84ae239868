"""The benchmark loop: ground truth -> protocol -> JPEG at q -> each model -> metrics -> rows.

Each image is degraded once per protocol and quality and the result is shared by every model;
models (and the metrics' networks) are loaded once. Rows are flushed after every image, and
rows already on disk are skipped, so a killed run resumes where it stopped. A row on disk is
measured again when other weights, another ground truth (an image changed, or another folder
of the same name) or another setup (``--tile``, the JPEG encoder) made it; metrics it lacks are
added to it.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
from torch import nn

from zoo.bench.distributed import DistContext
from zoo.bench.meta import build_meta, device_description, record_interrupted_run
from zoo.bench.results import Key, ResultsStore, Row, read_rows, write_rows
from zoo.datasets import Dataset
from zoo.degrade import jpeg_roundtrip, libjpeg_description, to_protocol
from zoo.atomic import folder_failure
from zoo.errors import ZooError, caller_stacklevel, counted, first_line, printable
from zoo.fp32 import exact_fp32
from zoo.locks import folder_lock, missing_folders
from zoo.metrics import METRICS, metric_of_token
from zoo.plain_progress import PlainProgress
from zoo.tiling import auto_tile_for, auto_tile_rule, tile_side
from zoo.weights import state_digest

RESULTS = "results.csv"
PART = "results.part{rank}.csv"


@dataclass
class BenchPlan:
    """What to measure and where the files go."""

    dataset: Dataset
    models: list[str]
    qualities: tuple[int, ...]
    protocols: tuple[str, ...]
    metrics: tuple[str, ...]
    out_dir: Path
    device: str | None = None
    tile: int | None = None
    """None: automatic tiling; 0: none."""

    @cached_property  # asked for every row on disk and every row measured
    def _encoding(self) -> str:
        return f"{libjpeg_description()}, 4:2:0"

    @cached_property
    def setup(self) -> str:
        """The rows' ``setup``: what besides weights and ground truth decides their values (the
        tiling in force, automatic tiling's rule being the device's, and the libjpeg encoding)."""
        tiles = (f"auto, {auto_tile_rule(self.device or 'cpu')}" if self.tile is None
                 else "never" if self.tile == 0 else f"{self.tile} px")
        return f"tiles {tiles}; {self._encoding}"

    def setup_for(self, model: object) -> str:
        """:attr:`setup` of one model's rows: an explicit ``--tile`` as the side its tiles
        really have (rounded to the model's grid), so ``--tile 1`` and ``--tile 16`` of a model
        with 16-px tiles are one setup; ``model`` None (not loaded): :attr:`setup`."""
        if not self.tile or model is None:
            return self.setup
        return f"tiles {tile_side(model, self.tile)} px; {self._encoding}"


@dataclass
class BenchOutcome:
    """What :func:`run_bench` did: the rows, what was skipped or failed, and what the report needs."""

    rows: list[Row]
    """Every row of ``results.csv`` after the run (measured now or before)."""
    measured: int = 0
    skipped_images: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    """(model, image or "*" for a model that did not load, reason)"""
    wall_seconds: float = 0.0
    models: dict[str, Any] = field(default_factory=dict)
    """The loaded models (rank 0), for the crops of the HTML page."""
    digests: dict[str, str] = field(default_factory=dict)
    """Per model, the digest of its weights (the ``weights`` column of the rows)."""
    truths: dict[str, str] = field(default_factory=dict)
    """Per image read, the digest of its pixels (the ``truth`` column of the rows)."""
    measured_metrics: dict[str, int] = field(default_factory=dict)
    """Per metric, how many rows this run measured it for (a resume may add one metric only)."""
    meta: dict[str, Any] | None = None
    """What ``run_bench``'s ``report`` returned (rank 0, when a model loaded and an image was
    read), else None."""


ImageCallback = Callable[[str], None]


def run_bench(plan: BenchPlan, *, progress: bool = True, after_image: ImageCallback | None = None,
              dist: DistContext | None = None,
              report: Callable[[BenchOutcome], dict[str, Any]] | None = None) -> BenchOutcome:
    """Measure every missing (model, image, quality, protocol) row of ``plan``.

    The main process holds ``--out``'s lock (:mod:`zoo.locks`) from before it reads results.csv
    until ``report`` (called there when a model loaded and an image could be read; its result
    is ``outcome.meta``) has written the last file, so two runs into one folder never lose each
    other's rows.
    """
    dist = dist or DistContext()
    start = time.perf_counter()
    outcome = BenchOutcome(rows=[])
    models = load_models(plan.models, plan.device, outcome.failures)
    if not models and not dist.enabled:  # nothing to measure: --out is not even created
        return outcome  # (under torchrun every rank goes on, to meet the others at the barriers)
    with dist.main_holds(lambda held: _lock_out(plan.out_dir, held)):
        try:
            _measure_all(plan, models, outcome, dist, progress, after_image)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: the rows kept are this run's, say so
            if dist.main and outcome.measured:
                record_interrupted_run(plan.out_dir / "meta.json", build_meta(
                    dataset=plan.dataset.name, device=device_description(plan.device), tile=plan.tile,
                    measured_now=outcome.measured, interrupted=True))
            if dist.main and (outcome.measured or dist.enabled):
                warnings.warn(_rows_kept(plan, outcome, dist), stacklevel=caller_stacklevel())
            raise
        outcome.wall_seconds = time.perf_counter() - start
        # Every image skipped: no report, whose means over no image would say nothing true.
        if report is not None and dist.main and models and outcome.truths:
            outcome.meta = report(outcome)
    return outcome


def _rows_kept(plan: BenchPlan, outcome: BenchOutcome, dist: DistContext) -> str:
    """What a stopped run says of the rows it kept. Under torchrun rank 0 says it, with no word
    from the other ranks (they may be gone): its own rows are in its part file (unless the parts
    were merged already), the others' in theirs, all merged into results.csv by the next run."""
    name, count = plan.dataset.name, outcome.measured
    rows = "the row" if count == 1 else f"the {count} rows"
    kept = "is kept" if count == 1 else "are kept"
    part = plan.out_dir / PART.format(rank=dist.rank)
    if not dist.enabled or (count and not part.exists()):
        return (f"{name}: stopped; {rows} this run measured {kept} in {plan.out_dir / RESULTS}, "
                "and the same command measures only the rest")
    own = f"{rows} rank {dist.rank} measured {kept} in {part}" if count else \
        f"rank {dist.rank} had measured no row"
    return (f"{name}: stopped; {own}, the other ranks' rows in their own part files; the same "
            "command merges them into results.csv and measures only the rest")


def _lock_out(out: Path, held: ExitStack) -> None:
    """Create ``out`` and take its lock into ``held`` (the main process alone: under torchrun
    another rank creating the folder first would hide that this run made it)."""
    made = missing_folders(out)  # removed again if every image is skipped
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"--out {out}: {folder_failure(out, exc)}") from None
    held.enter_context(folder_lock(out, made=made))


def _measure_all(plan: BenchPlan, models: dict[str, Any], outcome: BenchOutcome,
                 dist: DistContext, progress: bool, after_image: ImageCallback | None) -> None:
    """Measure this rank's share of the images; afterwards ``outcome`` covers every rank."""
    out = plan.out_dir
    results_path = out / RESULTS
    if dist.main:
        _merge_parts(out)  # left over from a killed torchrun: fold them in before resuming
    dist.barrier()  # no rank reads or writes a part before the leftovers are merged
    found = _rows_on_disk(out, warn=dist.main)
    store = (ResultsStore(out / PART.format(rank=dist.rank)) if dist.enabled
             else ResultsStore(results_path, found))
    digests = {name: state_digest(model) if isinstance(model, nn.Module) else "-"
               for name, model in models.items()}
    # Rows made by the weights loaded now; whether their ground truth is this run's is known
    # only once each image is read.
    earlier = {r.key: r for r in found if r.weights == digests.get(r.model, r.weights)
               and _same_setup(r, plan.setup_for(models.get(r.model)))}

    items = dist.shard(plan.dataset.items)
    total = sum(len(_pending(plan, image_id, earlier)) for image_id, _ in items)
    if total:
        _warm_up(plan, models)
    with _RowProgress(progress and dist.main, total, plan.dataset.name) as rows_done:
        for image_id, loader in items:
            rows = _measure_image(plan, image_id, loader, models, digests, earlier, outcome,
                                  rows_done)
            if rows:
                store.add(rows)
                outcome.measured += len(rows)
            if after_image is not None:
                after_image(image_id)
    outcome.models, outcome.digests = models, digests
    if dist.enabled:
        _gather_outcomes(outcome, dist, out)
    order = {image_id: i for i, (image_id, _) in enumerate(plan.dataset.items)}
    outcome.skipped_images.sort(key=lambda s: order.get(s[0], math.inf))
    outcome.rows = read_rows(results_path, warn=False)  # damaged rows were named above


def _gather_outcomes(outcome: BenchOutcome, dist: DistContext, out: Path) -> None:
    """Every rank's counts, skips and failures into ``outcome``; rank 0 merges the parts."""
    gathered = dist.gather((outcome.measured, outcome.skipped_images, outcome.failures,
                            outcome.truths, outcome.measured_metrics))
    outcome.measured = sum(g[0] for g in gathered)
    outcome.skipped_images = [s for g in gathered for s in g[1]]
    outcome.failures = list(dict.fromkeys(f for g in gathered for f in g[2]))
    outcome.truths = {image: t for g in gathered for image, t in g[3].items()}
    outcome.measured_metrics = {m: sum(g[4].get(m, 0) for g in gathered)
                                for m in dict.fromkeys(m for g in gathered for m in g[4])}
    dist.barrier()
    if dist.main:
        _merge_parts(out, warn=False)
    dist.barrier()


def current_rows(plan: BenchPlan, outcome: BenchOutcome) -> list[Row]:
    """The rows a leaderboard of ``plan`` shows: its models (those that loaded), qualities and
    protocols, on the images the dataset holds now and that could be read. Other rows stay in
    results.csv (a later run may want them) but are never averaged in."""
    unloaded = {model for model, image, _ in outcome.failures if image == "*"}
    models = set(plan.models) - unloaded
    return [_without_stale_values(r) for r in outcome.rows
            if r.dataset == plan.dataset.name and r.model in models
            and r.image in outcome.truths and _same_truth(r, outcome.truths[r.image])
            and r.weights == outcome.digests.get(r.model, r.weights)
            and _same_setup(r, plan.setup_for(outcome.models.get(r.model)))
            and r.quality in plan.qualities and r.protocol in plan.protocols]


def not_shown(plan: BenchPlan, outcome: BenchOutcome) -> dict[str, Any]:
    """The rows of results.csv that lie outside the run's selection (other datasets, models,
    qualities or protocols): kept, not shown, and named so that a leaderboard narrowed by a
    shorter command line (or written over another dataset's in one --out) says so."""
    outside = [r for r in outcome.rows if r.dataset != plan.dataset.name
               or r.model not in plan.models or r.quality not in plan.qualities
               or r.protocol not in plan.protocols]
    return {"rows": len(outside),
            "datasets": sorted({r.dataset for r in outside} - {plan.dataset.name}),
            "models": sorted({r.model for r in outside} - set(plan.models)),
            "qualities": sorted({r.quality for r in outside} - set(plan.qualities)),
            "protocols": sorted({r.protocol for r in outside} - set(plan.protocols))}


def _token(metric: str) -> str:
    return METRICS[metric].token


def _without_stale_values(row: Row) -> Row:
    """The row without values of an older definition of their metric (shown as not measured)."""
    stale = {m for m in row.values if m in METRICS and METRICS[m].token not in row.measured}
    if not stale:
        return row
    return replace(row, values={m: v for m, v in row.values.items() if m not in stale})


def _same_truth(row: Row, truth: str) -> bool:
    """Whether ``row`` was scored against this ground truth (rows of files written before the
    ``truth`` column existed are taken to be: their weights still had to match)."""
    return row.truth in ("", truth)


def _same_setup(row: Row, setup: str) -> bool:
    """Whether ``row`` was made with this setup (rows of files written before the ``setup``
    column existed are taken to be, as for ``truth``)."""
    return row.setup in ("", setup)


def _pending(plan: BenchPlan, image_id: str, earlier: dict[Key, Row],
             truth: str | None = None) -> dict[Key, tuple[str, ...]]:
    """The rows of one image still to measure, each with the metrics it needs.

    ``truth`` is the image's digest once it has been read; before, rows are taken to be of it.
    """
    pending = {}
    for protocol in plan.protocols:
        for quality in plan.qualities:
            for model in plan.models:
                key = (plan.dataset.name, model, image_id, int(quality), protocol)
                row = earlier.get(key)
                if row is None or (truth is not None and not _same_truth(row, truth)):
                    needed = plan.metrics
                else:
                    needed = tuple(m for m in plan.metrics if _token(m) not in row.measured)
                if needed:
                    pending[key] = needed
    return pending


def truth_digest(image: np.ndarray) -> str:
    """A short digest of a ground-truth image's pixels and shape (the rows' ``truth``)."""
    h = hashlib.blake2b(str(image.shape).encode(), digest_size=8)
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def load_models(names: list[str], device: str | None,
                failures: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Load each model once; one that fails is reported in ``failures`` and left out."""
    import zoo

    models = {}
    for name in names:
        try:
            models[name] = zoo.load(name, device=device)
        except (ZooError, KeyError, OSError, RuntimeError, ValueError) as exc:
            failures.append((name, "*", _one_line(exc)))
    return models


def _measure_image(plan: BenchPlan, image_id: str, loader: Callable[[], np.ndarray],
                   models: dict[str, Any], digests: dict[str, str], earlier: dict[Key, Row],
                   outcome: BenchOutcome, rows_done: _RowProgress) -> list[Row]:
    """The rows of one image that are missing, out of date, or lack a metric asked for."""
    expected = _pending(plan, image_id, earlier)
    try:
        original = loader()
    except (ZooError, OSError, ValueError) as exc:
        outcome.skipped_images.append((image_id, _one_line(exc)))
        rows_done.advance(len(expected))
        return []
    truth_id = outcome.truths[image_id] = truth_digest(original)
    pending = _pending(plan, image_id, earlier, truth_id)
    if len(pending) > len(expected):  # rows of another image under this name: measured anew
        rows_done.grow(len(pending) - len(expected))
    rows = []
    for protocol in plan.protocols:
        truth = to_protocol(original, protocol)
        _prepare_reference(truth, {m for key, metrics in pending.items() if key[4] == protocol
                                   for m in metrics}, plan.device)
        for quality in plan.qualities:
            wanted = [(key, metrics) for key, metrics in pending.items()
                      if key[3] == int(quality) and key[4] == protocol]  # in plan.models order
            if not wanted:
                continue
            degraded = jpeg_roundtrip(truth, quality)  # once, shared by every model
            for key, metrics in wanted:
                rows_done.advance()
                name = key[1]
                if name not in models:
                    continue  # failed to load: already reported
                t0 = time.perf_counter()
                try:
                    restored = restore(models[name], degraded, tile=plan.tile)
                except Exception as exc:  # noqa: BLE001  (a model failing on one image must not stop the run)
                    outcome.failures.append((name, image_id, _one_line(exc)))
                    continue
                t1 = time.perf_counter()
                values = _score(restored, truth, metrics, plan.device, name, image_id, outcome)
                for metric in values:
                    outcome.measured_metrics[metric] = outcome.measured_metrics.get(metric, 0) + 1
                measured, seconds = tuple(_token(m) for m in values), time.perf_counter() - t0
                before = earlier.get(key)
                if before is not None and _same_truth(before, truth_id):  # add to the row on disk
                    kept = tuple(t for t in before.measured if metric_of_token(t) not in values)
                    values = {**before.values, **values}
                    measured = (*kept, *measured)
                    # The row's restore and its earlier metrics, plus the metrics added now.
                    seconds = before.seconds + time.perf_counter() - t1
                rows.append(Row(plan.dataset.name, name, image_id, int(quality), protocol,
                                values, seconds, weights=digests[name], truth=truth_id,
                                setup=plan.setup_for(models[name]), measured=measured))
    return rows


WARM_UP_SIDE = 192
"""The side of the image each metric and model runs on once before anything is timed: large
enough for every metric to be defined (MS-SSIM needs 161 px, NIQE two 96-px blocks)."""


def _warm_up(plan: BenchPlan, models: dict[str, Any]) -> None:
    """Run each metric and model once, untimed, so that the first row timed does not also pay
    for loading LPIPS's network or NIQE's and BRISQUE's parameters (it made the first model's
    first row, ``jpeg`` at the lowest quality, several times slower than the rest)."""
    image = np.random.default_rng(0).integers(0, 256, (WARM_UP_SIDE, WARM_UP_SIDE, 3), dtype=np.uint8)
    for protocol in plan.protocols:
        truth = to_protocol(image, protocol)
        for metric in plan.metrics:
            _untimed(METRICS[metric], truth, truth, device=plan.device)
        for model in models.values():
            _untimed(restore, model, truth, tile=plan.tile)


def _prepare_reference(truth: np.ndarray, metrics: set[str], device: str | None) -> None:
    """What the metrics derive from the ground truth alone, untimed: it is computed once per
    image and kept, so the first row timed (``jpeg``'s, at the lowest quality) paid for all."""
    for metric in sorted(metrics):
        prepare = METRICS[metric].prepare
        if prepare is not None:
            _untimed(prepare, truth, device=device)


def _untimed(call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """``call`` run ahead of the timed work, as the timed work runs it (exact fp32); a failure
    is left to the timed call, which reports it."""
    try:
        with exact_fp32():
            call(*args, **kwargs)
    except Exception:  # noqa: BLE001
        pass


def _score(restored: np.ndarray, truth: np.ndarray, metrics: tuple[str, ...], device: str | None,
           model: str, image_id: str, outcome: BenchOutcome) -> dict[str, float]:
    """Each metric on its own: one that fails is reported and left out (measured next time)."""
    values = {}
    for metric in metrics:
        try:
            with exact_fp32():  # LPIPS's network in TF32 on a GPU would not score as on a CPU
                values[metric] = float(METRICS[metric](restored, truth, device=device))
        except Exception as exc:  # noqa: BLE001
            outcome.failures.append((model, image_id, f"{metric}: {_one_line(exc)}"))
    return values


def restore(model: Any, image: np.ndarray, *, tile: int | None = None) -> np.ndarray:
    """A model's output for a uint8 image, same shape (grey images go through as luma)."""
    from zoo.restore import resolve_device, restore_image

    if tile is None:  # the rule resolved here, so that no row comes from an out-of-memory retry
        tile = auto_tile_for(model, image.shape[0], image.shape[1], resolve_device(None, model)) or 0
    restored = np.asarray(restore_image(model, image, tile=tile))
    if restored.shape != image.shape or restored.dtype != np.uint8:
        raise ValueError(f"restore_image returned {restored.dtype} {restored.shape} for "
                         f"uint8 {image.shape}")
    return restored


def _rows_on_disk(out: Path, *, warn: bool) -> list[Row]:
    """The rows of results.csv, then those of every rank's part file."""
    parts = sorted(out.glob(PART.format(rank="*")))
    return [r for src in (out / RESULTS, *parts) for r in read_rows(src, warn=warn)]


def _merge_parts(out: Path, *, warn: bool = True) -> None:
    """Fold every rank's part file into results.csv (atomically), then remove the parts. With
    none (every image skipped), results.csv is left as it is, or absent, as in one process."""
    parts = sorted(out.glob(PART.format(rank="*")))
    if not parts:
        return
    write_rows(out / RESULTS, _rows_on_disk(out, warn=warn))
    for p in parts:
        p.unlink()


def _one_line(exc: BaseException) -> str:
    """The first line of an error, for the skips and failures a bench lists: zoo's own errors say
    the file and the problem themselves; any other is ``Type: first line``, its type telling
    what went wrong."""
    if isinstance(exc, ZooError) and str(exc).strip():
        return first_line(exc)
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__


class _RowProgress:
    """The rows counted as they are measured: a rich bar with ETA in a terminal, plain lines
    (``PLAIN_SECONDS`` apart) in a log or a pipe, where the bar was drawn once at the end and a
    long run looked hung; nothing when disabled (other ranks, tests, ``--no-progress``)."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        from zoo import terminal

        console = terminal.console(stderr=True, soft_wrap=True)
        self.bar = Progress(terminal.description_column(style="bold"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=console,
                            disable=not (enabled and console.is_interactive))
        self.total = total
        self.task = self.bar.add_task(f"bench {printable(label)}", total=total)
        # Lines where no bar is drawn: a file, a pipe, a dumb terminal (TERM=dumb).
        self.lines = (PlainProgress(console, unit="row") if enabled and not console.is_interactive
                      else None)
        if self.lines is not None:
            self.lines.start(f"bench {printable(label)}:", total)
            # A log says what it is doing at once, not after the first PLAIN_SECONDS.
            console.print(f"bench {printable(label)}: {counted(total, 'row')} to measure",
                          markup=False, highlight=False)

    def advance(self, count: int = 1) -> None:
        self.bar.advance(self.task, count)
        if self.lines is not None and count:
            self.lines.advance(count)

    def grow(self, extra: int) -> None:
        """``extra`` more rows than counted at the start (another image under a known name)."""
        self.total += extra
        self.bar.update(self.task, total=self.total)
        if self.lines is not None:
            self.lines.grow(extra)

    def __enter__(self) -> _RowProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)
