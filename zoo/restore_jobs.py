"""Which files a ``zoo restore`` run restores, and where each result goes: folders expanded,
earlier results and other files passed over, and results that would clash with each other or
overwrite an input refused before any model runs."""

from __future__ import annotations

import glob
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from zoo.atomic import nearest_existing, unwritable_folder
from zoo.errors import ZooError, first_few, os_reason
from zoo.folders import is_dir, walk_files

__all__ = ["RESULT_FORMATS", "DiskFull", "FullDisks", "Job", "check_destination", "collect_jobs",
           "writable_jobs"]

RESULT_FORMATS = ("png", "webp", "tif", "jpg", "bmp")
"""``zoo restore --format``'s names: the suffix of each format zoo.image_output writes."""


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes."""

    source: Path
    target: Path


@dataclass(frozen=True)
class FolderImages:
    """What a folder walk found: the images to restore, and what it passed over."""

    found: list[Path]
    """The images to restore, sorted."""
    earlier: int
    """Earlier results by their name (``*SUFFIX.*``)."""
    zoo_results: list[Path]
    """PNG results zoo wrote under another suffix (their ``Software`` text says so)."""
    others: list[Path]
    """Files that are not images zoo reads (hidden ones not counted)."""
    results_inside: str | None = None
    """The ``--out-dir`` sub-folder the walk did not enter, if there is one."""

    def earlier_results(self, suffix: str) -> str:
        """``N earlier results (*SUFFIX.*)``, and those zoo wrote under another suffix, or ''."""
        parts = []
        if self.earlier:
            parts.append(f"{self.earlier} earlier result{'s' if self.earlier != 1 else ''} "
                         f"(*{suffix}.*)")
        if self.zoo_results:
            n = len(self.zoo_results)
            parts.append(f"{n} result{'s' if n != 1 else ''} zoo wrote under another --suffix "
                         f"({first_few([path.name for path in self.zoo_results])})")
        return " and ".join(parts)


def _folder_images(folder: Path, recursive: bool, suffix: str, problems: list[str],
                   out_dir: Path | None = None) -> FolderImages:
    """The image files in ``folder`` and what was passed over. Unreadable folders are added to
    ``problems``. ``out_dir`` inside ``folder`` is not walked: it holds results, whatever
    suffix they were written with."""
    from zoo.image_output import is_zoo_result
    from zoo.imaging import READ_SUFFIXES

    def unreadable(exc: OSError) -> None:
        problems.append(f"{exc.filename}: cannot read this folder ({os_reason(exc)})")

    files = list(walk_files(folder, recursive=recursive, onerror=unreadable,
                            skip=[out_dir] if out_dir else []))
    images = [path for path in files if path.suffix.lower() in READ_SUFFIXES]
    others = [path for path in files if path.suffix.lower() not in READ_SUFFIXES
              and not any(part.startswith(".") for part in path.relative_to(folder).parts)]
    named = [path for path in images if not path.stem.endswith(suffix)]
    zoo_results = [path for path in named
                   if path.suffix.lower() == ".png" and is_zoo_result(path)]
    passed = set(zoo_results)
    found = sorted(path for path in named if path not in passed)
    return FolderImages(found, len(images) - len(named), zoo_results, others,
                        _results_inside(folder, out_dir, recursive))


def _results_inside(folder: Path, out_dir: Path | None, recursive: bool) -> str | None:
    """``out_dir`` as a sub-folder of ``folder`` that a recursive walk would have entered, if it
    is one (it was passed over: it holds results)."""
    if not recursive or out_dir is None or not is_dir(out_dir):
        return None
    inside, root = Path(os.path.realpath(out_dir)), Path(os.path.realpath(folder))
    if inside == root or not inside.is_relative_to(root):
        return None
    return inside.relative_to(root).as_posix()


def _passed_over(folder: Path, contents: FolderImages, suffix: str) -> str | None:
    """The note on what a folder holds besides the images it restores, if anything."""
    parts = []
    if contents.results_inside:
        parts.append(f"its sub-folder {contents.results_inside}/ not walked, being the --out-dir")
    if contents.earlier or contents.zoo_results:
        parts.append(f"{contents.earlier_results(suffix)} not restored again")
    if contents.others:
        names = [path.relative_to(folder).as_posix() for path in contents.others]
        n = len(contents.others)
        parts.append(f"{n} file{'s' if n != 1 else ''} passed over, not being images zoo reads: "
                     f"{first_few(names, 5)}")
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
        if output.endswith(("/", os.sep)) or is_dir(Path(output)):
            raise ZooError(f"-o {output} is a folder; use --out-dir {output} to write into it")
        if _is_special(Path(output)):  # -o /dev/null wrote a file /dev/null.png
            raise ZooError(f"-o {output} is a device or pipe, not a file; results are image "
                           "files: name one (-o clean.png)")
        if is_dir(output_path(output)):
            raise ZooError(f"-o {output} writes {output_path(output)}, which is a folder; name "
                           "another file, or use --out-dir to write into it")
        output_format(output)  # an unknown suffix, in one line
        why = unwritable_folder(output_path(output).parent)
        if why:
            raise ZooError(f"-o {output}: {why}")


def _is_special(path: Path) -> bool:
    """Whether ``path`` is a device, a pipe or a socket (``/dev/null``), not a file or folder."""
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:
        return False


def _separate_shared_names(jobs: list[Job], suffix: str, extension: str) -> list[Job]:
    """Give inputs that would share a result (photo.jpg, photo.png) their format in its name,
    where that tells them apart (two photo.jpg from two folders keep the name and clash)."""
    keys = [(_resolved(job.target), job.source.suffix.lower()) for job in jobs]  # resolved once
    targets = Counter(target for target, _ in keys)
    formats = Counter(keys)
    return [job if targets[target] == 1 or formats[target, fmt] > 1 else
            Job(job.source, job.target.with_name(f"{job.source.stem}-{fmt[1:]}{suffix}{extension}"))
            for job, (target, fmt) in zip(jobs, keys)]


def collect_jobs(inputs: list[Path], *, output: str | None, out_dir: Path | None,
                 suffix: str, recursive: bool, skip_existing: bool = False,
                 extension: str = ".png") -> tuple[list[Job], list[str], int, list[str]]:
    """Expand folders and pick an output path for every input file (``STEM{suffix}{extension}``
    where ``output`` does not name it).

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
        if is_dir(item):
            before = len(problems)
            contents = _folder_images(item, recursive, suffix, problems, out_dir)
            found = contents.found
            note = _passed_over(item, contents, suffix) if found else None
            if note:
                notes.append(note)
            if not found and len(problems) == before:
                earlier = contents.earlier_results(suffix)
                problems.append(f"{item}: no image files in this folder" + (
                    f", only {earlier}, which are not restored again"
                    + (" (name them as files to restore them)" if contents.zoo_results else "")
                    if earlier else
                    "" if recursive else " (use -r for sub-folders)"))
            for f in found:
                base = out_dir / f.parent.relative_to(item) if out_dir else f.parent
                jobs.append(Job(f, base / f"{f.stem}{suffix}{extension}"))
        else:  # missing or unreadable files are reported per file when they are read
            base = out_dir if out_dir else item.parent
            jobs.append(Job(item, base / f"{item.stem}{suffix}{extension}"))
    first: dict[Path, Job] = {}
    for job in jobs:  # an input named twice (a file and its folder) is restored once
        kept = first.setdefault(_resolved(job.source), job)
        if kept is not job and os.path.abspath(kept.source) != os.path.abspath(job.source):
            notes.append(f"{job.source}: the same file as {kept.source} (a link to it, or it to "
                         "this), restored once, under that name")
    jobs = list(first.values())
    if output is not None:
        if len(jobs) > 1:
            raise ZooError(f"-o/--output takes exactly one input image, got {len(jobs)}; "
                           "use --out-dir for several")
        jobs = [Job(job.source, output_path(output)) for job in jobs]
    jobs = _separate_shared_names(jobs, suffix, extension)
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


class DiskFull(str):
    """A job's failure to write its result for want of space (its message)."""


class FullDisks:
    """The disks a result could not be written to for want of space: the images whose results
    go there are not restored (a batch of large photographs ran the model on each, for hours,
    only to fail writing it)."""

    def __init__(self) -> None:
        self.full: dict[int, Path] = {}

    def note(self, job: Job) -> None:
        """Remember that the disk of ``job``'s result is full."""
        disk = _disk(job.target.parent)
        if disk is not None:
            self.full.setdefault(disk, job.target.parent)

    def refusal(self, job: Job) -> str | None:
        """Why ``job`` is not run, its result's disk being full; None to run it."""
        folder = self.full.get(_disk(job.target.parent)) if self.full else None
        if folder is None:
            return None
        return (f"{job.source}: not restored, the disk of {folder} being full (a result could not "
                "be written there); free some space and rerun with --skip-existing")


def _disk(folder: Path) -> int | None:
    """The device number of ``folder``'s file system (its nearest existing parent's)."""
    try:
        return nearest_existing(folder).stat().st_dev
    except OSError:
        return None
