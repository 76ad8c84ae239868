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
import subprocess
import sys
import time
from pathlib import Path

import torch

from zoo.train.denormals import DENORMAL_BITS

TINY = torch.finfo(torch.float32).tiny
DENORMAL = torch.tensor([DENORMAL_BITS], dtype=torch.int32).view(torch.float32)


def _moments(entry: str, checkpoint: Path | None, share: float, seed: int):
    """Parameters (with gradients set) and an Adam state for ``entry`` or a checkpoint."""
    from safetensors.torch import load_file

    from zoo.registry import create_model

    args = {}
    if checkpoint is not None:
        meta = json.loads((checkpoint / "meta.json").read_text())
        entry, args = meta["entry"], meta["recipe"]["model"]["args"]
        tensors = load_file(checkpoint / "state.safetensors")
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
    params, state = _moments(a.entry, a.checkpoint, a.share, a.seed)
    values = sum(s[k].numel() for s in state.values() for k in ("exp_avg", "exp_avg_sq"))
    denormal = sum(int(((s[k] != 0) & (s[k].abs() < TINY)).sum())
                   for s in state.values() for k in ("exp_avg", "exp_avg_sq"))
    opt = torch.optim.Adam(params, lr=1e-5, betas=(0.9, 0.99))
    opt.load_state_dict({"state": state, "param_groups": [{**opt.param_groups[0],
                                                           "params": list(range(len(params)))}]})
    for _ in range(2):
        opt.step()
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"ms": 1000 * times[len(times) // 2], "denormal": denormal, "values": values}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entry", default="unet-l1")
    p.add_argument("--checkpoint", type=Path, help="a checkpoint folder (checkpoints/step-N)")
    p.add_argument("--share", type=float, default=0.4, help="denormal share of the synthetic moments")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flush", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        _child(a)
        return
    if not torch.set_flush_denormal(False):
        raise SystemExit("this CPU or torch build cannot flush denormals: nothing to compare")
    results = {}
    for flush in (False, True):
        cmd = [sys.executable, __file__, "--child", "--entry", a.entry, "--share", str(a.share),
               "--threads", str(a.threads), "--repeats", str(a.repeats), "--seed", str(a.seed)]
        cmd += ["--checkpoint", str(a.checkpoint)] if a.checkpoint else []
        cmd += ["--flush"] if flush else []
        results[flush] = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                                   check=True).stdout.strip().splitlines()[-1])
    r = results[False]
    source = a.checkpoint or f"{a.entry}, synthetic moments"
    print(f"{source}: {r['denormal']:,} of {r['values']:,} Adam moment values denormal "
          f"({r['denormal'] / r['values']:.0%}); {a.threads} threads, median of {a.repeats} steps")
    print(f"  without flushing: {results[False]['ms']:.1f} ms per Adam step")
    print(f"  with flushing:    {results[True]['ms']:.1f} ms per Adam step "
          f"({results[False]['ms'] / results[True]['ms']:.2f}x faster)")


if __name__ == "__main__":
    main()
