"""The staged training run: build, (resume,) train each stage, validate, checkpoint, export.

Output folder layout::

    OUT/recipe.json          the resolved recipe
    OUT/checkpoints/step-*/  the last K checkpoints (state.safetensors + meta.json)
    OUT/best/step-*.safetensors   EMA generator of the best validation so far (by select.metric)
    OUT/train.csv, OUT/val.csv    losses and validation scores (+ OUT/tensorboard/ when installed)
    OUT/export/              the chosen generator: config.json + model.safetensors + README.md
    OUT/.zoo-lock            held while a run writes into OUT (a second run is refused)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from zoo.arguments import check_arguments
from zoo.atomic import check_writable
from zoo.distributed import ReportedElsewhere, launch_env
from zoo.errors import RecipeError, ZooError, first_line, is_out_of_memory, printable
from zoo.locks import folder_lock, missing_folders
from zoo.models.critic import critic_class, known_critics
from zoo.pretrained import load_entry_weights
from zoo.registry import create_model, get_model_info
from zoo.train import checkpoint as ckpt
from zoo.train.data import (SKIPPED_IMAGES, Augment, ImageStore, PatchDataset, StepBatchSampler,
                            ValidationSet, loader_failure, make_loader, next_batch)
from zoo.train.distributed import Dist, setup
from zoo.train.ema import EMA
from zoo.train.export import export_model
from zoo.train.fits import check_init_config, check_patch, check_trainable
from zoo.train.files import file_leftovers, folder_leftovers, remove_leftovers, write_file
from zoo.train.hardware import autocast_dtype, flush_cpu_denormals, resolve_device
from zoo.train.logs import LOG_FILES, RunLog
from zoo.train.losses import GeneratorLoss
from zoo.train.recipe import (SAVED_RECIPE, Recipe, Stage, check_init_file, init_weights_file,
                              recipe_label, schedule_notes)
from zoo.train.recipe_changes import RecipeChanges, changed_keys
from zoo.train.resume_checks import (check_finished_by_an_earlier_zoo, check_same_networks,
                                     check_same_scoring, check_same_start, check_stages_trained)
from zoo.train.selection import Selection
from zoo.train.stages import (StepContext, Switcher, critic_step, generator_step, lr_factor,
                              make_optimizer, set_lr)
from zoo.train.validate import evaluate
from zoo.weights import load_weights

__all__ = ["Trainer"]


def build_critic(recipe: Recipe) -> nn.Module:
    """The recipe's critic: a class registered with ``register_critic``, built with its args."""
    name = recipe.critic.architecture
    cls = critic_class(name)
    if cls is None:
        raise RecipeError(f"{recipe.origin('critic.architecture')}: critic.architecture {name!r} is "
                          f"not a registered critic (known: {', '.join(known_critics())}); a critic "
                          "class is marked with @register_critic (zoo.models.critic) in a module "
                          "imported before training starts")
    try:
        check_arguments(cls, recipe.critic.args)
        return cls(**recipe.critic.args)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise RecipeError(f"{recipe.origin('critic.args')}: critic.args do not fit {cls.__name__} "
                          f"({first_line(exc)})") from None


_OLDER_CHECKPOINT = "move this checkpoint folder away to resume from the one before it"


