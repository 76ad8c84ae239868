"""A run's process count: the logged losses are the whole step's, and a resume with another
number of processes goes on with the next samples and says that each step's batch changed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from test_distributed import run_ranks
from test_train import TINY, TINY_RECIPE, _write_images


def _train(tmp_path: Path, out: Path, world: int, *extra: str) -> str:
    """``zoo train`` of the tiny entry as a job of ``world`` processes; rank 0's stderr."""
    args = ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(tmp_path / "train"),
            "--val", "", "--out", str(out), "--no-progress", *extra]
    procs = run_ranks(tmp_path, args, ranks=tuple(range(world)), world=world, timeout=120)
    assert [p.returncode for p in procs] == [0] * world, procs[0].stderr[-2000:]
    return procs[0].stderr


def _losses(out: Path) -> list[float]:
    with open(out / "train.csv", newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def _meta(out: Path) -> dict:
    newest = sorted((out / "checkpoints").iterdir())[-1]
    return json.loads((newest / "meta.json").read_text())


def test_logged_losses_are_the_whole_step_s_and_a_resume_keeps_the_sample_stream(
        tmp_path: Path) -> None:
    """train.csv logged rank 0's half of each step's loss (0.0409 where one process of the same
    global batch logged 0.0340); a run of 2 processes resumed by 1 took samples again that it
    had trained on (positions were (step x world + rank) x batch), without a word."""
    _write_images(tmp_path / "train", 3, (40, 40), seed=0)
    two, one = tmp_path / "two", tmp_path / "one"
    _train(tmp_path, two, 2, "--max-steps", "4")  # data.batch 2 per process: 4 patches a step
    _train(tmp_path, one, 1, "--max-steps", "4", "data.batch=4")
    # Equal but for the BatchNorm's statistics, which each process takes over its own share.
    assert np.allclose(_losses(two), _losses(one), rtol=1e-2), (_losses(two), _losses(one))
    assert _meta(two)["samples"] == 16
    assert json.loads((two / "export" / "training.json").read_text())["processes"] == 2
    assert "16-px patches, batch 2 per process, 2 processes," in (two / "export" / "README.md").read_text()

    said = _train(tmp_path, two, 1, "--resume", "--max-steps", "6")
    assert ("resuming with a changed recipe: max_steps: 4 -> 6, processes: 2 -> 1 (patches per "
            "step: 4 -> 2)") in said
    assert _meta(two)["samples"] == 16 + 2 * 2
    # The same two steps from one process resumed at the same samples and weights.
    _train(tmp_path, one, 1, "--resume", "--max-steps", "6", "data.batch=2")
    assert np.allclose(_losses(two)[-2:], _losses(one)[-2:], rtol=1e-2)
    training = json.loads((two / "export" / "training.json").read_text())
    assert training["processes"] == 1
    assert training["recipe_changes"][-1] == {
        "step": 4, "changes": ["max_steps: 4 -> 6", "processes: 2 -> 1 (patches per step: 4 -> 2)"]}
