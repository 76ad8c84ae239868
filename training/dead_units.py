"""Count the dead ReLU channels in a network's residual blocks; optionally revive them.

A hidden channel of a residual block ``x + conv2(relu(conv1(x)))`` is dead when ``conv1``
never makes it positive. It then gets no gradient and adds nothing, so its parameters are
wasted. This script scores the validation crops (the recipes' 256-pixel centre crops, at each
``--quality``) and counts, per block, the channels that never fire:

    python training/dead_units.py unet-l1                          # the shipped weights
    python training/dead_units.py unet-l1 --weights runs/x/export/model.safetensors
    python training/dead_units.py unet-l1 --revive runs/unet-l1-revived.safetensors

``--revive OUT`` writes a copy that computes the same function with the dead channels alive
again. Each dead channel's ``conv1`` row is re-drawn with torch's default conv initialisation
and a zero bias, so it fires on some inputs again. Its ``conv2`` column is set to zero, so the
output does not change. Fine-tune the copy with ``model.init=OUT``. ``OUT`` may not be the
source weights file.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch
from torch import nn

from zoo.atomic import check_output_file
from zoo.cli.arg_types import int_at_least, jpeg_quality
from zoo.errors import ZooError
from zoo.models.unet import ResBlock
from zoo.pretrained import shipped_weights_path
from zoo.registry import create_model, get_model_info
from zoo.restore import array_to_tensor
from zoo.train.data import ValidationSet
from zoo.weights import load_weights, save_weights


def residual_blocks(model: nn.Module) -> dict[str, ResBlock]:
    return {name: m for name, m in model.named_modules() if isinstance(m, ResBlock)}


@torch.no_grad()
def firing_channels(model: nn.Module, valset: ValidationSet) -> dict[str, torch.Tensor]:
    """Per residual block, a bool per hidden channel: positive somewhere on some image."""
    fired: dict[str, torch.Tensor] = {}
    hooks = []
    for name, block in residual_blocks(model).items():
        def record(_module: nn.Module, _inp: object, out: torch.Tensor, name: str = name) -> None:
            now = (out > 0).flatten(2).any(-1).any(0)
            fired[name] = fired[name] | now if name in fired else now
        hooks.append(block.conv1.register_forward_hook(record))
    try:
        for _, _, degraded in valset.items:
            for pixels in degraded.values():
                model(array_to_tensor(pixels))
    finally:
        for hook in hooks:
            hook.remove()
    return fired


@torch.no_grad()
def revive(model: nn.Module, fired: dict[str, torch.Tensor]) -> int:
    """Re-draw the dead channels' ``conv1`` rows and zero their ``conv2`` columns; return how many."""
    count = 0
    for name, block in residual_blocks(model).items():
        dead = ~fired[name]
        if not dead.any():
            continue
        fresh = torch.empty_like(block.conv1.weight)
        nn.init.kaiming_uniform_(fresh, a=math.sqrt(5))  # torch's default for Conv2d
        block.conv1.weight[dead] = fresh[dead]
        block.conv1.bias[dead] = 0.0
        block.conv2.weight[:, dead] = 0.0
        count += int(dead.sum())
    return count


def check_revive_path(out: str, entry: str, weights: str | None) -> None:
    """Refuse, before the work, a ``--revive`` file that cannot be written or that is the
    source weights (``--weights``, or the shipped copy): the copy would replace them."""
    check_output_file(out, "--revive")
    source = Path(weights) if weights else shipped_weights_path(get_model_info(entry))
    if Path(out).exists() and source.exists() and os.path.samefile(out, source):
        raise ZooError(f"--revive {out}: is the source weights file; write the revived copy "
                       "elsewhere")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("entry", help="registry name (its architecture, and its weights by default)")
    p.add_argument("--weights", help="weights file to inspect instead of the shipped ones")
    p.add_argument("--val", default="../shared/data/val", help="validation folder")
    p.add_argument("--crop", type=int_at_least(0), default=256,
                   help="centre crop side in pixels (0: whole images)")
    p.add_argument("--quality", type=jpeg_quality, nargs="+", default=[10, 30])
    p.add_argument("--revive", metavar="OUT", help="write a copy with the dead channels revived")
    p.add_argument("--seed", type=int, default=0, help="seeds the revived rows")
    args = p.parse_args()
    if args.revive:
        check_revive_path(args.revive, args.entry, args.weights)
    model = create_model(args.entry, pretrained=args.weights is None).eval()
    if not residual_blocks(model):
        raise ZooError(f"{args.entry}: no residual blocks to inspect (this script counts the "
                       f"hidden channels of {ResBlock.__module__}.ResBlock)")
    if args.weights:
        load_weights(model, args.weights)
    valset = ValidationSet(args.val, args.quality, crop=args.crop)
    fired = firing_channels(model, valset)
    total = sum(f.numel() for f in fired.values())
    dead = sum(int((~f).sum()) for f in fired.values())
    for name, f in fired.items():
        print(f"{name:20s} {int((~f).sum()):4d} of {f.numel():4d} hidden channels dead")
    scored = f"{len(valset)} {f'{args.crop}-px crops' if args.crop else 'whole images'}"
    qualities = ", ".join(f"q{q}" for q in args.quality)
    print(f"in all: {dead} of {total} ({dead / total:.0%}) dead on {scored} at {qualities}")
    if args.revive:
        torch.manual_seed(args.seed)
        _, _, degraded = valset.items[0]
        x = array_to_tensor(next(iter(degraded.values())))
        with torch.no_grad():
            before = model(x)
            count = revive(model, fired)
            gap = (model(x) - before).abs().max().item()
        sha = save_weights(model, args.revive, dtype=torch.float32)
        print(f"{args.revive}: {count} channels revived, max |revived - source| = {gap:.1e} on the "
              f"first validation {'crop' if args.crop else 'image'}, sha256 {sha}")

if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
