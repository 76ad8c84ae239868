"""Checkpoint selection: which validated EMA generator a run exports (``select.*``), and the
best files (``OUT/best/step-*.safetensors``) that hold it and the ones a resume may go back to.

Its state goes into every checkpoint's meta.json: ``best``, ``selection`` (:attr:`counts`) and
``before_stop``.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from zoo.best_file import BEST_FOLDER
from zoo.errors import first_line
from zoo.metrics import METRICS
from zoo.train import checkpoint as ckpt
from zoo.train.data import ValidationSet
from zoo.train.ema import EMA
from zoo.train.files import write_file
from zoo.train.recipe import Recipe
from zoo.train.validate import evaluate

__all__ = ["Selection"]


class Selection:
    """The best validated generator of a run into ``out`` and the bookkeeping around it."""

    def __init__(self, recipe: Recipe, out: Path, device: torch.device) -> None:
        self.recipe, self.device = recipe, device
        self.best_dir, self.checkpoints_dir = out / BEST_FOLDER, out / "checkpoints"
        # The stages whose validations compete for the export.
        self.stages = recipe.select.stages or [list(recipe.stages.values())[-1].name]
        self.best: dict[str, Any] | None = None
        # The validations of the selected stages, and how many were undefined on select.metric
        # or below the JPEG input: why none was chosen (None: a resume from an earlier zoo's).
        self.counts: dict[str, int] | None = dict.fromkeys(ckpt.SELECTION_COUNTS, 0)
        self.before_stop: dict[str, Any] | None = None  # the selection before a stop's validation
        self.input_scores: dict[int, dict[str, float]] | None = None
        self._told_metric_undefined = self._told_rule_undefined = False

    def best_file(self, best: dict[str, Any]) -> Path:
        """Where the generator of a ``best`` record is kept."""
        return self.best_dir / str(best["file"])

    def restore(self, best: dict[str, Any] | None, counts: dict[str, int] | None) -> None:
        """Take up the selection a checkpoint saved."""
        self.best, self.counts = best, counts

    def mark_stop(self, last_validated: int) -> None:
        """Keep the selection from before a stop's off-schedule validation, which a resume
        takes back (an uninterrupted run would not have validated there)."""
        self.before_stop = {"best": self.best, "last_validated": last_validated,
                            "selection": dict(self.counts) if self.counts else None}

    # --- choosing -------------------------------------------------------------------------------

    def consider(self, step: int, stage: str, scores: dict[int, dict[str, float]], ema: EMA,
                 valset: ValidationSet) -> None:
        """Score a validation of a selected stage; a better one's EMA generator becomes the best
        (its file written to ``best/``)."""
        sel = self.recipe.select
        value = sum(s[sel.metric] for s in scores.values()) / len(scores)
        self._count("validated")
        if math.isnan(value):  # e.g. MS-SSIM or NIQE on validation crops too small for them
            self._count("undefined")
            if not self._told_metric_undefined:
                self._told_metric_undefined = True
                warnings.warn(f"select.metric {sel.metric} is undefined (NaN) on the validation "
                              f"images at step {step} (validation.crop "
                              f"{self.recipe.validation.crop}), so it chooses no checkpoint there; "
                              "without a defined score the final EMA generator is exported",
                              stacklevel=3)
            return
        if not self.no_worse_than_input(scores, step, valset):
            self._count("below_input")
            return
        better = (self.best is None or (value < self.best["value"] if sel.mode == "min"
                                        else value > self.best["value"]))
        if better:
            file = self.best_dir / f"step-{step:08d}.safetensors"
            state = {k: v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
            write_file(file, save(state), "the best generator")
            # The previous best file goes once no kept checkpoint points at it (prune_files()).
            self.best = {"value": value, "step": step, "stage": stage, "file": file.name,
                         "scores": {str(q): s for q, s in scores.items()}}

    def _count(self, key: str) -> None:
        if self.counts is not None:
            self.counts[key] += 1

    def no_worse_than_input(self, scores: dict[int, dict[str, float]], step: int,
                            valset: ValidationSet) -> bool:
        """``select.not_worse_than_input``: the checkpoint at least matches the JPEG input itself;
        a score that is undefined (NaN, for the checkpoint or the input) does not."""
        metrics = self.recipe.select.not_worse_than_input
        if not metrics:
            return True
        if self.input_scores is None:  # the identity's scores: computed once per run
            self.input_scores = evaluate(nn.Identity(), valset, self.device, metrics)
        for m in metrics:
            ours = sum(s[m] for s in scores.values()) / len(scores)
            floor = sum(s[m] for s in self.input_scores.values()) / len(self.input_scores)
            if math.isnan(ours) or math.isnan(floor):
                self._tell_rule_undefined(m, step)
                return False
            if (ours < floor) if METRICS[m].higher_is_better else (ours > floor):
                return False
        return True

    def _tell_rule_undefined(self, metric: str, step: int) -> None:
        if not self._told_rule_undefined:
            self._told_rule_undefined = True
            warnings.warn(f"select.not_worse_than_input: {metric} is undefined (NaN) on the "
                          f"validation images at step {step} (validation.crop "
                          f"{self.recipe.validation.crop}); a checkpoint passes only with a "
                          "defined score", stacklevel=4)

    # --- the export -----------------------------------------------------------------------------

    def exported_weights(self, validating: bool, trained: bool) -> dict[str, torch.Tensor] | str:
        """The best generator's weights, or why the final EMA generator is exported instead:
        warned, unless validation is off or nothing was trained. A lost best file leaves the
        selection."""
        state = self._read_best(self.best) if self.best is not None else None
        lost = ""
        if isinstance(state, str):
            warnings.warn(f"{self.best_file(self.best)}: the chosen generator (step "
                          f"{self.best['step']}) is {state}; exporting the final EMA generator",
                          stacklevel=3)
            lost = f"the chosen generator's file best/{self.best['file']} was {state}"
            self.best = None
        if self.best is not None:
            return state
        because = lost or self._why_final(validating)
        if not lost and validating and trained:
            warnings.warn(f"{because}; exporting the final EMA generator", stacklevel=3)
        return because

    def _why_final(self, validating: bool) -> str:
        """Why no validated checkpoint is exported, for the card and the warning."""
        counts, sel = self.counts, self.recipe.select
        if not validating:
            return "validation is off (data.val is empty)"
        if counts is None:
            return "no validated checkpoint met select.metric and select.not_worse_than_input"
        if counts["validated"] == 0:
            return f"no validation of the selected stages ({', '.join(self.stages)}) ran"
        if counts["undefined"] == counts["validated"]:
            return f"select.metric {sel.metric} was undefined (NaN) at every validation"
        if counts["undefined"] + counts["below_input"] < counts["validated"]:
            return "the best generator's file was lost"  # see the warning that named it
        undefined = (f" ({sel.metric} undefined at {counts['undefined']} of {counts['validated']})"
                     if counts["undefined"] else "")
        return ("no validated checkpoint scored at least as well as the JPEG input on "
                f"{', '.join(sel.not_worse_than_input)}{undefined}")

    def _read_best(self, best: dict[str, Any]) -> dict[str, torch.Tensor] | str:
        """A best file's tensors, or what is wrong with it."""
        try:
            return load_file(self.best_file(best))
        except FileNotFoundError:
            return "missing"
        except (OSError, SafetensorError) as exc:
            return f"unreadable: {first_line(exc)}"

    # --- the best files -------------------------------------------------------------------------

    def prune_files(self) -> None:
        """Delete the best files that neither the current best nor a record a resume may go
        back to names (:meth:`_kept_bests`)."""
        named = {best["file"] for best in [self.best, *self._kept_bests()] if best}
        for f in ckpt.best_files(self.best_dir):
            if f.name not in named:
                f.unlink(missing_ok=True)

    def _kept_bests(self) -> list[dict[str, Any]]:
        """The best records a resume may go back to: those the kept checkpoints name, and the
        ones from before a stop's off-schedule validation (this run's, and those the
        checkpoints keep), which the resume restores."""
        records = [(self.before_stop or {}).get("best")]
        for folder in ckpt.list_checkpoints(self.checkpoints_dir):
            try:
                meta = ckpt.read_meta(folder)
            except (OSError, ValueError):
                continue  # a torn checkpoint: a resume skips it too
            records += [meta["best"], (meta.get("before_stop") or {}).get("best")]
        return [best for best in records if best]

    def _earlier_bests(self) -> list[dict[str, Any]]:
        """The best records that the kept checkpoints name, from before the current best's
        step, newest first."""
        found = {best["file"]: best for best in self._kept_bests()
                 if best["step"] < self.best["step"]}
        return sorted(found.values(), key=lambda best: best["step"], reverse=True)

    def check_best_file(self) -> None:
        """At a resume, not after all the training: a best file that is missing or unreadable
        leaves the selection, for the newest readable one before it (or none)."""
        problem = self._read_best(self.best) if self.best is not None else None
        if not isinstance(problem, str):
            return
        damaged = self.best
        self.best = next((b for b in self._earlier_bests() if isinstance(self._read_best(b), dict)),
                         None)
        instead = (f"the best before it (step {self.best['step']}) takes its place" if self.best
                   else "a later validation's best, else the final EMA generator, is exported")
        warnings.warn(f"{self.best_file(damaged)}: the best generator so far (step "
                      f"{damaged['step']}) is {problem}; it leaves the selection, and {instead}",
                      stacklevel=2)

    def set_aside_files(self) -> Path | None:
        """Move a run's best files out of the way of a restart from step 0, which would
        otherwise prune them: trained weights, intact even when every checkpoint is torn."""
        files = ckpt.best_files(self.best_dir)
        if not files:
            return None
        aside = self.best_dir / "earlier"
        aside.mkdir(exist_ok=True)
        for file in files:
            os.replace(file, aside / file.name)
        return aside

    def prune_files_after_resume(self) -> None:
        """Drop the best files written after the checkpoint the run resumed from (all of them
        when it starts at step 0)."""
        resumed_best = int(self.best["step"]) if self.best else -1
        for f in ckpt.best_files(self.best_dir):
            if ckpt.step_of(f, ".safetensors") > resumed_best:
                f.unlink()
