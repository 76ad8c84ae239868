"""``zoo restore``: remove JPEG artifacts from image files and folders."""

from __future__ import annotations

import argparse
import errno
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from zoo import terminal

from zoo.cli.arg_types import named, named_path
from zoo.distributed import refuse_torchrun
from zoo.errors import (ImageError, WeightsError, ZooError, first_line, is_out_of_memory, os_reason,
                        printable)
from zoo.plain_progress import PlainProgress
from zoo.restore_jobs import (RESULT_FORMATS, DiskFull, FullDisks, Job, check_destination, collect_jobs,
                              writable_jobs)

if TYPE_CHECKING:
    from zoo.models.base import Restorer

DEFAULT_MODEL = "arnet-nogan"
DEFAULT_SUFFIX = ".restored"
SAMPLE_QUALITY = 10
IMAGE_MEMORY_NOTE = "the image itself is held at about 27 MB per megapixel whatever the tile"
PRECISION_CHOICES = ("fp32", "bf16", "fp16")
"""zoo.precision.PRECISIONS' names, here so that the CLI starts without importing torch."""


def register(subparsers: argparse._SubParsersAction) -> None:
    from zoo.samples import SAMPLE_NAMES

    p = subparsers.add_parser(
        "restore", help="remove JPEG artifacts from images",
        description="Restore image files (JPEG, PNG, BMP, TIFF, WebP) and folders of them. "
                    "Results are lossless PNG by default, written as NAME.restored.png next to "
                    "each input, in --out-dir, or to -o for a single input.")
    p.add_argument("inputs", nargs="*", type=named_path("an image file or folder"), metavar="INPUT",
                   help="image files or folders (folders: the images inside, sorted)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="OUT",
                     help="output file for a single input (format from its suffix: .png, .jpg "
                          "(quality 95, full-resolution colour), .webp (lossless), .tif, .bmp; "
                          "PNG if none)")
    out.add_argument("--out-dir", type=named_path("a folder"), metavar="DIR",
                     help="write results into this folder (sub-folders of folder inputs are kept)")
    p.add_argument("--format", choices=RESULT_FORMATS, metavar="FORMAT", type=_format_name,
                   help="the format of the results zoo names, next to each input or in --out-dir: "
                        "png (lossless; the default), webp (lossless), tif (LZW), jpg (quality 95, "
                        "full-resolution colour) or bmp; -o takes its suffix's")
    p.add_argument("-m", "--model", default=DEFAULT_MODEL, type=named("a model"),
                   help="registry name, hf-hub:ORG/NAME, a saved folder or a run's OUT/best/step-N.safetensors "
                        f"(default: {DEFAULT_MODEL}; see `zoo list`)")
    p.add_argument("--ensemble", action="store_true",
                   help="average the model over the eight flips and rotations of each image "
                        "(geometric self-ensemble, the same as --model NAME+x8): a higher PSNR "
                        "for eight times the time")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default=PRECISION_CHOICES[0],
                   help="run the model in fp32 (default), or under bf16 / fp16 autocast: faster "
                        "where the hardware computes it natively (recent GPUs; bf16 on CPUs with "
                        "AVX512-BF16 or AMX), at a measured cost of about 0.001-0.01 dB")
    p.add_argument("--weights", metavar="PATH", type=named("a safetensors file"),
                   help="a safetensors file to load into the registry model instead of its own")
    p.add_argument("--device", metavar="DEVICE",
                   help="where to run: cpu, cuda, cuda:N, mps or auto (default, auto: cuda when "
                        "available, else cpu)")
    p.add_argument("--tile", type=int, metavar="SIZE",
                   help="restore in SIZExSIZE tiles, rounded to the model's grid and at least two "
                        "grid cells, so that tiles overlap (default: automatic for large images; "
                        "0: never)")
    p.add_argument("--suffix", default=DEFAULT_SUFFIX,
                   help=f"added to each output's stem (default: {DEFAULT_SUFFIX!r}); inputs that "
                        "share a stem in one folder (photo.jpg, photo.png) also get their format "
                        "(photo-jpg.restored.png)")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave results that already exist as they are, to resume an interrupted "
                        "batch (results are written whole or not at all; they are not checked "
                        "against the model)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are drawn only on a terminal anyway), as in "
                        "zoo bench and zoo train")
    p.add_argument("--sample", choices=SAMPLE_NAMES, metavar="NAME",
                   help=f"also restore a built-in photograph ({', '.join(SAMPLE_NAMES)}) JPEG-"
                        f"compressed at quality {SAMPLE_QUALITY}; the JPEG is written to --out-dir "
                        "(default: the current folder) beside its result")
    p.set_defaults(func=run)


