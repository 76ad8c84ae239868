"""Blocks shared by the zoo's networks: spectral-norm convs, ICNR PixelShuffle, self-attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = [
    "PixelShuffleICNR",
    "SelfAttention",
    "conv_sn",
    "conv_sn_relu_bn",
    "icnr_",
]


def conv_sn(in_ch: int, out_ch: int, kernel_size: int = 3, *, bias: bool = True) -> nn.Module:
    """A 'same'-padded convolution wrapped in spectral normalisation."""
    conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)
    return spectral_norm(conv)


def conv_sn_relu_bn(in_ch: int, out_ch: int, kernel_size: int = 3) -> nn.Sequential:
    """DeOldify's decoder conv (``extra_bn``): spectral-norm conv, ReLU, then batch norm.

    Spectral norm alone caps each conv's gain at 1; the batch norm after it restores the scale,
    without which the decoder learns several times slower.
    """
    return nn.Sequential(conv_sn(in_ch, out_ch, kernel_size), nn.ReLU(), nn.BatchNorm2d(out_ch))


@torch.no_grad()
def icnr_(weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """ICNR init (Aitken et al. 2017) of a conv feeding ``PixelShuffle(scale)``, in place.

    Each group of ``scale**2`` output channels that lands in one ``scale x scale`` block gets the
    same kernel, so the freshly initialised upsampler is a nearest-neighbour upsampling of one
    conv's output: no checkerboard at step 0.
    """
    out_ch = weight.shape[0]
    if out_ch % (scale * scale):
        raise ValueError(f"ICNR needs out channels divisible by {scale * scale}, got {out_ch}")
    sub = torch.empty((out_ch // (scale * scale), *weight.shape[1:]), dtype=weight.dtype)
    nn.init.kaiming_normal_(sub)
    # PixelShuffle reads channel c * s^2 + k as sub-pixel k of output channel c.
    weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    return weight


class PixelShuffleICNR(nn.Module):
    """Upsample x2: 1x1 conv (ICNR init, spectral norm) -> ReLU -> PixelShuffle -> blur.

    The blur (replication pad by one on the top-left, then a 2x2 stride-1 average) is
    DeOldify's remedy for the remaining checkerboard of sub-pixel convolution.
    """

    def __init__(self, in_ch: int, out_ch: int, *, scale: int = 2, blur: bool = True) -> None:
        super().__init__()
        conv = nn.Conv2d(in_ch, out_ch * scale * scale, 1)
        icnr_(conv.weight, scale)
        nn.init.zeros_(conv.bias)
        self.conv = spectral_norm(conv)
        self.shuffle = nn.PixelShuffle(scale)
        self.blur = blur

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shuffle(F.relu(self.conv(x)))
        if self.blur:
            x = F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)
        return x


class SelfAttention(nn.Module):
    """SAGAN-style self-attention over all positions, added through a zero-initialised gate.

    Query and key are projected to ``channels // reduction``; the gate ``gamma`` starts at 0, so
    the block is the identity until training opens it.
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        if channels % reduction:
            raise ValueError(f"SelfAttention: channels {channels} not divisible by {reduction}")
        self.inner = channels // reduction
        self.query = spectral_norm(nn.Conv1d(channels, self.inner, 1, bias=False))
        self.key = spectral_norm(nn.Conv1d(channels, self.inner, 1, bias=False))
        self.value = spectral_norm(nn.Conv1d(channels, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n, heads = h * w, c // self.inner
        flat = x.reshape(b, c, n)
        # One attention map for all value channels, written as `heads` heads that share query
        # and key: equal head sizes let scaled_dot_product_attention take its fused path,
        # which never materialises the (n x n) matrix (memory linear in the pixel count).
        # The fused path also wants (n, inner)-contiguous operands; strided ones are 5-10x slower.
        shape = (b, heads, n, self.inner)
        q = self.query(flat).transpose(1, 2).contiguous().unsqueeze(1).expand(shape)
        k = self.key(flat).transpose(1, 2).contiguous().unsqueeze(1).expand(shape)
        v = self.value(flat).view(b, heads, self.inner, n).transpose(2, 3).contiguous()
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, n, inner)
        out = out.transpose(2, 3).reshape(b, c, h, w)
        return x + self.gamma * out
