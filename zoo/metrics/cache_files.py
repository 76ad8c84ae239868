"""Converted metric parameters kept in the zoo cache: written whole, or, where the cache cannot
hold them (a read-only or full disk), used from memory with one warning, rather than every image
failing on the write and converting them again."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError

from zoo.errors import caller_stacklevel, first_line, os_reason, printable

__all__ = ["CacheWarning", "cached", "keep_in_cache"]

T = TypeVar("T")

_IN_MEMORY: dict[Path, Any] = {}
"""What could not be written, by the cache file it was meant for (this process only)."""


class CacheWarning(UserWarning):
    """Converted parameters the zoo cache cannot hold (used from memory for this run) or could
    not read (converted again)."""


def cached(path: Path, *, load: Callable[[str], T], build: Callable[[], T],
           save: Callable[[T, str], None], what: str, cache: str) -> T:
    """``path`` loaded, else what this process could not write there, else ``build()`` kept
    there by ``save(value, temporary_path)``. A file that cannot be read (truncated, damaged) is
    converted again and replaced, with one :class:`CacheWarning` naming it and the ``cache`` it
    is; ``what`` names the converted parameters."""
    if path in _IN_MEMORY:
        return _IN_MEMORY[path]
    if path.is_file():
        try:
            return load(str(path))
        except Exception as exc:  # noqa: BLE001  (the file is the zoo's own, derived: rebuilt)
            warnings.warn(printable(f"{path}: unreadable {cache} ({first_line(exc)}); the "
                                    f"{what} are converted again and the file replaced"),
                          CacheWarning, stacklevel=caller_stacklevel())
    value = build()
    keep_in_cache(path, value, lambda tmp: save(value, tmp), what)
    return value


def keep_in_cache(path: Path, value: Any, save: Callable[[str], None], what: str) -> None:
    """Write ``value`` to ``path`` by ``save(temporary_path)``, then put it in place. A cache that
    cannot hold it keeps ``value`` in memory (:func:`kept_in_memory`) and says so once."""
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(str(tmp))
        os.replace(tmp, path)
    except (OSError, SafetensorError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        _IN_MEMORY[path] = value
        reason = os_reason(exc) if isinstance(exc, OSError) else first_line(exc)
        warnings.warn(printable(
            f"{path}: the zoo cache cannot keep the converted {what} ({reason}); they are used "
            "from memory for this run and converted again by the next (set ZOO_DATA to a "
            "writable folder)"), CacheWarning, stacklevel=caller_stacklevel())
