"""``zoo list``: the registry as a table (name, parameters, weights, description)."""

from __future__ import annotations

import argparse
import warnings
from typing import TYPE_CHECKING

from rich.table import Table

from zoo.cli import print_table
from zoo.terminal import console

if TYPE_CHECKING:
    from zoo.registry import ModelInfo


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("list", help="list the models in the zoo",
                              description="List the registry's models: name, parameter count, "
                                          "where weights are available offline, description.")
    p.add_argument("pattern", nargs="?", default="*",
                   help="shell-style name pattern, e.g. 'arnet*' (default: all)")
    p.add_argument("--names", action="store_true",
                   help="the names only, one per line, for scripts (nothing built, no table)")
    p.set_defaults(func=run)


def format_count(n: int) -> str:
    """A parameter count for people: 0, 950, 12.3K, 2.35M, 1.20G."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.3g}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n)


def weights_where(info: ModelInfo) -> str:
    """shipped / hub cache / none: the copy of the entry's weights zoo.load takes offline
    (``damaged (reinstall zoo)`` for a shipped copy that is not the registry's file)."""
    from zoo.pretrained import weights_availability

    where = weights_availability(info)
    return "damaged (reinstall zoo)" if where == "damaged" else where


def run(args: argparse.Namespace) -> int:
    from zoo.errors import ZooError
    from zoo.registry import ModelModuleWarning, create_model, get_model_info, list_models, load_problems

    with warnings.catch_warnings():  # said below as errors, once
        warnings.simplefilter("ignore", ModelModuleWarning)
        names = list_models(args.pattern)
    broken = load_problems()  # model modules that failed to import: the others are listed
    if not names:
        _print_errors(broken)
        raise ZooError(f"no model matches {args.pattern!r}; `zoo list` shows them all")
    if args.names:
        print("\n".join(names))
        _print_errors(broken)
        return 1 if broken else 0
    table = Table(title="zoo models")
    table.add_column("name", style="bold")
    table.add_column("parameters", justify="right")
    table.add_column("weights")
    table.add_column("description")
    for name in names:
        info = get_model_info(name)
        try:
            params = create_model(name).num_parameters()  # random init: only the count is used
        except ZooError as exc:  # one entry's bad record does not hide the others
            broken.append(str(exc))
            table.add_row(name, "–", "cannot be built (below)", info.description)
            continue
        where = "not needed" if params == 0 and info.weights is None else weights_where(info)
        table.add_row(name, format_count(params), where, info.description)
    print_table(table)
    _print_errors(broken)
    return 1 if broken else 0


def _print_errors(lines: list[str]) -> None:
    for why in lines:
        console(stderr=True, soft_wrap=True).print(f"error: {why}", markup=False)
