"""What differs on macOS and Windows, simulated on the machine the tests run on: POSIX-only
modules and signals missing, folders that cannot be opened, output encodings without arrows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.child_signals import quiet_children
from zoo.train import files


def test_a_checkpoint_folder_is_written_where_folders_cannot_be_opened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows: os.open of a folder is a PermissionError, and every checkpoint failed on it."""
    real_open = os.open

    def windows_open(path: object, flags: int, *args: object) -> int:
        if Path(str(path)).is_dir():
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", windows_open)
    written = files.write_folder(tmp_path / "step-2", "the checkpoint",
                                 lambda folder: (folder / "meta.json").write_text("{}"))
    assert (written / "meta.json").read_text() == "{}"


def test_stopping_needs_no_sigchld(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no SIGCHLD: the Ctrl-C handler failed with an AttributeError, and the
    commands' interrupt handling (what a resume picks up, the rows kept) was skipped."""
    monkeypatch.delattr(signal, "SIGCHLD")
    quiet_children()


def test_the_child_helpers_import_without_the_resource_module() -> None:
    """Windows has no `resource`: six benchmark scripts failed to import for one function."""
    code = ("import sys; sys.modules['resource'] = None\n"
            "from zoo.cli.children import peak_rss_mb, run_child\n"
            "from zoo.errors import ZooError\n"
            "try:\n    peak_rss_mb()\nexcept ZooError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("peak memory is read with the resource module, which this "
                                 "platform (Windows) lacks")


def test_output_in_an_encoding_without_the_table_s_arrows(tmp_path: Path) -> None:
    """Windows writes redirected output as cp1252: `zoo bench > out.txt` failed with a
    UnicodeEncodeError at its table's first arrow, after measuring everything."""
    from PIL import Image

    from zoo.samples import sample_image

    (tmp_path / "set").mkdir()
    Image.fromarray(sample_image("camera")[:40, :40]).save(tmp_path / "set" / "a.png")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "zoo", "bench", "--data", str(tmp_path / "set"),
                          "--models", "jpeg", "-q", "10", "--metrics", "psnr", "--protocol", "y",
                          "--out", str(tmp_path / "o"), "--no-progress"],
                         capture_output=True, env=env, check=False)
    assert run.returncode == 0, run.stderr.decode("cp1252")
    # Then shown as \u2191, out of line with its column: a sign the encoding has (a CLI auditor's).
    assert b"PSNR (dB) ^" in run.stdout and b"\\u" not in run.stdout
