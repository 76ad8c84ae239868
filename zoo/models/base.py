"""The base class of every restoration network: padding, config, and the ``restore`` entry point."""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    from zoo.devices import DeviceSpec
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


class ModelContractError(ZooError, RuntimeError):
    """A network's output breaking the :class:`Restorer` contract: a ZooError, said in one line,
    and a RuntimeError, reported as the model failing where a model fails on an image."""


# torch's words for feature maps whose height or width do not fit: torch.cat of a skip
# connection, an elementwise op (dimension 2 or 3), PixelUnshuffle of an odd side
_SIDES_DO_NOT_FIT = re.compile(r"Sizes of tensors must match except in dimension 1|"
                               r"at non-singleton dimension [23]\b|is not divisible by")


def _pad_multiple_hint(model: Restorer, padded: torch.Tensor) -> str:
    return (f"its input was {padded.shape[-2]}x{padded.shape[-1]} (sides padded to a multiple of "
            f"pad_multiple = {model.pad_multiple}): if the network needs sides divisible by N, set "
            "pad_multiple = N on its class (docs/models.md)")


_PENDING = "_restorer_arguments"
"""The instance attribute holding, while it is constructed, its outermost constructor's bound
arguments and how many constructors deep the construction is."""

_STARRED = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _keeping_arguments(cls: type, init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that first records its arguments (defaults filled in) for :class:`Restorer`'s
    constructor, when it is the outermost constructor of the instance."""
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                     inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]  # self
    for param in params:
        if param.kind in _STARRED or param.kind is inspect.Parameter.POSITIONAL_ONLY:
            shown = {inspect.Parameter.VAR_POSITIONAL: f"*{param.name}",
                     inspect.Parameter.VAR_KEYWORD: f"**{param.name}"}.get(
                param.kind, f"{param.name} positional-only")
            raise TypeError(f"{cls.__name__}.__init__ takes {shown}: a Restorer names each "
                            "constructor argument, so that its config (config.json) can "
                            "rebuild it")

    @functools.wraps(init)
    def __init__(self: Restorer, *args: Any, **kwargs: Any) -> None:
        pending = self.__dict__.get(_PENDING)
        if pending is not None:  # a parent's constructor, run by the subclass's
            pending[1] += 1
            try:
                init(self, *args, **kwargs)
            finally:
                pending[1] -= 1
            return
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            init(self, *args, **kwargs)  # raises Python's own message
            return
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments[next(iter(signature.parameters))]  # self
        # As passed: a constructor that appends to its list argument (or its default) must not
        # change what config.json rebuilds it from.
        arguments = copy.deepcopy(arguments)
        self.__dict__[_PENDING] = [arguments, 1]  # not setattr: nn.Module is not set up yet
        try:
            init(self, *args, **kwargs)
        except AttributeError:
            _check_module_set_up(self)  # nn.Module's own error does not say what to do
            raise
        finally:
            del self.__dict__[_PENDING]
        _check_module_set_up(self)

    return __init__


def _check_module_set_up(model: nn.Module) -> None:
    """Refuse a model whose constructor never ran ``nn.Module.__init__``."""
    if "_modules" not in model.__dict__:
        raise ZooError(f"{type(model).__name__}.__init__ does not call super().__init__(): "
                       "call it first, before assigning any layer")


class Restorer(nn.Module):
    """A network mapping a JPEG-decoded RGB batch in [0, 1] to a restored batch in [0, 1].

    Subclasses implement :meth:`forward_padded` for inputs whose sides are multiples of
    :attr:`pad_multiple`; :meth:`forward` pads any size and crops back. The arguments of the
    concrete class's constructor (defaults filled in, less :attr:`config_excludes`) are kept in
    :attr:`config`, so that a model can be rebuilt from a ``config.json`` (see :mod:`zoo.hub`);
    a subclass need not pass them on. Values it does pass to ``super().__init__`` replace them
    (a normalised form: lists for tuples, say).
    """

    pad_multiple: int = 1  # a class sets its own; an instance may refine it (unet: from its levels)
    config_excludes: ClassVar[frozenset[str]] = frozenset()
    """Constructor arguments that choose how to initialise, not what to build: not in config."""
    keeps_arguments: ClassVar[bool] = True
    """Whether a subclass's constructor arguments are recorded as its config (not for a way of
    running another model, which is never rebuilt from a config.json)."""
    config: dict[str, Any]
    info: ModelInfo | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__ and cls.keeps_arguments:
            cls.__init__ = _keeping_arguments(cls, cls.__init__)  # type: ignore[method-assign]

    def __init__(self, **config: Any) -> None:
        super().__init__()
        pending = self.__dict__.get(_PENDING)
        if pending is None:  # Restorer itself, or a subclass without a constructor of its own
            self.config = dict(config)
        else:
            arguments, depth = pending
            self.config = {k: v for k, v in arguments.items() if k not in self.config_excludes}
            if depth == 1:  # passed on by the outermost constructor (a parent's are its own)
                unknown = sorted(set(config) - set(arguments))
                if unknown:
                    raise TypeError(f"{type(self).__name__} keeps {', '.join(unknown)} in config, "
                                    "which its constructor does not take: config.json could not "
                                    "rebuild it")
                self.config.update(config)
        self.info = None

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):  # torch's own error names pad()'s argument
            raise TypeError(f"{self.name}(x) takes a (B, 3, H, W) float tensor, not "
                            f"{type(x).__name__}; use {self.name}.restore(image) for a PIL image "
                            "or a numpy array")
        if x.ndim != 4:  # torch's own error speaks of channels_last
            raise ValueError(f"{self.name}(x) takes a (B, 3, H, W) float tensor, got shape "
                             f"{tuple(x.shape)}; add the batch dimension (x[None]) or use "
                             f"{self.name}.restore(x)")
        if not torch.is_floating_point(x) or x.shape[1] != 3:  # a network's own words were
            # about bias types and channel counts, or a uint8 batch came back near-white
            raise ValueError(f"{self.name}(x) takes a (B, 3, H, W) float tensor in [0, 1], got "
                             f"{x.dtype} of shape {tuple(x.shape)}; {self.name}.restore(image) "
                             "takes PIL images and uint8 arrays, grey and RGBA too")
        if x.shape[0] == 0:  # networks differ in how they fail on an empty batch
            return x.clone()
        padded, (h, w) = pad_to_multiple(x, self.pad_multiple)
        try:
            out = self.forward_padded(padded)
        except RuntimeError as exc:  # not its subclasses: out of memory is not about the sides
            if type(exc) is RuntimeError and _SIDES_DO_NOT_FIT.search(str(exc)):
                raise ModelContractError(f"{self.name}: {first_line(exc).rstrip('.')}; "
                                         f"{_pad_multiple_hint(self, padded)}") from exc
            raise
        # Shape only: a smaller output was cropped and written without a word (values outside
        # [0, 1] are normal for a GAN, and clamped by the callers).
        if not isinstance(out, torch.Tensor) or out.shape != padded.shape:
            got = (f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor)
                   else f"a {type(out).__name__}")
            raise ModelContractError(f"{self.name}: forward_padded returned {got} for an input of "
                                     f"shape {tuple(padded.shape)}; it must return a tensor of "
                                     "its input's shape")
        return out[..., :h, :w]

    @property
    def name(self) -> str:
        """The registry entry's name; the class's name for a model without registry info."""
        return self.info.name if self.info is not None else type(self).__name__

    def num_parameters(self) -> int:
        """How many numbers the parameters hold (buffers not counted)."""
        return sum(p.numel() for p in self.parameters())

    def _larger_copy(self, **changes: Any) -> tuple[Self, list[str]]:
        """The same network with ``changes`` to its arguments and this one's weights loaded; also
        the parameter names that are new (for a ``grown`` method to initialise)."""
        bigger = type(self)(**{**self.config, **changes})
        missing, unexpected = bigger.load_state_dict(self.state_dict(), strict=False)
        if unexpected:
            raise ValueError(f"{type(self).__name__}: {changes} drops weights {unexpected[:3]}")
        return bigger, missing

    def restore(self, image: Any, *, tile: int | None = None,
                device: DeviceSpec = None) -> Any:
        """Restore a PIL image, a uint8 numpy array (HxW, HxWx1, HxWx3, HxWx4) or a float tensor
        in [0, 1] (``(3, H, W)``, ``(B, 3, H, W)``, 1-channel too); returns the same kind, shape
        and mode (alpha and metadata kept; docs/restore.md, "Python").

        ``tile``: None tiles large images automatically, 0 never tiles, N restores in N-pixel
        tiles (bounded memory). ``device``: where to run ("cpu", "cuda", "cuda:N", "mps", an int
        CUDA index or a torch.device); default: where the model is.
        """
        from zoo.restore import restore_image

        return restore_image(self, image, tile=tile, device=device)


class ModelWrapper(Restorer):
    """A way of running another restorer (self-ensemble, lower precision): no weights of its own.

    It takes the wrapped model's training mode, registry info, weights source and padding
    multiple, so that tiling, progress lines and benches treat it as that model.
    """

    suffix: ClassVar[str] = ""
    keeps_arguments = False  # rebuilt by wrapping its model: config stays {}

    def __init__(self, model: Restorer) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)
        self.info = model.info
        self.weights_source = getattr(model, "weights_source", None)
        self.pad_multiple = int(getattr(model, "pad_multiple", 1))

    @property
    def name(self) -> str:
        """The wrapped model's name with this wrapper's suffix (``unet-l1+x8``)."""
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


PROJECT_TRAINING_DATA = (
    "338 photographs (this project's ../shared/data/train): T91 (90), the BSDS500 training split "
    "(200, decoded from their JPEG originals), every third image of Urban100 (34) and 14 images "
    "of the Waterloo Exploration Database (a run leaves out those smaller than its patches). "
    "These are research datasets under their authors' own terms, which the weights' license "
    "does not replace: check them before other uses. Checkpoints were chosen on Set5, Set14 and "
    "McMaster, which are therefore not held-out test data (Set5's woman is also a BSDS500 "
    "training image). The runs were short, minutes to hours on a CPU (and a last 9.4 minutes on "
    "a GPU for arnet-nogan; the zoo's training/README.md), and the zoo's leaderboards "
    "(leaderboard/ in its repository) measure what they achieve.")
"""``WeightsInfo.trained_on`` of the weights this zoo ships (every run of training/README.md)."""
