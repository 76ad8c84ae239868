"""Pack what a training run on a lent GPU machine carries, in folders that fit one call each.

The device tool sends the working tree plus the ``carry`` paths, at most 64 MiB per call, and
the machine has no network: no PyPI, no torchvision downloads, no ``../shared``. So this packs,
under ``.device/`` (git-ignored):

- ``carry-1/zoo-data``: the LPIPS backbones the run needs (``ZOO_DATA``): AlexNet in fp32 (it
  scores validation) and VGG16 in fp16 (it is only a training loss; fp32 would not fit);
- ``carry-1/wheels``: the ``lpips`` wheel (the one package that machine lacks);
- ``carry-1/val``: the validation images, already centre-cropped as the recipe's validation
  crops them, so the chosen checkpoint is scored exactly as on this machine;
- ``carry-N/train``: the training images as lossless WebP (about two thirds of the PNG bytes),
  spread over as many folders as the 64 MiB per call allow.

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


def pack_zoo_data(dest: Path) -> None:
    """The LPIPS backbones as the zoo cache holds them, VGG16 cast to fp16."""
    import torch
    from safetensors.torch import save_file

    from zoo.metrics.lpips_weights import backbone_state_dict

    for net, dtype in (("alex", torch.float32), ("vgg", torch.float16)):
        state = {k: v.to(dtype).contiguous() for k, v in backbone_state_dict(net).items()}
        out = dest / "lpips" / f"{net}_backbone.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(out), metadata={"source": "training/device/pack.py", "net": net})


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


def pack_train(sources: list[Path], root: Path, first_room: int, room: int) -> int:
    """Training images as lossless WebP, filling carry-1's remaining room, then carry-2, ...

    Returns the number of carry folders used.
    """
    group, used = 1, 0
    root.mkdir(parents=True, exist_ok=True)
    for path in track(find_images(sources), description="training images -> WebP"):
        pixels = read_image(path).pixels
        source = next(s for s in sources if path.is_relative_to(s))
        name = f"{source.name}/{path.relative_to(source).with_suffix('.webp')}"
        tmp = root / "tmp.webp"
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, "WEBP", lossless=True, quality=100,
                                                           method=4)
        size = tmp.stat().st_size
        # An image larger than a whole call's room still gets a folder of its own.
        if used + size > (first_room if group == 1 else room) and (used or group == 1):
            group, used = group + 1, 0
        out = root / f"carry-{group}" / "train" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(out)
        used += size
    return group


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
    pack_zoo_data(carry1 / "zoo-data")
    pack_wheel(carry1 / "wheels")
    pack_val(args.val, carry1 / "val", args.crop)
    tree = tree_bytes(repo)
    room = CALL_LIMIT - tree - MARGIN
    first_room = room - folder_bytes(carry1)
    if first_room < 0:
        sys.exit(f"pack.py: the tree plus {carry1} already exceed one call's 64 MiB")
    groups = pack_train([p.resolve() for p in args.train], args.out, first_room, room)
    (carry1 / "groups.txt").write_text(f"{groups}\n")  # train.sh checks that all arrived
    print(f"tree {tree / 2**20:.1f} MiB; each call carries one folder:")
    for n in range(1, groups + 1):
        folder = args.out / f"carry-{n}"
        images = sum(1 for _ in folder.glob("train/**/*.webp"))
        last = n == groups
        command = ("bash training/device/train.sh ENTRY MINUTES [KEY=VALUE ...]" if last
                   else "bash training/device/train.sh --check" if n == 1 else "true")
        print(f"  call {n}: carry=['{folder}'] ({folder_bytes(folder) / 2**20:.1f} MiB, "
              f"{images} training images), command: {command}")
    print("Make the calls back to back: the machine keeps earlier calls' folders only while warm "
          "(30 s after a call).")


if __name__ == "__main__":
    main()
