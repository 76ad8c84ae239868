"""DistributedDataParallel under ``torchrun``: gloo on CPU, nccl on GPU; one process otherwise.

The launch itself (the variables torchrun sets, the rendezvous, errors every rank hears of) is
:mod:`zoo.distributed`'s, shared with ``zoo bench``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from zoo.distributed import LaunchEnv, Ranks, join, launch_env

__all__ = ["Dist", "setup"]


@dataclass
class Dist(Ranks):
    """The training's ranks: DistributedDataParallel and the decisions all of them share."""

    local_rank: int = 0

    def wrap(self, model: nn.Module, device: torch.device, find_unused: bool = False) -> nn.Module:
        """``model`` in DistributedDataParallel under torchrun; outside it, ``model`` itself."""
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids,
                                                   find_unused_parameters=find_unused)

    def broadcast_choice(self, choice: str, choices: tuple[str, ...]) -> str:
        """Rank 0's decision among ``choices``, shared (e.g. 'the time budget is spent')."""
        if not self.enabled:
            return choice
        shared = self.collective(torch.tensor([choices.index(choice)], dtype=torch.int64),
                                 lambda t: dist.broadcast(t, 0))
        return choices[int(shared.item())]

    def largest(self, value: float) -> float:
        """The largest of every rank's ``value`` (each rank's batch-norm statistics, say, which
        DDP does not keep equal between forward passes), the same on every rank."""
        if not self.enabled:
            return value
        return float(self.collective(torch.tensor([value], dtype=torch.float64),
                                     lambda t: dist.all_reduce(t, op=dist.ReduceOp.MAX)).item())

    def mean(self, value: float) -> float:
        """The mean of every rank's ``value`` (a loss, say), the same on every rank."""
        if not self.enabled:
            return value
        total = self.collective(torch.tensor([value], dtype=torch.float64), dist.all_reduce)
        return float(total.item()) / self.world

    def means(self, values: dict[str, torch.Tensor | float]) -> dict[str, torch.Tensor | float]:
        """Each of ``values`` (a step's losses, each rank's over its share of the batch) averaged
        over the ranks in one collective: the whole batch's, the same on every rank."""
        if not self.enabled:
            return values
        names = list(values)
        stacked = torch.stack([torch.as_tensor(values[k], dtype=torch.float64).detach().cpu()
                               for k in names])
        total = self.collective(stacked, dist.all_reduce).cpu()
        return {k: total[i] / self.world for i, k in enumerate(names)}

    def collective(self, tensor: torch.Tensor,
                   operation: Callable[[torch.Tensor], object]) -> torch.Tensor:
        """``operation`` (a collective, in place) on ``tensor``, on the device the backend
        needs (NCCL's are on the GPU), watched for a partner that is gone."""
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        with self.watched():
            operation(tensor)
        return tensor

    def close(self) -> None:
        """Leave the process group, if this process is in one."""
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: torch.device, env: LaunchEnv | None = None) -> Dist:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    env = env or launch_env()
    if env.world <= 1:
        return Dist()
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's collectives (and t.cuda() below) use the current device
    join("nccl" if device.type == "cuda" else "gloo", env)
    return Dist(rank=env.rank, world=env.world, local_rank=env.local_rank)

