"""Child processes that end while the command is already stopping (a data loader's workers)."""

from __future__ import annotations

import signal
import threading

__all__ = ["quiet_children"]


def quiet_children() -> None:
    """Once the command is stopping (the user stopped it, or its data loader failed), its child
    processes ending are part of that stop. torch's SIGCHLD handler would raise each as a loader
    failure wherever this process then is (while it prints the error, or in a ``__del__``, as a
    traceback at exit); a handler that does nothing takes its place (with SIG_DFL, a SIGCHLD
    already pending would be reported as ignored). It is not put back: the loader can be shut
    down after the command returns (the traceback holds it)."""
    sigchld = getattr(signal, "SIGCHLD", None)  # none on Windows, nor torch's handler
    if sigchld is not None and threading.current_thread() is threading.main_thread() and callable(
            signal.getsignal(sigchld)):
        signal.signal(sigchld, _ignore_signal)


def _ignore_signal(signum: int, frame: object) -> None:
    """A Python handler that does nothing."""
