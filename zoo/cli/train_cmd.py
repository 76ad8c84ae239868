"""``zoo train``: train a registry entry from its recipe (training/<recipe>.toml)."""

from __future__ import annotations

import argparse
import copy
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.cli.arg_types import hand_back_overrides, named, named_path
from zoo.distributed import alike_on_every_rank
from zoo.errors import RecipeError, ZooError, printable

if TYPE_CHECKING:
    from zoo.train.recipe import Recipe


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", type=named_path("a recipe file"), metavar="FILE", help="recipe file (default: the entry's own)")
    p.add_argument("--data", nargs="+", type=named("a folder"), metavar="DIR", help="training image folders (data.train)")
    p.add_argument("--val", metavar="DIR", help="validation image folder (data.val); '' disables")
    p.add_argument("--out", type=named_path("a folder"), metavar="DIR", help="output folder (default: runs/NAME)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last intact checkpoint in --out, with the run's saved "
                        "recipe (OUT/recipe.json, else the checkpoint's; --recipe FILE to start "
                        "from a file instead) and the options and overrides given now")
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (recipe key device; default: the "
                                    "recipe's, auto: cuda when available, else cpu)")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps in all (max_steps; 0: no cap)")
    p.add_argument("--max-minutes", type=float, metavar="M", help="wall-time budget in minutes (max_minutes; 0: no cap)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


USAGE = "zoo train NAME [options] [KEY=VALUE ...]"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a model from its recipe", usage=USAGE,
        description="Train a registry entry with its recipe (training/RECIPE.toml, RECIPE being the entry's recipe, usually NAME; or --recipe). "
                    "KEY=VALUE arguments override recipe keys (dotted, TOML values: "
                    "stages.pretrain.steps=100 data.quality=[10,30]). Under torchrun the same "
                    "command trains with DistributedDataParallel.")
    _add_options(p)
    # Optional here so that a missing NAME gets its own message (argparse would also call the
    # overrides required); _parse_rest refuses it.
    p.add_argument("name", metavar="NAME", nargs="?", help="registry entry to train (see `zoo list`)")
    # Options and overrides may be mixed after NAME; they are parsed again in run().
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="KEY=VALUE", help="recipe overrides")
    p.set_defaults(func=run)


def _parse_rest(args: argparse.Namespace) -> argparse.Namespace:
    """Parse what follows NAME, options and KEY=VALUE overrides intermixed."""
    p = argparse.ArgumentParser(prog="zoo train", usage=USAGE, allow_abbrev=False)
    _add_options(p)
    p.add_argument("overrides", nargs="*")
    if args.name is None:
        hint = (" (--data takes every word after it as a folder: give NAME before --data)"
                if args.data else "")
        p.error(f"NAME is missing: the registry entry to train, see `zoo list`{hint}")
    p.parse_intermixed_args(args.rest, namespace=args)
    data, args.overrides = hand_back_overrides(args.data, args.overrides, args.rest,
                                               lambda word: "=" in word and not Path(word).exists())
    args.data = data or None
    return args


def out_dir(args: argparse.Namespace) -> Path:
    """The run folder: --out, else runs/NAME in the current folder."""
    return Path(args.out) if args.out else Path("runs") / args.name


def recipe_for(args: argparse.Namespace) -> Recipe:
    """The validated recipe: file (or, with --resume, the run's saved recipe), then CLI options,
    then KEY=VALUE overrides."""
    from zoo.registry import get_model_info
    from zoo.train.recipe import load_recipe, recipe_path, saved_recipe

    try:
        info = get_model_info(args.name)
    except KeyError as exc:
        raise RecipeError(str(exc.args[0])) from None
    options = _option_overrides(args)
    overrides = [*options, *args.overrides]
    # a resume's checkpoint replaces model.init, whose file may be gone (Trainer checks it when
    # there is no checkpoint to resume)
    saved = _saved_recipe(out_dir(args), args.name) if args.recipe is None and args.resume else None
    if saved is not None:
        return saved_recipe(saved[0], overrides, saved[1], labels=options, check_init=False)
    path = args.recipe
    if path is None:
        if info.recipe is None:
            hint = (f"; {recipe_path(args.name)} exists: set recipe={args.name!r} in its ModelInfo"
                    if recipe_path(args.name).is_file() else "")
            raise RecipeError(f"model {args.name!r} has no training recipe; pass --recipe FILE{hint}")
        path = recipe_path(info.recipe)
    return load_recipe(path, overrides, labels=options, check_init=not args.resume)


