"""Results files: ``results.csv`` (one row per model, image, quality, protocol) and ``summary.csv``.

Rows are written with full float precision (``repr``), sorted by their key, and the file is
replaced atomically after every image, so a killed run loses at most the image in flight and
a resumed run skips exactly the rows already there. Each row names the weights that made it
(a digest of the model's tensors), so rows of changed weights are measured again.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from zoo.atomic import atomic_write
from zoo.bench.suites import ALL_METRICS

KEY_COLUMNS: tuple[str, ...] = ("dataset", "model", "image", "quality", "protocol")
COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "weights", *ALL_METRICS, "seconds")
SUMMARY_COLUMNS: tuple[str, ...] = ("dataset", "model", "quality", "protocol", "images",
                                    *ALL_METRICS, "seconds")

Key = tuple[str, str, str, int, str]


@dataclass
class Row:
    """One measured result; metrics that were not asked for are NaN (empty in the CSV)."""

    dataset: str
    model: str
    image: str
    quality: int
    protocol: str
    values: dict[str, float]
    seconds: float
    weights: str = ""
    """Digest of the weights that produced the row (:func:`zoo.weights.state_digest`)."""

    @property
    def key(self) -> Key:
        return (self.dataset, self.model, self.image, int(self.quality), self.protocol)

    def to_record(self) -> dict[str, str]:
        record = {"dataset": self.dataset, "model": self.model, "image": self.image,
                  "quality": str(int(self.quality)), "protocol": self.protocol,
                  "weights": self.weights}
        for name in ALL_METRICS:
            record[name] = _fmt(self.values.get(name, math.nan))
        record["seconds"] = _fmt(self.seconds)
        return record

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Row:
        values = {m: float(record[m]) for m in ALL_METRICS if record.get(m) not in (None, "")}
        return cls(record["dataset"], record["model"], record["image"], int(record["quality"]),
                   record["protocol"], values, float(record.get("seconds") or "nan"),
                   record.get("weights") or "")


def _fmt(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def read_rows(path: Path) -> list[Row]:
    """The rows of a results file; a missing file has none."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [Row.from_record(r) for r in csv.DictReader(fh)]


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    """Write rows sorted by key, atomically (temp file in the same folder, then ``os.replace``)."""
    ordered = sorted({row.key: row for row in rows}.values(), key=lambda r: r.key)
    atomic_write(path, lambda fh: _write_csv(fh, COLUMNS, (r.to_record() for r in ordered)))


def _write_csv(fh, columns: tuple[str, ...], records: Iterable[dict[str, str]]) -> None:  # noqa: ANN001
    writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)


class ResultsStore:
    """The rows of one run: those found on disk plus those measured now, flushed per image."""

    def __init__(self, path: Path, *, extra_sources: Iterable[Path] = ()) -> None:
        self.path = path
        self._rows: dict[Key, Row] = {}
        for source in (path, *extra_sources):
            for row in read_rows(source):
                self._rows[row.key] = row

    def __contains__(self, key: Key) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[Row]:
        return sorted(self._rows.values(), key=lambda r: r.key)

    def add(self, rows: Iterable[Row]) -> None:
        """Add rows and write the file at once (the per-image flush)."""
        for row in rows:
            self._rows[row.key] = row
        write_rows(self.path, self._rows.values())


def summarize(rows: Iterable[Row]) -> list[dict[str, object]]:
    """Means per dataset, model, quality and protocol (NaNs ignored), with the image count."""
    groups: dict[tuple[str, str, int, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.dataset, row.model, row.quality, row.protocol), []).append(row)
    summary = []
    for (dataset, model, quality, protocol), members in sorted(groups.items()):
        entry: dict[str, object] = {"dataset": dataset, "model": model, "quality": quality,
                                    "protocol": protocol, "images": len(members)}
        for name in (*ALL_METRICS, "seconds"):
            vals = [r.seconds if name == "seconds" else r.values.get(name, math.nan) for r in members]
            vals = [v for v in vals if not math.isnan(v)]
            entry[name] = math.fsum(vals) / len(vals) if vals else math.nan
        summary.append(entry)
    return summary


def write_summary(path: Path, summary: list[dict[str, object]]) -> None:
    records = ({k: (_fmt(v) if isinstance(v, float) else str(v)) for k, v in e.items()} for e in summary)
    atomic_write(path, lambda fh: _write_csv(fh, SUMMARY_COLUMNS, records))
