"""The responsible-AI rules (policy/responsible_ai/rules.py), case by case through the analyzer."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from policy import runner
from policy.responsible_ai import rules as rai
from tests.policy.cases import Case, check_case, provider, rule

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ENVOY_PROXY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CLUSTER_WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterWorkflowTemplate"
CRON_WORKFLOW = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
WORKFLOW = "kubernetes:argoproj.io/v1alpha1:Workflow"

MODELS_URI = "s3://mlp-aws-prod-models-123456789012/teams/research/credit-approval/7/model"
DATASET = "s3://mlp-aws-dev-datasets-123456789012/tabular/credit-v3.parquet"
SHA = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
METRICS = {
    "metrics": {"accuracy": 0.91, "auc": 0.95},
    "gates": {"passed": True, "checks": [{"name": "accuracy", "value": 0.91, "op": ">=", "threshold": 0.85}]},
}

# a high-risk model with every governance annotation (what the ModelDeployment component will set)
GOOD = {
    rai.ANN_OWNER: "credit-ml@example.com",
    rai.ANN_CONTACT: "credit-oncall@example.com",
    rai.ANN_RISK_TIER: "high",
    rai.ANN_INTENDED_USE: "Rank consumer credit applications for human review; decision support only.",
    rai.ANN_MODEL_CARD: "s3://mlp-aws-prod-models-123456789012/teams/research/credit-approval/7/model_card.json",
    rai.ANN_APPROVAL: "mlflow:credit-approval/7 approved by risk-board (CHG-1234)",
    rai.ANN_DATASET: DATASET,
    rai.ANN_DATASET_VERSION: SHA,
    rai.ANN_CODE_VERSION: "3f9c2ab",
    rai.ANN_MODEL_VERSION: "7",
    rai.ANN_MODEL_STAGE: "approved",
    rai.ANN_EVAL_METRICS: json.dumps(METRICS),
    rai.ANN_FAIRNESS_METRIC: "demographic_parity_difference",
    rai.ANN_FAIRNESS_VALUE: "0.04",
    rai.ANN_FAIRNESS_THRESHOLD: "0.1",
    rai.ANN_LOG_RETENTION_DAYS: "365",
    rai.ANN_MONITORING: "prometheusrule/credit-approval-drift",
}
LOGGER = {"url": "http://inference-logger.research.svc.cluster.local", "mode": "all"}


def isvc(
    drop: tuple[str, ...] = (),
    ns: str = "research",
    name: str = "credit-approval",
    storage: str = MODELS_URI,
    logger: dict[str, Any] | None = LOGGER,
    **annotations: str,
) -> dict[str, Any]:
    """An InferenceService; `annotations` given as python names: risk_tier="limited" -> ml-platform/risk-tier."""
    ann = {k: v for k, v in GOOD.items() if k not in drop}
    ann.update({f"ml-platform/{k.replace('_', '-')}": v for k, v in annotations.items()})
    predictor: dict[str, Any] = {"model": {"modelFormat": {"name": "mlplatform"}, "storageUri": storage}}
    if logger is not None:
        predictor["logger"] = logger
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": ns, "annotations": ann},
        "spec": {"predictor": predictor},
    }


def trainjob(drop: tuple[str, ...] = (), gpus: int = 1, nodes: int = 1, pool: str = "l4", **annotations: str):
    """The sample TrainJob as components/k8s/training.py writes it, plus contact and risk tier."""
    ann = {
        rai.ANN_OWNER: "research-lead@example.com",
        rai.ANN_CONTACT: "research-lead@example.com",
        rai.ANN_RISK_TIER: "high",
        rai.ANN_DATASET: DATASET,
        rai.ANN_DATASET_VERSION: SHA,
        rai.ANN_CODE_VERSION: "3f9c2ab",
    }
    for key in drop:
        ann.pop(key)
    ann.update({f"ml-platform/{k.replace('_', '-')}": v for k, v in annotations.items()})
    env = [
        {"name": "DATASET_URI", "value": DATASET},
        {"name": "DATASET_VERSION", "value": SHA},
        {"name": "ML_PLATFORM_CODE_VERSION", "value": "3f9c2ab"},
    ]
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {
            "name": "tabular-fairness",
            "namespace": "research",
            "labels": {"app.kubernetes.io/component": "training", "ml-platform/team": "research"},
            "annotations": ann,
        },
        "spec": {
            "runtimeRef": {"name": "torch-distributed", "kind": "ClusterTrainingRuntime"},
            "trainer": {
                "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlp-aws-dev/training:0.1.0",
                "numNodes": nodes,
                "env": env,
                "resourcesPerNode": {
                    "requests": {"nvidia.com/gpu": str(gpus)},
                    "limits": {"nvidia.com/gpu": str(gpus)},
                },
            },
            "runtimePatches": [
                {
                    "manager": "ml-platform/pulumi",
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {
                                "replicatedJobs": [
                                    {
                                        "name": "node",
                                        "template": {
                                            "spec": {"template": {"spec": {"nodeSelector": {"ml-platform/pool": pool}}}}
                                        },
                                    }
                                ]
                            }
                        }
                    },
                }
            ],
        },
    }


def batch_job(component: str = "training", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "fine-tune",
            "namespace": "research",
            "labels": {"app.kubernetes.io/component": component},
            "annotations": {f"ml-platform/{k.replace('_', '-')}": v for k, v in annotations.items()},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}], "restartPolicy": "Never"}}},
    }


def registry_deployment(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "mlflow",
            "namespace": "mlflow",
            "labels": {"app.kubernetes.io/component": "model-registry"},
            **({"annotations": annotations} if annotations else {}),
        },
        "spec": {"template": {"spec": {"containers": [{"name": "mlflow", "image": "ghcr.io/mlflow/mlflow:v3.18.0"}]}}},
    }


def public_isvc() -> dict[str, Any]:
    props = isvc()
    props["metadata"]["annotations"]["networking.gke.io/load-balancer-type"] = "External"
    return props


def with_tier(tier: str) -> dict[str, Any]:
    return isvc(risk_tier=tier)


# --- stack builders -------------------------------------------------------------------------------------

AWS = provider("aws", "us-east-1")
AWS_EU = runner.resource("pulumi:providers:aws", {"region": "eu-west-1"}, name="aws-eu")
GCP = provider("gcp", "us-central1")
K8S = "pulumi:providers:kubernetes"


def r(type_: str, props: dict[str, Any], name: str, prov: runner.Resource | None = None, parent: str | None = None):
    return runner.resource(type_, props, name=name, provider=prov, parent=parent)


def s3(role: str, name: str | None = None, prov: runner.Resource = AWS, tagged: bool = True, **extra: Any):
    physical = name or f"mlp-aws-prod-{role}-123456789012"
    props: dict[str, Any] = {"bucket": physical, **extra}
    if tagged:
        props["tags"] = {"ml-platform/bucket": role}
    return r("aws:s3/bucket:Bucket", props, f"bucket-{role}", prov, parent=f"urn:component::{role}")


def sse(
    bucket: str | None, algorithm: str = "aws:kms", key: str | None = "arn:aws:kms:us-east-1:1:key/k", role="models"
):
    default: dict[str, Any] = {"sseAlgorithm": algorithm}
    if key:
        default["kmsMasterKeyId"] = key
    props: dict[str, Any] = {"rules": [{"applyServerSideEncryptionByDefault": default}]}
    props["bucket"] = bucket if bucket is not None else "[unknown]"
    return r(rai.S3_SSE, props, f"sse-{role}", AWS, parent=f"urn:component::{role}")


def s3_logging(bucket: str | None, role: str = "models"):
    props = {"bucket": bucket if bucket is not None else "[unknown]", "targetBucket": "[unknown]"}
    return r(rai.S3_LOGGING, props, f"logging-{role}", AWS, parent=f"urn:component::{role}")


def gcs(role: str, location: str = "US-CENTRAL1", **extra: Any):
    props = {"name": f"mlp-gcp-prod-{role}-p", "location": location, "labels": {"ml-platform_bucket": role}, **extra}
    return r(rai.GCS_BUCKET, props, f"gcs-{role}", GCP)


def k8s(type_: str, props: dict[str, Any], name: str):
    return r(type_, props, name)


def netpol(ns: str, ingress: list[Any] | None = None, selector: dict[str, Any] | None = None):
    spec: dict[str, Any] = {"podSelector": selector or {}, "policyTypes": ["Ingress", "Egress"]}
    if ingress is not None:
        spec["ingress"] = ingress
    return k8s(NETPOL, {"metadata": {"name": "default-deny", "namespace": ns}, "spec": spec}, f"np-{ns}")


def gateway(parameters: bool = True):
    spec: dict[str, Any] = {"gatewayClassName": "envoy-gateway", "listeners": []}
    if parameters:
        spec["infrastructure"] = {
            "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "inference"}
        }
    return k8s(GATEWAY, {"metadata": {"name": "inference", "namespace": "envoy-gateway-system"}, "spec": spec}, "gw")


def envoy_proxy(annotations: dict[str, str] | None, service_type: str = "LoadBalancer"):
    service: dict[str, Any] = {"type": service_type}
    if annotations is not None:
        service["annotations"] = annotations
    props = {
        "metadata": {"name": "inference", "namespace": "envoy-gateway-system"},
        "spec": {"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": service}}},
    }
    return k8s(ENVOY_PROXY, props, "proxy")


def eks_group(name: str, instance: str, max_size: int, ami: str = "AL2023_x86_64_NVIDIA", **labels: str):
    props = {
        "instanceTypes": [instance],
        "scalingConfig": {"minSize": 0, "maxSize": max_size, "desiredSize": 0},
        "amiType": ami,
        "labels": {"ml-platform/pool": name, **labels},
    }
    return r("aws:eks/nodeGroup:NodeGroup", props, f"ng-{name}", AWS)


def gke_pool(name: str, gpus: int, autoscaling: dict[str, Any], zones: int | None = 3, machine: str = "g2-standard-4"):
    config: dict[str, Any] = {"machineType": machine, "labels": {"ml-platform/pool": name}}
    if gpus:
        config["guestAccelerators"] = [{"type": "nvidia-l4", "count": gpus}]
    props: dict[str, Any] = {"name": name, "location": "us-central1", "nodeConfig": config, "autoscaling": autoscaling}
    if zones:
        props["nodeLocations"] = [f"us-central1-{z}" for z in "abcdef"[:zones]]
    return r(rai.GKE_NODE_POOL, props, f"np-{name}", GCP)


def karpenter_pool(name: str, limits: dict[str, str] | None, instance: str = "g6.xlarge"):
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {"ml-platform/pool": name, "ml-platform/accelerator": "nvidia-l4"}},
            "spec": {
                "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance]}],
                "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
            },
        }
    }
    if limits is not None:
        spec["limits"] = limits
    return k8s(NODEPOOL, {"metadata": {"name": name}, "spec": spec}, f"karpenter-{name}")


def rds(engine: str = "postgres", exports: list[str] | None = None, params: str | None = "mlp-pg16-abc", **extra: Any):
    props: dict[str, Any] = {
        "engine": engine,
        "identifierPrefix": "mlp-aws-prod-registry-",
        "enabledCloudwatchLogsExports": ["postgresql", "upgrade"] if exports is None else exports,
        **extra,
    }
    if params:
        props["parameterGroupName"] = params
    return r(rai.RDS_INSTANCE, props, "db", AWS, parent="urn:component::db")


def rds_params(log_connections: str = "1", prefix: str = "mlp-pg16-"):
    props = {
        "family": "postgres16",
        "namePrefix": prefix,
        "parameters": [{"name": "rds.force_ssl", "value": "1"}, {"name": "log_connections", "value": log_connections}],
    }
    return r(rai.RDS_PARAMS, props, "db-params", AWS, parent="urn:component::db")


def cloud_sql(flags: dict[str, str] | None = None, key: str | None = "projects/p/locations/l/keyRings/r/cryptoKeys/db"):
    props: dict[str, Any] = {
        "name": "mlp-gcp-prod-registry",
        "databaseVersion": "POSTGRES_16",
        "region": "us-central1",
        "settings": {"databaseFlags": [{"name": k, "value": v} for k, v in (flags or {}).items()]},
    }
    if key:
        props["encryptionKeyName"] = key
    return r(rai.CLOUD_SQL, props, "sql", GCP)


def eks_cluster(log_types: list[str] | None = None):
    types = ["api", "audit", "authenticator", "controllerManager", "scheduler"] if log_types is None else log_types
    return r(rai.EKS_CLUSTER, {"name": "mlp-aws-prod", "enabledClusterLogTypes": types}, "eks", AWS)


def log_group(name: str, days: int | None):
    props: dict[str, Any] = {"name": name}
    if days is not None:
        props["retentionInDays"] = days
    return r(rai.LOG_GROUP, props, f"lg{name.replace('/', '-')}", AWS)


def lifecycle(bucket: str, days: int, role: str = "logs"):
    rules = [{"id": "expire", "status": "Enabled", "filter": {"prefix": ""}, "expiration": {"days": days}}]
    return r(rai.S3_LIFECYCLE, {"bucket": bucket, "rules": rules}, f"lc-{role}", AWS, parent=f"urn:component::{role}")


GOOD_ISVC = k8s(ISVC, isvc(), "isvc")
DEFAULT_DENY = netpol("research")
ALLOW_GATEWAY = netpol("research", ingress=[{"from": [{"namespaceSelector": {}}]}])
MODELS_LOGGED = [s3("models"), s3_logging("mlp-aws-prod-models-123456789012")]
RESIDENCY = {"allowedRegions": ["us-east-1", "us-central1"]}

# --- training pipelines (Argo), as workloads/pipelines/workflow.py renders them -------------------------------

LINEAGE = {
    rai.ANN_PIPELINE: "research/credit-ct",
    rai.ANN_OWNER: "credit-ml@example.com",
    rai.ANN_CONTACT: "credit-oncall@example.com",
    rai.ANN_RISK_TIER: "high",
    rai.ANN_DATASET: "s3://mlp-aws-prod-datasets-123456789012/raw/credit/",
    rai.ANN_CODE_VERSION: "3f9c2ab",
    rai.ANN_REGISTERED_MODEL: "credit-approval",
}
_DEFAULT: Any = object()


def lineage(*drop: str, **changes: str) -> dict[str, str]:
    """LINEAGE without `drop`, with `changes` given as python names (code_version -> ml-platform/code-version)."""
    out = {k: v for k, v in LINEAGE.items() if k not in drop}
    out.update({f"ml-platform/{k.replace('_', '-')}": v for k, v in changes.items()})
    return out


def pipeline_step(name: str, annotated: bool = True) -> dict[str, Any]:
    meta = {"annotations": {rai.ANN_PIPELINE_STEP: name}} if annotated else {}
    return {"name": name, "metadata": meta, "container": {"image": "reg/pipelines:0.1.0", "args": [name]}}


def pipeline(
    annotations: Any = _DEFAULT,
    started: Any = _DEFAULT,
    steps: list[dict[str, Any]] | None = None,
    name: str = "credit-ct",
    ns: str | None = "research",
) -> dict[str, Any]:
    """A WorkflowTemplate: a DAG (no step annotation: it runs no pod) and its steps."""
    spec: dict[str, Any] = {
        "entrypoint": "continuous-training",
        "serviceAccountName": "pipeline",
        "templates": [
            {"name": "continuous-training", "dag": {"tasks": [{"name": "ingest", "template": "ingest"}]}},
            *(steps if steps is not None else [pipeline_step("ingest"), pipeline_step("train")]),
        ],
    }
    if started is not None:
        spec["workflowMetadata"] = {"annotations": lineage() if started is _DEFAULT else started, "labels": {}}
    metadata = {"name": name, "annotations": lineage() if annotations is _DEFAULT else annotations}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": "argoproj.io/v1alpha1", "metadata": metadata, "spec": spec}


def cron(annotations: Any = _DEFAULT, started: Any = _DEFAULT, ref: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CronWorkflow that starts the WorkflowTemplate `credit-ct` by reference."""
    workflow_spec: dict[str, Any] = {
        "serviceAccountName": "pipeline",
        "workflowTemplateRef": ref if ref is not None else {"name": "credit-ct"},
    }
    if started is not None:
        workflow_spec["workflowMetadata"] = {"annotations": lineage() if started is _DEFAULT else started}
    return {
        "metadata": {
            "name": "credit-ct",
            "namespace": "research",
            "annotations": lineage() if annotations is _DEFAULT else annotations,
        },
        "spec": {"schedules": ["0 3 * * 1"], "concurrencyPolicy": "Forbid", "workflowSpec": workflow_spec},
    }


