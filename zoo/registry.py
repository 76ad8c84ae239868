"""The model registry: one frozen record of facts per entry, and the architectures they build.

A model module registers its architecture class with ``@register_architecture`` and each of its
entries with ``register_model(ModelInfo(...))``; ``zoo/models/__init__.py`` names the module
(one line of its ``MODULES``). Nothing is discovered by scanning file names: the registry imports
those modules on first use, each on its own, so that one that fails to import is one line
(:func:`load_problems`) and the others' entries are still there.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import importlib.util
import inspect
import os
import sys
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Mapping

from zoo.arguments import check_arguments
from zoo.errors import UnknownNameError, ZooError, caller_stacklevel, first_line

if TYPE_CHECKING:
    from zoo.models.base import Restorer

__all__ = [
    "InputConventions",
    "ModelInfo",
    "ModelModuleWarning",
    "WeightsInfo",
    "architecture_class",
    "create_model",
    "get_model_info",
    "list_architectures",
    "list_models",
    "load_problems",
    "names_registry_entry",
    "not_imported_hint",
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
    trained_on: str = ""
    """What these weights were trained and chosen on, and the data's own terms: the model card's
    "Training data and limitations" (none where empty)."""


@dataclass(frozen=True)
class InputConventions:
    """What a model expects: colour, value range, and the multiple it pads inputs to."""

    color: Literal["rgb"] = "rgb"
    """The only colour the zoo feeds models (a config.json asking for another is refused)."""
    value_range: tuple[float, float] = (0.0, 1.0)
    pad_multiple: int | None = None
    """None: the architecture class's ``pad_multiple``, filled in by :func:`register_model`."""


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
        """Whether the entry has a training recipe."""
        return self.recipe is not None


_MODELS: dict[str, ModelInfo] = {}
_ARCHITECTURES: dict[str, type[Restorer]] = {}


_REGISTERED_BY: dict[str, str] = {}
"""The module that registered each entry (named when a second one takes the same name)."""


class RegistryError(ZooError, ValueError):
    """Two registrations of one name: a ZooError, so that ``zoo`` says it in one line."""


def register_architecture(cls: type[Restorer]) -> type[Restorer]:
    """Class decorator: make an architecture buildable by name (used by configs and the Hub).
    Its constructor's defaults must fit their type hints, as config.json's values must."""
    first = _ARCHITECTURES.get(cls.__name__)
    if first is not None and first is not cls:
        raise RegistryError(f"architecture {cls.__name__!r} of {cls.__module__} is already "
                            f"registered by {first.__module__}; give the class another name")
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
    try:
        check_arguments(cls, defaults)
    except TypeError as exc:  # else exported: a config.json that zoo.load refuses
        raise RegistryError(f"architecture {cls.__name__!r} of {cls.__module__}: a constructor "
                            f"default does not fit its type hint ({exc})") from None
    _ARCHITECTURES[cls.__name__] = cls
    return cls


def register_model(info: ModelInfo) -> ModelInfo:
    """Add an entry to the registry; its architecture must already be registered. Returns the
    entry as registered (``inputs.pad_multiple`` filled in from the class when None)."""
    caller = sys._getframe(1).f_globals.get("__name__", "?")  # noqa: SLF001  (who registers it)
    if info.name in _MODELS:
        raise RegistryError(f"model {info.name!r} of {caller} is already registered by "
                            f"{_REGISTERED_BY.get(info.name, '?')}; give the entry another name")
    if info.architecture not in _ARCHITECTURES:
        # A ZooError: the registry loads on first use, so `zoo` prints this in one line.
        known = ", ".join(sorted(_ARCHITECTURES))
        raise ZooError(f"model {info.name!r}: unknown architecture {info.architecture!r} (known: "
                       f"{known}); name a class decorated with @register_architecture")
    if info.inputs.pad_multiple is None:
        pad = _ARCHITECTURES[info.architecture].pad_multiple
        info = dataclasses.replace(info, inputs=dataclasses.replace(info.inputs, pad_multiple=pad))
    _MODELS[info.name] = info
    _REGISTERED_BY[info.name] = caller
    return info


class ModelModuleWarning(UserWarning):
    """A model module named in ``zoo.models.MODULES`` failed to import: its entries are left out."""


_PROBLEMS: list[str] = []
"""One line per model module that failed to import (its entries are left out)."""

_LOADED = False
_LOADING = threading.RLock()  # re-entrant: a model module may look up the registry


def _ensure_loaded() -> None:
    """Import every model module named in ``zoo.models.MODULES`` (once): one that raises is
    recorded in :func:`load_problems` and whatever it had registered is taken out again."""
    global _LOADED
    if _LOADED:  # the common case, without the lock
        return
    with _LOADING:
        if _LOADED:
            return
        _LOADED = True
        from zoo.models import MODULES

        for name in MODULES:
            _import_model_module(f"zoo.models.{name}")


