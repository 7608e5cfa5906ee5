"""Where a process sits in a torchrun job, and the few collectives training and batch inference share.

`torchrun --nproc_per_node N -m dnahnet.train|dnahnet.infer ...` starts N processes with RANK, WORLD_SIZE,
LOCAL_RANK and LOCAL_WORLD_SIZE in the environment; `init_distributed` joins them (gloo on CPU, NCCL on CUDA, each
rank on its own GPU). Run plainly, a process is rank 0 of 1 and nothing here touches torch.distributed.
CPU threads per rank (the available cores shared by the local ranks) are `dnahnet.threads.threads_per_process`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:1' -> a device; a bare 'cuda' means this local rank's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


@dataclass
class Ranks:
    """Where this process sits in a torchrun job (rank 0 of 1 when run plainly)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str = "auto", timeout: timedelta = timedelta(minutes=60)) -> Ranks:
    """Join the torchrun job described by the environment (WORLD_SIZE > 1): gloo on CPU, NCCL on CUDA.

    `timeout` bounds how long a collective waits for the slowest rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    ranks = Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        device = pick_device(device_name, ranks.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return ranks


def shutdown(together: bool = True) -> None:
    """Leave the process group, if this process joined one.

    `together`: wait at a barrier first, so no rank tears down its gloo connections while another still works (a
    rank that left early, while rank 0 validated and saved, was sometimes aborted: "terminate called without an
    active exception"). Pass False on an error path, where a peer may never reach the barrier."""
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()


def gather_to_main(obj, ranks: Ranks) -> list | None:
    """Every rank's picklable `obj`, in rank order, on rank 0 (None on the others); [obj] for a single process."""
    if ranks.world_size == 1:
        return [obj]
    out = [None] * ranks.world_size if ranks.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


__all__ = ["pick_device", "Ranks", "init_distributed", "shutdown", "gather_to_main"]
