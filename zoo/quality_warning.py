"""The warning that a JPEG is of a higher quality than a model was trained on (restoring it may
lose detail): the qualities a registry model's weights were trained on, and the one warning."""

from __future__ import annotations

import functools
import os
import warnings

from PIL import Image

from zoo.errors import RecipeError, ZooError, caller_stacklevel
from zoo.imaging import ImageWarning
from zoo.jpeg_quality import estimate_quality
from zoo.models.base import Restorer
from zoo.pretrained import holds_released_weights
from zoo.resources import doc_path

__all__ = ["QualityWarning", "recipe_qualities", "run_qualities", "trained_qualities",
           "warn_above_training"]


class QualityWarning(ImageWarning):
    """A JPEG of a higher quality than the model was trained on: restoring it may lose detail."""


@functools.cache
def recipe_qualities(recipe: str) -> tuple[int, int] | None:
    """``data.quality`` of the recipe ``training/RECIPE.toml`` (its default where the file does
    not set it); None when the recipe cannot be read."""
    from zoo.train.recipe import load_recipe, recipe_path

    try:  # data.quality alone is read: neither data folders nor model.init need to be there
        low, high = load_recipe(recipe_path(recipe), check_data=False, check_init=False).data.quality
    except (RecipeError, OSError):
        return None
    return int(low), int(high)


def trained_qualities(model: Restorer) -> tuple[int, int] | None:
    """The JPEG qualities a model's weights were trained on: a registry model's own weights,
    its recipe's ``data.quality``; a local ``zoo train`` export, its ``training.json``'s. None
    when unknown: weights given by path, a Hub repo, a saved model without a run record, an
    entry without a recipe."""
    info = model.info
    if info is not None and info.recipe is not None and holds_released_weights(model):
        return recipe_qualities(info.recipe)
    source = getattr(model, "weights_source", None)
    # local files only, not the Hub; read once per source, not for every image restored
    return _exported_qualities(source) if isinstance(source, str) and os.path.exists(source) else None


@functools.cache
def _exported_qualities(source: str) -> tuple[int, int] | None:
    """``settings.data.quality`` of the ``training.json`` beside a local saved model's weights."""
    from zoo.hub import saved_training

    try:
        training = saved_training(source) or {}
    except ZooError:
        return None
    return run_qualities(training)


def run_qualities(training: dict) -> tuple[int, int] | None:
    """``settings.data.quality`` of a ``training.json``'s record; None when it has none."""
    settings = training.get("settings")
    data = settings.get("data") if isinstance(settings, dict) else None
    quality = data.get("quality") if isinstance(data, dict) else None
    if (isinstance(quality, list) and len(quality) == 2
            and all(isinstance(q, int) and not isinstance(q, bool) for q in quality)):
        return int(quality[0]), int(quality[1])
    return None


def warn_above_training(model: Restorer, source: str | os.PathLike[str] | Image.Image,
                         shown: str | os.PathLike[str] | None = None) -> None:
    """One warning when ``source`` (a file, or an opened PIL image, named ``shown``) is a JPEG of
    a higher quality than ``model`` was trained on (its tables read only for a model whose
    training range is known)."""
    trained = trained_qualities(model)
    estimate = estimate_quality(source) if trained is not None else None
    if estimate is None or estimate.quality <= trained[1]:
        return
    warnings.warn(f"{shown or source}: JPEG quality {estimate}, above the {trained[0]}-"
                  f"{trained[1]} {model.name} was trained on; restoring it may lose detail "
                  f"(measured in {doc_path('restore.md')}, \"Which JPEGs to restore\")",
                  QualityWarning, stacklevel=caller_stacklevel())
