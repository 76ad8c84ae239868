"""Training recipes: TOML data, validated completely before any work starts.

A recipe is read from ``training/<recipe>.toml`` (or ``--recipe FILE``), then dotted
``KEY=VALUE`` overrides are applied (``stages.pretrain.steps=100``), then every key is checked
against the schema below: an unknown key, a wrong type, an impossible value or a missing data
folder raises :class:`RecipeError` with a one-line message naming the key and where its value
came from (the override or command-line option that set it, else the file).
Relative data paths are relative to the current working directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zoo.errors import RecipeError, first_line
from zoo.metrics import METRICS
from zoo.metrics.lpips_weights import MIN_SIDE as LPIPS_MIN_SIDE

__all__ = ["SAVED_RECIPE", "Recipe", "Stage", "check_init_file", "init_weights_file", "load_recipe",
           "parse_override", "read_saved_recipe", "recipe_label", "recipe_path", "saved_recipe",
           "schedule_notes"]

StageKind = Literal["generator", "critic", "gan"]


@dataclass(frozen=True)
class Origins:
    """Where a recipe's keys came from, for error messages: the overrides (and command-line
    options) that set keys, each with its label, else the recipe file."""

    file: str
    overrides: tuple[tuple[str, str], ...] = ()
    """(dotted key, label) in the order applied, e.g. ("max_steps", "--max-steps -3")."""

    def __call__(self, key: str) -> str:
        """The override that set ``key``, a table above it or a key inside it (the last one
        applied), else the file."""
        for set_key, label in reversed(self.overrides):
            if _related(set_key, key):
                return label
        return self.file


def _related(a: str, b: str) -> bool:
    """Whether two dotted keys are the same, or one is inside the other (``data`` / ``data.patch``,
    ``data.train`` / ``data.train[0]``)."""
    return a == b or any(x.startswith((y + ".", y + "[")) for x, y in ((a, b), (b, a)))


@dataclass
class ModelSection:
    """The ``[model]`` table: the generator's arguments, frozen part and starting weights
    (keys: training/README.md, "Recipes")."""

    args: dict[str, Any] = field(default_factory=dict)
    """Overrides of the registry entry's architecture arguments."""
    encoder_attr: str = "encoder"
    """Attribute of the generator frozen by a stage's ``freeze_encoder_steps``."""
    init: str = ""
    """Start the generator from weights instead of random init (fine-tuning): ``"pretrained"``
    (the entry's released weights), a ``.safetensors`` file, or a folder holding
    ``model.safetensors`` (a ``zoo train`` export). Empty: from scratch."""


@dataclass
class CriticSection:
    """The ``[critic]`` table: the critic of ``critic`` and ``gan`` stages (keys:
    training/README.md, "Recipes")."""

    architecture: str = "zoo.models.critic:PatchCritic"
    """``module:Class`` of the critic (a torch module returning logits)."""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSection:
    """The ``[data]`` table: the images, patches and JPEG degradation (keys: training/README.md,
    "Recipes")."""

    train: list[str] = field(default_factory=list)
    """Folders of training images (searched recursively); relative to the working directory."""
    val: str = ""
    """Folder of validation images; empty disables validation."""
    patch: int = 64
    batch: int = 16
    """Patches per step and per process."""
    quality: list[int] = field(default_factory=lambda: [5, 40])
    """JPEG quality range [lo, hi], drawn uniformly per sample."""
    grey_fraction: float = 0.0
    """Share of samples converted to luma (the ``y`` protocol) before JPEG."""
    grey_full_range: float = 0.0
    """Share of those grey samples made full-range BT.601 grey (0..255, as black-and-white
    photographs) instead of the ``y`` protocol's 16..235 luma."""
    workers: int = 1
    cache_mb: int = 4096
    """Keep decoded images in memory when they fit in this many MB."""


