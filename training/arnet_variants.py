"""Train a variant of the flagship's network without touching the registry: a fidelity probe.

    python training/arnet_variants.py fine32 train arnet-nogan --out runs/probe/fine32 ...

The first argument names the variant; the rest is a ``zoo`` command line, run with ``ARNet``
changed for this process only. The variants are the ones training/README.md reports
("Probes of the flagship's decoder"); none of them ships, so none is an ``ARNet`` argument:

- ``base``: the network as registered.
- ``noblur``: no blur after each PixelShuffle (that one is an argument: ``model.args.blur=false``;
  kept here so that all probes run the same way).
- ``nosn``: no spectral norm on the decoder's convs (batch norm kept).
- ``plain``: no spectral norm and no batch norm outside the encoder (an EDSR-style decoder).
- ``fineN``: a half-resolution branch of ``N`` channels straight from the pixels (PixelUnshuffle,
  a 3x3 conv, two residual blocks of ``unet-l1``), joined to the 1/2-resolution skip. The
  MobileNetV3 encoder's 1/2 skip has 16 channels, after one strided conv.

``nosn``, ``plain`` and ``fineN`` change the network's tensors, so ``zoo.load`` refuses what
their runs export. Their exports are named ``ENTRY-VARIANT`` (``arnet-nogan-fine32``), their
description says so, their card and the run's last line say how to load them: through this
script, e.g. ``python training/arnet_variants.py fine32 bench --models runs/probe/fine32/export``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo.models.arnet as arnet
import zoo.models.layers as layers
from zoo.atomic import atomic_write
from zoo.cli import train_cmd
from zoo.cli import main as zoo_main
from zoo.errors import ZooError
from zoo.models.base import Restorer
from zoo.models.unet import ResBlock


def _without_spectral_norm() -> None:
    """Decoder convs are built through ``layers.spectral_norm``; make it the identity."""
    layers.spectral_norm = lambda module: module  # type: ignore[assignment]


def _after_init(extra: Callable[[arnet.ARNet], None]) -> None:
    """Run ``extra`` on every ``ARNet`` once its own ``__init__`` has finished."""
    original = arnet.ARNet.__init__

    def init(self: arnet.ARNet, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        extra(self)

    arnet.ARNet.__init__ = init  # type: ignore[method-assign]


def _strip_batch_norm(net: arnet.ARNet) -> None:
    """Replace every BatchNorm2d outside the encoder with the identity."""
    def strip(module: nn.Module) -> None:
        for name, child in module.named_children():
            if child is net.encoder:
                continue
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())
            else:
                strip(child)
    strip(net)


def _add_fine_branch(channels: int) -> None:
    """Give ``ARNet`` a half-resolution pixel branch concatenated to the 1/2 skip."""
    def widen(net: arnet.ARNet) -> None:
        up2 = net.up2
        skip_ch = up2.skip_bn.num_features
        joined_ch = up2.conv[0].in_channels
        out_ch = up2.conv[2].num_features
        up2.skip_bn = nn.BatchNorm2d(skip_ch + channels)
        up2.conv = layers.conv_sn_relu_bn(joined_ch + channels, out_ch)
        net.fine = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, channels, 3, padding=1),
                                 nn.ReLU(), ResBlock(channels), ResBlock(channels))

    def forward_padded(self: arnet.ARNet, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        f2, f4, f8, f16, f32 = self.encoder((x - self.mean) / self.std)
        y = self.up4(self.up8(self.up16(self.middle(f32), f16), f8), f4)
        y = self.up2(y, torch.cat([f2, self.fine(x)], dim=1))
        y = self.refine(self.last(torch.cat([self.up1(y), x], dim=1)))
        out = (x + self.head(y)).clamp(0.0, 1.0)
        return out.contiguous(memory_format=torch.contiguous_format)

    _after_init(widen)
    arnet.ARNet.forward_padded = forward_padded  # type: ignore[method-assign]


def _mark_exports(variant: str) -> None:
    """Name ``zoo train``'s export after the variant and say in its description (so in its
    card) that only this script loads it: otherwise it would pass for the registered entry."""
    import zoo.train.loop as loop

    export_model = loop.export_model

    def export(model: Restorer, folder: Path, training: dict[str, Any]) -> Path:
        if model.info is not None:
            model.info = replace(
                model.info, name=f"{model.info.name}-{variant}",
                description=f"Probe variant '{variant}' of training/arnet_variants.py, not the "
                            f"registered {model.info.name}: zoo.load refuses these weights; load "
                            f"them with `python training/arnet_variants.py {variant} ...`. "
                            f"{model.info.description}")
        exported = export_model(model, folder, training)
        _replace_card_usage(exported / "README.md", variant)
        return exported

    loop.export_model = export  # the name the trainer calls (it imported the function)
    train_cmd.export_note = lambda name, folder: (
        f"exported {name} ({variant} variant) to {folder}; zoo.load refuses it, load it through "
        f"this script: {_bench_command(variant, folder)}")


def _bench_command(variant: str, folder: Path | str) -> str:
    """The command that benchmarks a variant's export (this script loads it; zoo.load refuses)."""
    return f"python training/arnet_variants.py {variant} bench --models {folder}"


def _replace_card_usage(card: Path, variant: str) -> None:
    """The card's generic "Use with zoo" section says ``zoo.load``, which refuses a variant."""
    text = card.read_text(encoding="utf-8")
    start, end = text.find("## Use with zoo\n"), text.find("\nFiles: ")
    if start < 0 or end < start:
        raise ZooError(f"{card}: no 'Use with zoo' section to replace (arnet_variants.py)")
    usage = (f"## Use\n\nThese weights are the '{variant}' probe variant, not the registered network: "
             f"`zoo.load` refuses them. Load them through the script that trained them: "
             f"`{_bench_command(variant, 'PATH/TO/THIS/FOLDER')}`.\n")
    atomic_write(card, lambda fh: fh.write(text[:start] + usage + text[end:]))


def apply_variant(name: str) -> list[str]:
    """Patch ``ARNet`` in this process into the named variant; returns the zoo overrides it needs."""
    if name == "noblur":
        return ["model.args.blur=false"]
    if name == "base":
        return []
    if name == "nosn":
        _without_spectral_norm()
    elif name == "plain":
        _without_spectral_norm()
        _after_init(_strip_batch_norm)
    elif name.startswith("fine") and name[4:].isdigit():
        if int(name[4:]) < 1:
            raise ZooError(f"variant {name!r}: a fine branch needs at least 1 channel (fineN, N >= 1)")
        _add_fine_branch(int(name[4:]))
    else:
        raise ZooError(f"unknown variant {name!r} (base, noblur, nosn, plain, fineN)")
    _mark_exports(name)  # its tensors are not the registered network's
    return []


def main(argv: list[str]) -> int:
    """Patch ``ARNet`` into the variant ``argv[0]``, then run the ``zoo`` command line after it."""
    overrides = apply_variant(argv[0])
    return zoo_main(argv[1:] + overrides)


if __name__ == "__main__":
    from zoo.cli import run_tool

    asked = len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help")
    if asked or len(sys.argv) < 3:
        print(__doc__)
        raise SystemExit(0 if asked else 2)
    raise SystemExit(run_tool(lambda: main(sys.argv[1:])))
