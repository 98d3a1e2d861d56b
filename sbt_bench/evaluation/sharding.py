"""Data-parallel evaluation under `torchrun` or `accelerate launch`.

Every process loads the tasks and one copy of the model. Rank 0 decides which requests
still need computing and broadcasts that list; every process plans the same fixed groups
(packed rows, batches) over all the run's requests and computes every world_size-th group
holding a missing request, so each request is computed in the company it has in a
single-process run; each process commits its responses to the shared response cache as
they arrive; after a barrier rank 0 reads every response back, scores and writes the one
results file. The cache key holds no rank or world size,
so a run resumed with a different number of processes reuses everything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sbt_bench.core.errors import SbtError

_T = TypeVar("_T")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the run: rank 0 of 1 when not launched in parallel."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process scores, writes results and prints."""
        return self.rank == 0

    def share(self, items: Sequence[_T]) -> list[_T]:
        """This process's share of `items`, which every process lists in the same order.

        Every world_size-th item from the rank on: the items are planned longest first, so
        each process gets a like amount of work.
        """
        return list(items[self.rank :: self.world_size])

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value`, on every process."""
        if self.world_size == 1:
            return value
        import torch.distributed as dist  # noqa: PLC0415

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def total(self, value: int) -> int:
        """The sum of `value` over all processes."""
        if self.world_size == 1:
            return value
        import torch  # noqa: PLC0415
        import torch.distributed as dist  # noqa: PLC0415

        tensor = torch.tensor([value], dtype=torch.int64)
        dist.all_reduce(tensor)
        return int(tensor.item())

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.world_size > 1:
            import torch.distributed as dist  # noqa: PLC0415

            dist.barrier()

    def close(self) -> None:
        """Leave the process group once every process is done.

        A process that exits while gloo's threads still run (rank 1 finishing before rank 0
        writes results) aborts with "terminate called without an active exception".
        """
        if self.world_size > 1:
            import torch.distributed as dist  # noqa: PLC0415

            if dist.is_initialized():
                dist.barrier()
                dist.destroy_process_group()


def init_process_group(device: str) -> ProcessGroup:
    """Join the launcher's process group (gloo on CPU, nccl on GPU) if there is one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return ProcessGroup()
    import torch.distributed as dist  # noqa: PLC0415

    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        try:
            # Rank 0 may wait long at a barrier while others finish a big shard.
            dist.init_process_group(backend=backend, timeout=timedelta(hours=12))
        except (RuntimeError, ValueError) as err:
            raise SbtError(
                f"cannot join the {backend} process group ({err}); launch with "
                "torchrun or accelerate launch"
            ) from None
    return ProcessGroup(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def device_for(group: ProcessGroup, device: str) -> str:
    """`cuda` means this process's own GPU under a launcher."""
    return f"cuda:{group.local_rank}" if device == "cuda" and group.world_size > 1 else device
