"""``zoo.load``: a registry name, ``hf-hub:ORG/NAME[@rev]``, or a saved folder -> model for inference."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zoo.best_file import is_best_file, load_best_file
from zoo.devices import default_device, usable_device
from zoo.ensemble import ENSEMBLE_SUFFIX, SelfEnsemble, split_ensemble
from zoo.errors import WeightsError, ZooError, did_you_mean, printable
from zoo.hub import CONFIG_FILE, build_from_config, check_repo_id, load_pretrained
from zoo.precision import DEFAULT_PRECISION, check_precision, warn_if_emulated, with_precision
from zoo.registry import (create_model, get_model_info, list_models, names_registry_entry,
                          not_imported_hint)
from zoo.weights import torch_save_refusal

if TYPE_CHECKING:
    from zoo.models.base import Restorer

__all__ = ["HUB_PREFIX", "default_device", "is_saved_model", "load_model", "usable_device"]

log = logging.getLogger(__name__)

HUB_PREFIX = "hf-hub:"

_WEIGHTS_INTO_AN_ENTRY = ("weights for a registry model go in as zoo.load(NAME, weights=PATH), or "
                          "on the command line as --weights PATH beside the registry name")
"""For messages that Python and CLI users both see (``zoo restore --model``, ``zoo push``)."""


def is_saved_model(spec: str) -> bool:
    """Whether ``load_model`` takes ``spec`` as a saved model rather than a registry name:
    ``hf-hub:ORG/NAME``, a folder with config.json, a .safetensors file with one beside it, or
    a ``zoo train`` run's best file (``OUT/best/step-N.safetensors``)."""
    if names_registry_entry(spec):
        return False
    path = Path(spec)
    return (spec.startswith(HUB_PREFIX) or (path.is_dir() and (path / CONFIG_FILE).is_file())
            or (path.suffix == ".safetensors" and (path.parent / CONFIG_FILE).is_file())
            or is_best_file(path))


def parse_hub_id(spec: str) -> tuple[str, str | None]:
    """``hf-hub:ORG/NAME[@REVISION]`` as ``(ORG/NAME, REVISION or None)``; ZooError if malformed."""
    repo, at, revision = spec[len(HUB_PREFIX):].partition("@")
    expected = f"{HUB_PREFIX}ORG/NAME or {HUB_PREFIX}ORG/NAME@REVISION"
    check_repo_id(repo, repr(spec), expected)
    if at and (not revision.strip() or revision != revision.strip()):
        raise ZooError(f"{spec!r}: expected {expected} (a branch, tag or commit after '@', "
                       "without spaces around it)")
    if at and _path_like(revision):
        raise ZooError(f"{spec!r}: the revision after '@' must be a branch, tag or commit, "
                       "without '..' parts, a leading '/', backslashes or control characters")
    return repo, revision or None


def _path_like(revision: str) -> bool:
    """Whether a revision could name a file outside huggingface_hub's cache, which reads a
    branch's commit from ``refs/REVISION`` (git refuses such names as refs too)."""
    return (revision.startswith("/") or ".." in revision.split("/") or "\\" in revision
            or printable(revision) != revision)