def _saved_recipe(out: Path, entry: str) -> tuple[dict[str, Any], str] | None:
    """The run's own recipe for --resume, and where it was read: ``OUT/recipe.json`` (written
    before the first step, so a run stopped before its first checkpoint has it too), or when
    that is missing, unreadable or no recipe, the one saved in the newest usable checkpoint.
    None when the run left neither (a resume then starts afresh, from the recipe file). A saved
    recipe of another entry's run is refused, as its checkpoint would be."""
    from zoo.train.checkpoint import META_FILE, latest_meta
    from zoo.train.recipe import SAVED_RECIPE, read_saved_recipe, saved_recipe

    where = str(out / SAVED_RECIPE)
    try:
        raw = read_saved_recipe(out / SAVED_RECIPE)
        trained = raw.pop("entry", entry)  # recipe.json of an earlier zoo: no entry in it
        if trained != entry:
            raise ZooError(f"{where}: the recipe of a run of {trained!r}, not {entry!r}; resume "
                           f"it with zoo train {trained}, or train {entry} into a new --out")
        saved_recipe(copy.deepcopy(raw), (), where, check_data=False, check_init=False)  # a recipe?
        return raw, where
    except RecipeError as exc:
        found = latest_meta(out / "checkpoints")
        if found is None:
            if (out / SAVED_RECIPE).exists():
                warnings.warn(f"{exc}, and no checkpoint holds a copy: starting from the "
                              "recipe file", stacklevel=2)
            return None
        where = found[0] / META_FILE
        warnings.warn(f"{exc}; resuming with the recipe saved in {where}", stacklevel=2)
        return found[1]["recipe"], str(where)


def _option_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The recipe keys that command-line options set, as KEY=VALUE overrides, each with the
    option as given (what an error about its key names)."""
    overrides: dict[str, str] = {}
    if args.data:
        overrides["data.train=[" + ", ".join(_toml_str(d) for d in args.data) + "]"] = \
            "--data " + " ".join(args.data)
    if args.val is not None:
        overrides[f"data.val={_toml_str(args.val)}"] = f"--val {args.val!r}"
    if args.device is not None:  # '' too: refused as the recipe's device would be
        overrides[f"device={_toml_str(args.device)}"] = f"--device {args.device or repr('')}"
    if args.max_steps is not None:
        overrides[f"max_steps={args.max_steps}"] = f"--max-steps {args.max_steps}"
    if args.max_minutes is not None:
        overrides[f"max_minutes={args.max_minutes}"] = f"--max-minutes {args.max_minutes:g}"
    return overrides


def _toml_str(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(args: argparse.Namespace) -> int:
    from zoo.terminal import console
    from zoo.train.loop import Trainer

    with alike_on_every_rank():  # the same words and recipe file on every rank
        recipe = recipe_for(_parse_rest(args))
    out = out_dir(args)
    trainer = Trainer(args.name, recipe, out, resume=args.resume, progress=not args.no_progress)
    exported = trainer.run()
    if exported is not None:
        console(stderr=True, soft_wrap=True, markup=False).print(export_note(args.name, exported))
    return 0


def export_note(name: str, folder: Path) -> str:
    """The run's last line: where the export went and how to load it (a probe script that
    changes the network replaces this, since ``zoo.load`` refuses its exports)."""
    return printable(f"exported {name} to {folder} (load with zoo.load('{folder}'))")
