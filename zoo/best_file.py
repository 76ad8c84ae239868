"""A ``zoo train`` run's best file (``OUT/best/step-N.safetensors``) as a model.

A best file is the EMA generator's weights alone; the run's ``OUT/recipe.json`` says which
entry it trained and with which ``model.args``, which is all it takes to build the network
again. So a run can be measured (``zoo bench --models OUT/best/step-N.safetensors``) or used
while it trains, before it exports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.models.base import Restorer

__all__ = ["is_best_file", "load_best_file"]

BEST_FOLDER = "best"
_BEST_NAME = re.compile(r"step-\d+\.safetensors")
_RECIPE = "recipe.json"  # zoo.train.recipe.SAVED_RECIPE, without importing the training code


def _run_folder(path: Path) -> Path:
    return path.absolute().parent.parent  # absolute: a file named from inside OUT/best too


def is_best_file(path: str | Path) -> bool:
    """Whether ``path`` is ``OUT/best/step-N.safetensors`` of a run that saved its recipe."""
    path = Path(path).absolute()
    return (path.parent.name == BEST_FOLDER and _BEST_NAME.fullmatch(path.name) is not None
            and path.is_file() and (_run_folder(path) / _RECIPE).is_file())


def _entry_and_arguments(recipe_file: Path) -> tuple[str, dict[str, Any]]:
    from zoo.train.recipe import read_saved_recipe

    raw = read_saved_recipe(recipe_file)
    entry = raw.get("entry")
    section = raw.get("model", {})
    arguments = section.get("args", {}) if isinstance(section, dict) else None
    if not isinstance(entry, str) or not isinstance(arguments, dict):
        raise ZooError(f"{recipe_file}: names no entry and model.args (a run of an earlier zoo?); "
                       "load the best file into its entry as zoo.load(NAME, weights=FILE), "
                       "or --weights FILE beside the name")
    return entry, arguments


def _network(entry: str, arguments: dict[str, Any],
             recipe_file: Path) -> tuple[type[Restorer], dict[str, Any], dict[str, Any]]:
    """The architecture of the run's entry, its registered arguments, and the run's
    ``model.args`` that build its network (less those that chose how training started: the
    file's weights replace it, and ARNet's ``encoder_pretrained`` would download ImageNet
    weights)."""
    from zoo.arguments import check_arguments
    from zoo.registry import architecture_class, get_model_info

    try:
        info = get_model_info(entry)
        cls = architecture_class(info.architecture)
        check_arguments(cls, arguments)
    except TypeError as exc:  # model.args that the entry's constructor no longer takes
        raise ZooError(f"{recipe_file}: its model.args do not fit {entry!r} ({exc})") from None
    except ZooError as exc:
        raise type(exc)(f"{recipe_file}: {exc}") from None
    return cls, info.arch_args, {k: v for k, v in arguments.items() if k not in cls.config_excludes}


def load_best_file(path: str | Path) -> Restorer:
    """The network of the run's entry, built with the run's ``model.args``, holding ``path``'s
    weights (float32, as the run saved them)."""
    from zoo.weight_fit import check_fits
    from zoo.registry import create_model
    from zoo.weights import load_weights

    path = Path(path)
    recipe_file = _run_folder(path) / _RECIPE
    entry, arguments = _entry_and_arguments(recipe_file)
    cls, registered, overrides = _network(entry, arguments, recipe_file)
    check_fits(cls, {**registered, **overrides}, recipe_file, path)  # on torch's meta device
    model = create_model(entry, **overrides)
    load_weights(model, path)
    model.weights_source = str(path)
    return model
