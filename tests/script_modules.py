"""The repository's scripts (``benchmarks/``, ``training/``) as modules, for tests to call."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def load_script(relative: str) -> ModuleType:
    """A fresh module of the script at ``relative`` (to the repository root): each call runs
    it anew, so one test's patches never reach another's."""
    spec = importlib.util.spec_from_file_location(Path(relative).stem, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
