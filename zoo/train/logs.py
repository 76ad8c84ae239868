"""What a run reports: CSV logs (train.csv, val.csv), TensorBoard when installed, rich progress."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from zoo.train.recipe import Recipe, Stage

__all__ = ["RunLog"]

TRAIN_FIELDS = ["step", "stage", "mode", "lr", "loss", "l1", "lpips", "adversarial", "critic",
                "patches_per_s", "seconds"]
VAL_FIELDS = ["step", "stage", "quality", "metric", "value"]


def _truncate(path: Path, after_step: int) -> None:
    """Keep the header and the rows up to ``after_step`` (rows a killed run wrote past its
    last checkpoint would otherwise appear twice); ``-1`` keeps only the header."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= after_step]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


class RunLog:
    """Logs of one process (a no-op on non-main ranks)."""

    def __init__(self, out: Path, recipe: Recipe, *, enabled: bool, progress: bool,
                 resume_step: int | None, validated_step: int = -1,
                 elapsed_before: float = 0.0) -> None:
        """``resume_step``: the checkpoint's step when resuming (train.csv keeps the rows up
        to it), ``validated_step``: its last validation (val.csv keeps the rows up to that: a
        validation after the checkpoint at the same step runs again), ``elapsed_before``: its
        wall time, so that the ``seconds`` column goes on counting."""
        self.out, self.recipe, self.enabled = out, recipe, enabled
        self.every = max(1, recipe.log_every)
        self.console = Console(stderr=True, soft_wrap=True)  # one line per message, in logs too
        self.progress = (Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  TextColumn("{task.fields[status]}"), console=self.console)
                         if progress else None)
        self._tb = None
        self._task = None
        self._last = (time.monotonic(), 0)
        self._t0 = time.monotonic() - elapsed_before
        if not enabled:
            return
        kept = {"train.csv": resume_step, "val.csv": min(validated_step, resume_step or 0)}
        for name, fields in (("train.csv", TRAIN_FIELDS), ("val.csv", VAL_FIELDS)):
            path = out / name
            if resume_step is not None:
                _truncate(path, kept[name])
            if resume_step is None or not path.exists():
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerow(fields)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            pass
        else:
            self._tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step)

    def __enter__(self) -> RunLog:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self._tb is not None:
            self._tb.close()

    def start_stage(self, stage: Stage, done: int) -> None:
        self._last = (time.monotonic(), 0)
        if self.progress is None:
            return
        if self._task is not None:
            self.progress.update(self._task, visible=True)
        self._task = self.progress.add_task(f"{stage.name} ({stage.kind})", total=stage.steps,
                                            completed=done, status="")

    def train(self, step: int, stage: str, mode: str, lr: float, values: dict[str, float],
              patches: int) -> None:
        t, n = self._last
        self._last = (t, n + patches)
        if self.progress is not None and self._task is not None:
            status = " ".join(f"{k} {v:.4f}" for k, v in values.items())
            self.progress.update(self._task, advance=1, status=status)
        if not self.enabled or step % self.every:
            return
        now = time.monotonic()
        rate = (n + patches) / max(now - t, 1e-9)
        self._last = (now, 0)
        row = {"step": step, "stage": stage, "mode": mode, "lr": f"{lr:.6g}",
               "patches_per_s": f"{rate:.1f}", "seconds": f"{now - self._t0:.1f}",
               **{k: f"{v:.6f}" for k, v in values.items()}}
        with open(self.out / "train.csv", "a", newline="") as f:
            csv.DictWriter(f, TRAIN_FIELDS, restval="").writerow(row)
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(f"train/{k}", v, step)
            self._tb.add_scalar("train/lr", lr, step)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Leave the time spent inside (validation, checkpoints) out of the logged patches/s."""
        start = time.monotonic()
        try:
            yield
        finally:
            t, n = self._last
            self._last = (t + time.monotonic() - start, n)

    def validation(self, step: int, stage: str, scores: dict[int, dict[str, Any]]) -> None:
        if not self.enabled:
            return
        with open(self.out / "val.csv", "a", newline="") as f:
            writer = csv.writer(f)
            for q, row in scores.items():
                for metric, value in row.items():
                    writer.writerow([step, stage, q, metric, f"{value:.6f}"])
                    if self._tb is not None:
                        self._tb.add_scalar(f"val_q{q}/{metric}", value, step)
        text = "; ".join(f"q{q}: " + ", ".join(f"{m} {v:.4f}" for m, v in row.items())
                         for q, row in scores.items())
        self.console.print(f"[bold]step {step}[/] ({stage}) validation: {text}", highlight=False)

    def note(self, text: str) -> None:
        """One line for the user (main process only)."""
        if self.enabled:
            self.console.print(text, highlight=False, markup=False)
