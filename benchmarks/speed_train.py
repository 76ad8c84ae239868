"""Training throughput: patches/s per entry and stage, data loading vs compute.

For each trainable entry (or those named) and each stage of its shipped recipe, this times
(a) the data loader alone (JPEG on the fly, the recipe's worker count) and (b) the training
step alone on one fixed batch, and reports which of the two limits the run. Uses the recipe's
patch size, batch and precision; CPU by default, ``--device cuda`` on a GPU. A GAN stage's
critic and generator steps are timed apart and mixed in the recipe's ``critic_steps:
generator_steps``; under threshold switching, where the critic's loss sets the mix, its step
rate and minutes are the range between 1 and ``max_critic_steps`` critic steps per cycle, and
the estimate (and ``--fit-minutes``) takes the slower end.

    python benchmarks/speed_train.py --data ../shared/data/train [--models unet-l1] [--steps 10]
                                     [--rounds 3]

Recipe overrides (``KEY=VALUE``) may stand anywhere, after the entry names of ``--models``
too. ``--fit-minutes M --fit-out FILE`` (one entry) also writes the recipe
overrides that scale every stage's step count by one factor so that the run's estimated compute
time is ``M`` minutes: how a run on a lent GPU machine is sized to its time
(training/device/train.sh). ``--json FILE`` writes ``{"partial": false, "rows": [...]}``; after
a Ctrl-C the rows measured by then, with ``"partial": true``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from rich.table import Table

from zoo.atomic import atomic_write, check_output_file
from zoo.cli import print_table
from zoo.cli.arg_types import float_above, hand_back_overrides, int_at_least
from zoo.cli.children import until_interrupted
from zoo.errors import ZooError
from zoo.registry import get_model_info, list_models
from zoo.train.data import StepBatchSampler, make_loader
from zoo.train.loop import Trainer
from zoo.train.losses import GeneratorLoss
from zoo.train.recipe import Recipe, Stage, load_recipe, recipe_path
from zoo.train.stages import critic_step, generator_step


def _time(fn, n: int, warmup: int, device: torch.device | None = None, rounds: int = 1) -> float:
    """Seconds per call, the median over ``rounds`` rounds of ``n`` calls (a shared machine's
    load comes in bursts: one round of 8 steps read 114 patches/s and the next 54); on a GPU,
    until the queued work is done (the steps do not wait)."""
    def settle() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    settle()
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        settle()
        per_call.append((time.perf_counter() - start) / n)
    return statistics.median(per_call)


def entry_recipe(entry: str, data: str, device: str, overrides: list[str]) -> Recipe:
    """The entry's shipped recipe with the data, the device and the user's overrides."""
    # json.dumps of a str is a TOML basic string: a path holding " or \ stays that path.
    return load_recipe(recipe_path(get_model_info(entry).recipe),
                       [f"data.train=[{json.dumps(data)}]", 'data.val=""',
                        f"device={json.dumps(device)}", *overrides])


Mix = tuple[int, int]
"""(critic steps, generator steps) in one cycle of a stage."""


def step_mixes(stage: Stage) -> list[Mix]:
    """The stage's cycles: one kind of step, or a GAN stage's ``critic_steps:generator_steps``.
    Under threshold switching the critic's share depends on its loss, so both ends: the critic
    passing the threshold at its first step, and never passing it (``max_critic_steps``)."""
    if stage.kind != "gan":
        return [(1, 0)] if stage.kind == "critic" else [(0, 1)]
    if stage.switching == "threshold":
        ends = {(1, stage.generator_steps), (stage.max_critic_steps, stage.generator_steps)}
        return sorted(ends)
    return [(stage.critic_steps, stage.generator_steps)]


def mix_text(stage: Stage) -> str:
    """A GAN stage's critic:generator steps as the table shows them; "-" for other stages."""
    if stage.kind != "gan":
        return "-"
    if stage.switching == "threshold":
        return f"1-{stage.max_critic_steps}:{stage.generator_steps} (threshold)"
    return f"{stage.critic_steps}:{stage.generator_steps}"


