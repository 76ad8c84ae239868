"""How a training run writes its output folder: each file and folder whole or absent after a
kill, and a failed write (disk full, no permission) a one-line ZooError naming what could not be
written, with its temporary leftovers removed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from zoo.atomic import atomic_write
from zoo.errors import ZooError, os_reason

__all__ = ["file_leftovers", "folder_leftovers", "remove_leftovers", "write_failure", "write_file",
           "write_folder"]

def _resume_hint(path: Path) -> str:
    """What to do once ``path`` (a file or folder of a run's output folder) can be written:
    resume from the run's last checkpoint, or, before any was saved, run it again."""
    from zoo.train.checkpoint import list_checkpoints  # here: that module imports this one

    for out in path.parents[:2]:
        folder = out / "checkpoints"
        if folder.is_dir():
            saved = list_checkpoints(folder)
            if saved:
                return ("once it can be written, --resume continues from the last checkpoint "
                        f"({saved[-1].name})")
            return "no checkpoint was saved yet: once it can be written, run the command again"
    return "once it can be written, --resume continues from the last checkpoint saved"


def write_failure(path: Path, what: str, exc: OSError) -> ZooError:
    """The error for the user when ``what`` (e.g. ``the checkpoint``) could not go to ``path``."""
    return ZooError(f"{path}: cannot write {what} ({os_reason(exc)}); {_resume_hint(path)}")


def write_file(path: Path, data: bytes | str, what: str) -> Path:
    """Write ``data`` to ``path`` atomically (the old file stays whole when the write fails)."""
    try:
        return atomic_write(path, lambda handle: handle.write(data),
                            mode="wb" if isinstance(data, bytes) else "w")
    except OSError as exc:
        raise write_failure(path, what, exc) from None


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries durable; a no-op where folders cannot be opened (Windows, where
    ``os.open`` of a folder is a PermissionError and every checkpoint failed on it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_leftovers(name: str) -> str:
    """The names that :func:`write_file` (``zoo.atomic``'s temporary files) may leave for ``name``."""
    return f".{name}.*.tmp"


def folder_leftovers(name: str) -> tuple[str, str]:
    """The names that :func:`write_folder` may leave for ``name``: the new folder, the old one."""
    return f".tmp-{name}-*", f".tmp-old-{name}-*"


def write_folder(final: Path, what: str, fill: Callable[[Path], object]) -> Path:
    """Let ``fill`` write a temporary sibling folder, then rename it to ``final``, replacing an
    older one: ``final`` is always whole or absent."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    old = final.with_name(f".tmp-old-{final.name}-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        fill(tmp)
        _fsync_dir(tmp)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            os.replace(old, final)
        if isinstance(exc, OSError):
            raise write_failure(final, what, exc) from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def remove_leftovers(folder: Path, *patterns: str) -> None:
    """Delete what killed writes left in ``folder``: the files and folders matching ``patterns``."""
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
