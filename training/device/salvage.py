"""Copy what a run on a lent GPU machine has trained so far into its $OUT folder, so that a call
killed at its limit still returns it (train.sh runs this beside each run; what is under $OUT
comes back even then).

    python training/device/salvage.py RUN DEST [--every SECONDS]

One pass, or one every SECONDS until a signal: SIGTERM ends the loop once the pass under way has
written its files whole, SIGUSR1 after one more pass (for a run that failed: what it left last).
A pass writes the weights under one of two names, so that the folder says which they are, and
removes the other name:

- ``best.safetensors``: the best generator by validation so far (RUN/best/step-*.safetensors,
  what the export would choose);
- ``checkpoint-ema.safetensors``: while there is none, the EMA generator of RUN's newest
  checkpoint. Best files are written only in ``select.stages``: the flagship's pretrain and
  critic stages have none.

Both are the EMA generator in fp16, as the zoo ships weights (a returned file may be 16 MiB at
most; unet-l1's fp32 is 28 MB), with ``salvaged_from`` in their metadata; ``zoo.load(ENTRY,
weights=FILE)`` loads them, ``model.init=FILE`` starts a run from them. RUN/val.csv is copied
as val.csv.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from zoo.errors import ZooError
from zoo.train.checkpoint import STATE_FILE, best_files, list_checkpoints
from zoo.train.files import write_file

BEST, CHECKPOINT = "best.safetensors", "checkpoint-ema.safetensors"
EMA = "ema."  # the EMA generator's keys in a checkpoint's state file (zoo.train.loop)

State = dict[str, torch.Tensor]


def checkpoint_ema(state_file: Path) -> State:
    with safe_open(str(state_file), framework="pt") as f:
        state = {k.removeprefix(EMA): f.get_tensor(k) for k in f.keys() if k.startswith(EMA)}
    if not state:
        raise ValueError(f"{state_file}: no EMA generator")
    return state


def newest_readable(files: list[Path], read: Callable[[Path], State]) -> tuple[Path, State] | None:
    """The newest of ``files`` (oldest first) that reads whole, and its tensors."""
    for path in reversed(files):
        try:
            return path, read(path)
        except (OSError, ValueError, SafetensorError):
            continue  # the run pruned or replaced it since it was listed: the one before
    return None


def weights(run: Path) -> tuple[str, Path, State] | None:
    """The name to return the run's weights under, their source and tensors; None before the
    first checkpoint."""
    found = newest_readable(best_files(run / "best"), load_file)
    if found:
        return BEST, *found
    found = newest_readable([c / STATE_FILE for c in list_checkpoints(run / "checkpoints")],
                            checkpoint_ema)
    return (CHECKPOINT, *found) if found else None


def salvage(run: Path, dest: Path) -> None:
    """One pass: the run's weights and val.csv, each written whole, into ``dest``."""
    found = weights(run)
    if found:
        name, source, state = found
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        data = save(half, metadata={"salvaged_from": str(source.relative_to(run))})
        write_file(dest / name, data, "the salvaged weights")
        (dest / (CHECKPOINT if name == BEST else BEST)).unlink(missing_ok=True)
    if (run / "val.csv").is_file():
        write_file(dest / "val.csv", (run / "val.csv").read_bytes(), "val.csv")


def try_salvage(run: Path, dest: Path) -> None:
    try:
        salvage(run, dest)
    except ZooError as exc:  # a full disk, say: the next pass may find room
        print(f"salvage.py: {exc}", file=sys.stderr)


def salvage_until_stopped(run: Path, dest: Path, every: float) -> None:
    stop: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(signum, lambda number, frame: stop.append(number))
    while not stop:
        deadline = time.monotonic() + every
        while not stop and time.monotonic() < deadline:
            time.sleep(0.1)  # short naps: a signal ends the wait at once, but never a pass
        if not stop:
            try_salvage(run, dest)
    if signal.SIGUSR1 in stop:
        try_salvage(run, dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run's --out folder")
    parser.add_argument("dest", type=Path, help="its $OUT folder")
    parser.add_argument("--every", type=float, help="seconds between passes, until a signal")
    args = parser.parse_args()
    if args.every is None:
        salvage(args.run, args.dest)
    else:
        salvage_until_stopped(args.run, args.dest, args.every)


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
