"""argparse types with ranges: a value out of range is a usage error (one line, exit 2) before
any work starts, for the zoo's commands and its scripts in benchmarks/ and training/."""

from __future__ import annotations

import argparse
import math
from typing import Callable, TypeVar

T = TypeVar("T", int, float)

__all__ = ["float_above", "int_at_least", "jpeg_quality"]


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

    parse.__name__ = kind  # what argparse names in its own messages
    return parse


def int_at_least(low: int) -> Callable[[str], int]:
    """An integer >= ``low`` (``type=int_at_least(1)`` for a count of runs)."""
    return _ranged(int, "an integer", lambda v: v >= low, f"must be at least {low}")


def float_above(low: float) -> Callable[[str], float]:
    """A finite number > ``low`` (``type=float_above(0)`` for a time budget)."""
    return _ranged(float, "a number", lambda v: low < v < math.inf,
                   f"must be a finite number above {low:g}")


def jpeg_quality(text: str) -> int:
    """A JPEG quality, 1..100."""
    value = int_at_least(1)(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"a JPEG quality is 1..100, got {value}")
    return value
