"""``zoo bench`` as a function: pick models and datasets, run, write the report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from zoo.bench.distributed import DistContext
from zoo.bench.report import write_report
from zoo.bench.runner import BenchOutcome, BenchPlan, ImageCallback, run_bench
from zoo.bench.suites import Suite, load_suite, validate_metrics, validate_qualities
from zoo.datasets import Dataset, div2k_problem, resolve_dataset
from zoo.distributed import launch_env, local_cuda_device
from zoo.div2k import div2k_dir, div2k_found, div2k_names, div2k_present
from zoo.ensemble import ENSEMBLE_SUFFIX, split_ensemble
from zoo.errors import DataError, ZooError
from zoo.imaging import max_pixels
from zoo.hub import WEIGHTS_FILE
from zoo.loading import HUB_PREFIX, is_saved_model, usable_device
from zoo.registry import list_models, names_registry_entry


class ModelSelectionError(ZooError):
    """``--models`` matched nothing."""


def default_models() -> list[str]:
    """Every registry entry with weights, plus ``jpeg`` (the floor) first."""
    return ["jpeg", *(m for m in list_models(with_weights=True) if m != "jpeg")]


def select_models(patterns: Sequence[str] | None, where: str = "--models") -> list[str]:
    """Entries matching shell patterns among those with weights (plus jpeg); an exact name
    always matches, so that asking for a weightless entry reports why it cannot load.
    A saved model (a ``zoo train`` export folder, ``hf-hub:ORG/NAME``) is taken as it is.
    ``PATTERN+x8`` selects the same models as their self-ensembles (``unet-l1+x8``).
    ``where`` names the patterns' source in errors (a suite file's ``models``)."""
    if not patterns:
        return default_models()
    chosen: list[str] = []
    for pattern in patterns:
        base, ensemble = split_ensemble(pattern)
        hits = _select_one(base, shown=f"{where} {pattern}")
        if ensemble:
            # A pattern's ensembles leave out jpeg: eight identity passes are jpeg itself.
            glob = any(c in base for c in "*?[")
            hits = [m + ENSEMBLE_SUFFIX for m in hits if not (glob and m == "jpeg")]
        chosen += [m for m in hits if m not in chosen]
    return chosen


def _select_one(pattern: str, shown: str) -> list[str]:
    """The models ``pattern`` names; errors name ``shown``, the pattern as the user gave it."""
    if is_saved_model(pattern):
        return [_saved_model_name(pattern)]
    pool = default_models()
    exact = list_models(pattern) if not any(c in pattern for c in "*?[") else []
    hits = exact or [m for m in pool if m in list_models(pattern)]
    if not hits and Path(pattern).exists():
        raise ModelSelectionError(f"{shown}: not a saved model (a folder with "
                                  "config.json and model.safetensors, as `zoo train` exports, or "
                                  "a run's OUT/best/step-N.safetensors beside its recipe.json)")
    if not hits:
        raise ModelSelectionError(f"{shown}: no registry entry with weights matches "
                                  f"(available: {', '.join(pool)}; see `zoo list`)")
    return hits


def _saved_model_name(spec: str) -> str:
    """One name per saved model, so that its rows are measured once: ``runs/x/export``,
    ``runs/x/export/`` and ``runs/x/export/model.safetensors`` are ``runs/x/export``; a folder
    named as a registry entry keeps its ``./``, which tells it from the entry."""
    if spec.startswith(HUB_PREFIX):
        return spec
    path = Path(spec)
    if path.name == WEIGHTS_FILE:  # a saved model's own weights: the folder's model
        path = path.parent
    name = path.as_posix()
    return f"./{name}" if names_registry_entry(name) else name


def dataset_for(spec: str | None) -> Dataset:
    """``auto``/None: DIV2K when present, else the sample suite; otherwise as resolve_dataset."""
    return resolve_dataset(None if spec in (None, "auto") else spec)


def default_out_dir(dataset: Dataset) -> Path:
    """``runs/bench/<dataset>`` in the current folder (never inside the installed package), as
    ``zoo train`` writes ``runs/<name>``: a leaderboard kept in ``leaderboard/`` (the repository's
    reference runs) is written only when ``--out`` names it."""
    return Path("runs") / "bench" / dataset.name


@dataclass
class BenchRun:
    """One dataset's run: what was asked, what was measured, and its report's meta dict (None
    where no report was written: on ranks other than 0, with no model loaded or no image read,
    or after ``error``)."""

    plan: BenchPlan
    outcome: BenchOutcome
    meta: dict | None
    error: str = ""
    """Why this dataset's run stopped (one of several datasets; the others went on)."""


