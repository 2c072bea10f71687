"""`ModelDeployment`: a registered model served the way the platform expects.

One entry of `modelDeployments[]` in the stack becomes, in the team's namespace:

* a KServe `InferenceService` in Standard (raw Deployment) mode: the platform runtime
  (ClusterServingRuntime `ml-platform`, the Open Inference Protocol v2 server of workloads/serving)
  or a custom predictor image, the model's versioned `storageUri`, CPU/memory (and GPUs, requested
  and limited, with the pool's node selector and the GPU toleration), min/max replicas with an HPA
  target, the per-request timeout, the `ml-serving` priority class, and the team's `inference`
  service account (read-only on the team's prefix of the models bucket);
* optionally a canary (`spec.canary`, KServe >= 0.20 raw mode): the new version in its own
  Deployment `<model>-<canary>-predictor`, given `trafficPercent` of the requests through the
  HTTPRoute's backend weights;
* or a shadow (`shadow`): the new version as its own InferenceService `<model>-shadow`, cluster-local
  (KServe makes no gateway route for it), to which the live model server mirrors each sampled request
  after answering it, counting the predictions on which the two agree (workloads/serving/shadow.py).
  KServe's API has no traffic mirror, and the HTTPRoute it generates is its controller's to reconcile
  (a `RequestMirror` filter added to it would be removed), so the mirror lives in the model server:
  which also makes the comparison possible, a gateway mirror throws the shadow's answers away;
* optionally the rollout analysis of the candidate (`rollout`: a CronJob deciding promote, hold or
  rollback from Prometheus; components/k8s/model_rollout.py) and drift checks (`drift`: model_drift.py);
* the request logger (`spec.predictor.logger`, KServe's agent sidecar) writing every request and
  response as JSON to `<logs bucket>/inference/<team>/<model>/...`; the `inference` identity may
  only append there (no read, no delete: the log is evidence);
* a NetworkPolicy that admits the serving gateway (and Prometheus) to this model's pods, on the model
  server's port and the agent's: a team namespace admits no gateway traffic otherwise;
* a PodMonitor (the model server's `/metrics`) and a PrometheusRule with the model's alerts
  (unavailable, error ratio, p99 latency) where monitoring is on, and its SLOs (`slo`: multi-window
  burn-rate alerts in `<model>-slo`, a Grafana dashboard; components/k8s/model_slo.py);
* the governance annotations the responsible-AI pack reads (policy/responsible_ai/rules.py):
  owner, contact, risk tier, intended use, model card, approval, model version and stage, lineage,
  evaluation and fairness figures, inference-log retention (the logs bucket's expiry) and the
  monitoring that watches the model.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import LABEL_POOL, NodePoolRef
from components.k8s import base, model_drift, model_rollout, model_slo, serving
from components.k8s.base import ServicesContext
from components.k8s.governance import (
    ANN_APPROVAL,
    ANN_CANARY_VERSION,
    ANN_CODE_VERSION,
    ANN_CONTACT,
    ANN_DATA_RESIDENCY,
    ANN_DATASET,
    ANN_DATASET_VERSION,
    ANN_EVAL_METRICS,
    ANN_FAIRNESS_METRIC,
    ANN_FAIRNESS_OP,
    ANN_FAIRNESS_THRESHOLD,
    ANN_FAIRNESS_VALUE,
    ANN_INTENDED_USE,
    ANN_LOG_RETENTION_DAYS,
    ANN_MODEL_CARD,
    ANN_MODEL_STAGE,
    ANN_MODEL_VERSION,
    ANN_MONITORING,
    ANN_OWNER,
    ANN_REGISTERED_MODEL,
    ANN_RISK_TIER,
)
from components.k8s.tenancy import INFERENCE_SA
from infra.config import ModelDeploymentSpec, TeamSpec

API = "serving.kserve.io/v1beta1"
MONITORING_API = "monitoring.coreos.com/v1"
ISVC_LABEL = "serving.kserve.io/inferenceservice"  # KServe's label on every pod of an InferenceService
VISIBILITY_LABEL = "networking.kserve.io/visibility"  # cluster-local: KServe makes no gateway route
VERSION_LABEL = "ml-platform/model-version"  # on each predictor's pods: the registry version they serve
AGENT_PORT = 9081  # KServe's agent sidecar (the request logger) fronts the model server on this port
LOG_PREFIX = "inference"  # <logs bucket>/inference/<namespace>/<model>/<component>/<id>-<request|response>.json
LOGGER_STORAGE_TYPE = {"s3": "s3", "gs": "gcs"}
PRIORITY_CLASS = f"ml-{base.PRIORITY_SERVING}"
# alert thresholds of the model's PrometheusRule
ERROR_RATIO = 0.01
P99_SECONDS = 0.5

# annotations copied into every request-log record (KServe logger metadataAnnotations)
LOGGED_ANNOTATIONS = [ANN_REGISTERED_MODEL, ANN_MODEL_VERSION, ANN_RISK_TIER]


def model_card_uri(model: ModelDeploymentSpec) -> str | None:
    """The model card: as given, or where training writes it (next to the `model/` directory)."""
    if model.governance.model_card:
        return model.governance.model_card
    uri = model.storage_uri.rstrip("/")
    return uri[: -len("/model")] + "/model_card.json" if uri.endswith("/model") else None


def endpoint(model: ModelDeploymentSpec, svc: ServicesContext) -> str:
    """The model's URL behind the gateway (KServe's domainTemplate `<name>-<namespace>.<domain>`)."""
    return f"{serving.url_scheme(svc)}://{model.name}-{model.team}.{serving.domain(svc)}"


def logging_enabled(model: ModelDeploymentSpec) -> bool:
    return model.request_logging if model.request_logging is not None else model.governance.risk_tier == "high"


def governance_annotations(
    model: ModelDeploymentSpec, team: TeamSpec, *, log_retention_days: int | None, monitoring: str | None
) -> dict[str, str]:
    gov = model.governance
    ann = {
        ANN_OWNER: team.owner,
        ANN_CONTACT: team.contact or team.owner,
        ANN_RISK_TIER: gov.risk_tier,
        ANN_INTENDED_USE: gov.intended_use,
        ANN_REGISTERED_MODEL: model.registered_model or model.name,
        ANN_MODEL_VERSION: model.model_version,
        ANN_MODEL_STAGE: model.model_stage,
    }
    optional = {
        ANN_MODEL_CARD: model_card_uri(model),
        ANN_APPROVAL: gov.approval,
        ANN_DATASET: gov.dataset_uri,
        ANN_DATASET_VERSION: gov.dataset_version,
        ANN_CODE_VERSION: gov.code_version,
        ANN_EVAL_METRICS: json.dumps(gov.eval_metrics, sort_keys=True) if gov.eval_metrics else None,
        ANN_DATA_RESIDENCY: ",".join(gov.data_residency) or None,
        ANN_MONITORING: monitoring,
        ANN_CANARY_VERSION: model.canary.model_version if model.canary else None,
    }
    if gov.fairness is not None:
        optional |= {
            ANN_FAIRNESS_METRIC: gov.fairness.metric,
            ANN_FAIRNESS_VALUE: f"{gov.fairness.value:g}",
            ANN_FAIRNESS_THRESHOLD: f"{gov.fairness.threshold:g}",
            ANN_FAIRNESS_OP: gov.fairness.op,
        }
    if logging_enabled(model) and log_retention_days:
        optional[ANN_LOG_RETENTION_DAYS] = str(log_retention_days)
    ann.update({k: v for k, v in optional.items() if v})
    return ann


def _model_block(model: ModelDeploymentSpec, storage_uri: str, resources: dict[str, Any]) -> dict[str, Any]:
    """`predictor.model`: the platform runtime serving the artifact at `storage_uri`. `name` is the
    runtime's container the model merges into: optional on the stable predictor, required on a canary
    (kserve/kserve@v0.20.0 Makefile drops `required` from `spec.*.*` only, not from `spec.canary`)."""
    return {
        "name": "kserve-container",
        "modelFormat": {"name": model.model_format, "version": "1"},
        "runtime": serving.RUNTIME,
        "protocolVersion": "v2",
        "storageUri": storage_uri,
        **({"resources": resources} if resources else {}),
    }


def _custom_container(model: ModelDeploymentSpec, storage_uri: str, resources: dict[str, Any]) -> dict[str, Any]:
    """A custom predictor image: KServe's storage initializer still fetches `storage_uri` to /mnt/models."""
    return {
        "name": "kserve-container",
        "image": model.image,
        "env": [{"name": "STORAGE_URI", "value": storage_uri}],
        "ports": [{"name": "http", "containerPort": serving.INFERENCE_PORT, "protocol": "TCP"}],
        "resources": resources,
        "securityContext": {**base.restricted_values()["securityContext"], "privileged": False},
    }


