"""The training's small parts on their own: losses, one generator or critic step, the lr
schedule, the GAN phase's switcher, the batch sampler, the selected stages and folder writes.
Scalar networks whose gradients are worked out by hand; no training run."""

from __future__ import annotations

import contextlib
import io
import errno
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zoo.errors import ZooError
from zoo.train.distributed import Dist
from zoo.train.losses import GeneratorLoss, critic_loss, generator_adversarial_loss
from zoo.train.recipe import Stage, load_recipe
from zoo.train.stages import StepContext, Switcher, critic_step, generator_step, lr_factor

from test_train import TINY_RECIPE

CPU = torch.device("cpu")


class Gain(nn.Module):
    """``w * x`` with a scalar ``w``."""

    def __init__(self, w: float = 0.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x


class MeanCritic(Gain):
    """One logit per image: ``w * mean(x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x.mean(dim=(1, 2, 3))


class Encoded(nn.Module):
    """``head(encoder(x))``, both gains of 1: an encoder to freeze."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.head = Gain(1.0), Gain(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def _context(generator: nn.Module, critic: nn.Module | None = None,
             encoder: nn.Module | None = None) -> StepContext:
    return StepContext(generator=generator, generator_raw=generator, autocast=contextlib.nullcontext,
                       scaler=None, critic=critic, critic_raw=critic, encoder=encoder)


def _batch(target: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of ones and a target of ``target`` everywhere."""
    return torch.ones(2, 3, 4, 4), torch.full((2, 3, 4, 4), target)


# --- losses ----------------------------------------------------------------------------------------

def test_the_adversarial_losses_take_real_as_one_and_fake_as_zero() -> None:
    """BCE with logits: a logit of 10 for "real" costs log(1 + e^-10) (4.5e-5; float32 computes
    it to about 1e-6), one of -10 for "fake" the same; each is a mean over the logits."""
    small = pytest.approx(math.log1p(math.exp(-10)), abs=1e-6)
    assert float(generator_adversarial_loss(torch.full((4,), 10.0))) == small
    assert float(generator_adversarial_loss(torch.tensor([10.0, -10.0]))) == pytest.approx(
        (2 * math.log1p(math.exp(-10)) + 10) / 2, abs=1e-6)
    assert float(critic_loss(torch.full((4,), 10.0), torch.full((4,), -10.0))) == small


def test_the_generator_loss_weighs_its_terms_by_the_recipe() -> None:
    """Each term times its weight; a weight of 0 drops the term (no LPIPS network is built)."""
    loss = GeneratorLoss({"l1": 2.0, "lpips": 0.0, "adversarial": 0.5}, "vgg", CPU)
    assert loss.lpips is None
    total, parts = loss(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8), torch.zeros(4))
    assert set(parts) == {"l1", "adversarial"} and float(parts["l1"]) == 1.0
    assert float(total) == pytest.approx(2.0 * 1.0 + 0.5 * math.log(2))


def test_the_generator_loss_in_train_mode_leaves_the_metric_s_lpips_network_in_eval() -> None:
    """The loss holds the process's cached LPIPS network, which the lpips_* metrics score with:
    a ``loss.train()`` turned its dropout on, and the metric's value on one pair varied."""
    from zoo.metrics import METRICS
    from zoo.metrics.lpips_weights import lpips_model

    loss = GeneratorLoss({"lpips": 1.0}, "alex", CPU)
    assert loss.lpips is lpips_model("alex", "cpu")  # shared: why train mode must not reach it
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2))
    before = METRICS["lpips_alex"](a, b)
    assert loss.train() is loss and loss.training and not loss.lpips.training
    assert not any(m.training for m in loss.lpips.modules())
    assert [METRICS["lpips_alex"](a, b) for _ in range(3)] == [before] * 3
    assert loss.eval() is loss and not loss.training and not loss.lpips.training


# --- steps -----------------------------------------------------------------------------------------