def _load_model(args: argparse.Namespace, console: Console):
    import zoo
    from zoo.ensemble import ENSEMBLE_SUFFIX, split_ensemble

    spec = args.model
    if args.ensemble and not split_ensemble(spec)[1]:
        spec += ENSEMBLE_SUFFIX  # one path for both spellings: the ensemble inside the autocast
    try:
        model = zoo.load(spec, device=args.device, weights=args.weights,
                         precision=args.precision)
    except WeightsError as exc:
        if "zoo list" in str(exc):  # the message already offers other models
            raise
        raise WeightsError(f"{exc}; or choose another model with --model NAME (see `zoo list`)") \
            from None
    source = getattr(model, "weights_source", None)
    from zoo.cli.list_cmd import format_count

    device = next(model.parameters()).device if model.num_parameters() else "cpu"
    _say(console, f"model {model.name} ({format_count(model.num_parameters())} parameters) on "
                  f"{device}{'' if args.precision == 'fp32' else ' in ' + args.precision}, "
                  f"weights: {source or 'none needed'}")
    return model


def _say(console: Console, line: str) -> None:
    """Print ``line`` as it is (no markup), its control characters shown escaped."""
    console.print(printable(line), markup=False)


def _fail(console: Console, problem: str) -> None:
    """Print a ``failed:`` line, its control characters shown escaped."""
    console.print(f"[red]failed:[/] {escape(printable(problem))}")


def run(args: argparse.Namespace) -> int:
    """``zoo restore`` (run_tool prints its usage errors, file names escaped to one line)."""
    # soft_wrap: every message stays one line, whatever the terminal width.
    console = terminal.console(stderr=True, soft_wrap=True)
    _check_usage(args)
    inputs = list(args.inputs) + ([_sample_input(args)] if args.sample else [])
    jobs, problems, refused, notes = collect_jobs(inputs, output=args.output, out_dir=args.out_dir,
                                           skip_existing=args.skip_existing,
                                           suffix=args.suffix, recursive=args.recursive,
                                           extension=f".{args.format or 'png'}")
    model = _load_model(args, console)  # first: a model without weights fails before any writing
    _note_tile_side(model, args.tile, console)
    if args.sample:
        _write_sample(args, console)
    kept = 0
    if args.skip_existing:
        todo = _without_existing_results(jobs, console)
        kept, jobs = len(jobs) - len(todo), todo
    # Beside the inputs, a read-only folder is the inputs' own; in --out-dir, a sub-folder.
    hint = "" if args.out_dir else "; write the results elsewhere with --out-dir"
    ready = writable_jobs(jobs, problems, hint=hint)
    refused += len(jobs) - len(ready)
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(printable(note))}")
    for problem in problems:
        _fail(console, problem)
    start = time.perf_counter()
    failed = _restore_all(model, ready, args.tile, console, progress=not args.no_progress)
    total = len(ready) + refused + kept  # every image given counts, done before or left out
    _say(console, _summary(len(ready) - failed, total, args.out_dir, time.perf_counter() - start)
         + (f"; {failed} failed" if failed else "")
         + (f"; {kept} already there, kept" if kept else "") + _others(problems))
    return 1 if failed or problems else 0


def _note_tile_side(model: Restorer, tile: int | None, console: Console) -> None:
    """Say so when ``--tile`` is not the tiles' side (rounded to the model's grid)."""
    from zoo.tiling import tile_side

    if tile and (side := tile_side(model, tile)) != tile:
        _say(console, f"note: --tile {tile} gives {model.name} {side}-px tiles (whole cells of "
                      "its grid, two at least)")


