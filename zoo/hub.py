"""Hub repos of zoo models: ``config.json`` + ``model.safetensors`` + a generated model card
(:mod:`zoo.model_card`).

``save_pretrained`` writes such a folder, ``load_pretrained`` rebuilds a model from one (local or
on the Hub, strictly), checking it against its weights first (:mod:`zoo.weight_fit`), and
``push_to_hub`` (:mod:`zoo.hub_push`, named here too) uploads one through huggingface_hub's own API.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo.arguments import check_arguments, resolved_arguments
from zoo.atomic import atomic_write
from zoo.errors import WeightsError, ZooError, first_few, first_line
from zoo.model_card import TRAINING_FILE, check_license, entry_license, model_card
from zoo.models.base import ModelWrapper
from zoo.registry import InputConventions, ModelInfo, architecture_class
from zoo.pretrained import holds_released_weights, hub_file
from zoo.weight_fit import check_fits, misfit
from zoo.weights import REDOWNLOAD, load_weights, save_weights

if TYPE_CHECKING:
    from zoo.models.base import Restorer

__all__ = ["CARD_FILE", "CONFIG_FILE", "TRAINING_FILE", "WEIGHTS_FILE", "build_from_config",
           "check_fits", "check_publishable", "check_repo_id", "check_save_folder", "check_token",
           "hub_reason", "load_pretrained", "model_card", "push_to_hub", "read_config",
           "read_training", "save_pretrained"]  # noqa: F822  (push names: __getattr__ below)

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
SAVED_FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, TRAINING_FILE})
"""All that ``save_pretrained`` writes: a folder holding anything else is not one it saved."""


def check_repo_id(repo_id: str, shown_as: str | None = None, expected: str = "ORG/NAME") -> str:
    """``repo_id`` if it is a Hub model repo ``ORG/NAME`` by huggingface_hub's own rule, else a
    one-line ZooError naming ``shown_as`` (the value as the user gave it; the id by default)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    reason = ""
    if repo_id.count("/") == 1:  # huggingface_hub also takes a bare NAME; the zoo needs the ORG
        try:
            validate_repo_id(repo_id)
            return repo_id
        except HFValidationError as exc:
            reason = f" ({first_line(exc)})"
    raise ZooError(f"{shown_as or repr(repo_id)}: expected {expected}{reason}")


def check_publishable(model: Restorer) -> None:
    """Refuse, in one line, a model whose Hub repo would hold no weights of its own."""
    if isinstance(model, ModelWrapper):
        raise ZooError(f"{model.description}: a way of running a model, not weights of its "
                       f"own; save {model.innermost.name} itself")
    if not model.state_dict():
        raise ZooError(f"{model.name} has no weights to publish: it has no parameters (weights: "
                       "none needed) and loads by its registry name in any zoo")


def _info_of(model: Restorer) -> ModelInfo:
    """The model's registry record, or a minimal one for a model built outside the registry."""
    if model.info is not None:
        return model.info
    name = type(model).__name__
    return ModelInfo(name=name.lower(), description=f"A {name} restorer.", architecture=name,
                     arch_args=model.config,
                     inputs=InputConventions(pad_multiple=getattr(model, "pad_multiple", 1)))


def _config(model: Restorer, info: ModelInfo, license_id: str) -> dict[str, Any]:
    from zoo import __version__

    return {
        "architecture": type(model).__name__,
        "arguments": model.config,
        "name": info.name,
        "description": info.description,
        "zoo_version": __version__,
        # The built network's own padding: a recipe's model.args may change its depth.
        "input_conventions": {**asdict(info.inputs), "pad_multiple": model.pad_multiple},
        "license": license_id,
    }


def license_of(model: Restorer) -> str:
    """The license a model's weights are published under: the one its saved ``config.json``
    named (a model loaded from a folder or the Hub keeps it when published again), else its
    registry entry's, else the zoo's own."""
    return getattr(model, "license", None) or entry_license(_info_of(model))


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON null): ``NaN`` is not JSON, and other
    readers of ``training.json`` refuse it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _absolute(text: str) -> bool:
    return text.startswith(("/", "\\\\", "~")) or (len(text) > 2 and text[1] == ":"
                                                   and text[2] in "/\\")


