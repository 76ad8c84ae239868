"""How ``zoo``'s help is laid out: argparse's, with a path never broken at a hyphen (a checkout
in ``~/jpeg-zoo`` printed ``~/jpeg-`` and ``zoo/docs/bench.md`` on two lines, which no one can
copy) and the metric names read only when help is shown."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

METRIC_NAMES = "{metric names}"
"""Stands in a help text for zoo.metrics.METRICS' names, filled in when the help is printed."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, words (paths, option names) kept whole on one line."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False,
                             break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent,
                             subsequent_indent=indent, break_on_hyphens=False,
                             break_long_words=False)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text and METRIC_NAMES in text:
            # Importing the metrics imports torch: seconds every other `zoo` command would pay.
            from zoo.metrics import METRICS

            text = text.replace(METRIC_NAMES, " ".join(METRICS))
        return text


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser laid out by :class:`HelpFormatter`, taking options only as spelled in
    full, as are its subcommands' parsers (argparse makes those of the parser's own class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        # A shortened option (--form for --format) would change meaning, or stop working, the
        # day another option starts with the same letters: a script's command must not.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
