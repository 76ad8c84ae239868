"""Pack what a training run on a lent GPU machine carries, in folders that fit one call each.

The device tool sends the working tree plus the ``carry`` paths, at most 64 MiB per call, and
the machine has no network: no PyPI, no torchvision downloads, no ``../shared``. So this packs,
under ``.device/`` (git-ignored):

- ``carry-1/wheels``: the ``lpips`` wheel (the one package that machine lacks);
- ``carry-1/val``: the validation images, already centre-cropped as the recipe's validation
  crops them, so the chosen checkpoint is scored exactly as on this machine;
- ``carry-1/zoo-data``: the AlexNet LPIPS backbone in fp32 (it scores validation);
- then, first fit over as many folders as needed, each within what one call may carry beside
  the tree: the VGG16 LPIPS backbone in fp16 (only a training loss; fp32 would not fit) under
  ``carry-N/zoo-data`` (train.sh merges those into one ``ZOO_DATA``), and the training images
  as lossless WebP (about two thirds of the PNG bytes) under ``carry-N/train``.

    python training/device/pack.py [--train ../shared/data/train] [--val ../shared/data/val]
    python training/device/pack.py --check

It prints the calls to make, in order (training/README.md, "Training on a lent GPU machine").
Every input is checked before anything is written; the pack is built in a scratch folder beside
``.device`` and renamed into place when complete, so ``.device`` is the whole pack or as it was.
It replaces only an earlier pack there, and one pack.py at a time (a second is refused). Images
that cannot be read are skipped with a warning, as ``zoo train`` skips them.

The tree grows between a pack and a lease: ``--check``, before each lease, measures the tree as
it would travel now plus the largest carry folder against one call's 64 MiB, and says in one line
to make the pack again when they no longer fit.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout
from PIL import Image
from rich.progress import track

from zoo.atomic import unwritable_folder
from zoo.cli.arg_types import int_at_least
from zoo.cli.children import ChildError, run_child
from zoo.errors import DataError, ImageError, ZooError
from zoo.locks import LOCK_FILE
from zoo.train.data import SkipWarnings, centre_crop, find_images, read_opaque

CALL_LIMIT = 64 * 2**20
REPO = Path(__file__).resolve().parents[2]
"""The checkout whose tree travels with every call."""
MARGIN = 2 * 2**20  # files the session adds to the tree before the calls (notes, logs)
CARRY = re.compile(r"carry-[1-9][0-9]*")
OUT = Path(".device")
"""The pack: git-ignored, so that it travels only where a call carries it, and where train.sh
looks (another folder would travel with the tree, whole, on every call)."""


def tree_bytes(repo: Path) -> int:
    """Bytes of what travels with every call: tracked files and untracked files git does not ignore."""
    try:
        listed = run_child(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], "git ls-files").stdout.split("\0")
    except ChildError as exc:
        raise ZooError(f"{repo}: not a git checkout ({exc}); run pack.py in the repository's "
                       "root, whose tree travels with every call") from None
    except FileNotFoundError:
        raise ZooError("git is not installed here; pack.py counts the bytes of the tree that "
                       "travels with every call with git ls-files") from None
    paths = {repo / name for name in listed if name}
    return sum(p.stat().st_size for p in paths if p.is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def pack_backbone(net: str, half: bool, zoo_data: Path) -> Path:
    """One LPIPS backbone where the zoo cache ``zoo_data`` holds it, optionally cast to fp16."""
    import torch
    from safetensors.torch import save_file

    from zoo.metrics.lpips_weights import backbone_state_dict

    dtype = torch.float16 if half else torch.float32
    state = {k: v.to(dtype).contiguous() for k, v in backbone_state_dict(net).items()}
    out = zoo_data / "lpips" / f"{net}_backbone.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"source": "training/device/pack.py", "net": net})
    return out


class CarryFolders:
    """First-fit placement of files into ``root/carry-N``, each folder within one call's room."""

    def __init__(self, root: Path, room: int) -> None:
        self.root, self.room = root, room
        self.used = [folder_bytes(root / "carry-1")] if (root / "carry-1").exists() else []

    def place(self, file: Path, name: str) -> Path:
        """Move ``file`` to ``carry-N/name`` in the first folder with room (a new one if none)."""
        size = file.stat().st_size
        n = next((i for i, used in enumerate(self.used) if used + size <= self.room), None)
        if n is None:  # a file larger than a whole call's room still gets a folder of its own
            self.used.append(0)
            n = len(self.used) - 1
        out = self.root / f"carry-{n + 1}" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        file.replace(out)
        self.used[n] += size
        return out


