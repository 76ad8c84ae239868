"""Checks of a recipe against the networks it builds, before the first step: that the generator
has parameters to train, that ``data.patch`` is large enough for the generator and the critic
(a forward that breaks the Restorer contract, such as returning a smaller image, is refused
there too), and that an export named by ``model.init`` was saved with the architecture the
recipe builds.

The recipe check (:mod:`zoo.train.recipe`) does not know the entry, so these run in
``Trainer.build``; each raises a :class:`ZooError` in one line before anything is written.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.arguments import resolved_arguments
from zoo.errors import RecipeError, ZooError, first_line
from zoo.models.base import ModelContractError
from zoo.train.recipe import Recipe

__all__ = ["PROBE_LIMIT", "check_init_config", "check_patch", "check_trainable", "changed_arguments"]

PROBE_LIMIT = 512
"""The largest patch side tried: a network that fails there too is refused with its own reason
(its arguments do not fit any patch a CPU or GPU trains on)."""


def _meta_copy(net: nn.Module) -> nn.Module | None:
    """A copy of ``net`` on torch's meta device (shapes only), None if it cannot be made."""
    try:
        return copy.deepcopy(net).to("meta")
    except Exception:
        return None


def _runs_on_meta(meta: nn.Module | None, batch: int, side: int) -> bool:
    """Whether a forward of ``meta`` runs: seconds less than a real one at a large side, and
    with the same outcome for shape and batch-norm errors. Any exception (an op without a meta
    kernel, a ``.item()``) leaves the answer to the real forward."""
    if meta is None:
        return False
    try:
        with torch.no_grad():
            meta(torch.zeros(batch, 3, side, side, device="meta"))
    except Exception:
        return False
    return True


def _real_failure(net: nn.Module, batch: int, side: int) -> str | None:
    """Why a training-mode forward of a ``(batch, 3, side, side)`` batch fails, None if it runs."""
    try:
        with torch.no_grad():
            net(torch.zeros(batch, 3, side, side))
    except ModelContractError:
        raise  # the network's own mistake, not the side's: no side would run
    except (RuntimeError, ValueError, IndexError) as exc:  # shapes; batch norm's "more than 1 value"
        return first_line(exc)
    return None


class _Probe:
    """A copy of a network for trying patch sides: on the CPU up to ``PROBE_LIMIT``, where a
    forward is cheap; above it on the meta device first, which says fast that a side runs (not
    a failure that depends on values, such as an index out of range), then (only where meta
    raised) on the CPU, which says why it fails."""

    def __init__(self, net: nn.Module) -> None:
        self.real = copy.deepcopy(net).cpu().float().train()

    @functools.cached_property
    def meta(self) -> nn.Module | None:
        return _meta_copy(self.real)  # made only for a side above the limit

    def failure(self, batch: int, side: int) -> str | None:
        """Why a training-mode forward of a ``(batch, 3, side, side)`` batch fails, None if it runs."""
        if side > PROBE_LIMIT and _runs_on_meta(self.meta, batch, side):
            return None
        return _real_failure(self.real, batch, side)


def check_trainable(entry: str, generator: nn.Module) -> None:
    """Refuse a generator without trainable parameters (the optimizer would refuse it later)."""
    if not any(p.requires_grad for p in generator.parameters()):
        raise ZooError(f"model {entry!r} has no trainable parameters: there is nothing for "
                       "`zoo train` to learn (an entry that needs no training needs no recipe)")


def _smallest(probe: _Probe, batch: int, start: int) -> int:
    """The smallest multiple of 8 from ``start`` that runs (``PROBE_LIMIT`` does)."""
    return next(side for side in range(start, PROBE_LIMIT + 1, 8) if probe.failure(batch, side) is None)