def test_a_gan_generator_step_adds_the_weighted_adversarial_term() -> None:
    """Prediction 0 against a target of 1 (L1 1) and a critic logit of 0 (BCE log 2)."""
    stage = Stage(kind="gan", steps=10, losses={"l1": 1.5, "adversarial": 1.0})
    gen, critic = Gain(0.0), MeanCritic(0.0)
    values = generator_step(_context(gen, critic), _batch(1.0), stage, 0,
                            GeneratorLoss(stage.losses, stage.lpips_net, CPU),
                            torch.optim.SGD(gen.parameters(), lr=0.1))
    assert set(values) == {"loss", "l1", "adversarial"}
    assert float(values["adversarial"]) == pytest.approx(math.log(2))
    assert float(values["loss"]) == pytest.approx(1.5 * 1.0 + 1.0 * math.log(2))
    assert critic.w.grad is None and critic.w.requires_grad  # the critic is left as it was


def test_a_critic_step_raises_the_real_logits() -> None:
    """Real patches of ones, fakes of zeros, logits ``w * mean``: at w = 0 the loss
    (softplus(-w) + softplus(0)) / 2 has slope -1/4, so one SGD step of lr 1 gives w = 1/4."""
    stage = Stage(kind="gan", steps=10)
    critic = MeanCritic(0.0)
    values = critic_step(_context(Gain(0.0), critic), _batch(1.0), stage,
                         torch.optim.SGD(critic.parameters(), lr=1.0))
    assert float(values["critic"]) == pytest.approx(math.log(2))
    assert critic.w.item() == pytest.approx(0.25)


def test_grad_clip_caps_the_gradient_norm() -> None:
    """L1 of ``w * 1`` against 2 has slope -1 at w = 0: clipped to 0.25, SGD of lr 1 moves w by
    0.25 (by 1 unclipped)."""
    gen = Gain(0.0)
    stage = Stage(kind="generator", steps=10, losses={"l1": 1.0}, grad_clip=0.25)
    generator_step(_context(gen), _batch(2.0), stage, 0, GeneratorLoss(stage.losses, "vgg", CPU),
                   torch.optim.SGD(gen.parameters(), lr=1.0))
    assert gen.w.item() == pytest.approx(0.25)


def test_the_encoder_trains_from_step_freeze_encoder_steps_on() -> None:
    """With freeze_encoder_steps=3, stage steps 0..2 leave the encoder, step 3 trains it."""
    gen = Encoded()
    stage = Stage(kind="generator", steps=10, losses={"l1": 1.0}, freeze_encoder_steps=3)
    loss_fn, opt = GeneratorLoss(stage.losses, "vgg", CPU), torch.optim.SGD(gen.parameters(), lr=0.1)
    ctx = _context(gen, encoder=gen.encoder)
    generator_step(ctx, _batch(2.0), stage, 2, loss_fn, opt)
    assert gen.encoder.w.item() == 1.0 and gen.head.w.item() != 1.0
    generator_step(ctx, _batch(2.0), stage, 3, loss_fn, opt)
    assert gen.encoder.w.item() != 1.0


# --- the lr schedule and the switcher --------------------------------------------------------------

def test_lr_factor_warms_up_linearly_then_follows_the_cosine_to_final_lr_ratio() -> None:
    """10 steps, 2 of warmup: 1/2, 2/2, then 0.1 + 0.9 * (1 + cos(pi * (s - 2) / 8)) / 2."""
    stage = Stage(kind="generator", steps=10, warmup_steps=2, final_lr_ratio=0.1)
    expected = {0: 0.5, 1: 1.0, 2: 1.0, 4: 0.1 + 0.45 * (1 + math.sqrt(0.5)), 6: 0.55, 10: 0.1,
                12: 0.1}
    assert {s: lr_factor(stage, s) for s in expected} == pytest.approx(expected)
    constant = Stage(kind="generator", steps=10, warmup_steps=2, schedule="constant")
    assert [lr_factor(constant, s) for s in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 1.0]


