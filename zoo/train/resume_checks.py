"""What a resume refuses: a checkpoint whose networks, or whose stages trained so far, the
recipe now describes otherwise (the weights would go on in another network, the card and
training.json would claim another plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from zoo.errors import ZooError
from zoo.registry import get_model_info
from zoo.train.fits import changed_arguments
from zoo.train.recipe import Recipe
from zoo.train.recipe_changes import changed_keys
from zoo.train.selection import Selection

__all__ = ["check_finished_by_an_earlier_zoo", "check_same_networks", "check_same_scoring",
           "check_same_start", "check_stages_trained"]

_SCORING = ("data.val:", "validation.qualities:", "validation.crop:", "validation.max_images:",
            "select.metric:", "select.mode:", "select.stages:", "select.not_worse_than_input:")
"""The settings that decide a validation's score for the selection (``validation.every`` and
the metrics beside ``select.metric`` do not)."""


def check_same_networks(path: Path, saved: dict[str, Any], recipe: Recipe, name: str,
                        generator: nn.Module, critic: nn.Module | None) -> None:
    """Refuse changed network arguments, those that keep the tensors' shapes too (``blur``):
    the checkpoint's weights would go on in a network that computes something else."""
    registered = get_model_info(name).arch_args
    changed = changed_arguments(type(generator),
                                {**registered, **saved.get("model", {}).get("args", {})},
                                {**registered, **recipe.model.args}, "model.args")
    saved_critic = saved.get("critic", {})
    if critic is not None and saved_critic.get("architecture") != recipe.critic.architecture:
        changed.append(f"critic.architecture: {saved_critic.get('architecture')!r} -> "
                       f"{recipe.critic.architecture!r}")
    elif critic is not None:
        changed += changed_arguments(type(critic), saved_critic.get("args", {}),
                                     recipe.critic.args, "critic.args")
    if changed:
        raise ZooError(f"{path}: was saved with other network arguments ({'; '.join(changed)}); "
                       "resume with the ones it was saved with, or train into a new --out")


def check_same_start(path: Path, saved: dict[str, Any], recipe: Recipe) -> None:
    """Refuse another ``model.init`` on a resume: the checkpoint's weights replace it, so the
    export would claim a start the run did not have."""
    before = saved.get("model", {}).get("init", "")
    if before != recipe.model.init:
        raise ZooError(f"{path}: model.init {before!r} -> {recipe.model.init!r}: a resume goes on "
                       "from its checkpoint, whose weights replace model.init; resume without "
                       "changing it, or start a new --out from those weights")


def check_same_scoring(path: Path, saved: dict[str, Any], recipe: Recipe,
                       selection: Selection) -> None:
    """Refuse, once a checkpoint has been chosen, a resume that scores checkpoints otherwise
    (other validation images, qualities or crop, another selection metric): new scores would be
    compared with the old best's, and the export chosen and labelled by two measures at once."""
    best = selection.best
    if not best:
        return
    changed = [c for c in changed_keys(saved, recipe.to_dict()) if c.startswith(_SCORING)]
    if changed:
        best_file = selection.best_file(best)
        raise ZooError(f"{path}: its best checkpoint so far (step {best.get('step')}) was chosen "
                       f"by validation scores that the recipe now computes otherwise "
                       f"({'; '.join(changed)}), which would not compare; resume with them as "
                       f"saved, or train on into a new --out with model.init={best_file}")


def check_stages_trained(path: Path, saved: dict[str, Any], recipe: Recipe, stage_index: int,
                         step: int, stage_start: int) -> None:
    """Refuse a resume whose recipe rewrites what was trained: the stages up to the current
    one keep their names and order, a finished stage its steps, and the current stage at
    least the steps it has taken."""
    stages = list(recipe.stages.values())
    before = list(saved.get("stages", {}).items())
    # The stages begun: every finished one and the current one (a run an earlier zoo saved
    # past its last stage has none current, and may add stages after them all).
    begun = [name for name, _ in before[:stage_index + 1]]
    if begun != [s.name for s in stages[:len(begun)]]:
        where = f"in stage {begun[-1]}" if stage_index < len(before) else "after its last stage"
        raise ZooError(f"{path}: was saved {where} of the stages {', '.join(begun)}; a resume "
                       "keeps those stages, in that order (add stages after them, or train "
                       "into a new --out)")
    for (name, stage_dict), stage in zip(before[:stage_index], stages):
        if stage_dict.get("steps") != stage.steps:
            raise ZooError(f"{path}: stage {name} has finished with stages.{name}.steps="
                           f"{stage_dict.get('steps')}, which a resume cannot change (now "
                           f"{stage.steps})")
    if stage_index < len(stages):
        current, taken = stages[stage_index], step - stage_start
        if taken > current.steps:
            raise ZooError(f"{path}: stage {current.name} has trained {taken} steps, more "
                           f"than stages.{current.name}.steps={current.steps}; to export the "
                           f"run as it is, resume with its steps and --max-steps {step}")


def check_finished_by_an_earlier_zoo(path: Path, saved: dict[str, Any], recipe: Recipe,
                                     stage_index: int, out: Path) -> None:
    """Earlier versions saved a finished run past its last stage, without optimizers: such a
    run can add stages, but its last stage cannot go on."""
    stages = list(recipe.stages.values())
    last = stages[-1]
    saved_last = saved.get("stages", {}).get(last.name, {})
    if stage_index == len(stages) and last.steps > saved_last.get("steps", last.steps):
        raise ZooError(f"{path}: saved at the end of the run by an earlier version of zoo, "
                       f"without its optimizers, so stages.{last.name}.steps cannot grow from "
                       f"{saved_last['steps']}; train on into a new --out with "
                       f"model.init={out / 'export'}")
