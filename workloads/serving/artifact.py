"""Fetching a training run's inference artifact from any fsspec URI (no torch needed here).

A training run writes ``OUTPUT_URI/model/model.pt2`` (a ``torch.export`` program),
``OUTPUT_URI/model/config.json`` (its inputs and outputs) and ``OUTPUT_URI/model_card.json`` (with the
registry version once registered). ``--model_dir`` may point at ``OUTPUT_URI``, at ``OUTPUT_URI/model``,
or at a local copy of either: KServe's storage initializer downloads ``storageUri`` to ``/mnt/models``.
Reads go through the training workload's storage helpers (local paths, ``file://``, ``s3://``, ``gs://``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from workloads.serving.errors import ModelError, ModelStorageError
from workloads.training import storage
from workloads.training.errors import StorageError

ARTIFACT = "model.pt2"
CONFIG = "config.json"
CARD = "model_card.json"


@dataclass
class Artifact:
    directory: str  # where model.pt2 was found
    program: bytes  # model.pt2
    config: dict[str, Any]  # config.json
    card: dict[str, Any] | None  # model_card.json, when there is one

    @property
    def source(self) -> str:
        return storage.join(self.directory, ARTIFACT)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.program).hexdigest()

    def version(self) -> str:
        """The registry version of the model card when registered, else the artifact's content hash."""
        registry = (self.card or {}).get("registry")
        if isinstance(registry, dict) and registry.get("version"):
            return str(registry["version"])
        return self.sha256[:12]


def _read(uri: str) -> bytes:
    try:
        return storage.read_bytes(uri)
    except StorageError as exc:
        raise ModelStorageError(str(exc)) from exc


def _exists(uri: str) -> bool:
    try:
        return storage.exists(uri)
    except StorageError as exc:
        raise ModelStorageError(str(exc)) from exc


def _parent(uri: str) -> str | None:
    base = uri.rstrip("/")
    scheme, sep, rest = base.partition("://")
    path = rest if sep else base
    if "/" not in path.strip("/"):
        return None
    head = path.rsplit("/", 1)[0]
    return f"{scheme}://{head}" if sep else (head or "/")


def locate(model_dir: str) -> tuple[str, list[str]]:
    """The directory holding model.pt2, and where a model card may be (the first found wins)."""
    base = model_dir.rstrip("/") or "/"
    if _exists(storage.join(base, ARTIFACT)):
        parent = _parent(base)
        return base, [storage.join(base, CARD)] + ([storage.join(parent, CARD)] if parent else [])
    nested = storage.join(base, "model")
    if _exists(storage.join(nested, ARTIFACT)):
        return nested, [storage.join(base, CARD)]
    raise ModelStorageError(
        f"no {ARTIFACT} in {model_dir} (nor in {nested}): point --model_dir at a training run's output_uri"
    )


def fetch(model_dir: str) -> Artifact:
    directory, card_uris = locate(model_dir)
    config_uri = storage.join(directory, CONFIG)
    try:
        config = json.loads(_read(config_uri))
    except ValueError as exc:
        raise ModelError(f"{config_uri} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelError(f"{config_uri} must be a JSON object")
    program = _read(storage.join(directory, ARTIFACT))
    card = None
    for uri in card_uris:
        try:
            if _exists(uri):
                loaded = json.loads(_read(uri))
                card = loaded if isinstance(loaded, dict) else None
                break
        except (ModelStorageError, ValueError):
            continue
    return Artifact(directory, program, config, card)
