"""Sample PyTorch training workload: ``python -m workloads.training --config FILE [overrides]``.

Runs on a laptop CPU, under torchrun with DDP (gloo on CPU, NCCL on GPU), resumes from checkpoints,
evaluates task and fairness gates, writes weights, an inference artifact, metrics and a model card,
and registers the model in MLflow. See workloads/README.md.
"""

from typing import TYPE_CHECKING

from workloads.training.config import TrainConfig, load_config
from workloads.training.errors import ConfigError, DataError, RegistryError, StorageError, TrainingError

if TYPE_CHECKING:
    from workloads.training.trainer import train

__all__ = [
    "ConfigError",
    "DataError",
    "RegistryError",
    "StorageError",
    "TrainConfig",
    "TrainingError",
    "load_config",
    "train",
]


def __getattr__(name: str):
    if name == "train":  # torch loads only when training starts
        from workloads.training.trainer import train

        return train
    raise AttributeError(name)
