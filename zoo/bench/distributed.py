"""Scale-out of ``zoo bench`` under ``torchrun``: each rank takes every WORLD_SIZE-th image and
writes its own part file; after a barrier rank 0 merges the parts into ``results.csv``.

Outside ``torchrun`` (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) this is a no-op single process.
The launch itself is :mod:`zoo.distributed`'s, shared with ``zoo train``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from zoo.distributed import collective, gather_objects, join, launch_env, main_holds

T = TypeVar("T")


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
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
        return cls(rank=env.rank, world_size=env.world, _initialised=initialised)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share: every ``world_size``-th item, starting at ``rank``."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            with collective(self.rank):
                dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        return gather_objects(obj, self.rank, self.world_size)

    def main_holds(self, enter: Callable[[ExitStack], None]) -> AbstractContextManager[None]:
        """:func:`main_holds` among this job's ranks."""
        return main_holds(enter, self.rank, self.gather)

    def close(self) -> None:
        if self._initialised:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._initialised = False
