"""Benchmark suites: TOML files in ``benchmarks/`` naming datasets, qualities, protocols, metrics.

```toml
description = "..."
datasets = ["auto"]          # auto (DIV2K if present, else sample) | sample | div2k | a folder
qualities = [10, 20, 30]
protocols = ["rgb"]          # rgb | y
metrics = ["all"]            # or names from zoo.metrics.METRICS
models = []                  # shell patterns; empty: every entry with weights, plus jpeg
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from zoo.degrade import PROTOCOLS
from zoo.errors import ZooError, did_you_mean
from zoo.metrics import METRICS
from zoo.resources import resource_dir

# Read from zoo.metrics.METRICS, so that a new metric is one entry there.
ALL_METRICS: tuple[str, ...] = tuple(METRICS)
LOWER_IS_BETTER = frozenset(name for name, metric in METRICS.items() if not metric.higher_is_better)
METRIC_LABELS = {name: metric.label for name, metric in METRICS.items()}
METRIC_UNITS = {name: metric.unit for name, metric in METRICS.items() if metric.unit}
"""Units of the metrics that have one (the others are scores without a unit)."""
METRIC_DIGITS = {name: metric.digits for name, metric in METRICS.items()}
_KEYS = {"description", "datasets", "qualities", "protocols", "metrics", "models"}


class SuiteError(ZooError):
    """A suite file is missing or invalid."""


@dataclass(frozen=True)
class Suite:
    """A benchmark suite, as read from its TOML file (the keys above); ``path`` is None for one
    not read from a file."""

    name: str
    description: str = ""
    datasets: tuple[str, ...] = ("auto",)
    qualities: tuple[int, ...] = (10, 20, 30)
    protocols: tuple[str, ...] = ("rgb",)
    metrics: tuple[str, ...] = ALL_METRICS
    models: tuple[str, ...] = field(default_factory=tuple)
    path: Path | None = None


def suite_names() -> list[str]:
    """The names of the suites in ``benchmarks/``, sorted; none when there is no such folder."""
    try:
        return sorted(p.stem for p in resource_dir("benchmarks").glob("*.toml"))
    except FileNotFoundError:
        return []


def load_suite(name_or_file: str) -> Suite:
    """A suite by name (``benchmarks/<name>.toml``) or by path to a TOML file."""
    path = Path(name_or_file).expanduser()
    if path.suffix == ".toml" and not path.exists():
        raise SuiteError(f"{path}: no such file (a suite is a .toml file, or one of: "
                         f"{', '.join(suite_names()) or 'none'})")
    if path.suffix != ".toml" or not path.exists():
        try:
            path = resource_dir("benchmarks") / f"{name_or_file}.toml"
        except FileNotFoundError:
            raise SuiteError(f"{name_or_file}: no benchmarks/ folder to look the suite up in") from None
        if not path.is_file():
            known = ", ".join(suite_names()) or "none"
            raise SuiteError(f"{name_or_file}: no such suite (known: {known}; or give a .toml path)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read the suite ({exc})") from None
    except UnicodeDecodeError:
        raise SuiteError(f"{path}: not a suite (not UTF-8 text, as TOML is)") from None
    return parse_suite(data, name=path.stem, path=path)


def parse_suite(data: dict, *, name: str, path: Path | None = None) -> Suite:
    """Validate a suite's table; every problem is reported with the file name."""
    where = path or name
    unknown = set(data) - _KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    datasets = _strings(data.get("datasets", ["auto"]), "datasets", where)
    qualities = validate_qualities(data.get("qualities", [10, 20, 30]), f"{where}: qualities")
    protocols = _strings(data.get("protocols", ["rgb"]), "protocols", where)
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        raise SuiteError(f"{where}: unknown protocols {bad} (use {list(PROTOCOLS)})")
    metrics = validate_metrics(_strings(data.get("metrics", ["all"]), "metrics", where), where)
    models = _strings(data.get("models", []), "models", where, allow_empty=True)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{where}: description must be a string, got {description!r}")
    return Suite(name=name, description=description, datasets=tuple(datasets),
                 qualities=qualities, protocols=tuple(dict.fromkeys(protocols)),
                 metrics=metrics, models=tuple(models), path=path)


def validate_qualities(values: object, where: object = "--quality") -> tuple[int, ...]:
    """JPEG qualities: a non-empty list of integers in 1..100, repeats dropped."""
    if not isinstance(values, (list, tuple)) or not values or not all(
            isinstance(q, int) and not isinstance(q, bool) and 1 <= q <= 100 for q in values):
        raise SuiteError(f"{where} must be a non-empty list of integers in 1..100, got {values}")
    return tuple(dict.fromkeys(values))


def validate_metrics(names: list[str] | tuple[str, ...], where: object = "--metrics") -> tuple[str, ...]:
    """Expand ``all`` and check each name against the metric table."""
    if list(names) == ["all"]:
        return ALL_METRICS
    if "all" in names:
        raise SuiteError(f"{where}: 'all' stands alone (it means every metric), got {list(names)}")
    bad = [n for n in names if n not in ALL_METRICS]
    if bad:
        raise SuiteError(f"{where}: unknown metrics {bad}; {did_you_mean(bad[0], list(ALL_METRICS))}"
                         f"known: {', '.join(ALL_METRICS)}, or all alone")
    return tuple(dict.fromkeys(names))


def _strings(value: object, key: str, where: object, *, allow_empty: bool = False) -> list[str]:
    if isinstance(value, list) and not value and not allow_empty:
        raise SuiteError(f"{where}: {key} is empty; name at least one (or leave the key out for "
                         "the default)")
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SuiteError(f"{where}: {key} must be a list of non-empty strings")
    return list(value)
