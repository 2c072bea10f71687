"""The continuous-training pipeline as Argo Workflows objects, authored with Hera.

`render(params)` returns the WorkflowTemplate (the DAG of steps) and the CronWorkflow that starts it on
a schedule, as plain dicts; components/k8s/training_pipeline.py deploys them into the team namespace.
Every step runs `python -m workloads.pipelines <step>` in the pipeline image, so the cluster runs exactly
the functions the tests run in-process (workloads/pipelines/steps.py):

    ingest -> validate -> materialize -> train -> evaluate -> register -> rollout

A step that fails (a gate: exit code 3) stops the run: Argo starts no step that depends on it. Steps pass
nothing through Argo; each writes its record under the run's prefix of the artifacts bucket
(`<run uri>/<step>.json`) and the next one reads it, so a run is auditable after its pods are gone.

Only Hera and the standard library are imported here: the Pulumi program renders the templates.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from hera.workflows import (
    DAG,
    ConfigMapVolume,
    Container,
    CronWorkflow,
    EmptyDirVolume,
    Env,
    Parameter,
    Resources,
    RetryStrategy,
    SecretEnv,
    WorkflowTemplate,
)
from hera.workflows import models as m

STEPS = ("ingest", "validate", "materialize", "train", "evaluate", "register", "rollout")
GATE_EXIT_CODE = 3  # a failed gate (data validation, evaluation): never retried

# lineage and governance annotations (the responsible-AI pack reads them; components/k8s/governance.py
# and policy/responsible_ai/rules.py name the same keys)
ANN_OWNER = "ml-platform/owner"
ANN_CONTACT = "ml-platform/contact"
ANN_RISK_TIER = "ml-platform/risk-tier"
ANN_DATASET = "ml-platform/dataset"
ANN_REFERENCE_DATASET = "ml-platform/reference-dataset"
ANN_CODE_VERSION = "ml-platform/code-version"
ANN_REGISTERED_MODEL = "ml-platform/registered-model"
ANN_PIPELINE = "ml-platform/pipeline"
ANN_PIPELINE_STEP = "ml-platform/pipeline-step"

SERVICE_ACCOUNT = "pipeline"
# MLflow's basic auth: a user of the team (EDIT on its experiment and registered model), created by the
# platform team in MLflow and stored in this Secret of the team namespace (keys username, password);
# optional, so a registry without auth works as is
MLFLOW_SECRET = "mlflow-credentials"
ONLINE_STORE_SECRET = "online-store"  # key `password`: the cache's AUTH token (components/k8s/pipelines.py)
UID = 65532

_STEP_DOCS = {
    "ingest": "new raw data into the offline store (Parquet) and the run's label table",
    "validate": "schema, nulls, ranges and distribution shift (PSI) against the reference; a gate",
    "materialize": "register the feature repository and load the latest features into the online store",
    "train": "the training set from the feature store (point in time), then the training workload",
    "evaluate": "metrics and the fairness gate of the new model",
    "register": "a new MLflow version; the alias only when every gate of the run passed",
    "rollout": "the new version as a canary of the model deployment",
}


@dataclass(frozen=True)
class StepResources:
    cpu: str = "500m"
    memory: str = "1Gi"
    cpu_limit: str = "1"
    gpus: int = 0


@dataclass(frozen=True)
class PipelineParams:
    """Everything the rendered objects depend on (plain values: the component resolves its Outputs first)."""

    name: str
    namespace: str
    image: str
    settings: dict[str, Any]  # PIPELINE_SETTINGS of every step (workloads/pipelines/config.py)
    source_uri: str
    reference_uri: str
    registered_model: str
    owner: str
    contact: str
    risk_tier: str
    code_version: str
    schedule: str | None = "0 3 * * 1"
    timezone: str = "UTC"
    env: dict[str, str] = field(default_factory=dict)  # MLflow, Feast and cloud settings of the cluster
    node_selector: dict[str, str] | None = None  # the CPU steps (the worker pool)
    train_node_selector: dict[str, str] | None = None  # the train step (a GPU pool when configured)
    train_tolerations: tuple[dict[str, str], ...] = ()
    train_resources: StepResources = StepResources(cpu="2", memory="8Gi", cpu_limit="4")
    labels: dict[str, str] = field(default_factory=dict)
    ttl_seconds: int = 7 * 24 * 3600
    deadline_seconds: int = 6 * 3600
    ca_configmap: str | None = None  # the online store's CA certificate (Memorystore), mounted at ca_path
    ca_path: str | None = None

    def lineage(self) -> dict[str, str]:
        return {
            ANN_PIPELINE: f"{self.namespace}/{self.name}",
            ANN_OWNER: self.owner,
            ANN_CONTACT: self.contact,
            ANN_RISK_TIER: self.risk_tier,
            ANN_DATASET: self.source_uri,
            ANN_REFERENCE_DATASET: self.reference_uri,
            ANN_CODE_VERSION: self.code_version,
            ANN_REGISTERED_MODEL: self.registered_model,
        }


def _container_security() -> m.SecurityContext:
    return m.SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=m.Capabilities(drop=["ALL"]),
    )


def _pod_security() -> m.PodSecurityContext:
    return m.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=UID,
        run_as_group=UID,
        fs_group=UID,
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def _step(params: PipelineParams, step: str) -> Container:
    train = step == "train"
    res = params.train_resources if train else StepResources()
    env: list[Env | SecretEnv] = [
        Env(name="PIPELINE_STEP", value=step),
        Env(name="PIPELINE_RUN_ID", value="{{workflow.name}}"),
        Env(name="PIPELINE_SOURCE_URI", value="{{workflow.parameters.source-uri}}"),
        Env(name="PIPELINE_REFERENCE_URI", value="{{workflow.parameters.reference-uri}}"),
        Env(name="PIPELINE_SETTINGS", value=json.dumps(params.settings, sort_keys=True, separators=(",", ":"))),
        *(Env(name=k, value=v) for k, v in sorted(params.env.items())),
        Env(name="HOME", value="/tmp"),
    ]
    volumes: list[EmptyDirVolume | ConfigMapVolume] = [
        EmptyDirVolume(name="tmp", mount_path="/tmp", size_limit=m.Quantity("10Gi"))
    ]
    if step == "register":
        env += [
            SecretEnv(name="MLFLOW_TRACKING_USERNAME", secret_name=MLFLOW_SECRET, secret_key="username", optional=True),
            SecretEnv(name="MLFLOW_TRACKING_PASSWORD", secret_name=MLFLOW_SECRET, secret_key="password", optional=True),
        ]
    if step in ("materialize", "train"):  # the online store's AUTH token (writes and point reads)
        env.append(SecretEnv(name="REDIS_PASSWORD", secret_name=ONLINE_STORE_SECRET, secret_key="password"))
        if params.ca_configmap and params.ca_path:
            folder, _, file = params.ca_path.rpartition("/")
            volumes.append(
                ConfigMapVolume(
                    name=params.ca_configmap,  # Hera names the volume after its ConfigMap
                    mount_path=folder,
                    read_only=True,
                    items=[m.KeyToPath(key="ca.pem", path=file)],
                )
            )
    return Container(
        name=step,
        image=params.image,
        command=["python", "-m", "workloads.pipelines", step],
        env=env,
        resources=Resources(
            cpu_request=res.cpu,
            cpu_limit=res.cpu_limit,
            memory_request=res.memory,
            memory_limit=res.memory,
            gpus=res.gpus or None,
        ),
        security_context=_container_security(),
        volumes=volumes,
        annotations={ANN_PIPELINE_STEP: step, "ml-platform/step-description": _STEP_DOCS[step]},
        labels={"ml-platform/pipeline-step": step},
        node_selector=(params.train_node_selector if train else None) or params.node_selector,
        tolerations=[
            m.Toleration(key=t.get("key"), operator=t.get("operator"), value=t.get("value"), effect=t.get("effect"))
            for t in params.train_tolerations
        ]
        if train and params.train_tolerations
        else None,
        # Argo retries what happened to the pod (eviction, spot reclaim: phase Error), never a step that
        # failed on its own (phase Failed: a gate, bad data)
        retry_strategy=RetryStrategy(limit=2, retry_policy="OnError"),
        active_deadline_seconds=params.deadline_seconds,
    )


def workflow_template(params: PipelineParams) -> dict[str, Any]:
    lineage = params.lineage()
    with WorkflowTemplate(
        name=params.name,
        namespace=params.namespace,
        labels=params.labels,
        annotations=lineage,
        entrypoint="continuous-training",
        service_account_name=SERVICE_ACCOUNT,
        automount_service_account_token=True,  # the rollout step patches the InferenceService
        security_context=_pod_security(),
        workflow_metadata=m.WorkflowMetadata(annotations=lineage, labels=params.labels),
        arguments=[
            Parameter(name="source-uri", value=params.source_uri, description="new raw data (CSV or Parquet)"),
            Parameter(name="reference-uri", value=params.reference_uri, description="data validation reference"),
        ],
        ttl_strategy=m.TTLStrategy(
            seconds_after_success=params.ttl_seconds, seconds_after_failure=params.ttl_seconds * 2
        ),
        pod_gc=m.PodGC(strategy="OnPodSuccess"),  # failed pods stay for their logs until the TTL
        active_deadline_seconds=params.deadline_seconds,
        pod_metadata=m.Metadata(labels=params.labels),
    ) as wt:
        steps = [_step(params, s) for s in STEPS]
        with DAG(name="continuous-training", annotations={ANN_PIPELINE_STEP: "dag"}):
            tasks: list[Any] = [step() for step in steps]  # Hera's Tasks, in the order of STEPS
            for before, after in itertools.pairwise(tasks):
                before.next(after)  # `after` depends on `before` succeeding
    return wt.to_dict()


def cron_workflow(params: PipelineParams) -> dict[str, Any] | None:
    if params.schedule is None:
        return None
    cron = CronWorkflow(
        name=params.name,
        namespace=params.namespace,
        labels=params.labels,
        annotations=params.lineage(),
        schedules=[params.schedule],
        timezone=params.timezone,
        concurrency_policy="Forbid",  # a slow run is never overtaken by the next one
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        workflow_template_ref=m.WorkflowTemplateRef(name=params.name),
        workflow_metadata=m.WorkflowMetadata(annotations=params.lineage(), labels=params.labels),
        service_account_name=SERVICE_ACCOUNT,
    )
    return cron.to_dict()


def render(params: PipelineParams) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(WorkflowTemplate, CronWorkflow or None) as Kubernetes objects."""
    return workflow_template(params), cron_workflow(params)
