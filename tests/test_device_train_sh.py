"""training/device/train.sh on this CPU, with a stub for python that passes the environment checks,
sizes every run alike and fakes ``zoo train`` (tests/test_device_pack.py has pack.py); and salvage.py,
which copies a run's weights into its $OUT folder while it trains."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import zoo
from zoo.errors import ZooError
from zoo.registry import create_model
from zoo.train.checkpoint import save_checkpoint
from script_modules import load_script

REPO = Path(__file__).resolve().parent.parent
TRAIN_SH = REPO / "training" / "device" / "train.sh"
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

# Stands in for python in train.sh; logs the arguments of the throughput probe (which sizes every
# run to stages.train.steps=7) and of zoo train to $ARGS. "zoo train ENTRY --out RUN ..." copies
# $FAKE_RUN into RUN, waits for the salvager's first copy of val.csv, lingers $FAKE_LINGER seconds,
# then ends as $FAKE_EXPORT says: with an export, or failing. Everything else runs on the real
# python, which logs its pid first.
STUB = """#!/usr/bin/env bash
case $1 in
    -c) [[ $2 == "import lpips" || $2 == "import torch, zoo"* ]] && exit 0 ;;
    benchmarks/speed_train.py) echo "$*" >> "$ARGS"
        while [[ $1 != --fit-out ]]; do shift; done; echo stages.train.steps=7 > "$2"; exit 0 ;;
    -m) echo "$*" >> "$ARGS"; run=$6 dest=$OUT/1-$4
        cp -r "$FAKE_RUN"/. "$run"/
        for ((i = 0; i < 900; i++)); do [[ -f $dest/val.csv ]] && break; /bin/sleep 0.1; done
        /bin/sleep "${FAKE_LINGER:-0}"
        [[ -n ${FAKE_EXPORT:-} ]] || exit 1
        mkdir "$run/export"
        touch "$run"/export/{model.safetensors,config.json,training.json} "$run"/{train.csv,recipe.json}
        exit 0 ;;
esac
echo $$ >> "$PIDS"
exec %s "$@"
"""


@pytest.fixture
def device_tree(tmp_path: Path) -> Path:
    """A travelled tree's root with carry-1's folders, where train.sh runs with the stub python."""
    for part in ("zoo-data", "val", "wheels", "train"):
        (tmp_path / "tree" / ".device" / "carry-1" / part).mkdir(parents=True)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "python").write_text(STUB % sys.executable)
    (bin_ / "python").chmod(0o755)
    (bin_ / "sleep").write_text("#!/bin/sh\nexec /bin/sleep 0.1\n")  # any salvage loop's naps
    (bin_ / "sleep").chmod(0o755)
    return tmp_path / "tree"


def _train_sh(tree: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    top = tree.parent
    env = {**os.environ, "PYTHON": str(top / "bin" / "python"), "OUT": str(top / "out"),
           "PATH": f"{top / 'bin'}:{os.environ['PATH']}", "TMPDIR": str(top),
           "PIDS": str(top / "pids"), "ARGS": str(top / "args"), "FAKE_RUN": str(top / "run"),
           "SALVAGE_SECONDS": "0.1", **env}
    (top / "run").mkdir(exist_ok=True)
    return subprocess.run(["bash", str(TRAIN_SH), *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)


def _returned(tree: Path) -> list[str]:
    return sorted(p.name for p in (tree.parent / "out" / "1-unet-l1").iterdir())


def _groups(tree: Path, count: int) -> None:
    (tree / ".device" / "carry-1" / "groups.txt").write_text(f"{count}\n")


def _val_csv(run: Path) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "val.csv").write_text("step,stage,quality,psnr\n100,train,10,27.0\n")


@needs_bash
@pytest.mark.parametrize("groups", [None, "", "0", "two\n", "-1\n"])
def test_train_sh_refuses_a_missing_or_bad_groups_txt(device_tree: Path, groups: str | None) -> None:
    if groups is not None:
        (device_tree / ".device" / "carry-1" / "groups.txt").write_text(groups)
    done = _train_sh(device_tree, "--check")
    assert done.returncode == 2
    assert done.stdout.strip().splitlines()[-1].startswith(
        "train.sh: .device/carry-1/groups.txt is missing or not a positive count")


@needs_bash
def test_train_sh_with_a_good_groups_txt_checks_that_all_folders_came(device_tree: Path) -> None:
    _groups(device_tree, 2)
    assert _train_sh(device_tree, "--check").returncode == 0
    done = _train_sh(device_tree, "unet-l1", "1")  # stops before anything trains: carry-2 is missing
    assert done.returncode == 2 and "train.sh: .device/carry-2 is missing" in done.stdout


@needs_bash
def test_a_run_cut_before_any_best_file_or_checkpoint_returns_no_weights(device_tree: Path) -> None:
    """The salvage listed the working directory when the run had no best file yet, and returned
    its newest file (here the weights a README step puts in the tree) as the run's."""
    _groups(device_tree, 1)
    save_file({"w": torch.ones(3)}, str(device_tree / "gpu-init.safetensors"))
    _val_csv(device_tree.parent / "run")
    assert _train_sh(device_tree, "unet-l1", "1").returncode == 1
    assert _returned(device_tree) == ["results.tar.gz"]  # val.csv, train.log and fit.txt