def test_fixed_switching_takes_critic_steps_then_generator_steps() -> None:
    stage = Stage(kind="gan", steps=10, switching="fixed", critic_steps=3, generator_steps=2)
    switcher, modes = Switcher(), []
    for _ in range(10):
        modes.append(switcher.next())
        switcher.done(stage, Dist(), torch.tensor(1.0))
    assert "".join(m[0] for m in modes) == "cccggcccgg"
    assert switcher.state() == {"mode": "critic", "count": 0, "history": {"critic": 6, "generator": 4}}


# --- data, selection, files ------------------------------------------------------------------------

def test_the_ranks_share_each_step_s_global_batch() -> None:
    """Batch 2 on each of 2 ranks: step s takes positions 4s..4s+3, each once."""
    from zoo.train.data import StepBatchSampler

    batches = []
    for rank in (0, 1):
        sampler = iter(StepBatchSampler(2, 0, rank=rank, world=2))
        batches.append([next(sampler) for _ in range(3)])
    for step in range(3):
        assert sorted(batches[0][step] + batches[1][step]) == list(range(4 * step, 4 * step + 4))
    assert next(iter(StepBatchSampler(2, start=6))) == [6, 7]


def test_a_resume_with_another_process_count_or_batch_takes_the_next_samples() -> None:
    """Positions were (step x world + rank) x batch: a run of 2 processes resumed by 1 took
    positions it had trained on again (and 1 resumed by 2 skipped some). From the samples
    taken so far, every position is taken once, whatever the processes and batch."""
    from zoo.train.data import StepBatchSampler

    taken: list[int] = []
    for rank in (0, 1):  # steps 1-3: 2 processes of batch 2
        sampler = iter(StepBatchSampler(2, 0, rank=rank, world=2))
        taken += [i for _ in range(3) for i in next(sampler)]
    one = iter(StepBatchSampler(2, 12))  # steps 4-5 resumed by 1 process, batch 2
    taken += [i for _ in range(2) for i in next(one)]
    for rank in (0, 1):  # steps 6-7: 2 processes of batch 3
        sampler = iter(StepBatchSampler(3, 16, rank=rank, world=2))
        taken += [i for _ in range(2) for i in next(sampler)]
    assert sorted(taken) == list(range(28))


def test_without_select_stages_the_last_stage_is_selected(tmp_path: Path) -> None:
    from zoo.train.selection import Selection

    for stages, selected in (("[]", ["gan"]), ('["pretrain", "gan"]', ["pretrain", "gan"])):
        recipe = load_recipe(TINY_RECIPE, ['data.train=["."]', f"select.stages={stages}"],
                             check_data=False)
        assert Selection(recipe, tmp_path, CPU).stages == selected