def crop_size(text: str) -> int:
    """argparse type for ``--crop``: 0 (whole images) or a positive multiple of 8, as the recipes'
    ``validation.crop``."""
    value = int_at_least(0)(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive multiple of 8, got {value}")
    return value


def image_folder(folder: Path, option: str) -> None:
    """Refuse a ``folder`` that is missing or holds no images, naming the ``option`` it came from."""
    if not folder.is_dir():
        raise DataError(f"{option} {folder}: not a folder")
    if not find_images([folder]):
        raise DataError(f"{option} {folder}: holds no images")


def check_out(out: Path) -> None:
    """Refuse an ``out`` that pack.py could not replace without losing someone's files: it may
    be absent, an empty folder or an earlier pack (only carry-N folders, carry-1/groups.txt)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ZooError(f"{out}: a file or a link, not a folder; move it away for the pack")
    why = unwritable_folder(out.parent)  # the pack, its scratch folder and lock go beside it
    if why:
        raise ZooError(f"{out}: {why}")
    if not out.exists():
        return
    entries = list(out.iterdir())
    if entries and not ((out / "carry-1" / "groups.txt").is_file()
                        and all(e.is_dir() and CARRY.fullmatch(e.name) for e in entries)):
        raise ZooError(f"{out}: not a pack this script made, and it replaces only those "
                       "(carry-N folders, carry-1/groups.txt); move it away")


def check_inputs(train: list[Path], val: Path, out: Path) -> None:
    """Every problem with the folders given, as one-line errors, before anything is written."""
    for folder in train:
        image_folder(folder, "--train")
    image_folder(val, "--val")
    names = [folder.resolve().name for folder in train]
    if len(set(names)) < len(names):  # each lands in train/NAME: one would overwrite the other
        raise ZooError(f"--train {' '.join(map(str, train))}: two folders have the same name")
    check_out(out)
    target = out.resolve()
    for folder in [*train, val]:
        source = folder.resolve()
        if source.is_relative_to(target) or target.is_relative_to(source):
            raise ZooError(f"{out} and {folder} overlap: the pack must be outside its sources")


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock while the block runs; another pack.py on the same ``out`` is refused at
    once. The lock is a ``.zoo-lock`` (git-ignored: it never travels) in a folder beside ``out``;
    the system drops it when its holder dies, and the folder goes when the block ends."""
    folder = out.parent / f".{out.name.lstrip('.')}.pack.lock"  # not a scratch folder's name
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ZooError(f"{out}: another pack.py is making this pack; wait for it to end") from None
    try:
        yield
    finally:
        try:
            shutil.rmtree(folder, ignore_errors=True)  # while held, as zoo.locks removes its own
        finally:
            lock.release()


@contextmanager
def scratch_beside(out: Path) -> Iterator[Path]:
    """A scratch folder beside ``out`` (so renames into place are atomic), removed however this
    ends, all under ``out``'s lock: so the scratch folders already there are those of killed
    runs, and go first (not git-ignored, they would travel)."""
    prefix = f".{out.name.lstrip('.')}.pack-"
    with out_lock(out):
        for stale in out.parent.glob(f"{prefix}*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)


def put_in_place(pack: Path, out: Path, work: Path) -> None:
    """Rename the finished ``pack`` to ``out``; an earlier pack there goes into ``work`` first,
    and back to ``out`` when anything, Ctrl-C too, stops the swap halfway."""
    check_out(out)  # again: minutes have passed
    old = work / "old"
    try:
        if out.exists():
            out.rename(old)
        pack.rename(out)
    except BaseException:
        if old.exists() and not out.exists():
            old.rename(out)
        raise


def readable(paths: Iterable[Path], kind: str, where: str) -> Iterator[tuple[Path, np.ndarray]]:
    """``(path, pixels)`` for each image that reads as ``zoo train`` reads it; the others are
    skipped with a warning naming each (the first ten; then a total). No readable image at all
    is an error."""
    count, seen, skips = 0, 0, SkipWarnings(kind)
    for path in paths:
        seen += 1
        try:
            pixels = read_opaque(path)
        except ImageError as exc:
            skips.skip(str(exc))
            continue
        count += 1
        yield path, pixels
    skips.summarise(seen)
    if not count:
        raise DataError(f"{where}: no readable {kind} images")


def pack_wheel(dest: Path) -> None:
    """The wheel of the ``lpips`` installed here, from PyPI (the one step that needs the network)."""
    try:
        wanted = f"lpips=={version('lpips')}"
    except PackageNotFoundError:
        raise ZooError("lpips is not installed here; pack.py packs the version this environment "
                       "has (pip install lpips)") from None
    dest.mkdir(parents=True, exist_ok=True)
    try:
        run_child([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", wanted, "-d", str(dest)], "pip download")
    except ChildError as exc:
        raise ZooError(f"pip could not download {wanted} ({exc.reason}); pack.py needs the "
                       "network for this") from None


def pack_val(source: Path, dest: Path, crop: int) -> None:
    for path, pixels in readable(find_images([source]), "validation", str(source)):
        pixels = centre_crop(pixels, crop)
        out = (dest / path.relative_to(source)).with_suffix(".png")
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(out)


def pack_train(sources: list[Path], folders: CarryFolders) -> None:
    """Training images as lossless WebP, each in the first carry folder with room."""
    tmp = folders.root / "tmp.webp"
    found = track(find_images(sources), description="training images -> WebP")
    for path, pixels in readable(found, "training", ", ".join(map(str, sources))):
        source = next(s for s in sources if path.is_relative_to(s))
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, "WEBP", lossless=True, quality=100,
                                                           method=4)
        folders.place(tmp, f"train/{source.name}/{path.relative_to(source).with_suffix('.webp')}")


def build(pack: Path, train: list[Path], val: Path, crop: int, tree: int) -> int:
    """Write the whole pack into the new folder ``pack``; returns its number of carry folders."""
    carry1 = pack / "carry-1"
    pack_wheel(carry1 / "wheels")
    pack_val(val, carry1 / "val", crop)
    pack_backbone("alex", half=False, zoo_data=carry1 / "zoo-data")
    folders = CarryFolders(pack, room=CALL_LIMIT - tree - MARGIN)
    if folders.used[0] > folders.room:
        raise ZooError(f"the tree ({tree / 2**20:.1f} MiB) plus carry-1 "
                       f"({folders.used[0] / 2**20:.1f} MiB) already exceed one call's 64 MiB")
    vgg = pack_backbone("vgg", half=True, zoo_data=pack / "staging")
    folders.place(vgg, "zoo-data/lpips/vgg_backbone.safetensors")
    shutil.rmtree(pack / "staging")
    pack_train(train, folders)
    groups = len(folders.used)
    (carry1 / "groups.txt").write_text(f"{groups}\n")  # train.sh checks that all arrived
    return groups


def check_fits(out: Path, tree: int) -> str:
    """One line on whether the pack at ``out`` still fits: the tree as it would travel now plus
    its largest carry folder, against one call's 64 MiB. A ZooError saying what to do when not."""
    if not (out / "carry-1" / "groups.txt").is_file():
        raise ZooError(f"{out}: no pack there; make it (python training/device/pack.py)")
    sizes = {p: folder_bytes(p) for p in out.iterdir() if p.is_dir() and CARRY.fullmatch(p.name)}
    largest = max(sizes, key=sizes.__getitem__)
    total = tree + sizes[largest]
    line = (f"the tree ({tree / 2**20:.2f} MiB) plus {largest} ({sizes[largest] / 2**20:.2f} MiB) "
            f"make {total / 2**20:.2f} MiB")
    if total > CALL_LIMIT:
        raise ZooError(f"{line}, over one call's 64 MiB: make the pack again (python "
                       "training/device/pack.py, about 3 minutes), which fits its folders beside "
                       "the tree as it is now")
    return f"{line} of one call's 64: fits, {(CALL_LIMIT - total) / 2**20:.2f} MiB spare"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, nargs="+", default=[Path("../shared/data/train")])
    parser.add_argument("--val", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--crop", type=crop_size, default=256,
                        help="the recipes' validation.crop (0 or a multiple of 8)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the pack still fits beside the tree (before a lease)")
    args = parser.parse_args()
    if Path.cwd().resolve() != REPO:
        raise ZooError(f"run pack.py from the repository's root, {REPO}: the calls it prints carry "
                       "paths relative to it, the tree it measures is the whole checkout, and "
                       "train.sh looks for .device there")
    if args.check:
        print(check_fits(OUT, tree_bytes(REPO)))
        return
    check_inputs(args.train, args.val, OUT)
    out = OUT.resolve()
    with scratch_beside(out) as work:
        tree = tree_bytes(REPO)
        groups = build(work / "pack", [p.resolve() for p in args.train], args.val, args.crop, tree)
        put_in_place(work / "pack", out, work)
    print(f"tree {tree / 2**20:.1f} MiB; each call carries one folder:")
    for n in range(1, groups + 1):
        folder = OUT / f"carry-{n}"
        images = sum(1 for _ in folder.glob("train/**/*.webp"))
        last = n == groups
        command = ("bash training/device/train.sh ENTRY MINUTES [KEY=VALUE ...] [+ ENTRY MINUTES ...]" if last
                   else "bash training/device/train.sh --check" if n == 1 else "true")
        print(f"  call {n}: carry=['{folder}'] ({folder_bytes(folder) / 2**20:.1f} MiB, "
              f"{images} training images), command: {command}")
    print("Make the calls back to back: the machine keeps earlier calls' folders only while warm "
          "(30 s after a call). Before each lease, python training/device/pack.py --check.")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
