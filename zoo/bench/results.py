"""Results files: ``results.csv`` (one row per model, image, quality, protocol) and ``summary.csv``.

Rows are written with full float precision (``repr``), sorted by their key, and the file is
replaced atomically after every image, so a killed run loses at most the image in flight and
a resumed run skips exactly the rows already there. Each row names the weights that made it
(a digest of the model's tensors), the ground truth it was scored against (a digest of its
pixels), its setup (tiling and JPEG encoder) and the metrics measured, so rows of changed
weights, images or setup are measured again and metrics asked for later are added.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from zoo.atomic import atomic_write
from zoo.bench.suites import ALL_METRICS
from zoo.errors import ZooError, caller_stacklevel
from zoo.metrics import METRICS
from zoo.metrics import metric_of_token

KEY_COLUMNS: tuple[str, ...] = ("dataset", "model", "image", "quality", "protocol")
COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "weights", "truth", "setup", "measured", *ALL_METRICS,
                             "seconds")
SUMMARY_COLUMNS: tuple[str, ...] = ("dataset", "model", "quality", "protocol", "images",
                                    *ALL_METRICS, "seconds", "partial")
"""``partial``: the metrics whose mean covers fewer than ``images`` images, as ``niqe:3 ...``."""

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
    truth: str = ""
    """Digest of the ground-truth image it was scored against (``""``: unknown, older files)."""
    setup: str = ""
    """How the inputs were made and restored: tiling and JPEG encoder (``""``: older files)."""
    measured: tuple[str, ...] = ()
    """The metrics computed for the row, NaN results included."""

    @property
    def key(self) -> Key:
        """(dataset, model, image, quality, protocol): one row per key in a results file."""
        return (self.dataset, self.model, self.image, int(self.quality), self.protocol)

    def to_record(self) -> dict[str, str]:
        """The row as results.csv cells: floats at full precision, "nan" for a metric measured
        but undefined, empty for one not measured."""
        record = {"dataset": self.dataset, "model": self.model, "image": self.image,
                  "quality": str(int(self.quality)), "protocol": self.protocol,
                  "weights": self.weights, "truth": self.truth, "setup": self.setup,
                  "measured": " ".join(self.measured)}
        for name in ALL_METRICS:  # undefined here (NaN) is "nan"; not measured, empty
            value = self.values.get(name)
            record[name] = "nan" if value is not None and math.isnan(value) else _fmt(value)
        record["seconds"] = _fmt(self.seconds)
        return record

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Row:
        """The row of a results.csv record (:meth:`to_record`'s cells); a metric said measured
        whose cell is empty is left out of ``measured``, to be measured again."""
        values = {m: float(record[m]) for m in ALL_METRICS if record.get(m) not in (None, "")}
        measured = record.get("measured")  # absent in older files: the metrics with a value
        # A metric said measured whose cell is empty (a value erased by hand; older files wrote
        # an undefined value so too) is measured again rather than shown as missing for good.
        tokens = tuple(t for t in measured.split() if metric_of_token(t) in values) \
            if measured is not None else tuple(values)
        return cls(record["dataset"], record["model"], record["image"], int(record["quality"]),
                   record["protocol"], values, float(record.get("seconds") or "nan"),
                   record.get("weights") or "", record.get("truth") or "",
                   record.get("setup") or "", tokens)


def _fmt(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def read_rows(path: Path, *, warn: bool = True) -> list[Row]:
    """The rows of a results file; a missing file has none, a damaged one is a ZooError.

    A row with fields missing or extra (a file cut short, a bad edit) is dropped, to be measured
    again; with ``warn``, a warning says how many, and names columns that are not zoo's (the
    file is rewritten without them).
    """
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])  # read while the file is open (empty: none)
            records = list(reader)
        missing = [c for c in KEY_COLUMNS if c not in header]
        if header and missing:
            raise ValueError(f"no {', '.join(missing)} column")
        whole = [Row.from_record(r) for r in records if _whole(r)]
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, csv.Error) as exc:
        raise ZooError(f"{path}: not a zoo results file ({type(exc).__name__}: {exc}); move it "
                       "away or choose another --out") from None
    # One row per key, the last as write_rows keeps it: a copy (a bad edit or merge) must not
    # count an image twice in a mean.
    rows = list({row.key: row for row in whole}.values())
    if warn:
        _warn_damage(path, len(records) - len(whole), [c for c in header if c not in COLUMNS])
        if len(rows) < len(whole):
            warnings.warn(f"{path}: {len(whole) - len(rows)} row(s) repeat the dataset, model, "
                          "image, quality and protocol of another; the last of each is used",
                          stacklevel=caller_stacklevel())
    return rows


def _whole(record: dict[str | None, str | None]) -> bool:
    """Whether a CSV record has every field and no more (DictReader fills in None for a missing
    field and puts extra ones under the key None)."""
    return None not in record and None not in record.values()


def _warn_damage(path: Path, dropped: int, foreign: list[str]) -> None:
    if dropped:
        warnings.warn(f"{path}: dropped {dropped} damaged row{'s' if dropped > 1 else ''} (fields "
                      "missing or extra, e.g. a file cut short); a run that asks for them "
                      "measures them again", stacklevel=caller_stacklevel())
    if foreign:
        warnings.warn(f"{path}: column{'s' if len(foreign) > 1 else ''} {', '.join(foreign)} "
                      "not written by zoo; dropped when zoo rewrites the file (after each image "
                      "it measures)", stacklevel=caller_stacklevel())


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    """Write rows sorted by key, atomically (temp file in the same folder, then ``os.replace``)."""
    ordered = sorted({row.key: row for row in rows}.values(), key=lambda r: r.key)
    atomic_write(path, lambda fh: _write_csv(fh, COLUMNS, (r.to_record() for r in ordered)))


def _write_csv(fh, columns: tuple[str, ...], records: Iterable[dict[str, str]]) -> None:  # noqa: ANN001
    writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)


class ResultsStore:
    """The rows of one run: those found on disk (given) plus those measured now, flushed per
    image."""

    def __init__(self, path: Path, rows: Iterable[Row] = ()) -> None:
        self.path = path
        self._rows: dict[Key, Row] = {row.key: row for row in rows}

    def __contains__(self, key: Key) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[Row]:
        """Every row, sorted by key."""
        return sorted(self._rows.values(), key=lambda r: r.key)

    def add(self, rows: Iterable[Row]) -> None:
        """Add rows and write the file at once (the per-image flush)."""
        for row in rows:
            self._rows[row.key] = row
        write_rows(self.path, self._rows.values())


def _value(row: Row, name: str) -> float:
    return row.seconds if name == "seconds" else row.values.get(name, math.nan)


def _measured(row: Row, name: str) -> bool:
    return name in METRICS and METRICS[name].token in row.measured


def summarize(rows: Iterable[Row]) -> list[dict[str, object]]:
    """Means per dataset, model, quality and protocol, with the image count.

    So that models are compared on the same images, a metric's means in one (dataset, quality,
    protocol) table cover only the images that every model there has a finite value for (a
    metric is NaN where it is undefined, e.g. NIQE on a flat image, and PSNR is infinite on a
    perfect reconstruction, which would make the mean infinite and "best"). Where that leaves
    out images of a model's row, ``entry["partial"][metric]`` is the number of images its mean
    covers.
    """
    tables: dict[tuple[str, int, str], dict[str, list[Row]]] = {}
    for row in rows:
        table = tables.setdefault((row.dataset, row.quality, row.protocol), {})
        table.setdefault(row.model, []).append(row)
    summary = []
    for (dataset, quality, protocol), models in sorted(tables.items()):
        common = {name: set.intersection(*({r.image for r in members
                                             if math.isfinite(_value(r, name))}
                                            for members in models.values()))
                  for name in ALL_METRICS}
        for model, members in sorted(models.items()):
            entry: dict[str, object] = {"dataset": dataset, "model": model, "quality": quality,
                                        "protocol": protocol, "images": len(members),
                                        "partial": {}}
            for name in (*ALL_METRICS, "seconds"):
                vals = [_value(r, name) for r in members
                        if (r.image in common[name] if name in common
                            else not math.isnan(_value(r, name)))]
                entry[name] = math.fsum(vals) / len(vals) if vals else math.nan
                # A metric undefined on every image (NaN: NIQE on small images, say) was
                # measured, which an empty cell alone would not tell from "not asked for".
                measured = any(not math.isnan(_value(r, name)) or _measured(r, name) for r in members)
                if name in common and measured and len(vals) < len(members):
                    entry["partial"][name] = len(vals)
            summary.append(entry)
    return sorted(summary, key=lambda e: (e["dataset"], e["model"], e["quality"], e["protocol"]))


def _summary_cell(value: object) -> str:
    if isinstance(value, float):
        return _fmt(value)
    if isinstance(value, dict):  # "partial": metric -> images its mean covers
        return " ".join(f"{name}:{count}" for name, count in value.items())
    return str(value)


def write_summary(path: Path, summary: list[dict[str, object]]) -> None:
    """Write :func:`summarize`'s entries to ``path`` as summary.csv, atomically."""
    records = ({k: _summary_cell(v) for k, v in e.items()} for e in summary)
    atomic_write(path, lambda fh: _write_csv(fh, SUMMARY_COLUMNS, records))


