"""Argument helpers: argparse types with ranges for the scripts in benchmarks/ and training/
(and ``zoo train``), so that a value out of range is a usage error (one line, exit 2) before any
work starts; the hand-back of overrides an option of several values took (``zoo train`` and
scripts); and :func:`named`/:func:`named_path`, with which ``zoo restore``, ``bench``,
``push`` and ``train`` refuse an empty name. (The other commands check their ranges in the
functions they call, for Python callers too.)"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", int, float)

__all__ = ["float_above", "fraction", "hand_back_overrides", "int_at_least", "int_in", "jpeg_quality",
           "named", "named_path"]


def _ranged(convert: Callable[[str], T], kind: str, ok: Callable[[T], bool],
            rule: str) -> Callable[[str], T]:
    """An argparse type: ``convert`` the text, then refuse values for which ``ok`` is false."""
    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


def int_at_least(low: int) -> Callable[[str], int]:
    """An integer >= ``low`` (``type=int_at_least(1)`` for a count of runs)."""
    return _ranged(int, "an integer", lambda v: v >= low, f"must be at least {low}")


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer from ``low`` to ``high``, both included."""
    return _ranged(int, "an integer", lambda v: low <= v <= high, f"must be {low} to {high}")


def float_above(low: float) -> Callable[[str], float]:
    """A finite number > ``low`` (``type=float_above(0)`` for a time budget)."""
    return _ranged(float, "a number", lambda v: low < v < math.inf,
                   f"must be a finite number above {low:g}")


fraction = _ranged(float, "a number", lambda v: 0 <= v <= 1, "must be in [0, 1]")
"""A share, 0..1."""

jpeg_quality = _ranged(int, "an integer", lambda v: 1 <= v <= 100, "a JPEG quality is 1..100")
"""A JPEG quality, 1..100."""


def named(what: str) -> Callable[[str], str]:
    """Text that names a ``what`` (a folder, a file): an empty word, as an unset shell variable
    gives, is refused rather than read as the current folder, which ``Path("")`` is."""
    def parse(text: str) -> str:
        if not text:
            current = " ('.' for the current one)" if "folder" in what else ""
            raise argparse.ArgumentTypeError(f"the name is empty; name {what}{current}")
        return text

    return parse


def named_path(what: str) -> Callable[[str], Path]:
    """:func:`named`, as a ``Path``."""
    check = named(what)
    return lambda text: Path(check(text))


def hand_back_overrides(taken: Sequence[str] | None, overrides: Sequence[str], argv: Sequence[str],
                        is_override: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """An option of several values (``--data DIR...``) also takes the ``KEY=VALUE`` overrides
    after it: split ``taken`` into its own values and those overrides, and return the option's
    values and every override in command-line order (``argv``), so that a later one wins."""
    values = [w for w in taken or [] if not is_override(w)]
    pool = Counter([w for w in taken or [] if is_override(w)] + list(overrides))
    ordered = []
    for word in argv:
        if pool[word] > 0:
            pool[word] -= 1
            ordered.append(word)
    return values, ordered
