"""Checkpoints: written atomically, verified before they are loaded.

A checkpoint is a directory ``CHECKPOINT_URI/step-000001200/`` with

- ``model.safetensors``  the model's state (weights and buffers),
- ``trainer.pt``         optimizer and LR-schedule state, step, the RNG state of every rank
                         (``torch.save``; loaded with ``weights_only=True``, so it cannot run code),
- ``manifest.json``      written last: step, world size, model config and the sha256 and size of both files.

Each file is written atomically (`storage.write_bytes`) and the manifest last, so a checkpoint
without a manifest is one whose writer died: it is skipped. On resume the newest checkpoint whose
files match their manifest hashes (and parse) is loaded; a partial or corrupt one is skipped with a
warning and the next older one is tried — a damaged checkpoint is never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from workloads.training import storage
from workloads.training.errors import StorageError

log = logging.getLogger("workloads.training")

MODEL_FILE = "model.safetensors"
TRAINER_FILE = "trainer.pt"
MANIFEST_FILE = "manifest.json"
_STEP_DIR = re.compile(r"^step-(\d{9})$")


@dataclass
class Checkpoint:
    step: int
    uri: str
    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any]
    manifest: dict[str, Any]


def model_to_bytes(state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    return save_safetensors(tensors, metadata=metadata)


def trainer_to_bytes(state: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CheckpointManager:
    def __init__(self, uri: str, keep: int = 2) -> None:
        self.uri = uri.rstrip("/")
        self.keep = keep

    def step_uri(self, step: int) -> str:
        return storage.join(self.uri, f"step-{step:09d}")

    def steps(self) -> list[int]:
        """Steps of the checkpoint directories present (complete or not), oldest first."""
        found = (_STEP_DIR.match(name) for name in storage.list_dirs(self.uri))
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, step: int, model_bytes: bytes, trainer_bytes: bytes, meta: dict[str, Any]) -> str:
        target = self.step_uri(step)
        files = {MODEL_FILE: model_bytes, TRAINER_FILE: trainer_bytes}
        for name, data in files.items():
            storage.write_bytes(storage.join(target, name), data)
        manifest = {
            "step": step,
            **meta,
            "files": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in files.items()},
        }
        storage.write_bytes(storage.join(target, MANIFEST_FILE), json.dumps(manifest, indent=2).encode())
        self._prune(step)
        return target

    def _prune(self, newest: int) -> None:
        older = [s for s in self.steps() if s < newest]
        for step in older[: max(0, len(older) - (self.keep - 1))]:
            storage.remove_tree(self.step_uri(step))

    def load(self, step: int) -> Checkpoint:
        """Load and verify one checkpoint; ValueError says why it is unusable."""
        base = self.step_uri(step)
        try:
            raw_manifest = storage.read_bytes(storage.join(base, MANIFEST_FILE))
        except StorageError as exc:
            raise ValueError("incomplete (no manifest: its writer did not finish)") from exc
        try:
            manifest = json.loads(raw_manifest)
            expected = manifest["files"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("unreadable manifest") from exc
        blobs = {}
        for name in (MODEL_FILE, TRAINER_FILE):
            try:
                data = storage.read_bytes(storage.join(base, name))
            except StorageError as exc:
                raise ValueError(f"{name} missing") from exc
            want = expected.get(name, {})
            if len(data) != want.get("bytes") or _sha256(data) != want.get("sha256"):
                raise ValueError(f"{name} does not match its manifest hash (corrupt or partial)")
            blobs[name] = data
        try:
            model_state = load_safetensors(blobs[MODEL_FILE])
            trainer_state = torch.load(io.BytesIO(blobs[TRAINER_FILE]), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot be parsed ({type(exc).__name__})") from exc
        return Checkpoint(step, base, model_state, trainer_state, manifest)

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint that verifies; damaged ones are skipped with a warning."""
        for step in reversed(self.steps()):
            try:
                return self.load(step)
            except ValueError as exc:
                log.warning("skipping checkpoint %s: %s", self.step_uri(step), exc)
        return None
