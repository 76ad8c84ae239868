"""Adam's step time on the CPU, with and without flushing denormals (zoo.train.denormals).

    python benchmarks/speed_denormals.py                     # unet-l1, 40 % of the moments denormal
    python benchmarks/speed_denormals.py --share 0.1 --threads 1
    python benchmarks/speed_denormals.py --checkpoint runs/unet-l1-338/checkpoints/step-00030614

Without ``--checkpoint``, the entry's parameters get Adam moments of which ``--share`` are
denormal. That is the share at the end of `unet-l1` run 4, where 5.6M of 14.2M were. Those
parameters also get zero gradients, so their moments stay denormal as they decay, as in
training. With ``--checkpoint``, the moments are a training checkpoint's own. Each case runs
in a fresh process, because the flush mode is per thread and torch's threads copy it when they
start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from zoo.cli.arg_types import fraction, int_at_least
from zoo.cli.children import run_child
from zoo.errors import ZooError, first_line
from zoo.train.denormals import DENORMAL_BITS

TINY = torch.finfo(torch.float32).tiny
DENORMAL = torch.tensor([DENORMAL_BITS], dtype=torch.int32).view(torch.float32)


def _unreadable(checkpoint: Path, exc: Exception) -> ZooError:
    """The one-line refusal of a checkpoint whose files cannot be read."""
    return ZooError(f"--checkpoint {checkpoint}: not a readable training checkpoint "
                    f"({type(exc).__name__}: {first_line(exc)})")


def _checkpoint_model(checkpoint: Path) -> tuple[str, dict]:
    """The entry and architecture arguments a checkpoint's run trained."""
    try:
        # Not read_meta: that one checks what a resume needs, which a timing does not.
        meta = json.loads((checkpoint / "meta.json").read_text(encoding="utf-8"))
        return meta["entry"], dict(meta["recipe"]["model"]["args"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _unreadable(checkpoint, exc) from None


def _moments(entry: str, checkpoint: Path | None, share: float, seed: int):
    """Parameters (with gradients set) and an Adam state for ``entry`` or a checkpoint."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from zoo.registry import create_model

    args = {}
    if checkpoint is not None:
        entry, args = _checkpoint_model(checkpoint)
        try:
            tensors = load_file(checkpoint / "state.safetensors")
        except SafetensorError as exc:
            raise _unreadable(checkpoint, exc) from None
    params = list(create_model(entry, **args).parameters())
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, p in enumerate(params):
        if checkpoint is not None:
            m, v = tensors[f"opt_g.{i}.exp_avg"], tensors[f"opt_g.{i}.exp_avg_sq"]
        else:
            m = torch.randn(p.shape, generator=g) * 1e-5
            v = m.square() + 1e-12
            tiny = torch.rand(p.shape, generator=g) < share
            m[tiny], v[tiny] = DENORMAL, DENORMAL
        state[i] = {"step": torch.tensor(1000.0), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
        p.grad = torch.randn(p.shape, generator=g) * 1e-4
        p.grad[m.abs() < TINY] = 0.0  # what leaves a moment denormal: a (near) zero gradient
    return params, state


def _child(a: argparse.Namespace) -> None:
    if a.flush:
        from zoo.train.denormals import flush_denormals

        flush_denormals()  # before any parallel op, so every intra-op thread flushes
    torch.set_num_threads(a.threads)
    params, state = _moments(a.model, a.checkpoint, a.share, a.seed)
    values = sum(s[k].numel() for s in state.values() for k in ("exp_avg", "exp_avg_sq"))
    denormal = sum(int(((s[k] != 0) & (s[k].abs() < TINY)).sum())
                   for s in state.values() for k in ("exp_avg", "exp_avg_sq"))
    opt = torch.optim.Adam(params, lr=1e-5, betas=(0.9, 0.99))
    opt.load_state_dict({"state": state, "param_groups": [{**opt.param_groups[0],
                                                           "params": list(range(len(params)))}]})
    ms = median_step_ms(opt.step, a.repeats)
    print(json.dumps({"ms": ms, "denormal": denormal, "values": values}))


def median_step_ms(step: Callable[[], object], repeats: int, warmup: int = 2,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """The median milliseconds of ``repeats`` timed calls of ``step`` (the upper one of an even
    count), after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = clock()
        step()
        times.append(clock() - start)
    return 1000 * statistics.median_high(times)


def speedup(without_ms: float, with_ms: float) -> str:
    """How flushing changed the step time, in the direction it went."""
    if with_ms <= without_ms:
        return f"{without_ms / with_ms:.2f}x faster"
    return f"{with_ms / without_ms:.2f}x slower"


def _check_source(entry: str, checkpoint: Path | None) -> None:
    """Refuse, before any child runs, an unknown entry, one without parameters for Adam, or a
    checkpoint folder without its files or without the generator's Adam moments."""
    from zoo.registry import create_model, get_model_info

    args: dict = {}
    if checkpoint is not None:
        for name in ("meta.json", "state.safetensors"):
            if not (checkpoint / name).is_file():
                raise ZooError(f"--checkpoint {checkpoint}: no {name} in it (a checkpoint folder "
                               "is a run's checkpoints/step-N)")
        entry, args = _checkpoint_model(checkpoint)
    what = f"--checkpoint {checkpoint}: its entry {entry}" if checkpoint else f"--model {entry}"
    get_model_info(entry)  # an UnknownNameError naming the entries
    try:
        count = len(list(create_model(entry, **args).parameters()))
    except (TypeError, ValueError) as exc:
        raise ZooError(f"{what}: its model arguments do not build it ({first_line(exc)})") from None
    if not count:
        raise ZooError(f"{what}: has no parameters, so no Adam step to time (pick a trainable "
                       "entry)")
    if checkpoint is not None:
        _check_moments(checkpoint, count)


def _check_moments(checkpoint: Path, count: int) -> None:
    """Refuse a checkpoint without Adam's moments for each of the generator's ``count``
    parameters (one saved in a critic-only stage has none)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(checkpoint / "state.safetensors", framework="pt") as f:
            keys = set(f.keys())
    except (SafetensorError, OSError) as exc:
        raise _unreadable(checkpoint, exc) from None
    missing = [i for i in range(count)
               if not {f"opt_g.{i}.exp_avg", f"opt_g.{i}.exp_avg_sq"} <= keys]
    if len(missing) == count:
        raise ZooError(f"--checkpoint {checkpoint}: no optimizer state of the generator in it "
                       "(no opt_g.N.exp_avg: saved in a stage that does not train the generator, "
                       "or before its first step)")
    if missing:
        raise ZooError(f"--checkpoint {checkpoint}: no Adam moments for {len(missing)} of the "
                       f"generator's {count} parameters (opt_g.{missing[0]}.exp_avg first)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="unet-l1", help="a registry entry (unet-l1)")
    p.add_argument("--entry", dest="model", help=argparse.SUPPRESS)  # its old name
    p.add_argument("--checkpoint", type=Path, help="a checkpoint folder (checkpoints/step-N)")
    p.add_argument("--share", type=fraction, default=0.4, help="denormal share of the synthetic moments (0..1)")
    p.add_argument("--threads", type=int_at_least(1), default=2)
    p.add_argument("--repeats", type=int_at_least(1), default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flush", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        _child(a)
        return
    if not torch.set_flush_denormal(False):
        raise ZooError("this CPU or torch build cannot flush denormals: nothing to compare")
    _check_source(a.model, a.checkpoint)
    source = a.checkpoint or f"{a.model}, synthetic moments"
    results = {}
    for flush in (False, True):
        cmd = [sys.executable, __file__, "--child", "--model", a.model, "--share", str(a.share),
               "--threads", str(a.threads), "--repeats", str(a.repeats), "--seed", str(a.seed)]
        cmd += ["--checkpoint", str(a.checkpoint)] if a.checkpoint else []
        cmd += ["--flush"] if flush else []
        out = run_child(cmd, f"the child process timing Adam {'with' if flush else 'without'} "
                             "flushing").stdout
        results[flush] = json.loads(out.strip().splitlines()[-1])
    r = results[False]
    print(f"{source}: {r['denormal']:,} of {r['values']:,} Adam moment values denormal "
          f"({r['denormal'] / r['values']:.0%}); {a.threads} threads, median of {a.repeats} steps")
    print(f"  without flushing: {results[False]['ms']:.1f} ms per Adam step")
    print(f"  with flushing:    {results[True]['ms']:.1f} ms per Adam step "
          f"({speedup(results[False]['ms'], results[True]['ms'])})")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
