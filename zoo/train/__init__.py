"""The training harness behind ``zoo train``: recipes, data, losses, stages, checkpoints, export.

Modules, in data-flow order: ``recipe`` (TOML schema and validation), ``fits`` (the recipe
checked against the networks it builds), ``hardware`` (device and precision) and ``denormals``
(flushed to zero on CPU), ``data`` (patches and JPEG on the fly), ``losses``, ``stages`` (one
step of each stage kind), ``ema``, ``checkpoint`` (atomic, checksummed, pickle-free),
``recipe_changes`` (the settings a resumed run changed), ``validate``, ``selection`` (which
generator is exported), ``files`` (whole-or-absent output), ``logs``, ``distributed`` (DDP),
``export``, and ``loop`` (the run that ties them together).
"""

from zoo.train.loop import Trainer
from zoo.train.recipe import Recipe, load_recipe, recipe_path

__all__ = ["Recipe", "Trainer", "load_recipe", "recipe_path"]