def wt(props: dict[str, Any], name: str = "wt") -> runner.Resource:
    return runner.resource(WORKFLOW_TEMPLATE, props, name=name)


def cw(props: dict[str, Any], name: str = "cron") -> runner.Resource:
    return runner.resource(CRON_WORKFLOW, props, name=name)


def lineage_case(id: str, violates: bool, *stack: runner.Resource, contains: str | None = None) -> Case:
    return Case("rai-pipeline-lineage", id, violates, stack=list(stack), contains=contains)


PIPELINE_CASES = [
    lineage_case("template-and-cron", False, wt(pipeline()), cw(cron())),
    lineage_case("cron-takes-the-template-workflow-metadata", False, wt(pipeline()), cw(cron(started=None))),
    lineage_case(
        "cron-template-not-in-stack",
        True,
        cw(cron(started=None)),
        contains="(spec.workflowSpec.workflowMetadata.annotations; WorkflowTemplate research/credit-ct, which it "
        "starts, is not in this stack) has none of the lineage",
    ),
    lineage_case(
        "cron-references-a-template-without-them",
        True,
        wt(pipeline(started=None)),
        cw(cron(started=None)),
        contains="every workflow CronWorkflow research/credit-ct starts",
    ),
    lineage_case(
        "cluster-template-reference",
        False,
        runner.resource(CLUSTER_WORKFLOW_TEMPLATE, pipeline(ns=None), name="cwt"),
        cw(cron(started=None, ref={"name": "credit-ct", "clusterScope": True})),
    ),
    lineage_case(
        "template-without-dataset",
        True,
        wt(pipeline(annotations=lineage(rai.ANN_DATASET))),
        contains="WorkflowTemplate research/credit-ct (metadata.annotations) has no ml-platform/dataset",
    ),
    lineage_case(
        "started-workflows-without-owner",
        True,
        wt(pipeline(started=lineage(rai.ANN_OWNER))),
        contains="every workflow WorkflowTemplate research/credit-ct starts (spec.workflowMetadata.annotations) has "
        "no ml-platform/owner",
    ),
    lineage_case(
        "no-workflow-metadata",
        True,
        wt(pipeline(started=None)),
        contains="has none of the lineage annotations ml-platform/dataset, ml-platform/code-version",
    ),
    lineage_case(
        "marked-by-registered-model-only",
        True,
        wt(pipeline(annotations={rai.ANN_REGISTERED_MODEL: "credit-approval"}, started=None)),
        contains="(metadata.annotations) has no ml-platform/dataset",
    ),
    lineage_case(
        "cron-marked-through-its-template",
        True,
        wt(pipeline()),
        cw(cron(annotations={})),
        contains="CronWorkflow research/credit-ct (metadata.annotations) has none of the lineage annotations",
    ),
    lineage_case(
        "step-without-step-annotation",
        True,
        wt(pipeline(steps=[pipeline_step("ingest"), pipeline_step("train", annotated=False)])),
        contains="template 'train' (spec.templates[2]) has no ml-platform/pipeline-step annotation",
    ),
    lineage_case(
        "step-annotation-as-label",
        False,
        wt(pipeline(steps=[{"name": "train", "metadata": {"labels": {rai.ANN_PIPELINE_STEP: "train"}}, "script": {}}])),
    ),
    lineage_case(
        "moving-code-version", True, wt(pipeline(annotations=lineage(code_version="main"))), contains="'main'"
    ),
    lineage_case(
        "owner-not-email",
        True,
        wt(pipeline(annotations=lineage(owner="credit team"))),
        contains="ml-platform/owner 'credit team' is not an email address",
    ),
    lineage_case(
        "unknown-tier",
        True,
        wt(pipeline(started=lineage(risk_tier="severe"))),
        contains="ml-platform/risk-tier 'severe' is not one of",
    ),
    lineage_case(
        "dataset-not-uri",
        True,
        wt(pipeline(annotations=lineage(dataset="credit.csv"))),
        contains="ml-platform/dataset 'credit.csv' is not a URI",
    ),
    lineage_case(
        "not-a-training-pipeline",
        False,
        wt(pipeline(annotations={}, started=None, steps=[pipeline_step("cleanup", annotated=False)])),
    ),
    lineage_case(
        "workflow-run",
        False,
        runner.resource(WORKFLOW, pipeline(started=None), name="run"),
    ),
    lineage_case(
        "workflow-run-without-dataset",
        True,
        runner.resource(WORKFLOW, pipeline(annotations=lineage(rai.ANN_DATASET), started=None), name="run"),
        contains="Workflow research/credit-ct (metadata.annotations) has no ml-platform/dataset",
    ),
    lineage_case(
        "preview-unknown-metadata-skipped",
        False,
        wt(pipeline(annotations={**lineage(), rai.ANN_CODE_VERSION: runner.UNKNOWN}, started=None)),
    ),
]