def _format_name(text: str) -> str:
    """``--format``'s word: ``jpeg`` and ``tiff`` too (as ``-o``'s suffixes), in any case."""
    return {"jpeg": "jpg", "tiff": "tif"}.get(text.lower(), text.lower())


def _check_usage(args: argparse.Namespace) -> None:
    """Refuse, before the model loads or anything is written, options that cannot work."""
    from zoo.imaging import max_pixels

    refuse_torchrun("zoo restore")
    if args.tile is not None and args.tile < 0:
        raise ZooError(f"--tile must be 0 (never tile) or a positive size, got {args.tile}")
    if not args.inputs and not args.sample:
        raise ZooError("no input images given: zoo restore INPUT... (or --sample NAME)")
    if any(str(path) == "-" for path in args.inputs) and not os.path.lexists("-"):
        raise ZooError("-: images are not read from standard input; name the files (zoo restore "
                       "photo.jpg)")
    max_pixels()  # a bad ZOO_MAX_IMAGE_PIXELS fails here, before the model loads
    check_destination(output=args.output, out_dir=args.out_dir, suffix=args.suffix)
    if args.format and args.output is not None:
        raise ZooError(f"--format {args.format} with -o: -o names its format by its suffix "
                       f"(-o {Path(args.output).stem}.{args.format})")
    if args.sample:
        _check_sample_place(args)


def _check_sample_place(args: argparse.Namespace) -> None:
    """Refuse a --sample whose file name is taken by anything but that very sample (a photo of
    the user's named ``astronaut-q10.jpg`` was replaced by the sample)."""
    from zoo.samples import sample_file_bytes

    path = _sample_input(args)
    if not os.path.lexists(path):
        return
    ours = sample_file_bytes(args.sample, SAMPLE_QUALITY)
    if (path.is_symlink() or not path.is_file() or path.stat().st_size != len(ours)
            or path.read_bytes() != ours):
        elsewhere = ("choose another --out-dir" if args.out_dir
                     else "write the sample elsewhere with --out-dir")
        raise ZooError(f"--sample {args.sample}: {path} is already there and is not the sample, "
                       f"which would replace it; move it, or {elsewhere}")


def _sample_input(args: argparse.Namespace) -> Path:
    """Where --sample's JPEG goes, known before it is written so that the run's jobs are
    checked first."""
    from zoo.samples import sample_file_name

    return (args.out_dir or Path.cwd()) / sample_file_name(args.sample, SAMPLE_QUALITY)


def _write_sample(args: argparse.Namespace, console: Console) -> None:
    """Write --sample's JPEG where :func:`_sample_input` said, and say so."""
    from zoo.samples import sample_image_path

    path = sample_image_path(args.sample, SAMPLE_QUALITY, args.out_dir or Path.cwd())
    _say(console, f"sample {args.sample}: JPEG at quality {SAMPLE_QUALITY} written to {path}")