def local_paths(value: Any) -> list[str]:
    """The absolute paths (POSIX or Windows) among a ``training.json``'s strings, whole or
    inside one (``data.train: ['/a'] -> ['/b']``), in order, once each: a run records its data
    folders as it read them, and publishing shows them to all."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, str):
        return [value] if _absolute(value) else [
            token for token in dict.fromkeys(re.findall(r"[^\s'\"\[\](),]+", value))
            if len(token) > 1 and _absolute(token)]
    found: list[str] = []
    if isinstance(value, (list, tuple)):
        for item in value:
            found += [p for p in local_paths(item) if p not in found]
    return found


def read_training(folder: str | Path) -> dict[str, Any] | None:
    """A saved folder's ``training.json``, or None when it has none (or is not a folder)."""
    path = Path(folder) / TRAINING_FILE
    if not path.is_file():
        return None
    try:
        training = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ZooError(f"{path} is not readable JSON ({exc})") from None
    return training if isinstance(training, dict) else None


def save_pretrained(model: Restorer, folder: str | Path, *, repo_id: str | None = None,
                    dtype: torch.dtype = torch.float16,
                    training: dict[str, Any] | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``README.md`` (and ``training.json``
    when ``training`` is given) into ``folder``: a new or empty one, or one that a save
    wrote (:func:`check_save_folder`), whose files are replaced."""
    check_publishable(model)
    if repo_id is not None:
        check_repo_id(repo_id)
    folder = Path(folder)
    check_save_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # The arguments the model was built with (a recipe's model.args may differ from the entry's).
    entry = _info_of(model)
    # The description says so where the arguments differ: in config.json, so that the note
    # stays with a model loaded and saved again, and in the card, as plain text like the rest.
    info = replace(entry, arch_args=model.config,
                   description=entry.description + _other_arguments(model, entry))
    license_id = check_license(license_of(model),  # before any file is written
                               str(getattr(model, "weights_source", None) or model.name))
    _remove_leftovers(folder)
    save_weights(model, folder / WEIGHTS_FILE, dtype=dtype)  # the step that can refuse
    _write_text(folder / CONFIG_FILE, json.dumps(_config(model, info, license_id), indent=2) + "\n")
    if training is not None:
        _write_text(folder / TRAINING_FILE,
                    json.dumps(_finite(training), indent=2, allow_nan=False) + "\n")
    else:  # an earlier save's run record in a reused folder would describe another model
        (folder / TRAINING_FILE).unlink(missing_ok=True)
    card = model_card(info, repo_id=repo_id, num_parameters=model.num_parameters(),
                      training=training, released=holds_released_weights(model),
                      license_id=license_id)
    _write_text(folder / CARD_FILE, str(card))
    return folder


def _write_text(path: Path, text: str) -> None:
    """``text`` as the file ``path``, written atomically: a symbolic link there is replaced,
    not written through."""
    atomic_write(path, lambda handle: handle.write(text))


def check_save_folder(folder: str | Path) -> None:
    """Refuse, in one line, a folder that :func:`save_pretrained` would not write into: one
    that holds anything but the files of a model saved there before (a ``config.json`` of
    the zoo's, and the others a save writes, as plain files), whose files it would replace
    or delete."""
    folder = Path(folder)
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    if not entries:  # a new or empty folder (a file in the way: mkdir's error names it)
        return
    others = [why for path in entries if (why := _unsaved(path))]
    config = folder / CONFIG_FILE
    why = (f"it holds {first_few(others)}" if others
           else f"it holds no {CONFIG_FILE}" if not config.exists()
           else None if _is_zoo_config(config) else f"its {CONFIG_FILE} is not the zoo's")
    if why:
        raise ZooError(f"{folder} is not empty and not a folder a zoo model was saved in ({why}); "
                       "save into a new or empty folder (a save replaces README.md and "
                       "config.json and deletes training.json)")


def _unsaved(path: Path) -> str:
    """How ``path`` in a folder is not a file that a save writes there (or a save killed while
    writing one left); empty if it is one."""
    if _LEFTOVER.fullmatch(path.name) and path.is_file() and not path.is_symlink():
        return ""
    if path.name not in SAVED_FILES:
        return path.name
    if path.is_symlink():
        return f"{path.name} (a symbolic link)"
    return "" if path.is_file() else f"{path.name} (not a plain file)"


_LEFTOVER = re.compile(r"\.(?:" + "|".join(re.escape(name) for name in sorted(SAVED_FILES))
                       + r")\.[^/]+\.tmp")
"""A temporary file that ``atomic_write`` left, writing one of a save's files, when killed."""


def _remove_leftovers(folder: Path) -> None:
    """Delete the temporary files of earlier saves killed while they wrote."""
    for path in folder.iterdir():
        if _LEFTOVER.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def _is_zoo_config(path: Path) -> bool:
    """Whether ``path`` is a config.json that :func:`save_pretrained` wrote."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and {"architecture", "zoo_version"} <= set(config)


def _other_arguments(model: Restorer, entry: ModelInfo) -> str:
    """A sentence for the card when ``model`` was built with other arguments than its entry's
    (a `zoo train` run with ``model.args`` overrides), whose description would not fit it."""
    own = resolved_arguments(type(model), dict(model.config))
    registered = resolved_arguments(type(model), dict(entry.arch_args))
    changed = [f"{name} {json.dumps(own[name])} (the entry: {json.dumps(registered.get(name))})"
               for name in sorted(own) if own[name] != registered.get(name)]
    if not changed:
        return ""
    return (f" This model was built with other arguments than the {entry.name} entry's, so "
            f"the description above does not fit it in full: {'; '.join(changed)}.")


def read_config(path: Path) -> dict[str, Any]:
    """A saved model's config.json as a dict with an 'architecture', or a one-line ZooError."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
        if "architecture" not in config:
            raise ValueError("no 'architecture' field")
        if not isinstance(config["architecture"], str):
            raise ValueError(f"'architecture' is {json.dumps(config['architecture'])}, not a name")
    except (OSError, ValueError, RecursionError) as exc:
        raise ZooError(f"{path} is not a zoo config.json ({type(exc).__name__}: "
                       f"{first_line(exc)})") from None
    return config


def saved_training(spec: str) -> dict[str, Any] | None:
    """The ``training.json`` published with a saved model (a folder, a .safetensors file with
    its config beside it, or ``hf-hub:ORG/NAME[@REV]``, fetched when the repo has one), so that
    publishing it again keeps its run record; None when it has none."""
    from zoo.loading import HUB_PREFIX, parse_hub_id

    if spec.startswith(HUB_PREFIX):
        repo_id, revision = parse_hub_id(spec)
        found = hub_file(repo_id, TRAINING_FILE, revision or "main", [])
        return read_training(found.path.parent) if found is not None and found.path else None
    path = Path(spec)
    return read_training(path if path.is_dir() else path.parent)


def _fetch(repo_id: str, revision: str | None) -> tuple[Path, Path, str]:
    """Download (or find in the cache) a Hub repo's config and weights."""
    from huggingface_hub import constants  # its reading of HF_HUB_OFFLINE ("0" is not offline)

    rev = revision or "main"
    files = []
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        misses: list[str] = []
        found = hub_file(repo_id, name, rev, misses)
        if found is None:
            offline = " (or unset HF_HUB_OFFLINE)" if constants.is_offline_mode() else ""
            why = misses[-1] if misses else "not found"
            raise WeightsError(f"cannot get {name} of Hub repo {repo_id}@{rev} ({why}): "
                               f"{_fetch_advice(why, name, rev)}{offline}")
        files.append(found)
    assert files[0].path is not None and files[1].path is not None
    return files[0].path, files[1].path, str(files[1])


def _fetch_advice(why: str, name: str, revision: str) -> str:
    """What to do about a Hub file that could not be had, from the Hub's answer."""
    from zoo.pretrained import HUB_ERROR_CODES

    advice = {"RepoNotFound": "check the repo id, or log in (`hf auth login` or HF_TOKEN) with "
                              "access to it",
              "RevisionNotFound": f"check the revision {revision!r} (after the @)",
              "EntryNotFound": f"the repo holds no {name}: it is not a zoo model (config.json + "
                               "model.safetensors)",
              "GatedRepo": "ask for access on the Hub, then log in (`hf auth login` or HF_TOKEN)"}
    return next((text for code, text in advice.items() if why.endswith(HUB_ERROR_CODES[code])),
                "check the repo id, that it holds a zoo model, and your connection")


def load_pretrained(folder_or_repo_id: str | Path, revision: str | None = None) -> Restorer:
    """Rebuild a model from a local folder or a Hub repo id holding config.json + model.safetensors.

    Weights are loaded strictly; the model's ``info`` is built from the config. The model is in
    eval mode, as :func:`zoo.load` gives it (training mode would update a batch norm's running
    statistics on every direct call).
    """
    local = Path(folder_or_repo_id)
    remedy = REDOWNLOAD
    if local.is_dir():
        config_path, weights_path, source = local / CONFIG_FILE, local / WEIGHTS_FILE, str(local)
        if not config_path.is_file():
            raise ZooError(f"{local} has no {CONFIG_FILE}; it is not a saved zoo model")
    else:
        repo_id = check_repo_id(str(folder_or_repo_id),
                                expected="a saved folder or a Hub repo id ORG/NAME")
        config_path, weights_path, source = _fetch(repo_id, revision)
        # Sent whole (checked against the Hub's sha256 where it names one): a damaged file is the
        # repo's own, which deleting and downloading again would bring back.
        remedy = (f"that is the file {repo_id}@{revision or 'main'} holds, as the Hub sent it: ask "
                  f"the repo's owner, or load another revision (hf-hub:{repo_id}@REVISION)")
    with torch.random.fork_rng(devices=[]):  # the caller's random numbers stay as they were
        return build_from_config(config_path, weights_path, source=source, remedy=remedy).eval()


def build_from_config(config_path: Path, weights_path: Path, *, source: str,
                      remedy: str = REDOWNLOAD) -> Restorer:
    """Build the architecture a ``config.json`` names and load ``weights_path`` into it, strictly
    (``remedy`` ends the messages about a damaged weights file)."""
    config = read_config(config_path)
    try:
        cls = architecture_class(config["architecture"])
    except KeyError as exc:
        raise ZooError(f"{config_path}: {exc.args[0]}; import the module that registers it first "
                       "(a model added in its own file), or a newer zoo may be needed") from None
    arguments = config.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ZooError(f"{config_path}: 'arguments' must be an object of keyword arguments")
    excluded = sorted(set(arguments) & cls.config_excludes)
    if excluded:  # ARNet's encoder_pretrained would download ImageNet weights before any check
        raise ZooError(f"{config_path}: 'arguments' sets {', '.join(excluded)}, which chooses how "
                       f"{cls.__name__} starts training, not what it is (the zoo never saves "
                       "it: the weights file replaces it); remove it")
    try:
        check_arguments(cls, arguments)
    except TypeError as exc:
        raise ZooError(f"{config_path}: arguments do not fit {cls.__name__} ({exc})") from None
    inputs = _input_conventions(config.get("input_conventions"), config_path)
    license_id = _license(config.get("license"), config_path)
    check_fits(cls, arguments, config_path, weights_path, inputs.pad_multiple, remedy)
    model = _build(cls, arguments, config_path)
    model.info = ModelInfo(
        name=str(config.get("name") or config["architecture"]),
        description=str(config.get("description") or ""),
        architecture=config["architecture"], arch_args=arguments, inputs=inputs)
    load_weights(model, weights_path, remedy=remedy)
    model.weights_source = source
    if license_id:
        model.license = license_id
    log.info("loaded %s from %s", model.info.name, source)
    return model


def _license(value: object, config_path: Path) -> str | None:
    """A config.json's license (lower case), checked: the model card pastes it as it is."""
    if not isinstance(value, str) or not value.strip():
        return None
    return check_license(value.strip(), str(config_path)).lower()


def _build(cls: type[Restorer], arguments: dict[str, Any], config_path: Path) -> Restorer:
    try:
        return cls(**arguments)
    except Exception as exc:  # noqa: BLE001  (any argument a publisher wrote must fail in one line)
        raise ZooError(misfit(cls, config_path, exc)) from None


def _input_conventions(value: object, config_path: Path) -> InputConventions:
    """``input_conventions`` of a config.json, checked field by field."""
    value = {} if value is None else value
    where = f"{config_path}: input_conventions"
    if not isinstance(value, dict):
        raise ZooError(f"{where} must be an object")
    unknown = sorted(set(value) - {"color", "value_range", "pad_multiple"})
    if unknown:
        raise ZooError(f"{where}: unknown keys {unknown} (known: color, value_range, pad_multiple)")
    color = value.get("color", "rgb")
    value_range = value.get("value_range", [0.0, 1.0])
    pad_multiple = value.get("pad_multiple", 1)
    # What the zoo feeds every model: RGB in [0, 1]; a config asking for anything else is refused
    # rather than fed the wrong input.
    if color != "rgb":
        raise ZooError(f"{where}: color {color!r} is not supported (the zoo feeds models RGB)")
    if value_range != [0, 1]:  # 0.0 == 0 and 1.0 == 1: [0.0, 1.0] passes too
        raise ZooError(f"{where}: value_range must be [0, 1] (the zoo feeds models values in "
                       f"[0, 1]), got {value_range!r}")
    if not isinstance(pad_multiple, int) or isinstance(pad_multiple, bool) or pad_multiple < 1:
        raise ZooError(f"{where}: pad_multiple must be a positive integer, got {pad_multiple!r}")
    return InputConventions(pad_multiple=pad_multiple)  # RGB in [0, 1]: the only ones accepted


_PUSH_NAMES = frozenset({"check_token", "hub_reason", "push_to_hub"})


def __getattr__(name: str) -> Any:
    """``zoo.hub.push_to_hub`` and its checks, the documented names, from :mod:`zoo.hub_push`
    (imported when first asked for: it imports this module)."""
    if name in _PUSH_NAMES:
        from zoo import hub_push

        return getattr(hub_push, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
