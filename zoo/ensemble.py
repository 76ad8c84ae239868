"""Geometric self-ensemble: a model's outputs averaged over the eight flips and rotations.

``NAME+x8`` wherever a model is named (``zoo.load``, ``zoo restore --model``, ``zoo bench
--models``) runs the model on the input turned by 0, 90, 180 and 270 degrees, each also
mirrored, turns every output back and averages them: eight times the work for a higher PSNR
(the technique of EDSR+, Lim et al. 2017). The input is first padded at the bottom and right to
a multiple of 16 pixels (and of the model's own padding multiple), replicating its edge as a
JPEG encoder does, so that every turned copy keeps the 8x8 luma and 16x16 chroma block grid of
the original on its own block grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.errors import ZooError
from zoo.models.base import ModelWrapper, Restorer
from zoo.registry import names_registry_entry

__all__ = ["ENSEMBLE_SUFFIX", "SelfEnsemble", "split_ensemble"]

ENSEMBLE_SUFFIX = "+x8"
CHROMA_MCU = 16
"""The side of a 4:2:0 JPEG's minimum coded unit, in pixels."""


def split_ensemble(spec: str) -> tuple[str, bool]:
    """``("unet-l1", True)`` for ``"unet-l1+x8"``; any other spec comes back as it is, with False.

    A file or folder that exists under the full name (``runs/export+x8``) is that saved model,
    not an ensemble, unless the name is a registry entry's ensemble (``./unet-l1+x8`` is the
    folder); the suffix applies once (``NAME+x8+x8`` is refused in one line).
    """
    if not spec.endswith(ENSEMBLE_SUFFIX) or len(spec) == len(ENSEMBLE_SUFFIX):
        return spec, False
    base = spec[:-len(ENSEMBLE_SUFFIX)]
    if Path(spec).exists() and not names_registry_entry(base):
        return spec, False
    if base.endswith(ENSEMBLE_SUFFIX) and not Path(base).exists():
        raise ZooError(f"{spec}: {ENSEMBLE_SUFFIX} applies once")
    return base, True


def _turn(x: torch.Tensor, quarter_turns: int, mirror: bool) -> torch.Tensor:
    """Mirror left-right, then turn counter-clockwise by ``quarter_turns`` quarters."""
    x = x.flip(-1) if mirror else x
    return torch.rot90(x, quarter_turns, (-2, -1))


def _turn_back(x: torch.Tensor, quarter_turns: int, mirror: bool) -> torch.Tensor:
    """The inverse of :func:`_turn`."""
    x = torch.rot90(x, -quarter_turns, (-2, -1))
    return x.flip(-1) if mirror else x


class SelfEnsemble(ModelWrapper):
    """Wraps a restorer; its forward averages the wrapped model over the eight symmetries."""

    suffix = ENSEMBLE_SUFFIX

    def __init__(self, model: Restorer) -> None:
        super().__init__(model)
        # Tiles of a tiled restore start on this grid too (zoo.tiling reads it).
        self.pad_multiple = math.lcm(CHROMA_MCU, self.pad_multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        unit = self.pad_multiple
        padded = F.pad(x, (0, (-w) % unit, 0, (-h) % unit), mode="replicate")
        total = torch.zeros(padded.shape, dtype=torch.promote_types(x.dtype, torch.float32),
                            device=x.device)
        for quarter_turns in range(4):
            for mirror in (False, True):
                out = self.model(_turn(padded, quarter_turns, mirror))
                total += _turn_back(out, quarter_turns, mirror)
        return (total / 8).to(x.dtype)[..., :h, :w]
