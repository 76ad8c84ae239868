"""One command at a time per output folder: an advisory lock that the system drops when its holder
dies, so a killed run never leaves a folder locked.

Two ``zoo bench`` (or ``zoo train``) runs writing into one folder would each rewrite files from the
state they read at start and lose the other's work; the second one is refused instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from zoo.atomic import check_writable
from zoo.errors import ZooError, os_reason

__all__ = ["LOCK_FILE", "folder_lock"]

LOCK_FILE = ".zoo-lock"


@contextmanager
def folder_lock(folder: str | Path, *, made: Sequence[Path] = ()) -> Iterator[None]:
    """Hold ``folder``'s lock while the block runs; ZooError at once when another process holds it
    or the folder cannot be written.

    ``made``: the folders this command created for itself (``folder`` first, then its parents);
    when ``folder`` holds nothing but the lock file at the end, the lock file and these folders
    are removed, so a command that wrote nothing leaves nothing behind.

    The refusal cannot name the holder (a contender's open truncates the lock file), so it names
    the commands that take this lock.
    """
    folder = Path(folder)
    lock = FileLock(folder / LOCK_FILE, timeout=0)
    try:
        check_writable(folder)  # the lock file may be there already, in a folder now read-only
        lock.acquire()
    except Timeout:
        raise ZooError(f"{folder}: another zoo command (a zoo bench or zoo train still running) is "
                       "writing into this folder; wait for it to end, or choose another output "
                       "folder") from None
    except OSError as exc:  # the lock file is the first thing a command writes there
        raise ZooError(f"{folder}: cannot write into this folder ({os_reason(exc)})") from None
    try:
        yield
    finally:
        try:
            if made:
                _remove_unused(folder, made)
        finally:
            lock.release()


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first (what a
    command creates for itself: ``folder_lock``'s ``made``)."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _remove_unused(folder: Path, made: Sequence[Path]) -> None:
    """The lock file and the folders in ``made``, when ``folder`` holds nothing else.

    Removed while still held: a contender that opened the lock file before is refused all the
    same, and one that comes after makes a new lock file, which keeps the folder.
    """
    try:
        if [p.name for p in folder.iterdir()] != [LOCK_FILE]:
            return
        (folder / LOCK_FILE).unlink()
        for path in made:
            path.rmdir()  # stops at the first folder something else was put into meanwhile
    except OSError:
        pass  # a folder left behind is clutter, never a loss