@dataclass
class ValidationSection:
    """The ``[validation]`` table: how often and how ``data.val`` is scored (keys:
    training/README.md, "Recipes")."""

    every: int = 500
    qualities: list[int] = field(default_factory=lambda: [10, 30])
    crop: int = 256
    """Centre crop of each validation image (0 = full image)."""
    max_images: int = 0
    """Use at most this many validation images (0 = all)."""
    metrics: list[str] = field(default_factory=lambda: ["psnr", "ssim", "lpips_alex"])


@dataclass
class CheckpointSection:
    """The ``[checkpoint]`` table: how often to checkpoint and how many to keep (keys:
    training/README.md, "Recipes")."""

    every: int = 500
    keep: int = 3


@dataclass
class SelectSection:
    """The ``[select]`` table: which validation picks the exported generator (keys:
    training/README.md, "Recipes")."""

    metric: str = "lpips_alex"
    mode: Literal["min", "max"] = "min"
    stages: list[str] = field(default_factory=list)
    """Stages whose validations compete for export (empty = the last stage)."""
    not_worse_than_input: list[str] = field(default_factory=list)
    """Metrics on which a checkpoint must not score worse than the JPEG input itself (mean over
    the validation qualities) to be exported, e.g. ``["psnr"]`` for a perceptual model."""


@dataclass
class Stage:
    """One ``[stages.NAME]`` table (``name`` is NAME, set by the loader); stages run in file order
    (keys: training/README.md, "Recipes")."""

    kind: StageKind
    steps: int
    max_minutes: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    """Weights of ``l1``, ``lpips`` and ``adversarial`` (generator side)."""
    lpips_net: Literal["vgg", "alex"] = "vgg"
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    final_lr_ratio: float = 0.0
    critic_lr_mult: float = 1.0
    """Critic lr = ``lr * critic_lr_mult`` (``critic`` and ``gan`` stages)."""
    switching: Literal["fixed", "threshold"] = "fixed"
    critic_steps: int = 1
    generator_steps: int = 1
    critic_threshold: float = 0.65
    """Threshold switching: train the critic until its loss is below this, then the generator."""
    max_critic_steps: int = 20
    """Threshold switching: hand over to the generator after at most this many critic steps."""
    freeze_encoder_steps: int = 0
    ema_decay: float = -1.0
    """EMA decay in this stage (-1 = the recipe's ``ema_decay``)."""
    grad_clip: float = 0.0
    name: str = ""


