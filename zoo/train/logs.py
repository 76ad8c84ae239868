"""What a run reports: CSV logs (train.csv, val.csv), TensorBoard when installed, rich progress."""

from __future__ import annotations

import csv
import io
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from zoo.plain_progress import PlainProgress, eta_text
from zoo.terminal import console, description_column
from zoo.train.files import write_failure, write_file
from zoo.train.recipe import Recipe, Stage

__all__ = ["RunLog"]

TRAIN_FIELDS = ["step", "stage", "mode", "lr", "loss", "l1", "lpips", "adversarial", "critic",
                "patches_per_s", "seconds"]
VAL_FIELDS = ["step", "stage", "quality", "metric", "value"]
LOG_FILES = ("train.csv", "val.csv")


def _csv_text(rows: list[list[str]]) -> str:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue()


def _parse_row(line: str, width: int) -> list[str] | None:
    """A log line as a row of ``width`` fields starting with a step; None if it is garbled
    (U+FFFD stands for bytes that were not UTF-8)."""
    if "\ufffd" in line:
        return None
    try:
        row = next(csv.reader([line]), [])
        int(row[0])
    except (csv.Error, IndexError, ValueError):
        return None
    return row if len(row) == width else None


def _truncate(path: Path, fields: list[str], after_step: int) -> None:
    """Keep the header and the rows up to ``after_step`` (rows a killed run wrote past its
    last checkpoint would otherwise appear twice); ``-1`` keeps only the header. Lines that
    are not rows of the log (appended text, bytes that are not UTF-8, a row cut short) are
    dropped with a warning. The file is replaced atomically."""
    header = ",".join(fields)
    kept, garbled = [fields], 0
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if line == header or not line.strip():  # blank lines (e.g. "\r\r\n" endings) are no loss
            continue
        row = _parse_row(line, len(fields))
        if row is None:
            garbled += 1
        elif int(row[0]) <= after_step:
            kept.append(row)
    if garbled:
        warnings.warn(f"{path}: dropped {garbled} garbled line(s); kept the rows that parse up to "
                      f"step {after_step}", stacklevel=3)
    write_file(path, _csv_text(kept), "the log")


