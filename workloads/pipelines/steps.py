"""The steps of the continuous-training pipeline: plain functions of a `RunContext`.

Argo runs each one in its own pod (`python -m workloads.pipelines <step>`, workflow.py); the tests and
`run_all` call them in order in one process. A step reads what earlier steps recorded under the run's
prefix of the artifacts bucket (`<run uri>/<step>.json`, plus `batch.parquet` and `labels.parquet`) and
records its own; a gate that fails raises `GateFailedError` after recording why, and nothing later runs.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workloads.pipelines.config import RunContext
from workloads.pipelines.errors import GateFailedError, PipelineError
from workloads.pipelines.validation import validate as validate_batch
from workloads.rollouts.errors import RolloutError
from workloads.rollouts.inferenceservice import KubernetesApi, api_error, canary_patch
from workloads.training import storage

log = logging.getLogger("workloads.pipelines")

Step = Callable[[RunContext], dict[str, Any]]


def _read_table(uri: str) -> pd.DataFrame:
    data = storage.read_bytes(uri)
    try:
        if uri.endswith(".parquet"):
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data), dtype={"group": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise PipelineError(f"{uri} is not a CSV or Parquet table ({str(exc).splitlines()[0]})") from None


def _write_parquet(uri: str, frame: pd.DataFrame) -> None:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    storage.write_bytes(uri, buf.getvalue())


def _first_id(run_id: str) -> int:
    """Applicant ids of a batch without ids: a block of a million per run, derived from the run id."""
    return (zlib.crc32(run_id.encode()) % 1_000_000) * 1_000_000 + 1


# -- ingest -------------------------------------------------------------------------------------------


def ingest(ctx: RunContext, as_of: datetime | None = None) -> dict[str, Any]:
    """New raw data into the offline store (a new Parquet file of the applicant table) and the run's
    label table (the entity frame of the training set)."""
    from workloads.features import frames, store

    raw, sha256 = storage.read_bytes_hashed(ctx.source_uri)
    batch = frames.read_sample(_read_table(ctx.source_uri) if ctx.source_uri.endswith(".parquet") else raw)
    as_of = as_of or datetime.now(UTC)
    tables = frames.sample_tables(batch, as_of=as_of, first_id=_first_id(ctx.run_id))
    written = store.write_offline(tables.features, ctx.settings.offline_path)
    _write_parquet(ctx.uri("batch.parquet"), batch)
    _write_parquet(ctx.uri("labels.parquet"), tables.labels)
    return ctx.record(
        "ingest",
        {
            "source_uri": ctx.source_uri,
            "source_sha256": sha256,
            "rows": len(batch),
            "offline_file": written,
            "as_of": as_of.isoformat(),
        },
    )


# -- validate -----------------------------------------------------------------------------------------


def validate(ctx: RunContext) -> dict[str, Any]:
    """Schema, nulls, ranges and distribution shift of the batch against the reference: a gate."""
    batch = _read_table(ctx.uri("batch.parquet"))
    reference = _read_table(ctx.reference_uri)
    report = validate_batch(batch, reference, ctx.settings.gates)
    doc = ctx.record("validate", {"reference_uri": ctx.reference_uri, **report.as_dict()})
    if not report.passed:
        raise GateFailedError("data validation failed: " + "; ".join(c.describe() for c in report.failed()))
    return doc


# -- materialize --------------------------------------------------------------------------------------


def materialize(ctx: RunContext) -> dict[str, Any]:
    """Register the feature repository and load the features up to now into the online store."""
    from workloads.features import store
    from workloads.features.settings import Settings

    settings = Settings.from_env()
    fs = store.open_store(settings)
    store.apply(fs, ctx.settings.offline_path, settings.s3_endpoint)
    end = datetime.now(UTC)
    store.materialize(fs, end)
    views = sorted(v.name for v in fs.list_feature_views())
    return ctx.record("materialize", {"project": fs.project, "feature_views": views, "end": end.isoformat()})


# -- train --------------------------------------------------------------------------------------------


def _train_config(ctx: RunContext, train_uri: str) -> Any:
    from workloads.training.config import load_config

    overrides = {
        **ctx.settings.train_overrides,
        "run.name": ctx.settings.registered_model,
        "run.output_uri": ctx.model_output_uri,
        "data.train_uri": train_uri,
        "registry.mode": "never",  # the register step registers, after every gate of the run
        "registry.model_name": ctx.settings.registered_model,
        "eval.fail_on_gate": False,  # the evaluate step is the gate
    }
    return load_config(ctx.settings.train_config, overrides)


def train(ctx: RunContext) -> dict[str, Any]:
    """The training set from the feature store (as of each label's time), then the training workload."""
    from workloads.features import frames, store
    from workloads.features.repo import FAIRNESS_SERVICE
    from workloads.training.trainer import train as run_training

    labels = _read_table(ctx.uri("labels.parquet"))
    fs = store.open_store()
    # the model's features and the sensitive attribute (for the fairness gate), as of each label's time
    training_set = store.training_frame(fs, labels, FAIRNESS_SERVICE)
    train_uri = ctx.uri("train.csv")
    storage.write_bytes(train_uri, frames.training_csv(training_set))
    cfg = _train_config(ctx, train_uri)
    result = run_training(cfg, handle_sigterm=False)
    if result.status != "completed":
        raise PipelineError(f"training stopped at step {result.step} ({result.status}); the run can be resumed")
    return ctx.record(
        "train",
        {
            "train_uri": train_uri,
            "rows": len(training_set),
            "output_uri": ctx.model_output_uri,
            "steps": result.step,
            "metrics": (result.card or {}).get("metrics", {}),
        },
    )


# -- evaluate -----------------------------------------------------------------------------------------


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """The new model's metrics and fairness against the pipeline's gates: a gate."""
    metrics_doc = json.loads(storage.read_bytes(storage.join(ctx.model_output_uri, "metrics.json")))
    metrics, fairness = metrics_doc.get("metrics", {}), metrics_doc.get("fairness") or {}
    gates = ctx.settings.gates
    dpd = fairness.get("demographic_parity_difference")
    checks = [
        _gate("accuracy", metrics.get("accuracy"), ">=", gates.min_accuracy),
        _gate("demographic_parity_difference", dpd, "<=", gates.max_demographic_parity_difference),
    ]
    passed = all(c["passed"] for c in checks)
    doc = ctx.record("evaluate", {"passed": passed, "checks": checks, "metrics": metrics, "fairness": fairness})
    if not passed:
        failed = "; ".join(
            f"{c['name']} {c['value']} {c['op']} {c['threshold']}: FAIL" for c in checks if not c["passed"]
        )
        raise GateFailedError(f"evaluation failed: {failed}")
    return doc


def _gate(name: str, value: Any, op: str, threshold: float) -> dict[str, Any]:
    ok = isinstance(value, int | float) and (value >= threshold if op == ">=" else value <= threshold)
    return {"name": name, "value": value, "op": op, "threshold": threshold, "passed": bool(ok)}


# -- register -----------------------------------------------------------------------------------------


def run_gates(ctx: RunContext) -> list[dict[str, Any]]:
    """Every gate of the run: data validation, the trainer's own gates, the pipeline's evaluation."""
    validation, evaluation = ctx.read("validate"), ctx.read("evaluate")
    card = json.loads(storage.read_bytes(storage.join(ctx.model_output_uri, "model_card.json")))
    gates = [{"name": "data_validation", "passed": bool(validation["passed"])}]
    gates += [{**g, "name": f"training.{g['name']}"} for g in card["gates"]["checks"]]
    gates += [{**g, "name": f"pipeline.{g['name']}"} for g in evaluation["checks"]]
    return gates


def register(ctx: RunContext) -> dict[str, Any]:
    """A new version in MLflow with the run's lineage; the alias only when every gate passed."""
    from workloads.training import registry

    gates = run_gates(ctx)
    passed = all(g["passed"] for g in gates)
    out = ctx.model_output_uri
    train_uri = ctx.read("train")["train_uri"]
    cfg = _train_config(ctx, train_uri)
    with tempfile.TemporaryDirectory(prefix="mlp-register-") as tmp:
        local = Path(tmp)
        fs, path = storage.filesystem(out)
        fs.get(path.rstrip("/") + "/", str(local), recursive=True)
        card = json.loads((local / "model_card.json").read_text())
        card["gates"] = {"passed": passed, "checks": gates}
        card["pipeline"] = {
            "name": f"{ctx.settings.namespace}/{ctx.settings.pipeline}",
            "run_id": ctx.run_id,
            "source_uri": ctx.source_uri,
            "reference_uri": ctx.reference_uri,
            "code_version": ctx.settings.code_version,
        }
        (local / "model_card.json").write_text(json.dumps(card, indent=2))
        storage.write_bytes(storage.join(out, "model_card.json"), json.dumps(card, indent=2).encode())
        reg = registry.register(cfg, card, local)
    return ctx.record(
        "register", {**reg, "gates_passed": passed, "storage_uri": storage.join(out, "model"), "gates": gates}
    )


# -- rollout ------------------------------------------------------------------------------------------


def rollout(ctx: RunContext, api: KubernetesApi | None = None) -> dict[str, Any]:
    """The registered version as a canary of the model deployment, only when every gate passed."""
    reg = ctx.read("register")
    s = ctx.settings
    if not reg.get("gates_passed") or not reg.get("alias"):
        return ctx.record("rollout", {"rolled_out": False, "reason": "a gate failed: the version stays unserved"})
    api = api or KubernetesApi()
    try:
        isvc = api.get(s.namespace, s.model_deployment)
        patch = canary_patch(isvc, reg["storage_uri"], reg["version"], s.canary_percent)
        api.patch(s.namespace, s.model_deployment, patch)
    except RolloutError as exc:
        raise PipelineError(str(exc)) from None
    except Exception as exc:  # the client's ApiException and connection errors: one line
        raise PipelineError(
            f"rollout to inferenceservice {s.namespace}/{s.model_deployment} failed: {api_error(exc)}"
        ) from None
    return ctx.record(
        "rollout",
        {
            "rolled_out": True,
            "inference_service": f"{s.namespace}/{s.model_deployment}",
            "version": reg["version"],
            "traffic_percent": s.canary_percent,
            "patch": patch,
        },
    )


STEPS: dict[str, Step] = {
    "ingest": ingest,
    "validate": validate,
    "materialize": materialize,
    "train": train,
    "evaluate": evaluate,
    "register": register,
    "rollout": rollout,
}


def run_all(ctx: RunContext, api: KubernetesApi | None = None) -> dict[str, dict[str, Any]]:
    """Every step in order in this process (what the WorkflowTemplate does across pods)."""
    records: dict[str, dict[str, Any]] = {}
    for name, step in STEPS.items():
        started = time.perf_counter()
        log.info("step %s", name)
        records[name] = rollout(ctx, api) if name == "rollout" else step(ctx)
        log.info("step %s done in %.1f s", name, time.perf_counter() - started)
    return records
