"""meta.json: what produced a leaderboard (versions, encoder, commit, device, date, command)."""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write
from zoo.degrade import encoder_description


VERSIONED = ("torch", "torchvision", "timm", "pillow", "numpy", "scipy", "scikit-image", "lpips",
             "safetensors", "huggingface-hub")
"""The distributions whose versions a leaderboard's meta.json records."""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the zoo checkout this package runs from (with ``-dirty`` for local
    changes), or None for an installed package: one installed in a project's virtual environment
    lies inside that project's repository, whose commit is not zoo's."""
    cwd = folder or Path(__file__).resolve().parents[2]
    try:
        top, sha = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=cwd,
                                  capture_output=True, text=True, timeout=10,
                                  check=True).stdout.splitlines()
        if Path(top).resolve() != cwd.resolve():  # the package folder is not at a checkout's root
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError, ValueError):  # ValueError: not two lines
        return None
    return f"{sha}-dirty" if dirty else sha or None


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows of it:
    results rounded differently on two CPU models of the same architecture."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str | None) -> str:
    """The device as meta.json records it: a GPU's name, or the CPU's model and thread count
    (``device`` None: the CPU)."""
    import platform

    import torch

    if device and device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    cpu = cpu_name()
    arch = platform.machine()
    named = cpu if arch in cpu else f"{cpu}, {arch}"
    return f"{device or 'cpu'} ({named}, {torch.get_num_threads()} threads)"


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran, its program named without this machine's path (``zoo bench ...``)."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv and argv[0] else "python"
    if program == "__main__.py":  # python -m zoo
        program = "python -m zoo"
    return " ".join([program, *(shlex.quote(arg) for arg in argv[1:])])


def build_meta(**fields: Any) -> dict[str, Any]:
    """The run's facts plus ``fields`` (dataset, models, qualities, ...)."""
    import zoo

    meta = {
        # Every library a value depends on: the networks (torch, torchvision's LPIPS backbone,
        # timm's encoder), the pixels (Pillow, numpy), NIQE/BRISQUE (scipy), the sample suite's
        # photographs (scikit-image) and the weights' loading (safetensors, huggingface-hub).
        "versions": {"zoo": zoo.__version__,
                     **{name: _version(name) for name in VERSIONED},
                     "python": sys.version.split()[0]},
        "encoder": encoder_description(),
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
    }
    meta.update(fields)
    return meta


MAX_RUNS_KEPT = 20
"""``measured_by`` keeps the latest runs that measured values into the folder, not every one."""


def read_meta(path: Path) -> dict[str, Any]:
    """A folder's meta.json, or {} when it is missing or not a JSON object."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def runs_that_measured(earlier: dict[str, Any], meta: dict[str, Any],
                       measured: int) -> list[dict[str, Any]]:
    """The runs that measured values into this folder, the latest last: those ``earlier`` (the
    folder's meta.json before this run) lists, then this run when it measured any. A run that
    measures nothing must not erase the record of the ones whose values it shows."""
    runs = earlier.get("measured_by")
    if not isinstance(runs, list):  # a meta.json from before this field: its own run, if it measured
        runs = [_run_record(earlier)] if earlier.get("measured_now") else []
    runs = [r for r in runs if isinstance(r, dict)]
    if measured:
        runs.append(_run_record(meta))
    return runs[-MAX_RUNS_KEPT:]


def record_interrupted_run(path: Path, meta: dict[str, Any]) -> None:
    """Add a run stopped before its report (Ctrl-C, SIGTERM) to ``measured_by`` in the folder's
    meta.json, whose other fields still describe the pages it wrote with them: the rows that run
    kept would otherwise be shown later as measured by no run named."""
    kept = read_meta(path)
    kept["measured_by"] = runs_that_measured(kept, meta, int(meta.get("measured_now") or 0))
    write_meta(path, kept)


def _run_record(meta: dict[str, Any]) -> dict[str, Any]:
    versions = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
    record = {"zoo": versions.get("zoo"), "device": meta.get("device"), "date": meta.get("date"),
              "git_commit": meta.get("git_commit"), "encoder": meta.get("encoder"),
              "tile": meta.get("tile"), "command": meta.get("command"),
              "dataset": meta.get("dataset"), "measured": meta.get("measured_now")}
    if meta.get("interrupted"):
        record["interrupted"] = True
    return record


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` to ``path`` as indented JSON, atomically; values JSON lacks are written as text."""
    atomic_write(path, lambda fh: json.dump(meta, fh, indent=2, default=str))
