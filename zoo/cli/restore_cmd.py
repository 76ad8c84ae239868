"""``zoo restore``: remove JPEG artifacts from image files and folders."""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zoo.atomic import unwritable_folder
from zoo.cli.arg_types import named, named_path
from zoo.distributed import refuse_torchrun
from zoo.errors import (ImageError, WeightsError, ZooError, first_few, first_line, is_out_of_memory,
                        os_reason, printable)

if TYPE_CHECKING:
    from zoo.models.base import Restorer

DEFAULT_MODEL = "arnet-nogan"
DEFAULT_SUFFIX = ".restored"
SAMPLE_QUALITY = 10
OUT_OF_MEMORY_HINT = ("use a smaller --tile (e.g. --tile 256), or --device cpu on a GPU; the image "
                      "itself is held at about 27 MB per megapixel whatever the tile")
PRECISION_CHOICES = ("fp32", "bf16", "fp16")
"""zoo.precision.PRECISIONS' names, here so that the CLI starts without importing torch."""


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes."""

    source: Path
    target: Path


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
                     help="output file for a single input (format from its suffix; PNG if none)")
    out.add_argument("--out-dir", type=named_path("a folder"), metavar="DIR",
                     help="write results into this folder (sub-folders of folder inputs are kept)")
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
                   help="where to run: cpu, cuda, cuda:N or mps (default: cuda when available, else cpu)")
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


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False when it cannot be looked at (reading it says why)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _folder_images(folder: Path, recursive: bool, suffix: str, problems: list[str],
                   out_dir: Path | None = None) -> tuple[list[Path], int, list[Path]]:
    """The image files in ``folder``, sorted; how many earlier results (``*SUFFIX.*``) were
    left out; and the other files, not images (hidden ones not counted). Unreadable folders
    are added to ``problems``. ``out_dir`` inside ``folder`` is not walked: it holds results,
    whatever suffix they were written with."""
    from zoo.folders import walk_files
    from zoo.imaging import READ_SUFFIXES

    def unreadable(exc: OSError) -> None:
        problems.append(f"{exc.filename}: cannot read this folder ({os_reason(exc)})")

    files = list(walk_files(folder, recursive=recursive, onerror=unreadable,
                            skip=[out_dir] if out_dir else []))
    images = [path for path in files if path.suffix.lower() in READ_SUFFIXES]
    others = [path for path in files if path.suffix.lower() not in READ_SUFFIXES
              and not any(part.startswith(".") for part in path.relative_to(folder).parts)]
    found = [path for path in images if not path.stem.endswith(suffix)]
    return sorted(found), len(images) - len(found), others


def _passed_over(folder: Path, earlier: int, others: list[Path], suffix: str) -> str | None:
    """The note on what a folder holds besides the images it restores, if anything."""
    parts = []
    if earlier:
        parts.append(f"{earlier} earlier result{'s' if earlier != 1 else ''} (*{suffix}.*) not "
                     "restored again")
    if others:
        names = [path.relative_to(folder).as_posix() for path in others]
        parts.append(f"{len(others)} file{'s' if len(others) != 1 else ''} passed over, not "
                     f"being images zoo reads: {first_few(names, 5)}")
    return f"{folder}: {'; '.join(parts)}" if parts else None


def check_destination(*, output: str | None, out_dir: Path | None, suffix: str) -> None:
    """Refuse, before any model runs, a destination no result could be written to."""
    from zoo.image_output import output_format, output_path

    if not suffix:
        raise ZooError("--suffix must not be empty: it tells results from their inputs (and "
                       "earlier results from images to restore)")
    if any(sep and sep in suffix for sep in (os.sep, os.altsep, "/")):
        raise ZooError(f"--suffix {suffix!r} contains a path separator; it is added to each "
                       "result's file name (use --out-dir for another folder)")
    if out_dir is not None:
        why = unwritable_folder(out_dir)
        if why:
            raise ZooError(f"--out-dir {out_dir}: {why}")
    if output is not None:
        if not output:
            raise ZooError("-o: the output file name is empty; name a file (-o clean.png)")
        if output == "-":
            raise ZooError("-o -: results are not written to standard output; name a file "
                           "(-o clean.png)")
        if output.endswith(("/", os.sep)) or _is_dir(Path(output)):
            raise ZooError(f"-o {output} is a folder; use --out-dir {output} to write into it")
        if _is_dir(output_path(output)):
            raise ZooError(f"-o {output} writes {output_path(output)}, which is a folder; name "
                           "another file, or use --out-dir to write into it")
        output_format(output)  # an unknown suffix, in one line
        why = unwritable_folder(output_path(output).parent)
        if why:
            raise ZooError(f"-o {output}: {why}")


def _separate_shared_names(jobs: list[Job], suffix: str) -> list[Job]:
    """Give inputs that would share a result (photo.jpg, photo.png) their format in its name,
    where that tells them apart (two photo.jpg from two folders keep the name and clash)."""
    keys = [(_resolved(job.target), job.source.suffix.lower()) for job in jobs]  # resolved once
    targets = Counter(target for target, _ in keys)
    formats = Counter(keys)
    return [job if targets[target] == 1 or formats[target, fmt] > 1 else
            Job(job.source, job.target.with_name(f"{job.source.stem}-{fmt[1:]}{suffix}.png"))
            for job, (target, fmt) in zip(jobs, keys)]


def collect_jobs(inputs: list[Path], *, output: str | None, out_dir: Path | None,
                 suffix: str, recursive: bool,
                 skip_existing: bool = False) -> tuple[list[Job], list[str], int, list[str]]:
    """Expand folders and pick an output path for every input file.

    Returns the jobs, what cannot be restored (empty or unreadable folders, a result that
    another input's result would overwrite, a result that would replace an input of the run),
    one line each, the number of input images refused (result clashes, inputs in the way), and
    notes on what folders hold besides the images restored (earlier results, other files).
    ``output`` is checked by :func:`check_destination` first. With ``skip_existing`` a result
    that is already there replaces nothing (it is kept), so it is no clash with another input.
    """
    from zoo.image_output import output_path

    jobs: list[Job] = []
    problems: list[str] = []
    notes: list[str] = []
    for item in _expanded(inputs, problems):
        if _is_dir(item):
            before = len(problems)
            found, earlier, others = _folder_images(item, recursive, suffix, problems, out_dir)
            note = _passed_over(item, earlier, others, suffix) if found else None
            if note:
                notes.append(note)
            if not found and len(problems) == before:
                problems.append(f"{item}: no image files in this folder" + (
                    f", only {earlier} earlier result{'s' if earlier != 1 else ''} (*{suffix}.*), "
                    "which are not restored again" if earlier else
                    "" if recursive else " (use -r for sub-folders)"))
            for f in found:
                base = out_dir / f.parent.relative_to(item) if out_dir else f.parent
                jobs.append(Job(f, base / f"{f.stem}{suffix}.png"))
        else:  # missing or unreadable files are reported per file when they are read
            base = out_dir if out_dir else item.parent
            jobs.append(Job(item, base / f"{item.stem}{suffix}.png"))
    first: dict[Path, Job] = {}
    for job in jobs:  # an input named twice (a file and its folder) is restored once
        first.setdefault(_resolved(job.source), job)
    jobs = list(first.values())
    if output is not None:
        if len(jobs) > 1:
            raise ZooError(f"-o/--output takes exactly one input image, got {len(jobs)}; "
                           "use --out-dir for several")
        jobs = [Job(job.source, output_path(output)) for job in jobs]
    jobs = _separate_shared_names(jobs, suffix)
    unique: dict[object, Job] = {}
    for job, key in zip(jobs, _target_keys(jobs)):
        if key in unique:
            problems.append(f"{job.source}: its result {job.target} would overwrite that of "
                            f"{unique[key].source}; restore it with -o")
        else:
            unique[key] = job
    kept = _sparing_inputs(list(unique.values()), [job.source for job in jobs], problems,
                           skip_existing)
    return kept, problems, len(jobs) - len(kept), notes


def _expanded(inputs: list[Path], problems: list[str]) -> list[Path]:
    """The inputs, a pattern that names no file as it is (``'photos/*.jpg'``, quoted, or from a
    shell that does not expand patterns, as Windows' do not) replaced by the files it matches."""
    expanded: list[Path] = []
    for item in inputs:
        text = str(item)
        if not glob.has_magic(text) or os.path.lexists(text):
            expanded.append(item)
            continue
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            problems.append(f"{text}: no file matches this pattern")
        expanded += [Path(match) for match in matches]
    return expanded


def _resolved(path: Path) -> Path:
    """``path`` with its links followed, or as it is when they loop (Python 3.11 raises
    RuntimeError there): reading it then fails in one line, and the rest of the run goes on."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _target_keys(jobs: list[Job]) -> list[object]:
    """What names each job's result on its file system: the resolved path, or, for results
    whose paths differ in case alone (IMG.restored.png, img.restored.png) in a folder whose file
    system ignores case (macOS, Windows), the path in one case, so that they are one file."""
    resolved = [_resolved(job.target) for job in jobs]
    spellings: dict[str, set[Path]] = {}
    for path in resolved:
        spellings.setdefault(str(path).casefold(), set()).add(path)
    return [str(path).casefold() if len(spellings[str(path).casefold()]) > 1
            and _case_blind(path.parent) else path for path in resolved]


def _case_blind(folder: Path) -> bool:
    """Whether names in ``folder`` (or its nearest existing parent, the folder being made
    later) ignore case: a temporary file is looked up by its name in the other case."""
    try:
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        with tempfile.NamedTemporaryFile(prefix=".zoo-case-probe-", dir=folder) as probe:
            return Path(probe.name).with_name(Path(probe.name).name.upper()).exists()
    except OSError:  # a folder we cannot write into: its jobs are refused for that anyway
        return False


def _file_key(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of an existing file, which names it whatever the spelling (links,
    a case-insensitive file system); None when it is not there, or when its file system gives
    no inode numbers (0, as some network and FAT mounts do)."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if info.st_ino else None


def _sparing_inputs(jobs: list[Job], sources: list[Path], problems: list[str],
                    skip_existing: bool) -> list[Job]:
    """The jobs whose result would replace no input of this run (its own or another job's);
    the others are added to ``problems``, before any image is restored."""
    inputs: dict[object, Path] = {}
    for source in sources:
        inputs[_resolved(source)] = source
        inputs.setdefault(_file_key(source), source)
    inputs.pop(None, None)
    kept = []
    for job in jobs:
        hit = inputs.get(_resolved(job.target)) or inputs.get(_file_key(job.target))
        if hit is None or (skip_existing and hit != job.source and job.target.is_file()):
            kept.append(job)  # (a result already there, under --skip-existing, is left as it is)
        elif hit == job.source:
            problems.append(f"{job.source}: the output would overwrite the input; choose "
                            "another output name")
        else:
            same = "" if hit == job.target else f" ({hit})"
            problems.append(f"{job.source}: its result {job.target} would overwrite another "
                            f"input of this run{same}; leave one of them out, or write the "
                            "results elsewhere (--out-dir, --suffix)")
    return kept


def writable_jobs(jobs: list[Job], problems: list[str], *, hint: str) -> list[Job]:
    """The jobs whose result's folder can be written into; the others are added to
    ``problems`` (with ``hint``) before any image is restored."""
    folders: dict[Path, str | None] = {}
    kept = []
    for job in jobs:
        folder = job.target.parent
        if folder not in folders:
            folders[folder] = unwritable_folder(folder)
        if folders[folder]:
            problems.append(f"{job.source}: {folders[folder]}{hint}")
        else:
            kept.append(job)
    return kept


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
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    _check_usage(args)
    inputs = list(args.inputs) + ([_sample_input(args)] if args.sample else [])
    jobs, problems, refused, notes = collect_jobs(inputs, output=args.output, out_dir=args.out_dir,
                                           skip_existing=args.skip_existing,
                                           suffix=args.suffix, recursive=args.recursive)
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


def _check_usage(args: argparse.Namespace) -> None:
    """Refuse, before the model loads or anything is written, options that cannot work."""
    from zoo.imaging import max_pixels

    refuse_torchrun("zoo restore")
    if args.tile is not None and args.tile < 0:
        raise ZooError(f"--tile must be 0 (never tile) or a positive size, got {args.tile}")
    if not args.inputs and not args.sample:
        raise ZooError("no input images given: zoo restore INPUT... (or --sample NAME)")
    max_pixels()  # a bad ZOO_MAX_IMAGE_PIXELS fails here, before the model loads
    check_destination(output=args.output, out_dir=args.out_dir, suffix=args.suffix)


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
    shown = progress and console.is_terminal
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not shown)  # a long image shows its time too
    task = bars.add_task("restoring", total=len(jobs))
    tiles = bars.add_task("  tiles", total=None, visible=False)

    def tile_done(done: int, total: int) -> None:
        bars.update(tiles, completed=done, total=total, visible=True)

    with bars, reporting_tiles(tile_done):
        for number, job in enumerate(jobs):
            bars.update(task, description=f"restoring {escape(printable(job.source.name))}")
            try:
                problem = _restore_one(model, job, tile)
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
            return f"{job.source}: out of memory; {OUT_OF_MEMORY_HINT}"
        return f"{job.source}: the model failed on this image ({first_line(exc)})"
    except OSError as exc:  # writing the output: permissions, full disk...
        return f"{job.source}: cannot write {job.target}: {os_reason(exc)}"
    return None

