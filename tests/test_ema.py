"""The EMA of the generator's weights: the ramped decay, parameters averaged, buffers copied."""

from __future__ import annotations

import copy

import torch
from torch import nn

from zoo.train.ema import EMA


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 3, 1))


def test_update_averages_parameters_with_the_ramped_decay_and_copies_buffers() -> None:
    torch.manual_seed(0)
    model = _net()
    ema = EMA(model)
    start = copy.deepcopy(ema.model.state_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model.train()(torch.rand(2, 3, 8, 8))  # moves the batch-norm statistics
    ema.update(model, decay=0.999)
    d = 2 / 11  # the ramp (1 + n) / (10 + n) at n = 1, below 0.999
    state = ema.state_dict()
    for name, p in model.named_parameters():
        torch.testing.assert_close(state[name], d * start[name] + (1 - d) * p.detach())
    for name, b in model.named_buffers():
        assert torch.equal(state[name], b), name
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_decay_zero_copies_the_weights() -> None:
    model, other = _net(), _net()
    ema = EMA(other)
    ema.update(model, decay=0.0)
    for name, value in model.state_dict().items():
        assert torch.equal(ema.state_dict()[name], value), name
