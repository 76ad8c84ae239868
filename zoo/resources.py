"""Where the data folders (training/, benchmarks/, baselines/, docs/) and shipped weights live.

In a wheel they are carried inside the package (``zoo/_data/...``); in a source checkout
they are the repository's top-level folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"

DataFolder = Literal["training", "benchmarks", "baselines", "docs"]


def resource_dir(name: DataFolder) -> Path:
    """The folder holding the named data, in the wheel or in the source checkout."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"zoo data folder {name!r} not found next to {PACKAGE_DIR}")


def is_packaged(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is one of the data files an installed package carries (a recipe of the
    wheel's ``zoo/_data/``), rather than a checkout's or the user's own."""
    return Path(path).resolve().is_relative_to(PACKAGE_DIR / "_data")


def doc_path(name: str, folder: DataFolder = "docs") -> str:
    """Where the document ``FOLDER/NAME`` is, for help texts: the installed or checked-out copy,
    else its path in the repository."""
    try:
        return str(resource_dir(folder) / name)
    except FileNotFoundError:
        return f"{folder}/{name}"


def cache_dir() -> Path:
    """The zoo's data cache: ``$ZOO_DATA``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get("ZOO_DATA"):
        return Path(os.environ["ZOO_DATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zoo"
