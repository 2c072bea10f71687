"""`PlatformServices`: the cloud-neutral Kubernetes layer, composed from `Foundation` alone.

Order matters only through explicit dependencies: secrets and the monitoring stack first (its CRDs carry the
ServiceMonitors and rules of everything else), then the GPU runtime and node autoscaling, Kueue and
the training operator, secrets, serving, the model registry and the feature store, then the team
namespaces that point at all of them (queues, network allowances, identities) and Argo Workflows with
each team's pipeline identity, and last what runs in them: the stack's training jobs (`trainingJobs[]`),
model deployments (`modelDeployments[]`) and continuous-training pipelines (`pipelines[]`).
"""

from __future__ import annotations

import pulumi

from components.context import PlatformContext
from components.foundation import Foundation
from components.k8s.base import ServicesContext


class PlatformServices(pulumi.ComponentResource):
    def __init__(
        self, name: str, ctx: PlatformContext, foundation: Foundation, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            "ml-platform:k8s:PlatformServices",
            name,
            None,
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(providers={"kubernetes": foundation.kube_provider})
            ),
        )
        svc = ServicesContext(ctx=ctx, foundation=foundation, spec=ctx.spec.services)
        child = pulumi.ResourceOptions(parent=self)
        spec = svc.spec

        if foundation.default_storage_class is not None:
            import pulumi_kubernetes as k8s

            provisioner, parameters = foundation.default_storage_class
            k8s.storage.v1.StorageClass(
                "default-storage",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="ml-platform-default",
                    labels=svc.labels("storage"),
                    annotations={"storageclass.kubernetes.io/is-default-class": "true"},
                ),
                provisioner=provisioner,
                parameters=parameters,
                reclaim_policy="Delete",
                volume_binding_mode="WaitForFirstConsumer",  # the volume is created in the pod's zone
                allow_volume_expansion=True,
                opts=child,
            )

        # cloud secrets and in-cluster generated credentials (MLflow's database password, Grafana's admin,
        # Feast's database password and cache token)
        self.secrets = None
        if spec.mlflow.enabled or spec.monitoring.enabled or ctx.spec.feature_store.enabled:
            from components.k8s.secrets import ExternalSecrets

            self.secrets = ExternalSecrets("external-secrets", svc, child)

        self.monitoring = None
        if spec.monitoring.enabled:
            from components.k8s.monitoring import Monitoring

            self.monitoring = Monitoring("monitoring", svc, child, secrets=self.secrets)

        self.gpu_runtime = None
        if spec.gpu_runtime.enabled:
            from components.k8s.gpu_runtime import GpuRuntime

            self.gpu_runtime = GpuRuntime("gpu-runtime", svc, monitoring=self.monitoring, opts=child)

        self.autoscaling = None
        if spec.autoscaling.enabled:
            from components.k8s.autoscaling import NodeAutoscaling

            self.autoscaling = NodeAutoscaling("autoscaling", svc, child)

        self.kueue = None
        if spec.kueue.enabled:
            from components.k8s.kueue import Kueue

            self.kueue = Kueue("kueue", svc, monitoring=self.monitoring, opts=child)

        self.trainer = None
        if spec.trainer.enabled and self.kueue is not None:
            from components.k8s.trainer import Trainer

            self.trainer = Trainer("trainer", svc, kueue=self.kueue, opts=child)

        self.serving = None
        if spec.serving.enabled:
            from components.k8s.serving import Serving

            self.serving = Serving("serving", svc, monitoring=self.monitoring, opts=child)

        self.model_registry = None
        if spec.mlflow.enabled and self.secrets is not None:
            from components.k8s.mlflow import ModelRegistry

            self.model_registry = ModelRegistry(
                "mlflow", svc, secrets=self.secrets, monitoring=self.monitoring, opts=child
            )

        # Feast: registry server and feature server, on the foundation's database, cache and datasets bucket
        self.feature_store = None
        if ctx.spec.feature_store.enabled and foundation.online_store is not None and self.secrets is not None:
            from components.k8s.feature_store import FeatureStore

            self.feature_store = FeatureStore(
                "feast", svc, secrets=self.secrets, monitoring=self.monitoring, kueue=self.kueue, opts=child
            )

        from components.k8s.tenancy import TeamNamespace

        self.teams = {
            team.name: TeamNamespace(f"team-{team.name}", svc, team, services=self, opts=child)
            for team in ctx.spec.teams
        }
        # Argo Workflows, and each team's `pipeline` identity and rights (needs the team namespaces)
        self.pipelines = None
        if spec.pipelines.enabled:
            from components.k8s.pipelines import Pipelines

            self.pipelines = Pipelines(
                "pipelines", svc, teams=self.teams, secrets=self.secrets, monitoring=self.monitoring, opts=child
            )
        # what runs in the team namespaces: the stack's training jobs and model deployments
        teams = {t.name: t for t in ctx.spec.teams}
        pools = {p.name: p for p in foundation.gpu_pools}
        self.training_jobs = {}
        if ctx.spec.training_jobs and self.trainer is not None:
            from components.k8s.training import TrainingJob

            for job in ctx.spec.training_jobs:
                tenant = self.teams[job.team]
                self.training_jobs[job.name] = TrainingJob(
                    f"job-{job.team}-{job.name}",
                    svc,
                    job,
                    team=teams[job.team],
                    pool=pools[job.pool],
                    depends_on=[tenant, self.trainer],
                    opts=child,
                    tracking_uri=self.model_registry.service_url if self.model_registry is not None else None,
                )
        self.model_deployments = {}
        pipeline_models = {(p.team, p.model) for p in ctx.spec.pipelines}  # their canary is the pipeline's
        if ctx.spec.model_deployments and self.serving is not None:
            from components.k8s.model_deployment import ModelDeployment

            for model in ctx.spec.model_deployments:
                self.model_deployments[f"{model.team}/{model.name}"] = ModelDeployment(
                    f"model-{model.team}-{model.name}",
                    svc,
                    model,
                    team=teams[model.team],
                    pool=pools[model.resources.pool] if model.resources.pool else None,
                    serving_gateway_namespace=self.serving.gateway_namespace,
                    monitoring=self.monitoring,
                    priority_class=self.kueue is not None,  # the ml-serving PriorityClass comes with Kueue
                    depends_on=[self.teams[model.team], self.serving],
                    opts=child,
                    canary_managed_by_pipeline=(model.team, model.name) in pipeline_models,
                )
        # the continuous-training pipelines (`pipelines[]`): Argo objects in the team namespaces
        self.training_pipelines = {}
        argo, feature_store = self.pipelines, self.feature_store
        if ctx.spec.pipelines and argo is not None and feature_store is not None and self.model_registry is not None:
            from components.k8s.training_pipeline import TrainingPipeline

            models = {(m.team, m.name): m for m in ctx.spec.model_deployments}
            for pipe in ctx.spec.pipelines:
                self.training_pipelines[f"{pipe.team}/{pipe.name}"] = TrainingPipeline(
                    f"pipeline-{pipe.team}-{pipe.name}",
                    svc,
                    pipe,
                    team=teams[pipe.team],
                    model=models[(pipe.team, pipe.model)],
                    pool=pools[pipe.pool] if pipe.pool else None,
                    tracking_uri=self.model_registry.service_url,
                    registry_address=feature_store.registry_address,
                    depends_on=[self.teams[pipe.team], argo],
                    opts=child,
                )
        self.register_outputs(
            {
                "teams": list(self.teams),
                "training_jobs": list(self.training_jobs),
                "model_deployments": {key: m.url for key, m in self.model_deployments.items()},
            }
        )