def _load(name_or_path: str, weights: str | os.PathLike[str] | None) -> Restorer:
    if name_or_path.startswith(HUB_PREFIX):
        repo, revision = parse_hub_id(name_or_path)
        return load_pretrained(repo, revision=revision)
    path = Path(name_or_path)
    if not names_registry_entry(name_or_path):  # an entry's name means it beside a folder too
        if path.is_dir() and (path / CONFIG_FILE).is_file():
            return load_pretrained(path)
        if path.suffix == ".safetensors" and path.is_file():
            config = path.parent / CONFIG_FILE
            if config.is_file():
                return build_from_config(config, path, source=str(path))
            if is_best_file(path):
                return load_best_file(path)
            raise ZooError(f"{path} has no {CONFIG_FILE} beside it; {_WEIGHTS_INTO_AN_ENTRY}")
    if name_or_path not in list_models():
        if path.is_file():
            if pickled := torch_save_refusal(path):
                raise WeightsError(f"{pickled}, then load it into its registry entry: "
                                   "zoo.load(NAME, weights='model.safetensors')")
            raise ZooError(f"{path}: not a model; a model is a registry name, "
                           f"{HUB_PREFIX}ORG/NAME, a saved folder, a .safetensors file with "
                           f"{CONFIG_FILE} beside it or a run's OUT/best/step-N.safetensors; "
                           f"{_WEIGHTS_INTO_AN_ENTRY}")
        raise ZooError(_not_a_model(name_or_path, path))
    info = get_model_info(name_or_path)
    model = create_model(info.name, pretrained=info.weights is not None, weights=weights)
    if info.weights is None and weights is None and model.num_parameters() > 0:
        trained = (f"the export folder of `zoo train {info.name}` itself (zoo.load(FOLDER), zoo "
                   "restore --model FOLDER, zoo bench --models FOLDER) or its weights"
                   if info.recipe else "weights trained for it (it has no recipe for `zoo train`: "
                   "add training/NAME.toml and ModelInfo(recipe=...))")
        raise WeightsError(f"{info.name} has no pretrained weights in this release: load "
                           f"{trained} with weights=PATH (zoo restore --weights PATH), or choose "
                           "another model (`zoo list` shows which have weights)")
    return model


def _not_a_model(spec: str, path: Path) -> str:
    """Why ``spec`` names no model, with the registry name it was probably meant to be."""
    if path.is_dir():
        return (f"{spec}: this folder holds no {CONFIG_FILE}; a saved model is a folder with "
                f"{CONFIG_FILE} and model.safetensors (a `zoo train` export, "
                "zoo.hub.save_pretrained)")
    if os.sep in spec or "/" in spec or spec.endswith(".safetensors"):
        return f"{spec}: no such file or folder"
    names = list_models()
    hint = did_you_mean(spec, names + [name + ENSEMBLE_SUFFIX for name in names])
    return (f"unknown model {spec!r}: {hint}not a registry name ({', '.join(names)}), not "
            f"{HUB_PREFIX}ORG/NAME, and not a folder with {CONFIG_FILE}{not_imported_hint()}")


def load_model(name_or_path: str | os.PathLike[str], device: str | int | torch.device | None = None,
               weights: str | os.PathLike[str] | None = None, precision: str = DEFAULT_PRECISION) -> Restorer:
    """Load a model ready for inference: weights loaded, eval mode, on ``device``.

    ``weights`` (a safetensors path) replaces a registry entry's pretrained weights. A spec
    ending in ``+x8`` (``unet-l1+x8``) loads the model as a geometric self-ensemble.
    ``precision`` "bf16" or "fp16" runs it under autocast (:mod:`zoo.precision`).
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"a model is named by a str (a registry name, {HUB_PREFIX}ORG/NAME or a "
                        f"path) or a path object, not {type(name_or_path).__name__}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights is a path to a .safetensors file (str or path object), not "
                        f"{type(weights).__name__}")
    if not str(name_or_path):  # Path("") would be the current folder
        raise ZooError("the model's name is empty; name a registry entry (zoo.list_models()), "
                       f"{HUB_PREFIX}ORG/NAME or a saved folder")
    if check_precision(precision) is not None:  # an unknown name fails before any loading
        model = with_precision(load_model(name_or_path, device, weights), precision)
        warn_if_emulated(model, precision)
        return model
    base, ensemble = split_ensemble(str(name_or_path))
    if ensemble:
        try:
            return SelfEnsemble(load_model(base, device, weights))  # in the loaded model's eval mode
        except ZooError as exc:  # name the spec as it was given
            raise type(exc)(f"{name_or_path}: {exc}") from None
    if weights is not None and not names_registry_entry(str(name_or_path)) and (
            str(name_or_path).startswith(HUB_PREFIX) or Path(name_or_path).exists()):
        raise ZooError("weights=PATH (--weights PATH) applies to registry names only; a folder or "
                       "Hub repo brings its own model.safetensors")
    target = usable_device(device)
    model = _load(str(name_or_path), weights)
    return model.eval().to(target)
