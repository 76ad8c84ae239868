"""The ``jpeg`` entry: the decoded JPEG itself, the floor of every leaderboard."""

from __future__ import annotations

import torch

from zoo.models.base import Restorer
from zoo.registry import ModelInfo, register_architecture, register_model


@register_architecture
class Identity(Restorer):
    """Returns its input unchanged."""

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x


register_model(ModelInfo(
    name="jpeg",
    description="The decoded JPEG, unchanged (identity): the leaderboard's floor.",
    architecture="Identity",
))
