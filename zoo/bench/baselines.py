"""Published reference results (``baselines/published.csv``), shown beside measured rows.

They are never written into results.csv or summary.csv; a leaderboard shows the rows whose
dataset (case-insensitive) and protocol match the benchmark's, marked not comparable where its
means cover another number of images than the published means (the ``images`` column).
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import DataError
from zoo.resources import resource_dir

REPORTED_METRICS = ("psnr", "ssim", "psnr_b")

@dataclass(frozen=True)
class ReportedRow:
    """One row of ``published.csv``: a model's published means at one dataset, protocol and quality."""

    dataset: str
    protocol: str
    quality: int
    model: str
    values: dict[str, float]
    source: str
    """A key of sources.toml."""
    source_title: str = ""
    source_url: str = ""
    printed: dict[str, str] = field(default_factory=dict)
    """The numbers as printed in the source ("0.760"), for display."""
    images: int | None = None
    """How many images the published mean covers (the ``images`` column), where known."""


def _baselines_dir(folder: Path | None) -> Path | None:
    if folder is not None:
        return folder
    try:
        return resource_dir("baselines")
    except FileNotFoundError:
        return None


def load_reported(folder: Path | None = None) -> list[ReportedRow]:
    """Every published row, with its source's title and URL."""
    folder = _baselines_dir(folder)
    if folder is None or not (folder / "published.csv").is_file():
        return []
    sources = {}
    if (folder / "sources.toml").is_file():
        sources = tomllib.loads((folder / "sources.toml").read_text(encoding="utf-8"))
    rows = []
    counts: dict[str, int | None] = {}  # per dataset (case-folded): one image count for all rows
    path = folder / "published.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        for line, rec in enumerate(csv.DictReader(fh), start=2):
            try:
                values = {m: float(rec[m]) for m in REPORTED_METRICS if rec.get(m)}
                src = sources.get(rec["source"], {})
                images = _image_count(rec.get("images"))
                rows.append(ReportedRow(rec["dataset"], rec["protocol"], int(rec["quality"]),
                                        rec["model"], values, rec["source"], src.get("title", ""),
                                        src.get("url", ""),
                                        {m: rec[m] for m in REPORTED_METRICS if rec.get(m)},
                                        images))
            except (KeyError, ValueError) as exc:
                raise DataError(f"{path}:{line}: bad published row ({exc})") from None
            known = counts.setdefault(rec["dataset"].casefold(), images)
            if known != images:
                raise DataError(f"{path}:{line}: images {images or '(empty)'} for "
                                f"{rec['dataset']}, an earlier row has {known or '(empty)'} (the "
                                "rows of one set give its one size)")
    return rows


def _image_count(cell: str | None) -> int | None:
    """The ``images`` cell: a positive count, or None when empty (not known)."""
    if not cell:
        return None
    count = int(cell)
    if count < 1:
        raise ValueError(f"images must be a positive count, got {cell}")
    return count


def reported_at(reported: list[ReportedRow], protocol: str, quality: int) -> list[ReportedRow]:
    """The rows of one leaderboard table: its protocol and quality."""
    return [r for r in reported if r.protocol == protocol and r.quality == quality]


def reported_for(dataset: str, protocols: set[str], qualities: set[int]) -> list[ReportedRow]:
    """The published rows matching a benchmark's dataset, protocols and qualities."""
    name = dataset.casefold()
    return [r for r in load_reported() if r.dataset.casefold() == name
            and r.protocol in protocols and r.quality in qualities]
