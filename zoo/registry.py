"""The model registry: one frozen record of facts per entry, and the architectures they build.

A model module registers its architecture class with ``@register_architecture`` and each of its
entries with ``register_model(ModelInfo(...))``; ``zoo/models/__init__.py`` imports the module
(one line). Nothing is discovered by scanning file names.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Mapping

from zoo.arguments import check_arguments
from zoo.errors import UnknownNameError, ZooError

if TYPE_CHECKING:
    from zoo.models.base import Restorer

__all__ = [
    "InputConventions",
    "ModelInfo",
    "WeightsInfo",
    "architecture_class",
    "create_model",
    "get_model_info",
    "list_architectures",
    "list_models",
    "register_architecture",
    "register_model",
]


@dataclass(frozen=True)
class WeightsInfo:
    """Where an entry's pretrained weights live and how to verify them."""

    sha256: str
    file: str = "model.safetensors"
    """File name in the Hub repo (``zoo push`` writes ``model.safetensors``); the shipped copy
    is ``zoo/weights/<entry name>.safetensors``."""
    hub_repo: str | None = None
    revision: str = "main"
    license: str = "MIT"


@dataclass(frozen=True)
class InputConventions:
    """What a model expects: colour, value range, and the multiple it pads inputs to."""

    color: Literal["rgb"] = "rgb"
    """The only colour the zoo feeds models (a config.json asking for another is refused)."""
    value_range: tuple[float, float] = (0.0, 1.0)
    pad_multiple: int = 1


@dataclass(frozen=True)
class ModelInfo:
    """Everything the zoo knows about one registry entry."""

    name: str
    description: str
    architecture: str
    """Name of a class registered with ``register_architecture``."""
    arch_args: Mapping[str, Any] = field(default_factory=dict)
    recipe: str | None = None
    """Name of the training recipe (``training/<recipe>.toml``); None when untrainable."""
    weights: WeightsInfo | None = None
    inputs: InputConventions = field(default_factory=InputConventions)
    paper: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch_args", MappingProxyType(dict(self.arch_args)))

    def __deepcopy__(self, memo: dict) -> ModelInfo:
        return self  # frozen: copies of a model (e.g. its EMA) share the record

    @property
    def trainable(self) -> bool:
        return self.recipe is not None


_MODELS: dict[str, ModelInfo] = {}
_ARCHITECTURES: dict[str, type[Restorer]] = {}


_REGISTERED_BY: dict[str, str] = {}
"""The module that registered each entry (named when a second one takes the same name)."""


class RegistryError(ZooError, ValueError):
    """Two registrations of one name: a ZooError, so that ``zoo`` says it in one line."""


def register_architecture(cls: type[Restorer]) -> type[Restorer]:
    """Class decorator: make an architecture buildable by name (used by configs and the Hub)."""
    first = _ARCHITECTURES.get(cls.__name__)
    if first is not None and first is not cls:
        raise RegistryError(f"architecture {cls.__name__!r} of {cls.__module__} is already "
                            f"registered by {first.__module__}; give the class another name")
    _ARCHITECTURES[cls.__name__] = cls
    return cls


def register_model(info: ModelInfo) -> ModelInfo:
    """Add an entry to the registry; its architecture must already be registered."""
    caller = sys._getframe(1).f_globals.get("__name__", "?")  # noqa: SLF001  (who registers it)
    if info.name in _MODELS:
        raise RegistryError(f"model {info.name!r} of {caller} is already registered by "
                            f"{_REGISTERED_BY.get(info.name, '?')}; give the entry another name")
    if info.architecture not in _ARCHITECTURES:
        # A ZooError: the registry loads on first use, so `zoo` prints this in one line.
        known = ", ".join(sorted(_ARCHITECTURES))
        raise ZooError(f"model {info.name!r}: unknown architecture {info.architecture!r} (known: "
                       f"{known}); name a class decorated with @register_architecture")
    _MODELS[info.name] = info
    _REGISTERED_BY[info.name] = caller
    return info


def _ensure_loaded() -> None:
    import zoo.models  # noqa: F401  (importing it registers every entry)


def list_models(pattern: str = "*", *, trainable: bool | None = None,
                with_weights: bool | None = None) -> list[str]:
    """Sorted names of the entries matching a shell-style ``pattern``."""
    _ensure_loaded()
    names = [n for n in sorted(_MODELS) if fnmatch.fnmatch(n, pattern)]
    if trainable is not None:
        names = [n for n in names if _MODELS[n].trainable == trainable]
    if with_weights is not None:
        names = [n for n in names if (_MODELS[n].weights is not None) == with_weights]
    return names


def list_architectures() -> list[str]:
    _ensure_loaded()
    return sorted(_ARCHITECTURES)


def get_model_info(name: str) -> ModelInfo:
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        known = ", ".join(sorted(_MODELS))
        raise UnknownNameError(f"unknown model {name!r}; known models: {known}") from None


def architecture_class(name: str) -> type[Restorer]:
    _ensure_loaded()
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(_ARCHITECTURES))
        raise UnknownNameError(f"unknown architecture {name!r}; known: {known}") from None


def create_model(name: str, *, pretrained: bool = False, weights: str | None = None,
                 **overrides: Any) -> Restorer:
    """Build a registry entry; with ``pretrained=True`` (or a ``weights`` path) load its weights.

    ``overrides`` replace architecture arguments, for training experiments; pretrained weights
    are only loaded into the registered architecture.
    """
    info = get_model_info(name)
    cls = architecture_class(info.architecture)
    try:
        check_arguments(cls, info.arch_args)
    except TypeError as exc:  # the entry's own record: name it, in one line
        raise ZooError(f"model {name!r}: its registered arch_args do not fit {cls.__name__} "
                       f"({exc})") from None
    check_arguments(cls, overrides)  # a TypeError, for the caller to name where they came from
    model = cls(**{**info.arch_args, **overrides})
    model.info = info
    if not overrides and model.pad_multiple != info.inputs.pad_multiple:
        raise ZooError(f"model {name!r}: its InputConventions.pad_multiple is "
                       f"{info.inputs.pad_multiple} but {info.architecture} pads to "
                       f"{model.pad_multiple}; make them equal (the exported config.json and "
                       "model card carry the entry's value)")
    if pretrained or weights is not None:
        if overrides:
            raise ValueError("pretrained weights fit only the registered architecture arguments")
        from zoo.pretrained import load_entry_weights

        load_entry_weights(model, info, path=weights)
    return model
