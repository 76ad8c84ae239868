"""The patch critic of the GAN entries (arnet-nogan's GAN phase, gan); not a registry entry.

A recipe names its critic as ``module:Class`` (``critic.architecture``); only classes marked
with :func:`register_critic`, in modules already imported, are built, so that a recipe, an
override or a shared run folder's ``recipe.json`` cannot import a module or call any other
object with arguments of its choosing."""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


_CRITICS: dict[str, type[nn.Module]] = {}
CriticClass = TypeVar("CriticClass", bound=type)


def register_critic(cls: CriticClass) -> CriticClass:
    """Let recipes name ``cls`` (a torch module returning logits) as ``MODULE:CLASS``."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_critic takes a torch.nn.Module subclass, got {cls!r}")
    _CRITICS[f"{cls.__module__}:{cls.__qualname__}"] = cls
    return cls


def critic_class(name: str) -> type[nn.Module] | None:
    """The registered critic ``name`` (``module:Class``), None if there is none. Its module must
    have been imported (its critics registered) by the code that runs the training, as this
    one is by the trainer: a recipe imports nothing of its choosing (``zoo.__main__`` would run
    the command again)."""
    return _CRITICS.get(name)


def known_critics() -> list[str]:
    """The names of the registered critics, sorted."""
    return sorted(_CRITICS)


@register_critic
class PatchCritic(nn.Module):
    """PatchGAN critic with spectral norm on every conv; one real/fake logit per patch.

    ``n_layers`` stride-2 4x4 convs (widths ``nf``, ``2 nf``, ... capped at ``8 nf``, LeakyReLU
    0.2), then a 3x3 conv to one channel. The output is logits ``(B, 1, H / 2**n_layers,
    W / 2**n_layers)``, meant for ``BCEWithLogitsLoss``. Inputs are RGB in [0, 1].
    The constructor's arguments are kept in :attr:`config` (saved beside the weights).
    """

    def __init__(self, in_channels: int = 3, nf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchCritic: n_layers must be >= 1, got {n_layers}")
        self.config: dict[str, Any] = {"in_channels": in_channels, "nf": nf, "n_layers": n_layers}
        layers: list[nn.Module] = []
        ch_in = in_channels
        for i in range(n_layers):
            ch_out = nf * min(2 ** i, 8)
            layers += [spectral_norm(nn.Conv2d(ch_in, ch_out, 4, stride=2, padding=1)),
                       nn.LeakyReLU(0.2, inplace=True)]
            ch_in = ch_out
        layers.append(spectral_norm(nn.Conv2d(ch_in, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2.0 - 1.0)

    @property
    def downscale(self) -> int:
        """Stride of the logit map, in input pixels."""
        return 2 ** int(self.config["n_layers"])
