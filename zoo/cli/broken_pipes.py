"""Output whose reader went away (``zoo restore -r DIR 2>&1 | head -1``, a closed terminal, a
``tee`` that was stopped) must not end the work: the rest of a batch, a benchmark or a training
run goes on, its messages written to nothing, and its files are all written."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["reader_may_leave"]


class _ReaderMayLeave:
    """A text stream that, once its reader has gone (a broken pipe), writes to the null device."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_nothing()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_nothing()

    def _to_nothing(self) -> None:
        """Point the stream's file descriptor at the null device, so that what it still holds,
        what follows and Python's own flush at exit go there instead of failing again (Python
        would exit with status 120); a stream without one is replaced by the null device."""
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  (lives as long as the process)
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def reader_may_leave() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` that outlive their readers, for the command's run (rich
    consoles made without a ``file`` write to whichever is current)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