def test_a_folder_write_that_fails_at_the_rename_keeps_the_old_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new folder cannot be renamed into place (after the old one was moved aside): the old
    one is put back whole, and no temporary folder is left."""
    from zoo.train import files

    final = tmp_path / "export"
    final.mkdir()
    (final / "a").write_text("old")
    replace = os.replace

    def full_disk(src: Path, dst: Path) -> None:
        if Path(src).name.startswith(".tmp-export-"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(src, dst)

    monkeypatch.setattr(files.os, "replace", full_disk)
    with pytest.raises(ZooError, match=r"export: cannot write the export \(No space left on device\)"):
        files.write_folder(final, "the export", lambda tmp: (tmp / "b").write_text("new"))
    assert {p.name: p.read_text() for p in final.iterdir()} == {"a": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def _record_cpu_sides(net: nn.Module, sides: list[int]) -> None:
    """Note the side of each forward of ``net`` (or a copy of it) on real tensors."""
    def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if args[0].device.type != "meta":
            sides.append(args[0].shape[-1])
    net.register_forward_pre_hook(hook)


def test_a_large_patch_is_checked_without_a_real_forward_at_its_size() -> None:
    """A mistyped data.patch=4000 is checked in a blink on the meta device: no CPU forward (of
    seconds and gigabytes) at that size."""
    from zoo.train.fits import check_patch

    from test_train import TinyCritic, TinyNet

    recipe = load_recipe(TINY_RECIPE, ['data.train=["."]', "data.patch=4000"], check_data=False)
    generator, critic, sides = TinyNet(), TinyCritic(), []
    for net in (generator, critic):
        _record_cpu_sides(net, sides)
    check_patch(recipe, "tiny", generator, critic)
    assert 4000 not in sides


def test_a_network_that_meta_cannot_run_is_checked_on_real_tensors() -> None:
    """Where the meta device raises (here ``.item()``), the real forward decides: it runs."""
    from zoo.train.fits import check_patch

    from test_train import TinyNet

    class Reads(TinyNet):
        def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
            return x * float(x.mean().item() == 0)

    recipe = load_recipe(TINY_RECIPE, ['data.train=["."]', "data.patch=16"], check_data=False)
    generator, sides = Reads(), []
    _record_cpu_sides(generator, sides)
    check_patch(recipe, "tiny", generator, None)
    assert sides == [16]


def test_a_forward_that_breaks_the_output_contract_is_said_as_it_is() -> None:
    """Not "data.patch must be at least ..." nor "check its arguments": no side would run."""
    from zoo.models.base import ModelContractError
    from zoo.train.fits import check_patch

    from test_train import TinyNet

    class Cropping(TinyNet):
        def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward_padded(x)[..., 1:-1, 1:-1]

    recipe = load_recipe(TINY_RECIPE, ['data.train=["."]', "data.patch=16"], check_data=False)
    with pytest.raises(ModelContractError, match=r"^Cropping: forward_padded returned a tensor "
                                                 r"of shape \(2, 3, 14, 14\) for an input of "
                                                 r"shape \(2, 3, 16, 16\); it must return "):
        check_patch(recipe, "tiny", Cropping(), None)


def test_a_generator_without_trainable_parameters_is_refused_naming_the_entry() -> None:
    from zoo.train.fits import check_trainable

    from test_train import TinyNet

    with pytest.raises(ZooError, match=r"^model 'x' has no trainable parameters: there is "):
        check_trainable("x", nn.Identity())
    frozen = TinyNet().requires_grad_(False)
    with pytest.raises(ZooError, match="^model 'x' has no trainable parameters"):
        check_trainable("x", frozen)
    check_trainable("x", TinyNet())


def _run_log_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                    *, progress: bool, log_every: int = 2, stop: int | None = None) -> list[str]:
    """What a RunLog prints outside a terminal for the gan stage's 8 steps, 10 s each, with
    the losses logged every ``log_every`` steps."""
    from zoo.train import logs

    clock = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    recipe = load_recipe(TINY_RECIPE, ['data.train=["."]', f"log_every={log_every}"], check_data=False)
    values = {"loss": 0.25, "l1": 0.125, "adversarial": 0.5, "critic": 1.5}
    with logs.RunLog(tmp_path, recipe, enabled=True, progress=progress, resume_step=None) as log:
        log.start_stage(recipe.stages["gan"], 0, stop)
        for step in range(1, (stop or 8) + 1):
            clock[0] += 10.0
            log.train(step, "gan", "generator", 1e-4, values, 2)
    return capsys.readouterr().err.splitlines()


def test_the_progress_s_eta_is_the_time_budget_s_when_that_ends_the_stage_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The deadline a stage starts with reaches the plain lines and the bar (a mutation audit:
    dropping it on the way to either went unnoticed)."""
    import rich.console

    from zoo.train import logs

    clock = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    recipe = load_recipe(TINY_RECIPE, ['data.train=["."]', "log_every=4"], check_data=False)
    values = {"loss": 0.25}
    with logs.RunLog(tmp_path, recipe, enabled=True, progress=True, resume_step=None) as log:
        log.start_stage(recipe.stages["gan"], 0, None, "the stage's max_minutes (1 min)", 160.0)
        for step in range(1, 5):
            clock[0] += 10.0
            log.train(step, "gan", "generator", 1e-4, values, 2)
    lines = capsys.readouterr().err.splitlines()
    # 4 of 8 steps in 40 s: 40 s more by the steps, but the budget ends in 20 s
    assert lines[-1] == "gan (gan) step 4/8, 0:00:40 elapsed, ETA 0:00:20 (time budget); loss 0.2500"
    monkeypatch.setattr(logs, "console", lambda **options: rich.console.Console(
        force_terminal=True, force_interactive=True, file=io.StringIO()))
    with logs.RunLog(tmp_path / "bar", recipe, enabled=True, progress=True, resume_step=None) as log:
        log.start_stage(recipe.stages["gan"], 0, None, "x", 160.0)
        task = log.progress.tasks[-1]
        assert task.fields["deadline"] == 160.0
        assert any(isinstance(c, logs.BudgetedRemainingColumn) for c in log.progress.columns)


