"""Process-group set-up: one process, or torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, ...).

gloo across CPU processes, NCCL across GPUs. Control messages (the SIGTERM flag, RNG states) go
over a gloo group in both cases, so they never force a GPU synchronisation.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from workloads.training.config import TrainSpec
from workloads.training.errors import ConfigError


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = torch.device("cpu")  # noqa: RUF009 - immutable
    backend: str | None = None
    control: Any = None  # the gloo process group for control messages

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier(group=self.control)

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def broadcast(self, obj: Any) -> Any:
        if not self.distributed:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]


def _device(spec: TrainSpec, local_rank: int) -> torch.device:
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: cuda requested but no GPU is visible")
    if spec.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def setup(spec: TrainSpec) -> DistEnv:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if spec.batch_size % world:
        raise ConfigError(f"train.batch_size: {spec.batch_size} does not split evenly across {world} processes")
    device = _device(spec, local_rank)
    torch.set_num_threads(spec.threads or max(1, (os.cpu_count() or 1) // local_world))
    env = DistEnv(rank, world, local_rank, local_world, device)
    if world > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        timeout = datetime.timedelta(minutes=30)
        dist.init_process_group(backend=backend, timeout=timeout)
        env.backend = backend
        env.control = dist.new_group(backend="gloo", timeout=timeout) if backend == "nccl" else None
    return env


def teardown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()