@needs_bash
def test_a_run_cut_before_its_first_best_file_returns_the_newest_checkpoints_ema(
        device_tree: Path) -> None:
    """The flagship writes best files only in its GAN stage: a call cut in its pretrain returned
    nothing."""
    _groups(device_tree, 1)
    run = device_tree.parent / "run"
    _val_csv(run)
    for step in (100, 200):
        save_checkpoint(run / "checkpoints", step, {"gen.w": torch.zeros(3),
                                                    "ema.w": torch.full((3,), step / 1000)}, {}, keep=3)
    assert _train_sh(device_tree, "unet-l1", "1").returncode == 1
    assert _returned(device_tree) == ["checkpoint-ema.safetensors", "results.tar.gz"]
    salvaged = device_tree.parent / "out" / "1-unet-l1" / "checkpoint-ema.safetensors"
    assert torch.equal(load_file(salvaged)["w"], torch.full((3,), 0.2, dtype=torch.float16))


@needs_bash
def test_train_sh_sizes_each_run_to_its_share_of_the_minutes_and_trains_it_so(device_tree: Path) -> None:
    """Two runs of 10 minutes side by side: each probe sizes its stages to 10 x 60 % / 2 = 3
    minutes, and each run trains with those steps, its own overrides, capped at its 10 minutes."""
    _groups(device_tree, 1)
    _val_csv(device_tree.parent / "run")
    done = _train_sh(device_tree, "unet-l1", "10", "+", "unet-l1", "10", "data.batch=4",
                     FAKE_EXPORT="1")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (device_tree.parent / "args").read_text().splitlines()
    probes = [call for call in calls if call.startswith("benchmarks/speed_train.py")]
    trains = [call for call in calls if call.startswith("-m zoo train unet-l1")]
    assert len(probes) == 2 and all(" --fit-minutes 3.0 " in call for call in probes), probes
    assert len(trains) == 2 and all(" --max-minutes 10 --no-progress stages.train.steps=7" in call
                                    for call in trains), trains
    assert sum(call.endswith(" data.batch=4") for call in probes + trains) == 2


@needs_bash
def test_train_sh_refuses_more_runs_than_the_files_that_come_back(device_tree: Path) -> None:
    _groups(device_tree, 1)
    _val_csv(device_tree.parent / "run")
    done = _train_sh(device_tree, *["unet-l1", "1", "+"] * 4, "unet-l1", "1")  # 5 runs, 10 files
    assert done.returncode == 2 and "train.sh: at most 4 runs" in done.stdout


def _running(pids: Path) -> list[int]:
    """The pids listed in ``pids`` whose processes still run (zombies do not)."""
    alive = []
    for pid in map(int, pids.read_text().split()):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


