"""Child processes for the scripts in benchmarks/ and training/: a child's failure is one line
naming what it ran, rows measured before a Ctrl-C are kept, and a child measures its own peak
memory."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import TypeVar

from zoo.errors import ZooError

__all__ = ["ChildError", "PeakMemory", "child_reason", "peak_rss_mb", "run_child",
           "until_interrupted"]

T = TypeVar("T")
_MB = 2**20


class ChildError(ZooError):
    """A child process failed: the message is what it ran and why it failed (``reason``)."""

    def __init__(self, what: str, proc: subprocess.CompletedProcess[str]) -> None:
        self.reason = child_reason(proc)
        super().__init__(f"{what}: {self.reason}")
        self.returncode = proc.returncode
        self.stderr = proc.stderr or ""


def child_reason(proc: subprocess.CompletedProcess[str]) -> str:
    """Why a child failed: its last line on stderr (else stdout), without ``run_tool``'s
    ``error: `` prefix; how it ended when it wrote nothing."""
    for text in (proc.stderr, proc.stdout):
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if lines:
            return lines[-1].removeprefix("error: ")
    if proc.returncode < 0:
        return f"killed by {signal.Signals(-proc.returncode).name}"
    return f"exit status {proc.returncode}"


def run_child(cmd: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, its output captured as text. A failure is a :class:`ChildError`
    ``"what: reason"``; a child stopped by Ctrl-C (a terminal sends it to both) is a
    KeyboardInterrupt here too."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if proc.returncode in (130, -signal.SIGINT):
        raise KeyboardInterrupt
    if proc.returncode != 0:
        raise ChildError(what, proc)
    return proc


def until_interrupted(rows: Iterable[T]) -> tuple[list[T], bool]:
    """The rows of a (lazy) measurement, and whether Ctrl-C stopped it before the end: the rows
    finished by then are kept, to be shown and written marked partial."""
    done: list[T] = []
    try:
        for row in rows:
            done.append(row)
    except KeyboardInterrupt:
        return done, True
    return done, False


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB (the high-water mark, which is why each
    measurement runs in a fresh process). POSIX only: on Windows, where the ``resource`` module
    is missing, a one-line ZooError (the scripts importing this module still run)."""
    try:
        import resource
    except ImportError:
        raise ZooError("peak memory is read with the resource module, which this platform "
                       "(Windows) lacks; it is not measured here") from None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """The peak memory of what runs after it is made, in MiB: the process's peak resident set,
    and on a CUDA ``device`` the GPU memory allocated (its peak statistics reset here; a host
    high-water mark says nothing of it)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device.startswith("cuda")
        self.rss_before_mb = peak_rss_mb()
        self.cuda_before_mb = 0.0
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(device)
            self.cuda_before_mb = torch.cuda.memory_allocated(device) / _MB

    def _peak_cuda_mb(self) -> float:
        import torch

        return torch.cuda.max_memory_allocated(self.device) / _MB

    def taken_mb(self) -> float:
        """The MiB taken since the start: on CUDA the allocated peak above what was allocated
        then, else the rise of the peak resident set."""
        if self.cuda:
            return self._peak_cuda_mb() - self.cuda_before_mb
        return peak_rss_mb() - self.rss_before_mb

    def fields(self) -> dict[str, float]:
        """``peak_rss_mb`` and ``rss_before_mb``, and ``peak_cuda_mb`` on CUDA."""
        found = {"peak_rss_mb": peak_rss_mb(), "rss_before_mb": self.rss_before_mb}
        return found | ({"peak_cuda_mb": self._peak_cuda_mb()} if self.cuda else {})
