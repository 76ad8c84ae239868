"""Training losses: L1, LPIPS (vgg or alex backbone) and the adversarial BCE terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.metrics.lpips_weights import lpips_model

__all__ = ["GeneratorLoss", "critic_loss", "generator_adversarial_loss"]

class GeneratorLoss(nn.Module):
    """``l1 * L1 + lpips * LPIPS (+ adversarial * BCE(critic(fake), real))`` with recipe weights."""

    def __init__(self, weights: dict[str, float], lpips_net: str, device: torch.device) -> None:
        super().__init__()
        self.weights = {k: v for k, v in weights.items() if v > 0}
        self.lpips = lpips_model(lpips_net, device) if "lpips" in self.weights else None

    def train(self, mode: bool = True) -> GeneratorLoss:
        """Train mode for the module, never for LPIPS's network: it is the one the ``lpips_*``
        metrics share (cached per process), and train mode turns its dropout on."""
        super().train(mode)
        if self.lpips is not None:
            self.lpips.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                fake_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        if "l1" in self.weights:
            parts["l1"] = F.l1_loss(pred.float(), target.float())
        if self.lpips is not None:
            parts["lpips"] = self.lpips(pred * 2 - 1, target * 2 - 1).float().mean()
        if "adversarial" in self.weights and fake_logits is not None:
            parts["adversarial"] = generator_adversarial_loss(fake_logits)
        total = sum(self.weights[k] * v for k, v in parts.items())
        # Detached tensors, not floats: reading a value waits for the GPU (RunLog reads them).
        return total, {k: v.detach() for k, v in parts.items()}


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE with logits against "real" (1): low when the critic takes generated patches for real."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def critic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE with logits: real patches are 1, generated ones 0 (mean of the two halves)."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return (real + fake) / 2
