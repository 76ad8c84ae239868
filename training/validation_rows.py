"""The validation rows of training/README.md's table, for weights as they ship or as a run exported them.

    python training/validation_rows.py                          # jpeg and every entry with weights
    python training/validation_rows.py runs/unet-l1-r8/export   # a run's export (or best file)

Each model is scored as `zoo train` validates (``zoo.train.validate.evaluate``, fp32 on the CPU):
the images of ``--val`` centre-cropped to ``--crop`` pixels and JPEG-compressed at each
``--quality``, PSNR / SSIM / LPIPS-alex averaged over them, printed as the table's cells. The
options' defaults are the recipes' (``[validation]``'s defaults, the recipe files' ``data.val``).
"""

from __future__ import annotations

import argparse

import torch

import zoo
from zoo.cli.arg_types import int_at_least, jpeg_quality
from zoo.errors import ZooError
from zoo.train.data import ValidationSet
from zoo.train.recipe import ValidationSection
from zoo.train.validate import evaluate

RECIPE = ValidationSection()
METRICS = tuple(RECIPE.metrics)
DIGITS = {"psnr": 2, "ssim": 3, "lpips_alex": 4}  # as the table writes them


def cells(scores: dict[int, dict[str, float]]) -> list[str]:
    """One ``PSNR / SSIM / LPIPS`` cell per quality, rounded as training/README.md writes them."""
    return [" / ".join(f"{scores[q][m]:.{DIGITS[m]}f}" for m in METRICS) for q in sorted(scores)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="registry names or saved models (default: jpeg and "
                                             "every entry with weights)")
    p.add_argument("--val", default="../shared/data/val", help="validation images (../shared/data/val)")
    p.add_argument("--quality", type=jpeg_quality, nargs="+", default=RECIPE.qualities, metavar="Q")
    p.add_argument("--crop", type=int_at_least(0), default=RECIPE.crop,
                   help=f"centre crop side; 0: whole images ({RECIPE.crop})")
    args = p.parse_args()
    names = args.models or ["jpeg", *zoo.list_models(with_weights=True)]
    valset = ValidationSet(args.val, args.quality, crop=args.crop)  # none readable: a DataError
    print(f"{len(valset.items)} images of {args.val}, {args.crop or 'whole'}-px centre crops; "
          f"q{' / q'.join(map(str, sorted(args.quality)))}: PSNR / SSIM / LPIPS-alex")
    failed = 0
    for name in names:
        try:
            model = zoo.load(name, device="cpu")
        except ZooError as exc:
            print(f"{name}: cannot be loaded: {exc}")
            failed += 1
            continue
        scores = evaluate(model, valset, torch.device("cpu"), METRICS)
        print(f"| {name} | " + " | ".join(cells(scores)) + " |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
