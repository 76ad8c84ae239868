"""The base class of every restoration network: padding, config, and the ``restore`` entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from zoo.registry import ModelInfo


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad a ``(B, C, H, W)`` tensor on the bottom and right up to a multiple of ``multiple``.

    Reflection is used where the image is large enough for it, replication otherwise.
    Returns the padded tensor and the original ``(H, W)``.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


class Restorer(nn.Module):
    """A network mapping a JPEG-decoded RGB batch in [0, 1] to a restored batch in [0, 1].

    Subclasses implement :meth:`forward_padded` for inputs whose sides are multiples of
    :attr:`pad_multiple`; :meth:`forward` pads any size and crops back. The constructor's
    keyword arguments are kept in :attr:`config`, so that a model can be rebuilt from a
    ``config.json`` (see :mod:`zoo.hub`).
    """

    pad_multiple: ClassVar[int] = 1
    info: ModelInfo | None

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(config)
        self.info = None

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):  # torch's own error names pad()'s argument
            raise TypeError(f"{self.name}(x) takes a (B, 3, H, W) float tensor, not "
                            f"{type(x).__name__}; use {self.name}.restore(image) for a PIL image "
                            "or a numpy array")
        padded, (h, w) = pad_to_multiple(x, self.pad_multiple)
        return self.forward_padded(padded)[..., :h, :w]

    @property
    def name(self) -> str:
        return self.info.name if self.info is not None else type(self).__name__

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _larger_copy(self, **changes: Any) -> tuple[Self, list[str]]:
        """The same network with ``changes`` to its arguments and this one's weights loaded; also
        the parameter names that are new (for a ``grown`` method to initialise)."""
        bigger = type(self)(**{**self.config, **changes})
        missing, unexpected = bigger.load_state_dict(self.state_dict(), strict=False)
        if unexpected:
            raise ValueError(f"{type(self).__name__}: {changes} drops weights {unexpected[:3]}")
        return bigger, missing

    def restore(self, image: Any, *, tile: int | None = None, device: str | None = None) -> Any:
        """Restore a PIL image, a uint8 numpy array or a float tensor; returns the same kind."""
        from zoo.restore import restore_image

        return restore_image(self, image, tile=tile, device=device)


class ModelWrapper(Restorer):
    """A way of running another restorer (self-ensemble, lower precision): no weights of its own.

    It takes the wrapped model's training mode, registry info, weights source and padding
    multiple, so that tiling, progress lines and benches treat it as that model.
    """

    suffix: ClassVar[str] = ""

    def __init__(self, model: Restorer) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)
        self.info = model.info
        self.weights_source = getattr(model, "weights_source", None)
        self.pad_multiple = int(getattr(model, "pad_multiple", 1))

    @property
    def name(self) -> str:
        return self.model.name + self.suffix

    @property
    def description(self) -> str:
        """What runs, for messages: ``unet-l1+x8``, ``unet-l1 at bf16``."""
        return self.name

    @property
    def innermost(self) -> Restorer:
        """The model with the weights, under every wrapper."""
        model = self.model
        return model.innermost if isinstance(model, ModelWrapper) else model
