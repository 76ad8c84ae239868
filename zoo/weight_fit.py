"""Whether a saved network fits its weights file, checked without memory: the network is built
on torch's meta device, stopped once it registers far more layers than the file holds, and its
tensor shapes compared with the file's, so that a config.json describing a huge network is
refused before anything is allocated."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo.errors import WeightsError, ZooError, first_line
from zoo.weights import REDOWNLOAD, weights_shapes

if TYPE_CHECKING:
    from zoo.models.base import Restorer

__all__ = ["MAX_PAD_MULTIPLE", "MAX_WEIGHT_TENSORS", "check_fits", "misfit"]


MAX_PAD_MULTIPLE = 256
"""The coarsest grid a saved network may pad to (the zoo's own pad to 8 and 32): a deeper one
would pad even a small image to a huge one."""


MAX_WEIGHT_TENSORS = 20_000
"""The most tensors a saved network's weights file may hold (the zoo's own hold 96 to 333): the
layers a config.json may have built before they are compared with the file grow with it."""


def misfit(cls: type[Restorer], config_path: Path, exc: Exception) -> str:
    """One line saying that ``config_path``'s arguments do not build ``cls``, and why."""
    return (f"{config_path}: arguments do not fit {cls.__name__} "
            f"({type(exc).__name__}: {first_line(exc)})")


class _TooLarge(Exception):
    """Raised inside a meta build that registers more layers than its weights file can hold."""


@contextlib.contextmanager
def _bounded_meta_build(limit: int) -> Iterator[list[str]]:
    """Torch's meta device (no memory), with this thread's builds stopped once they register
    more than ``limit`` parameter tensors or modules: a config asking for a billion layers
    would otherwise take hours to be built and compared. The list it gives names what went
    over, if anything did (a constructor may swallow the exception)."""
    from torch.nn.modules.module import (register_module_module_registration_hook,
                                         register_module_parameter_registration_hook)

    thread, counts, exceeded = threading.get_ident(), Counter[str](), []

    def counting(kind: str):  # noqa: ANN202  (torch's hook signature)
        def hook(module: torch.nn.Module, name: str, value: object) -> None:
            if value is None or threading.get_ident() != thread:  # another thread's real model
                return
            counts[kind] += 1
            if counts[kind] > limit:
                exceeded.append(kind)
                raise _TooLarge(kind)
        return hook

    handles = [register_module_parameter_registration_hook(counting("parameter tensors")),
               register_module_module_registration_hook(counting("modules"))]
    try:
        with torch.device("meta"):
            yield exceeded
    finally:
        for handle in handles:
            handle.remove()


def check_fits(cls: type[Restorer], arguments: dict[str, Any], config_path: Path, weights_path: Path,
               pad_multiple: int | None = None, remedy: str = REDOWNLOAD) -> None:
    """Build the network without memory (torch's meta device) and compare it with the weights
    file's tensor shapes (and ``pad_multiple``, the config's own convention, when given), so
    that a config describing a huge network is refused before anything is allocated: a network
    that cannot be built is refused here too, in one line naming ``config_path``. ``remedy``
    ends the message about a damaged weights file."""
    shapes = weights_shapes(weights_path, remedy)
    if len(shapes) > MAX_WEIGHT_TENSORS:
        raise WeightsError(f"{weights_path} holds {len(shapes):,} tensors (at most "
                           f"{MAX_WEIGHT_TENSORS:,}): not a restoration model the zoo runs")
    limit = 2 * len(shapes) + 256  # modules without tensors, layers a constructor drops
    failure: Exception | None = None
    with _bounded_meta_build(limit) as exceeded:
        try:
            probe = cls(**arguments)
        except Exception as exc:  # noqa: BLE001  (as in zoo.hub._build: one line, whatever it raised)
            failure = exc
    if exceeded:
        raise WeightsError(f"{config_path}: its arguments build more than {limit:,} "
                           f"{exceeded[0]}, and {weights_path} holds {len(shapes):,} tensors")
    if failure is not None:
        raise ZooError(misfit(cls, config_path, failure))
    if probe.pad_multiple > MAX_PAD_MULTIPLE:
        raise ZooError(f"{config_path}: the network pads images to multiples of "
                       f"{probe.pad_multiple} (at most {MAX_PAD_MULTIPLE}): not a restoration model "
                       "the zoo runs")
    if pad_multiple is not None and pad_multiple != probe.pad_multiple:
        raise ZooError(f"{config_path}: input_conventions.pad_multiple is {pad_multiple} but "
                       f"the network pads to {probe.pad_multiple}")
    own = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if shapes != own:
        differ = sorted(k for k in set(own) | set(shapes) if own.get(k) != shapes.get(k))
        raise WeightsError(f"{weights_path} does not fit the network {config_path} describes "
                           f"({len(differ)} tensors differ, e.g. {differ[0]!r}: file "
                           f"{shapes.get(differ[0])}, network {own.get(differ[0])})")