def seconds_per_step(mix: Mix, seconds: dict[str, float]) -> float:
    """Mean seconds of one recipe step (a critic or a generator step) over a cycle ``mix``."""
    critic, generator = mix
    return ((critic * seconds.get("critic", 0.0) + generator * seconds.get("generator", 0.0))
            / (critic + generator))


def stage_row(stage: Stage, batch: int, load_s: float, seconds: dict[str, float]) -> dict:
    """A stage's numbers from its step times by kind; the slower end of a range is the one
    that ``stage_minutes_est`` (and so ``--fit-minutes``) uses, so that a fitted run fits."""
    per_step = [seconds_per_step(mix, seconds) for mix in step_mixes(stage)]
    slow, fast = max(per_step), min(per_step)
    row = {"stage": stage.name, "kind": stage.kind, "critic_generator": mix_text(stage),
           "step_seconds": seconds, "loader_patches_s": batch / load_s,
           "step_patches_s": batch / slow,
           "bottleneck": "data" if load_s > slow else "compute",
           "stage_steps": stage.steps, "stage_minutes_est": stage.steps * max(slow, load_s) / 60}
    if fast < slow:
        row["step_patches_s_range"] = [batch / slow, batch / fast]
        row["stage_minutes_range"] = [stage.steps * max(fast, load_s) / 60,
                                      row["stage_minutes_est"]]
        if load_s > fast:
            row["bottleneck"] = "data or compute"
        row["note"] = (f"threshold switching: 1 to {stage.max_critic_steps} critic steps per "
                       f"{stage.generator_steps} generator step(s), as the critic's loss goes (a "
                       f"critic step {seconds['critic']:.3f} s, a generator step "
                       f"{seconds['generator']:.3f} s), so the step rate and minutes are the range "
                       "between those ends; the estimate and --fit-minutes use the slower end")
    return row


def _step_functions(trainer: Trainer, stage: Stage,
                    batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Callable[[], None]]:
    """One step of each kind ``stage`` takes, by kind ("critic", "generator"), as the run
    takes it."""
    ctx, steps = trainer.ctx, {}
    if stage.kind in ("critic", "gan"):
        steps["critic"] = lambda: critic_step(ctx, batch, stage, trainer.opt_c)
    if stage.kind in ("generator", "gan"):
        loss_fn = GeneratorLoss(stage.losses, stage.lpips_net, trainer.device)

        def generator() -> None:
            generator_step(ctx, batch, stage, 10**9, loss_fn, trainer.opt_g)
            trainer.ema.update(trainer.generator, trainer.recipe.ema_decay)  # as the run does

        steps["generator"] = generator
    return steps


def bench_entry(entry: str, recipe: Recipe, steps: int, rounds: int = 1) -> Iterator[dict]:
    """One row per stage of ``entry``'s recipe, each as soon as it is measured."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(entry, recipe, Path(tmp), progress=False)
        trainer.build()
        trainer._data()
        batch_size = recipe.data.batch
        it = iter(make_loader(trainer.dataset, StepBatchSampler(batch_size), recipe.data.workers,
                              pin_memory=trainer.device.type == "cuda"))
        # Time past the batches the workers have already prefetched, or the loader looks free.
        queued = recipe.data.workers * 4 + 1  # make_loader's prefetch_factor
        load_s = _time(lambda: next(it), max(steps, 2 * recipe.data.workers), warmup=queued)
        x, y = (t.to(trainer.device).float().div(255) for t in
                next(iter(make_loader(trainer.dataset, StepBatchSampler(batch_size), 0))))
        if recipe.channels_last:
            x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
        for stage in recipe.stages.values():
            trainer.new_optimizers(stage)
            seconds = {kind: _time(step, steps, warmup=2, device=trainer.device, rounds=rounds)
                       for kind, step in _step_functions(trainer, stage, (x, y)).items()}
            yield {"entry": entry, "patch": recipe.data.patch, "batch": batch_size,
                   "precision": str(trainer.amp_dtype or "fp32").removeprefix("torch."),
                   **stage_row(stage, batch_size, load_s, seconds)}


def fitted_steps(rows: list[dict], minutes: float) -> list[str]:
    """Overrides scaling every stage's steps by one factor so that the estimate totals ``minutes``."""
    total = sum(r["stage_minutes_est"] for r in rows)
    if total <= 0:
        raise ZooError("the recipe's stages have no steps to scale")
    factor = minutes / total
    return [f"stages.{r['stage']}.steps={max(1, round(r['stage_steps'] * factor))}"
            for r in rows if r["stage_steps"] > 0]


