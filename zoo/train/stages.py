"""One training step of each stage kind: generator, critic, and the GAN phase's alternation.

Everything here is a function of the models, the batch and the step number, so that a resumed
run repeats the uninterrupted one exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from torch import nn

from zoo.train.distributed import Dist
from zoo.train.losses import GeneratorLoss, critic_loss
from zoo.train.recipe import Stage

__all__ = ["StepContext", "Switcher", "critic_step", "generator_step", "lr_factor", "make_optimizer",
           "set_lr"]


def lr_factor(stage: Stage, stage_step: int) -> float:
    """Linear warmup, then cosine decay to ``final_lr_ratio`` (or constant)."""
    if stage_step < stage.warmup_steps:
        return (stage_step + 1) / stage.warmup_steps
    if stage.schedule == "constant":
        return 1.0
    span = max(1, stage.steps - stage.warmup_steps)
    progress = min(1.0, (stage_step - stage.warmup_steps) / span)
    return stage.final_lr_ratio + (1 - stage.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(params: list[nn.Parameter], stage: Stage, lr: float) -> torch.optim.Optimizer:
    """Adam or AdamW as ``stage`` sets it, at ``lr``, which each group keeps as ``base_lr`` for
    :func:`set_lr`."""
    kwargs = {"lr": lr, "betas": tuple(stage.betas), "weight_decay": stage.weight_decay}
    cls = torch.optim.AdamW if stage.optimizer == "adamw" else torch.optim.Adam
    opt = cls(params, **kwargs)
    for group in opt.param_groups:
        group["base_lr"] = lr
    return opt


def set_lr(opt: torch.optim.Optimizer, factor: float) -> float:
    """Set each group's lr to ``factor`` times its ``base_lr``; returns the first group's."""
    for group in opt.param_groups:
        group["lr"] = group["base_lr"] * factor
    return opt.param_groups[0]["lr"]


@dataclass
class StepContext:
    """What a step needs besides the batch."""

    generator: nn.Module
    """The generator as trained (DDP-wrapped under torchrun)."""
    generator_raw: nn.Module
    autocast: Callable[[], AbstractContextManager]
    scaler: torch.amp.GradScaler | None
    critic: nn.Module | None = None
    critic_raw: nn.Module | None = None
    encoder: nn.Module | None = None


def _backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, params: list[nn.Parameter],
                   scaler: torch.amp.GradScaler | None, clip: float) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if clip > 0:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(params, clip)
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(params, clip)
        opt.step()


def generator_step(ctx: StepContext, batch: tuple[torch.Tensor, torch.Tensor], stage: Stage,
                   stage_step: int, loss_fn: GeneratorLoss, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """One generator step on ``(degraded, target)``, the encoder frozen for the stage's first
    ``freeze_encoder_steps`` and the critic (not trained here) scoring the output when the loss has
    an adversarial weight; returns the losses, detached."""
    x, y = batch
    if ctx.encoder is not None and stage.freeze_encoder_steps:
        ctx.encoder.requires_grad_(stage_step >= stage.freeze_encoder_steps)
    ctx.generator.train()
    adversarial = ctx.critic_raw is not None and loss_fn.weights.get("adversarial", 0) > 0
    if adversarial:
        ctx.critic_raw.eval().requires_grad_(False)
    try:
        with ctx.autocast():
            pred = ctx.generator(x)
            fake_logits = ctx.critic_raw(pred) if adversarial else None
            loss, parts = loss_fn(pred, y, fake_logits)
        _backward_step(loss, opt, list(ctx.generator_raw.parameters()), ctx.scaler, stage.grad_clip)
    finally:
        if adversarial:
            ctx.critic_raw.train().requires_grad_(True)
    return {"loss": loss.detach(), **parts}


def critic_step(ctx: StepContext, batch: tuple[torch.Tensor, torch.Tensor], stage: Stage,
                opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """One critic step: the targets as real, the generator's outputs (no gradient) as fake;
    returns the critic's loss, detached."""
    x, y = batch
    ctx.generator_raw.eval()
    with torch.no_grad(), ctx.autocast():
        fake = ctx.generator_raw(x)
    ctx.generator_raw.train()
    ctx.critic.train()
    n = y.shape[0]
    with ctx.autocast():
        # One forward over real and fake together: DDP allows one forward per backward.
        logits = ctx.critic(torch.cat([y, fake.to(y.dtype)]))
        loss = critic_loss(logits[:n], logits[n:])
    _backward_step(loss, opt, list(ctx.critic_raw.parameters()), ctx.scaler, stage.grad_clip)
    return {"critic": loss.detach()}


@dataclass
class Switcher:
    """Which network the GAN phase trains next.

    ``fixed``: ``critic_steps`` critic steps, then ``generator_steps`` generator steps, repeated.
    ``threshold`` (DeOldify's adaptive switch): the critic trains until its loss (averaged over
    processes) is below ``critic_threshold`` (or ``max_critic_steps`` were taken), then the
    generator takes ``generator_steps`` steps.
    """

    mode: str = "critic"
    count: int = 0
    history: dict[str, int] = field(default_factory=lambda: {"critic": 0, "generator": 0})

    def next(self) -> str:
        """The network the next step trains: ``"critic"`` or ``"generator"``."""
        return self.mode

    def done(self, stage: Stage, d: Dist, critic_loss_value: torch.Tensor | None = None) -> None:
        """Count a step of the current network and switch when ``stage``'s rule says so; under
        threshold switching every rank must call it (the critic's loss is averaged over them)."""
        self.history[self.mode] += 1
        self.count += 1
        if self.mode == "critic":
            if stage.switching == "threshold":
                flip = (d.mean(float(critic_loss_value)) < stage.critic_threshold
                        or self.count >= stage.max_critic_steps)
            else:
                flip = self.count >= stage.critic_steps
            if flip:
                self.mode, self.count = "generator", 0
        elif self.count >= stage.generator_steps:
            self.mode, self.count = "critic", 0

    def state(self) -> dict:
        """The switcher as JSON data, for a checkpoint."""
        return {"mode": self.mode, "count": self.count, "history": dict(self.history)}

    @classmethod
    def from_state(cls, state: dict) -> Switcher:
        """The switcher that :meth:`state` saved."""
        return cls(mode=state["mode"], count=state["count"], history=dict(state["history"]))
