"""Grow a trained network to a larger layout that starts from the same function.

The added blocks start as the identity (``UNet.grown``, ``ARNet.grown``), so fine-tuning the
grown file begins exactly where the source model is (training/README.md has the runs):

    python training/grow.py unet-l1 SOURCE.safetensors OUT.safetensors \\
        --from 'blocks=[1,1,2]' --to 'blocks=[2,2,4]'
    python training/grow.py arnet-nogan SOURCE.safetensors OUT.safetensors --to last_blocks=4

``--from`` gives the source's architecture arguments where they differ from the entry's.
"""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Callable
from typing import Any

import torch

from zoo.arguments import check_arguments
from zoo.atomic import check_output_file
from zoo.errors import ZooError, first_line
from zoo.models.base import Restorer
from zoo.registry import architecture_class, create_model, get_model_info
from zoo.weights import load_weights, save_weights


def parse_assignments(option: str, items: list[str]) -> dict[str, Any]:
    """``["blocks=[2,2,4]", "last_blocks=4"]`` -> ``{"blocks": [2, 2, 4], "last_blocks": 4}``;
    an item that is not ``KEY=JSON`` refused in one line naming ``option``."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ZooError(f"{option} {item}: not KEY=VALUE (e.g. 'blocks=[2,2,4]')")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError as err:
            raise ZooError(f"{option} {item}: the value is not JSON ({err})") from None
    return parsed


def build(option: str, items: list[str], arguments: dict[str, Any],
          make: Callable[..., Restorer], takes: Callable[..., Any]) -> Restorer:
    """``make(**arguments)``, the ``arguments`` parsed from ``option``'s ``KEY=JSON`` ``items``
    by :func:`parse_assignments`, where ``takes`` names the arguments.

    An unknown key, a value of the wrong type or a layout that cannot be built (or grown) is the
    user's input, so it is refused in one line naming ``option``, not as a traceback.
    """
    known = inspect.signature(takes).parameters
    unknown = [key for key in arguments if key not in known]
    if unknown:
        raise ZooError(f"{option}: unknown argument {unknown[0]!r} (it takes: {', '.join(known)})")
    try:
        check_arguments(takes, arguments)
        return make(**arguments)
    except (TypeError, ValueError) as exc:
        raise ZooError(f"{option} {' '.join(items)}: {first_line(exc)}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entry", help="registry name whose architecture the source has")
    parser.add_argument("source", help="weights of the smaller network (.safetensors)")
    parser.add_argument("out", help="where to write the grown weights (fp32 .safetensors)")
    parser.add_argument("--from", dest="source_args", nargs="*", default=[], metavar="KEY=JSON",
                        help="the source's architecture arguments that differ from the entry's")
    parser.add_argument("--to", dest="grown_args", nargs="+", required=True, metavar="KEY=JSON",
                        help="arguments of the grown network's grown() method")
    parser.add_argument("--seed", type=int, default=0, help="seeds the new blocks' other weights")
    args = parser.parse_args()
    check_output_file(args.out, "output")
    # Both parsed before the source is read: a typo in --to is not found after a long load.
    source_args = parse_assignments("--from", args.source_args)
    grown_args = parse_assignments("--to", args.grown_args)
    torch.manual_seed(args.seed)
    info = get_model_info(args.entry)
    cls = architecture_class(info.architecture)
    if not hasattr(cls, "grown"):
        raise ZooError(f"{args.entry}: its architecture {info.architecture} cannot grow "
                       "(it has no grown method)")
    small = build("--from", args.source_args, source_args,
                  lambda **kw: create_model(args.entry, **kw), cls).eval()
    load_weights(small, args.source)
    grown = build("--to", args.grown_args, grown_args, small.grown, small.grown).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        gap = (grown.forward_padded(x) - small.forward_padded(x)).abs().max().item()
    sha = save_weights(grown, args.out, dtype=torch.float32)
    print(f"{args.out}: {sum(p.numel() for p in grown.parameters()) / 1e6:.2f}M parameters, "
          f"max |grown - source| = {gap:.1e} on a random image, sha256 {sha}")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
