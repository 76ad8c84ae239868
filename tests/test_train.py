"""The training harness: recipes, data determinism, each entry, resume after SIGKILL, torn
checkpoints, a 2-process DDP run, export. CPU only, generated images, seconds each."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from zoo.errors import RecipeError
from zoo.models.base import Restorer
from zoo.models.critic import register_critic
from zoo.registry import ModelInfo, get_model_info, list_models, register_architecture, register_model

if TYPE_CHECKING:
    from zoo.train.data import ValidationSet

TESTS = Path(__file__).resolve().parent
TINY_RECIPE = TESTS / "train_tiny.toml"
TINY = "tiny-train-test"


# --- a tiny generator and critic (registered here, and in the subprocesses through PYTHONPATH) ---

class TinyNet(Restorer):
    """Residual conv net with an ``encoder`` (so encoder freezing is exercised) and a BatchNorm;
    ``gain`` is an argument that leaves the tensors' shapes alone."""

    def __init__(self, width: int = 8, gain: float = 0.1) -> None:
        super().__init__(width=width, gain=gain)
        self.gain = gain
        self.encoder = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.head = nn.Conv2d(width, 3, 3, padding=1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.gain * self.head(self.encoder(x))).clamp(0, 1)


@register_critic
class TinyCritic(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.config = {"width": width}
        self.net = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, width, 4, 2, 1)),
                                 nn.LeakyReLU(0.2), nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def register_tiny() -> None:
    try:
        get_model_info(TINY)
    except KeyError:
        register_architecture(TinyNet)
        register_model(ModelInfo(name=TINY, description="test net", architecture="TinyNet",
                                 arch_args={"width": 8}))


register_tiny()


# --- fixtures --------------------------------------------------------------------------------------

