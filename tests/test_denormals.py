"""CPU training flushes denormals on every intra-op thread (zoo.train.denormals).

Each check runs in a fresh 2-thread process, because the flush mode is per thread and torch's
thread pool starts at the first parallel op.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.set_flush_denormal(False),
                                reason="this CPU or torch build cannot flush denormals")


def _share_in_fresh_process(code: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code + "\nprint(flushed_share())"], env=env,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def test_denormals_survive_without_flushing() -> None:
    assert _share_in_fresh_process("from zoo.train.denormals import flushed_share") == 0.0


def test_flush_reaches_every_thread() -> None:
    code = "from zoo.train.denormals import flush_denormals, flushed_share\nflush_denormals()"
    assert _share_in_fresh_process(code) == 1.0


def test_flush_after_the_pool_started_reaches_only_the_calling_thread() -> None:
    code = ("from zoo.train.denormals import flush_denormals, flushed_share\n"
            "flushed_share()\nflush_denormals()")
    assert 0.0 < _share_in_fresh_process(code) < 1.0


def test_a_cpu_trainer_flushes_before_building_its_model() -> None:
    code = ("import tempfile\n"
            "from zoo.registry import get_model_info\n"
            "from zoo.train.denormals import flushed_share\n"
            "from zoo.train.loop import Trainer\n"
            "from zoo.train.recipe import load_recipe, recipe_path\n"
            "recipe = load_recipe(recipe_path(get_model_info('unet-l1').recipe), ['device=\"cpu\"'])\n"
            "Trainer('unet-l1', recipe, tempfile.mkdtemp()).build()")
    assert _share_in_fresh_process(code) == 1.0
