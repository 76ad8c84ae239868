"""``zoo data``: fetch DIV2K validation, list the datasets present."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path


_CACHE = "the data cache ($ZOO_DATA, else $XDG_CACHE_HOME/zoo, else ~/.cache/zoo)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="benchmark datasets: fetch DIV2K, list what is present",
                              description=f"Benchmark datasets in {_CACHE}.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = sub.add_parser("fetch", help="download and verify a dataset into the data cache",
                           description="Download a dataset, verify its checksum and unpack it "
                                       f"into {_CACHE}, where `zoo bench` finds it by name.")
    fetch.add_argument("name", choices=["div2k"], help="div2k: DIV2K validation HR (0801-0900)")
    fetch.add_argument("--url", help="download from this URL instead (a mirror of the same archive)")
    fetch.add_argument("--force", action="store_true", help="download even if already present")
    fetch.set_defaults(func=_fetch)
    lst = sub.add_parser("list", help="show the datasets present in the data cache",
                         description=f"Show the datasets in {_CACHE}, each with its image "
                                     "count and the command that benchmarks it.")
    lst.set_defaults(func=_list)


def _fetch(args: argparse.Namespace) -> int:
    from zoo.terminal import console

    from zoo.div2k import DIV2K_URL, div2k_dir, div2k_present, fetch_div2k
    from zoo.errors import ZooError

    err = console(stderr=True, soft_wrap=True, markup=False)  # paths as they are
    if div2k_present() and not args.force:
        err.print(f"DIV2K validation is already in {div2k_dir()} (use --force to fetch again)")
        return 0
    if args.url is not None and not args.url.strip():
        raise ZooError("--url '': give the address of a mirror of the DIV2K archive, or leave "
                       "--url out for the official one")
    folder = fetch_div2k(args.url or DIV2K_URL)
    count = len(list(folder.glob("*.png")))
    err.print(f"DIV2K validation: {count} images verified and unpacked into {folder}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from zoo.cli import print_table

    from zoo.datasets import cached_datasets, sample_dataset, text_name
    from zoo.div2k import div2k_dir, div2k_names, div2k_present
    from zoo.resources import cache_dir

    table = Table(title=escape(f"datasets (data cache: {cache_dir()})"), title_justify="left")
    # Commands stay on one line (to be pasted); long paths fold rather than being cut.
    table.add_column("name", no_wrap=True)
    table.add_column("images", no_wrap=True)
    table.add_column("where", overflow="fold")
    table.add_column("command", no_wrap=True)
    present = div2k_present()
    table.add_row("sample" if present else "sample (default)", str(len(sample_dataset())),
                  "scikit-image (built in)", "zoo bench --data sample")
    found = {name: (path, n) for name, path, n in cached_datasets()}
    if present:
        path, n = found.pop("div2k")
        table.add_row("div2k (default)", str(n), escape(str(path)), "zoo bench --data div2k")
    else:
        _, n = found.pop("div2k", (None, 0))
        state = n if isinstance(n, str) else f"incomplete ({n}/{len(div2k_names())})" if n \
            else "missing"
        table.add_row("div2k", escape(state), escape(str(div2k_dir())),
                      "" if isinstance(n, str) else "zoo data fetch div2k --force" if n
                      else "zoo data fetch div2k")
    for name, (path, n) in found.items():  # folder names are the user's: no rich markup in them
        command = "" if isinstance(n, str) else _bench_command(name, path)
        table.add_row(escape(name), escape(str(n)), escape(text_name(str(path))), escape(command))
    print_table(table)  # whole (commands are pasted) even outside a terminal
    return 0


def _bench_command(name: str, folder: Path) -> str:
    """``zoo bench`` on a folder of the data cache: by its name, or by its path where ``--data
    NAME`` means something else (``sample``, ``auto``, a folder of that name here)."""
    from zoo.datasets import resolve_dataset
    from zoo.errors import ZooError

    # (zoo bench takes "auto" for its default dataset before resolve_dataset sees it)
    try:
        by_name = name != "auto" and resolve_dataset(name).source == str(folder.resolve())
    except ZooError:  # e.g. a folder of that name here, without images
        by_name = False
    return f"zoo bench --data {_shell_word(name if by_name else str(folder))}"


def _shell_word(text: str) -> str:
    """``text`` quoted for a POSIX shell; a name that is not UTF-8 as bash's ``$'...'`` with
    its bytes escaped, so that the command can still be pasted."""
    raw = os.fsencode(text)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "$'" + "".join(chr(b) if 32 <= b < 127 and chr(b) not in "'\\" else f"\\x{b:02x}"
                              for b in raw) + "'"
    return shlex.quote(text)
