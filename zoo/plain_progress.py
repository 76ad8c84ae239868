"""Progress as plain lines, for a log file or a pipe, where a rich bar is drawn once at the end
(or cut to 80 columns): a line at most every ``PLAIN_SECONDS``, and one at the end."""

from __future__ import annotations

import time
from datetime import timedelta

from rich.console import Console

__all__ = ["PLAIN_SECONDS", "PlainProgress", "eta_text"]

PLAIN_SECONDS = 30.0
"""Outside a terminal, the least time between two progress lines: a log of a long run stays
short enough to read."""


class PlainProgress:
    """Counts ``unit``s of work towards a total and says so in plain lines: ``LABEL UNIT
    DONE/TOTAL, ELAPSED elapsed, ETA ETA[; STATUS]``."""

    def __init__(self, console: Console, unit: str = "step") -> None:
        self.console, self.unit = console, unit
        self.start("", 0, 0)

    def start(self, label: str, total: int, done: int = 0, deadline: float | None = None) -> None:
        """Count from ``done`` towards ``total`` (a training stage starts it again).
        ``deadline``: the ``time.monotonic()`` at which a time budget ends the work, whatever
        is left (the ETA is the sooner of the two)."""
        self.label, self.total, self.done, self.deadline = label, total, done, deadline
        self._t0, self._from, self._shown = time.monotonic(), done, time.monotonic()

    def grow(self, extra: int) -> None:
        """``extra`` more units to do than said at the start."""
        self.total += extra

    def advance(self, count: int = 1, status: str | None = None, *, may_show: bool = True) -> None:
        """``count`` units done; a line if ``may_show`` (a training run shows its logged steps
        only, with their losses as ``status``) and the last was ``PLAIN_SECONDS`` ago, or at the
        end."""
        self.done += count
        now = time.monotonic()
        if self.done < self.total and (not may_show or now - self._shown < PLAIN_SECONDS):
            return
        self._shown = now
        self.console.print(self.line(now, status), highlight=False, markup=False)

    def line(self, now: float, status: str | None = None) -> str:
        """The progress line at ``now`` (a ``time.monotonic()``), ``status`` at its end if given."""
        elapsed = now - self._t0
        rate = (self.done - self._from) / max(elapsed, 1e-9)
        steps_left = (self.total - self.done) / rate if rate > 0 else None
        eta = eta_text(steps_left, self.deadline, now) or "?"
        return (f"{self.label} {self.unit} {self.done}/{self.total}, {_clock(elapsed)} elapsed, "
                f"ETA {eta}{'; ' + status if status else ''}")


def _clock(seconds: float) -> str:
    """``h:mm:ss``, as rich's bar shows times."""
    return str(timedelta(seconds=int(seconds)))


def eta_text(remaining: float | None, deadline: float | None, now: float) -> str | None:
    """The time left as ``h:mm:ss``: ``remaining`` (from the rate of work; None: not known
    yet), or, when a time budget ends the work sooner (``deadline``, a ``time.monotonic()``),
    the budget's time left marked ``(time budget)``. None when neither is known."""
    if deadline is not None:
        budget_left = max(0.0, deadline - now)
        if remaining is None or budget_left < remaining:
            return f"{_clock(budget_left)} (time budget)"
    return None if remaining is None else _clock(remaining)
