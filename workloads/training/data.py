"""Loading the training data (through `storage`, so any fsspec URI) and drawing batches.

Batches are a pure function of (seed, step, rank): the global batch of step `s` is the same whether
one process or N draw it (each rank takes its contiguous share), and a resumed run continues with
exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from workloads.training import storage
from workloads.training.config import DataSpec, ModelSpec
from workloads.training.errors import DataError


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset as the model card and the registry record it: where it is and a content hash."""

    uri: str
    sha256: str
    bytes: int
    role: str
    rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uri": self.uri, "sha256": self.sha256, "bytes": self.bytes, "role": self.role}
        if self.rows is not None:
            out["rows"] = self.rows
        return out


@dataclass
class TabularSplit:
    x: torch.Tensor  # (n, features) float32
    y: torch.Tensor  # (n,) float32 in {0, 1}
    groups: np.ndarray  # (n,) str: the sensitive attribute, or empty strings

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class TabularData:
    train: TabularSplit
    eval: TabularSplit
    feature_names: list[str]
    sensitive_column: str | None
    datasets: list[DatasetRecord] = field(default_factory=list)


@dataclass
class TextData:
    train: torch.Tensor  # uint8 bytes
    eval: torch.Tensor
    datasets: list[DatasetRecord] = field(default_factory=list)


def _parse_csv(raw: bytes, uri: str, spec: DataSpec) -> tuple[TabularSplit, list[str]]:
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{uri}: not a UTF-8 CSV file ({exc})") from None
    if len(rows) < 2:
        raise DataError(f"{uri}: needs a header row and at least one data row")
    header, body = rows[0], [r for r in rows[1:] if r]
    index = {name: i for i, name in enumerate(header)}
    missing = [
        c for c in [spec.label_column, spec.sensitive_column, *(spec.feature_columns or [])] if c and c not in index
    ]
    if missing:
        raise DataError(f"{uri}: no column {', '.join(repr(m) for m in missing)} (columns: {', '.join(header)})")
    excluded = {spec.label_column, spec.sensitive_column}
    features = list(spec.feature_columns or [c for c in header if c not in excluded])
    if spec.sensitive_column in features:
        raise DataError(f"{uri}: the sensitive column {spec.sensitive_column!r} cannot be a feature")
    if not features:
        raise DataError(f"{uri}: no feature columns")
    cols = [index[c] for c in features]
    try:
        x = np.array([[float(r[i]) for i in cols] for r in body], dtype=np.float32)
        y = np.array([float(r[index[spec.label_column]]) for r in body], dtype=np.float32)
    except (ValueError, IndexError) as exc:
        raise DataError(f"{uri}: non-numeric or missing value ({exc})") from None
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataError(f"{uri}: label column {spec.label_column!r} must hold 0 or 1")
    if spec.sensitive_column:
        groups = np.array([r[index[spec.sensitive_column]] for r in body], dtype=str)
    else:
        groups = np.full(len(body), "", dtype=str)
    return TabularSplit(torch.from_numpy(x), torch.from_numpy(y), groups), features


def _subset(split: TabularSplit, idx: np.ndarray) -> TabularSplit:
    t = torch.from_numpy(idx)
    return TabularSplit(split.x[t], split.y[t], split.groups[idx])


def load_tabular(spec: DataSpec, seed: int) -> TabularData:
    raw, digest = storage.read_bytes_hashed(spec.train_uri)
    full, features = _parse_csv(raw, spec.train_uri, spec)
    records = [DatasetRecord(spec.train_uri, digest, len(raw), "train", len(full))]
    if spec.eval_uri:
        raw_eval, digest_eval = storage.read_bytes_hashed(spec.eval_uri)
        eval_split, eval_features = _parse_csv(raw_eval, spec.eval_uri, spec)
        if eval_features != features:
            raise DataError(f"{spec.eval_uri}: feature columns differ from {spec.train_uri}")
        train_split = full
        records.append(DatasetRecord(spec.eval_uri, digest_eval, len(raw_eval), "eval", len(eval_split)))
    else:
        order = np.random.default_rng(seed).permutation(len(full))
        n_eval = max(1, round(len(full) * spec.eval_fraction))
        if len(full) - n_eval < 1:
            raise DataError(f"{spec.train_uri}: too few rows ({len(full)}) to hold out an eval split")
        train_split, eval_split = _subset(full, order[n_eval:]), _subset(full, order[:n_eval])
    return TabularData(train_split, eval_split, features, spec.sensitive_column, records)


def load_text(spec: DataSpec, model: ModelSpec) -> TextData:
    raw, digest = storage.read_bytes_hashed(spec.train_uri)
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    records = [DatasetRecord(spec.train_uri, digest, len(raw), "train")]
    if spec.eval_uri:
        raw_eval, digest_eval = storage.read_bytes_hashed(spec.eval_uri)
        train, evaluation = data, torch.frombuffer(bytearray(raw_eval), dtype=torch.uint8)
        records.append(DatasetRecord(spec.eval_uri, digest_eval, len(raw_eval), "eval"))
    else:
        cut = len(data) - max(model.block_size + 2, round(len(data) * spec.eval_fraction))
        train, evaluation = data[:cut], data[cut:]
    for name, part in (("training", train), ("evaluation", evaluation)):
        if len(part) < model.block_size + 2:
            raise DataError(f"{spec.train_uri}: the {name} text is shorter than block_size + 2 bytes")
    return TextData(train, evaluation, records)


class TabularBatches:
    """Epoch-wise shuffled batches without replacement; the last partial batch of an epoch is dropped."""

    def __init__(self, split: TabularSplit, global_batch: int, rank: int, world: int, seed: int) -> None:
        if global_batch > len(split):
            raise DataError(f"train.batch_size ({global_batch}) is larger than the training set ({len(split)} rows)")
        self.x, self.y = split.x, split.y
        self.global_batch, self.local = global_batch, global_batch // world
        self.offset = rank * self.local
        self.per_epoch = len(split) // global_batch
        self.seed = seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(len(self.y), generator=g)
        start = pos * self.global_batch + self.offset
        idx = self._perm[start : start + self.local]
        return self.x[idx], self.y[idx]


class TextBatches:
    """Random windows of block_size + 1 bytes; step `s` draws from a generator seeded by (seed, s)."""

    def __init__(self, data: torch.Tensor, block_size: int, global_batch: int, rank: int, world: int, seed: int):
        self.data = data.long()
        self.block_size, self.global_batch = block_size, global_batch
        self.local = global_batch // world
        self.offset = rank * self.local
        self.seed = seed
        self._arange = torch.arange(block_size + 1)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        starts = torch.randint(len(self.data) - self.block_size - 1, (self.global_batch,), generator=g)
        starts = starts[self.offset : self.offset + self.local]
        window = self.data[starts[:, None] + self._arange]
        return window[:, :-1], window[:, 1:]


def text_eval_windows(data: torch.Tensor, block_size: int, max_windows: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows over the eval text (deterministic)."""
    n = min(max_windows, (len(data) - 1) // block_size)
    starts = torch.arange(n) * block_size
    window = data.long()[starts[:, None] + torch.arange(block_size + 1)]
    return window[:, :-1], window[:, 1:]
