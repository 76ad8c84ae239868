"""An exponential moving average of the generator's weights (validated and exported)."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """Shadow copy of a model: parameters averaged, buffers (BN statistics, spectral-norm
    vectors) copied. The decay ramps up as ``(1 + n) / (10 + n)`` so short runs are not
    dominated by the initial weights."""

    def __init__(self, model: nn.Module) -> None:
        # The registry record is shared, not copied (it is frozen, and holds a mappingproxy).
        info = getattr(model, "info", None)
        self.model = copy.deepcopy(model, memo={id(info): info}).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """Move the shadow's parameters towards ``model``'s (at ``decay``, or the ramp's lower
        value early on) and copy its buffers."""
        self.updates += 1
        d = min(decay, (1 + self.updates) / (10 + self.updates))
        # One fused call per list, not one kernel per tensor (arnet-nogan has 160 parameter tensors):
        # on the H200 these small networks took 18-45 steps/s, far below its arithmetic, so
        # launches count. Bitwise the same as a lerp_ per tensor.
        shadows, params = list(self.model.parameters()), [p.detach() for p in model.parameters()]
        buffers = list(self.model.buffers())
        if shadows:  # the foreach calls refuse empty lists
            if d > 0:
                torch._foreach_lerp_(shadows, params, 1.0 - d)
            else:
                torch._foreach_copy_(shadows, params)
        if buffers:
            torch._foreach_copy_(buffers, list(model.buffers()))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadow model's state dict (to save; :attr:`updates` is saved separately)."""
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Load saved shadow weights and the number of updates that made them (which sets the
        decay's ramp)."""
        self.model.load_state_dict(state, strict=True)
        self.updates = updates