CASES: list[Case] = [
    # --- R1 owner and contact
    Case("rai-owner-contact", "isvc-complete", False, ISVC, isvc()),
    Case("rai-owner-contact", "isvc-no-owner", True, ISVC, isvc(drop=(rai.ANN_OWNER,)), contains="ml-platform/owner"),
    Case("rai-owner-contact", "owner-not-email", True, ISVC, isvc(owner="team-credit"), contains="not an email"),
    Case("rai-owner-contact", "isvc-no-contact", True, ISVC, isvc(drop=(rai.ANN_CONTACT,)), contains="contact"),
    Case("rai-owner-contact", "trainjob-complete", False, TRAINJOB, trainjob()),
    Case("rai-owner-contact", "trainjob-no-contact", True, TRAINJOB, trainjob(drop=(rai.ANN_CONTACT,))),
    Case("rai-owner-contact", "training-batch-job", True, JOB, batch_job(), contains="Job research/fine-tune"),
    Case("rai-owner-contact", "other-batch-job", False, JOB, batch_job(component="migration")),
    Case("rai-owner-contact", "registry-unowned", True, DEPLOYMENT, registry_deployment(), contains="mlflow/mlflow"),
    Case(
        "rai-owner-contact",
        "registry-owned",
        False,
        DEPLOYMENT,
        registry_deployment({rai.ANN_OWNER: "platform@example.com", rai.ANN_CONTACT: "platform-oncall@example.com"}),
    ),
    Case("rai-owner-contact", "plain-deployment", False, DEPLOYMENT, {"metadata": {"name": "web", "namespace": "x"}}),
    # --- R2 risk tier
    Case("rai-risk-tier-valid", "high", False, ISVC, isvc()),
    Case("rai-risk-tier-valid", "case-insensitive", False, ISVC, with_tier("Limited")),
    Case("rai-risk-tier-valid", "missing", True, ISVC, isvc(drop=(rai.ANN_RISK_TIER,)), contains="no ml-platform/risk"),
    Case("rai-risk-tier-valid", "sagemaker-scale", True, ISVC, with_tier("medium"), contains="'medium' is not one"),
    Case("rai-risk-tier-valid", "trainjob-missing", True, TRAINJOB, trainjob(drop=(rai.ANN_RISK_TIER,))),
    Case(
        "rai-risk-tier-valid",
        "tier-as-label",
        False,
        ISVC,
        {**isvc(drop=(rai.ANN_RISK_TIER,)), "metadata": {"name": "m", "labels": {rai.ANN_RISK_TIER: "minimal"}}},
    ),
    # --- R2 prohibited (its own rule: never relaxed)
    Case("rai-prohibited-practice-denied", "prohibited", True, ISVC, with_tier("prohibited"), contains="prohibited"),
    Case("rai-prohibited-practice-denied", "unacceptable-alias", True, ISVC, with_tier("unacceptable")),
    Case("rai-prohibited-practice-denied", "trainjob", True, TRAINJOB, trainjob(risk_tier="prohibited")),
    Case("rai-prohibited-practice-denied", "high", False, ISVC, isvc()),
    # --- R3 intended use and model card (high risk)
    Case("rai-intended-use-documented", "stated", False, ISVC, isvc()),
    Case("rai-intended-use-documented", "missing", True, ISVC, isvc(drop=(rai.ANN_INTENDED_USE,))),
    Case("rai-intended-use-documented", "placeholder", True, ISVC, isvc(intended_use="TBD")),
    Case(
        "rai-intended-use-documented",
        "limited-needs-none",
        False,
        ISVC,
        isvc(drop=(rai.ANN_INTENDED_USE,), risk_tier="limited"),
    ),
    Case("rai-model-card-linked", "linked", False, ISVC, isvc()),
    Case("rai-model-card-linked", "missing", True, ISVC, isvc(drop=(rai.ANN_MODEL_CARD,)), contains="model card"),
    Case("rai-model-card-linked", "not-uri", True, ISVC, isvc(model_card="see wiki"), contains="not a URI"),
    Case("rai-model-card-linked", "minimal", False, ISVC, isvc(drop=(rai.ANN_MODEL_CARD,), risk_tier="minimal")),
    # --- R5 approval before prod
    Case("rai-approval-before-prod", "approved", False, ISVC, isvc()),
    Case("rai-approval-before-prod", "no-reference", True, ISVC, isvc(drop=(rai.ANN_APPROVAL,)), contains="approval"),
    Case("rai-approval-before-prod", "candidate", True, ISVC, isvc(model_stage="candidate"), contains="'candidate'"),
    # --- R6 lineage
    Case("rai-training-data-lineage", "trainjob", False, TRAINJOB, trainjob()),
    Case("rai-training-data-lineage", "no-dataset", True, TRAINJOB, trainjob(drop=(rai.ANN_DATASET,))),
    Case("rai-training-data-lineage", "moving-version", True, TRAINJOB, trainjob(dataset_version="latest")),
    Case("rai-training-data-lineage", "branch", True, TRAINJOB, trainjob(code_version="main"), contains="branch"),
    Case(
        "rai-training-data-lineage",
        "env-differs",
        True,
        TRAINJOB,
        trainjob(dataset="s3://mlp-aws-dev-datasets-123456789012/tabular/credit-v4.parquet"),
        contains="DATASET_URI",
    ),
    Case("rai-training-data-lineage", "high-isvc-no-lineage", True, ISVC, isvc(drop=(rai.ANN_CODE_VERSION,))),
    Case(
        "rai-training-data-lineage",
        "limited-isvc",
        False,
        ISVC,
        isvc(drop=(rai.ANN_DATASET, rai.ANN_DATASET_VERSION), risk_tier="limited"),
    ),
    Case("rai-training-data-lineage", "untagged-job", False, JOB, batch_job(component="db-migration")),
    # --- R8 approved model sources
    Case("rai-approved-model-sources", "models-bucket", False, ISVC, isvc()),
    Case(
        "rai-approved-model-sources",
        "gcs-models",
        False,
        ISVC,
        isvc(storage="gs://mlp-gcp-prod-models-mlp-prod-123456/credit/7"),
    ),
    Case("rai-approved-model-sources", "hub", True, ISVC, isvc(storage="hf://someone/model"), contains="hf://"),
    Case(
        "rai-approved-model-sources",
        "allowlisted-hub-org",
        False,
        ISVC,
        isvc(storage="hf://acme-vetted/credit-model"),
        config={"allowedModelSources": ["hf://acme-vetted/*"]},
    ),
    Case(
        "rai-approved-model-sources",
        "public-image",
        True,
        ISVC,
        {
            "metadata": {"name": "m", "namespace": "research"},
            "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "docker.io/someone/srv:1"}]}},
        },
        contains="containers[0].image",
    ),
    Case(
        "rai-approved-model-sources",
        "storage-uris",
        True,
        ISVC,
        {
            "metadata": {"name": "m", "namespace": "research"},
            "spec": {"predictor": {"storageUris": [{"uri": MODELS_URI}, {"uri": "https://example.com/w.bin"}]}},
        },
        contains="storageUris[1]",
    ),
    # --- model version pinned
    Case("rai-model-version-pinned", "pinned", False, ISVC, isvc()),
    Case("rai-model-version-pinned", "no-version", True, ISVC, isvc(drop=(rai.ANN_MODEL_VERSION,))),
    Case(
        "rai-model-version-pinned",
        "latest-path",
        True,
        ISVC,
        isvc(storage="s3://mlp-aws-prod-models-1/credit/latest/model"),
        contains="'latest'",
    ),
    Case(
        "rai-model-version-pinned",
        "oci-no-digest",
        True,
        ISVC,
        isvc(storage="oci://123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp/credit"),
        contains="digest",
    ),
    Case(
        "rai-model-version-pinned",
        "oci-digest",
        False,
        ISVC,
        isvc(storage="oci://123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp/credit@sha256:" + "a" * 64),
    ),
    # --- R17 no retired versions
    Case("rai-no-retired-model-served", "approved", False, ISVC, isvc()),
    Case("rai-no-retired-model-served", "no-stage", False, ISVC, isvc(drop=(rai.ANN_MODEL_STAGE,))),
    Case("rai-no-retired-model-served", "archived", True, ISVC, isvc(model_stage="archived"), contains="'archived'"),
    Case("rai-no-retired-model-served", "rejected", True, ISVC, isvc(model_stage="Rejected"), contains="'rejected'"),
    Case(
        "rai-no-retired-model-served",
        "status-alias",
        True,
        ISVC,
        isvc(drop=(rai.ANN_MODEL_STAGE,), model_status="archived"),
    ),
    Case("rai-no-retired-model-served", "unknown-stage", True, ISVC, isvc(model_stage="staging"), contains="not one"),
    # --- R9 inference logging
    Case("rai-inference-logging", "logged", False, ISVC, isvc()),
    Case(
        "rai-inference-logging", "logs-bucket", False, ISVC, isvc(logger={"url": "s3://mlp-aws-prod-logs-1/inference/"})
    ),
    Case("rai-inference-logging", "no-logger", True, ISVC, isvc(logger=None), contains="no logger"),
    Case("rai-inference-logging", "limited-no-logger", False, ISVC, isvc(logger=None, risk_tier="limited")),
    Case(
        "rai-inference-logging",
        "external-sink",
        True,
        ISVC,
        isvc(logger={"url": "https://logs.example.com/in", "mode": "all"}),
        contains="logs.example.com",
    ),
    Case(
        "rai-inference-logging",
        "response-only",
        True,
        ISVC,
        isvc(logger={**LOGGER, "mode": "response"}),
        contains="'response'",
    ),
    Case(
        "rai-inference-logging", "short-retention", True, ISVC, isvc(inference_log_retention_days="30"), contains="30"
    ),
    Case("rai-inference-logging", "no-retention", True, ISVC, isvc(drop=(rai.ANN_LOG_RETENTION_DAYS,))),
    Case("rai-inference-logging", "zero-sampling", True, ISVC, isvc(inference_log_sampling="0"), contains="fraction"),
    Case("rai-inference-logging", "sampled", False, ISVC, isvc(inference_log_sampling="0.25")),
    Case(
        "rai-inference-logging",
        "configured-minimum",
        True,
        ISVC,
        isvc(),
        config={"minRetentionDays": 400},
        contains="less than the 400",
    ),
    # --- R10 monitoring
    Case("rai-monitoring-configured", "named", False, ISVC, isvc()),
    Case("rai-monitoring-configured", "missing", True, ISVC, isvc(drop=(rai.ANN_MONITORING,))),
    Case("rai-monitoring-configured", "disabled", True, ISVC, isvc(monitoring="false")),
    Case("rai-monitoring-configured", "minimal", False, ISVC, isvc(drop=(rai.ANN_MONITORING,), risk_tier="minimal")),
    # --- R16 evaluation evidence and fairness
    Case("rai-eval-evidence", "json", False, ISVC, isvc()),
    Case("rai-eval-evidence", "uri", False, ISVC, isvc(eval_metrics="s3://mlp-models/credit/7/metrics.json")),
    Case("rai-eval-evidence", "missing", True, ISVC, isvc(drop=(rai.ANN_EVAL_METRICS,))),
    Case(
        "rai-eval-evidence",
        "gates-failed",
        True,
        ISVC,
        isvc(
            eval_metrics=json.dumps(
                {
                    "metrics": {"accuracy": 0.7},
                    "gates": {"passed": False, "checks": [{"name": "accuracy", "passed": False}]},
                }
            )
        ),
        contains="failed its gates (accuracy)",
    ),
    Case("rai-eval-evidence", "no-numbers", True, ISVC, isvc(eval_metrics='{"metrics": {}}'), contains="no metric"),
    Case("rai-eval-evidence", "garbage", True, ISVC, isvc(eval_metrics="good enough"), contains="neither"),
    Case("rai-fairness-within-threshold", "within", False, ISVC, isvc()),
    Case("rai-fairness-within-threshold", "missing", True, ISVC, isvc(drop=(rai.ANN_FAIRNESS_METRIC,))),
    Case(
        "rai-fairness-within-threshold",
        "exceeds",
        True,
        ISVC,
        isvc(fairness_value="0.14"),
        contains="demographic_parity_difference 0.14 exceeds its threshold 0.1",
    ),
    Case("rai-fairness-within-threshold", "not-a-number", True, ISVC, isvc(fairness_value="low"), contains="'low'"),
    Case(
        "rai-fairness-within-threshold",
        "ratio-at-least",
        False,
        ISVC,
        isvc(
            fairness_metric="disparate_impact_ratio", fairness_value="0.86", fairness_threshold="0.8", fairness_op=">="
        ),
    ),
    Case(
        "rai-fairness-within-threshold",
        "ratio-below",
        True,
        ISVC,
        isvc(
            fairness_metric="disparate_impact_ratio", fairness_value="0.7", fairness_threshold="0.8", fairness_op=">="
        ),
        contains="falls below",
    ),
    Case("rai-fairness-within-threshold", "limited", False, ISVC, isvc(fairness_value="0.5", risk_tier="limited")),
    # --- R11 data residency
    Case("rai-data-residency", "in-region", False, stack=[s3("models"), gcs("models"), GOOD_ISVC], config=RESIDENCY),
    Case("rai-data-residency", "not-configured", False, stack=[s3("models", prov=AWS_EU)]),
    Case(
        "rai-data-residency",
        "provider-region",
        True,
        stack=[s3("models", prov=AWS_EU)],
        config=RESIDENCY,
        contains="Bucket mlp-aws-prod-models-123456789012 is in 'eu-west-1'",
    ),
    Case(
        "rai-data-residency",
        "own-region",
        True,
        stack=[s3("datasets", region="ap-southeast-2")],
        config=RESIDENCY,
        contains="'ap-southeast-2'",
    ),
    Case("rai-data-residency", "gcs-multi-region", True, stack=[gcs("models", location="US")], config=RESIDENCY),
    Case(
        "rai-data-residency",
        "gcs-dual-region",
        False,
        stack=[gcs("models", location="US", customPlacementConfig={"dataLocations": ["US-CENTRAL1", "US-EAST4"]})],
        config={"allowedRegions": ["us-central1", "us-east4"]},
    ),
    Case(
        "rai-data-residency",
        "zonal-filestore",
        False,
        stack=[r("gcp:filestore/instance:Instance", {"location": "us-central1-b"}, "fs", GCP)],
        config=RESIDENCY,
    ),
    Case(
        "rai-data-residency",
        "replication-out",
        True,
        stack=[
            s3("models"),
            s3("models", name="mlp-replica-models", prov=AWS_EU),
            r(
                rai.S3_REPLICATION,
                {
                    "bucket": "mlp-aws-prod-models-123456789012",
                    "rules": [{"destination": {"bucket": "arn:aws:s3:::mlp-replica-models"}}],
                },
                "replication",
                AWS,
            ),
        ],
        config={"allowedRegions": ["us-east-1"]},
        contains="replication destination bucket 'mlp-replica-models' is in 'eu-west-1'",
    ),
    Case(
        "rai-data-residency",
        "replication-unknown",
        True,
        stack=[
            r(
                rai.S3_REPLICATION,
                {"bucket": "b", "rules": [{"destination": {"bucket": "arn:aws:s3:::elsewhere"}}]},
                "replication",
                AWS,
            )
        ],
        config=RESIDENCY,
        contains="not in this stack",
    ),
    Case(
        "rai-data-residency",
        "ecr-replication",
        True,
        stack=[
            r(
                "aws:ecr/replicationConfiguration:ReplicationConfiguration",
                {
                    "replicationConfiguration": {
                        "rules": [{"destinations": [{"region": "eu-central-1", "registryId": "1"}]}]
                    }
                },
                "ecr-replication",
                AWS,
            )
        ],
        config=RESIDENCY,
        contains="'eu-central-1'",
    ),
    Case(
        "rai-data-residency",
        "model-declares-elsewhere",
        True,
        stack=[k8s(ISVC, isvc(data_residency="us-east-1, eu-west-1"), "isvc")],
        config=RESIDENCY,
        contains="names 'eu-west-1'",
    ),
    Case(
        "rai-data-residency",
        "no-region",
        True,
        stack=[r("aws:rds/instance:Instance", {"engine": "postgres"}, "db")],
        config=RESIDENCY,
        contains="not set",
    ),
    # --- R13 record keeping
    Case(
        "rai-cluster-audit-logs",
        "eks-all",
        False,
        rai.EKS_CLUSTER,
        {"name": "c", "enabledClusterLogTypes": ["api", "audit", "authenticator"]},
    ),
    Case(
        "rai-cluster-audit-logs",
        "eks-no-audit",
        True,
        rai.EKS_CLUSTER,
        {"name": "c", "enabledClusterLogTypes": ["api"]},
        contains="audit, authenticator",
    ),
    Case("rai-cluster-audit-logs", "gke-default", False, rai.GKE_CLUSTER, {"name": "g"}),
    Case("rai-cluster-audit-logs", "gke-none", True, rai.GKE_CLUSTER, {"name": "g", "loggingService": "none"}),
    Case(
        "rai-cluster-audit-logs",
        "gke-workloads-only",
        True,
        rai.GKE_CLUSTER,
        {"name": "g", "loggingConfig": {"enableComponents": ["WORKLOADS"]}},
        contains="SYSTEM_COMPONENTS",
    ),
    Case(
        "rai-cluster-audit-logs",
        "gke-system",
        False,
        rai.GKE_CLUSTER,
        {"name": "g", "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}},
    ),
    Case("rai-data-access-logs", "s3-logged", False, stack=MODELS_LOGGED),
    Case("rai-data-access-logs", "s3-logged-preview", False, stack=[s3("models"), s3_logging(None)]),
    Case("rai-data-access-logs", "s3-unlogged", True, stack=[s3("models")], contains="no access logging"),
    Case("rai-data-access-logs", "logs-bucket-exempt", False, stack=[s3("logs")]),
    Case("rai-data-access-logs", "gcs-unlogged", True, stack=[gcs("datasets")], contains="logging.logBucket"),
    Case(
        "rai-data-access-logs",
        "gcs-logged",
        False,
        stack=[gcs("datasets", logging={"logBucket": "mlp-gcp-prod-logs-p"}), gcs("logs")],
    ),
    Case("rai-data-access-logs", "rds-logged", False, stack=[rds(), rds_params()]),
    Case(
        "rai-data-access-logs",
        "rds-no-export",
        True,
        stack=[rds(exports=["upgrade"]), rds_params()],
        contains="postgresql log",
    ),
    Case("rai-data-access-logs", "rds-default-params", True, stack=[rds(params=None)], contains="log_connections"),
    Case(
        "rai-data-access-logs", "rds-connections-off", True, stack=[rds(), rds_params("0")], contains="log_connections"
    ),
    Case("rai-data-access-logs", "cloud-sql-logged", False, stack=[cloud_sql({"log_connections": "on"})]),
    Case("rai-data-access-logs", "cloud-sql-unlogged", True, stack=[cloud_sql()], contains="Cloud SQL"),
    Case(
        "rai-audit-log-retention",
        "eks-year",
        False,
        stack=[eks_cluster(), log_group("/aws/eks/mlp-aws-prod/cluster", 365)],
    ),
    Case(
        "rai-audit-log-retention",
        "eks-never-expires",
        False,
        stack=[eks_cluster(), log_group("/aws/eks/mlp-aws-prod/cluster", None)],
    ),
    Case(
        "rai-audit-log-retention",
        "eks-90-days",
        True,
        stack=[eks_cluster(), log_group("/aws/eks/mlp-aws-prod/cluster", 90)],
        contains="90 days (< 180)",
    ),
    Case("rai-audit-log-retention", "eks-undeclared", True, stack=[eks_cluster()], contains="not declared"),
    Case(
        "rai-audit-log-retention",
        "s3-logs-30-days",
        True,
        stack=[s3("logs"), lifecycle("mlp-aws-prod-logs-123456789012", 30)],
        contains="after 30 days",
    ),
    Case(
        "rai-audit-log-retention",
        "s3-logs-year",
        False,
        stack=[s3("logs"), lifecycle("mlp-aws-prod-logs-123456789012", 365)],
    ),
    Case(
        "rai-audit-log-retention",
        "gcs-logs-30-days",
        True,
        stack=[gcs("logs", lifecycleRules=[{"condition": {"age": 30}, "action": {"type": "Delete"}}])],
    ),
    Case(
        "rai-audit-log-retention",
        "gcs-noncurrent-only",
        False,
        stack=[
            gcs(
                "logs",
                lifecycleRules=[
                    {
                        "condition": {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"},
                        "action": {"type": "Delete"},
                    },
                    {"condition": {"age": 365, "withState": "LIVE"}, "action": {"type": "Delete"}},
                ],
            )
        ],
    ),
    Case(
        "rai-audit-log-retention",
        "gcp-default-log-bucket",
        True,
        stack=[r(rai.GCP_LOG_BUCKET, {"bucketId": "_Default", "location": "global", "retentionDays": 30}, "lb", GCP)],
        contains="_Default",
    ),
    # --- R14 network isolation
    Case("rai-model-namespace-default-deny", "denied", False, stack=[GOOD_ISVC, DEFAULT_DENY, ALLOW_GATEWAY]),
    Case(
        "rai-model-namespace-default-deny",
        "allow-only",
        True,
        stack=[GOOD_ISVC, ALLOW_GATEWAY],
        contains="namespace research",
    ),
    Case("rai-model-namespace-default-deny", "other-namespace", True, stack=[GOOD_ISVC, netpol("recsys")]),
    Case(
        "rai-model-namespace-default-deny",
        "selective-policy",
        True,
        stack=[GOOD_ISVC, netpol("research", selector={"matchLabels": {"app": "x"}})],
    ),
    Case("rai-model-namespace-default-deny", "no-models", False, stack=[netpol("research", ingress=[{}])]),
    Case(
        "rai-model-endpoint-internal",
        "aws-internal-nlb",
        False,
        stack=[gateway(), envoy_proxy({"service.beta.kubernetes.io/aws-load-balancer-internal": "true"})],
    ),
    Case(
        "rai-model-endpoint-internal",
        "gke-internal",
        False,
        stack=[gateway(), envoy_proxy({"networking.gke.io/load-balancer-type": "Internal"})],
    ),
    Case(
        "rai-model-endpoint-internal", "public-default", True, stack=[gateway(), envoy_proxy(None)], contains="public"
    ),
    Case(
        "rai-model-endpoint-internal",
        "internet-facing",
        True,
        stack=[
            gateway(),
            envoy_proxy(
                {
                    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                }
            ),
        ],
        contains="internet-facing",
    ),
    Case("rai-model-endpoint-internal", "no-envoy-proxy", True, stack=[gateway(parameters=False)]),
    Case("rai-model-endpoint-internal", "cluster-ip", False, stack=[gateway(), envoy_proxy(None, "ClusterIP")]),
    Case(
        "rai-model-endpoint-internal",
        "lb-in-model-namespace",
        True,
        stack=[
            GOOD_ISVC,
            k8s(
                SERVICE,
                {"metadata": {"name": "direct", "namespace": "research"}, "spec": {"type": "LoadBalancer"}},
                "svc",
            ),
        ],
        contains="Service research/direct",
    ),
    Case(
        "rai-model-endpoint-internal",
        "isvc-public-annotation",
        True,
        stack=[k8s(ISVC, public_isvc(), "m")],
        contains="External",
    ),
    # --- R15 customer-managed keys
    Case("rai-cmk-model-data-stores", "kms", False, stack=[s3("models"), sse("mlp-aws-prod-models-123456789012")]),
    Case("rai-cmk-model-data-stores", "kms-preview", False, stack=[s3("models"), sse(None)]),
    Case(
        "rai-cmk-model-data-stores",
        "sse-s3",
        True,
        stack=[s3("models"), sse("mlp-aws-prod-models-123456789012", "AES256", None)],
        contains="'AES256'",
    ),
    Case(
        "rai-cmk-model-data-stores",
        "aws-managed-key",
        True,
        stack=[s3("datasets"), sse("mlp-aws-prod-datasets-123456789012", key=None, role="datasets")],
        contains="aws/s3",
    ),
    Case("rai-cmk-model-data-stores", "no-sse", True, stack=[s3("artifacts")], contains="no SSE configuration"),
    Case("rai-cmk-model-data-stores", "role-from-name", True, stack=[s3("models", tagged=False)]),
    Case(
        "rai-cmk-model-data-stores",
        "logs-exempt",
        False,
        stack=[s3("logs"), sse("mlp-aws-prod-logs-123456789012", "AES256", None, role="logs")],
    ),
    Case("rai-cmk-model-data-stores", "gcs-google-key", True, stack=[gcs("models")], contains="defaultKmsKeyName"),
    Case(
        "rai-cmk-model-data-stores",
        "gcs-cmek",
        False,
        stack=[gcs("models", encryption={"defaultKmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/s"})],
    ),
    Case("rai-cmk-model-data-stores", "rds-no-key", True, stack=[rds()], contains="kmsKeyId"),
    Case("rai-cmk-model-data-stores", "rds-key", False, stack=[rds(kmsKeyId="arn:aws:kms:us-east-1:1:key/db")]),
    Case("rai-cmk-model-data-stores", "cloud-sql-no-key", True, stack=[cloud_sql(key=None)], contains="CMEK"),
    # --- GPU budget
    Case(
        "rai-gpu-budget",
        "reference-prod-pools",
        False,
        stack=[eks_group("h100-train", "p5.48xlarge", 4), eks_group("l4-serve", "g6.xlarge", 12)],
    ),
    Case(
        "rai-gpu-budget",
        "pool-too-big",
        True,
        stack=[eks_group("h100-train", "p5.48xlarge", 10)],
        contains="h100-train can grow to 80 GPUs (10 nodes x 8 GPUs)",
    ),
    Case(
        "rai-gpu-budget",
        "environment-too-big",
        True,
        stack=[eks_group(f"p{i}", "p5.48xlarge", 8) for i in range(5)],
        contains="320 GPUs",
    ),
    Case(
        "rai-gpu-budget",
        "cpu-pool",
        False,
        stack=[eks_group("system", "m6i.large", 500, ami="AL2023_x86_64_STANDARD")],
    ),
    Case(
        "rai-gpu-budget",
        "gke-per-zone-max",
        True,
        stack=[gke_pool("l4", 4, {"maxNodeCount": 8})],
        contains="8 nodes x 3 zones x 4 GPUs",
    ),
    Case("rai-gpu-budget", "gke-total-max", False, stack=[gke_pool("l4", 1, {"totalMaxNodeCount": 12})]),
    Case(
        "rai-gpu-budget",
        "gke-bundled-gpus",
        True,
        stack=[gke_pool("h100", 0, {"totalMaxNodeCount": 9}, machine="a3-highgpu-8g")],
        contains="72 GPUs",
    ),
    Case(
        "rai-gpu-budget",
        "karpenter-unbounded",
        True,
        stack=[karpenter_pool("l4", None, instance="x9.huge")],
        contains="no nvidia.com/gpu limit",
    ),
    Case(
        "rai-gpu-budget",
        "karpenter-limited",
        False,
        stack=[karpenter_pool("l4", {"nvidia.com/gpu": "12", "cpu": "48"})],
    ),
    Case(
        "rai-gpu-budget",
        "karpenter-time-sliced",
        False,
        stack=[karpenter_pool("l4", {"nvidia.com/gpu": "96", "cpu": "48"})],  # 4 slices per GPU; 12 nodes by cpu
    ),
    Case(
        "rai-gpu-budget",
        "karpenter-over",
        True,
        stack=[karpenter_pool("h100", {"nvidia.com/gpu": "128"}, instance="p5.48xlarge")],
        contains="limits nvidia.com/gpu 128",
    ),
    Case("rai-gpu-budget", "unknown-instance", True, stack=[eks_group("x", "g7.mystery", 2)], contains="g7.mystery"),
    Case(
        "rai-gpu-budget",
        "configured-instance",
        False,
        stack=[eks_group("x", "g7.mystery", 2)],
        config={"gpusPerInstanceType": {"g7.mystery": 8}},
    ),
    Case(
        "rai-gpu-budget",
        "job-fits-pool",
        False,
        stack=[eks_group("l4", "g6.xlarge", 2), k8s(TRAINJOB, trainjob(), "job")],
    ),
    Case(
        "rai-gpu-budget",
        "job-bigger-than-pool",
        True,
        stack=[eks_group("l4", "g6.xlarge", 2), k8s(TRAINJOB, trainjob(gpus=1, nodes=4), "job")],
        contains="asks for 4 GPUs; pool l4 has at most 2",
    ),
    Case(
        "rai-gpu-budget",
        "job-on-time-sliced-pool",
        False,
        stack=[
            eks_group("l4", "g6.xlarge", 2, **{"nvidia.com/device-plugin.config": "l4"}),
            k8s(TRAINJOB, trainjob(gpus=1, nodes=4), "job"),
        ],
    ),
    Case(
        "rai-gpu-budget",
        "job-bigger-than-karpenter-pool",
        True,
        stack=[karpenter_pool("l4", {"nvidia.com/gpu": "2", "cpu": "8"}), k8s(TRAINJOB, trainjob(nodes=4), "job")],
        contains="pool l4 has at most 2",
    ),
    Case(
        "rai-gpu-budget",
        "job-over-budget",
        True,
        stack=[k8s(TRAINJOB, trainjob(gpus=8, nodes=16, pool="h100"), "job")],
        contains="asks for 128 GPUs, over maxGpusPerPool 64",
    ),
]


CASES += PIPELINE_CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.param_id)
def test_rule(case: Case) -> None:
    check_case(case)


def test_every_rule_has_a_violating_and_a_compliant_case() -> None:
    outcomes = {(c.policy, c.violates) for c in CASES}
    for policy in rai.RULES:
        assert (policy.name, True) in outcomes and (policy.name, False) in outcomes, policy.name


def test_rules_are_mapped_to_nist_ai_rmf_and_the_eu_ai_act() -> None:
    """R18: every rule names real NIST AI RMF subcategories and an EU AI Act article, for the reports."""
    assert len(rai.RULES) >= 17
    subcategory = re.compile(r"^(GOVERN|MAP|MEASURE|MANAGE) \d{1,2}\.\d{1,2}$")
    for policy in rai.RULES:
        assert policy.name.startswith("rai-"), policy.name
        fw = policy.framework
        assert fw is not None and fw.name == "NIST AI RMF", policy.name
        refs = [x.strip() for x in (fw.reference or "").split(",")]
        assert refs and all(subcategory.match(x) for x in refs), (policy.name, refs)
        assert re.fullmatch(r"EU AI Act Art\. \d{1,3}", fw.specification or ""), (policy.name, fw.specification)
        assert policy.remediation_steps and policy.description


def test_prohibited_stays_mandatory_in_every_environment_config() -> None:
    """`prohibited` is its own rule so that relaxing the tier rules never relaxes it."""
    pack = next(p for p in runner.load_packs() if p.module == "policy.responsible_ai")
    for name in rai.ALWAYS_MANDATORY:
        assert pack.policy(name).enforcement_level == runner.LEVELS["mandatory"]
    for path in sorted((pack.directory / "config").glob("*.json")):
        resolved = runner.resolve_pack_config(pack, runner.read_pack_config(path), str(path))
        for name in rai.ALWAYS_MANDATORY:
            assert resolved[name][0] == "mandatory", f"{path.name} relaxes {name}"


def test_prod_only_rules_are_the_production_gates() -> None:
    prod_only = {p.name for p in rai.RULES if "prod-only" in (p.tags or [])}
    assert prod_only == {
        "rai-approval-before-prod",
        "rai-audit-log-retention",
        "rai-model-endpoint-internal",
        "rai-cmk-model-data-stores",
    }
    assert "prod-only" not in (rule("rai-prohibited-practice-denied").tags or [])


def test_lineage_keys_match_the_training_job_component() -> None:
    """The TrainingJob component and the pack share the annotation keys (one schema, two places)."""
    from components.k8s import training

    assert training.ANN_OWNER == rai.ANN_OWNER
    assert training.ANN_DATASET == rai.ANN_DATASET
    assert training.ANN_DATASET_VERSION == rai.ANN_DATASET_VERSION
    assert training.ANN_CODE_VERSION == rai.ANN_CODE_VERSION


def test_pipeline_keys_match_the_pipeline_renderer_and_its_output_passes() -> None:
    """workloads/pipelines/workflow.py writes the keys the pack reads; what it renders has its lineage."""
    from workloads.pipelines import workflow

    for key in ("OWNER", "RISK_TIER", "DATASET", "CODE_VERSION", "REGISTERED_MODEL", "PIPELINE", "PIPELINE_STEP"):
        assert getattr(workflow, f"ANN_{key}") == getattr(rai, f"ANN_{key}"), key
    params = workflow.PipelineParams(
        name="credit-ct",
        namespace="research",
        image="reg/pipelines:0.1.0",
        settings={},
        source_uri=LINEAGE[rai.ANN_DATASET],
        reference_uri="s3://datasets/reference/credit/",
        registered_model="credit-approval",
        owner="credit-ml@example.com",
        contact="credit-oncall@example.com",
        risk_tier="high",
        code_version="3f9c2ab",
    )
    template, cron_wf = workflow.render(params)
    assert cron_wf is not None
    stack = [wt(template), cw(cron_wf)]
    assert runner.evaluate(rule("rai-pipeline-lineage"), stack) == []
    train = next(t for t in template["spec"]["templates"] if t["name"] == "train")
    train["metadata"] = {}  # the rule must still see a missing step name
    found = runner.evaluate(rule("rai-pipeline-lineage"), [wt(template)])
    where = f"spec.templates[{template['spec']['templates'].index(train)}]"
    assert [v.message for v in found] == [
        f"WorkflowTemplate research/credit-ct: template 'train' ({where}) has no {rai.ANN_PIPELINE_STEP} "
        "annotation: its pods and records cannot be traced to a pipeline step"
    ]


def test_model_sources_reads_every_place_a_model_can_come_from() -> None:
    props = {
        "spec": {
            "predictor": {
                "sklearn": {"storageUri": "gs://a-models/x"},
                "containers": [
                    {"name": "c", "image": "reg/img:1", "env": [{"name": "STORAGE_URI", "value": "s3://b-models/y"}]}
                ],
            },
            "transformer": {"containers": [{"name": "t", "image": "docker.io/t:1"}]},
        }
    }
    assert rai.model_sources(props) == [
        ("spec.predictor.sklearn.storageUri", "gs://a-models/x"),
        ("spec.predictor.containers[0].env.STORAGE_URI", "s3://b-models/y"),
        ("spec.predictor.containers[0].image", "reg/img:1"),
    ]
    llm = {"spec": {"model": {"uri": "hf://org/llm"}}}
    assert rai.model_sources(llm) == [("spec.model.uri", "hf://org/llm")]


def test_job_gpus_counts_every_replica() -> None:
    assert rai.job_gpus(TRAINJOB, trainjob(gpus=8, nodes=4)) == 32
    pytorch = {
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "template": {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 8}}}]}},
                },
                "Worker": {
                    "replicas": 3,
                    "template": {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 8}}}]}},
                },
            }
        }
    }
    assert rai.job_gpus("kubernetes:kubeflow.org/v1:PyTorchJob", pytorch) == 32
    job = copy.deepcopy(batch_job())
    job["spec"]["parallelism"] = 2
    job["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "2"}}
    assert rai.job_gpus(JOB, job) == 4
