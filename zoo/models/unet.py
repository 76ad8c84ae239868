"""``unet-l1``: a plain residual U-Net (no pretrained encoder), the L1 baseline.

It first packs each 2x2 pixel block into channels (PixelUnshuffle), so every level runs at half
the resolution of a full-size U-Net; on a 2-core CPU this trains faster and better than a
full-resolution U-Net of the same wall time (../shared/DESIGN.md, "What training on this CPU gives").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.base import PROJECT_TRAINING_DATA, Restorer
from zoo.registry import (
    InputConventions,
    ModelInfo,
    WeightsInfo,
    register_architecture,
    register_model,
)


def _conv(in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` (EDSR-style, no normalisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.conv2 = _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def _stage(channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(channels) for _ in range(blocks)))


class _Up(nn.Module):
    """x2 upsampling (1x1 conv + PixelShuffle), then a 3x3 conv fusing the skip connection."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Conv2d(in_ch, out_ch * 4, 1), nn.PixelShuffle(2))
        self.fuse = _conv(2 * out_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fuse(torch.cat([F.relu(self.up(x)), skip], dim=1)))


@register_architecture
class UNet(Restorer):
    """Residual U-Net on 2x2-packed pixels.

    Args:
        channels: width of each level, finest first; level ``i`` runs at ``1 / 2**(i+1)``.
        blocks: residual blocks per level (in the encoder and again in the decoder; once at the
            bottom level).

    A 3x3 conv costs the same per input pixel at every level (4x the channels squared, 1/4 the
    positions) while its parameters grow 4x per level. The default ``blocks=(1, 1, 2)``: 2.26M
    parameters, ~93k multiply-adds per pixel, about 0.95 MP/s on 2 CPU cores. The ``unet-l1``
    entry uses ``(3, 3, 8)`` (grown from ``(1, 1, 2)`` to ``(2, 2, 4)`` and then to ``(3, 3, 8)``
    by :meth:`grown`): 7.08M parameters, ~238k multiply-adds per pixel. Bottom blocks add the
    most parameters and context per multiply-add (each bottom position is one 8x8 JPEG block).
    """

    pad_multiple = 8  # for the default 3 levels; an instance sets its own from ``channels``

    def __init__(self, channels: Sequence[int] = (48, 96, 192),
                 blocks: Sequence[int] = (1, 1, 2)) -> None:
        channels, blocks = [int(c) for c in channels], [int(b) for b in blocks]
        if len(channels) != len(blocks) or not channels:
            raise ValueError(f"UNet: channels {channels} and blocks {blocks} need the same length")
        # [1, 1, -1] built a bottom level without blocks (a width below 1 torch refuses itself)
        if min(blocks) < 0:
            raise ValueError(f"UNet: blocks must be 0 or more, got {blocks}")
        super().__init__(channels=channels, blocks=blocks)  # lists of int in config
        # PixelUnshuffle, then len-1 stride-2 downsamplings.
        self.pad_multiple = 2 ** len(channels)
        self.unshuffle = nn.PixelUnshuffle(2)
        self.stem = _conv(12, channels[0])
        self.encoders = nn.ModuleList(_stage(c, b) for c, b in zip(channels[:-1], blocks[:-1]))
        self.downs = nn.ModuleList(_conv(c, c_next, stride=2)
                                   for c, c_next in zip(channels[:-1], channels[1:]))
        self.bottom = _stage(channels[-1], blocks[-1])
        self.ups = nn.ModuleList(_Up(c_next, c) for c, c_next in zip(channels[:-1], channels[1:]))
        self.decoders = nn.ModuleList(_stage(c, b) for c, b in zip(channels[:-1], blocks[:-1]))
        self.tail = nn.Sequential(_conv(channels[0], 12), nn.PixelShuffle(2))
        # The residual branch starts at zero, so an untrained model is the identity.
        nn.init.zeros_(self.tail[0].weight)
        nn.init.zeros_(self.tail[0].bias)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.stem(self.unshuffle(x.contiguous(memory_format=torch.channels_last))))
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            y = encoder(y)
            skips.append(y)
            y = F.relu(down(y))
        y = self.bottom(y)
        for i in reversed(range(len(self.ups))):
            y = self.decoders[i](self.ups[i](y, skips[i]))
        out = (x + self.tail(y)).clamp(0.0, 1.0)
        return out.contiguous(memory_format=torch.contiguous_format)

    def grown(self, blocks: Sequence[int]) -> UNet:
        """A copy with more residual blocks per level that computes exactly what this one does.

        The added blocks are appended to each stage with their second conv at zero, so each is
        the identity until fine-tuning trains it (how ``unet-l1`` went from ``(1, 1, 2)`` to
        ``(2, 2, 4)`` to ``(3, 3, 8)``; training/README.md).
        """
        old = list(self.config["blocks"])
        if len(blocks) != len(old) or any(int(n) < o for n, o in zip(blocks, old)):
            raise ValueError(f"UNet.grown: blocks can only grow, level by level ({old} -> {list(blocks)})")
        bigger, missing = self._larger_copy(blocks=list(blocks))
        added = {key.rsplit(".", 2)[0] for key in missing}  # "encoders.0.1" of "...conv1.weight"
        for name in added:
            block = bigger.get_submodule(name)
            nn.init.zeros_(block.conv2.weight)
            nn.init.zeros_(block.conv2.bias)
        return bigger


UNET_ARGS: dict[str, Any] = {"channels": [48, 96, 192], "blocks": [3, 3, 8]}

register_model(ModelInfo(
    name="unet-l1",
    description="Baseline: plain residual U-Net (2x2 pixel packing, 48/96/192 channels), "
                "trained with L1 only.",
    architecture="UNet",
    arch_args=UNET_ARGS,
    recipe="unet-l1",
    weights=WeightsInfo(sha256="affadbe4cf0f83486c372d573af7d9d176e6e9c04aa15e69dafcf87de285d55e",
                        hub_repo="jpeg-zoo/unet-l1", license="MIT",
                        trained_on=PROJECT_TRAINING_DATA),
    inputs=InputConventions(color="rgb", value_range=(0.0, 1.0),
                            pad_multiple=2 ** len(UNET_ARGS["channels"])),
))
