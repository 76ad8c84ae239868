"""Scale-out under ``torchrun``: each rank takes every WORLD_SIZE-th image and writes its own
part file; after a barrier rank 0 merges the parts into ``results.csv``.

Outside ``torchrun`` (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) this is a no-op single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

T = TypeVar("T")


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    _initialised: bool = False

    @classmethod
    def from_env(cls) -> DistContext:
        """Read RANK/WORLD_SIZE (set by torchrun) and join the gloo process group."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        initialised = False
        if not dist.is_initialized():
            # gloo carries only small Python objects here (skip lists, failures) and barriers;
            # the results themselves travel through part files.
            dist.init_process_group(backend="gloo")
            initialised = True
        return cls(rank=rank, world_size=world, _initialised=initialised)

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

            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self._initialised:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._initialised = False
