"""Registration in MLflow's model registry (tracking URI from ``MLFLOW_TRACKING_URI``).

One MLflow run per training run (params, metrics, lineage tags, and the outputs as artifacts), then a
new version of the registered model whose source is the run's ``model/`` artifacts. The version
carries the model card and lineage as tags (the ``ai.*`` keys the responsible-AI policies read).
The alias (``registry.alias``, default ``candidate``) moves to the new version only when every gate
passed; a version that failed a gate is tagged ``ai.gates=failed`` and is never aliased. Promotion
to a production alias is a human decision, outside the trainer.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from workloads.training.config import TrainConfig, config_dict
from workloads.training.errors import RegistryError

_MAX_TAG = 5000  # MLflow's limit on a tag value


def tracking_uri() -> str | None:
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def enabled(cfg: TrainConfig) -> bool:
    if cfg.registry.mode == "never":
        return False
    if cfg.registry.mode == "always" and not tracking_uri():
        raise RegistryError("registry.mode is 'always' but MLFLOW_TRACKING_URI is not set")
    return tracking_uri() is not None


def preflight() -> None:
    """Fail before training when the tracking server cannot be reached (HTTP URIs)."""
    uri = tracking_uri() or ""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10) as resp:
            if resp.status != 200:
                raise RegistryError(f"MLflow at {uri} answered {resp.status} on /health")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryError(f"cannot reach MLflow at {uri}: {reason}") from None


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, list | tuple) else str(value)


def version_tags(card: dict[str, Any]) -> dict[str, str]:
    """Model-card and lineage fields as registry tags (``ai.*``), plus metrics and fairness figures."""
    train_sets = [d for d in card["training_datasets"] if d["role"] == "train"]
    tags = {
        "ai.owner": card["owner"]["team"],
        "ai.contact": card["owner"]["contact"] or "",
        "ai.risk-tier": card["risk_tier"],
        "ai.intended-use": card["intended_use"]["primary"],
        "ai.out-of-scope": json.dumps(card["intended_use"]["out_of_scope"]),
        "ai.limitations": json.dumps(card["limitations"]),
        "ai.model-card-uri": card["model"]["artifacts"]["model_card"],
        "ai.training-dataset-uri": ",".join(d["uri"] for d in train_sets),
        "ai.dataset-version": ",".join(f"sha256:{d['sha256']}" for d in train_sets),
        "ai.datasets": json.dumps(card["training_datasets"]),
        "ai.code-version": card["code_version"]["git_commit"],
        "ai.image": card["code_version"]["image"],
        "ai.training-job": card["code_version"]["training_job"],
        "ai.config-sha256": card["training"]["config_sha256"],
        "ai.gates": "passed" if card["gates"]["passed"] else "failed",
        "ai.gates.failed": ",".join(c["name"] for c in card["gates"]["checks"] if not c["passed"]),
        "ai.status": card["status"],
        "ai.weights-uri": card["model"]["artifacts"]["weights"],
    }
    for name, value in card["metrics"].items():
        tags[f"metric.{name}"] = f"{value:.6g}"
    if card["fairness"]:
        tags["ai.sensitive-attribute"] = str(card["fairness"]["sensitive_attribute"])
        for name in ("demographic_parity_difference", "equalized_odds_difference"):
            tags[f"fairness.{name}"] = f"{card['fairness'][name]:.6g}"
    return {k: v[:_MAX_TAG] for k, v in tags.items()}


def register(cfg: TrainConfig, card: dict[str, Any], local_dir: Path) -> dict[str, Any]:
    """Log the run and register a model version; returns the card's ``registry`` entry."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri()
    assert uri is not None, "register() needs MLFLOW_TRACKING_URI"
    name = cfg.model_name
    tags = version_tags(card)
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(cfg.registry.experiment)
        params: dict[str, str] = {}
        _flatten("", config_dict(cfg), params)
        with mlflow.start_run(run_name=cfg.run.name) as run:
            mlflow.log_params({k: v[:6000] for k, v in params.items() if not k.startswith("card.")})
            mlflow.log_metrics({k: v for k, v in card["metrics"].items() if isinstance(v, int | float)})
            mlflow.set_tags({k: v for k, v in tags.items() if k.startswith("ai.")})
            mlflow.log_artifacts(str(local_dir))
            run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        client = MlflowClient()
        try:
            client.create_registered_model(name, description=card["intended_use"]["primary"])
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(
            name,
            source=f"{artifact_uri}/model",
            run_id=run_id,
            tags=tags,
            description=card["description"] or card["intended_use"]["primary"],
        )
        alias = None
        if card["gates"]["passed"]:
            client.set_registered_model_alias(name, cfg.registry.alias, version.version)
            alias = cfg.registry.alias
    except MlflowException as exc:
        raise RegistryError(f"MLflow ({uri}): {str(exc.message).splitlines()[0]}") from None
    return {
        "tracking_uri": uri,
        "model_name": name,
        "version": str(version.version),
        "run_id": run_id,
        "alias": alias,
    }