def resources(model: ModelDeploymentSpec) -> dict[str, Any]:
    res = model.resources
    requests: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, str] = {"memory": res.memory}  # no CPU limit: throttling adds tail latency
    if res.gpus:
        requests[base.GPU_RESOURCE] = limits[base.GPU_RESOURCE] = str(res.gpus)
    return {"requests": requests, "limits": limits}


class ModelDeployment(pulumi.ComponentResource):
    namespace: str
    service_name: str
    url: str
    logs_uri: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        model: ModelDeploymentSpec,
        *,
        team: TeamSpec,
        pool: NodePoolRef | None,
        serving_gateway_namespace: str,
        monitoring: Any,
        priority_class: bool,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions,
        canary_managed_by_pipeline: bool = False,
    ) -> None:
        super().__init__("ml-platform:k8s:ModelDeployment", name, None, opts)
        self.namespace, self.service_name = team.name, model.name
        self.url = endpoint(model, svc)
        after = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        labels = {
            **svc.labels("serving", team.name),
            "ml-platform/model": model.name,
            ANN_RISK_TIER: model.governance.risk_tier,
        }

        # -- monitoring: scrape the model server, alert on the model ------------------------------------
        rule_name = f"{model.name}-model"
        monitored = monitoring is not None and model.image is None  # our server's metrics
        if monitored:
            # the live predictors' pods, and the shadow's (the rollout analysis reads its errors and latency)
            names = [model.name] + ([shadow_name(model)] if model.shadow is not None else [])
            pods = (
                {"matchLabels": {ISVC_LABEL: model.name}}
                if len(names) == 1
                else {"matchExpressions": [{"key": ISVC_LABEL, "operator": "In", "values": names}]}
            )
            base.custom_resource(
                f"{name}-podmonitor",
                MONITORING_API,
                "PodMonitor",
                k8s.meta.v1.ObjectMetaArgs(
                    name=rule_name, namespace=team.name, labels={**labels, **serving.release_label(monitoring)}
                ),
                {
                    "selector": pods,
                    # the served version on every series: stable and canary told apart (rollout analysis)
                    "podTargetLabels": [VERSION_LABEL],
                    "podMetricsEndpoints": [
                        {"portNumber": serving.INFERENCE_PORT, "path": "/metrics", "interval": "30s"}
                    ],
                },
                after,
            )
            base.custom_resource(
                f"{name}-rules",
                MONITORING_API,
                "PrometheusRule",
                k8s.meta.v1.ObjectMetaArgs(name=rule_name, namespace=team.name, labels=labels),
                {"groups": alert_rules(model)},
                after,
            )
            # the SLOs: burn-rate alerts and the model's Grafana dashboard (components/k8s/model_slo.py)
            model_slo.create(name, svc, model, labels=labels, monitoring=monitoring, opts=after)
            if model.drift is not None:  # scheduled drift checks and their alerts (model_drift.py)
                model_drift.create(name, svc, model, team=team, labels=labels, monitoring=monitoring, opts=after)

        # -- the InferenceService -------------------------------------------------------------------------
        logs_bucket = svc.foundation.buckets["logs"]  # always there (infra/config.py REQUIRED_BUCKETS)
        log_retention = svc.ctx.spec.bucket("logs").expiration_days
        annotations = governance_annotations(
            model,
            team,
            log_retention_days=log_retention,
            monitoring=f"prometheusrule/{team.name}/{rule_name}" if monitored else None,
        )
        res = resources(model)
        # what every predictor pod of the model shares, the stable one and a canary alike (KServe merges a
        # canary over the stable predictor; stated explicitly, so the policy packs see each pod as it runs)
        pod: dict[str, Any] = {
            "serviceAccountName": INFERENCE_SA,
            "timeout": model.timeout_seconds,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        }
        if priority_class:
            pod["priorityClassName"] = PRIORITY_CLASS
        if pool is not None:
            pod["nodeSelector"] = {LABEL_POOL: pool.name}
            pod["tolerations"] = base.gpu_tolerations()
        elif (workers := svc.foundation.worker_node_selector) is not None:
            pod["nodeSelector"] = dict(workers)  # CPU replicas: the untainted worker nodes
        self.logs_uri = None
        if logging_enabled(model):
            scheme = model.storage_uri.split("://", 1)[0]
            pod["logger"] = {
                "mode": "all",
                "url": pulumi.Output.concat(logs_bucket.uri, f"/{LOG_PREFIX}"),
                # KServe's agent writes one JSON object per request and per response under
                # <url>/<namespace>/<model>/<component>/; credentials: the pod's workload identity
                "storage": {
                    "parameters": {"type": LOGGER_STORAGE_TYPE.get(scheme, scheme), "format": "json"},
                    "serviceAccountName": INFERENCE_SA,
                },
                "metadataAnnotations": list(LOGGED_ANNOTATIONS),
            }
            self.logs_uri = pulumi.Output.concat(logs_bucket.uri, f"/{LOG_PREFIX}/{team.name}/{model.name}/")

        def predictor_for(storage_uri: str, version: str) -> dict[str, Any]:
            part = {**pod, "labels": {VERSION_LABEL: _label_value(version)}}
            if model.image:
                part["containers"] = [_custom_container(model, storage_uri, res)]
            else:
                part["model"] = _model_block(model, storage_uri, res)
            return part

        predictor = {
            **predictor_for(model.storage_uri, model.model_version),
            "minReplicas": model.min_replicas,
            "maxReplicas": model.max_replicas,
            "scaleMetric": model.scale_metric,
            "scaleTarget": model.scale_target,
        }
        if model.predictor_name:
            predictor["name"] = model.predictor_name
        if model.shadow is not None:  # the live server mirrors each sampled request to the shadow
            predictor["model"]["env"] = shadow_env(model)
        spec: dict[str, Any] = {"predictor": predictor}
        if model.canary is not None:
            canary = model.canary
            # replicas follow trafficPercent (KServe refuses autoscaling fields on a canary)
            spec["canary"] = [
                {
                    "trafficPercent": canary.traffic_percent,
                    "predictor": {"name": canary.name, **predictor_for(canary.storage_uri, canary.model_version)},
                }
            ]
        base.custom_resource(
            f"{name}-isvc",
            API,
            "InferenceService",
            k8s.meta.v1.ObjectMetaArgs(
                name=model.name,
                namespace=team.name,
                labels=labels,
                annotations={"serving.kserve.io/deploymentMode": "Standard", **annotations},
            ),
            spec,
            # a continuous-training pipeline's rollout step sets the canary (components/k8s/training_pipeline.py):
            # `pulumi up` must not take it away again
            pulumi.ResourceOptions.merge(
                after,
                pulumi.ResourceOptions(ignore_changes=["spec.canary", f'metadata.annotations["{ANN_CANARY_VERSION}"]']),
            )
            if canary_managed_by_pipeline
            else after,
        )

        # -- the shadow: its own InferenceService, cluster-local, fed by the live server's mirror ---------
        if model.shadow is not None:
            shadow = model.shadow
            base.custom_resource(
                f"{name}-shadow",
                API,
                "InferenceService",
                k8s.meta.v1.ObjectMetaArgs(
                    name=shadow_name(model),
                    namespace=team.name,
                    # no route through the gateway: its answers reach the live server's comparison only
                    labels={**labels, VISIBILITY_LABEL: "cluster-local", "ml-platform/shadow-of": model.name},
                    annotations={
                        "serving.kserve.io/deploymentMode": "Standard",
                        **annotations,
                        ANN_CANARY_VERSION: shadow.model_version,
                    },
                ),
                {
                    "predictor": {
                        **predictor_for(shadow.storage_uri, shadow.model_version),
                        # a fixed size: it serves no one, and the mirror drops what it cannot take
                        "minReplicas": shadow.replicas,
                        "maxReplicas": shadow.replicas,
                    }
                },
                after,
            )

        # -- the rollout analysis of the candidate (components/k8s/model_rollout.py) ------------------------
        if monitored and model.rollout is not None:
            model_rollout.create(
                name,
                svc,
                model,
                team=team,
                labels=labels,
                monitoring=monitoring,
                owns_canary=canary_managed_by_pipeline,
                opts=after,
            )

        # -- the network: the gateway (and Prometheus) reach this model's pods, nothing else ------------
        np = k8s.networking.v1
        sources = [base.peer(serving_gateway_namespace)]
        if monitoring is not None:
            sources.append(base.peer(base.NS_MONITORING))
        base.network_policy(
            f"{name}-ingress",
            team.name,
            svc,
            after,
            component="serving",
            team=team.name,
            policy_name=f"allow-serving-{model.name}",
            pod_labels={ISVC_LABEL: model.name},
            ingress=[
                np.NetworkPolicyIngressRuleArgs(from_=sources, ports=base.ports(serving.INFERENCE_PORT, AGENT_PORT))
            ],
        )
        self.register_outputs({"namespace": team.name, "name": model.name, "url": self.url, "logs_uri": self.logs_uri})