def _entries(names: list[str] | None) -> list[str]:
    """The entries to measure (default: every trainable one), each checked before any is."""
    trainable = list_models(trainable=True)
    for name in names or []:
        if name not in trainable:
            raise ZooError(f"--models {name}: not a trainable entry (trainable: "
                           f"{', '.join(trainable)})")
    return names or trainable


def _table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("entry", "stage", "kind", "critic:gen", "patch x batch", "precision", "loader p/s",
                "step p/s", "bottleneck", "est. min"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["entry"], r["stage"], r["kind"], r.get("critic_generator", "-"),
                      f"{r['patch']} x {r['batch']}", r["precision"], f"{r['loader_patches_s']:.0f}",
                      _span(r, "step_patches_s", "step_patches_s_range"), r["bottleneck"],
                      _span(r, "stage_minutes_est", "stage_minutes_range"))
    return table


def _span(row: dict, key: str, range_key: str) -> str:
    """A number, or the range it lies in where the row has one (threshold switching)."""
    if range_key in row:
        low, high = row[range_key]
        return f"{low:.1f}-{high:.1f}"
    return f"{row[key]:.1f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/train", help="training image folder")
    p.add_argument("--models", nargs="+",
                   help="registry entries (default: every trainable entry)")
    p.add_argument("--entries", nargs="+", dest="models", help=argparse.SUPPRESS)  # its old name
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int_at_least(1), default=8, help="timed steps per round")
    p.add_argument("--rounds", type=int_at_least(1), default=3,
                   help="rounds of --steps steps; the median round is reported (3)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--fit-minutes", type=float_above(0), metavar="M",
                   help="with --fit-out: size the stages to M minutes of compute (one entry)")
    p.add_argument("--fit-out", type=Path, metavar="FILE", help="where to write the fitted overrides")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides for all entries")
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    # --models NAME... swallows the overrides that follow it (no entry name holds '='): hand
    # those back in command-line order, as `zoo train` does for --data.
    given = args.models
    args.models, args.overrides = hand_back_overrides(given, args.overrides, argv,
                                                       lambda word: "=" in word)
    if given and not args.models:  # not every entry, which a bare --models would not mean
        raise ZooError(f"--models {' '.join(given)}: no entry name, only overrides; name the "
                       "entries before them, or leave out --models to measure every entry")
    args.models = args.models or None
    if (args.fit_minutes is None) != (args.fit_out is None) or (
            args.fit_out and len(args.models or []) != 1):
        p.error("--fit-minutes and --fit-out go together, with exactly one of --models")
    for option, path in (("--json", args.json), ("--fit-out", args.fit_out)):
        if path:
            check_output_file(path, option)
    entries = _entries(args.models)
    # Every recipe built first: a bad override fails before the first entry is measured.
    recipes = {entry: entry_recipe(entry, args.data, args.device, args.overrides) for entry in entries}
    rows, interrupted = until_interrupted(
        row for entry in entries for row in bench_entry(entry, recipes[entry], args.steps, args.rounds))
    title = f"training throughput on {args.device} ({torch.get_num_threads()} threads)"
    print_table(_table(rows, title + (" (partial: interrupted)" if interrupted else "")))
    for r in rows:
        if "note" in r:
            print(f"{r['entry']} {r['stage']}: {r['note']}")
    if args.json:
        atomic_write(args.json, lambda fh: fh.write(json.dumps({"partial": interrupted, "rows": rows},
                                                               indent=1)))
    if interrupted:
        print(f"partial: {len(rows)} stage rows measured before the interruption"
              + ("; no fit written" if args.fit_out else ""))
        raise KeyboardInterrupt
    if args.fit_out:
        fitted = fitted_steps(rows, args.fit_minutes)
        atomic_write(args.fit_out, lambda fh: fh.write("\n".join(fitted) + "\n"))
        print(f"sized to {args.fit_minutes:g} min of compute: {' '.join(fitted)}")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
