"""Scale-out of ``zoo bench`` under ``torchrun``: each rank takes every WORLD_SIZE-th image and
writes its own part file; after a barrier rank 0 merges the parts into ``results.csv``.

Outside ``torchrun`` (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) this is a no-op single process.
The launch itself is :mod:`zoo.distributed`'s, shared with ``zoo train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from zoo.distributed import Ranks, join, launch_env

T = TypeVar("T")


@dataclass
class DistContext(Ranks):
    """The bench's ranks: each measures its share of the images (:meth:`shard`)."""

    _initialised: bool = False

    @classmethod
    def from_env(cls) -> DistContext:
        """Read RANK/WORLD_SIZE (set by torchrun) and join the gloo process group."""
        env = launch_env()
        if env.world <= 1:
            return cls()
        # gloo carries only small Python objects here (skip lists, failures) and barriers;
        # the results themselves travel through part files.
        initialised = join("gloo", env)
        return cls(rank=env.rank, world=env.world, _initialised=initialised)

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share: every ``world``-th item, starting at ``rank``."""
        return list(items[self.rank::self.world])

    def close(self) -> None:
        """Leave the process group this context joined, if any; calling it again does nothing."""
        if self._initialised:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._initialised = False
