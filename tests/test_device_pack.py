"""training/device/train.sh refuses a carry-1 without a usable groups.txt."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TRAIN_SH = REPO / "training" / "device" / "train.sh"


@pytest.fixture
def device_tree(tmp_path: Path) -> Path:
    """A travelled tree's root with carry-1's folders, where train.sh runs with a stub python."""
    for part in ("zoo-data", "val", "wheels"):
        (tmp_path / ".device" / "carry-1" / part).mkdir(parents=True)
    return tmp_path


def _train_sh(tree: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": shutil.which("true"), "OUT": str(tree / "out")}
    return subprocess.run(["bash", str(TRAIN_SH), *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("groups", [None, "", "0", "two\n", "-1\n"])
def test_train_sh_refuses_a_missing_or_bad_groups_txt(device_tree: Path, groups: str | None) -> None:
    if groups is not None:
        (device_tree / ".device" / "carry-1" / "groups.txt").write_text(groups)
    done = _train_sh(device_tree, "--check")
    assert done.returncode == 2
    assert done.stdout.strip().splitlines()[-1].startswith(
        "train.sh: .device/carry-1/groups.txt is missing or not a positive count")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_train_sh_with_a_good_groups_txt_checks_that_all_folders_came(device_tree: Path) -> None:
    (device_tree / ".device" / "carry-1" / "groups.txt").write_text("2\n")
    assert _train_sh(device_tree, "--check").returncode == 0
    done = _train_sh(device_tree, "unet-l1", "1")  # stops before anything trains: carry-2 is missing
    assert done.returncode == 2 and "train.sh: .device/carry-2 is missing" in done.stdout
