"""Checks that fail fast, before torch loads and before any training: the output and checkpoint
locations are writable and the model registry answers. Run by rank 0 only."""

from __future__ import annotations

from workloads.training import registry, storage
from workloads.training.config import TrainConfig


def preflight(cfg: TrainConfig, is_main: bool = True) -> None:
    if not is_main:
        return
    storage.check_writable(cfg.run.output_uri)
    if cfg.checkpoint_uri != storage.join(cfg.run.output_uri, "checkpoints"):
        storage.check_writable(cfg.checkpoint_uri)
    if registry.enabled(cfg):
        registry.preflight()
