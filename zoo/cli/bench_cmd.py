"""``zoo bench``: benchmark models at several JPEG qualities and write a leaderboard."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable

from zoo import terminal
from zoo.cli import shown
from zoo.cli.arg_types import named, named_path
from zoo.cli.help_format import METRIC_NAMES
from zoo.degrade import PROTOCOLS
from zoo.distributed import alike_on_every_rank
from zoo.errors import counted, first_few
from zoo.resources import doc_path

if TYPE_CHECKING:
    from zoo.datasets import Dataset


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="benchmark models on a dataset and write a leaderboard",
        description=f"Benchmark models at several JPEG qualities (protocol: {doc_path('bench.md')}). Without "
                    "--data: DIV2K validation when it is in the data cache, else the sample suite.")
    p.add_argument("--quality", "-q", type=int, nargs="+", metavar="Q",
                   help="JPEG qualities (default: the --suite's; the default suite's 10 20 30)")
    p.add_argument("--models", "-m", nargs="+", metavar="PATTERN", type=named("a model"),
                   help="registry names, shell patterns (matching the entries with weights), or saved models (a `zoo train` export folder or "
                        "best file OUT/best/step-N.safetensors, hf-hub:ORG/NAME); add +x8 for a model's self-ensemble (unet-l1+x8) "
                        "(default: every entry with weights, plus jpeg)")
    p.add_argument("--data", "-d", nargs="+", metavar="DIR|NAME",
                   help="dataset(s): a folder of images, 'sample', 'div2k', a folder of the data "
                        "cache by name (`zoo data list`), or 'auto' (default: the --suite's; the "
                        "default suite's auto: DIV2K when present, else sample)")
    p.add_argument("--protocol", nargs="+", choices=PROTOCOLS,
                   help="rgb: colour in and out; y: the literature's grey (Y channel) protocol "
                        "(default: the --suite's; the default suite's rgb)")
    p.add_argument("--metrics", nargs="+", metavar="NAME",
                   help=f"{METRIC_NAMES}, or all (default: the "
                        "--suite's; the default suite's all)")
    p.add_argument("--out", "-o", type=named_path("a folder"), metavar="DIR",
                   help="output folder (default: runs/bench/<dataset>/ in the current folder); with several "
                        "datasets, one sub-folder each: DIR/<dataset>/")
    p.add_argument("--device", help="where to run: cpu, cuda, cuda:N, mps or auto (default, auto: cuda "
                                    "when available, else cpu)")
    p.add_argument("--suite", default="default", metavar="NAME|FILE",
                   help="suite in benchmarks/ or a TOML file (default: default)")
    p.add_argument("--tile", type=int, metavar="N",
                   help="restore in N-pixel tiles, rounded to each model's grid (bounded memory; "
                        "default: automatic for large images; 0: never)")
    p.add_argument("--crops", type=int, default=3, metavar="N",
                   help="images shown as side-by-side crops in the HTML page (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.bench.api import bench, dataset_notice
    from zoo.bench.distributed import DistContext
    from zoo.bench.suites import load_suite

    console = terminal.console(stderr=True, soft_wrap=True)  # one line per message
    with alike_on_every_rank():
        suite = load_suite(args.suite)
    dist = DistContext.from_env()
    if dist.main:
        for spec in (args.data or suite.datasets):
            notice = dataset_notice(spec)
            if notice:
                console.print(shown(notice))
    runs = bench(suite=suite, data=args.data, models=args.models, qualities=args.quality,
                 protocols=args.protocol, metrics=args.metrics, out=args.out, device=args.device,
                 tile=args.tile, progress=not args.no_progress, crops=args.crops, dist=dist)
    if not dist.main:
        return 0
    from zoo.bench.leaderboard import grouped_failures, not_shown_text
    from zoo.bench.results import summarize
    from zoo.cli import print_table
    from zoo.bench.runner import current_rows

    out = terminal.console()
    failed = False
    for r in runs:
        name = r.plan.dataset.name
        if r.error:
            console.print(f"[red]failed[/] {shown(name)}: {shown(r.error)}")
            failed = True
            continue
        if r.meta is None:  # no model loaded or no image read: say why, and write no leaderboard
            for where, why in grouped_failures(r.outcome.failures):
                console.print(f"[red]failed[/] {shown(where)}: {shown(why)}")
            if not r.outcome.models:
                console.print(f"{shown(name)}: no model could be loaded; nothing written to "
                              f"{shown(str(r.plan.out_dir))}/")
            else:
                for image_id, why in r.outcome.skipped_images:
                    console.print(f"[yellow]skipped[/] {shown(image_id)}: {shown(why)}")
                console.print(f"{shown(name)}: no image could be measured (all "
                              f"{len(r.outcome.skipped_images)} skipped); no leaderboard written "
                              f"to {shown(str(r.plan.out_dir))}/")
            failed = True
            continue
        summary = summarize(current_rows(r.plan, r.outcome))
        table = _summary_table(r, summary, _text_for(out.encoding))
        print_table(table, out)  # whole: never elided digits
        for why in _incomparable(r, summary):
            console.print(f"[yellow]not comparable:[/] {shown(why)} (the reported rows of "
                          "LEADERBOARD.md and leaderboard.html)")
        for image_id, why in r.outcome.skipped_images:
            console.print(f"[yellow]skipped[/] {shown(image_id)}: {shown(why)}")
        if r.plan.dataset.ignored:
            console.print(f"[yellow]note:[/] {shown(_ignored_text(r.plan.dataset))}")
        if same := (r.meta or {}).get("identical_images"):
            text = (f"{name}: images with the same pixels, each counted in the means: "
                    f"{first_few([' = '.join(group) for group in same])} (meta.json: identical_images)")
            console.print(f"[yellow]note:[/] {shown(text)}")
        for where, why in grouped_failures(r.outcome.failures):
            console.print(f"[red]failed[/] {shown(where)}: {shown(why)}")
            failed = True
        outside = not_shown_text((r.meta or {}).get("not_shown"))
        if outside:
            console.print(f"[yellow]note:[/] {shown(outside)}")
        console.print(f"{counted(r.outcome.measured, 'row')} measured in {r.outcome.wall_seconds:.1f} s; "
                      f"wrote {shown(str(r.plan.out_dir))}/ (results.csv, summary.csv, LEADERBOARD.md, "
                      "leaderboard.html, meta.json)")
    return 1 if failed else 0


def _ignored_text(dataset: Dataset) -> str:
    """The entries of a dataset's folder that are not image files, the first few by name."""
    return (f"{dataset.name}: {len(dataset.ignored)} entr{'y' if len(dataset.ignored) == 1 else 'ies'}"
            f" of the folder not read, not being image files: {first_few(dataset.ignored, 5)}"
            " (meta.json: ignored_files)")