def _import_model_module(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001  (any mistake in one module: a syntax error, a clash)
        for entry in [n for n, by in _REGISTERED_BY.items() if by == module]:
            del _MODELS[entry], _REGISTERED_BY[entry]
        for arch in [n for n, cls in _ARCHITECTURES.items() if cls.__module__ == module]:
            del _ARCHITECTURES[arch]
        problem = (f"{module.replace('.', '/')}.py{_line_of(exc, module)}: cannot be imported, "
                   f"its entries are left out ({_said(exc)})")
        _PROBLEMS.append(problem)
        # Said wherever the registry is first used (zoo bench, zoo restore, zoo.load): the
        # module's entries would otherwise be missing from a leaderboard without a word. Under
        # torchrun every process imports the same modules: the first one says it for the job.
        if os.environ.get("RANK", "0") in ("", "0"):
            warnings.warn(problem, ModelModuleWarning, stacklevel=caller_stacklevel())


def _line_of(exc: Exception, module: str) -> str:
    """``, line N``: the module's own line the exception came from (a SyntaxError says it)."""
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # noqa: BLE001  (its package cannot be imported either: no line to give)
        return ""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if spec is not None and frame.filename == spec.origin]
    return f", line {lines[-1]}" if lines else ""


def _said(exc: Exception) -> str:
    """A ZooError's message as it is; any other exception with its type."""
    return first_line(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {first_line(exc)}"


def load_problems() -> list[str]:
    """The model modules that failed to import, one line each (``zoo list`` prints them)."""
    _ensure_loaded()
    return list(_PROBLEMS)


def not_imported_hint() -> str:
    """For an unknown name: ``; zoo/models/x.py ...`` naming the model modules that register
    entries but are not in ``zoo.models.MODULES``, or that failed to import; else ``""``."""
    _ensure_loaded()
    import zoo.models

    missing = []
    for path in sorted(p for folder in zoo.models.__path__ for p in Path(folder).glob("*.py")):
        if path.stem in zoo.models.MODULES or path.stem.startswith("_"):
            continue
        try:
            registers = "register_model(" in path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if registers:
            missing.append(f"zoo/models/{path.name} registers models but is not imported (add "
                           f"{path.stem!r} to MODULES in zoo/models/__init__.py)")
    return "".join(f"; {line}" for line in missing + _PROBLEMS)


def names_registry_entry(spec: str) -> bool:
    """Whether ``spec`` is a registry name as it stands. It then means the entry, also beside a
    folder of that name (``./NAME`` names the folder): a saved model in the working folder
    must not be measured and published under the registry entry's name."""
    return not any(sep and sep in spec for sep in ("/", os.sep, os.altsep)) and spec in list_models()


def list_models(pattern: str = "*", *, trainable: bool | None = None,
                with_weights: bool | None = None) -> list[str]:
    """Sorted names of the entries matching a shell-style ``pattern`` (``"unet*"``), only
    those that can be trained (``trainable=True``) or not, and only those with pretrained
    weights (``with_weights=True``) or without."""
    _ensure_loaded()
    names = [n for n in sorted(_MODELS) if fnmatch.fnmatch(n, pattern)]
    if trainable is not None:
        names = [n for n in names if _MODELS[n].trainable == trainable]
    if with_weights is not None:
        names = [n for n in names if (_MODELS[n].weights is not None) == with_weights]
    return names


def list_architectures() -> list[str]:
    """Sorted names of the registered architecture classes."""
    _ensure_loaded()
    return sorted(_ARCHITECTURES)


def get_model_info(name: str) -> ModelInfo:
    """The registry record of ``name`` (architecture, arguments, weights, input conventions);
    a one-line ZooError naming the known entries for an unknown name."""
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        known = ", ".join(sorted(_MODELS))
        raise UnknownNameError(f"unknown model {name!r}; known models: {known}"
                               f"{not_imported_hint()}") from None


def architecture_class(name: str) -> type[Restorer]:
    """The class registered as ``name``; a one-line ZooError naming the known ones for an unknown name."""
    _ensure_loaded()
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(_ARCHITECTURES))
        raise UnknownNameError(f"unknown architecture {name!r}; known: {known}"
                               f"{not_imported_hint()}") from None


def create_model(name: str, *, pretrained: bool = False, weights: str | os.PathLike[str] | None = None,
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
    # None: an entry put in the registry without register_model (a test's)
    if not overrides and info.inputs.pad_multiple not in (None, model.pad_multiple):
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
