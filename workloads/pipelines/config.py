"""What every step of the continuous-training pipeline knows: its settings and the run it belongs to.

In the cluster the WorkflowTemplate (workflow.py) gives each step `PIPELINE_SETTINGS` (JSON, rendered
from the stack's `pipelines[]` entry), `PIPELINE_RUN_ID` (the workflow's name) and the run's
`PIPELINE_SOURCE_URI` / `PIPELINE_REFERENCE_URI`; the feature store and MLflow come from their own
environment variables (FEAST_*, REDIS_*, MLFLOW_TRACKING_URI). Tests build `RunContext` directly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workloads.pipelines.errors import PipelineConfigError
from workloads.training import storage


class Gates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_rows: int = Field(default=200, ge=1, description="data validation: rows a batch must have")
    max_null_fraction: float = Field(default=0.01, ge=0.0, le=1.0)
    max_out_of_range_fraction: float = Field(
        default=0.01, ge=0.0, le=1.0, description="share of a feature's values outside the reference's range"
    )
    max_psi: float = Field(default=0.2, gt=0.0, description="population stability index of any feature")
    min_accuracy: float = Field(default=0.85, ge=0.0, le=1.0)
    max_demographic_parity_difference: float = Field(default=0.1, ge=0.0, le=1.0)


class PipelineSettings(BaseModel):
    """PIPELINE_SETTINGS: one pipeline of one team (components/k8s/training_pipeline.py renders it)."""

    model_config = ConfigDict(extra="forbid")

    team: str
    pipeline: str
    runs_uri: str = Field(description="<artifacts>/teams/<team>/pipelines/<name>: each run writes under <run id>/")
    models_uri: str = Field(description="<models>/teams/<team>/<model>: the trained versions (the inference SA reads)")
    offline_path: str = Field(description="the offline store's applicant table (Parquet directory)")
    registered_model: str
    model_deployment: str = Field(description="the InferenceService the new version rolls out to (same namespace)")
    namespace: str
    canary_percent: int = Field(default=10, ge=0, le=100)
    gates: Gates = Field(default_factory=Gates)
    train_config: str = Field(default="workloads/training/configs/tabular.yaml")
    train_overrides: dict[str, Any] = Field(default_factory=dict)
    code_version: str = "unknown"


@dataclass(frozen=True)
class RunContext:
    settings: PipelineSettings
    run_id: str
    source_uri: str
    reference_uri: str

    @property
    def run_uri(self) -> str:
        return storage.join(self.settings.runs_uri, self.run_id)

    def uri(self, *parts: str) -> str:
        return storage.join(self.run_uri, *parts)

    @property
    def model_output_uri(self) -> str:
        """Where training writes this run's outputs (model/, model_card.json, metrics.json)."""
        return storage.join(self.settings.models_uri, "runs", self.run_id)

    def record(self, step: str, doc: dict[str, Any]) -> dict[str, Any]:
        """The step's record, `<run uri>/<step>.json`: what the next steps read and what an audit reads."""
        doc = {"step": step, "run_id": self.run_id, **doc}
        storage.write_bytes(self.uri(f"{step}.json"), json.dumps(doc, indent=2, default=str).encode())
        return doc

    def read(self, step: str) -> dict[str, Any]:
        uri = self.uri(f"{step}.json")
        if not storage.exists(uri):
            raise PipelineConfigError(f"{uri} is missing: run the '{step}' step of run {self.run_id} first")
        return json.loads(storage.read_bytes(uri))


def from_environment(env: dict[str, str] | None = None) -> RunContext:
    """The run context of a step in the cluster (the variables the WorkflowTemplate sets)."""
    env = dict(os.environ if env is None else env)
    missing = [
        k
        for k in ("PIPELINE_SETTINGS", "PIPELINE_RUN_ID", "PIPELINE_SOURCE_URI", "PIPELINE_REFERENCE_URI")
        if not env.get(k)
    ]
    if missing:
        raise PipelineConfigError(f"{', '.join(missing)} not set (the WorkflowTemplate sets them)")
    try:
        settings = PipelineSettings.model_validate_json(env["PIPELINE_SETTINGS"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PipelineConfigError(f"PIPELINE_SETTINGS: {where}: {first['msg']}") from None
    return RunContext(settings, env["PIPELINE_RUN_ID"], env["PIPELINE_SOURCE_URI"], env["PIPELINE_REFERENCE_URI"])
