"""Atomic file writes: a temporary file in the same folder, synced, then renamed into place.

A reader (or a run resumed after a kill) sees either the old file or the whole new one.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from zoo.errors import ZooError, os_reason


def nearest_existing(path: Path) -> Path:
    """``path`` if it is there, else the nearest folder (or file) above it that is."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def unwritable_folder(folder: str | os.PathLike[str]) -> str | None:
    """Why nothing can be written into ``folder`` (or, if it is not there yet, the nearest
    folder above it, where it would be made); None when a file can be created there."""
    existing = nearest_existing(Path(folder))
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            return None
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # of a folder that exists: a virtual file system's answer
            return (f"cannot write into {existing}: its file system does not hold new files (a "
                    "virtual one, such as /proc or /sys)")
        return f"cannot write into {existing} ({os_reason(exc)})"


def check_output_file(path: str | os.PathLike[str], option: str) -> None:
    """Refuse before any work, in one line naming ``option`` (``--json``), an output file that
    could not be written: a folder in its place, a file where a folder on its way should be, a
    folder that cannot be written into."""
    path = Path(path)
    if path.is_dir():
        raise ZooError(f"{option} {path}: is a folder, not a file")
    why = unwritable_folder(path.parent)
    if why:
        raise ZooError(f"{option} {path}: {why}")
    try:
        check_replaceable(path)
    except OSError as exc:
        raise ZooError(f"{option} {path}: {os_reason(exc)}") from None


def check_replaceable(path: str | os.PathLike[str]) -> None:
    """Refuse, as an OSError, what :func:`atomic_write` would not replace at ``path``: a
    write-protected file (a rename would replace it regardless), a folder in its place, or a
    device, pipe or socket (the rename replaced ``/dev/null`` itself, run as root, with a file).
    A symbolic link is replaceable whatever it points at: the rename replaces the link, never
    its target."""
    path = Path(path)
    if path.is_symlink():
        return
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, "a device, pipe or socket, not a file to write a result into",
                      str(path))
    # The write bits too: root may write anywhere, but a file without them was protected on purpose.
    if path.is_file() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):
        raise PermissionError(errno.EACCES, "Permission denied (the file is write-protected)",
                              str(path))


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], object], *,
                 mode: str = "w") -> Path:
    """Call ``write(handle)`` on a temporary file and rename it to ``path``: mode 0644, or the
    mode of the file it replaces.

    A write-protected ``path``, or a folder there, is refused (:func:`check_replaceable`). An
    OSError (disk full, no permission, a folder in the way) names ``path``, not the temporary
    file, which is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_replaceable(path)
        _write_and_rename(path, write, mode)
    except OSError as exc:
        reason = os_reason(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):  # a file on the way: say which
            reason = unwritable_folder(path.parent) or reason
        raise OSError(exc.errno, reason, str(path)) from exc
    return path


TEMP_NAME_BYTES = 200
"""The most of the final name a temporary file's name repeats: with its dot, mkstemp's eight
characters and ``.tmp`` it stays under the 255 bytes file systems allow a name, as the final
name does (a 250-byte result was refused as "File name too long")."""


def _write_and_rename(path: Path, write: Callable[[IO[Any]], object], mode: str) -> None:
    name = os.fsdecode(os.fsencode(path.name)[:TEMP_NAME_BYTES])
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
    text = "b" not in mode
    try:
        with os.fdopen(fd, mode, **({"newline": "", "encoding": "utf-8"} if text else {})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_of(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_of(path: Path) -> int:
    """The permission bits of the file being replaced; for a new one, what ``open`` would give
    it (0666 less the umask; mkstemp's 0600 would hide ordinary results from other users), as
    for a symbolic link, which the rename replaces (its target's mode is another file's)."""
    try:
        if not path.is_symlink():
            return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        pass
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``os.umask`` can
    only set it, and setting it back leaves a moment in which other threads see 0)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write a probe file into it, so that a folder a command could not
    write into fails before its work rather than after it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"probe")
            probe.flush()
    except OSError as exc:
        raise ZooError(f"{folder}: {folder_failure(folder, exc)}") from None


def folder_failure(folder: Path, exc: OSError) -> str:
    """Why ``folder`` could not be made or written into, from the error met doing it: a file
    in the way named as such (``File exists`` said nothing of it)."""
    existing = nearest_existing(folder)
    if existing.exists() and not existing.is_dir():
        return ("is a file, not a folder" if existing == folder else
                f"{existing} is a file, not a folder")
    return f"cannot write into this folder ({os_reason(exc)})"