class BudgetedRemainingColumn(TimeRemainingColumn):
    """rich's time remaining, or a time budget's when it ends the stage sooner (the task's
    ``deadline`` field, a ``time.monotonic()``)."""

    def render(self, task: Task) -> Text:
        """The time left: the budget's where it ends sooner; rich's own for a finished task or one
        without a ``deadline``."""
        deadline = task.fields.get("deadline")
        if deadline is None or task.finished:
            return super().render(task)
        text = eta_text(task.time_remaining, deadline, time.monotonic())
        return Text(text or "-:--:--", style="progress.remaining")


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
        self.console = console(stderr=True, soft_wrap=True)  # one line per message, in logs too
        bar = progress and self.console.is_interactive
        self.progress = (Progress(description_column(), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("ETA"), BudgetedRemainingColumn(),
                                  TextColumn("{task.fields[status]}"), console=self.console)
                         if bar else None)
        self.lines = PlainProgress(self.console) if progress and not bar else None
        self._tb = None
        self._task = None
        self._last = (time.monotonic(), 0)
        self._t0 = time.monotonic() - elapsed_before
        if not enabled:
            return
        kept = {"train.csv": resume_step, "val.csv": min(validated_step, resume_step or 0)}
        for name, fields in (("train.csv", TRAIN_FIELDS), ("val.csv", VAL_FIELDS)):
            path = out / name
            if resume_step is not None and path.exists():
                _truncate(path, fields, kept[name])
            else:
                write_file(path, _csv_text([fields]), "the log")
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

    def start_stage(self, stage: Stage, done: int, stop: int | None = None,
                    time_caps: str = "", deadline: float | None = None) -> None:
        """The stage's bar, or (without one) a line saying that it starts. ``stop``: the stage
        step at which the run's ``max_steps`` ends it, when before its last; the bar counts to
        it, so that its ETA is this run's. ``time_caps``: the time budgets that may end it
        sooner, which the line names; ``deadline``: the ``time.monotonic()`` at which the
        first of them runs out, the ETA when that is sooner than the steps'."""
        self._last = (time.monotonic(), 0)
        total = stage.steps if stop is None else min(stop, stage.steps)
        label = f"{stage.name} ({stage.kind})"
        if done < total and (self.progress is None or total < stage.steps or time_caps):
            self.note(f"stage {label}: {stage.steps} steps" + (f", from its step {done}" if done else "")
                      + (f"; this run stops at its step {total} (max_steps)"
                         if total < stage.steps else "")
                      + (f"; it ends sooner when {time_caps} run out (the ETA allows for "
                         "them)" if time_caps else ""))
        if self.lines is not None:
            self.lines.start(label, total, done, deadline)
        if self.progress is None:
            return
        if self._task is not None:
            self.progress.update(self._task, visible=True)
        self._task = self.progress.add_task(label, total=total, completed=done, status="",
                                            deadline=deadline)

    def train(self, step: int, stage: str, mode: str, lr: float,
              tensors: dict[str, torch.Tensor | float], patches: int) -> None:
        """One training step. The step's loss values stay on the device except every
        ``log_every`` steps (the CSV row and the progress bar's status): each read waits for
        the GPU, which would otherwise run ahead."""
        t, n = self._last
        self._last = (t, n + patches)
        logged = step % self.every == 0
        shown = (self.progress is not None and self._task is not None) or self.lines is not None
        values = {k: float(v) for k, v in tensors.items()} if logged and (self.enabled or shown) else {}
        status = " ".join(f"{k} {v:.4f}" for k, v in values.items()) if logged else None
        if self.lines is not None:
            self.lines.advance(status=status, may_show=status is not None)
        elif shown:
            self.progress.update(self._task, advance=1, **({} if status is None else {"status": status}))
        if not (logged and self.enabled):
            return
        now = time.monotonic()
        rate = (n + patches) / max(now - t, 1e-9)
        self._last = (now, 0)
        row = {"step": step, "stage": stage, "mode": mode, "lr": f"{lr:.6g}",
               "patches_per_s": f"{rate:.1f}", "seconds": f"{now - self._t0:.1f}",
               **{k: f"{v:.6f}" for k, v in values.items()}}
        self._append("train.csv", [[row.get(k, "") for k in TRAIN_FIELDS]])
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(f"train/{k}", v, step)
            self._tb.add_scalar("train/lr", lr, step)

    def _append(self, name: str, rows: list[list[Any]]) -> None:
        """Append whole rows: a write that fails (disk full) is taken back, not left cut short."""
        path = self.out / name
        data = _csv_text(rows).encode()
        try:
            with open(path, "ab", buffering=0) as f:
                start = f.seek(0, os.SEEK_END)
                try:
                    done = 0
                    while done < len(data):
                        done += f.write(data[done:])
                except OSError:
                    f.truncate(start)
                    raise
        except OSError as exc:
            raise write_failure(path, "the log", exc) from None

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
        """Log a validation's scores (per quality, per metric): rows of val.csv, TensorBoard
        scalars when it is on, and one line for the user (main process only)."""
        if not self.enabled:
            return
        self._append("val.csv", [[step, stage, q, metric, f"{value:.6f}"]
                                 for q, row in scores.items() for metric, value in row.items()])
        if self._tb is not None:
            for q, row in scores.items():
                for metric, value in row.items():
                    self._tb.add_scalar(f"val_q{q}/{metric}", value, step)
        text = "; ".join(f"q{q}: " + ", ".join(f"{m} {v:.4f}" for m, v in row.items())
                         for q, row in scores.items())
        self.console.print(f"[bold]step {step}[/] ({stage}) validation: {text}", highlight=False)

    def note(self, text: str) -> None:
        """One line for the user (main process only)."""
        if self.enabled:
            self.console.print(text, highlight=False, markup=False)