class Trainer:
    """Runs one recipe for one registry entry into ``out``."""

    def __init__(self, name: str, recipe: Recipe, out: str | Path, *, resume: bool = False,
                 progress: bool = True) -> None:
        self.name, self.recipe, self.out = name, recipe, Path(out)
        self.resume, self.show_progress = resume, progress
        env = launch_env()
        self.device = resolve_device(recipe.device, env.local_rank, where=recipe.origin("device"))
        if self.device.type == "cpu":
            flush_cpu_denormals()
        self.dist: Dist = setup(self.device, env)
        for note in schedule_notes(recipe) if self.dist.main else []:
            warnings.warn(note, stacklevel=2)
        self.amp_dtype = autocast_dtype(recipe.precision, self.device, where=recipe.origin("precision"))
        self.scaler = (torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16
                       else None)
        self.step = 0
        self.samples = 0
        """Stream positions the run has trained on, all ranks together (a resume goes on there)."""
        self.stage_index, self.stage_start, self.stage_elapsed = 0, 0, 0.0
        self.elapsed_before = 0.0
        self.selection = Selection(recipe, self.out, self.device)
        self.last_validated = -1
        self._saved: tuple[int, int, int] | None = None  # the position of the last checkpoint
        self.switcher = Switcher()
        self.changes = RecipeChanges()
        self.opt_g: torch.optim.Optimizer | None = None
        self.opt_c: torch.optim.Optimizer | None = None

    # --- setup ----------------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        """A context that runs at the recipe's autocast precision (a no-op context for fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def build(self) -> None:
        """Seed torch and build the networks on the device: the generator (``model.init`` loaded
        unless resuming), the critic if a stage needs one, the EMA and the step context (DDP under
        torchrun)."""
        r = self.recipe
        torch.manual_seed(r.seed)
        try:
            self.generator = create_model(self.name, **r.model.args)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise RecipeError(f"{r.origin('model.args')}: model.args do not fit {self.name!r} "
                              f"({first_line(exc)})") from None
        check_trainable(self.name, self.generator)
        if not self.resume:  # a resume's checkpoint replaces model.init; none found: _start
            self._init_generator()
        needs_critic = any(s.kind in ("critic", "gan") for s in r.stages.values())
        self.critic = build_critic(r) if needs_critic else None
        check_patch(r, self.name, self.generator, self.critic)
        fmt = torch.channels_last if r.channels_last else torch.contiguous_format
        self.generator.to(self.device, memory_format=fmt)
        if self.critic is not None:
            self.critic.to(self.device, memory_format=fmt)
        self.ema = EMA(self.generator)
        freezes = any(s.freeze_encoder_steps for s in r.stages.values())
        encoder = getattr(self.generator, r.model.encoder_attr, None) if freezes else None
        if freezes and not isinstance(encoder, nn.Module):
            raise RecipeError(f"{r.origin('model.encoder_attr')}: freeze_encoder_steps is set but {self.name!r} has no "
                              f"module {r.model.encoder_attr!r} (model.encoder_attr)")
        self.ctx = StepContext(
            generator=self.dist.wrap(self.generator, self.device, find_unused=freezes),
            generator_raw=self.generator, autocast=self.autocast, scaler=self.scaler,
            critic=self.dist.wrap(self.critic, self.device) if self.critic is not None else None,
            critic_raw=self.critic, encoder=encoder)

    def _init_generator(self) -> None:
        """Fine-tuning: load ``model.init`` into the fresh generator (a resume overrides it)."""
        init = self.recipe.model.init
        if not init:
            return
        if init == "pretrained":
            source = load_entry_weights(self.generator, get_model_info(self.name))
        else:
            check_init_file(self.recipe)
            check_init_config(self.recipe, get_model_info(self.name).architecture, self.generator)
            source = init_weights_file(init)
            load_weights(self.generator, source)
        if self.dist.main:
            print(printable(f"generator initialised from {source}"), file=sys.stderr, flush=True)

    def _data(self) -> None:
        d = self.recipe.data
        with warnings.catch_warnings():  # every process reads the same files: rank 0 names them
            if not self.dist.main:
                warnings.simplefilter("ignore")
            store = ImageStore(d.train, min_side=d.patch, cache_mb=d.cache_mb)
        aug = Augment(patch=d.patch, quality=(d.quality[0], d.quality[1]), grey_fraction=d.grey_fraction,
                      grey_full_range=d.grey_full_range)
        self.dataset = PatchDataset(store, aug, self.recipe.seed)
        self.training_images = _training_images(store.paths)  # once: checkpoints record it
        v = self.recipe.validation
        self.valset = (ValidationSet(d.val, v.qualities, crop=v.crop, max_images=v.max_images)
                       if d.val and self.dist.main else None)

    def _warn_if_images_changed(self, saved: dict[str, Any] | None, path: Path) -> None:
        """A resume on other training images trains on other samples than an uninterrupted run
        would have (silently, before: a training auditor's)."""
        now = self.training_images
        if not saved or not self.dist.main or saved == now:
            return
        warnings.warn(f"resuming {path.name} on other training images than it was saved with "
                      f"({saved.get('count')} then, {now['count']} now, or changed files): the "
                      "samples from here differ from those of an uninterrupted run", stacklevel=3)

    def _list_skipped_images(self) -> None:
        """Where more images were skipped than the warnings name, every one of them, in
        ``OUT/skipped-images.txt`` (a line each, for the main process), and a note saying so."""
        if not self.dist.main:
            return
        skips = [self.dataset.store.skips] + ([self.valset.skips] if self.valset else [])
        path = self.out / SKIPPED_IMAGES
        if not any(s.unnamed for s in skips):
            path.unlink(missing_ok=True)  # an earlier start's list, of files since mended
            return
        write_file(path, "".join(f"{s.kind}: {printable(problem)}\n" for s in skips
                                 for problem in s.problems),
                   "the list of skipped images")
        print(printable(f"note: the {sum(s.skipped for s in skips)} skipped images are listed in "
                        f"{path}"),
              file=sys.stderr, flush=True)

    # --- checkpoints ----------------------------------------------------------------------------

    def _stages(self) -> list[Stage]:
        return list(self.recipe.stages.values())

    def _elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self._t0

    def _stage_seconds(self) -> float:
        """The current stage's wall time, its time before a resume included."""
        return self.stage_elapsed + time.monotonic() - self._stage_t0

    def _position(self) -> tuple[int, int, int]:
        return self.step, self.last_validated, self.stage_index

    def save(self) -> None:
        """Checkpoint the run, unless this position is saved already (the last step of a run
        whose steps are a multiple of checkpoint.every; a resume that trained nothing): with
        checkpoint.keep=1 a kill while replacing it would leave no checkpoint."""
        if not self.dist.main or self._saved == self._position():
            return
        tensors = {f"gen.{k}": v for k, v in self.generator.state_dict().items()}
        tensors |= {f"ema.{k}": v for k, v in self.ema.state_dict().items()}
        if self.critic is not None:
            tensors |= {f"critic.{k}": v for k, v in self.critic.state_dict().items()}
        meta: dict[str, Any] = {"entry": self.name, "world": self.dist.world,
                                "samples": self.samples, "stage_index": self.stage_index,
                                "stage_start": self.stage_start, "ema_updates": self.ema.updates,
                                "elapsed": self._elapsed(), "best": self.selection.best,
                                "last_validated": self.last_validated,
                                "selection": self.selection.counts,
                                "before_stop": self.selection.before_stop,
                                "stage_elapsed": self._stage_seconds(),
                                "switcher": self.switcher.state(), "recipe": self.recipe.to_dict(),
                                "recipe_changes": self.changes.saved(),
                                "scaler": self.scaler.state_dict() if self.scaler else None,
                                "training_images": self.training_images}
        for key, opt in (("opt_g", self.opt_g), ("opt_c", self.opt_c)):
            if opt is not None:
                t, rest = ckpt.flatten_optimizer(opt, key)
                tensors |= t
                meta[key] = rest
        rng_t, meta["rng"] = ckpt.rng_state()
        tensors |= rng_t
        ckpt.save_checkpoint(self.out / "checkpoints", self.step, tensors, meta,
                             self.recipe.checkpoint.keep)
        self._saved = self._position()
        self.selection.prune_files()

    def _load(self) -> bool:
        found = ckpt.latest_checkpoint(self.out / "checkpoints")
        if found is None:
            return False
        path, tensors, meta = found
        if meta.get("entry") != self.name:
            raise ZooError(f"{path}: checkpoint of {meta.get('entry')!r}, not {self.name!r}")

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        try:
            self.generator.load_state_dict(part("gen."), strict=True)
            self.ema.load_state_dict(part("ema."), meta["ema_updates"])
            if self.critic is not None:
                self.critic.load_state_dict(part("critic."), strict=True)
        except RuntimeError:
            changed = [c for c in changed_keys(meta.get("recipe", {}), self.recipe.to_dict())
                       if c.startswith(("model.", "critic."))]
            why = ("the recipe changed " + "; ".join(changed) if changed
                   else "were model.args or critic.args changed?")
            raise ZooError(f"{path}: does not fit the recipe's networks ({why}); resume with the "
                           "recipe it was saved with, or train into a new --out") from None
        check_same_networks(path, meta["recipe"], self.recipe, self.name, self.generator,
                            self.critic)
        if not 0 <= meta["stage_index"] <= len(self._stages()):
            raise ZooError(f"{path / ckpt.META_FILE}: stage_index {meta['stage_index']} is not one "
                           f"of the recipe's {len(self._stages())} stages; {_OLDER_CHECKPOINT}")
        self.step = meta["step"]
        # A checkpoint of an earlier zoo: every step so far took world x batch samples.
        self.samples = meta.get("samples", self.step * meta.get("world", 1)
                                * meta["recipe"].get("data", {}).get("batch", self.recipe.data.batch))
        self.stage_index, self.stage_start = meta["stage_index"], meta["stage_start"]
        self.stage_elapsed, self.elapsed_before = meta["stage_elapsed"], meta["elapsed"]
        self.switcher = Switcher.from_state(meta["switcher"])
        self.last_validated = meta["last_validated"]
        self.selection.restore(meta["best"], meta.get("selection"))
        saved_position = self._position()
        if meta.get("before_stop"):  # an uninterrupted run would not have validated there
            stop = meta["before_stop"]
            self.last_validated = stop["last_validated"]
            self.selection.restore(stop["best"], stop["selection"])
        check_finished_by_an_earlier_zoo(path, meta["recipe"], self.recipe, self.stage_index,
                                         self.out)
        check_stages_trained(path, meta["recipe"], self.recipe, self.stage_index, self.step,
                             self.stage_start)
        check_same_scoring(path, meta["recipe"], self.recipe, self.selection)
        check_same_start(path, meta["recipe"], self.recipe)
        try:
            self._load_optimizers_and_rng(tensors, meta)
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise ZooError(f"{path / ckpt.META_FILE}: its optimizer or random-number state does not "
                           f"fit ({type(exc).__name__}: {first_line(exc)}); "
                           f"{_OLDER_CHECKPOINT}") from None
        self._warn_if_images_changed(meta.get("training_images"), path)
        self.changes = RecipeChanges.resumed(meta, self.recipe.to_dict(), self.dist.world)
        if self.changes.now and self.dist.main:  # every rank resumes alike
            warnings.warn(f"resuming with a changed recipe: {', '.join(self.changes.now)}",
                          stacklevel=2)
        self._saved = saved_position
        return True

    def _load_optimizers_and_rng(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        if self.stage_index < len(self._stages()):
            self.new_optimizers(self._stages()[self.stage_index])
            for key in ("opt_g", "opt_c"):
                opt = getattr(self, key)
                if opt is not None and key in meta:
                    ckpt.unflatten_optimizer(opt, key, tensors, meta[key])
        if self.scaler is not None and meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        ckpt.restore_rng(tensors, meta["rng"])

    # --- the run --------------------------------------------------------------------------------

    def new_optimizers(self, stage: Stage) -> None:
        """Fresh optimizers for the networks ``stage`` trains (the critic's at ``lr`` times
        ``critic_lr_mult``); None for a network it does not train."""
        self.opt_g = self.opt_c = None
        if stage.kind in ("generator", "gan"):
            self.opt_g = make_optimizer(list(self.generator.parameters()), stage, stage.lr)
        if stage.kind in ("critic", "gan"):
            self.opt_c = make_optimizer(list(self.critic.parameters()), stage,
                                        stage.lr * stage.critic_lr_mult)

    def _budget_spent(self, stage: Stage) -> Literal["", "run", "stage"]:
        """Which time cap ends training now: ``"run"`` (the recipe's ``max_minutes``, which
        stops the run), ``"stage"`` (the stage's own, which ends only that stage) or ``""``."""
        r = self.recipe
        run_spent = bool(r.max_minutes and self._elapsed() >= 60 * r.max_minutes)
        stage_spent = bool(stage.max_minutes and self._stage_seconds() >= 60 * stage.max_minutes)
        # Every rank takes the main process's decision: clocks differ between processes.
        return self.dist.broadcast_choice("run" if run_spent else "stage" if stage_spent else "",
                                          ("", "run", "stage"))

    def _time_caps(self, stage: Stage) -> str:
        """The time budgets that may end the stage before its steps, for its first line: the
        bar's ETA counts steps and knows nothing of them."""
        r, caps = self.recipe, []
        if r.max_minutes:
            left = max(0.0, r.max_minutes - self._elapsed() / 60)
            caps.append(f"the run's max_minutes ({left:.4g} of {r.max_minutes:g} min left)")
        if stage.max_minutes:
            caps.append(f"the stage's max_minutes ({stage.max_minutes:g} min)")
        return " and ".join(caps)

    def _deadline(self, stage: Stage) -> float | None:
        """The ``time.monotonic()`` at which the first time budget that ends the stage runs
        out (None: neither the run nor the stage has one), for the progress's ETA."""
        r = self.recipe
        lefts = [60 * r.max_minutes - self._elapsed()] if r.max_minutes else []
        if stage.max_minutes:
            lefts.append(60 * stage.max_minutes - self._stage_seconds())
        return time.monotonic() + max(0.0, min(lefts)) if lefts else None

    def _stop_in(self) -> int | None:
        """The stage step at which the recipe's ``max_steps`` stops the run (None: no cap)."""
        cap = self.recipe.max_steps
        return max(self.step, cap) - self.stage_start if cap else None

    def _run_stage(self, stage: Stage, loader_iter: Any, log: RunLog) -> None:
        loss_fn = (GeneratorLoss(stage.losses, stage.lpips_net, self.device)
                   if stage.kind != "critic" else None)
        decay = self.recipe.ema_decay if stage.ema_decay < 0 else stage.ema_decay
        # From the recipe, not from self.valset, which rank 0 alone holds: when to check the
        # weights (a collective) must be decided alike on every rank.
        validates = stage.kind != "critic" and bool(self.recipe.data.val)
        last = self.stage_index == len(self._stages()) - 1
        while self.step - self.stage_start < stage.steps:
            at_cap = bool(self.recipe.max_steps and self.step >= self.recipe.max_steps)
            spent = "" if at_cap else self._budget_spent(stage)
            if spent == "stage" and not last:
                log.note(f"stage {stage.name}: its max_minutes ({stage.max_minutes:g}) reached at "
                         f"step {self.step - self.stage_start} of its {stage.steps}; the run "
                         "goes on with the next stage")
                break
            if at_cap or spent:  # the last stage's own cap ends the run as the recipe's does
                self.stopped = True
                self.stop_reason = ("max_steps" if at_cap else "max_minutes" if spent == "run"
                                    else f"stages.{stage.name}.max_minutes")
                break
            stage_step = self.step - self.stage_start
            factor = lr_factor(stage, stage_step)
            lr = set_lr(self.opt_g or self.opt_c, factor)
            if self.opt_c is not None and self.opt_g is not None:
                set_lr(self.opt_c, factor)
            x, y = (t.to(self.device, non_blocking=True).float().div_(255)
                    for t in next_batch(loader_iter))
            if self.recipe.channels_last:
                x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
            mode = stage.kind if stage.kind != "gan" else self.switcher.next()
            if mode == "critic":
                values = critic_step(self.ctx, (x, y), stage, self.opt_c)
                if stage.kind == "gan":
                    self.switcher.done(stage, self.dist, values["critic"])
            else:
                values = generator_step(self.ctx, (x, y), stage, stage_step, loss_fn, self.opt_g)
                self.ema.update(self.generator, decay)
                if stage.kind == "gan":
                    self.switcher.done(stage, self.dist)
            self.step += 1
            self.samples += self.recipe.data.batch * self.dist.world
            logged = self.step % self.recipe.log_every == 0
            if logged:
                values = self.dist.means(values)  # the global batch's, not rank 0's share
            log.train(self.step, stage.name, mode, lr, values, x.shape[0] * self.dist.world)
            # Checkpoints of the stages that compete for export are each scored (the GAN phase
            # peaks between validations: DeOldify's inflection point).
            competes = stage.name in self.selection.stages
            save_now = self.step % self.recipe.checkpoint.every == 0
            validate_now = validates and (self.step % self.recipe.validation.every == 0
                                          or (competes and save_now))
            if validate_now or save_now or logged:
                self._check_weights(stage, values[mode if mode == "critic" else "loss"])
            if validate_now:
                with log.paused():
                    self._validate(stage, log)
            if save_now:
                with log.paused():
                    self.save()
        if self.step > self.stage_start:
            self._check_weights(stage)
        if validates and self.last_validated != self.step and self.step > self.stage_start:
            if self.stopped:  # off the schedule: scored for this export, taken back by a resume
                self.selection.mark_stop(self.last_validated)
            self._validate(stage, log)

    def _check_weights(self, stage: Stage, loss: torch.Tensor | None = None) -> None:
        """Stop a run that diverged, before its weights are validated or checkpointed (so the
        checkpoints before stay good): weights that are not finite, or a generator's beyond
        the float16 its export stores. Read where the loss is read anyway (log_every)."""
        nets = [("generator", self.generator)] if stage.kind != "critic" else []
        nets += [("critic", self.critic)] if stage.kind != "generator" else []
        for what, net in nets:
            # Buffers too: a batch norm's running statistics can overflow while the weights
            # stay finite, and the exported network would then compute NaN.
            tensors = [p.detach() for p in net.parameters()]
            tensors += [b for b in net.buffers() if b.is_floating_point()]
            # NaN compares as nothing in a MAX reduction: it is sent as infinity.
            own = float(torch.stack(torch._foreach_norm(tensors, math.inf)).max())
            largest = self.dist.largest(math.inf if math.isnan(own) else own)
            exportable = what == "critic" or largest <= torch.finfo(torch.float16).max
            if math.isfinite(largest) and exportable:
                continue
            size = ("are not finite" if not math.isfinite(largest) else
                    f"reach {largest:.3g}, beyond the float16 its export stores")
            bad_loss = loss is not None and not math.isfinite(float(loss))
            said = f" (loss {float(loss):g})" if bad_loss else ""
            message = (f"training diverged by step {self.step} in stage {stage.name}{said}: the "
                       f"{what}'s weights {size}; lower stages.{stage.name}.lr (now "
                       f"{stage.lr:g}); {self._resume_hint()}")
            # Every rank took the largest over all ranks, so every rank stops here: one says why.
            raise ZooError(message) if self.dist.main else ReportedElsewhere(message)

    def _validate(self, stage: Stage, log: RunLog) -> None:
        self.last_validated = self.step
        if not self.dist.main:
            return
        try:
            scores = evaluate(self.ema.model, self.valset, self.device, self.recipe.validation.metrics)
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            crop = self.recipe.validation.crop
            raise ZooError(f"out of {self.device.type} memory validating at step {self.step} "
                           f"(validation.crop={crop}{' (whole images)' if not crop else ''}): "
                           f"lower validation.crop; {self._resume_hint()}") from None
        log.validation(self.step, stage.name, scores)
        if stage.name in self.selection.stages:
            self.selection.consider(self.step, stage.name, scores, self.ema, self.valset)

    # The selection's state as tests read it (Selection holds it).
    @property
    def best(self) -> dict[str, Any] | None:
        """The best validated generator so far (:class:`Selection`)."""
        return self.selection.best

    @property
    def _input_scores(self) -> dict[int, dict[str, float]] | None:
        return self.selection.input_scores

    def _no_worse_than_input(self, scores: dict[int, dict[str, float]]) -> bool:
        return self.selection.no_worse_than_input(scores, self.step, self.valset)

    def _prune_after_resume(self, resumed: bool) -> None:
        """Drop best files written after the checkpoint we resumed from, and the checkpoints
        newer than it: torn ones, which the resume skipped and which would otherwise outlive
        the good ones. Without a usable checkpoint, all of them (the run starts at step 0)."""
        self.selection.prune_files_after_resume()
        newest = self.step if resumed else -1
        for folder in ckpt.list_checkpoints(self.out / "checkpoints"):
            if ckpt.step_of(folder) > newest:
                shutil.rmtree(folder, ignore_errors=True)

    def _prepare_out(self) -> None:
        """Check before any training that the run can write its folders, and delete the
        temporary files and folders of writes that a kill interrupted."""
        for folder in (self.out / "checkpoints", self.selection.best_dir):  # OUT: by its lock
            check_writable(folder)
        # Only the names this code writes: anything else in OUT is the user's.
        remove_leftovers(self.out, *folder_leftovers("export"),
                         *(file_leftovers(name)
                           for name in (SAVED_RECIPE, SKIPPED_IMAGES, *LOG_FILES)))
        remove_leftovers(self.out / "checkpoints", *folder_leftovers("step-*"))
        remove_leftovers(self.selection.best_dir, file_leftovers("step-*.safetensors"))

    def run(self) -> Path | None:
        """Train every stage; return the export folder (on the main process). The main process
        holds OUT's lock throughout, so that a second run into OUT is refused (every rank
        stops then, and the main process says why)."""
        self._t0 = self._stage_t0 = time.monotonic()
        self.stopped = False
        self.stop_reason = ""
        try:
            self.build()
            # A run that fails before writing anything (its data unusable) leaves no OUT behind.
            made = missing_folders(self.out)
            with self.dist.main_holds(lambda held: held.enter_context(folder_lock(self.out, made=made))), \
                    self.dist.watched():
                try:
                    return self._run()
                except KeyboardInterrupt:  # Ctrl-C or SIGTERM: say where a resume picks up
                    if self.dist.main:
                        warnings.warn(f"stopped at step {self.step}: {self._resume_hint()}",
                                      stacklevel=2)
                    raise
                except (RuntimeError, MemoryError) as exc:
                    if is_out_of_memory(exc):
                        raise ZooError(self._out_of_memory()) from None
                    failure = loader_failure(exc) if isinstance(exc, RuntimeError) else None
                    if failure is None:
                        raise
                    raise failure from None
        finally:  # on an error too: a process group left open aborts the process at exit
            self.dist.close()

    def _out_of_memory(self) -> str:
        """What to say when a step does not fit in memory."""
        data = self.recipe.data
        return (f"out of {self.device.type} memory in step {self.step + 1} (data.batch={data.batch}, "
                f"data.patch={data.patch}): lower data.batch or data.patch; {self._resume_hint()}")

    def _resume_hint(self) -> str:
        saved = ckpt.list_checkpoints(self.out / "checkpoints")
        return (f"--resume continues from the last checkpoint ({saved[-1].name})" if saved
                else "no checkpoint was saved yet")

    def _start(self) -> bool:
        """Check OUT, resume (when asked) and save the recipe; whether a checkpoint was resumed.
        Every rank runs it before the others are waited for (:meth:`Dist.together`)."""
        existing = ckpt.list_checkpoints(self.out / "checkpoints")
        if existing and not self.resume:
            raise ZooError(f"{self.out}: already holds checkpoints; pass --resume to continue, or "
                           "choose another --out")
        if self.resume and not existing:  # nothing to resume from: model.init is read, checked
            check_init_file(self.recipe)      # before the data (a fresh run's recipe checked it)
        self._data()  # before OUT is written into: data that cannot be used leaves it as it was
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dist.main:
            self._prepare_out()
        self._list_skipped_images()
        resumed = self.resume and self._load()
        if self.resume and not resumed:
            self._init_generator()  # before anything in OUT is set aside
            self.ema = EMA(self.generator)
            if self.dist.main:
                why = f"{len(existing)} torn, removed" if existing else "none saved"
                aside = self.selection.set_aside_files()
                kept = f" (the earlier run's best generators are kept in {aside})" if aside else ""
                warnings.warn(f"{self.out}: no usable checkpoint to resume from ({why}); "
                              f"training starts at step 0{kept}", stacklevel=3)
        if not resumed:
            self.new_optimizers(self._stages()[0])
        if self.dist.main:
            saved = {"entry": self.name, **self.recipe.to_dict()}  # whose run it is, for --resume
            write_file(self.out / SAVED_RECIPE, json.dumps(saved, indent=1),
                       "the recipe")
            if self.resume:
                self._prune_after_resume(resumed)
            if resumed:
                self.selection.check_best_file()
        return resumed

    def _run(self) -> Path | None:
        # Before any rank lists the checkpoints: the one put back counts for them all.
        self.dist.together(lambda: ckpt.put_back_replaced(self.out / "checkpoints")
                           if self.dist.main else None)
        resumed = self.dist.together(self._start)
        log = RunLog(self.out, self.recipe, enabled=self.dist.main,
                     progress=self.show_progress and self.dist.main,
                     resume_step=self.step if resumed else None,
                     validated_step=self.last_validated,
                     elapsed_before=self.elapsed_before if resumed else 0.0)
        loader = make_loader(self.dataset, StepBatchSampler(self.recipe.data.batch, self.samples,
                                                            self.dist.rank, self.dist.world),
                             self.recipe.data.workers, pin_memory=self.device.type == "cuda")
        loader_iter = iter(loader)
        stages = self._stages()
        try:
            with log:
                start = self.step
                # The last stage stays current when it ends (with its optimizers), so that a
                # resume with more steps for it goes on training it.
                while self.stage_index < len(stages):
                    stage = stages[self.stage_index]
                    log.start_stage(stage, self.step - self.stage_start, self._stop_in(),
                                    self._time_caps(stage), self._deadline(stage))
                    self._run_stage(stage, loader_iter, log)
                    if self.stopped or self.stage_index == len(stages) - 1:
                        break
                    self.stage_index += 1
                    self.stage_start, self.stage_elapsed = self.step, 0.0
                    self._stage_t0 = time.monotonic()
                    self.new_optimizers(stages[self.stage_index])
                    self.switcher = Switcher()
                self.save()
                if self.stopped:
                    planned = sum(s.steps for s in stages)
                    log.note(f"stopped at step {self.step} of {planned}: "
                             f"{self.stop_reason} reached; the export is of what was trained, "
                             "and --resume with a larger budget continues")
                elif resumed and self.step == start:
                    unused = (f"; the recipe's changes ({', '.join(self.changes.now)}) trained "
                              "nothing, so the export keeps the settings it was trained with"
                              if self.changes.now else "")
                    log.note(f"{self.out}: the run has already finished all its {self.step} steps, "
                             "so nothing was trained (more steps for a stage train on); its "
                             f"export is written again{unused}")
        finally:
            del loader_iter, loader
        self.dist.barrier()
        result = self._export() if self.dist.main else None
        self.dist.barrier()
        return result

    def _export(self) -> Path:
        if self.step == 0:
            start = f"the weights of model.init ({self.recipe.model.init})" if self.recipe.model.init \
                else "the random initialisation"
            why = f" ({self.stop_reason} reached before the first)" if self.stopped else ""
            warnings.warn(f"no training step was taken{why}: the export holds {start}, untrained",
                          stacklevel=2)
        state = self.selection.exported_weights(self.valset is not None, self.step > 0)
        if isinstance(state, str):
            model = self.ema.model
            chosen: dict[str, Any] = {"chosen_step": self.step, "chosen_stage": "final (EMA)",
                                      "final_because": state}
        else:
            model = create_model(self.name, **self.recipe.model.args)
            model.load_state_dict(state, strict=True)
            chosen = {"chosen_step": self.best["step"], "chosen_stage": self.best["stage"],
                      "validation": self.best["scores"]}
        trained = self.changes.trained_recipe(self.recipe.to_dict(), self.step)
        settings = {k: v for k, v in trained.items() if k != "source"}
        training = {"entry": self.name, "recipe": recipe_label(self.recipe.source),
                    "steps": self.step, "processes": self.dist.world,
                    "select_metric": self.recipe.select.metric, **chosen,
                    "settings": settings, "code": _code_record()}
        if changes := self.changes.applied(self.step):
            training["recipe_changes"] = changes
        return export_model(model.cpu().float(), self.out / "export", training)


def _code_record() -> dict[str, Any]:
    """Which code exported the run: the library versions, the zoo commit (None for an
    installed package, whose version says which zoo it is), the date and the command."""
    from zoo.bench.meta import build_meta

    meta = build_meta()
    return {key: meta[key] for key in ("versions", "git_commit", "date", "command")}


def _training_images(paths: list[Path]) -> dict[str, Any]:
    """Which images a run trains on, for a resume to compare: their count and a digest of their
    names and sizes (not their folders', which may move)."""
    listed = sorted(f"{p.name}\t{p.stat().st_size}" for p in paths if p.exists())
    return {"count": len(paths), "digest": hashlib.sha256("\n".join(listed).encode()).hexdigest()}
