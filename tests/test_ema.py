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


def _ema_after(steps: int, decay: float) -> tuple[float, float]:
    """A one-weight model moved linearly from 0 to 1 over ``steps`` updates: the share of the
    start left in the EMA when the weight jumps to 1 at once, and the EMA of the linear path."""
    jump, path = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    for m in (jump, path):
        nn.init.zeros_(m.weight)
    ema_jump, ema_path = EMA(jump), EMA(path)
    with torch.no_grad():
        jump.weight.fill_(1.0)
        for k in range(1, steps + 1):
            path.weight.fill_(k / steps)
            ema_jump.update(jump, decay)
            ema_path.update(path, decay)
    return 1.0 - ema_jump.model.weight.item(), ema_path.model.weight.item()


def test_a_short_run_s_ema_holds_next_to_nothing_of_the_start() -> None:
    """training/README.md: the ramp, not 0.999 ** steps (0.74 at 300 steps), sets a short run's
    EMA, so ema_decay 0.99 and 0.999 give the same EMA below 890 updates."""
    assert _ema_after(10, 0.999)[0] < 1e-4
    for steps in (10, 100, 300):
        start, end = _ema_after(steps, 0.999)
        assert start < 1e-6 or steps == 10
        assert 0.88 < end < 0.91  # about where the weights were at 90 % of the run
        assert (start, end) == _ema_after(steps, 0.99)
