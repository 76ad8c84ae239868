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

It prints the calls to make, in order (training/README.md, "Training on a lent GPU machine").
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image
from rich.progress import track

from zoo.imaging import read_image
from zoo.train.data import centre_crop, find_images

CALL_LIMIT = 64 * 2**20
MARGIN = 2 * 2**20  # files the session adds to the tree before the calls (notes, logs)


def tree_bytes(repo: Path) -> int:
    """Bytes of what travels with every call: tracked files and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=repo, check=True, capture_output=True).stdout.split(b"\0")
    paths = {repo / name.decode() for name in listed if name}
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


def pack_wheel(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", f"lpips=={version('lpips')}", "-d", str(dest)], check=True)


def pack_val(source: Path, dest: Path, crop: int) -> None:
    for path in find_images([source]):
        pixels = centre_crop(read_image(path).pixels, crop)
        out = (dest / path.relative_to(source)).with_suffix(".png")
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(out)


def pack_train(sources: list[Path], folders: CarryFolders) -> None:
    """Training images as lossless WebP, each in the first carry folder with room."""
    tmp = folders.root / "tmp.webp"
    for path in track(find_images(sources), description="training images -> WebP"):
        pixels = read_image(path).pixels
        source = next(s for s in sources if path.is_relative_to(s))
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, "WEBP", lossless=True, quality=100,
                                                           method=4)
        folders.place(tmp, f"train/{source.name}/{path.relative_to(source).with_suffix('.webp')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, nargs="+", default=[Path("../shared/data/train")])
    parser.add_argument("--val", type=Path, default=Path("../shared/data/val"))
    parser.add_argument("--crop", type=int, default=256, help="the recipes' validation.crop")
    parser.add_argument("--out", type=Path, default=Path(".device"))
    args = parser.parse_args()
    repo = Path.cwd()
    if args.out.exists():
        shutil.rmtree(args.out)
    carry1 = args.out / "carry-1"
    pack_wheel(carry1 / "wheels")
    pack_val(args.val, carry1 / "val", args.crop)
    pack_backbone("alex", half=False, zoo_data=carry1 / "zoo-data")
    tree = tree_bytes(repo)
    folders = CarryFolders(args.out, room=CALL_LIMIT - tree - MARGIN)
    if folders.used[0] > folders.room:
        sys.exit(f"pack.py: the tree plus {carry1} already exceed one call's 64 MiB")
    vgg = pack_backbone("vgg", half=True, zoo_data=args.out / "staging")
    folders.place(vgg, "zoo-data/lpips/vgg_backbone.safetensors")
    shutil.rmtree(args.out / "staging")
    pack_train([p.resolve() for p in args.train], folders)
    groups = len(folders.used)
    (carry1 / "groups.txt").write_text(f"{groups}\n")  # train.sh checks that all arrived
    print(f"tree {tree / 2**20:.1f} MiB; each call carries one folder:")
    for n in range(1, groups + 1):
        folder = args.out / f"carry-{n}"
        images = sum(1 for _ in folder.glob("train/**/*.webp"))
        last = n == groups
        command = ("bash training/device/train.sh ENTRY MINUTES [KEY=VALUE ...] [+ ENTRY MINUTES ...]" if last
                   else "bash training/device/train.sh --check" if n == 1 else "true")
        print(f"  call {n}: carry=['{folder}'] ({folder_bytes(folder) / 2**20:.1f} MiB, "
              f"{images} training images), command: {command}")
    print("Make the calls back to back: the machine keeps earlier calls' folders only while warm "
          "(30 s after a call).")


if __name__ == "__main__":
    main()