def _restore_all(model, jobs: list[Job], tile: int | None, console: Console,
                 progress: bool = True) -> int:
    """Restore every job, one line per failure, and ``IN -> OUT`` for a single job or, where no
    progress bar names each image (not a terminal, --no-progress), for each; returns how many
    failed."""
    from zoo.tiling import reporting_tiles

    failed = 0
    shown = progress and console.is_interactive  # a dumb terminal draws no bar: lines there
    bars = Progress(terminal.description_column(), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not shown)  # a long image shows its time too
    task = bars.add_task("restoring", total=len(jobs))
    tiles = bars.add_task("  tiles", total=None, visible=False)
    # Where no bar is drawn (a log, a pipe), a batch's count and ETA every PLAIN_SECONDS.
    lines = (PlainProgress(console, unit="image") if progress and not shown and len(jobs) > 1
             else None)
    if lines is not None:
        lines.start("restoring:", len(jobs))

    def tile_done(done: int, total: int) -> None:
        bars.update(tiles, completed=done, total=total, visible=True)

    full = FullDisks()
    with bars, reporting_tiles(tile_done):
        for number, job in enumerate(jobs):
            bars.update(task, description=f"restoring {printable(job.source.name)}")
            try:
                problem = full.refusal(job) or _restore_one(model, job, tile)
                if isinstance(problem, DiskFull):
                    full.note(job)
            except KeyboardInterrupt:
                if len(jobs) > 1:
                    bars.console.print(
                        f"stopped at image {number + 1} of {len(jobs)}: {number - failed} restored "
                        "(each result written is whole); --skip-existing restores the rest",
                        markup=False)
                raise
            bars.reset(tiles, total=None, visible=False)  # the next image starts its own
            if problem is None:
                if len(jobs) == 1 or not shown:
                    _say(console, f"{job.source} -> {job.target}")
            else:
                failed += 1
                _fail(bars.console, problem)
            bars.advance(task)
            if lines is not None and number + 1 < len(jobs):  # the summary line tells the end
                lines.advance()
    return failed


def _summary(done: int, total: int, out_dir: Path | None, elapsed: float) -> str:
    """The summary line's start: ``restored DONE of TOTAL images [into DIR] in S s``."""
    where = f" into {out_dir}" if out_dir else ""
    return f"restored {done} of {total} image{'s' if total != 1 else ''}{where} in {elapsed:.1f} s"


def _others(problems: list[str]) -> str:
    """The summary's mention of the problems reported before restoring, if any."""
    if not problems:
        return ""
    return f"; {len(problems)} other problem{'s' if len(problems) != 1 else ''} above"


def _without_existing_results(jobs: list[Job], console: Console) -> list[Job]:
    """The jobs whose result is not there yet; says how many were left out."""
    todo = [job for job in jobs if not job.target.is_file()]
    if len(todo) < len(jobs):
        there = len(jobs) - len(todo)
        console.print(f"{there} result{'s' if there != 1 else ''} already there, left as "
                      f"{'they are' if there != 1 else 'it is'} (--skip-existing)", markup=False)
    return todo


def _restore_one(model, job: Job, tile: int | None) -> str | None:
    """Restore one file; the problem as one line naming the file, or None on success."""
    from zoo.image_output import OutputError
    from zoo.restore import restore_file

    try:
        restore_file(model, job.source, job.target, tile=tile)
    except OutputError as exc:
        return f"{job.source}: cannot write {job.target}: {exc.reason}"
    except ImageError as exc:
        return str(exc)
    except (RuntimeError, MemoryError) as exc:
        if is_out_of_memory(exc):
            return f"{job.source}: out of memory; {_out_of_memory_hint(model, tile)}"
        return f"{job.source}: the model failed on this image ({first_line(exc)})"
    except OSError as exc:  # writing the output: permissions, full disk...
        problem = f"{job.source}: cannot write {job.target}: {os_reason(exc)}"
        return DiskFull(problem) if exc.errno in (errno.ENOSPC, errno.EDQUOT) else problem
    return None


def _out_of_memory_hint(model: Restorer, tile: int | None) -> str:
    """What to try after running out of memory with ``tile`` on the model's device: not the tile
    just tried, nor a GPU's remedy on a CPU."""
    from zoo.tiling import SMALLEST_FALLBACK_TILE

    on_gpu = model.num_parameters() and next(model.parameters()).device.type != "cpu"
    if tile is None:
        tried = ("free memory for it (automatic tiling retries in tiles down to "
                 f"{SMALLEST_FALLBACK_TILE} px)")
    elif tile == 0:
        tried = "restore it in tiles (leave out --tile 0)"
    elif tile > SMALLEST_FALLBACK_TILE:
        tried = f"use a smaller --tile than {tile} (e.g. --tile {max(tile // 2, SMALLEST_FALLBACK_TILE)})"
    else:
        tried = f"--tile {tile} is small already"
    return f"{tried}{', or --device cpu' if on_gpu else ''}; {IMAGE_MEMORY_NOTE}"
