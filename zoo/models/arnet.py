"""``arnet-nogan`` and ``gan``: a U-Net with a MobileNetV3 encoder and a DeOldify-style decoder.

The decoder follows the idea of DeOldify's ``DynamicUnetWide`` at a width that runs fast on a CPU:
PixelShuffle upsampling with ICNR init and blur, spectral norm on every decoder conv, one
SAGAN-style self-attention block at 1/16 resolution, batch-normalised skip connections from the
encoder, decoder convs as spectral norm -> ReLU -> batch norm (DeOldify's ``extra_bn``), the input
joined to the full-resolution features before a residual block (DeOldify's last cross), and an
input residual whose branch starts
at zero (an untrained model is the identity).
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError
from zoo.models.base import PROJECT_TRAINING_DATA, Restorer
from zoo.models.layers import PixelShuffleICNR, SelfAttention, conv_sn_relu_bn
from zoo.registry import (
    InputConventions,
    ModelInfo,
    WeightsInfo,
    register_architecture,
    register_model,
)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_TRUTHY = {"1", "true", "yes", "on"}


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY


def create_encoder(name: str, pretrained: bool) -> nn.Module:
    """A timm feature extractor: ImageNet weights when asked and reachable, else random init."""
    import timm

    if not timm.is_model(name):
        raise ZooError(f"encoder {name!r}: not a timm model name "
                       "(see timm.list_models('mobilenetv3*'))")
    if pretrained:
        if _hub_offline():
            warnings.warn(f"encoder {name}: HF_HUB_OFFLINE is set, so ImageNet weights cannot be "
                          "fetched; starting from random init", stacklevel=3)
        else:
            try:
                return timm.create_model(name, features_only=True, pretrained=True)
            except Exception as err:  # any network / cache failure: the weights are optional
                warnings.warn(f"encoder {name}: ImageNet weights unavailable "
                              f"({type(err).__name__}: {err}); starting from random init",
                              stacklevel=3)
    return timm.create_model(name, features_only=True, pretrained=False)


class _UpBlock(nn.Module):
    """Upsample the coarse map x2, join the batch-normalised skip, then one SN conv (+attention)."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, *, blur: bool,
                 attention: bool = False) -> None:
        super().__init__()
        up_ch = max(in_ch // 2, out_ch // 2)
        self.up = PixelShuffleICNR(in_ch, up_ch, blur=blur)
        self.skip_bn = nn.BatchNorm2d(skip_ch)
        self.conv = conv_sn_relu_bn(up_ch + skip_ch, out_ch)
        self.attention = SelfAttention(out_ch) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        joined = F.relu(torch.cat([self.up(x), self.skip_bn(skip)], dim=1))
        return self.attention(self.conv(joined))


class _ResBlock(nn.Module):
    """Two decoder convs with an identity shortcut (DeOldify's full-resolution ``res_block``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_sn_relu_bn(channels, channels),
                                  conv_sn_relu_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_architecture
class ARNet(Restorer):
    """U-Net generator: timm ``features_only`` encoder + DeOldify-style decoder + input residual.

    Args:
        encoder: timm model name of a 5-stage encoder with strides 2..32 (a MobileNetV3).
        nf: decoder width; stage widths from 1/32 to 1/1 are 4, 4, 2, 1, 1/2, 1/2 times ``nf``.
        blur: blur after each PixelShuffle (DeOldify's anti-checkerboard trick).
        self_attention: the self-attention block at 1/16 resolution.
        last_blocks: residual blocks at full resolution after the last cross (DeOldify has one;
            more are added by :meth:`grown`).
        encoder_pretrained: start the encoder from timm's ImageNet weights (needs the Hub; random
            init with a warning otherwise). Not an architecture argument, so not kept in ``config``.
    """

    pad_multiple = 32
    config_excludes = frozenset({"encoder_pretrained"})

    def __init__(self, encoder: str = "tf_mobilenetv3_small_minimal_100", nf: int = 32,
                 blur: bool = True, self_attention: bool = True, last_blocks: int = 1, *,
                 encoder_pretrained: bool = False) -> None:
        if last_blocks < 1:
            raise ZooError(f"ARNet: last_blocks must be at least 1, got {last_blocks}")
        super().__init__()
        self.encoder = create_encoder(encoder, encoder_pretrained)
        skips = self.encoder.feature_info.channels()
        strides = self.encoder.feature_info.reduction()
        if list(strides) != [2, 4, 8, 16, 32]:
            raise ZooError(f"encoder {encoder!r}: needs 5 feature stages at strides 2..32, "
                           f"has strides {strides}")
        w32, w16, w8, w4, w2, w1 = (4 * nf, 4 * nf, 2 * nf, nf, max(nf // 2, 8), max(nf // 2, 8))
        # The encoder's input normalisation: fixed, so not part of the state dict.
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.middle = nn.Sequential(
            nn.BatchNorm2d(skips[4]), nn.ReLU(),
            conv_sn_relu_bn(skips[4], w32),
            conv_sn_relu_bn(w32, w32),
        )
        self.up16 = _UpBlock(w32, skips[3], w16, blur=blur, attention=self_attention)
        self.up8 = _UpBlock(w16, skips[2], w8, blur=blur)
        self.up4 = _UpBlock(w8, skips[1], w4, blur=blur)
        self.up2 = _UpBlock(w4, skips[0], w2, blur=blur)
        self.up1 = PixelShuffleICNR(w2, w1, blur=blur)
        # DeOldify's last cross: the input joins the full-resolution features, then a res block.
        self.last = _ResBlock(w1 + 3)
        # A separate module so that the one-block layout keeps its state-dict keys.
        self.refine = nn.Sequential(*(_ResBlock(w1 + 3) for _ in range(last_blocks - 1)))
        # No spectral norm here: it would undo the zero init that makes the start the identity.
        self.head = nn.Conv2d(w1 + 3, 3, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        # channels_last roughly halves CPU inference time (oneDNN); the weights need not follow.
        x = x.contiguous(memory_format=torch.channels_last)
        f2, f4, f8, f16, f32 = self.encoder((x - self.mean) / self.std)
        y = self.middle(f32)
        y = self.up16(y, f16)
        y = self.up8(y, f8)
        y = self.up4(y, f4)
        y = self.up2(y, f2)
        y = self.refine(self.last(torch.cat([self.up1(y), x], dim=1)))
        out = (x + self.head(y)).clamp(0.0, 1.0)
        return out.contiguous(memory_format=torch.contiguous_format)

    def grown(self, last_blocks: int) -> ARNet:
        """A copy with more full-resolution residual blocks that computes exactly what this one does.

        Each added block's last batch norm starts at zero scale and shift, so the block is the
        identity until fine-tuning trains it (the same idea as :meth:`UNet.grown`).
        """
        if last_blocks < self.config["last_blocks"]:
            raise ValueError(f"ARNet.grown: last_blocks can only grow "
                             f"({self.config['last_blocks']} -> {last_blocks})")
        bigger, _ = self._larger_copy(last_blocks=last_blocks)
        for block in list(bigger.refine)[self.config["last_blocks"] - 1:]:
            last_bn = block.body[-1][-1]
            nn.init.zeros_(last_bn.weight)
            nn.init.zeros_(last_bn.bias)
        return bigger


ARNET_ARGS: dict[str, Any] = {
    name: parameter.default for name, parameter in inspect.signature(ARNet).parameters.items()
    if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD}
"""The architecture of both ``arnet-nogan`` and ``gan`` (``ARNet``'s defaults, written once
there): one dict, so the two cannot drift apart."""

_ARNET_INPUTS = InputConventions(color="rgb", value_range=(0.0, 1.0),
                                 pad_multiple=ARNet.pad_multiple)

register_model(ModelInfo(
    name="arnet-nogan",
    description="The flagship: MobileNetV3 U-Net with a DeOldify-style decoder, trained with NoGAN "
                "(generator pretrain, critic pretrain, short GAN phase).",
    architecture="ARNet",
    arch_args=ARNET_ARGS,
    recipe="arnet-nogan",
    weights=WeightsInfo(sha256="add1c2ab755e3b60ca5b01c5dddede8380d3c90464f30af06aad822949c9d3a4",
                        hub_repo="jpeg-zoo/arnet-nogan", license="MIT",
                        trained_on=PROJECT_TRAINING_DATA),
    inputs=_ARNET_INPUTS,
))

register_model(ModelInfo(
    name="gan",
    description="Baseline: the flagship's architecture trained adversarially from step 0 "
                "(no NoGAN).",
    architecture="ARNet",
    arch_args=ARNET_ARGS,
    recipe="gan",
    weights=WeightsInfo(sha256="90101a30ff5cb6c0b0d03954eb459d5045c0476ae0f0364348c136b84dd9f2cd",
                        hub_repo="jpeg-zoo/gan", license="MIT",
                        trained_on=PROJECT_TRAINING_DATA),
    inputs=_ARNET_INPUTS,
))
