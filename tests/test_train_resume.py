"""Resuming a training run: what a changed recipe, a finished run and damaged files in OUT do.
The tiny networks, recipe and data of ``test_train``; CPU only, seconds each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from test_train import TINY_RECIPE, _cli, data  # noqa: F401  (data: the module's fixture)


def _meta(out: Path, step: int) -> dict:
    return json.loads((out / "checkpoints" / f"step-{step:08d}" / "meta.json").read_text())


def _train_rows(out: Path) -> list[list[str]]:
    return [line.split(",") for line in (out / "train.csv").read_text().splitlines()[1:]]


def test_a_resume_trains_with_the_optimiser_settings_the_recipe_now_has(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    """lr, betas, weight_decay, optimizer and critic_lr_mult changed on --resume are used (the
    optimizers' saved settings were: the change was announced, then ignored); Adam's moments and
    step counts are kept."""
    from zoo.cli import main
    from zoo.train.recipe import load_recipe
    from zoo.train.stages import lr_factor

    out = tmp_path / "run"
    assert main(_cli(data, out, "--max-steps", "4")) == 0
    changed = ["stages.pretrain.lr=0.0005", "stages.pretrain.betas=[0.5, 0.9]",
               "stages.pretrain.weight_decay=0.1", 'stages.pretrain.optimizer="adamw"']
    assert main(_cli(data, out, "--resume", "--max-steps", "5", *changed)) == 0
    stage = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', *changed]).stages["pretrain"]
    assert _train_rows(out)[-1][:4] == ["5", "pretrain", "generator", f"{0.0005 * lr_factor(stage, 4):.6g}"]
    group = _meta(out, 5)["opt_g"]["param_groups"][0]
    assert (group["base_lr"], group["betas"], group["weight_decay"]) == (0.0005, [0.5, 0.9], 0.1)
    assert group["decoupled_weight_decay"] is True  # AdamW's, not the saved Adam's
    state = load_file(out / "checkpoints" / "step-00000005" / "state.safetensors")
    assert float(state["opt_g.5.step"]) == 5  # the head's moments went on, not started afresh
    # The critic's lr in the GAN stage: lr * critic_lr_mult as the recipe now says.
    assert main(_cli(data, out, "--resume", "--max-steps", "12")) == 0
    assert main(_cli(data, out, "--resume", "--max-steps", "13", "stages.gan.critic_lr_mult=2.0")) == 0
    assert _meta(out, 13)["opt_c"]["param_groups"][0]["base_lr"] == pytest.approx(2e-4)