@needs_bash
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_nothing_train_sh_started_writes_into_out_after_the_run(device_tree: Path) -> None:
    """The salvager was stopped by killing its shell, while its python child, in the middle of a
    copy, went on to write into $OUT after train.sh had cleaned up."""
    _groups(device_tree, 1)
    run = device_tree.parent / "run"
    _val_csv(run)
    (run / "best").mkdir()
    save_file({"w": torch.ones(3)}, str(run / "best" / "step-00000100.safetensors"))
    done = _train_sh(device_tree, "unet-l1", "1", FAKE_EXPORT="1", FAKE_LINGER="0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _running(device_tree.parent / "pids") == []
    assert _returned(device_tree) == ["model.safetensors", "results.tar.gz"]


def _salvage_module() -> ModuleType:
    return load_script("training/device/salvage.py")


def test_salvage_returns_the_best_file_else_the_newest_checkpoints_ema_each_loadable(
        tmp_path: Path) -> None:
    salvage = _salvage_module()
    run, dest = tmp_path / "run", tmp_path / "dest"
    dest.mkdir()
    salvage.salvage(run, dest)  # nothing trained yet
    assert list(dest.iterdir()) == []
    _val_csv(run)
    ema = create_model("unet-l1").state_dict()
    tensors = {"gen.x": torch.zeros(1)} | {f"ema.{k}": v for k, v in ema.items()}
    save_checkpoint(run / "checkpoints", 100, tensors, {}, keep=3)
    salvage.salvage(run, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["checkpoint-ema.safetensors", "val.csv"]
    with safe_open(str(dest / "checkpoint-ema.safetensors"), "pt") as f:
        assert f.metadata() == {"salvaged_from": "checkpoints/step-00000100/state.safetensors"}
    loaded = zoo.load("unet-l1", weights=str(dest / "checkpoint-ema.safetensors")).state_dict()
    for key, value in ema.items():
        expected = value.half().float() if value.is_floating_point() else value
        assert torch.equal(loaded[key].cpu(), expected), key

    best = {k: v + 1 if v.is_floating_point() else v for k, v in ema.items()}
    (run / "best").mkdir()
    save_file(best, str(run / "best" / "step-00000100.safetensors"))
    salvage.salvage(run, dest)  # the first best file replaces the checkpoint's EMA
    assert sorted(p.name for p in dest.iterdir()) == ["best.safetensors", "val.csv"]
    returned = load_file(dest / "best.safetensors")
    assert returned.keys() == best.keys()
    for key, value in best.items():
        assert torch.equal(returned[key], value.half() if value.is_floating_point() else value), key


def test_salvage_loop_ends_on_a_signal_between_passes_sigusr1_after_one_more(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    salvage = _salvage_module()
    passes: list[str] = []

    def a_pass_told_to_stop(run: Path, dest: Path) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        passes.append("whole")

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        monkeypatch.setattr(salvage, "salvage", a_pass_told_to_stop)
        salvage.salvage_until_stopped(tmp_path, tmp_path, every=0.01)
        assert passes == ["whole"]
        monkeypatch.setattr(salvage, "salvage", lambda run, dest: passes.append("last"))
        for signum, expected in ((signal.SIGTERM, []), (signal.SIGUSR1, ["last"])):
            passes.clear()
            threading.Timer(0.2, os.kill, (os.getpid(), signum)).start()
            start = time.monotonic()
            salvage.salvage_until_stopped(tmp_path, tmp_path, every=60)  # stopped in its nap
            assert time.monotonic() - start < 5 and passes == expected
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_salvage_passes_over_a_newest_best_file_that_does_not_read_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The run was writing step 200's best file: step 100's is returned, not the checkpoint's
    EMA in place of the best. A pass that fails (a full disk) is said, and the loop goes on."""
    salvage = _salvage_module()
    run, dest = tmp_path / "run", tmp_path / "dest"
    dest.mkdir()
    save_checkpoint(run / "checkpoints", 300, {"ema.w": torch.zeros(3)}, {}, keep=3)
    (run / "best").mkdir()
    save_file({"w": torch.ones(3)}, str(run / "best" / "step-00000100.safetensors"))
    (run / "best" / "step-00000200.safetensors").write_bytes(b"\0" * 16)
    salvage.salvage(run, dest)
    assert [p.name for p in dest.iterdir()] == ["best.safetensors"]
    assert torch.equal(load_file(dest / "best.safetensors")["w"], torch.ones(3, dtype=torch.float16))

    def full_disk(run: Path, dest: Path) -> None:
        raise ZooError(f"{dest}: No space left on device")

    monkeypatch.setattr(salvage, "salvage", full_disk)
    salvage.try_salvage(run, dest)
    assert capsys.readouterr().err == f"salvage.py: {dest}: No space left on device\n"
