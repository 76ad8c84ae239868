"""Output-folder locks: a second process is refused at once; a dead holder leaves no lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zoo.errors import ZooError
from zoo.locks import folder_lock

_HOLD = textwrap.dedent("""
    import sys, time
    from zoo.locks import folder_lock
    with folder_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_holder_is_refused_and_a_killed_one_releases(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "out")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        busy = r"another zoo command \(a zoo bench or zoo train still running\) is writing"
        with pytest.raises(ZooError, match=busy):
            with folder_lock(tmp_path / "out"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path / "out"):  # SIGKILL released it
        pass


def test_a_folder_that_cannot_hold_the_lock_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ZooError) as refused:  # it said "cannot write into this folder (Not a
        with folder_lock(tmp_path / "file" / "out"):  # directory)"
            pass
    assert str(refused.value) == (f"{tmp_path / 'file' / 'out'}: {tmp_path / 'file'} is a file, "
                                  "not a folder")


def test_a_read_only_folder_is_refused_even_when_the_lock_file_is_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import zoo.atomic

    with folder_lock(tmp_path / "out"):  # an earlier run left the lock file
        pass

    def read_only(*args: object, **kwargs: object) -> None:  # as root, chmod would not stop us
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(zoo.atomic.tempfile, "TemporaryFile", read_only)
    with pytest.raises(ZooError, match=r"out: cannot write into this folder \(Permission denied\)"):
        with folder_lock(tmp_path / "out"):
            pass