def read_summary(path: Path) -> list[dict[str, object]]:
    """The entries of a ``summary.csv`` as :func:`summarize` made them (what
    :func:`write_summary` wrote): whole numbers, means (NaN where the cell is empty: not
    measured) and ``partial`` as ``{metric: images}`` (empty in files older than that column).

    A file that cannot be opened is an OSError; one that is damaged or not a summary zoo wrote,
    a ZooError naming the file, and the line where a cell is wrong.
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])  # read while the file is open (empty: none)
            records = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"{exc}"
        raise ZooError(f"{path}: not a zoo summary file ({why})") from None
    # A metric added to the zoo after the file was written is a column it lacks: not measured.
    missing = [c for c in SUMMARY_COLUMNS if c not in header and c != "partial"
               and c not in ALL_METRICS]
    if missing:
        raise ZooError(f"{path}: not a zoo summary file (no {', '.join(missing)} column)")
    entries = []
    for line, record in enumerate(records, start=2):
        try:
            if not _whole(record):
                raise ValueError("fields missing or extra")
            entries.append({c: _summary_value(c, record.get(c) or "") for c in SUMMARY_COLUMNS})
        except ValueError as exc:
            raise ZooError(f"{path}, line {line}: {exc}") from None
    return entries


def _summary_value(column: str, text: str) -> object:
    """One ``summary.csv`` cell as :func:`summarize` gives it (the inverse of ``_summary_cell``)."""
    if column in ("dataset", "model", "protocol"):
        return text
    if column in ("quality", "images"):
        if not text.isdigit():
            raise ValueError(f"{column} {text!r} is not a whole number")
        return int(text)
    if column == "partial":
        covered = {}
        for item in text.split():
            name, _, count = item.partition(":")
            if name not in ALL_METRICS or not count.isdigit():
                raise ValueError(f"partial {text!r} is not METRIC:IMAGES ...")
            covered[name] = int(count)
        return covered
    try:
        return float(text) if text else math.nan
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
