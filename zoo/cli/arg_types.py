"""argparse types with ranges: a value out of range is a usage error (one line, exit 2) before
any work starts, for the zoo's commands and its scripts in benchmarks/ and training/."""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["float_above", "int_at_least", "jpeg_quality"]


def int_at_least(low: int) -> Callable[[str], int]:
    """An integer >= ``low`` (``type=int_at_least(1)`` for a count of runs)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"  # what argparse names in its own messages
    return parse


def float_above(low: float) -> Callable[[str], float]:
    """A finite number > ``low`` (``type=float_above(0)`` for a time budget)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > low or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number above {low:g}, got {text}")
        return value

    parse.__name__ = f"number > {low:g}"
    return parse


def jpeg_quality(text: str) -> int:
    """A JPEG quality, 1..100."""
    value = int_at_least(1)(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"a JPEG quality is 1..100, got {value}")
    return value
