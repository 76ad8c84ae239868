"""The ``zoo`` command line: one module per subcommand, each with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any, Callable

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from zoo import terminal
from zoo.child_signals import quiet_children
from zoo.errors import Notice, ZooError, error_line, printable

_SUBCOMMANDS = ("list_cmd", "restore_cmd", "push_cmd", "bench_cmd", "data_cmd", "train_cmd")

err_console = terminal.console(stderr=True, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` parser, with every subcommand's module registered on it."""
    import importlib

    from zoo import __version__
    from zoo.cli.help_format import ArgumentParser
    from zoo.resources import doc_path

    parser = ArgumentParser(
        prog="zoo", description="JPEG artifact removal: restore, benchmark and train models.",
        epilog=f"Documentation: {doc_path('')} (restore.md, bench.md, metrics.md, models.md, "
               f"weights.md, DEVELOPING.md) and {doc_path('README.md', 'training')} (training).")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _SUBCOMMANDS:
        importlib.import_module(f"zoo.cli.{name}").register(sub)
    return parser


def shown(text: str) -> str:
    """User-given text (a path, a model or dataset name, a message holding one) for a rich
    message: its control characters written as escapes (one line; no terminal codes) and its
    ``[...]`` not taken for markup."""
    return escape(printable(text))


WRAPPED_COLUMNS = ("description", "where")
"""The table columns whose text may wrap (prose, paths): every other cell is a name, a number
or a command, shown whole."""


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` without cutting its cells: names, numbers and commands are kept whole
    (their headers wrap instead: a terminal cut ``unet-l1+x8`` to ``unet-l1…``), prose and paths
    wrap; a table that cannot fit even so is printed as wide as it needs (outside a terminal,
    where rich assumes 80 columns, at its full width; in one, at the least width that keeps every
    cell whole, whose lines the terminal folds)."""
    out = console or terminal.console()
    wide = out.options.update_width(1000)
    for column in table.columns:
        longest = max((Measurement.get(out, wide, cell).maximum for cell in column.cells), default=0)
        column.min_width = min(longest, 20) if column.header in WRAPPED_COLUMNS else longest
    needed = Measurement.get(out, wide, table).maximum
    if needed > out.width:
        width = needed if not out.is_terminal else _least_whole_width(table, out.width, needed)
        out = terminal.console(file=out.file, width=width)
    out.print(table)


def _least_whole_width(table: Table, low: int, high: int) -> int:
    """The least width in ``low..high`` at which ``table`` is drawn with no cell cut short and
    no line longer than the width (rich's measured minimum leaves out what headers need, so the
    table is drawn and looked at)."""
    def drawn(width: int) -> str:
        probe = terminal.console(file=io.StringIO(), width=width, color_system=None)
        with probe.capture() as captured:
            probe.print(table, crop=False)
        return captured.get()

    own_ellipses = drawn(high).count("…")  # in the cells' own text, not cuts
    while low < high:
        middle = (low + high) // 2
        text = drawn(middle)
        whole = (text.count("…") <= own_ellipses
                 and max(map(cell_len, text.splitlines()), default=0) <= middle)
        low, high = (low, middle) if whole else (middle + 1, high)
    return high


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings as one line each (Python's own format adds the warning's source line); a
    :class:`~zoo.errors.Notice` as a ``note:``."""
    kind = "note" if issubclass(category, Notice) else "warning"
    err_console.print(f"[yellow]{kind}:[/] {escape(printable(str(message)))}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a scheduler stopping a job), raised where Ctrl-C's KeyboardInterrupt
    is, so that a command stops as it does for Ctrl-C: temporary files removed, finished work
    kept and said."""


class _InterruptWatch:
    """Notes a Ctrl-C before raising KeyboardInterrupt as Python does: one that lands inside an
    import or a C extension can come out as another error (a RuntimeError from ``__set_name__``,
    a ValueError from torch), which is still the user's interrupt, not a failure to show."""

    WINDOW_SECONDS = 5.0
    """How long after a Ctrl-C another error is taken for it: one the code caught and went on
    from (a script keeping its finished rows) must not make a later, unrelated failure look
    like the user's interrupt."""

    def __init__(self) -> None:
        self._at: float | None = None
        self._previous: Any = None
        self._previous_term: Any = None
        self.terminated = False

    def explains(self, exc: BaseException) -> bool:
        """Whether ``exc`` is most likely a Ctrl-C on its way out: raised while handling one,
        or within :attr:`WINDOW_SECONDS` of one."""
        chained: BaseException | None = exc
        seen: set[int] = set()  # a chain can loop (`raise e from e`)
        while chained is not None and id(chained) not in seen:
            if isinstance(chained, KeyboardInterrupt):
                return True
            seen.add(id(chained))
            chained = chained.__cause__ or chained.__context__
        return self._at is not None and time.monotonic() - self._at < self.WINDOW_SECONDS

    def __enter__(self) -> _InterruptWatch:
        if threading.current_thread() is not threading.main_thread():
            return self
        # Only over Python's own handler: an ignored SIGINT (a job started with `&`) stays so.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        # Not in a torchrun job: its agent stops the other processes with SIGTERM when one
        # fails, and they end as torch has them end.
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and not os.environ.get("TORCHELASTIC_RUN_ID"):
            self._previous_term = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if self._previous_term is not None:
            signal.signal(signal.SIGTERM, self._previous_term)

    def _handle(self, signum: int, frame: object) -> None:
        self._at = time.monotonic()
        quiet_children()  # the loader's workers get the same signal from the process group
        if signum == signal.SIGTERM:
            self.terminated = True
            raise Terminated
        raise KeyboardInterrupt


def _tolerant_streams() -> None:
    """A character the output's encoding lacks (a table's arrows, a file's name) is written as an
    escape rather than failing the command at its last line: Windows redirects output as cp1252."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def run_tool(main_fn: Callable[[], int | None]) -> int:
    """Run a command (or a script's ``main``) with the CLI's handling: warnings and user errors
    as one line each, exit status 2 for errors, 130 when interrupted; output whose reader has
    gone is dropped while the work goes on."""
    from zoo.cli.broken_pipes import reader_may_leave

    _tolerant_streams()
    with reader_may_leave():
        return _handled(main_fn)


def _handled(main_fn: Callable[[], int | None]) -> int:
    watch = _InterruptWatch()
    try:
        with watch, warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(main_fn() or 0)
    except ZooError as exc:  # one line even when a file's name holds a newline
        err_console.print(f"[red]error:[/] {escape(printable(str(exc)))}")
        return 2
    except OSError as exc:  # a file or folder the command could not read or write
        err_console.print(f"[red]error:[/] {escape(printable(error_line(exc)))}")
        return 2
    except KeyboardInterrupt:
        return _stopped(watch)
    except Exception as exc:
        if not watch.explains(exc):
            raise
        return _stopped(watch)  # Ctrl-C turned into another error on its way out


def _stopped(watch: _InterruptWatch) -> int:
    """Say that the command was stopped (under torchrun, which passes a Ctrl-C on to every
    process, rank 0 says it); the shell's status for that signal."""
    from zoo.distributed import speaks_for_the_job

    if speaks_for_the_job():
        err_console.print("terminated" if watch.terminated else "interrupted")
    return 128 + signal.SIGTERM if watch.terminated else 130


def main(argv: list[str] | None = None) -> int:
    """The ``zoo`` entry point: parse ``argv`` (default ``sys.argv[1:]``), run the command, and
    return the exit status (under torchrun, a process that joined the job ends here)."""
    from zoo.distributed import leave, reported_once

    return leave(run_tool(reported_once(lambda: _dispatch(argv))))


def _dispatch(argv: list[str] | None) -> int | None:
    """Parse and run, both under run_tool (a Ctrl-C while the parser is built is handled too).
    Under torchrun every process parses the same words: rank 0 alone says what is wrong."""
    from zoo.distributed import alike_on_every_rank

    with alike_on_every_rank():
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # the subcommand's usage and name, not the top level's (`zoo: error: ...`)
            _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost sub-parser ``args`` went through (``zoo data list``'s for ``data list``)."""
    for action in parser._actions:  # noqa: SLF001  (argparse keeps its sub-parsers only there)
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            return _chosen_parser(chosen, args) if chosen is not None else parser
    return parser


if __name__ == "__main__":
    sys.exit(main())
