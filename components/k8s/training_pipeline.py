"""`TrainingPipeline`: one `pipelines[]` entry of the stack, deployed as Argo Workflows objects.

The objects are rendered by workloads/pipelines/workflow.py (Hera) and applied to the team namespace:

* a WorkflowTemplate `<name>`: ingest -> validate -> materialize -> train -> evaluate -> register ->
  rollout, each step `python -m workloads.pipelines <step>` in the pipeline image, as the team's
  `pipeline` service account (components/k8s/pipelines.py: workload identity on the team's prefixes, the
  online store's AUTH token, get/patch of InferenceServices), restricted pods on the worker pool (the
  train step on the GPU pool when `pool` is set);
* a CronWorkflow `<name>` that starts it on `schedule` (none: the template is run by hand);
* lineage annotations on both, and on every workflow they start, that the responsible-AI pack reads.

The rollout step makes the registered version the canary of the model deployment (`model`), so that
model's `spec.canary` belongs to the pipeline: `ModelDeployment` ignores changes to it, and the stack file
may not declare a canary for it (infra/config.py). Promotion stays a reviewed change of the stack file.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_POOL, NodePoolRef, OnlineStoreRef
from components.k8s import base
from components.k8s.base import ServicesContext
from infra.config import ModelDeploymentSpec, PipelineSpec, TeamSpec
from workloads.pipelines import workflow as wf

API = "argoproj.io/v1alpha1"
CA_CONFIGMAP = "online-store-ca"
CA_PATH = "/etc/ml-platform/online-store/ca.pem"
TRAIN_CONFIG = "workloads/training/configs/tabular.yaml"


def settings(spec: PipelineSpec, model: ModelDeploymentSpec, uris: dict[str, str], project: str) -> dict[str, Any]:
    """PIPELINE_SETTINGS (workloads/pipelines/config.py) of the pipeline's steps."""
    team, gates = spec.team, spec.gates
    return {
        "team": team,
        "pipeline": spec.name,
        "runs_uri": f"{uris['artifacts']}/teams/{team}/pipelines/{spec.name}",
        "models_uri": f"{uris['models']}/teams/{team}/{model.name}",
        "offline_path": f"{uris['datasets']}/features/{project}/applicants",
        "registered_model": model.registered_model or model.name,
        "model_deployment": model.name,
        "namespace": team,
        "canary_percent": spec.canary_percent,
        "gates": {
            "max_null_fraction": gates.max_null_fraction,
            "max_psi": gates.max_psi,
            "min_accuracy": gates.min_accuracy,
            "max_demographic_parity_difference": gates.max_demographic_parity_difference,
        },
        "train_config": TRAIN_CONFIG,
        "train_overrides": {"train.device": "cuda" if spec.pool else "cpu"},
        "code_version": spec.code_version,
    }


class TrainingPipeline(pulumi.ComponentResource):
    template_name: str
    schedule: str | None

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        spec: PipelineSpec,
        *,
        team: TeamSpec,
        model: ModelDeploymentSpec,
        pool: NodePoolRef | None,
        tracking_uri: str,
        registry_address: str,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("ml-platform:k8s:TrainingPipeline", name, None, opts)
        foundation = svc.foundation
        online: OnlineStoreRef | None = foundation.online_store
        project = svc.ctx.spec.feature_store.project
        labels = svc.labels("pipelines", team.name, **{"ml-platform/pipeline": spec.name})
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        self.template_name, self.schedule = spec.name, spec.schedule

        ca_file = None
        if online is not None and online.ca_certificate is not None:
            # the cache's own CA (Memorystore): the steps verify the server against it
            k8s.core.v1.ConfigMap(
                f"{name}-ca",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{spec.name}-{CA_CONFIGMAP}", namespace=team.name, labels=labels
                ),
                data={"ca.pem": online.ca_certificate},
                opts=child,
            )
            ca_file = CA_PATH

        train_selector, train_tolerations, train_resources = None, (), wf.PipelineParams.train_resources
        if pool is not None:
            train_selector = {LABEL_POOL: pool.name}
            train_tolerations = tuple(base.gpu_tolerations())
            train_resources = wf.StepResources(cpu="4", memory="16Gi", cpu_limit="8", gpus=1)

        buckets = foundation.buckets
        inputs = {
            "artifacts": buckets["artifacts"].uri,
            "models": buckets["models"].uri,
            "datasets": buckets["datasets"].uri,
            "redis_host": online.host if online is not None else "",
            "redis_port": online.port.apply(str) if online is not None else "",
        }

        def render(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
            uris = {k: values[k] for k in ("artifacts", "models", "datasets")}
            env = {
                "MLFLOW_TRACKING_URI": tracking_uri,
                "FEAST_PROJECT": project,
                "FEAST_REGISTRY": registry_address,
                "FEAST_OFFLINE_PATH": f"{uris['datasets']}/features/{project}/applicants",
                "REDIS_HOST": values["redis_host"],
                "REDIS_PORT": values["redis_port"],
                "REDIS_SSL": "true" if online is None or online.tls else "false",
            }
            if ca_file:
                env["REDIS_CA"] = ca_file
            params = wf.PipelineParams(
                name=spec.name,
                namespace=team.name,
                image=spec.image,
                settings=settings(spec, model, uris, project),
                source_uri=spec.source_uri,
                reference_uri=spec.reference_uri,
                registered_model=model.registered_model or model.name,
                owner=team.owner,
                contact=team.owner,
                risk_tier=model.governance.risk_tier,
                code_version=spec.code_version,
                schedule=spec.schedule,
                timezone=spec.timezone,
                env=env,
                node_selector=foundation.worker_node_selector,
                train_node_selector=train_selector,
                train_tolerations=train_tolerations,
                train_resources=train_resources,
                labels=labels,
                ttl_seconds=svc.spec.pipelines.archive_ttl_days * 24 * 3600,  # type: ignore[operator]
                ca_configmap=f"{spec.name}-{CA_CONFIGMAP}" if ca_file else None,
                ca_path=ca_file,
            )
            return wf.render(params)

        rendered = pulumi.Output.all(**inputs).apply(render)
        meta = k8s.meta.v1.ObjectMetaArgs(
            name=spec.name,
            namespace=team.name,
            labels=labels,
            annotations=rendered.apply(lambda r: r[0]["metadata"]["annotations"]),
        )
        self.template = k8s.apiextensions.CustomResource(
            f"{name}-template",
            api_version=API,
            kind="WorkflowTemplate",
            metadata=meta,
            spec=rendered.apply(lambda r: r[0]["spec"]),
            opts=child,
        )
        self.cron = None
        if spec.schedule is not None:
            self.cron = k8s.apiextensions.CustomResource(
                f"{name}-cron",
                api_version=API,
                kind="CronWorkflow",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=spec.name,
                    namespace=team.name,
                    labels=labels,
                    annotations=rendered.apply(lambda r: r[1]["metadata"]["annotations"]),  # type: ignore[index]
                ),
                spec=rendered.apply(lambda r: r[1]["spec"]),  # type: ignore[index]
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.template]),
            )
        self.register_outputs({"template": spec.name, "schedule": spec.schedule})
