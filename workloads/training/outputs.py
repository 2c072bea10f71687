"""What a finished run leaves behind, under ``OUTPUT_URI``:

model/model.safetensors   weights and buffers (safetensors)
model/model.pt2           self-contained inference artifact (torch.export): load it with
                          ``torch.export.load(f).module()`` — no training code needed
model/config.json         architecture, inputs and outputs of the artifact
metrics.json              task metrics, fairness metrics, gates, training summary
model_card.json           the model card (schema: model_card.schema.json, README)
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim, export

from workloads.training import storage
from workloads.training.checkpoint import model_to_bytes
from workloads.training.config import TrainConfig, config_dict
from workloads.training.data import DatasetRecord
from workloads.training.errors import StorageError
from workloads.training.evaluate import Evaluation
from workloads.training.models import TabularClassifier, TabularInference

CARD_SCHEMA_VERSION = "1.0"
CARD_SCHEMA = Path(__file__).with_name("model_card.schema.json")


@dataclass
class TrainingSummary:
    steps: int
    resumed_from_step: int | None
    world_size: int
    device: str
    precision: str
    compiled: bool
    samples_per_second: float
    started_at: str
    finished_at: str
    parameters: int


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def code_version() -> dict[str, str]:
    """Where the code came from: set by the platform's TrainingJob (image, commit, job), else git."""
    commit = os.environ.get("ML_PLATFORM_CODE_VERSION", "")
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
    return {
        "git_commit": commit,
        "image": os.environ.get("ML_PLATFORM_IMAGE", "unknown"),
        "training_job": os.environ.get("ML_PLATFORM_JOB_ID", "local"),
    }


def config_sha256(cfg: TrainConfig) -> str:
    return hashlib.sha256(json.dumps(config_dict(cfg), sort_keys=True).encode()).hexdigest()


def export_artifact(cfg: TrainConfig, model: nn.Module, n_features: int) -> tuple[bytes, dict[str, Any]]:
    """The torch.export program of the inference module (CPU, fp32) and its description."""
    import io

    model = model.to("cpu").float().eval()
    if cfg.model.kind == "tabular":
        assert isinstance(model, TabularClassifier)
        program = export(
            TabularInference(model),
            (torch.zeros(2, n_features),),
            dynamic_shapes={"x": {0: Dim("batch", min=1, max=1 << 20)}},
        )
        io_spec = {
            "input": {"name": "x", "dtype": "float32", "shape": ["batch", n_features]},
            "output": {"name": "probability", "dtype": "float32", "shape": ["batch"], "meaning": "P(label = 1)"},
            "decision_threshold": 0.5,
        }
    else:
        t = cfg.model.block_size
        program = export(
            model,
            (torch.zeros(2, t, dtype=torch.long),),
            dynamic_shapes={"idx": {0: Dim("batch", min=1, max=4096), 1: Dim("seq", min=1, max=t)}},
        )
        io_spec = {
            "input": {"name": "idx", "dtype": "int64", "shape": ["batch", f"seq <= {t}"], "meaning": "UTF-8 bytes"},
            "output": {"name": "logits", "dtype": "float32", "shape": ["batch", "seq", 256]},
        }
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue(), io_spec


