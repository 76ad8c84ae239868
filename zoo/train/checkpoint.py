"""Checkpoints that survive a kill: safetensors for tensors, a JSON sidecar for the rest.

Each checkpoint is a folder ``step-XXXXXXXX/`` holding ``state.safetensors`` and ``meta.json``
(with the sha256 of the tensor file). It is written into a hidden temporary folder, synced,
then renamed into place, so a kill leaves either the whole checkpoint or none. A checkpoint
whose files are torn, whose meta.json lacks a key a resume reads or whose checksum does not
match is skipped, with a warning, in favour of the previous one. Only names of the form
``step-<digits>`` are checkpoints: any other folder there is left alone. No pickle anywhere:
RNG states are stored as tensors and JSON lists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from zoo.atomic import atomic_write
from zoo.errors import first_line
from zoo.train.files import write_folder

__all__ = ["best_files", "flatten_optimizer", "latest_checkpoint", "latest_meta", "list_checkpoints",
           "put_back_replaced", "read_meta", "restore_rng", "rng_state", "save_checkpoint", "step_of",
           "unflatten_optimizer"]

STATE_FILE = "state.safetensors"
META_FILE = "meta.json"
_PREFIX = "step-"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(folder: Path, step: int, tensors: dict[str, torch.Tensor],
                    meta: dict[str, Any], keep: int) -> Path:
    """Write a checkpoint atomically and delete all but the newest ``keep``; a failed write
    is a ZooError naming the checkpoint."""
    data = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})
    meta = {**meta, "step": step, "sha256": hashlib.sha256(data).hexdigest()}

    def fill(tmp: Path) -> None:
        atomic_write(tmp / STATE_FILE, lambda f: f.write(data), mode="wb")
        atomic_write(tmp / META_FILE, lambda f: f.write(json.dumps(meta, indent=1)))

    final = write_folder(folder / f"{_PREFIX}{step:08d}", "the checkpoint", fill)
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def step_of(path: Path, suffix: str = "") -> int | None:
    """The step in a name the run writes (``step-<digits>`` + ``suffix``); None for any other
    name (a user's ``step-00000010.bak``), which the run never reads or deletes."""
    match = re.fullmatch(rf"{_PREFIX}([0-9]+){re.escape(suffix)}", path.name)
    return int(match.group(1)) if match else None


def _numbered(folder: Path, suffix: str, is_dir: bool) -> list[Path]:
    if not folder.is_dir():
        return []
    found = ((step_of(p, suffix), p) for p in folder.iterdir() if p.is_dir() == is_dir)
    return [p for _, p in sorted((step, p) for step, p in found if step is not None)]


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, oldest first."""
    return _numbered(folder, "", is_dir=True)


def best_files(folder: Path) -> list[Path]:
    """The best-generator files (``step-<digits>.safetensors``) in ``folder``, oldest first."""
    return _numbered(folder, ".safetensors", is_dir=False)


_NUMBER = (int, float)
_NONE = type(None)
# The keys a resume reads, and their types (meta.json is only JSON-checked otherwise).
_META_KEYS: dict[str, tuple[type, ...]] = {
    "entry": (str,), "step": (int,), "sha256": (str,), "stage_index": (int,),
    "stage_start": (int,), "ema_updates": (int,), "elapsed": _NUMBER, "stage_elapsed": _NUMBER,
    "last_validated": (int,), "best": (dict, _NONE), "switcher": (dict,), "rng": (dict,),
    "recipe": (dict,)}
_OPTIONAL_KEYS: dict[str, tuple[type, ...]] = {"opt_g": (dict,), "opt_c": (dict,),
                                               "scaler": (dict, _NONE), "selection": (dict, _NONE),
                                               "before_stop": (dict, _NONE), "world": (int,),
                                               "samples": (int,)}
_BEST_KEYS: dict[str, tuple[type, ...]] = {"file": (str,), "step": (int,), "value": _NUMBER,
                                           "stage": (str,), "scores": (dict,)}
_SWITCHER_KEYS: dict[str, tuple[type, ...]] = {"mode": (str,), "count": (int,),
                                               "history": (dict,)}
_RNG_KEYS: dict[str, tuple[type, ...]] = {"python": (list,), "numpy": (list,)}
SELECTION_COUNTS = ("validated", "undefined", "below_input")
"""The counts of a run's validations of the selected stages (``selection`` in meta.json)."""
_SELECTION_KEYS: dict[str, tuple[type, ...]] = dict.fromkeys(SELECTION_COUNTS, (int,))
_BEFORE_STOP_KEYS: dict[str, tuple[type, ...]] = {"best": (dict, _NONE), "last_validated": (int,),
                                                  "selection": (dict, _NONE)}


def _shape_problem(value: Any, name: str, keys: dict[str, tuple[type, ...]],
                   optional: dict[str, tuple[type, ...]] | None = None) -> str | None:
    """What is wrong with a JSON object's keys and their types, or None."""
    if not isinstance(value, dict):
        return f"{name} is not an object"
    for key, types in {**keys, **(optional or {})}.items():
        if key not in value:
            if key in keys:
                return f"{name} lacks {key!r}"
        elif isinstance(value[key], bool) or not isinstance(value[key], types):
            expected = " or ".join(t.__name__ for t in types)
            return f"{name}'s {key!r} is {type(value[key]).__name__}, not {expected}"
    return None


def _parts_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with the objects inside a meta.json whose own keys are right, or None."""
    for key, keys in (("switcher", _SWITCHER_KEYS), ("rng", _RNG_KEYS), ("best", _BEST_KEYS),
                      ("selection", _SELECTION_KEYS), ("before_stop", _BEFORE_STOP_KEYS)):
        if meta.get(key) is not None and (problem := _shape_problem(meta[key], key, keys)):
            return problem
    undo = meta.get("before_stop") or {}
    for key, keys in (("best", _BEST_KEYS), ("selection", _SELECTION_KEYS)):
        problem = _shape_problem(undo[key], f"before_stop's {key}", keys) if undo.get(key) else None
        if problem:
            return problem
    return None


def _meta_problem(meta: Any, step: int | None) -> str | None:
    """What makes a parsed meta.json unusable for a resume, or None."""
    problem = _shape_problem(meta, META_FILE, _META_KEYS, _OPTIONAL_KEYS)
    if problem is None:
        problem = _parts_problem(meta)
    if problem is None and meta["step"] != step:
        problem = f"{META_FILE}'s step {meta['step']} is not the folder's"
    if problem is None and not all(math.isfinite(meta[k]) and meta[k] >= 0
                                   for k in ("elapsed", "stage_elapsed")):
        problem = f"{META_FILE}'s elapsed times are not finite non-negative seconds"
    return problem


def read_meta(path: Path) -> dict[str, Any]:
    """A checkpoint's meta.json, checked for the keys and types a resume reads; ValueError
    (or OSError) when it is unusable."""
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    problem = _meta_problem(meta, step_of(path))
    if problem is not None:
        raise ValueError(problem)
    return meta


def _check(path: Path) -> dict[str, Any]:
    """The meta of an intact checkpoint (ValueError or OSError if torn or modified)."""
    meta = read_meta(path)
    if _sha256(path / STATE_FILE) != meta["sha256"]:
        raise ValueError("checksum mismatch (torn or modified state file)")
    return meta


def put_back_replaced(folder: Path) -> None:
    """Rename back the older copy of a checkpoint that a kill between the two renames of its
    replacement left as ``.tmp-old-step-N-PID``, where no intact ``step-N`` took its place (with
    ``checkpoint.keep=1`` it is the run's only checkpoint); the rest are left to be removed."""
    for old in folder.glob(".tmp-old-step-*"):
        match = re.fullmatch(rf"\.tmp-old-({_PREFIX}[0-9]+)-[0-9]+", old.name)
        final = folder / match.group(1) if match else None
        if final is None or not old.is_dir():
            continue
        try:
            _check(final)
        except (OSError, ValueError):
            shutil.rmtree(final, ignore_errors=True)
            os.replace(old, final)


def latest_checkpoint(folder: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest intact checkpoint; torn ones are reported and skipped."""
    for path in reversed(list_checkpoints(folder)):
        try:
            meta = _check(path)
            # Read whole, not memory-mapped (the file's bytes and its tensors are held together
            # briefly): the optimizer keeps the tensors it is given, and a mapped file stayed open
            # after its folder was deleted (its disk space held until the run ended; on Windows
            # the folder could not be deleted at all).
            tensors = load((path / STATE_FILE).read_bytes())
        except (OSError, ValueError, SafetensorError) as exc:  # JSONDecodeError is a ValueError
            warnings.warn(f"checkpoint {path} is unusable ({first_line(exc)}); trying the "
                          "previous one", stacklevel=2)
            continue
        return path, tensors, meta
    return None


def latest_meta(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The meta of the checkpoint a resume would use, without the warnings (the resume gives them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = latest_checkpoint(folder)
    return (found[0], found[2]) if found else None


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state as (tensors, JSON-able rest)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                        rest: dict) -> None:
    """Load a saved optimizer's state (Adam's moments and step counts) into ``opt``, which keeps
    its own hyperparameters (lr, betas, weight decay, AdamW's decoupling): those the recipe now
    sets, so that a resume with a changed ``lr`` trains at it rather than at the saved one."""
    ours = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    for idx, entries in rest["scalars"].items():
        state.setdefault(int(idx), {}).update(entries)
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})
    for group, settings in zip(opt.param_groups, ours, strict=True):
        group.update(settings)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Python, numpy and torch (CPU and CUDA) RNG states as tensors + JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Set the RNG states :func:`rng_state` saved; CUDA ones only for the GPUs this machine has."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in tensors.items()
                  if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():  # a machine with fewer GPUs restores the ones it has
        torch.cuda.set_rng_state_all([state for _, state in cuda][:torch.cuda.device_count()])
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
