"""`zoo train` as a process stopped from outside: SIGTERM to its process group (a scheduler,
`timeout`) is the user's stop even though the data loader's workers get it too; a worker
killed alone is still the loader's failure. Subprocesses with loader workers, seconds each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_train import LAUNCH, _cli, _env, _write_images

LONG = ("stages.pretrain.steps=100000", "checkpoint.every=2", "data.workers=2")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("process-data")
    _write_images(root / "train", 4, (40, 48), 0)
    _write_images(root / "val", 1, (32, 32), 2)
    return root / "train", root / "val"


def _start(data: tuple[Path, Path], out: Path) -> subprocess.Popen[str]:
    """A long run in its own process group, once it has saved a checkpoint (its workers run)."""
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *_cli(data, out, *LONG)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 90
    while not any((out / "checkpoints").glob("step-*")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run saved no checkpoint: {proc.communicate()[1]}")
        time.sleep(0.05)
    return proc


def _workers(pid: int) -> list[int]:
    """The loader workers: the child processes of the run's main thread, which started them
    (its other threads come and go)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_sigterm_to_the_group_is_terminated_and_the_run_resumes(data: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    """It was "error: the training data loader failed (DataLoader worker ... killed by signal:
    Terminated.)", exit 2, in 5 of 8 tries, or "terminated" and then a traceback from the
    loader's __del__."""
    out = tmp_path / "run"
    proc = _start(data, out)
    os.killpg(proc.pid, signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM and err.strip().splitlines()[-1] == "terminated", err
    assert "error" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    saved = max(int(p.name[5:]) for p in (out / "checkpoints").glob("step-*"))
    resumed = subprocess.run([sys.executable, "-c", LAUNCH, *_cli(data, out, "--resume", *LONG),
                              "--max-steps", str(saved + 2)], env=_env(), capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0 and f"stopped at step {saved + 2}" in resumed.stderr, resumed.stderr


def test_a_worker_terminated_alone_is_the_loader_s_failure(data: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    """Someone else's SIGTERM to a worker is no stop of the run: the loader failed, said so."""
    proc = _start(data, tmp_path / "run")
    os.kill(_workers(proc.pid)[0], signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    # torch notices it as "killed by signal: Terminated" or, a moment later, "exited unexpectedly"
    assert proc.returncode == 2 and "terminated" not in err, err
    assert "error: the training data loader failed (DataLoader worker" in err, err