def build_card(
    cfg: TrainConfig,
    datasets: list[DatasetRecord],
    evaluation: Evaluation,
    summary: TrainingSummary,
    artifacts: dict[str, str],
    feature_names: list[str] | None,
) -> dict[str, Any]:
    card = cfg.card
    fairness = None
    if evaluation.fairness is not None:
        fairness = {
            "sensitive_attribute": cfg.data.sensitive_column,
            **evaluation.fairness,
            "thresholds": {
                "demographic_parity_difference": cfg.eval.max_demographic_parity_difference,
                "equalized_odds_difference": cfg.eval.max_equalized_odds_difference,
            },
            "passed": all(g.passed for g in evaluation.gates if g.name != "accuracy"),
        }
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "model": {
            "name": cfg.model_name,
            "kind": cfg.model.kind,
            "architecture": config_dict(cfg)["model"],
            "parameters": summary.parameters,
            "framework": f"torch {torch.__version__.split('+')[0]}",
            "inputs": feature_names,
            "artifacts": artifacts,
        },
        "owner": {"team": card.owner, "contact": card.contact},
        "description": card.description,
        "intended_use": {"primary": card.intended_use, "out_of_scope": list(card.out_of_scope)},
        "risk_tier": card.risk_tier,
        "training_datasets": [d.as_dict() for d in datasets],
        "code_version": code_version(),
        "training": {
            "steps": summary.steps,
            "resumed_from_step": summary.resumed_from_step,
            "global_batch_size": cfg.train.batch_size,
            "world_size": summary.world_size,
            "device": summary.device,
            "precision": summary.precision,
            "seed": cfg.run.seed,
            "config_sha256": config_sha256(cfg),
            "started_at": summary.started_at,
            "finished_at": summary.finished_at,
        },
        "metrics": evaluation.metrics,
        "fairness": fairness,
        "gates": {"passed": evaluation.passed, "checks": [g.as_dict() for g in evaluation.gates]},
        "status": "candidate" if evaluation.passed else "rejected",
        "limitations": list(card.limitations),
        "registry": None,
        "created_at": now(),
    }


def metrics_doc(cfg: TrainConfig, evaluation: Evaluation, summary: TrainingSummary) -> dict[str, Any]:
    return {
        "model": cfg.model_name,
        "metrics": evaluation.metrics,
        "fairness": evaluation.fairness,
        "gates": {"passed": evaluation.passed, "checks": [g.as_dict() for g in evaluation.gates]},
        "training": {
            "steps": summary.steps,
            "resumed_from_step": summary.resumed_from_step,
            "world_size": summary.world_size,
            "device": summary.device,
            "precision": summary.precision,
            "compiled": summary.compiled,
            "samples_per_second": summary.samples_per_second,
        },
    }


def write_outputs(
    cfg: TrainConfig,
    model: nn.Module,
    evaluation: Evaluation,
    summary: TrainingSummary,
    datasets: list[DatasetRecord],
    feature_names: list[str] | None,
    local_dir: Path,
) -> dict[str, Any]:
    """Write every output into `local_dir` and copy it to OUTPUT_URI; returns the model card."""
    out = cfg.run.output_uri.rstrip("/")
    model_dir = local_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    (model_dir / "model.safetensors").write_bytes(
        model_to_bytes(state, {"kind": cfg.model.kind, "config": json.dumps(config_dict(cfg)["model"])})
    )
    program, io_spec = export_artifact(cfg, model, len(feature_names or []))
    (model_dir / "model.pt2").write_bytes(program)
    model_config = {
        "kind": cfg.model.kind,
        "model": config_dict(cfg)["model"],
        "features": feature_names,
        **io_spec,
        "load": "torch.export.load('model.pt2').module()",
    }
    (model_dir / "config.json").write_text(json.dumps(model_config, indent=2))
    artifacts = {
        "weights": storage.join(out, "model/model.safetensors"),
        "inference": storage.join(out, "model/model.pt2"),
        "config": storage.join(out, "model/config.json"),
        "metrics": storage.join(out, "metrics.json"),
        "model_card": storage.join(out, "model_card.json"),
    }
    card = build_card(cfg, datasets, evaluation, summary, artifacts, feature_names)
    (local_dir / "metrics.json").write_text(json.dumps(metrics_doc(cfg, evaluation, summary), indent=2))
    (local_dir / "model_card.json").write_text(json.dumps(card, indent=2))
    storage.upload_dir(local_dir, out)
    return card


def finished_card(cfg: TrainConfig) -> dict[str, Any] | None:
    """The model card in OUTPUT_URI when a run of exactly this config already finished there."""
    try:
        card = json.loads(storage.read_bytes(storage.join(cfg.run.output_uri, "model_card.json")))
    except (StorageError, ValueError):
        return None
    if not isinstance(card, dict) or card.get("training", {}).get("config_sha256") != config_sha256(cfg):
        return None
    return card


def update_card(cfg: TrainConfig, card: dict[str, Any], local_dir: Path) -> None:
    """Rewrite the model card (after registration filled in `registry`)."""
    data = json.dumps(card, indent=2)
    (local_dir / "model_card.json").write_text(data)
    storage.write_bytes(storage.join(cfg.run.output_uri, "model_card.json"), data.encode())