@dataclass
class Recipe:
    """A whole recipe: the top-level keys, a dataclass per table, and the stages in order (keys:
    training/README.md, "Recipes")."""

    stages: dict[str, Stage]
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool = True
    max_steps: int = 0
    """Cap on the total number of steps over all stages (0 = none)."""
    max_minutes: float = 0.0
    """Wall-time cap over the whole run, resumes included (0 = none)."""
    log_every: int = 10
    ema_decay: float = 0.999
    model: ModelSection = field(default_factory=ModelSection)
    critic: CriticSection = field(default_factory=CriticSection)
    data: DataSection = field(default_factory=DataSection)
    validation: ValidationSection = field(default_factory=ValidationSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    select: SelectSection = field(default_factory=SelectSection)
    source: str = ""
    """The file the recipe came from (set by the loader, not by the TOML)."""
    origins: Origins | None = field(default=None, repr=False, compare=False)
    """Where each key came from (set by the loader; not saved)."""

    @property
    def total_steps(self) -> int:
        """The stages' steps together, capped at ``max_steps`` when it is set (time caps aside)."""
        total = sum(s.steps for s in self.stages.values())
        return min(total, self.max_steps) if self.max_steps else total

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data, as ``OUT/recipe.json`` and checkpoints save it (``origins`` left out)."""
        saved = dataclasses.asdict(self)
        del saved["origins"]
        return saved

    def origin(self, key: str) -> str:
        """What to name in an error about ``key``: the override or option that set it, else the
        recipe file."""
        return self.origins(key) if self.origins is not None else self.source


# --- loading ------------------------------------------------------------------------------------

SAVED_RECIPE = "recipe.json"
"""The resolved recipe a run writes into its output folder (``--resume`` continues from it)."""


def recipe_path(name: str) -> Path:
    """``training/<name>.toml`` in the checkout or the wheel."""
    from zoo.resources import resource_dir

    return resource_dir("training") / f"{name}.toml"


def recipe_label(source: str) -> str:
    """How an export names the recipe file it was trained from, without the local path:
    ``training/NAME.toml`` for the zoo's own recipes, else the file's name."""
    from zoo.resources import resource_dir

    path = Path(source)
    try:
        own = path.resolve().parent == resource_dir("training").resolve()
    except OSError:  # FileNotFoundError too: no recipe folder next to the package
        own = False
    return f"training/{path.name}" if own else path.name


def parse_override(text: str) -> tuple[str, Any]:
    """``a.b=VALUE`` -> (``a.b``, value); VALUE is a TOML value, or a bare string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RecipeError(f"override {text!r}: expected KEY=VALUE (e.g. stages.pretrain.steps=100)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def _apply_override(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    """Set dotted ``key`` in ``raw``; errors name ``source`` (the override)."""
    node = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RecipeError(f"{source}: {'.'.join(parts[:i + 1])} is not a table")
        node = child
    node[parts[-1]] = value


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                *, check_data: bool = True, labels: Mapping[str, str] | None = None,
                check_init: bool = True) -> Recipe:
    """Read, override and validate a recipe; raise :class:`RecipeError` on any problem.

    An error about a key that an override set names that override (``override max_steps=-1``),
    or its entry in ``labels`` (override text -> label, e.g. the command-line option it came
    from); any other names the file."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from None
    return _finish(raw, overrides, str(path), str(path), check_data, labels, check_init)


def read_saved_recipe(path: str | Path) -> dict[str, Any]:
    """The resolved recipe a run saved (``OUT/recipe.json``), as parsed JSON; RecipeError when
    it is missing or unreadable."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        reason = getattr(exc, "strerror", None) or first_line(exc)
        raise RecipeError(f"{path}: not a readable saved recipe ({reason})") from None
    return raw


def saved_recipe(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], where: str,
                 *, check_data: bool = True, labels: Mapping[str, str] | None = None,
                 check_init: bool = True) -> Recipe:
    """A recipe as a run saved it (``Recipe.to_dict()``, in ``OUT/recipe.json`` or a checkpoint's
    meta.json), with ``overrides`` on top; errors name ``where`` or the override (as in
    :func:`load_recipe`).

    ``--resume`` continues from it, so that a run goes on with the settings it was started
    with, whatever its recipe file says now. ``source`` stays the file the run started from.
    """
    try:
        source = str(raw.pop("source", where))
        for table in raw.get("stages", {}).values():
            table.pop("name", None)
    except AttributeError as exc:
        raise RecipeError(f"{where}: not a saved recipe ({exc})") from None
    return _finish(raw, overrides, where, source, check_data, labels, check_init)


def _finish(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], where: str, source: str,
            check_data: bool, labels: Mapping[str, str] | None, check_init: bool = True) -> Recipe:
    """Apply the overrides to a parsed recipe, build it and validate it (errors name ``where``
    or the override that set the key)."""
    applied: list[tuple[str, str]] = []
    for text in overrides:
        key, value = parse_override(text)
        label = (labels or {}).get(text, f"override {text}")
        _apply_override(raw, key, value, source=label)
        applied.append((key, label))
    origins = Origins(where, tuple(applied))
    recipe = _build_recipe(raw, origins)
    recipe.source, recipe.origins = source, origins
    _check_values(recipe, check_data, check_init)
    return recipe


def _build_recipe(raw: dict[str, Any], src: Origins) -> Recipe:
    stages_raw = raw.pop("stages", None)
    if not isinstance(stages_raw, dict) or not stages_raw:
        _build(Recipe, {**raw, "stages": {}}, "", src)  # a misspelt [stage.x] is an unknown key
        raise RecipeError(f"{src('stages')}: needs at least one [stages.NAME] table")
    stages = {}
    for name, table in stages_raw.items():
        if not isinstance(table, dict):
            raise RecipeError(f"{src(f'stages.{name}')}: stages.{name} must be a table")
        if "kind" not in table:  # most often a misspelt stage in an override
            known = ", ".join(n for n, t in stages_raw.items() if isinstance(t, dict) and "kind" in t)
            raise RecipeError(f"{src(f'stages.{name}')}: missing key 'stages.{name}.kind' (stages.{name} is not one "
                              f"of the recipe's stages, {known}; a new stage needs its kind)")
        stage = _build(Stage, table, f"stages.{name}", src)
        stage.name = name
        stages[name] = stage
    recipe = _build(Recipe, {**raw, "stages": {}}, "", src)
    recipe.stages = stages
    return recipe


_NOT_KEYS = {"name", "source", "origins"}
"""Fields the loader sets, never the recipe."""


def _build(cls: type, table: dict[str, Any], where: str, src: Origins) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in table:
        if key not in names or key in _NOT_KEYS:
            raise RecipeError(f"{src(_join(where, key))}: unknown key {_join(where, key)!r} "
                              f"(known: {', '.join(sorted(names - _NOT_KEYS))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(f"{src(_join(where, f.name))}: missing key {_join(where, f.name)!r}")
            continue
        value = table[f.name]
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise RecipeError(f"{src(_join(where, f.name))}: {_join(where, f.name)} must be a table")
            kwargs[f.name] = _build(hint, value, _join(where, f.name), src)
        else:
            kwargs[f.name] = _coerce(value, hint, _join(where, f.name), src)
    return cls(**kwargs)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _coerce(value: Any, hint: Any, key: str, src: Origins) -> Any:
    """Check ``value`` against a type hint (ints are accepted where floats are expected)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    def fail(expected: str) -> RecipeError:
        return RecipeError(f"{src(key)}: {key} must be {expected}, got {value!r}")

    if hint is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise fail(f"a list of {args[0].__name__}")
        return [_coerce(v, args[0], f"{key}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a table")
        return {k: _coerce(v, args[1], f"{key}.{k}", src) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):  # pragma: no cover - not used by the schema
        raise fail(str(hint))
    raise TypeError(f"unsupported schema type {hint!r} for {key}")


def init_weights_file(init: str) -> Path:
    """The weights file named by ``model.init`` (a file, or a folder's ``model.safetensors``)."""
    path = Path(init).expanduser()
    return path / "model.safetensors" if path.is_dir() else path


def check_init_file(r: Recipe) -> None:
    """Refuse a ``model.init`` that names no weights file (``pretrained`` and none pass)."""
    if r.model.init and r.model.init != "pretrained" and not init_weights_file(r.model.init).is_file():
        raise RecipeError(f"{r.origin('model.init')}: model.init {r.model.init!r} is neither "
                          "'pretrained' nor a .safetensors file or a folder with model.safetensors")


_LOSSES = {"generator": {"l1", "lpips"}, "gan": {"l1", "lpips", "adversarial"}, "critic": set()}


def _not_a_folder(path: str) -> str:
    """Why a data folder of the recipe cannot be used (it is not a folder)."""
    if Path(path).expanduser().exists():
        return f"{path!r} is a file, not a folder of images"
    return f"folder {path!r} does not exist"


def _from_file(r: Recipe, key: str, folder: str, remedy: str) -> str:
    """``remedy`` when the recipe file itself set ``key`` (an option or override names itself)."""
    if r.origin(key) != r.source:
        return ""
    relative = "" if Path(folder).expanduser().is_absolute() else f" (relative to {Path.cwd()})"
    return f"{relative}; {remedy}"


def schedule_notes(r: Recipe) -> list[str]:
    """What a valid recipe does that it does not read as: a stage that warms up for more steps
    than it has (a tiny trial run, say) never reaches its lr."""
    return [f"stages.{name}.warmup_steps={s.warmup_steps} is more than its steps={s.steps}: its "
            f"lr rises for the whole stage and ends at {s.steps / s.warmup_steps:.0%} of "
            f"stages.{name}.lr" for name, s in r.stages.items() if s.warmup_steps > s.steps > 0]


def _check_values(r: Recipe, check_data: bool, check_init: bool = True) -> None:
    """Refuse what cannot train; ``check_init`` False: a resume, whose checkpoint replaces
    ``model.init`` (an earlier run's export may have been moved since; a resume that finds no
    checkpoint checks it as it starts from it)."""
    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise RecipeError(f"{r.origin(key)}: {key} {message}")

    _check_finite(r)
    d = r.data
    need(d.patch >= 8 and d.patch % 8 == 0, "data.patch", f"must be a positive multiple of 8, got {d.patch}")
    need(d.batch >= 1, "data.batch", "must be at least 1")
    need(len(d.quality) == 2 and 1 <= d.quality[0] <= d.quality[1] <= 100, "data.quality",
         f"must be [lo, hi] with 1 <= lo <= hi <= 100, got {d.quality}")
    need(0.0 <= d.grey_fraction <= 1.0, "data.grey_fraction", "must be in [0, 1]")
    need(0.0 <= d.grey_full_range <= 1.0, "data.grey_full_range", "must be in [0, 1]")
    need(d.workers >= 0, "data.workers", "must be >= 0")
    need(d.cache_mb >= 0, "data.cache_mb", f"must be >= 0 (0: read images from disk), got {d.cache_mb}")
    need(bool(d.train), "data.train", "is empty: give training folders in the recipe or with --data")
    v = r.validation
    need(all(1 <= q <= 100 for q in v.qualities) and bool(v.qualities), "validation.qualities",
         "must be qualities in 1..100")
    need(v.every >= 1, "validation.every", "must be at least 1")
    need(v.max_images >= 0, "validation.max_images", f"must be >= 0 (0: all), got {v.max_images}")
    need(v.crop == 0 or (v.crop >= 8 and v.crop % 8 == 0), "validation.crop",
         "must be 0 or a positive multiple of 8")
    for m in v.metrics:
        need(m in METRICS, "validation.metrics", f"has unknown metric {m!r} (known: {sorted(METRICS)})")
    need(r.select.metric in v.metrics, "select.metric", f"{r.select.metric!r} is not in validation.metrics")
    for m in r.select.not_worse_than_input:
        need(m in v.metrics, "select.not_worse_than_input", f"{m!r} is not in validation.metrics")
    for stage_name in r.select.stages:
        need(stage_name in r.stages, "select.stages", f"names unknown stage {stage_name!r}")
    need(r.checkpoint.every >= 1 and r.checkpoint.keep >= 1, "checkpoint", "every and keep must be >= 1")
    need(0.0 <= r.ema_decay < 1.0, "ema_decay", "must be in [0, 1)")
    # numpy's and torch's generators both take this range (a negative seed fails at step 1).
    need(0 <= r.seed < 2**32, "seed", f"must be an integer in 0..{2**32 - 1}, got {r.seed}")
    need(r.log_every >= 1, "log_every", f"must be at least 1, got {r.log_every}")
    need(r.max_steps >= 0, "max_steps", f"must be >= 0 (0: no cap), got {r.max_steps}")
    need(r.max_minutes >= 0, "max_minutes", f"must be >= 0 (0: no cap), got {r.max_minutes}")
    need(":" in r.critic.architecture, "critic.architecture", "must be 'module:Class'")
    for name, s in r.stages.items():
        key = f"stages.{name}"
        need(s.steps >= 0, f"{key}.steps", "must be >= 0")
        need(s.max_minutes >= 0, f"{key}.max_minutes", "must be >= 0 (0: no cap)")
        need(s.lr > 0, f"{key}.lr", "must be > 0")
        need(s.weight_decay >= 0, f"{key}.weight_decay", f"must be >= 0, got {s.weight_decay}")
        need(0.0 <= s.final_lr_ratio <= 1.0, f"{key}.final_lr_ratio",
             f"must be in [0, 1] (the lr at the end of the cosine, as a share of lr), got "
             f"{s.final_lr_ratio}")
        need(s.critic_lr_mult > 0, f"{key}.critic_lr_mult", f"must be > 0, got {s.critic_lr_mult}")
        need(s.grad_clip >= 0, f"{key}.grad_clip", f"must be >= 0 (0: no clipping), got {s.grad_clip}")
        need(len(s.betas) == 2 and all(0 <= b < 1 for b in s.betas), f"{key}.betas",
             "must be two numbers in [0, 1)")
        for loss, weight in s.losses.items():
            need(loss in _LOSSES[s.kind], f"{key}.losses", f"has {loss!r}, not a loss of a {s.kind} stage "
                 f"(allowed: {sorted(_LOSSES[s.kind]) or 'none'})")
            need(weight >= 0, f"{key}.losses.{loss}", "must be >= 0")
        if s.kind != "critic":
            need(any(w > 0 for w in s.losses.values()), f"{key}.losses", "needs a positive weight")
        if s.losses.get("lpips", 0) > 0:
            need(d.patch >= LPIPS_MIN_SIDE[s.lpips_net], "data.patch",
                 f"must be at least {LPIPS_MIN_SIDE[s.lpips_net]} for the LPIPS-{s.lpips_net} loss of "
                 f"{key}, got {d.patch}")
        need(min(s.critic_steps, s.generator_steps, s.max_critic_steps) >= 1, key,
             "critic_steps, generator_steps and max_critic_steps must be >= 1")
        need(s.ema_decay == -1.0 or 0.0 <= s.ema_decay < 1.0, f"{key}.ema_decay", "must be -1 or in [0, 1)")
        need(s.warmup_steps >= 0 and s.freeze_encoder_steps >= 0, key, "step counts must be >= 0")
    if check_init:
        check_init_file(r)
    if check_data:
        _check_data_folders(r)


def _check_finite(r: Recipe) -> None:
    """Refuse an infinite number anywhere in the recipe (``lr=inf`` passed ``lr > 0`` and
    diverged at the first step, a run folder written; NaN fails every bound already)."""
    def walk(value: Any, key: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise RecipeError(f"{r.origin(key)}: {key} must be a finite number, got {value}")
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{key}.{name}" if key else str(name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, key)

    walk(r.to_dict(), "")


def _check_data_folders(r: Recipe) -> None:
    """Refuse, in one error naming every one, data folders that are not there. The shipped
    recipes name the project's shared data, relative to the repository's root: run elsewhere,
    or from an installed package (where that path means nothing, even when some folder of that
    name happens to be there), the user's own folders are the way on."""
    d = r.data
    problems = []
    remedy = "give the training images with --data DIR"
    for i, folder in enumerate(d.train):
        problems.append(_data_folder_problem(r, f"data.train[{i}]", folder, remedy))
    if d.val:
        problems.append(_data_folder_problem(r, "data.val", d.val, "give validation images with "
                                             "--val DIR, or --val '' to train without validation"))
    problems = [problem for problem in problems if problem]
    if problems:
        raise RecipeError("; ".join(problems))


def _data_folder_problem(r: Recipe, key: str, folder: str, remedy: str) -> str | None:
    """Why ``folder`` (``key``'s value) cannot be used, as ``ORIGIN: KEY ...``; None if it can."""
    from zoo.resources import is_packaged

    if (r.origin(key) == r.source and is_packaged(r.source)
            and not Path(folder).expanduser().is_absolute()):
        return (f"{r.origin(key)}: {key} {folder!r} is a folder of the zoo's own repository, "
                f"which an installed zoo does not have; {remedy}")
    if Path(folder).expanduser().is_dir():
        return None
    return f"{r.origin(key)}: {key} {_not_a_folder(folder)}{_from_file(r, key, folder, remedy)}"