def _write_images(folder: Path, n: int, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = size
        yy, xx = np.mgrid[0:h, 0:w]
        base = (np.sin(xx / (3 + i)) + np.cos(yy / (4 + i))) * 60 + 128
        img = np.clip(base[..., None] + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train-data")
    _write_images(root / "train" / "a", 4, (40, 48), 0)
    _write_images(root / "train" / "b", 2, (64, 36), 1)
    (root / "train" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    _write_images(root / "val", 2, (40, 40), 2)
    return root / "train", root / "val"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return env


LAUNCH = ("import sys, test_train; test_train.register_tiny(); import torch; torch.set_num_threads(1); "
          "from zoo.cli import main; sys.exit(main(sys.argv[1:]))")


def _cli(data: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    return ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(data[0]), "--val", str(data[1]),
            "--out", str(out), "--no-progress", *extra]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    from zoo.train.checkpoint import latest_checkpoint

    found = latest_checkpoint(out / "checkpoints")
    assert found is not None
    return found[1]


# --- recipes ---------------------------------------------------------------------------------------

def test_shipped_recipes_validate(data: tuple[Path, Path]) -> None:
    from zoo.train.recipe import load_recipe, recipe_path

    for name in list_models(trainable=True):
        recipe = load_recipe(recipe_path(get_model_info(name).recipe),
                             [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"'])
        assert recipe.stages and recipe.total_steps > 0


@pytest.mark.parametrize(("override", "message"), [
    ("stages.pretrain.stepz=3", "unknown key 'stages.pretrain.stepz'"),
    ("data.patch=\"big\"", "data.patch must be an integer"),
    ("stages.gan.switching=\"sometimes\"", "stages.gan.switching must be one of"),
    ("stages.pretrain.losses.adversarial=1.0", "not a loss of a generator stage"),
    ("data.quality=[50, 10]", "data.quality must be [lo, hi]"),
    ("data.quality=[0, 10]", "data.quality must be [lo, hi] with 1 <= lo"),
    ("stages.extra.steps=3", "missing key 'stages.extra.kind'"),
    ("stages.pretrian.lr=1", "stages.pretrian is not one of the recipe's stages, pretrain, critic, gan"),
    (f'data.train=["{TINY_RECIPE}"]', f"'{TINY_RECIPE}' is a file, not a folder of images"),
    ("select.metric=\"lpips_alex\"", "select.metric 'lpips_alex' is not in validation.metrics"),
    ("model.init=\"no/such.safetensors\"", "model.init 'no/such.safetensors' is neither"),
    ("select.not_worse_than_input=[\"lpips_alex\"]", "'lpips_alex' is not in validation.metrics"),
    ("max_steps=-1", "max_steps must be >= 0"),
    ("max_minutes=-1", "max_minutes must be >= 0"),
    ("stages.pretrain.max_minutes=-2", "stages.pretrain.max_minutes must be >= 0"),
    ("data.cache_mb=-1", "data.cache_mb must be >= 0"),
    # Each of these was a traceback at step 1, or trained on quietly with a wrong meaning.
    ("seed=-1", "seed must be an integer in 0..4294967295, got -1"),
    ("seed=4294967296", "seed must be an integer in 0..4294967295"),
    ("stages.pretrain.weight_decay=-1", "stages.pretrain.weight_decay must be >= 0"),
    ("stages.gan.critic_lr_mult=-1", "stages.gan.critic_lr_mult must be > 0"),
    ("stages.pretrain.final_lr_ratio=-1", "stages.pretrain.final_lr_ratio must be in [0, 1]"),
    ("stages.pretrain.grad_clip=-1", "stages.pretrain.grad_clip must be >= 0 (0: no clipping)"),
    ("validation.max_images=-1", "validation.max_images must be >= 0 (0: all)"),
    ("log_every=0", "log_every must be at least 1"),
    # Passed "> 0", then diverged at step 1 with a run folder written (a training auditor's).
    ("stages.pretrain.lr=inf", "stages.pretrain.lr must be a finite number, got inf"),
    ("stages.gan.losses.lpips=1e400", "stages.gan.losses.lpips must be a finite number, got inf"),
    ("stages.pretrain.betas=[0.9, -inf]", "stages.pretrain.betas must be a finite number, got -inf"),
])
def test_recipe_errors(data: tuple[Path, Path], override: str, message: str) -> None:
    from zoo.train.recipe import load_recipe

    with pytest.raises(RecipeError) as err:
        load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', override])
    # The error names the override that set the key, not the recipe file it overrode.
    assert str(err.value).startswith(f"override {override}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_warmup_longer_than_its_stage_is_warned_about_once(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A tiny trial run (steps=2 against the recipe's warmup) never reached the recipe's lr,
    silently; a resume that gives the stage its steps is not warned about the saved ones."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "stages.pretrain.warmup_steps=8", "stages.pretrain.steps=2",
                     "max_steps=1")) == 0
    note = ("warning: stages.pretrain.warmup_steps=8 is more than its steps=2: its lr rises for "
            "the whole stage and ends at 25% of stages.pretrain.lr\n")
    assert capsys.readouterr().err.count(note) == 1
    assert main(["train", TINY, "--out", str(out), "--resume", "--no-progress",
                 "stages.pretrain.steps=8", "max_steps=2"]) == 0
    assert "warmup_steps" not in capsys.readouterr().err  # 8 of 8: its last step reaches lr


def test_recipe_errors_name_the_option_or_file_that_set_the_key(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad value from a command-line option names the option as given; one from the recipe
    file names the file, even when overrides set other keys."""
    from zoo.cli import main

    for extra, message in ((["--max-steps", "-3"], "--max-steps -3: max_steps must be >= 0"),
                           (["--max-minutes", "-1"], "--max-minutes -1: max_minutes must be >= 0"),
                           (["--device", "gpu"], "--device gpu: device 'gpu': not a torch device"),
                           (["--device", ""], "--device '': device '': not a device; use 'cpu', "
                                              "'cuda', 'cuda:N', 'mps' or 'auto'"),  # an unset variable
                           (["--val", str(tmp_path / "nope")], f"--val '{tmp_path / 'nope'}': data.val "
                                                               "folder"),
                           (["stages.gan.lr=0"], "override stages.gan.lr=0: stages.gan.lr must be > 0")):
        assert main(_cli(data, tmp_path / "run", *extra)) == 2
        assert f"error: {message}" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_RECIPE.read_text().replace("lr = 1e-4", "lr = -1.0"))
    assert main([*_cli(data, tmp_path / "run", "stages.pretrain.lr=0.01"), "--recipe", str(bad)]) == 2
    assert f"error: {bad}: stages.gan.lr must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_missing_name_says_so(data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """``--data DIR...`` takes the NAME after it as a folder: the error says to give NAME first
    (argparse alone said the overrides were required too)."""
    from zoo.cli import main

    for argv, hint in ((["train"], False), (["train", "--data", str(data[0]), TINY], True)):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "error: NAME is missing" in err and "KEY=VALUE is" not in err
        assert ("give NAME before --data" in err) == hint


@pytest.mark.parametrize(("overrides", "message"), [
    (["data.patch=8"], "data.patch must be at least 16 for the LPIPS-vgg loss of stages.pretrain, got 8"),
    (["data.patch=24", 'stages.pretrain.lpips_net="alex"'],
     "data.patch must be at least 31 for the LPIPS-alex loss of stages.pretrain, got 24"),
])
def test_patch_too_small_for_the_lpips_loss(data: tuple[Path, Path], overrides: list[str],
                                            message: str) -> None:
    """The backbone's max-pools would fail at the first step; the recipe check says so up front."""
    from zoo.train.recipe import load_recipe, recipe_path

    with pytest.raises(RecipeError, match=message):
        load_recipe(recipe_path(get_model_info("arnet-nogan").recipe),
                    [f'data.train=["{data[0]}"]', *overrides])


@pytest.mark.parametrize(("overrides", "message"), [
    # At batch 1 the batch norm after the 1/32-scale encoder stage needs more than a 1x1 map.
    (["data.batch=1", "data.patch=32"],
     "data.patch must be at least 40 for the generator of 'arnet-nogan' with data.batch=1, got 32 "
     "(a training step fails: Expected more than 1 value per channel"),
    # Five stride-2 4x4 convs: 16 px become 1 px after four.
    (["critic.args={nf=8, n_layers=5}", "data.patch=16"],
     "data.patch must be at least 32 for the critic zoo.models.critic:PatchCritic, got 16 "
     "(a training step fails: "),
    # No patch up to 512 px fits twenty stride-2 convs: refused with the network's reason.
    (["critic.args={nf=8, n_layers=20}", "data.patch=16"],
     "a training step of the critic zoo.models.critic:PatchCritic fails at data.patch=16 and "
     "still at 512 ("),
])
def test_patch_too_small_for_the_networks(data: tuple[Path, Path], tmp_path: Path, overrides: list[str],
                                          message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A patch on which a generator or critic step fails is refused in one line before training,
    with the smallest patch that runs; the next multiple of 8 up trains."""
    from zoo.cli import main
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe, recipe_path

    short = ["stages.pretrain.steps=1", "stages.critic.steps=1", "stages.gan.steps=1", "data.workers=0"]
    code = main(["train", "arnet-nogan", "--data", str(data[0]), "--val", "", "--out", str(tmp_path / "run"),
                 "--no-progress", *short, *overrides])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and any(message in line for line in err.splitlines()), err
    assert not (tmp_path / "run").exists()
    if "at least" not in message:
        return
    smallest = int(message.split("at least ")[1].split()[0])
    path = recipe_path(get_model_info("arnet-nogan").recipe)
    fixed = [f'data.train=["{data[0]}"]', 'data.val=""', *overrides[:-1], f"data.patch={smallest}"]
    Trainer("arnet-nogan", load_recipe(path, fixed), tmp_path / "run", progress=False).build()


def test_the_patch_check_leaves_the_networks_and_the_random_state_alone() -> None:
    """The patch check runs copies (batch-norm statistics, spectral-norm vectors and the random
    state stay as they were); a network that fails at every size is refused in one line with its
    own reason, before anything is written, rather than failing at the first step."""
    from zoo.registry import create_model
    from zoo.train.fits import check_patch
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, ['data.train=["."]'], check_data=False)
    generator, critic = create_model(TINY), TinyCritic()
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in (generator, critic)]
    rng = torch.get_rng_state()
    check_patch(recipe, TINY, generator, critic)
    assert torch.equal(torch.get_rng_state(), rng)
    for net, state in zip((generator, critic), before):
        assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())

    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("a bug, at any size")

    with pytest.raises(RecipeError, match=r"a training step of the critic test_train:TinyCritic fails "
                                          r"at data.patch=16 and still at 512 \(a bug, at any size\); "
                                          r"check its arguments \(critic.args\)$"):
        check_patch(recipe, TINY, generator, Broken())


def test_missing_data_folder_is_a_recipe_error(tmp_path: Path) -> None:
    from zoo.cli import main

    code = main(["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert not (tmp_path / "run").exists()


# --- data ------------------------------------------------------------------------------------------

def test_patches_are_deterministic_and_sharded(data: tuple[Path, Path]) -> None:
    from zoo.train.data import Augment, ImageStore, PatchDataset, StepBatchSampler, make_loader

    with pytest.warns(UserWarning, match="broken.png"):
        store = ImageStore([data[0]], min_side=16)
    assert len(store) == 6
    ds = PatchDataset(store, Augment(16, (10, 40), 0.5), seed=1)
    a, b = ds[7], PatchDataset(store, Augment(16, (10, 40), 0.5), seed=1)[7]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (3, 16, 16)
    assert not torch.equal(ds[7][1], ds[8][1])
    assert not torch.equal(a[0], a[1])  # JPEG changed the patch
    with_workers = iter(make_loader(ds, StepBatchSampler(2, start=6), workers=2))
    inline = iter(make_loader(ds, StepBatchSampler(2, start=6), workers=0))
    for _ in range(2):
        assert torch.equal(next(with_workers)[0], next(inline)[0])
    r0 = next(iter(StepBatchSampler(2, 20, rank=0, world=2)))
    r1 = next(iter(StepBatchSampler(2, 20, rank=1, world=2)))
    assert not set(r0) & set(r1)


def test_full_range_grey_samples_span_0_to_255(tmp_path: Path) -> None:
    from zoo.train.data import Augment, ImageStore, PatchDataset

    folder = tmp_path / "bw"
    folder.mkdir()
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[:, 16:] = 255  # black and white halves: luma maps them to 16 and 235
    Image.fromarray(pixels).save(folder / "halves.png")
    store = ImageStore([folder], min_side=32)
    luma = PatchDataset(store, Augment(32, (90, 90), 1.0), seed=0)[3][1]
    full = PatchDataset(store, Augment(32, (90, 90), 1.0, grey_full_range=1.0), seed=0)[3][1]
    assert (int(luma.min()), int(luma.max())) == (16, 235)
    assert (int(full.min()), int(full.max())) == (0, 255)
    assert torch.equal(full[0], full[1]) and torch.equal(full[0], full[2])
    # Colour samples draw nothing more, so turning the option on leaves them as they were.
    folder = tmp_path / "colour"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)).save(folder / "noise.png")
    store = ImageStore([folder], min_side=32)
    off = PatchDataset(store, Augment(32, (10, 40), 0.5), seed=0)
    on = PatchDataset(store, Augment(32, (10, 40), 0.5, grey_full_range=1.0), seed=0)
    kinds = set()
    for position in range(12):
        (a_in, a_out), (b_in, b_out) = off[position], on[position]
        grey = torch.equal(a_out[0], a_out[1])
        kinds.add(grey)
        assert (torch.equal(a_in, b_in) and torch.equal(a_out, b_out)) != grey
    assert kinds == {True, False}


def test_grey_samples_are_grey_before_and_after_the_jpeg(tmp_path: Path) -> None:
    """A grey sample's JPEG input is the grey target's JPEG, not the colour patch's."""
    from zoo.train.data import Augment, ImageStore, PatchDataset

    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    dataset = PatchDataset(ImageStore([tmp_path], min_side=16), Augment(16, (20, 20), 1.0), seed=0)
    for position in range(4):
        for image in dataset[position]:
            assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2]), position


def test_the_recipe_s_data_settings_reach_the_data(data: tuple[Path, Path], tmp_path: Path) -> None:
    """data.quality, grey_fraction, grey_full_range and validation.max_images reach the pipeline."""
    from zoo.train.data import Augment
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"',
                                       "data.quality=[20, 30]", "data.grey_fraction=0.75",
                                       "data.grey_full_range=0.5", "validation.max_images=1"])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    with pytest.warns(UserWarning, match="broken.png"):
        trainer._data()
    assert trainer.dataset.augment == Augment(16, (20, 30), 0.75, grey_full_range=0.5)
    assert trainer.dataset.seed == 3 and len(trainer.dataset) == 6
    assert len(trainer.valset) == 1 and trainer.valset.qualities == [10]
    assert trainer.valset.items[0][1].shape == (32, 32, 3)  # validation.crop of the 40-px images


# --- training --------------------------------------------------------------------------------------

def test_tiny_nogan_run_exports_loadable_model(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out)) == 0
    steps = sum((6, 4, 8))
    meta = json.loads((sorted((out / "checkpoints").iterdir())[-1] / "meta.json").read_text())
    assert meta["step"] == steps and meta["switcher"]["history"]["generator"] > 0
    assert len(list((out / "checkpoints").iterdir())) == 2  # keep = 2
    val = (out / "val.csv").read_text().splitlines()
    assert val[0] == "step,stage,quality,metric,value" and len(val) > 4
    training = json.loads((out / "export" / "training.json").read_text())
    assert training["chosen_stage"] == "gan"
    # Which code trained it (a release manager's audit: nothing said, in a checkout or installed).
    import zoo

    assert training["code"]["versions"]["zoo"] == zoo.__version__ and training["code"]["versions"]["torch"]
    assert set(training["code"]) == {"versions", "git_commit", "date", "command"}
    assert f"- trained with zoo {zoo.__version__}" in (out / "export" / "README.md").read_text()
    # The record names the recipe file without its local path, and holds every resolved setting.
    assert training["recipe"] == TINY_RECIPE.name
    saved = json.loads((out / "recipe.json").read_text())
    assert saved["entry"] == TINY  # whose run it is, which a resume checks
    assert training["settings"] == {k: v for k, v in saved.items() if k not in ("source", "entry")}
    card = (out / "export" / "README.md").read_text()
    assert "resolved settings, overrides included" in card and "planned steps: pretrain 6" in card
    assert str(TINY_RECIPE.parent) not in card
    best = load_file(out / "best" / f"step-{training['chosen_step']:08d}.safetensors")
    import zoo

    model = zoo.load(str(out / "export"))
    exported = model.state_dict()
    for key, value in best.items():
        assert torch.allclose(exported[key].float(), value.float(), atol=1e-2), key
    # A second run into the same folder without --resume is refused.
    assert main(_cli(data, out)) == 2


def test_logged_rate_leaves_out_paused_time(data: tuple[Path, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation and checkpoint time inside ``RunLog.paused`` does not lower patches/s."""
    import csv

    from zoo.train import logs
    from zoo.train.recipe import load_recipe

    clock = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', "log_every=2"])
    with logs.RunLog(tmp_path, recipe, enabled=True, progress=False, resume_step=None) as log:
        for step in (1, 2, 3, 4):
            clock[0] += 1.0  # one second of training per 8-patch step
            if step == 3:
                with log.paused():
                    clock[0] += 50.0  # a validation
            log.train(step, "train", "generator", 1e-3, {"loss": 0.1}, 8)
    with open(tmp_path / "train.csv", newline="") as f:
        rates = [float(row["patches_per_s"]) for row in csv.DictReader(f)]
    assert rates == [8.0, 8.0]


def test_run_log_reads_loss_values_only_on_logged_steps(data: tuple[Path, Path], tmp_path: Path) -> None:
    """A step's losses stay on the device (reading one waits for a GPU) unless that step is logged."""
    import csv

    from zoo.train import logs
    from zoo.train.recipe import load_recipe

    class Lazy:
        reads = 0

        def __init__(self, value: float) -> None:
            self.value = value

        def __float__(self) -> float:
            Lazy.reads += 1
            return self.value

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', "log_every=3"])
    with logs.RunLog(tmp_path, recipe, enabled=True, progress=False, resume_step=None) as log:
        for step in range(1, 7):
            log.train(step, "train", "generator", 1e-3, {"loss": Lazy(step / 10), "l1": Lazy(1.0)}, 8)
    assert Lazy.reads == 4  # two values at steps 3 and 6
    with open(tmp_path / "train.csv", newline="") as f:
        assert [float(row["loss"]) for row in csv.DictReader(f)] == [0.3, 0.6]
    Lazy.reads = 0  # a progress bar shows them at the same steps, not at every step
    with logs.RunLog(tmp_path / "shown", recipe, enabled=True, progress=True, resume_step=None) as log:
        log.start_stage(next(iter(recipe.stages.values())), 0)
        for step in range(1, 7):
            log.train(step, "train", "generator", 1e-3, {"loss": Lazy(step / 10)}, 8)
    assert Lazy.reads == 2


def test_steps_return_their_losses_as_tensors(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.train.loop import Trainer
    from zoo.train.losses import GeneratorLoss
    from zoo.train.recipe import load_recipe
    from zoo.train.stages import generator_step

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""'])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.build()
    stage = next(iter(recipe.stages.values()))
    trainer.new_optimizers(stage)
    x = torch.rand(2, 3, 32, 32)
    values = generator_step(trainer.ctx, (x, x), stage, 0,
                            GeneratorLoss(stage.losses, stage.lpips_net, trainer.device), trainer.opt_g)
    assert values and all(isinstance(v, torch.Tensor) and not v.requires_grad for v in values.values())


def test_a_stage_ema_decay_of_zero_makes_the_ema_the_trained_generator(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    """stages.NAME.ema_decay replaces the recipe's (0.9); at 0 the EMA copies the generator as
    its step left it."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_steps=1",
                                       "stages.pretrain.ema_decay=0.0"])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.run()
    saved = _weights(tmp_path / "run")
    assert all(torch.equal(saved[f"ema.{key}"], saved[f"gen.{key}"])
               for key in trainer.generator.state_dict())


def test_the_critic_lr_follows_the_gan_stage_schedule(data: tuple[Path, Path], tmp_path: Path) -> None:
    """At the first of 4 warmup steps both optimizers take a quarter of their lr: the generator's
    lr (1e-4), the critic's lr * critic_lr_mult (5e-4)."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_steps=1",
                                       "stages.pretrain.steps=0", "stages.critic.steps=0",
                                       'stages.gan.schedule="cosine"', "stages.gan.warmup_steps=4"])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.run()
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-4 / 4)
    assert trainer.opt_c.param_groups[0]["lr"] == pytest.approx(5e-4 / 4)


def test_encoder_frozen_at_first(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.registry import create_model
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_steps=3"])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    torch.manual_seed(recipe.seed)  # as the trainer does before building the model
    start = create_model(TINY).state_dict()
    trainer.run()
    after = trainer.generator.state_dict()
    assert torch.equal(after["encoder.0.weight"], start["encoder.0.weight"])
    assert not torch.equal(after["head.weight"], start["head.weight"])


def test_init_fine_tunes_from_an_export(data: tuple[Path, Path], tmp_path: Path) -> None:
    """``model.init`` loads an export (folder or file) into the generator and its EMA."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe
    from zoo.weights import save_weights

    source = TinyNet()
    with torch.no_grad():
        for p in source.parameters():
            p.fill_(0.25)
    save_weights(source, tmp_path / "export" / "model.safetensors")
    for init in (tmp_path / "export", tmp_path / "export" / "model.safetensors"):
        recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""',
                                           f'model.init="{init}"'])
        trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
        trainer.build()
        for key, value in source.state_dict().items():
            assert torch.equal(trainer.generator.state_dict()[key], value), key
            assert torch.equal(trainer.ema.state_dict()[key], value), key


def test_init_from_an_export_of_other_arguments_is_refused(data: tuple[Path, Path], tmp_path: Path) -> None:
    """``model.init=FOLDER`` (or ``FOLDER/model.safetensors``) reads the export's config.json: an
    argument that differs from the recipe's is named, whether it changes shapes (``nf``) or not
    (``blur``, which would load silently into a network computing something else); matching the
    recipe to it works."""
    from zoo.hub import save_pretrained
    from zoo.registry import create_model
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe, recipe_path

    path = recipe_path(get_model_info("arnet-nogan").recipe)
    base = [f'data.train=["{data[0]}"]', 'data.val=""']
    exports, sources = {}, {}
    for arg, value, message in (("blur", False, "was saved with blur=false but the recipe builds blur=true; "
                                                "set model.args.blur=false to fine-tune it"),
                                ("nf", 16, "was saved with nf=16 but the recipe builds nf=32")):
        sources[arg] = create_model("arnet-nogan", **{arg: value})
        exports[arg] = export = save_pretrained(sources[arg], tmp_path / f"export-{arg}")
        for init in (export, export / "model.safetensors"):  # the folder or its weights file
            recipe = load_recipe(path, [*base, f'model.init="{init}"'])
            with pytest.raises(RecipeError) as err:
                Trainer("arnet-nogan", recipe, tmp_path / "run", progress=False).build()
            assert message in str(err.value) and f"model.init {str(init)!r}" in str(err.value)
            assert "\n" not in str(err.value)
    recipe = load_recipe(path, [*base, f'model.init="{exports["blur"]}"', "model.args.blur=false"])
    trainer = Trainer("arnet-nogan", recipe, tmp_path / "run", progress=False)
    trainer.build()
    assert trainer.generator.config["blur"] is False
    for key, value in sources["blur"].state_dict().items():  # saved in fp16
        assert torch.equal(trainer.generator.state_dict()[key], value.half().to(value.dtype)), key
    tiny = save_pretrained(TinyNet(), tmp_path / "tiny")
    with pytest.raises(RecipeError, match="holds a 'TinyNet' network, not the 'ARNet' the recipe builds"):
        Trainer("arnet-nogan", load_recipe(path, [*base, f'model.init="{tiny}"']), tmp_path / "run",
                progress=False).build()


def test_checkpoints_worse_than_the_input_are_not_exported(data: tuple[Path, Path], tmp_path: Path) -> None:
    """``select.not_worse_than_input``: eligibility against the JPEG input's own scores."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"',
                                       'select.not_worse_than_input=["psnr", "ssim"]'])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.build()
    trainer._data()
    identity = trainer._no_worse_than_input  # computes the input's scores on first use
    assert identity({10: {"psnr": 100.0, "ssim": 1.0}})
    floor = trainer._input_scores[10]
    assert not identity({10: {"psnr": floor["psnr"] - 0.01, "ssim": 1.0}})
    assert not identity({10: {"psnr": 100.0, "ssim": floor["ssim"] - 1e-3}})
    assert identity({10: dict(floor)})


@pytest.mark.parametrize("entry", [n for n in list_models(trainable=True)])
def test_each_entry_trains_a_few_steps(entry: str, data: tuple[Path, Path], tmp_path: Path) -> None:
    """The shipped recipe of every trainable entry, shrunk: every stage runs two steps."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe, recipe_path

    path = recipe_path(get_model_info(entry).recipe)
    base = load_recipe(path, [f'data.train=["{data[0]}"]'], check_data=False)
    shrink = [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"', "data.patch=32", "data.batch=2",
              "data.workers=0", "validation.crop=32", "validation.qualities=[20]",
              "checkpoint.every=100", 'device="cpu"']
    shrink += [f"stages.{s}.steps=2" for s in base.stages]
    shrink += [f"stages.{s}.freeze_encoder_steps=1" for s, st in base.stages.items()
               if st.freeze_encoder_steps]
    shrink += [f"stages.{s}.warmup_steps=0" for s in base.stages]
    recipe = load_recipe(path, shrink)
    export = Trainer(entry, recipe, tmp_path / entry, progress=False).run()
    import zoo

    model = zoo.load(str(export))
    x = torch.rand(1, 3, 32, 32)
    assert model(x).shape == x.shape


# --- faults ----------------------------------------------------------------------------------------

def test_resume_after_sigkill_is_bitwise_identical(data: tuple[Path, Path], tmp_path: Path) -> None:
    extra = ("stages.pretrain.steps=40", "stages.gan.steps=40", "checkpoint.every=5",
             "checkpoint.keep=3")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    ref = subprocess.run([sys.executable, "-c", LAUNCH, *_cli(data, whole, *extra)], env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *_cli(data, killed, *extra)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    ckpts = killed / "checkpoints"
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpts.is_dir() and len([p for p in ckpts.iterdir() if p.name.startswith("step-")]) >= 2:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    last = max(int(p.name[5:]) for p in ckpts.iterdir() if p.name.startswith("step-"))
    assert last < 84
    resumed = subprocess.run([sys.executable, "-c", LAUNCH, *_cli(data, killed, "--resume", *extra)],
                             env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys()
    for key in a:
        if not key.startswith("rng."):
            assert torch.equal(a[key], b[key]), key
    assert (whole / "val.csv").read_text() == (killed / "val.csv").read_text()


def test_torn_checkpoint_falls_back_to_previous(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.cli import main
    from zoo.train.checkpoint import latest_checkpoint, list_checkpoints

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=6")) == 0
    newest, previous = list_checkpoints(out / "checkpoints")[-1], list_checkpoints(out / "checkpoints")[-2]
    state = newest / "state.safetensors"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    with pytest.warns(UserWarning, match="unusable"):
        path, _, meta = latest_checkpoint(out / "checkpoints")
    assert path == previous and meta["step"] == 4
    assert main(_cli(data, out, "max_steps=8", "--resume")) == 0
    assert json.loads((list_checkpoints(out / "checkpoints")[-1] / "meta.json").read_text())["step"] == 8


def test_plain_resume_continues_with_the_runs_saved_recipe(data: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Without --recipe, --resume starts from OUT/recipe.json: the run's data and overrides are
    kept, and only what is given now changes (and is the only change warned about)."""
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=3", "data.batch=3", "validation.qualities=[20]")) == 0
    capsys.readouterr()
    assert main(["train", TINY, "--out", str(out), "--resume", "--max-steps", "5", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: resuming with a changed recipe: max_steps: 3 -> 5\n" in err
    assert "stopped at step 5 of" in err
    saved = json.loads((out / "recipe.json").read_text())
    assert saved["max_steps"] == 5 and saved["data"]["batch"] == 3
    assert saved["data"]["train"] == [str(data[0])] and saved["validation"]["qualities"] == [20]
    assert saved["source"] == str(TINY_RECIPE)  # the run's provenance stays its recipe file


def test_resume_of_a_run_stopped_before_its_first_checkpoint_keeps_its_saved_recipe(
        data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A run stopped before its first checkpoint had written OUT/recipe.json: a plain --resume
    dropped it (its --data, --val and overrides) and trained the recipe file's defaults."""
    import dataclasses

    import zoo.registry
    import zoo.train.recipe
    from zoo.cli import main

    entry = dataclasses.replace(get_model_info(TINY), recipe=TINY)
    monkeypatch.setitem(zoo.registry._MODELS, TINY, entry)
    monkeypatch.setattr(zoo.train.recipe, "recipe_path", lambda name: TINY_RECIPE)
    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=2", "data.batch=3", "validation.qualities=[20]")) == 0
    import shutil

    shutil.rmtree(out / "checkpoints")  # as if stopped before checkpoint.every steps
    capsys.readouterr()
    assert main(["train", TINY, "--out", str(out), "--resume", "--no-progress"]) == 0
    assert "no usable checkpoint to resume from (none saved)" in capsys.readouterr().err
    saved = json.loads((out / "recipe.json").read_text())
    assert saved["data"]["batch"] == 3 and saved["validation"]["qualities"] == [20]
    assert saved["data"]["train"] == [str(data[0])] and saved["max_steps"] == 2


def test_resume_with_another_entrys_saved_recipe_is_refused(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Without a checkpoint, `zoo train unet-l1 --out RUN --resume` trained unet-l1 on the
    recipe another entry's run had saved there, without a word."""
    import shutil

    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=2")) == 0
    assert json.loads((out / "recipe.json").read_text())["entry"] == TINY
    shutil.rmtree(out / "checkpoints")
    capsys.readouterr()
    assert main(["train", "unet-l1", "--out", str(out), "--resume", "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out / 'recipe.json'}: the recipe of a run of '{TINY}', not 'unet-l1'; resume it "
        f"with zoo train {TINY}, or train unet-l1 into a new --out\n")


def test_resume_without_checkpoint_or_readable_saved_recipe_reads_the_recipe_file(
        data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A run killed while writing its saved recipe starts afresh: from the file, as edited."""
    import dataclasses

    import zoo.registry
    import zoo.train.recipe
    from zoo.cli import main

    entry = dataclasses.replace(get_model_info(TINY), recipe=TINY)
    monkeypatch.setitem(zoo.registry._MODELS, TINY, entry)
    monkeypatch.setattr(zoo.train.recipe, "recipe_path", lambda name: TINY_RECIPE)
    out = tmp_path / "run"
    out.mkdir()
    (out / "recipe.json").write_text('{"not": "a recipe"}')  # what a killed start left behind
    assert main(["train", TINY, "--data", str(data[0]), "--val", str(data[1]), "--out", str(out),
                 "--no-progress", "--resume", "max_steps=2"]) == 0
    assert json.loads((out / "recipe.json").read_text())["max_steps"] == 2
    assert (f"warning: {out / 'recipe.json'}: unknown key 'not'" in (err := capsys.readouterr().err)
            and ", and no checkpoint holds a copy: starting from the recipe file\n" in err)


def test_entry_without_recipe_points_at_a_recipe_file_of_its_name(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.train.recipe
    from zoo.cli import main

    (tmp_path / f"{TINY}.toml").write_text(TINY_RECIPE.read_text())
    monkeypatch.setattr(zoo.train.recipe, "recipe_path", lambda name: tmp_path / f"{name}.toml")
    assert main(["train", TINY, "--out", str(tmp_path / "run")]) == 2
    assert f"exists: set recipe='{TINY}' in its ModelInfo" in capsys.readouterr().err


def test_two_process_ddp_run(data: tuple[Path, Path], tmp_path: Path) -> None:
    script = tmp_path / "launch.py"
    script.write_text(LAUNCH.replace("; ", "\n"))
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master_port",
           str(29500 + os.getpid() % 1000), str(script),
           *_cli(data, out, "max_steps=12")]
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((sorted((out / "checkpoints").iterdir())[-1] / "meta.json").read_text())
    assert meta["step"] == 12 and meta["world"] == 2
    assert len((out / "train.csv").read_text().splitlines()) == 13  # rank 0 logs, once per step
    assert (out / "export" / "model.safetensors").is_file()


def test_validation_means_leave_out_images_a_metric_cannot_score(tmp_path: Path) -> None:
    """LPIPS is NaN below 31 px: that image is left out of its mean instead of crashing the run."""
    import zoo
    from zoo.metrics import compute_metrics
    from zoo.train.data import ValidationSet
    from zoo.train.validate import evaluate

    rng = np.random.default_rng(0)
    for name, side in (("big", 64), ("small", 16)):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
            tmp_path / f"{name}.png")
    valset = ValidationSet(tmp_path, [10])
    scores = evaluate(zoo.load("jpeg", device="cpu"), valset, torch.device("cpu"),
                      ["psnr", "lpips_alex"])[10]
    each = {name: compute_metrics(degraded[10], target, names=["psnr", "lpips_alex"])
            for name, target, degraded in valset.items}
    assert np.isnan(each["small.png"]["lpips_alex"])
    assert scores["lpips_alex"] == pytest.approx(each["big.png"]["lpips_alex"], rel=1e-6)
    assert scores["psnr"] == pytest.approx(np.mean([v["psnr"] for v in each.values()]), rel=1e-9)


def test_an_image_that_goes_bad_during_training_is_replaced(tmp_path: Path) -> None:
    """Uncached images are re-read on use: one truncated mid-run gives way to the next one."""
    from zoo.train.data import ImageStore

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    with pytest.warns(UserWarning, match="0 of 2 kept in memory"):
        store = ImageStore([tmp_path], min_side=32, cache_mb=0)
    assert not store.cached
    expected_b = store[1]
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="a.png: truncated"):
        np.testing.assert_array_equal(store[0], expected_b)
    (tmp_path / "b.png").unlink()
    with pytest.raises(Exception, match="none of the training images"), pytest.warns(UserWarning):
        store[0]


def test_every_kept_checkpoint_can_still_export_its_best(data: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    """A resume from any kept checkpoint (the newest may be torn, or the run killed right after
    a new best file) finds the best file that checkpoint names: after a resume too, and when
    the last step is saved twice."""
    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    recipe = ("stages.pretrain.steps=30", "stages.gan.steps=0", "stages.critic.steps=0",
              'select.stages=["pretrain"]', "validation.every=2", "checkpoint.every=2",
              "checkpoint.keep=4", "stages.pretrain.lr=3e-3",
              "select.mode=min")  # the tiny net drifts: the "best" moves
    files: set[str] = set()
    for cap, resume in (("max_steps=6", ()), ("max_steps=9", ("--resume",)),
                        ("max_steps=30", ("--resume",))):
        assert main(_cli(data, out, *recipe, cap, *resume)) == 0
        metas = [json.loads((c / "meta.json").read_text()) for c in list_checkpoints(out / "checkpoints")]
        named = [meta["best"] for meta in metas]
        files |= {b["file"] for b in named}
        for best in named:
            assert (out / "best" / best["file"]).is_file(), (cap, best["file"])
        # and no other: a best file that no kept checkpoint names (nor its before_stop) is deleted
        kept = {b["file"] for b in named + [(m.get("before_stop") or {}).get("best") for m in metas] if b}
        assert {p.name for p in (out / "best").glob("step-*.safetensors")} == kept, cap
    assert len(files) > 2  # the best moved meanwhile


def test_a_recipe_builds_only_registered_critics(data: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    """critic.architecture named any importable object, called with critic.args: 'os:system'
    with a command ran it (from a recipe, an override, or a shared run's recipe.json)."""
    from zoo.cli import main

    marker = tmp_path / "ran"
    for name in ("os:system", "subprocess:getoutput", "torch.nn:Conv2d", "tests_nowhere:Critic",
                 "zoo.__main__:main"):  # importing zoo.__main__ ran the command again
        assert main(_cli(data, tmp_path / "out", f"critic.architecture={name!r}",
                         f"critic.args={{command = 'touch {marker}'}}")) == 2
        err = capsys.readouterr().err
        assert (f"critic.architecture {name!r} is not a registered critic (known: "
                "test_train:TinyCritic, zoo.models.critic:PatchCritic); a critic class is marked "
                "with @register_critic") in err, err
        assert "Traceback" not in err and not marker.exists()
    with pytest.raises(TypeError, match="register_critic takes a torch.nn.Module subclass"):
        register_critic(print)


def test_bad_networks_files_and_early_stops_are_one_line(data: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    from zoo.cli import main

    assert main(_cli(data, tmp_path / "w", "model.args.width=-1")) == 2
    assert "model.args do not fit" in capsys.readouterr().err
    assert main(_cli(data, tmp_path / "c", "critic.args.depth=3")) == 2
    assert "critic.args do not fit TinyCritic" in capsys.readouterr().err
    # JSON values Python would take silently: true as width 1, 8.5 as 8
    assert main(_cli(data, tmp_path / "t", "model.args.width=true")) == 2
    assert "argument 'width' must be int, got bool True" in capsys.readouterr().err
    assert main(_cli(data, tmp_path / "f", "critic.args.width=8.5")) == 2
    assert ("critic.args do not fit TinyCritic (argument 'width' must be int, got float 8.5)"
            in capsys.readouterr().err)
    (tmp_path / "a-file").write_text("x")
    assert main(_cli(data, tmp_path / "a-file")) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err  # it said "cannot write into this folder
    assert errors[0] == f"error: {tmp_path / 'a-file'}: is a file, not a folder"  # (File exists)"
    assert main(_cli(data, tmp_path / "short", "max_steps=3")) == 0
    assert "stopped at step 3 of 18: max_steps reached" in capsys.readouterr().err  # 6 + 4 + 8
    assert main(_cli(data, tmp_path / "short", "max_steps=4", "model.args.width=4",
                     "--resume")) == 2
    err = capsys.readouterr().err
    assert ("does not fit the recipe's networks (the recipe changed model.args.width: unset -> 4); "
            "resume with the recipe it was saved with" in err), err


def test_validation_counts_a_perfect_psnr_at_the_ceiling(tmp_path: Path) -> None:
    """A perfect image (PSNR inf) stays in the mean, at the 100 dB ceiling: NaN alone drops out,
    and one flat image no longer makes every mean infinite."""
    import zoo
    from zoo.metrics import compute_metrics
    from zoo.train.data import ValidationSet
    from zoo.train.validate import PSNR_CEILING_DB, evaluate

    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(
        tmp_path / "noise.png")
    valset = ValidationSet(tmp_path, [90])
    each = {name: compute_metrics(degraded[90], target, names=["psnr", "psnr_b"])
            for name, target, degraded in valset.items}
    assert each["flat.png"]["psnr"] == each["flat.png"]["psnr_b"] == float("inf")
    scores = evaluate(zoo.load("jpeg", device="cpu"), valset, torch.device("cpu"), ["psnr", "psnr_b"])
    assert PSNR_CEILING_DB == 100.0
    for m in ("psnr", "psnr_b"):
        assert each["noise.png"][m] < 100.0
        assert scores[90][m] == pytest.approx((100.0 + each["noise.png"][m]) / 2, rel=1e-12)


class _TowardsTargets(nn.Module):
    """Moves each validation input ``share`` of the way to its ground truth (found by size);
    ``nudge`` also raises one value of the 256-px image by one grey level."""

    def __init__(self, valset: ValidationSet, share: float, nudge: bool = False) -> None:
        super().__init__()
        from zoo.restore import array_to_tensor

        self.targets = {target.shape[:2]: array_to_tensor(target) for _, target, _ in valset.items}
        self.share, self.nudge = share, nudge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.share * (self.targets[tuple(x.shape[-2:])] - x)
        if self.nudge and x.shape[-1] == 256:
            y = y.clone()
            y[0, 0, 0, 0] += 1 / 255
        return y


def test_validation_caps_a_finite_psnr_above_the_ceiling(tmp_path: Path) -> None:
    """The ceiling is not for a perfect image (inf) alone: a restoration one grey level off in
    one value of a 256x256 RGB image scores 10 log10(255^2 * 196608) = 101.07 dB, and counts
    100 dB, as the ceiling's documentation says of every image above it."""
    from zoo.metrics import psnr
    from zoo.train.data import ValidationSet
    from zoo.train.validate import evaluate

    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    valset = ValidationSet(tmp_path, [10])
    (_, target, _), = valset.items
    nudged = target.copy()
    nudged[0, 0, 0] += 1
    one_off = 10 * math.log10(255 ** 2 * 256 * 256 * 3)
    assert one_off > 100.5 and psnr(nudged, target) == pytest.approx(one_off, rel=1e-12)
    scores = evaluate(_TowardsTargets(valset, 1.0, nudge=True), valset, torch.device("cpu"), ["psnr"])
    assert scores == {10: {"psnr": 100.0}}


def test_selection_on_psnr_with_an_image_reproduced_exactly(data: tuple[Path, Path], tmp_path: Path) -> None:
    """A flat validation image that the JPEG keeps exactly: with infinite PSNR means, a better
    checkpoint would tie with the first (inf) and never be chosen, and the JPEG input's floor
    (inf) would shut out one off by a grey level in one value of 196608 (101 dB). At the
    100 dB ceiling the better checkpoint is chosen and qualifies; photographs score far below
    the ceiling, so on them nothing changes."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    val = tmp_path / "val"
    val.mkdir()
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(val / "flat.png")
    _write_images(val / "texture", 1, (48, 48), 5)
    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{val}"', "validation.crop=0",
                                       'select.not_worse_than_input=["psnr"]'])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.build()
    trainer._data()
    log = types.SimpleNamespace(validation=lambda *args: None)
    stage = recipe.stages["gan"]
    for step, model in ((1, _TowardsTargets(trainer.valset, 0.0)),
                        (2, _TowardsTargets(trainer.valset, 0.5, nudge=True))):
        trainer.step, trainer.ema.model = step, model
        trainer._validate(stage, log)
        assert trainer.best is not None and trainer.best["step"] == step
    assert trainer._input_scores[10]["psnr"] < trainer.best["value"] < 100.0


def test_a_selection_metric_undefined_on_the_validation_images_chooses_nothing_and_says_so(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    """MS-SSIM on 32-px validation crops is NaN (it needs 161 px): a NaN never becomes the best,
    and the run warns once instead of exporting its first validation in silence."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', f'data.val="{data[1]}"',
                                       'validation.metrics=["psnr", "ms_ssim"]',
                                       'select.metric="ms_ssim"'])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.build()
    trainer._data()
    log = types.SimpleNamespace(validation=lambda *args: None)
    with pytest.warns(UserWarning, match=r"select.metric ms_ssim is undefined \(NaN\) on the "
                                         r"validation images at step 1 \(validation.crop 32\)") as caught:
        for trainer.step in (1, 2):
            trainer._validate(recipe.stages["gan"], log)
    assert trainer.best is None
    assert sum("select.metric" in str(w.message) for w in caught) == 1


def test_an_untrained_export_warns_and_a_trained_one_is_the_fp16_ema(data: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    """A budget spent before the first step still exports (what was asked), but says the weights
    are untrained. After a step, without validation, the final EMA generator is exported (not
    the generator itself), in float16."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_minutes=1e-9"])
    with pytest.warns(UserWarning, match=r"no training step was taken \(max_minutes reached before "
                                         r"the first\): the export holds the random initialisation"):
        assert Trainer(TINY, recipe, tmp_path / "run", progress=False).run() is not None
    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_steps=1"])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="no training step")
        export = Trainer(TINY, recipe, tmp_path / "run2", progress=False).run()
    saved, exported = _weights(tmp_path / "run2"), load_file(export / "model.safetensors")
    for key, value in exported.items():
        ema = saved[f"ema.{key}"]
        assert value.dtype == (torch.float16 if ema.is_floating_point() else ema.dtype), key
        assert torch.equal(value, ema.to(value.dtype)), key
    assert not torch.equal(exported["head.weight"], saved["gen.head.weight"].half())


def test_a_stage_time_cap_ends_only_that_stage(data: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A stage's own max_minutes ends that stage and the run goes on with the next (it stopped
    the whole run, exporting no GAN step)."""
    import json

    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""',
                                       "stages.pretrain.max_minutes=1e-9"])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.run()
    assert not trainer.stopped
    later = sum(s.steps for name, s in recipe.stages.items() if name != "pretrain")
    assert trainer.step == later
    assert "stage pretrain: its max_minutes (1e-09) reached at step 0 of its 6; the run goes on" \
        in capsys.readouterr().err
    rows = (tmp_path / "run" / "train.csv").read_text().splitlines()[1:]
    assert {row.split(",")[1] for row in rows} == set(recipe.stages) - {"pretrain"}
    meta = json.loads((tmp_path / "run" / "export" / "training.json").read_text())
    assert meta["steps"] == later


def test_max_minutes_counts_the_whole_run_resumes_included(
        data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that moves 30 s a step: max_minutes=1 stops the run after 2 steps, and a resume,
    its minute spent, trains none."""
    from zoo.train import loop
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    clock, next_batch = [0.0], loop.next_batch

    def slow(batches: Iterator[list[torch.Tensor]]) -> list[torch.Tensor]:
        clock[0] += 30.0
        return next_batch(batches)

    monkeypatch.setattr(loop, "next_batch", slow)
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_minutes=1"])
    for resume in (False, True):
        trainer = Trainer(TINY, recipe, tmp_path / "run", resume=resume, progress=False)
        trainer.run()
        assert (trainer.step, trainer.stop_reason) == (2, "max_minutes")


def test_the_export_path_is_printed_as_it_is(data: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """An --out holding ``[/x]`` is not rich markup (the last line was a MarkupError traceback)."""
    from zoo.cli import main

    out = tmp_path / "p[" / "x]"
    assert main(_cli(data, out, "max_steps=1", 'data.val=""')) == 0
    assert f"exported {TINY} to {out}/export" in capsys.readouterr().err
    odd = tmp_path / "t\x1b[41mZ"  # a terminal code in the name reached the terminal as it is
    assert main(_cli(data, odd, "max_steps=1", 'data.val=""')) == 0
    err = capsys.readouterr().err
    assert f"exported {TINY} to {tmp_path}/t\\x1b[41mZ/export" in err and "\x1b" not in err


def test_fp16_on_a_cpu_scales_its_gradients_and_resumes_the_scaler(data: tuple[Path, Path],
                                                                    tmp_path: Path) -> None:
    """fp16 needs gradient scaling: on a CPU the scaler is the CPU's (a CUDA one was disabled,
    with torch's warning, and small gradients underflowed)."""
    from zoo.train.checkpoint import latest_meta
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_steps=2",
                                       'precision="fp16"'])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*GradScaler")
        trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
        trainer.run()
        assert trainer.scaler is not None and trainer.scaler.is_enabled()
        # A resume goes on with the scaler's state: without an overflow the scale stays 2^16 and
        # its growth tracker counts every step since the start.
        more = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""', "max_steps=4",
                                         'precision="fp16"'])
        Trainer(TINY, more, tmp_path / "run", resume=True, progress=False).run()
    scaler = latest_meta(tmp_path / "run" / "checkpoints")[1]["scaler"]
    assert (scaler["scale"], scaler["_growth_tracker"]) == (2.0 ** 16, 4)


def test_a_torn_newest_checkpoint_does_not_outlive_the_good_ones(data: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=4")) == 0
    state = list_checkpoints(out / "checkpoints")[-1] / "state.safetensors"
    state.write_bytes(state.read_bytes() + b"torn")
    assert main(_cli(data, out, "max_steps=3", "checkpoint.keep=1", "--resume")) == 0  # from 2
    assert [c.name for c in list_checkpoints(out / "checkpoints")] == ["step-00000003"]


def test_run_tool_shows_programming_errors_as_tracebacks() -> None:
    from zoo.cli import run_tool
    from zoo.registry import get_model_info

    assert run_tool(lambda: get_model_info("no-such-model")) == 2  # a user error: one line
    with pytest.raises(KeyError):
        run_tool(lambda: {"step": 1}["stpe"])  # a bug: not hidden as a user error


def test_files_that_are_not_images_are_named_in_one_warning(tmp_path: Path) -> None:
    """A .heic or .txt in a training or validation folder was passed over without a word, so a
    folder of phone photos could train on a few PNGs while its owner thought it trained on all."""
    import warnings

    from zoo.train.data import ImageStore, ValidationSet

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "a.png")
    for name in ("IMG_1.heic", "sub/IMG_2.HEIC", "notes.txt", ".DS_Store", ".git/HEAD"):
        (folder / name).write_bytes(b"not read")
    said = ("data: 3 files passed over, not being images zoo reads: IMG_1.heic, notes.txt, "
            "sub/IMG_2.HEIC")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ImageStore([folder], min_side=32)
        ValidationSet(folder, [10])
    assert [str(w.message) for w in caught] == [f"training {said}", f"validation {said}"]
    (folder / "notes.txt").unlink()
    (folder / "IMG_1.heic").unlink()
    with pytest.warns(UserWarning, match=r"^training data: 1 file passed over, not being images "
                                         r"zoo reads: sub/IMG_2.HEIC$"):
        ImageStore([folder], min_side=32)
    # A link to itself (it loops) was a RuntimeError traceback out of `zoo train`.
    (folder / "sub" / "IMG_2.HEIC").unlink()
    (folder / "self.png").symlink_to("self.png")
    with pytest.warns(UserWarning, match=r"^training data: 1 file passed over, not being images "
                                         r"zoo reads: self.png \(a link that loops\)$"):
        assert len(ImageStore([folder], min_side=32)) == 1
    # A link to a missing file was the one bad entry left out without a word (a training auditor's).
    (folder / "self.png").unlink()
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.warns(UserWarning, match=r"^training data: 1 file passed over, not being images "
                                         r"zoo reads: gone.png \(a link to a missing file\)$"):
        assert len(ImageStore([folder], min_side=32)) == 1



def test_a_data_folder_that_cannot_be_read_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreadable sub-folder's images were left out of training without a word (`zoo restore
    -r` names it). Simulated: the suite may run as root, who reads every folder."""
    from zoo.train.data import scan_folders

    (tmp_path / "data" / "locked").mkdir(parents=True)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "data" / "a.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "data" / "locked" / "b.png")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, others = scan_folders([tmp_path / "data"])
    assert [f.name for f in files] == ["a.png"]
    assert others == ["locked/ (a folder that cannot be read: Permission denied)"]


def test_training_data_is_opaque_found_once_and_cached_by_its_real_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.train.data import ImageStore, ValidationSet, find_images

    folder = tmp_path / "home" / "imgs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(folder / "sub" / "grey.png")
    rgba = np.dstack([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), np.full((64, 64), 255, np.uint8)])
    Image.fromarray(rgba).save(folder / "opaque-rgba.png")
    rgba[:32, :, 3] = 0  # half transparent: its hidden colours must not become targets
    Image.fromarray(rgba).save(folder / "see-through.png")
    assert len(find_images([folder, folder / "sub", folder])) == 4  # each image once
    with pytest.warns(UserWarning, match="see-through.png: has transparent pixels"):
        store = ImageStore([folder], min_side=32, cache_mb=1)
    assert sorted(p.name for p in store.paths) == ["grey.png", "opaque-rgba.png", "rgb.png"]
    assert store.cached and all(img.shape == (64, 64, 3) for img in store._cache)
    with pytest.warns(UserWarning):
        assert not ImageStore([folder], min_side=32, cache_mb=0).cached  # 36 KB > 0 MB
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.warns(UserWarning, match="has transparent pixels"):
        valset = ValidationSet("~/imgs", [10], crop=32)
    assert sorted(name for name, _, _ in valset.items) == ["opaque-rgba.png", "rgb.png", "sub/grey.png"]


def test_many_skipped_training_images_are_summarised(tmp_path: Path) -> None:
    from zoo.train.data import MAX_SKIP_WARNINGS, ImageStore

    for i in range(MAX_SKIP_WARNINGS + 4):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / f"small-{i:02d}.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = ImageStore([tmp_path], min_side=32)
    messages = [str(w.message) for w in caught]
    assert len(store) == 1 and len(messages) == MAX_SKIP_WARNINGS + 1
    assert messages[-1] == (f"skipped {MAX_SKIP_WARNINGS + 4} of {MAX_SKIP_WARNINGS + 5} training "
                            f"images in all (the first {MAX_SKIP_WARNINGS} are named above)")


def test_skipped_images_the_warnings_do_not_name_are_listed_in_the_output_folder(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Past the first MAX_SKIP_WARNINGS, skipped images were named nowhere (a user could not
    find which files to mend): OUT/skipped-images.txt lists every one; a start whose data
    no longer needs the list removes an earlier one."""
    import shutil

    from zoo.train.data import MAX_SKIP_WARNINGS, SKIPPED_IMAGES
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    train = tmp_path / "train"
    shutil.copytree(data[0], train)
    for i in range(MAX_SKIP_WARNINGS + 1):
        (train / f"bad-{i:02d}.png").write_bytes(b"not a png")
    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{train}"]', f'data.val="{data[1]}"'])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer._start()
    listed = (trainer.out / SKIPPED_IMAGES).read_text().splitlines()
    bad = sorted(p for p in train.rglob("*.png") if p.read_bytes() == b"not a png" or
                 p.name == "broken.png")  # the fixture's own broken file is skipped too
    assert [line.split(": ")[1] for line in listed] == [f"{p}" for p in bad]
    assert all(line.startswith("training: ") for line in listed)
    assert f"note: the {len(bad)} skipped images are listed in {trainer.out / SKIPPED_IMAGES}" \
        in capsys.readouterr().err
    for i in range(MAX_SKIP_WARNINGS + 1):
        (train / f"bad-{i:02d}.png").unlink()
    (trainer.out / f".{SKIPPED_IMAGES}.123.tmp").write_text("a write a kill interrupted")
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False, resume=True)
    trainer.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer._start()
    assert not (trainer.out / SKIPPED_IMAGES).exists()
    assert not list(trainer.out.glob(f".{SKIPPED_IMAGES}*"))


def test_many_unreadable_validation_images_are_summarised(tmp_path: Path) -> None:
    from zoo.train.data import MAX_SKIP_WARNINGS, ValidationSet

    for i in range(MAX_SKIP_WARNINGS + 2):
        (tmp_path / f"bad-{i:02d}.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "good.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        valset = ValidationSet(tmp_path, [10])
    messages = [str(w.message) for w in caught]
    assert len(valset) == 1 and len(messages) == MAX_SKIP_WARNINGS + 1
    assert messages[0].startswith(f"skipping validation image {tmp_path / 'bad-00.png'}")
    assert messages[-1] == (f"skipped {MAX_SKIP_WARNINGS + 2} of {MAX_SKIP_WARNINGS + 3} "
                            f"validation images in all (the first {MAX_SKIP_WARNINGS} are named above)")


def test_a_recipe_s_own_data_folders_that_are_missing_say_how_to_give_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Run outside the repository (an installed package), the shipped recipes' '../shared/data'
    does not exist: the error said so and named the recipe file, not what to do."""
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "unet-l1", "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()  # both folders in one error, not one run each
    assert err.startswith("error: ") and err.count("\n") == 0 and (
        f"unet-l1.toml: data.train[0] folder '../shared/data/train' does not exist (relative to "
        f"{tmp_path}); give the training images with --data DIR; ") in err and err.endswith(
        "data.val folder '../shared/data/val' does not exist (relative to "
        f"{tmp_path}); give validation images with --val DIR, or --val '' to train without validation")
    (tmp_path / "imgs").mkdir()
    assert main(["train", "unet-l1", "--max-steps", "1", "--data", "imgs"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "data.val folder '../shared/data/val' does not exist (relative to "
        f"{tmp_path}); give validation images with --val DIR, or --val '' to train without validation")
    assert main(["train", "unet-l1", "--max-steps", "1", "--data", "nope"]) == 2
    assert capsys.readouterr().err.strip().startswith(
        "error: --data nope: data.train[0] folder 'nope' does not exist; ")  # the option names itself


def test_an_installed_recipe_s_relative_data_folders_are_refused_even_when_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From an installed package, the shipped recipes' '../shared/data/train' was resolved
    against the working folder: a folder of that name there was trained on without a word."""
    import shutil

    import zoo.resources
    from zoo.train.recipe import load_recipe

    package = tmp_path / "site-packages" / "zoo"
    (package / "_data" / "training").mkdir(parents=True)
    recipe = package / "_data" / "training" / "unet-l1.toml"
    shutil.copy(zoo.resources.resource_dir("training") / "unet-l1.toml", recipe)
    work = tmp_path / "work" / "here"
    for name in ("train", "val"):
        (tmp_path / "work" / "shared" / "data" / name).mkdir(parents=True)
    work.mkdir()
    monkeypatch.chdir(work)
    assert load_recipe(recipe, check_data=True).data.train == ["../shared/data/train"]  # found
    monkeypatch.setattr(zoo.resources, "PACKAGE_DIR", package)
    with pytest.raises(RecipeError) as refused:
        load_recipe(recipe, check_data=True)
    assert str(refused.value) == (
        f"{recipe}: data.train[0] '../shared/data/train' is a folder of the zoo's own repository, "
        "which an installed zoo does not have; give the training images with --data DIR; "
        f"{recipe}: data.val '../shared/data/val' is a folder of the zoo's own repository, which an "
        "installed zoo does not have; give validation images with --val DIR, or --val '' to train "
        "without validation")
    ok = load_recipe(recipe, [f"data.train=['{tmp_path / 'work' / 'shared' / 'data' / 'train'}']",
                              "data.val=''"], check_data=True)
    assert ok.data.val == ""


def test_a_misspelt_stages_table_is_named_as_an_unknown_key(tmp_path: Path) -> None:
    """[stage.train] said "needs at least one [stages.NAME] table", not what was wrong."""
    from zoo.train.recipe import load_recipe

    recipe = tmp_path / "typo.toml"
    recipe.write_text(TINY_RECIPE.read_text().replace("[stages.", "[stage."))
    with pytest.raises(RecipeError, match=r"typo.toml: unknown key 'stage' \(known: .*stages"):
        load_recipe(recipe, check_data=False)


def test_the_recipe_device_is_checked_like_restore_devices() -> None:
    from zoo.train.hardware import resolve_device

    expected = torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == torch.device("cpu")
    for spec, message in [("gpu", "not a torch device"), ("meta", "models run on"), ("xpu", "models run on"),
                          ("cuda:99", "CUDA")]:
        with pytest.raises(RecipeError, match=message):
            resolve_device(spec)


# --- output folder faults: a second run, a full disk, a hand-edited folder -------------------------

def test_a_second_run_into_the_same_folder_is_refused(data: tuple[Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    from zoo.cli import main
    from zoo.locks import folder_lock

    out = tmp_path / "run"
    with folder_lock(out):  # a run already writing into OUT
        assert main(_cli(data, out, "max_steps=2")) == 2
    assert "zoo train still running) is writing into this folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [".zoo-lock"]  # nothing read or written


def _limit_file_size(size: int) -> Callable[[], None]:
    """A subprocess's ``preexec_fn``: its disk is full past ``size`` bytes a file (EFBIG, not a
    signal)."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


LONG = ("stages.pretrain.steps=60", "max_steps=60")  # logs and recipe.json of about 3 KB each


@pytest.fixture(scope="module")
def long_run(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zoo.cli import main

    out = tmp_path_factory.mktemp("long") / "run"
    assert main(_cli(data, out, *LONG)) == 0
    return out


NO_CHECKPOINT_YET = "; no checkpoint was saved yet: once it can be written, run the command again"
FROM_STEP_60 = "; once it can be written, --resume continues from the last checkpoint (step-00000060)"


# The hint named a checkpoint to resume from where none had been saved yet.
@pytest.mark.parametrize(("fails", "limit", "extra"), [
    ("checkpoints/step-00000002: cannot write the checkpoint (File too large)" + NO_CHECKPOINT_YET, 8192, ()),
    ("train.csv: cannot write the log (File too large)" + NO_CHECKPOINT_YET, 3072, ("checkpoint.every=100",)),
    ("recipe.json: cannot write the recipe (File too large)" + FROM_STEP_60, 1024, ("--resume", "max_steps=62")),
    ("train.csv: cannot write the log (File too large)" + FROM_STEP_60, 3072, ("--resume", "max_steps=62")),
])
def test_a_full_disk_is_one_line_and_leaves_the_files_whole(data: tuple[Path, Path], tmp_path: Path,
                                                            request: pytest.FixtureRequest, fails: str,
                                                            limit: int, extra: tuple[str, ...]) -> None:
    import shutil

    out = tmp_path / "run"
    if "--resume" in extra:
        shutil.copytree(request.getfixturevalue("long_run"), out)
    before = {p.name: p.read_bytes() for p in out.glob("*.*")}
    result = subprocess.run([sys.executable, "-c", LAUNCH, *_cli(data, out, *LONG, *extra)],
                            env=_env(), capture_output=True, text=True, timeout=120,
                            preexec_fn=_limit_file_size(limit))
    failed = fails.split(":")[0]
    if failed in before:
        assert (out / failed).read_bytes() == before[failed]  # not cut short
    assert all(log.read_bytes().endswith(b"\r\n") for log in out.glob("*.csv"))  # whole rows
    assert not list(out.glob("**/.*tmp*"))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and errors[0].endswith(f"{out}/{fails}"), result.stderr


def test_an_unwritable_output_folder_fails_before_training(data: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    out.mkdir()
    (out / "best").write_text("in the way")  # as root, the one way to make a folder unwritable
    assert main(_cli(data, out)) == 2
    assert not (out / "train.csv").exists() and not list_checkpoints(out / "checkpoints")
    assert f"error: {out / 'best'}: is a file, not a folder\n" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["missing", "cut short", "not a recipe", "empty object"])
def test_a_resume_without_a_readable_recipe_json_uses_the_checkpoints(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, damage: str) -> None:
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=3", "data.batch=3")) == 0
    saved = out / "recipe.json"
    if damage == "missing":
        saved.unlink()
    elif damage == "cut short":
        saved.write_bytes(saved.read_bytes()[:1024])
    else:  # valid JSON that is no recipe
        saved.write_text('{"data": 5, "stages": "x"}' if damage == "not a recipe" else "{}")
    capsys.readouterr()
    assert main(["train", TINY, "--out", str(out), "--resume", "--max-steps", "5", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"resuming with the recipe saved in {out / 'checkpoints' / 'step-00000003' / 'meta.json'}\n" in err
    recipe = json.loads(saved.read_text())
    assert recipe["data"]["batch"] == 3 and recipe["max_steps"] == 5
    assert recipe["source"] == str(TINY_RECIPE)


def test_a_checkpoint_with_a_wrong_meta_json_is_skipped(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.cli import main
    from zoo.train.checkpoint import latest_checkpoint, list_checkpoints

    def without(key: str) -> Callable[[dict], dict]:
        return lambda meta: {k: v for k, v in meta.items() if k != key}

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=4")) == 0
    previous, newest = list_checkpoints(out / "checkpoints")
    meta_file = newest / "meta.json"
    meta = json.loads(meta_file.read_text())
    for problem, edit in [("is not an object", lambda meta: [1, 2]),
                          ("lacks 'switcher'", without("switcher")), ("lacks 'rng'", without("rng")),
                          ("lacks 'elapsed'", without("elapsed")),
                          ("'step' is str", lambda meta: {**meta, "step": "thirty"}),
                          ("meta.json's step 2 is not the folder's", lambda meta: {**meta, "step": 2}),
                          ("not finite", lambda meta: {**meta, "elapsed": float("nan")})]:
        meta_file.write_text(json.dumps(edit(meta)))
        with pytest.warns(UserWarning, match=f"{newest} is unusable .*{problem}"):
            assert latest_checkpoint(out / "checkpoints")[0] == previous
    meta_file.write_text(json.dumps(meta))
    state = newest / "state.safetensors"  # one value changed, the file as long: its checksum tells
    changed = bytearray(state.read_bytes())
    changed[-1] ^= 0xFF
    state.write_bytes(changed)
    with pytest.warns(UserWarning, match=f"{newest} is unusable \\(checksum mismatch"):
        assert latest_checkpoint(out / "checkpoints")[0] == previous
    assert main(_cli(data, out, "max_steps=6", "--resume")) == 0


@pytest.mark.parametrize(("edit", "message"), [
    (lambda meta: {**meta, "rng": {**meta["rng"], "python": []}}, "random-number state does not fit"),
    (lambda meta: {**meta, "opt_g": {"param_groups": "x"}}, "optimizer or random-number state"),
    (lambda meta: {**meta, "stage_index": 99}, "stage_index 99 is not one of the recipe's 3 stages")])
def test_a_checkpoint_whose_state_does_not_fit_is_one_line(data: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture,
                                                           edit: Callable[[dict], dict],
                                                           message: str) -> None:
    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=4")) == 0
    meta_file = list_checkpoints(out / "checkpoints")[-1] / "meta.json"
    meta_file.write_text(json.dumps(edit(json.loads(meta_file.read_text()))))
    capsys.readouterr()
    assert main(_cli(data, out, "max_steps=6", "--resume")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {meta_file}: ") and message in err[-1]
    assert "move this checkpoint folder away" in err[-1]


def test_other_names_in_checkpoints_and_best_are_left_alone(data: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    import shutil

    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=4")) == 0
    backup = out / "checkpoints" / "step-00000002.bak"
    shutil.copytree(out / "checkpoints" / "step-00000002", backup)
    copies = [out / "best" / name for name in ("step-backup.safetensors", "step-00000001.safetensors.bak")]
    (out / "best").mkdir(exist_ok=True)
    for copy in copies:
        copy.write_bytes(b"a user's copy")
    assert list_checkpoints(out / "checkpoints")[0].name == "step-00000002"
    assert main(_cli(data, out, "max_steps=6", "checkpoint.keep=1", "--resume")) == 0
    assert [c.name for c in list_checkpoints(out / "checkpoints")] == ["step-00000006"]
    assert backup.is_dir() and all(copy.is_file() for copy in copies)


def test_a_garbled_log_keeps_the_rows_that_parse(tmp_path: Path) -> None:
    from zoo.train.logs import TRAIN_FIELDS, RunLog
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{tmp_path}"]'], check_data=False)
    header = ",".join(TRAIN_FIELDS) + "\r\n"
    rows = [f"{step},pretrain,generator,0.001,0.5,0.5,,,,10.0,{step}.0\r\n" for step in (1, 2, 3, 4)]
    garbled = "a note typed by hand\r\n".encode() + b"\xff\xfe\r\n" + rows[3].encode()[:12]
    (tmp_path / "train.csv").write_bytes((header + "".join(rows[:3])).encode() + garbled + rows[3].encode())
    with pytest.warns(UserWarning, match="train.csv: dropped 3 garbled line"):
        with RunLog(tmp_path, recipe, enabled=True, progress=False, resume_step=3):
            pass
    assert (tmp_path / "train.csv").read_bytes().decode() == header + "".join(rows[:3])


def test_a_resume_with_only_torn_checkpoints_starts_afresh_and_says_so(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from zoo.cli import main
    from zoo.train.checkpoint import list_checkpoints

    out = tmp_path / "run"
    pretrain = 'select.stages=["pretrain"]'  # so that validation writes best files by step 4
    assert main(_cli(data, out, "max_steps=4", pretrain)) == 0
    earlier = sorted(p.name for p in (out / "best").glob("step-*.safetensors"))
    for folder in list_checkpoints(out / "checkpoints"):
        (folder / "state.safetensors").write_bytes(b"torn")
    capsys.readouterr()
    assert main(_cli(data, out, "max_steps=2", pretrain, "--resume")) == 0
    assert [c.name for c in list_checkpoints(out / "checkpoints")] == ["step-00000002"]
    assert len((out / "train.csv").read_text().splitlines()) == 3
    assert (f"{out}: no usable checkpoint to resume from (2 torn, removed); training starts at "
            f"step 0 (the earlier run's best generators are kept in {out / 'best' / 'earlier'})\n"
            ) in capsys.readouterr().err
    assert earlier and sorted(p.name for p in (out / "best" / "earlier").iterdir()) == earlier


def test_leftovers_of_killed_writes_are_removed(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.cli import main

    out = tmp_path / "run"
    assert main(_cli(data, out, "max_steps=2")) == 0
    leftovers = [out / "best" / ".step-00000004.safetensors.k3j9x.tmp", out / ".recipe.json.x1y2.tmp",
                 out / ".train.csv.a8b7.tmp"]
    users = [out / ".notes.tmp", out / "best" / ".keep.tmp"]  # not names the run writes
    for path in leftovers + users:
        path.write_bytes(b"half")
    folders = [out / "checkpoints" / ".tmp-step-00000004-99", out / ".tmp-export-99"]
    for path in folders + [out / ".tmp-mine"]:
        path.mkdir()
    assert main(_cli(data, out, "max_steps=3", "--resume")) == 0
    assert not [path for path in leftovers + folders if path.exists()]
    assert all(path.exists() for path in users + [out / ".tmp-mine"])


def test_an_export_is_whole_or_absent_after_a_kill(data: tuple[Path, Path], tmp_path: Path) -> None:
    from zoo.cli import main

    out = tmp_path / "run"
    kill = ("import os, signal, zoo.hub; "
            "zoo.hub.save_weights = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL); ")
    killed = subprocess.run([sys.executable, "-c", kill + LAUNCH, *_cli(data, out, "max_steps=2")],
                            env=_env(), capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL and (out / "checkpoints").is_dir()
    assert not (out / "export").exists()
    assert main(_cli(data, out, "max_steps=2", "--resume")) == 0
    assert sorted(p.name for p in (out / "export").iterdir()) == [
        "README.md", "config.json", "model.safetensors", "training.json"]
    assert [p.name for p in out.glob(".tmp-*")] == []


def test_blank_lines_in_a_log_are_not_garbled_rows(tmp_path: Path) -> None:
    from zoo.train.logs import VAL_FIELDS, _truncate

    log = tmp_path / "val.csv"
    log.write_bytes(b"step,stage,quality,metric,value\r\r\n1,train,10,psnr,27.0\r\r\n\r\n"
                    b"2,train,10,psnr,27.5\r\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "garbled" warning
        _truncate(log, VAL_FIELDS, after_step=1)
    assert log.read_text().split() == ["step,stage,quality,metric,value", "1,train,10,psnr,27.0"]


def test_validation_scores_without_tf32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU, cuDNN's default TF32 would move the scores that choose the checkpoint."""
    import zoo
    from zoo.train import validate
    from zoo.train.data import ValidationSet

    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
        tmp_path / "a.png")
    from zoo.fp32 import fp32_settings

    seen = []

    def record(*args: object, **kwargs: object) -> dict[str, float]:
        seen.append(set(fp32_settings().values()) <= {"ieee", False})
        return {"psnr": 30.0}

    monkeypatch.setattr(validate, "compute_metrics", record)
    before = fp32_settings()
    validate.evaluate(zoo.load("jpeg", device="cpu"), ValidationSet(tmp_path, [10]),
                      torch.device("cpu"), ["psnr"])
    assert seen == [True] and fp32_settings() == before


def test_a_loader_worker_that_fails_is_one_line_with_what_to_do() -> None:
    from zoo.errors import ZooError
    from zoo.train.data import next_batch

    def failing(message: str) -> Iterator[list[torch.Tensor]]:
        raise RuntimeError(message)
        yield []

    worker = ("Caught RuntimeError in DataLoader worker process 0.\nOriginal Traceback (most recent "
              "call last):\n  File \"x.py\", line 1, in f\nRuntimeError: unable to resize file "
              "<filename not specified> to the right size: File too large (27)\n")
    with pytest.raises(ZooError, match=r"^the training data loader failed \(RuntimeError: unable to "
                                       r"resize file .*\); .*/dev/shm.*data.workers=0"):
        next_batch(failing(worker))
    with pytest.raises(ZooError, match=r"\(DataLoader worker \(pid 7\) is killed by signal: Bus"):
        next_batch(failing("DataLoader worker (pid 7) is killed by signal: Bus error. It is "
                           "possible that dataloader's workers are out of shared memory."))
    with pytest.raises(ZooError, match=r"\(Pin memory thread exited unexpectedly\)"):  # CUDA runs
        next_batch(failing("Pin memory thread exited unexpectedly"))
    with pytest.raises(RuntimeError, match="something else"):  # not the loader's: unchanged
        next_batch(failing("something else"))

    def reset() -> Iterator[list[torch.Tensor]]:
        raise ConnectionResetError(104, "Connection reset by peer")
        yield []

    # A worker killed while this process fetched its batch's shared memory from it: that was
    # "error: Connection reset by peer" alone.
    with pytest.raises(ZooError, match=r"^the training data loader failed \(DataLoader worker "
                                       r"gone while handing a batch over: Connection reset by "
                                       r"peer\); a worker killed by the system"):
        next_batch(reset())

    def closed() -> Iterator[list[torch.Tensor]]:
        raise EOFError
        yield []

    # The same, the connection closed before the answer: an EOFError with no text, which ended
    # the run with exit status 1 and a traceback Python could not print ("lost sys.stderr").
    with pytest.raises(ZooError, match=r"^the training data loader failed \(DataLoader worker "
                                       r"gone while handing a batch over: the connection closed\)"):
        next_batch(closed())


def test_a_data_error_in_a_loader_worker_is_its_own_one_line(tmp_path: Path) -> None:
    """Images gone bad while a worker reads them: the DataError as without workers, not torch's
    "Caught DataError in DataLoader worker ... Original Traceback" around it."""
    from zoo.errors import DataError
    from zoo.train.data import (Augment, ImageStore, PatchDataset, StepBatchSampler, make_loader,
                                next_batch)

    _write_images(tmp_path, 2, (20, 20), 0)
    store = ImageStore([tmp_path], min_side=16, cache_mb=0)
    for image in tmp_path.glob("*.png"):
        image.write_bytes(image.read_bytes()[:30])
    loader = make_loader(PatchDataset(store, Augment(16, (10, 10), 0.0), seed=0),
                         StepBatchSampler(2, 0, 0, 1), workers=1)
    with pytest.raises(DataError) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        next_batch(iter(loader))
    # Which folder, and that a resume goes on once they are back (a training auditor's).
    assert str(caught.value) == (f"none of the training images can be read any more (2 in "
                                 f"{tmp_path}): put them back, then --resume continues from the "
                                 "last checkpoint")


@pytest.mark.parametrize("rank", [0, 1])
def test_under_torchrun_a_busy_output_folder_stops_every_rank_before_any_barrier(
        data: tuple[Path, Path], tmp_path: Path, rank: int) -> None:
    """Rank 0 alone takes OUT's lock; every rank hears of a refusal, so none waits at a barrier
    (where rank 1 met a gloo traceback once rank 0 had ended)."""
    from zoo.distributed import ReportedElsewhere
    from zoo.errors import ZooError
    from zoo.locks import folder_lock
    from zoo.train.distributed import Dist
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    out = tmp_path / "run"
    refusal = f"{out}: another zoo command (a zoo bench or zoo train still running) is writing"

    class OneRankOfTwo(Dist):
        def gather(self, obj: object) -> list[object]:  # rank 0 was refused
            return [obj if self.rank == 0 else refusal, obj]

        def barrier(self) -> None:
            raise AssertionError("waited at a barrier")

        def wrap(self, model: nn.Module, *args: object, **kwargs: object) -> nn.Module:
            return model

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""'])
    trainer = Trainer(TINY, recipe, out, progress=False)
    trainer.dist = OneRankOfTwo(rank=rank, world=2)
    with folder_lock(out), pytest.raises(ZooError, match=re.escape(refusal)) as caught:
        trainer.run()
    assert isinstance(caught.value, ReportedElsewhere) == (rank == 1)  # said once, by rank 0


def test_running_out_of_memory_is_one_line_with_what_to_do(
        data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A GPU's out-of-memory error was a traceback; it says what to lower and what --resume
    continues from (the checkpoints already saved are kept)."""
    from zoo.cli import main

    calls = [0]
    forward = TinyNet.forward_padded

    def tight(self: TinyNet, x: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        if torch.is_grad_enabled() and calls[0] > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, x)

    monkeypatch.setattr(TinyNet, "forward_padded", tight)
    out = tmp_path / "run"
    assert main(_cli(data, out)) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "error: out of cpu memory in step 3 (data.batch=2, data.patch=16): lower data.batch or "
        "data.patch; --resume continues from the last checkpoint (step-00000002)"), err
    assert "Traceback" not in err


def test_running_out_of_memory_in_validation_names_the_crop(
        data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Validation scores whole crops without gradients: out of memory there is helped by a
    smaller validation.crop, not by the batch or patch the message named."""
    from zoo.cli import main

    forward = TinyNet.forward_padded

    def tight(self: TinyNet, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() and not self.training:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes")
        return forward(self, x)

    monkeypatch.setattr(TinyNet, "forward_padded", tight)
    assert main(_cli(data, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "error: out of cpu memory validating at step 4 (validation.crop=32): lower validation.crop; "
        "--resume continues from the last checkpoint (step-00000002)"), err
    assert "Traceback" not in err


def test_unusable_data_leaves_no_run_folder(data: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A run refused for its data left OUT behind with its lock file and empty checkpoints/ and
    best/ folders; it is refused before OUT is written into, and OUT is removed again."""
    from zoo.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "runs" / "new"
    assert main(["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(empty), "--val", "",
                 "--out", str(out), "--no-progress"]) == 2
    assert "no usable training images" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_the_images_that_fit_the_cache_are_kept_and_the_rest_said(tmp_path: Path) -> None:
    """One image over data.cache_mb dropped the whole cache without a word (a DIV2K-sized set
    over the default 4 GB trained about 48x slower); the images that fit are kept, the others
    read at each use, and one warning says how many."""
    from zoo.train.data import ImageStore

    rng = np.random.default_rng(0)
    for name in "abc":  # 512x512x3 = 0.75 MB each
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    with pytest.warns(UserWarning, match=r"training images: 2 of 3 kept in memory \(data.cache_mb=2; "
                                         r"all of them need 3 MB\)"):
        store = ImageStore([tmp_path], min_side=32, cache_mb=2)
    assert [pixels is not None for pixels in store._cache] == [True, True, False]
    assert not store.cached
    np.testing.assert_array_equal(store[2], np.asarray(Image.open(tmp_path / "c.png")))
    (tmp_path / "c.png").write_bytes(b"")  # gone bad: the next image, kept, takes its place
    (tmp_path / "a.png").unlink()  # (from memory: its file is not read again)
    with pytest.warns(UserWarning, match="c.png: empty file"):
        assert store[2] is store[0]


def test_linked_sub_folders_of_training_data_are_followed_once(tmp_path: Path) -> None:
    """As zoo restore -r: a linked sub-folder was silently left out; a link looping back up, or
    a second link into one folder, lists nothing twice. Hidden folders stay skipped."""
    from zoo.train.data import find_images

    top, real = tmp_path / "top", tmp_path / "real"
    (top / ".hidden").mkdir(parents=True)
    real.mkdir()
    for path in (top / "t.png", real / "r.png", top / ".hidden" / "h.png"):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    (top / "linked").symlink_to(real, target_is_directory=True)
    (top / "again").symlink_to(real, target_is_directory=True)
    (real / "up").symlink_to(top, target_is_directory=True)
    assert [p.relative_to(top).as_posix() for p in find_images([top])] == ["again/r.png", "t.png"]


def test_the_last_stage_ended_by_its_own_time_cap_stops_the_run(data: tuple[Path, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """It said "the run goes on with the next stage" where there is none, and not that the run
    stopped early (nor that --resume with a larger budget continues)."""
    from zoo.train.loop import Trainer
    from zoo.train.recipe import load_recipe

    recipe = load_recipe(TINY_RECIPE, [f'data.train=["{data[0]}"]', 'data.val=""',
                                       "stages.gan.max_minutes=1e-9"])
    trainer = Trainer(TINY, recipe, tmp_path / "run", progress=False)
    trainer.run()
    assert trainer.stopped and trainer.stop_reason == "stages.gan.max_minutes"
    err = capsys.readouterr().err
    assert "goes on with the next stage" not in err
    assert "stopped at step 10 of 18: stages.gan.max_minutes reached" in err


def test_the_eta_is_a_time_budget_s_when_it_ends_the_stage_sooner() -> None:
    """The shipped unet-l1 recipe stops at 40 minutes while its ETA, counting steps, said about
    3 hours: the plain lines' ETA and the bar's are the budget's where it is sooner, marked."""
    from rich.progress import Progress

    from zoo.plain_progress import PlainProgress, eta_text
    from zoo.terminal import console
    from zoo.train.logs import BudgetedRemainingColumn

    assert eta_text(3 * 3600.0, 1000.0 + 40 * 60, 1000.0) == "0:40:00 (time budget)"
    assert eta_text(600.0, 1000.0 + 40 * 60, 1000.0) == "0:10:00"
    assert eta_text(None, 1000.0 + 90, 1000.0) == "0:01:30 (time budget)"
    assert eta_text(None, 900.0, 1000.0) == "0:00:00 (time budget)"  # spent: not negative
    assert eta_text(600.0, None, 1000.0) == "0:10:00" and eta_text(None, None, 1.0) is None

    lines = PlainProgress(console())
    lines.start("pretrain (generator)", 100, 0, deadline=None)
    lines._t0 -= 60.0
    lines.done = 10  # 10 steps a minute: 90 steps, 9 minutes, left
    assert lines.line(time.monotonic()).endswith("ETA 0:09:00")
    lines.deadline = time.monotonic() + 120.5
    assert lines.line(time.monotonic()).endswith("ETA 0:02:00 (time budget)")

    progress = Progress()
    column = BudgetedRemainingColumn()
    task_id = progress.add_task("x", total=100, deadline=time.monotonic() + 120.5)
    task = progress.tasks[0]
    assert column.render(task).plain == "0:02:00 (time budget)"  # no rate yet: the budget
    progress.update(task_id, deadline=None)
    assert column.render(task).plain == "-:--:--"  # rich's own
    progress.update(task_id, deadline=time.monotonic() + 120.5, completed=100)
    assert column.render(task).plain == "0:00:00"  # finished: rich's own


def test_a_stage_s_first_line_names_the_time_budgets_its_eta_ignores(
        data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped unet-l1 recipe stops at 40 minutes while its ETA said about 3 hours: the ETA
    counts steps, and nothing said that a time budget would end the run first. Each stage's
    progress is given the time its first budget runs out."""
    from zoo.cli import main
    from zoo.train.logs import RunLog

    minutes_left: dict[str, float | None] = {}
    start_stage = RunLog.start_stage

    def spy(log: RunLog, stage: Any, *args: Any) -> None:
        deadline = args[3] if len(args) > 3 else None
        minutes_left[stage.name] = None if deadline is None else (deadline - time.monotonic()) / 60
        start_stage(log, stage, *args)

    monkeypatch.setattr(RunLog, "start_stage", spy)
    assert main(_cli(data, tmp_path / "run", "max_minutes=60", "stages.gan.max_minutes=5")) == 0
    assert 59 < minutes_left["pretrain"] <= 60 and 4.9 < minutes_left["gan"] <= 5
    err = capsys.readouterr().err
    assert re.search(r"stage pretrain \(generator\): 6 steps; it ends sooner when the run's "
                     r"max_minutes \([\d.]+ of 60 min left\) run out \(the ETA allows for them\)",
                     err)
    assert re.search(r"stage gan \(gan\): 8 steps; it ends sooner when the run's max_minutes "
                     r"\([\d.]+ of 60 min left\) and the stage's max_minutes \(5 min\) run out", err)
    assert main(_cli(data, tmp_path / "plain")) == 0
    assert "ends sooner" not in capsys.readouterr().err
    assert minutes_left["pretrain"] is None and minutes_left["gan"] is None