def bench(*, suite: str | Suite | None = None, data: str | os.PathLike[str] | Sequence[str] | None = None,
          models: str | Sequence[str] | None = None, qualities: int | Sequence[int] | None = None,
          protocols: str | Sequence[str] | None = None, metrics: str | Sequence[str] | None = None,
          out: str | os.PathLike[str] | None = None, device: str | None = None,
          tile: int | None = None, progress: bool = True, crops: int = 3,
          after_image: ImageCallback | None = None, dist: DistContext | None = None) -> list[BenchRun]:
    """Run a suite (default ``benchmarks/default.toml``); arguments override its fields.

    ``data``, ``models``, ``qualities``, ``protocols`` and ``metrics`` each take a list, or one
    value for a list of one (``models="unet-l1"``, ``qualities=10``). One run per dataset; with
    several datasets, ``out`` gets a sub-folder per dataset, and one that cannot be benchmarked
    (a damaged results.csv, say) is a run whose ``error`` says why while the others go on (in
    one process; under torchrun every rank stops).
    """
    data, models, qualities, protocols, metrics = map(_listed, (data, models, qualities,
                                                                protocols, metrics))
    def settings() -> tuple[list[str], Sequence[int], tuple[str, ...], Sequence[str], str,
                            list[Dataset]]:
        chosen = suite if isinstance(suite, Suite) else load_suite(suite or "default")
        names = (select_models(models) if models else
                 select_models(list(chosen.models) or None, f"{chosen.path or chosen.name}: models"))
        if tile is not None and tile < 0:
            raise ZooError(f"--tile must be 0 (never tile) or a positive size, got {tile}")
        if crops < 0:
            raise ZooError(f"--crops must be 0 (none) or a positive number of images, got {crops}")
        max_pixels()  # a bad ZOO_MAX_IMAGE_PIXELS: one error now, not a skip per image
        # Checked now (one line, rather than a failure per image) and named: models, LPIPS and
        # meta.json all follow this one device (default: CUDA when available).
        return (names, validate_qualities(list(qualities)) if qualities else chosen.qualities,
                tuple(dict.fromkeys(protocols or chosen.protocols)),
                validate_metrics(list(metrics)) if metrics else chosen.metrics,
                str(usable_device(device)),
                _distinct(map(dataset_for, data) if data else _suite_datasets(chosen)))

    dist = dist or DistContext.from_env()
    runs = []
    try:
        # Every rank checks alike, before any measures its share: an error all of them meet is
        # said once, by rank 0, and one rank's own (a folder it cannot read) is named by rank.
        names, qualities, protocols, metrics, device, datasets = dist.together(settings)
        device = rank_device(device, dist)
        for dataset in datasets:
            target = Path(out) if out else default_out_dir(dataset)
            if out and len(datasets) > 1:
                target = target / dataset.name
            plan = BenchPlan(dataset=dataset, models=names, qualities=qualities,
                             protocols=protocols, metrics=metrics, out_dir=target, device=device,
                             tile=tile)
            try:
                # With no model loaded or no image read there is no report: an earlier
                # leaderboard stays as it is.
                outcome = run_bench(plan, progress=progress, after_image=after_image, dist=dist,
                                    report=lambda o: write_report(plan, o, crops=crops))
            except ZooError as exc:
                # One dataset's bad folder (a damaged results.csv, say) does not stop the
                # others; under torchrun every rank stops alike, as the ranks must.
                if len(datasets) == 1 or dist.enabled:
                    raise
                runs.append(BenchRun(plan, BenchOutcome(rows=[]), None, error=str(exc)))
                continue
            runs.append(BenchRun(plan, outcome, outcome.meta))
    finally:
        dist.close()
    return runs


def _listed(value: object) -> list | None:
    """A list of the values given, one value being a list of one: a bare string is one name
    or folder, not its letters (None, the suite's own, stays None)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike, int)):
        return [os.fspath(value) if isinstance(value, os.PathLike) else value]
    return [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]


def _suite_datasets(suite: Suite) -> Iterable[Dataset]:
    """The suite's datasets; one that cannot be had names the suite file it comes from."""
    for spec in suite.datasets:
        try:
            yield dataset_for(spec)
        except DataError as exc:
            raise DataError(f"{suite.path or suite.name}: datasets: {exc}") from None


def _distinct(datasets: Iterable[Dataset]) -> list[Dataset]:
    """The datasets, once each; two of one name from different places are refused (their
    results would share a folder)."""
    chosen: dict[str, Dataset] = {}
    for dataset in datasets:
        if dataset.name in chosen and chosen[dataset.name].source == dataset.source:
            continue
        if dataset.name in chosen:
            raise ZooError(f"two datasets are named {dataset.name!r} ({chosen[dataset.name].source} "
                           f"and {dataset.source}); their results would share a folder: "
                           "bench them one at a time with different --out")
        chosen[dataset.name] = dataset
    return list(chosen.values())


def rank_device(device: str, dist: DistContext) -> str:
    """Under torchrun, a bare ``cuda`` means this rank's GPU (``cuda:$LOCAL_RANK``)."""
    if dist.enabled and device == "cuda":
        return local_cuda_device(launch_env().local_rank, "--device cuda:0")
    return device


def dataset_notice(spec: str | None) -> str:
    """What ``zoo bench`` says about the data it picked without --data."""
    if spec not in (None, "auto"):
        return ""
    if div2k_present():
        return "using DIV2K validation (0801-0900) from the data cache"
    problem = div2k_problem()
    if problem:
        return (f"DIV2K in the data cache ({div2k_dir()}) {problem}: using the built-in sample "
                "suite (scikit-image photographs)")
    found = div2k_found()
    if found:
        return (f"DIV2K in the data cache is incomplete ({found} of {len(div2k_names())} images; "
                "`zoo data fetch div2k --force`): using the built-in sample suite (scikit-image "
                "photographs)")
    return ("DIV2K is not in the data cache (`zoo data fetch div2k`): using the built-in sample "
            "suite (scikit-image photographs)")