def shadow_name(model: ModelDeploymentSpec) -> str:
    return f"{model.name}-shadow"


def shadow_env(model: ModelDeploymentSpec) -> list[dict[str, str]]:
    """The live model server's mirror settings (workloads/serving/shadow.py): KServe's raw-mode Service of the
    shadow's predictor `<shadow>-predictor` (port 80), on the path of the shadow's own model name."""
    shadow = model.shadow
    assert shadow is not None
    name = shadow_name(model)
    url = f"http://{name}-predictor.{model.team}.svc.cluster.local/v2/models/{name}/infer"
    return [
        {"name": "MODEL_SERVER_SHADOW_URL", "value": url},
        {"name": "MODEL_SERVER_SHADOW_SAMPLE_RATE", "value": f"{shadow.sample_percent / 100:g}"},
        {"name": "MODEL_SERVER_SHADOW_TOLERANCE", "value": f"{shadow.tolerance:g}"},
    ]


def _label_value(value: str) -> str:
    """A registry version as a label value (63 characters of [A-Za-z0-9-_.])."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in value).strip("-_.")
    return cleaned[:63] or "unknown"


def deployment_names(model: ModelDeploymentSpec) -> list[str]:
    """KServe's Deployments of the model: `<model>-predictor`, or `<model>-<name>-predictor` for a named
    predictor (the stable one after a promotion, and every canary)."""
    stable = f"{model.name}-{model.predictor_name}-predictor" if model.predictor_name else f"{model.name}-predictor"
    return [stable] + ([f"{model.name}-{model.canary.name}-predictor"] if model.canary else [])


def alert_rules(model: ModelDeploymentSpec) -> list[dict[str, Any]]:
    """The model's alerts on the model server's own metrics (workloads/serving/metrics.py) and the
    Deployment's availability (kube-state-metrics)."""
    sel = f'namespace="{model.team}", model="{model.name}"'
    infer = f'{sel}, endpoint="infer"'
    deploy = f'namespace="{model.team}", deployment=~"{"|".join(deployment_names(model))}"'
    where = f"{model.team}/{model.name}"
    return [
        {
            "name": f"ml-platform.model.{model.team}.{model.name}",
            "rules": [
                {
                    "alert": "ModelUnavailable",
                    # per Deployment (stable, canary) that should run: a dark canary scaled to 0 is fine
                    "expr": f"(kube_deployment_status_replicas_available{{{deploy}}} < 1) "
                    f"and on (namespace, deployment) (kube_deployment_spec_replicas{{{deploy}}} > 0)",
                    "for": "5m",
                    "labels": {"severity": "critical", "team": model.team, "model": model.name},
                    "annotations": {
                        "summary": f"{where}: Deployment {{{{ $labels.deployment }}}} has no ready replica",
                        "description": "Every request to the model fails. Check the predictor pods' events: image "
                        "pull, the storage initializer's download of storageUri, or GPU capacity.",
                    },
                },
                {
                    "alert": "ModelErrorRatioHigh",
                    "expr": f'sum(rate(model_server_requests_total{{{infer}, code=~"5.."}}[5m])) / '
                    f"sum(rate(model_server_requests_total{{{infer}}}[5m])) > {ERROR_RATIO}",
                    "for": "10m",
                    "labels": {"severity": "warning", "team": model.team, "model": model.name},
                    "annotations": {
                        "summary": f"{where}: over {ERROR_RATIO:.0%} of inference requests fail",
                        "description": "5xx answers from the model server (4xx, the callers' mistakes, do not "
                        "count). Look at the server's logs; a canary taking traffic is the first suspect.",
                    },
                },
                {
                    "alert": "ModelLatencyHigh",
                    "expr": "histogram_quantile(0.99, sum by (le) "
                    f"(rate(model_server_request_duration_seconds_bucket{{{infer}}}[5m]))) > {P99_SECONDS}",
                    "for": "10m",
                    "labels": {"severity": "warning", "team": model.team, "model": model.name},
                    "annotations": {
                        "summary": f"{where}: p99 inference latency above {P99_SECONDS * 1000:.0f} ms",
                        "description": "Replicas are saturated (raise maxReplicas or lower scaleTarget) or a batch "
                        "forward got slower (a new model version, CPU throttling).",
                    },
                },
            ],
        }
    ]