def _incomparable(run, summary: list[dict]) -> list[str]:  # noqa: ANN001  (a BenchRun)
    """Why the leaderboard's reported rows do not compare with its means, once per reason."""
    from zoo.bench.baselines import reported_at, reported_for
    from zoo.bench.leaderboard import groups, incomparable

    plan = run.plan
    reported = reported_for(plan.dataset.name, set(plan.protocols), set(plan.qualities))
    notes = [incomparable(reported_at(reported, protocol, quality), entries)
             for protocol, quality, entries in groups(summary)]
    return list(dict.fromkeys(n for n in notes if n))


_ASCII_SIGNS = str.maketrans({"↑": "^", "↓": "v", "–": "-", "…": "..."})


def _text_for(encoding: str) -> Callable[[str], str]:
    """The table's signs as ``encoding`` can show them: ↑ ↓ – as ^ v - where it cannot (an
    ``ascii`` terminal showed ``\\u2191`` in a header, out of line with its column)."""
    try:
        "↑↓–…".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return lambda text: text.translate(_ASCII_SIGNS)
    return lambda text: text


def _summary_table(run, summary: list[dict],  # noqa: ANN001, ANN202  (a BenchRun -> rich Table)
                   text: Callable[[str], str] = str):
    from rich.table import Table

    from zoo.bench.leaderboard import (PARTIAL_NOTE, best_models, cell_text, fmt_metric, groups,
                                       has_partial, metric_header, ranked)

    plan = run.plan
    table = Table(title=shown(f"{plan.dataset.name}: means over images"), title_justify="left")
    for col in ("protocol", "q", "model", *(text(metric_header(m)) for m in plan.metrics), "s/img", "n"):
        table.add_column(col, justify="left" if col in ("protocol", "model") else "right")
    for protocol, quality, entries in groups(summary):
        if has_partial(entries, plan.metrics):
            table.caption, table.caption_justify = PARTIAL_NOTE, "left"
        bests = {m: best_models(entries, m) for m in plan.metrics}
        for e in ranked(entries, plan.metrics):  # LEADERBOARD.md's order
            cells = [text(cell_text(e, m)) for m in plan.metrics]
            cells = [f"[bold]{c}[/]" if e["model"] in bests[m] else c for c, m in zip(cells, plan.metrics)]
            table.add_row(protocol, str(quality), shown(e["model"]), *cells,
                          fmt_metric("seconds", e["seconds"]), str(e["images"]))
        table.add_section()
    return table