def test_progress_outside_a_terminal_is_whole_plain_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A log file or a pipe gets the bar's information as plain lines, none cut to 80 columns:
    at a logged step at least 30 s after the last line, and at the stage's last step."""
    lines = _run_log_output(tmp_path, monkeypatch, capsys, progress=True)
    losses = "loss 0.2500 l1 0.1250 adversarial 0.5000 critic 1.5000"
    assert lines == ["stage gan (gan): 8 steps",
                     f"gan (gan) step 4/8, 0:00:40 elapsed, ETA 0:00:40; {losses}",
                     f"gan (gan) step 8/8, 0:01:20 elapsed, ETA 0:00:00; {losses}"]
    # A last step that is not a logged one still gets its line (it had none).
    lines = _run_log_output(tmp_path, monkeypatch, capsys, progress=True, log_every=3)
    assert lines[1:] == [f"gan (gan) step 3/8, 0:00:30 elapsed, ETA 0:00:50; {losses}",
                         f"gan (gan) step 6/8, 0:01:00 elapsed, ETA 0:00:20; {losses}",
                         "gan (gan) step 8/8, 0:01:20 elapsed, ETA 0:00:00"]


def test_a_run_that_max_steps_stops_inside_a_stage_counts_to_that_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The bar's total and ETA are this run's (step 4 of the stage's 8), and the first line says
    so; counting to the stage's 8 gave an ETA for steps the run never takes."""
    lines = _run_log_output(tmp_path, monkeypatch, capsys, progress=True, stop=4)
    assert lines == ["stage gan (gan): 8 steps; this run stops at its step 4 (max_steps)",
                     "gan (gan) step 4/4, 0:00:40 elapsed, ETA 0:00:00; loss 0.2500 l1 0.1250 "
                     "adversarial 0.5000 critic 1.5000"]


def test_without_progress_a_stage_still_says_that_it_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_log_output(tmp_path, monkeypatch, capsys, progress=False) == ["stage gan (gan): 8 steps"]


def test_a_worker_terminated_alone_is_said_to_be_killed_not_short_of_shared_memory() -> None:
    """A worker's SIGTERM that the run did not get (someone killed only the worker)."""
    from zoo.train.data import loader_failure

    failure = loader_failure(RuntimeError("DataLoader worker (pid 7) is killed by signal: Terminated. "))
    assert failure is not None and "killed by the system (out of memory?) or by hand" in str(failure)
    assert "/dev/shm" not in str(failure)


def test_a_failed_loader_leaves_its_dead_workers_unreported() -> None:
    """torch's SIGCHLD handler raised the dead worker again while `zoo train` printed the loader's
    one-line error: "RuntimeError: DataLoader worker (pid 30695) is killed by signal" and a
    traceback, status 1 instead of 2 (seen under load)."""
    import signal

    from zoo.errors import ZooError
    from zoo.train.data import next_batch

    def torch_like(signum: int, frame: object) -> None:
        raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Terminated.")

    def gone() -> Iterator[list]:
        raise ConnectionResetError(104, "Connection reset by peer")
        yield []

    previous = signal.signal(signal.SIGCHLD, torch_like)
    try:
        with pytest.raises(ZooError, match=r"DataLoader worker gone while handing a batch over: "
                                           r"Connection reset by peer"):
            next_batch(gone())
        handler = signal.getsignal(signal.SIGCHLD)
        assert callable(handler) and handler is not torch_like
        handler(signal.SIGCHLD, None)  # does nothing
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_a_resumed_run_s_deadline_counts_the_time_it_has_already_trained() -> None:
    """A resume starts its clocks again: the run's and the stage's earlier minutes must come off
    their budgets, or the ETA claims the whole budget is left (a mutation audit)."""
    import time
    from types import SimpleNamespace

    from zoo.train.loop import Trainer

    now = time.monotonic()
    stage = Stage(kind="generator", steps=10, max_minutes=50.0)
    trainer = SimpleNamespace(recipe=SimpleNamespace(max_minutes=60.0), stage_elapsed=40 * 60.0,
                              _stage_t0=now, _elapsed=lambda: 30 * 60.0)
    trainer._stage_seconds = lambda: Trainer._stage_seconds(trainer)
    left = Trainer._deadline(trainer, stage) - time.monotonic()
    assert 9 * 60 < left <= 10 * 60  # the stage's 50 minutes, 40 of them spent before the resume
    trainer.stage_elapsed = 0.0
    left = Trainer._deadline(trainer, stage) - time.monotonic()
    assert 29 * 60 < left <= 30 * 60  # the run's 60 minutes, 30 spent
    trainer.recipe.max_minutes, stage.max_minutes = 0.0, 0.0
    assert Trainer._deadline(trainer, stage) is None


def test_a_failed_write_names_the_newest_checkpoint_to_resume_from(tmp_path: Path) -> None:
    """Not whichever the folder listing gives first (a mutation audit), and not one at all
    before any was saved."""
    from zoo.train.files import write_failure

    full = OSError(errno.ENOSPC, "No space left on device")
    (tmp_path / "checkpoints").mkdir()
    assert str(write_failure(tmp_path / "train.csv", "the log", full)).endswith(
        "no checkpoint was saved yet: once it can be written, run the command again")
    for step in ("step-00000100", "step-00000020", ".tmp-step-00000200-7"):
        (tmp_path / "checkpoints" / step).mkdir()
    for path in (tmp_path / "train.csv", tmp_path / "checkpoints" / "step-00000120"):
        assert str(write_failure(path, "it", full)).endswith(
            "once it can be written, --resume continues from the last checkpoint (step-00000100)")


def test_training_qualities_are_drawn_from_both_ends_of_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """``data.quality = [lo, hi]`` includes hi: a mutant drawing from [lo, hi) passed every test
    (a recipe's [5, 40] would never have trained at 40)."""
    import zoo.train.data as data

    seen: list[int] = []

    def record(image: np.ndarray, quality: int) -> np.ndarray:
        seen.append(quality)
        return image

    monkeypatch.setattr(data, "jpeg_roundtrip", record)
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    for grey_fraction in (0.0, 1.0):
        seen.clear()
        samples = data.PatchDataset([image], data.Augment(16, (10, 12), grey_fraction), seed=3)
        for position in range(90):
            samples[position]
        assert sorted(set(seen)) == [10, 11, 12], (grey_fraction, sorted(set(seen)))