def check_patch(recipe: Recipe, entry: str, generator: nn.Module, critic: nn.Module | None) -> None:
    """Refuse a ``data.patch`` on which a training step of the generator or the critic fails,
    naming the smallest one that runs (found by trying: pad multiples, stride-2 layers and
    batch norms over a 1x1 map all set it) and the network's own reason.

    The networks are tried on copies, with the random state kept, so the run is unchanged.
    """
    d = recipe.data
    # Only batch 1 behaves differently (a batch norm then needs more than one pixel); the critic
    # always sees real and generated patches together.
    nets = [(f"the generator of {entry!r}", generator, min(d.batch, 2))]
    if critic is not None:
        nets.append((f"the critic {recipe.critic.architecture}", critic, 2))
    with torch.random.fork_rng(devices=[]):
        for what, net, batch in nets:
            probe = _Probe(net)
            why = probe.failure(batch, d.patch)
            if why is None:
                continue
            if d.patch >= PROBE_LIMIT or probe.failure(batch, PROBE_LIMIT) is not None:
                arguments = "critic.args" if net is critic else "model.args"
                raise RecipeError(f"{recipe.origin(arguments)}: a training step of {what} fails at "
                                  f"data.patch={d.patch} and still at {max(d.patch, PROBE_LIMIT)} "
                                  f"({why}); check its arguments ({arguments})")
            smallest = _smallest(probe, batch, d.patch + 8)
            with_batch = " with data.batch=1" if batch == 1 else ""
            batch_2_runs = batch == 1 and probe.failure(2, d.patch) is None
            other = "; or set data.batch to 2 or more" if batch_2_runs else ""
            raise RecipeError(f"{recipe.origin('data.patch')}: data.patch must be at least {smallest} for {what}"
                              f"{with_batch}, got {d.patch} (a training step fails: {why}){other}")


def changed_arguments(cls: type, before: dict[str, Any], after: dict[str, Any],
                      prefix: str) -> list[str]:
    """The arguments of ``cls`` that differ once resolved, as ``prefix.name: old -> new``."""
    old, new = resolved_arguments(cls, before), resolved_arguments(cls, after)
    return [f"{prefix}.{name}: {json.dumps(old.get(name))} -> {json.dumps(new.get(name))}"
            for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]


def check_init_config(recipe: Recipe, architecture: str, generator: nn.Module) -> None:
    """Refuse a ``model.init`` export (its folder, or the folder's ``model.safetensors``) whose
    ``config.json`` describes another network than the recipe builds (``generator``, an
    ``architecture``): weights of another shape would not load, and weights trained with another
    non-shape argument (``blur``, say) would load into a network that computes something else.
    ``pretrained``, a weights file of another name and a folder without ``config.json`` are not
    checked here (their weights' shapes are, when loaded).

    An argument missing from the file is taken at the class's default, as ``zoo.load`` would.
    """
    from zoo.hub import CONFIG_FILE, WEIGHTS_FILE, read_config

    given = Path(recipe.model.init).expanduser()
    folder = given.parent if given.name == WEIGHTS_FILE and given.is_file() else given
    path = folder / CONFIG_FILE
    if not (folder.is_dir() and path.is_file()):
        return
    where = f"{recipe.origin('model.init')}: model.init {str(given)!r}"
    try:
        saved = read_config(path)
    except ZooError as exc:
        raise RecipeError(f"{where}: {exc}") from None
    if not isinstance(saved.get("arguments", {}), dict):
        raise RecipeError(f"{where}: {path} has 'arguments' that are not an object")
    if saved.get("architecture") != architecture:
        raise RecipeError(f"{where}: holds a {saved.get('architecture')!r} network, not the "
                          f"{architecture!r} the recipe builds")
    theirs = dict(saved.get("arguments", {}))
    ours = json.loads(json.dumps(generator.config))  # tuples as the file has them: lists
    defaults = resolved_arguments(type(generator), {})
    for name in sorted(set(ours) | set(theirs)):
        if name not in ours:
            raise RecipeError(f"{where}: its config.json has argument "
                              f"{name}={json.dumps(theirs[name])}, which {architecture} does not take")
        saved_value = theirs.get(name, defaults.get(name))
        if saved_value != ours[name]:
            raise RecipeError(f"{where}: was saved with {name}={json.dumps(saved_value)} but the "
                              f"recipe builds {name}={json.dumps(ours[name])}; set "
                              f"model.args.{name}={json.dumps(saved_value)} to fine-tune it")
