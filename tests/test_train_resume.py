"""Resuming a training run: what a changed recipe, a finished run and damaged files in OUT do.
The tiny networks, recipe and data of ``test_train``; CPU only, seconds each."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from zoo.registry import ModelInfo, get_model_info, register_architecture, register_model

from test_train import (TINY, TINY_RECIPE, TinyNet, _cli, _weights,
                        data)  # noqa: F401  (data: the module's fixture)

DROPOUT = "tiny-dropout-test"


class TinyDropoutNet(TinyNet):
    """TinyNet with dropout: a random layer, which draws from torch's stream at every step."""

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        features = F.dropout(self.encoder(x), 0.5, self.training)
        return (x + self.gain * self.head(features)).clamp(0, 1)


def _register_dropout() -> None:
    try:
        get_model_info(DROPOUT)
    except KeyError:
        register_architecture(TinyDropoutNet)
        register_model(ModelInfo(name=DROPOUT, description="test net with dropout",
                                 architecture="TinyDropoutNet", arch_args={"width": 8}))


_register_dropout()


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


def test_a_finished_run_resumed_with_more_steps_trains_them(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """More steps for the last stage of a finished run are trained, to the weights of a run
    planned so from the start (the resume trained nothing, yet its card claimed the new plan);
    with nothing left, the run says so and leaves its checkpoint as it was."""
    from zoo.cli import main

    more, whole = tmp_path / "more", tmp_path / "whole"
    assert main(_cli(data, more)) == 0
    assert main(_cli(data, more, "--resume", "stages.gan.steps=10")) == 0
    assert main(_cli(data, whole, "stages.gan.steps=10")) == 0
    a, b = _weights(whole), _weights(more)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng."))
    assert (whole / "val.csv").read_text() == (more / "val.csv").read_text()
    assert json.loads((more / "export" / "training.json").read_text())["steps"] == 20
    last = more / "checkpoints" / "step-00000020"
    saved = {f.name: f.read_bytes() for f in last.iterdir()}
    assert "opt_g" in _meta(more, 20)
    capsys.readouterr()
    assert main(_cli(data, more, "--resume", "stages.gan.steps=10")) == 0
    assert (f"{more}: the run has already finished all its 20 steps, so nothing was trained"
            in capsys.readouterr().err)
    assert {f.name: f.read_bytes() for f in last.iterdir()} == saved


def test_an_export_says_which_steps_a_changed_recipe_trained(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """training.json and the card gave the last recipe as every step's; a finished run exported
    again with other settings (which trained nothing) claimed them for all its steps."""
    from zoo.cli import main
    from zoo.hub import read_training

    out = tmp_path / "run"
    assert main(_cli(data, out, "--max-steps", "4", "data.batch=2")) == 0
    assert main(_cli(data, out, "--resume", "--max-steps", "18", "data.batch=3")) == 0
    training = read_training(out / "export")
    assert training["steps"] == 18 and training["settings"]["data"]["batch"] == 3
    assert training["recipe_changes"] == [
        {"step": 4, "changes": ["data.batch: 2 -> 3", "max_steps: 4 -> 18"]}]
    card = (out / "export" / "README.md").read_text()
    assert ("- resumed after step 4 with a changed recipe (the lines above give the last): "
            "data.batch: 2 -> 3; max_steps: 4 -> 18\n") in card
    capsys.readouterr()
    assert main(_cli(data, out, "--resume", "--max-steps", "18", "data.batch=5")) == 0
    assert ("nothing was trained (more steps for a stage train on); its export is written again; "
            "the recipe's changes (data.batch: 3 -> 5) trained nothing, so the export keeps the "
            "settings it was trained with") in capsys.readouterr().err
    again = read_training(out / "export")
    assert again["settings"]["data"]["batch"] == 3
    assert again["recipe_changes"] == training["recipe_changes"]


def test_a_change_saved_before_any_step_is_still_recorded(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    """A resume from a checkpoint taken at a stage's last step saves again (the next stage
    begins) before any step: that checkpoint held the new recipe but not the change, so the next
    resume's export claimed the new lr for the steps trained at the old one."""
    import shutil

    from zoo.cli import main
    from zoo.hub import read_training

    out = tmp_path / "run"
    assert main(_cli(data, out, "checkpoint.keep=20")) == 0
    assert _meta(out, 6)["stage_index"] == 0  # taken at the pretrain stage's last step
    for later in [p for p in (out / "checkpoints").iterdir() if p.name > "step-00000006"]:
        shutil.rmtree(later)
    assert main(_cli(data, out, "checkpoint.keep=20", "--resume", "--max-steps", "6",
                     "stages.pretrain.lr=0.0005")) == 0
    assert _meta(out, 6)["stage_index"] == 1  # saved again, in the next stage, with no step
    assert main(_cli(data, out, "checkpoint.keep=20", "--resume", "--max-steps", "6",
                     "stages.pretrain.lr=0.0005")) == 0
    changes = read_training(out / "export")["recipe_changes"]
    assert changes == [{"step": 6, "changes": ["max_steps: 0 -> 6", "stages.pretrain.lr: 0.001 -> 0.0005"]}]


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads Linux's /proc/self/maps")
def test_a_resumed_checkpoint_is_not_left_mapped(data: tuple[Path, Path], tmp_path: Path) -> None:
    """Its tensors were memory-mapped and kept by the optimizer: the file stayed mapped after
    its folder was deleted (disk space held to the end; on Windows no delete at all)."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out)) == 0
    assert main(_cli(data, out, "--resume", "stages.gan.steps=10")) == 0
    maps = Path("/proc/self/maps").read_text()
    assert str(out) not in maps and "state.safetensors" not in maps


def test_a_resume_that_scores_checkpoints_otherwise_is_refused(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """New validation qualities, images or a new selection metric were compared with the old
    best's scores: a q40 score 'beat' a q10-q30 best and was exported, labelled as the best."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "--max-steps", "14")) == 0  # a best chosen at step 12 (gan)
    other_val = tmp_path / "val2"
    other_val.mkdir()
    for image in data[1].iterdir():
        (other_val / image.name).write_bytes(image.read_bytes())
    capsys.readouterr()
    for change, shown in ((["validation.qualities=[40]"], "validation.qualities: [10] -> [40]"),
                          (["--val", str(other_val)], "data.val: "),
                          (["select.metric=ssim"], "select.metric: 'psnr' -> 'ssim'")):
        assert main(_cli(data, out, "--resume", "--max-steps", "18", *change)) == 2
        err = capsys.readouterr().err
        assert "its best checkpoint so far (step 12) was chosen by validation scores that the " \
               "recipe now computes otherwise (" in err and shown in err, err
        assert f"model.init={out / 'best'}" in err
    assert main(_cli(data, out, "--resume", "--max-steps", "18", "validation.every=2")) == 0


def test_a_fine_tune_resumes_without_its_init_file_and_keeps_its_start(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A resume read model.init again (and said "generator initialised from ..." though the
    checkpoint replaced it): once its source was moved, the run could not be resumed; and a
    changed model.init was recorded as if the run had started from it."""
    import shutil

    from zoo.cli import main

    source, tuned = tmp_path / "source", tmp_path / "tuned"
    assert main(_cli(data, source, "--max-steps", "4")) == 0
    init = tmp_path / "init"
    shutil.copytree(source / "export", init)
    assert main(_cli(data, tuned, "--max-steps", "4", f"model.init={init}")) == 0
    assert f"generator initialised from {init}" in capsys.readouterr().err
    shutil.rmtree(init)
    # --recipe is given: its overrides are repeated, as any resume from a recipe file repeats them
    assert main(_cli(data, tuned, "--resume", "--max-steps", "8", f"model.init={init}")) == 0
    err = capsys.readouterr().err
    assert "generator initialised" not in err and "error" not in err
    # without --recipe: OUT/recipe.json, which names the moved file, is the run's recipe
    plain = [w for w in _cli(data, tuned, "--resume", "--max-steps", "9") if w not in ("--recipe", str(TINY_RECIPE))]
    assert main(plain) == 0
    err = capsys.readouterr().err
    assert "generator initialised" not in err and "model.init" not in err  # recipe.json as it is
    assert "resuming with the recipe saved in" not in err
    assert json.loads((tuned / "export" / "training.json").read_text())["settings"]["model"]["init"] == str(init)
    assert main(_cli(data, tuned, "--resume", "--max-steps", "10", "model.init=pretrained")) == 2
    assert (f"model.init '{init}' -> 'pretrained': a resume goes on from its checkpoint"
            in capsys.readouterr().err)
    # No usable checkpoint after all: the run starts afresh, from model.init as its recipe says.
    shutil.copytree(source / "export", init)
    for state in (tuned / "checkpoints").glob("*/state.safetensors"):
        state.write_bytes(b"torn")
    assert main(_cli(data, tuned, "--resume", "--max-steps", "2", f"model.init={init}")) == 0
    err = capsys.readouterr().err
    assert "no usable checkpoint to resume from" in err and f"generator initialised from {init}" in err


def test_a_stopped_run_says_where_a_resume_picks_up(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or SIGTERM) printed "interrupted" alone: not which checkpoint --resume continues
    from, nor that the steps after it are lost."""
    import zoo.train.loop
    from zoo.cli import main

    real, calls = zoo.train.loop.generator_step, []

    def stopped_at_step_7(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(zoo.train.loop, "generator_step", stopped_at_step_7)
    out = tmp_path / "run"
    assert main(_cli(data, out, "checkpoint.every=4")) == 130
    # The seventh generator step is step 11 (the critic's pretraining is steps 5-8).
    assert ("warning: stopped at step 11: --resume continues from the last checkpoint "
            "(step-00000008)\ninterrupted\n") in capsys.readouterr().err
    calls.clear()
    monkeypatch.setattr(zoo.train.loop, "generator_step", stopped_at_step_7)
    assert main(_cli(data, tmp_path / "early", "checkpoint.every=100")) == 130
    assert "warning: stopped at step 11: no checkpoint was saved yet\n" in capsys.readouterr().err


def test_a_run_finished_by_an_earlier_zoo_cannot_grow_its_last_stage(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Earlier versions saved a finished run past its last stage without optimizers: more steps
    for that stage are refused in one line (they would have trained nothing)."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out)) == 0
    meta_file = out / "checkpoints" / "step-00000018" / "meta.json"
    meta = json.loads(meta_file.read_text())
    del meta["opt_g"], meta["opt_c"]
    meta_file.write_text(json.dumps({**meta, "stage_index": 3, "stage_start": 18}))
    capsys.readouterr()
    assert main(_cli(data, out, "--resume", "stages.gan.steps=10")) == 2
    assert (f"error: {meta_file.parent}: saved at the end of the run by an earlier version of zoo, "
            "without its optimizers, so stages.gan.steps cannot grow from 8; train on into a new "
            f"--out with model.init={out / 'export'}\n") in capsys.readouterr().err
    assert main(_cli(data, out, "--resume")) == 0
    assert "already finished all its 18 steps" in capsys.readouterr().err
    # It can add a stage after its last (the rule against rewriting what was trained allows it).
    more = tmp_path / "more.toml"
    more.write_text(TINY_RECIPE.read_text() + '\n[stages.more]\nkind = "generator"\nsteps = 2\n'
                    'losses = { l1 = 1.0 }\n')
    meta_file.write_text(json.dumps({**meta, "stage_index": 3, "stage_start": 18}))
    capsys.readouterr()
    assert main([*_cli(data, out, "--resume"), "--recipe", str(more)]) == 0
    assert "no usable checkpoint" not in capsys.readouterr().err
    assert [row[:2] for row in _train_rows(out)[-2:]] == [["19", "more"], ["20", "more"]]


def test_a_resume_that_rewrites_what_was_trained_is_refused(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Fewer steps than a stage has taken, other steps for a finished stage, or other stages
    before the current one: each trained nothing while the card and training.json claimed the
    new plan. Refused in one line; the run's files are left as they were."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "--max-steps", "12")) == 0  # pretrain 6, critic 4, gan 2 of 8
    last = out / "checkpoints" / "step-00000012"
    saved = {f.name: f.read_bytes() for f in last.iterdir()}
    capsys.readouterr()
    assert main(_cli(data, out, "--resume", "stages.gan.steps=1")) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {last}: stage gan has trained 2 steps, more than stages.gan.steps=1; to export "
        "the run as it is, resume with its steps and --max-steps 12")
    assert main(_cli(data, out, "--resume", "stages.pretrain.steps=3")) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {last}: stage pretrain has finished with stages.pretrain.steps=6, which a resume "
        "cannot change (now 3)")
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(TINY_RECIPE.read_text().replace("[stages.critic]", "[stages.warmup]"))
    assert main([*_cli(data, out, "--resume"), "--recipe", str(renamed)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {last}: was saved in stage gan of the stages pretrain, critic, gan; a resume keeps "
        "those stages, in that order (add stages after them, or train into a new --out)")
    without = tmp_path / "without-gan.toml"
    without.write_text(TINY_RECIPE.read_text().partition("[stages.gan]")[0]
                       .replace('stages = ["gan"]', 'stages = ["pretrain"]'))
    assert main([*_cli(data, out, "--resume"), "--recipe", str(without)]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"error: {last}: was saved in stage gan of the stages pretrain, critic, gan;")
    assert {f.name: f.read_bytes() for f in last.iterdir()} == saved
    assert main(_cli(data, out, "--resume")) == 0  # the recipe it was saved with goes on


def test_a_damaged_best_file_leaves_the_selection_at_the_resume(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing or truncated best file is found when resuming, not after all the training (which
    then ended with "No such file or directory", or a SafetensorError traceback, and no export,
    at every resume): the best an earlier kept checkpoint names takes its place, else none."""
    from zoo.cli import main

    out = tmp_path / "run"
    recipe = ("stages.pretrain.steps=30", "stages.gan.steps=0", "stages.critic.steps=0",
              'select.stages=["pretrain"]', "validation.every=2", "checkpoint.every=2",
              "checkpoint.keep=4", "stages.pretrain.lr=3e-3", "select.mode=min", "max_steps=8")
    assert main(_cli(data, out, *recipe)) == 0
    bests = [_meta(out, step)["best"]["step"] for step in (2, 4, 6, 8)]
    assert bests == [2, 2, 6, 8]  # what the cases below stand on
    state = out / "best" / "step-00000008.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    capsys.readouterr()
    assert main(_cli(data, out, *recipe, "--resume")) == 0
    assert (f"warning: {state}: the best generator so far (step 8) is unreadable: Error while "
            "deserializing header: invalid header length; it leaves the selection, and the best "
            "before it (step 6) takes its place\n") in capsys.readouterr().err
    assert json.loads((out / "export" / "training.json").read_text())["chosen_step"] == 6
    # Missing, with no best before it: the selection starts afresh, and the run exports.
    for step in (2, 6, 8):
        (out / "best" / f"step-{step:08d}.safetensors").unlink(missing_ok=True)
    assert main(_cli(data, out, *recipe[:-1], "max_steps=10", "--resume")) == 0
    err = capsys.readouterr().err
    assert (f"warning: {state}: the best generator so far (step 8) is missing; it leaves the "
            "selection, and a later validation's best, else the final EMA generator, is exported\n"
            ) in err
    assert json.loads((out / "export" / "training.json").read_text())["chosen_step"] == 10


def test_a_best_file_lost_during_the_run_exports_the_final_generator(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"'])
    trainer = Trainer("tiny-train-test", recipe, tmp_path / "run", progress=False)
    trainer.run()
    lost = tmp_path / "run" / "best" / trainer.best["file"]
    lost.unlink()
    with pytest.warns(UserWarning, match=f"{lost}: the chosen generator \\(step [0-9]+\\) is "
                                         "missing; exporting the final EMA generator"):
        export = trainer._export()
    assert json.loads((export / "training.json").read_text())["chosen_stage"] == "final (EMA)"


def test_a_changed_network_argument_is_refused_also_when_the_shapes_fit(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``gain`` keeps the tensors' shapes: the resume was allowed, with a warning, into a network
    that computes something else. An argument set to the value it had is no change."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=2")) == 0
    capsys.readouterr()
    for change, named in (("model.args.gain=0.5", "model.args.gain: 0.1 -> 0.5"),
                          ("critic.args.width=8", None), ("model.args.gain=0.1", None)):
        assert main(_cli(data, out, "max_steps=2", change, "--resume")) == (2 if named else 0)
        err = capsys.readouterr().err
        if named:
            assert (f"error: {out / 'checkpoints' / 'step-00000002'}: was saved with other network "
                    f"arguments ({named}); resume with the ones it was saved with, or train into a "
                    "new --out\n") in err


def test_a_kill_while_the_only_checkpoint_is_replaced_loses_nothing(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """checkpoint.keep=1: a kill between the two renames that replace ``step-N`` leaves its older
    copy as ``.tmp-old-step-N-PID`` and no ``step-N``; that copy was deleted as a leftover and the
    resume started at step 0. It is put back (and counts as a checkpoint without --resume too)."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=4", "checkpoint.keep=1")) == 0
    checkpoints = out / "checkpoints"
    (checkpoints / "step-00000004").rename(checkpoints / ".tmp-old-step-00000004-4242")
    (checkpoints / ".tmp-step-00000004-4242").mkdir()  # the new copy, never renamed into place
    capsys.readouterr()
    assert main(_cli(data, out, "max_steps=6", "checkpoint.keep=1")) == 2
    assert "already holds checkpoints; pass --resume" in capsys.readouterr().err
    assert main(_cli(data, out, "max_steps=6", "checkpoint.keep=1", "--resume")) == 0
    assert "no usable checkpoint" not in capsys.readouterr().err
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-00000006"]
    assert [row[0] for row in _train_rows(out)] == [str(step) for step in range(1, 7)]
    assert _meta(out, 6)["elapsed"] > _meta(out, 6)["stage_elapsed"] > 0


def test_the_last_step_is_checkpointed_once(data: tuple[Path, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose steps are a multiple of checkpoint.every saved its last step twice: with
    checkpoint.keep=1 a kill in the second save could lose the run."""
    from zoo.train import checkpoint
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    saved: list[int] = []
    save = checkpoint.save_checkpoint
    monkeypatch.setattr(checkpoint, "save_checkpoint",
                        lambda folder, step, *args: (saved.append(step), save(folder, step, *args))[1])
    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"',
                                       "checkpoint.keep=1"])
    Trainer("tiny-train-test", recipe, tmp_path / "run", progress=False).run()
    assert saved == list(range(2, 19, 2))


@pytest.mark.parametrize(("overrides", "because"), [
    (['select.not_worse_than_input=["psnr"]', "max_steps=12"],
     "no validated checkpoint scored at least as well as the JPEG input on psnr"),
    (['select.not_worse_than_input=["psnr"]', "max_steps=4"],
     "no validation of the selected stages (gan) ran"),
    (['validation.metrics=["psnr", "ms_ssim"]', 'select.metric="ms_ssim"', "max_steps=12"],
     "select.metric ms_ssim was undefined (NaN) at every validation"),
    (['data.val=""', "max_steps=2"], "validation is off (data.val is empty)")])
def test_an_export_of_the_final_generator_says_why(data: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   overrides: list[str], because: str) -> None:
    """When no validated checkpoint is chosen, the warning, training.json and the card give the
    reason (the card said "chosen checkpoint: step 12 (final (EMA)), by psnr"; the warning
    blamed the JPEG input also when no validation had run); after a resume too."""
    from zoo.cli import main

    out = tmp_path / "run"
    steps = int(overrides[-1].split("=")[1])
    for resume in ((), ("--resume",)):  # the resume trains nothing: the counts come from the checkpoint
        assert main(_cli(data, out, *overrides, *resume)) == 0
        err = capsys.readouterr().err
        warned = f"warning: {because}; exporting the final EMA generator\n" in err
        assert warned == ("off" not in because)
        assert "scored at least" not in err.replace(because, "")
        training = json.loads((out / "export" / "training.json").read_text())
        assert (training["final_because"], training["chosen_step"]) == (because, steps)
        assert (f"- steps: {steps}; exported: the final EMA generator (step {steps}), because {because}\n"
                in (out / "export" / "README.md").read_text())


def test_an_undefined_score_does_not_pass_not_worse_than_input(data: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    """NaN compares false: a checkpoint (or a JPEG input) without a defined score passed the
    rule silently."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"',
                                       'select.not_worse_than_input=["psnr", "ssim"]'])
    trainer = Trainer("tiny-train-test", recipe, tmp_path / "run", progress=False)
    trainer.build()
    trainer._data()
    trainer.step = 7
    with pytest.warns(UserWarning, match=r"select.not_worse_than_input: ssim is undefined \(NaN\) on "
                                         r"the validation images at step 7 \(validation.crop 32\); a "
                                         "checkpoint passes only with a defined score") as caught:
        assert not trainer._no_worse_than_input({10: {"psnr": 100.0, "ssim": math.nan}})
        trainer._input_scores[10]["psnr"] = math.nan
        assert not trainer._no_worse_than_input({10: {"psnr": 100.0, "ssim": 1.0}})
    assert len(caught) == 1


def test_a_diverged_run_stops_in_one_line_and_a_lower_lr_resumes_it(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """lr=1e30 ran to the end, to fail at the export with "tensor ... does not fit in
    torch.float16 (overflow); save with dtype=torch.float32" naming a deleted temporary file.
    The run stops before it validates or checkpoints the diverged weights."""
    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    assert main(_cli(data, out, "stages.gan.lr=1e30")) == 2
    err = capsys.readouterr().err
    error = next(line for line in err.splitlines() if line.startswith("error:"))
    assert re.fullmatch(r"error: training diverged by step 1[0-9] in stage gan( \(loss nan\))?: the "
                        r"generator's weights reach [0-9.e+]+, beyond the float16 its export stores; "
                        r"lower stages.gan.lr \(now 1e\+30\); --resume continues from the last "
                        r"checkpoint \(step-000000[01][0-9]\)", error), error
    diverged = int(error.split("by step ")[1].split()[0])
    assert all(int(c.name[5:]) < diverged for c in list_checkpoints(out / "checkpoints"))
    assert "Traceback" not in err and not (out / "export").exists()
    assert main(_cli(data, out, "--resume")) == 0  # the recipe file's lr: 1e-4


def test_weights_that_are_not_finite_stop_the_run(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.errors import ZooError
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""'])
    trainer = Trainer("tiny-train-test", recipe, tmp_path / "run", progress=False)
    trainer.build()
    with torch.no_grad():
        trainer.critic.net[2].bias.fill_(math.inf)
    trainer.step = 7
    trainer._check_weights(recipe.stages["pretrain"])  # the critic does not train there
    with pytest.raises(ZooError, match=r"^training diverged by step 7 in stage gan \(loss nan\): the "
                                       r"critic's weights are not finite; lower stages.gan.lr \(now "
                                       r"0.0001\); no checkpoint was saved yet$"):
        trainer._check_weights(recipe.stages["gan"], torch.tensor(math.nan))
    # Under torchrun every rank holds the same weights and stops: rank 0 alone says why.
    from zoo.distributed import ReportedElsewhere
    from zoo.train.distributed import Dist

    class SameOnEveryRank(Dist):
        def largest(self, value: float) -> float:
            return value

    for rank in (0, 1):
        trainer.dist = SameOnEveryRank(rank=rank, world=2)
        with pytest.raises(ZooError, match="training diverged by step 7") as caught:
            trainer._check_weights(recipe.stages["gan"])
        assert isinstance(caught.value, ReportedElsewhere) == (rank == 1)
    # Batch-norm statistics differ between ranks (DDP copies rank 0's only at each forward): one
    # rank's overflow must stop them all, rank 0 saying why, not that rank alone, silently.
    with torch.no_grad():
        trainer.critic.net[2].bias.fill_(0.0)

    class OtherRankOverflowed(Dist):
        def largest(self, value: float) -> float:
            return max(value, math.inf)

    for rank in (0, 1):
        trainer.dist = OtherRankOverflowed(rank=rank, world=2)
        with pytest.raises(ZooError, match="training diverged by step 7") as caught:
            trainer._check_weights(recipe.stages["gan"])
        assert isinstance(caught.value, ReportedElsewhere) == (rank == 1)
    trainer.dist = Dist()
    # A batch norm's running statistics overflowing while the weights stay finite: NaN exports.
    trainer.generator.register_buffer("running_var", torch.tensor([math.inf]))
    with pytest.raises(ZooError, match=r"^training diverged by step 7 in stage pretrain: the "
                                       r"generator's weights are not finite"):
        trainer._check_weights(recipe.stages["pretrain"])


def test_a_loader_worker_killed_between_batches_is_one_line(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """torch reports a worker killed by a signal from its SIGCHLD handler, wherever the main
    process is then (here: writing a checkpoint), not only in next(): that was a traceback."""
    from zoo.cli import main
    from zoo.train import checkpoint

    save, saves = checkpoint.save_checkpoint, []

    def killed_in_the_second(*args: object) -> Path:
        saves.append(args)
        if len(saves) == 2:
            raise RuntimeError("DataLoader worker (pid 4505) is killed by signal: Killed. ")
        return save(*args)

    out = tmp_path / "run"
    monkeypatch.setattr(checkpoint, "save_checkpoint", killed_in_the_second)
    assert main(_cli(data, out, "max_steps=6")) == 2
    err = capsys.readouterr().err
    assert ("error: the training data loader failed (DataLoader worker (pid 4505) is killed by "
            "signal: Killed.); a worker killed by the system (out of memory?) or by hand: set "
            "fewer data.workers (0: none); --resume continues from the last checkpoint\n") in err
    assert "Traceback" not in err
    monkeypatch.setattr(checkpoint, "save_checkpoint", save)
    assert main(_cli(data, out, "max_steps=6", "--resume")) == 0


def test_a_network_with_dropout_resumes_bitwise(data: tuple[Path, Path], tmp_path: Path) -> None:
    """The resume restores torch's random stream, and nothing draws from it before the next step
    any more: the loader's iter() (its workers' base seed), the LPIPS loss and the LPIPS metric,
    built afresh in the new process, did; dropout then drew other masks than an uninterrupted run."""
    from zoo.cli import main

    def run(out: Path, *extra: str) -> int:
        argv = _cli(data, out, "stages.pretrain.losses.lpips=0.5",
                    'validation.metrics=["psnr", "lpips_alex"]', *extra)
        return main([argv[0], DROPOUT, *argv[2:]])

    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert run(whole, "max_steps=12") == 0
    assert run(resumed, "max_steps=5") == 0
    assert run(resumed, "max_steps=12", "--resume") == 0
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        if not key.startswith("rng."):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("keep", [2, 1])
def test_a_validation_at_a_stop_is_taken_back_by_the_resume(
        data: tuple[Path, Path], tmp_path: Path, keep: int, capsys: pytest.CaptureFixture[str]) -> None:
    """A run stopped off the validation schedule (max_steps=5) is scored there for its export;
    the resume takes that validation back (an uninterrupted run made none there), so that its
    selection, val.csv and export are the uninterrupted run's. With one checkpoint kept, the
    best file from before the stop is named by no checkpoint's own best: it must be kept too."""
    from zoo.cli import main

    recipe = ('select.stages=["pretrain"]', "stages.pretrain.lr=3e-3", "select.mode=min",
              f"checkpoint.keep={keep}")
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    assert main(_cli(data, whole, *recipe, "max_steps=12")) == 0
    assert main(_cli(data, stopped, *recipe, "max_steps=5")) == 0
    assert [row[0] for row in (line.split(",") for line in
                               (stopped / "val.csv").read_text().splitlines()[1:])][-1] == "5"
    capsys.readouterr()
    assert main(_cli(data, stopped, *recipe, "max_steps=12", "--resume")) == 0
    assert "is missing" not in capsys.readouterr().err  # the best from before the stop was kept
    assert (whole / "val.csv").read_text() == (stopped / "val.csv").read_text()
    assert _meta(whole, 12)["best"] == _meta(stopped, 12)["best"]
    assert ((whole / "export" / "model.safetensors").read_bytes()
            == (stopped / "export" / "model.safetensors").read_bytes())


def test_a_resume_in_the_gan_phase_goes_on_with_its_switcher(data: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    """Fixed switching, 3 critic steps then 1 generator step: C C C G C | C C G. Stopped at step
    5, one critic step into a round, the resume takes the two left, then the generator's."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    out = tmp_path / "run"
    gan = [f'data.train=["{data[0]}"]', 'data.val=""', "stages.pretrain.steps=0",
           "stages.critic.steps=0", 'stages.gan.switching="fixed"', "stages.gan.critic_steps=3"]
    Trainer(TINY, load_recipe(TINY_RECIPE, [*gan, "max_steps=5"]), out, progress=False).run()
    assert _meta(out, 5)["switcher"] == {"mode": "critic", "count": 1,
                                         "history": {"critic": 4, "generator": 1}}
    with pytest.warns(UserWarning, match="resuming with a changed recipe: max_steps: 5 -> 0"):
        Trainer(TINY, load_recipe(TINY_RECIPE, gan), out, resume=True, progress=False).run()
    assert _meta(out, 8)["switcher"] == {"mode": "critic", "count": 0,
                                         "history": {"critic": 6, "generator": 2}}


def test_a_resume_on_other_training_images_says_so(data: tuple[Path, Path], tmp_path: Path,  # noqa: F811
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """An image added to (or taken from) the training folder between a stop and its resume
    changed the samples from there on without a word (a training auditor's); the same images
    in a moved folder are the same images."""
    import shutil

    from zoo.cli import main

    train = tmp_path / "train"
    shutil.copytree(data[0], train)
    out = tmp_path / "run"
    assert main(_cli((train, data[1]), out, "--max-steps", "4")) == 0
    moved = tmp_path / "moved"
    train.rename(moved)
    capsys.readouterr()
    assert main(_cli((moved, data[1]), out, "--resume", "--max-steps", "5")) == 0
    assert "other training images" not in capsys.readouterr().err
    shutil.copy(next((moved / "a").glob("*.png")), moved / "a" / "extra.png")
    assert main(_cli((moved, data[1]), out, "--resume", "--max-steps", "6")) == 0
    assert ("warning: resuming step-00000005 on other training images than it was saved with (6 "
            "then, 7 now, or changed files): the samples from here differ from those of an "
            "uninterrupted run") in capsys.readouterr().err
