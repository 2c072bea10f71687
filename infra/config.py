"""The stack configuration: one validated object per stack file.

A stack file (`stacks/Pulumi.<stack>.yaml`) carries the whole environment under the structured key
`ml-platform:platform`. This module turns that mapping into a `PlatformSpec` (pydantic), fills the
environment-aware defaults (dev / staging / prod) and checks everything a provider would only
reject half-way through a `pulumi up`: unknown keys, wrong types, accelerators a cloud does not
offer, min > max, duplicate names, bad CIDRs.

Every failure is a `ConfigError` whose text is one line naming the file and the key path:

    stacks/Pulumi.x.yaml: platform.gpuPools[1].accelerator: unknown accelerator 'nvidia-h1000' (known: ...)

Keys are camelCase in the stack file (as Pulumi config usually is); attributes are snake_case here.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from components import catalog

PROJECT = "ml-platform"
CONFIG_KEY = f"{PROJECT}:platform"
STACKS_DIR = Path(__file__).resolve().parent.parent / "stacks"

# Kubernetes minor versions in standard support on the managed services (EKS: 14 months from
# release; 1.34 ended 2026-12-02, 1.35 ends 2027-03-27). Extended support costs 6x per cluster hour,
# so the platform only offers versions in standard support and pins the upgrade policy to STANDARD.
SUPPORTED_KUBERNETES_VERSIONS: dict[str, tuple[str, ...]] = {
    "aws": ("1.35", "1.36"),
    "gcp": ("1.34", "1.35", "1.36"),
}
DEFAULT_KUBERNETES_VERSION = "1.35"

DEFAULT_SYSTEM_MACHINE = {"aws": "m6i.xlarge", "gcp": "e2-standard-4"}
# General-purpose workers, 4 vCPU / 16 GiB on both clouds: current Intel generations with steady
# (not shared-core or burstable) CPUs, offered in every zone of the regions the stacks use.
DEFAULT_WORKER_MACHINE = {"aws": "m7i.xlarge", "gcp": "n2-standard-4"}
# Worker node labels the platform sets itself (components.foundation.worker_node_labels)
WORKER_RESERVED_LABELS = ("ml-platform/role", "ml-platform/capacity")
DATABASE_CLASSES: dict[str, dict[str, str]] = {
    "aws": {"small": "db.t4g.medium", "medium": "db.m7g.large", "large": "db.r6g.xlarge"},
    "gcp": {"small": "db-custom-2-7680", "medium": "db-custom-4-15360", "large": "db-custom-8-30720"},
}
REQUIRED_BUCKETS = ("datasets", "artifacts", "models", "logs")
AWS_ACCESS_LOG_BUCKET = "s3-access"  # the S3 server access logs' bucket (components/aws/storage.py)
# The retention periods CloudWatch Logs accepts (PutRetentionPolicy rejects any other value).
CLOUDWATCH_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
# A node label that promises a GPU network fabric (EFA on AWS, GPUDirect-TCPX on GCP). Neither foundation
# builds one (EFA interfaces, a cluster placement group and the EFA device plugin; GPUDirect's extra node
# networks and NCCL plugin), so no pool may carry it: the label would promise what the nodes lack.
LABEL_FABRIC = "ml-platform/fabric"
DEFAULT_REPOSITORIES = ("training", "serving")

_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AWS_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
_GCP_RESERVATION = re.compile(
    r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/reservations/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"'{value}' is not an email address")
    return value


Email = Annotated[str, AfterValidator(_email)]


class ConfigError(Exception):
    """A user error in a stack file: `str()` is one line, ready to print."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source, self.path, self.message = source, path, message
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(where + message)


class Environment(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


class Capacity(StrEnum):
    on_demand = "on-demand"
    spot = "spot"
    reserved = "reserved"


class _Model(BaseModel):
    """Base for every section: camelCase keys, unknown keys rejected, assignment re-validated."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        str_strip_whitespace=True,
    )


def _check_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix))) or not (
            0 < len(name) <= 63 and _LABEL_NAME.match(name)
        ):
            raise ValueError(f"'{key}' is not a valid Kubernetes label key")
        if len(value) > 63 or (value and not _LABEL_NAME.match(value)):
            raise ValueError(f"'{value}' (label '{key}') is not a valid Kubernetes label value")
    return labels


def _dns_label(value: str, max_len: int) -> str:
    if len(value) > max_len or not _DNS_LABEL.match(value):
        raise ValueError(
            f"'{value}' must be a lowercase DNS label: letters, digits and '-', "
            f"starting with a letter, at most {max_len} characters"
        )
    return value


# --- sections -------------------------------------------------------------------------------------


class NetworkSpec(_Model):
    """The VPC: created from `cidr` across `azCount` zones, or an existing one (`existingVpcId`)."""

    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.0.0.0/16")
    az_count: int | None = Field(default=None, ge=2, le=4, description="default: dev 2, else 3")
    nat: Literal["single", "per-az"] | None = Field(default=None, description="default: dev single, else per-az")
    interface_endpoints: bool | None = Field(default=None, description="ECR/STS/logs endpoints; default prod")
    flow_logs: bool = True
    flow_log_retention_days: int = Field(default=90, ge=1)
    existing_vpc_id: str | None = None
    existing_private_subnet_ids: list[str] = Field(default_factory=list)
    existing_public_subnet_ids: list[str] = Field(default_factory=list)
    existing_pods_range: str | None = Field(default=None, description="GCP: secondary range for pods (pods)")
    existing_services_range: str | None = Field(
        default=None, description="GCP: secondary range for services (services)"
    )

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not cidr.is_private:
            raise ValueError(f"{cidr} is not a private (RFC 1918) range")
        if not 16 <= cidr.prefixlen <= 20:
            raise ValueError(f"{cidr}: the VPC needs a /16 to /20 range (GPU pods take one IP each)")
        return cidr

    @property
    def bring_your_own(self) -> bool:
        return self.existing_vpc_id is not None


class ClusterSpec(_Model):
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    endpoint_access: Literal["private", "public-and-private"] | None = Field(
        default=None, description="default: prod private, else public-and-private limited to allowedCidrs"
    )
    allowed_cidrs: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="who may reach the public endpoint (public-and-private only)"
    )
    private_access_cidrs: list[ipaddress.IPv4Network] | None = Field(
        default=None,
        description="AWS: networks allowed to the private endpoint (HTTPS to the cluster security group), e.g. "
        "the deploy runner's subnets or a VPN range; default: the VPC's CIDR",
    )
    admin_principals: list[str] = Field(
        default_factory=list, description="IAM role/user ARNs given cluster-admin through access entries"
    )
    creator_admin: bool = Field(
        default=True,
        description="AWS: also give the identity running `pulumi up` cluster-admin (an access entry, skipped "
        "when that identity is one of adminPrincipals)",
    )
    log_retention_days: int = Field(default=90, ge=1)
    gke_security_group: str | None = Field(
        default=None,
        description="GCP: the Google Groups for RBAC group, gke-security-groups@DOMAIN, that has the "
        "`group:` adminPrincipals as members; default: gke-security-groups@ the first group's domain",
    )

    @field_validator("allowed_cidrs", "private_access_cidrs")
    @classmethod
    def _no_world(cls, cidrs: list[ipaddress.IPv4Network] | None) -> list[ipaddress.IPv4Network] | None:
        for cidr in cidrs or []:
            if cidr.prefixlen == 0:
                raise ValueError("0.0.0.0/0 opens the Kubernetes API to the internet; list office/VPN ranges")
        return cidrs

    @field_validator("admin_principals")
    @classmethod
    def _arns(cls, arns: list[str]) -> list[str]:
        for arn in arns:
            if not _AWS_ARN.match(arn) and not arn.startswith(("user:", "group:", "serviceAccount:")):
                raise ValueError(f"'{arn}' is not an IAM role/user ARN (or a GCP 'user:'/'group:' member)")
        return arns


class AccountSpec(_Model):
    """AWS: account-wide prerequisites the stack may create (GCP stacks do not take this section)."""

    create_service_linked_roles: bool = Field(
        default=False,
        description="create the service-linked roles the stack needs (AWSServiceRoleForAutoScaling; "
        "AWSServiceRoleForEC2Spot with Karpenter spot pools). Default false: they are account prerequisites, "
        "checked before anything is created. One per account: set true in at most one stack of an account",
    )


class SystemPoolSpec(_Model):
    """On-demand nodes for platform services, tainted `CriticalAddonsOnly` so workloads stay off."""

    machine_type: str | None = Field(default=None, description="default: m6i.xlarge (AWS), e2-standard-4 (GCP)")
    min_nodes: int = Field(default=2, ge=1)
    max_nodes: int = Field(default=4, ge=1)
    disk_size_gb: int = Field(default=50, ge=20, le=1000)


class WorkerPoolSpec(_Model):
    """Untainted general-purpose CPU nodes for team workloads that need no GPU: CPU-served models,
    pipeline steps, feature jobs. Off (`enabled: false`), such pods have no node to run on."""

    enabled: bool = True
    machine_type: str | None = Field(default=None, description="default: m7i.xlarge (AWS), n2-standard-4 (GCP)")
    min_nodes: int | None = Field(
        default=None, ge=0, description="default: prod 2 (one per zone for 2 replicas), else 1: no cold start"
    )
    max_nodes: int = Field(default=10, ge=1, le=1000)
    disk_size_gb: int = Field(default=100, ge=20, le=16000)
    capacity: Capacity | None = Field(default=None, description="on-demand or spot; default: dev spot, else on-demand")
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        _check_labels(labels)
        return labels


class GpuSharingSpec(_Model):
    """How one physical GPU is offered to pods: whole (default), time-sliced or MIG-partitioned."""

    time_slicing_replicas: int | None = Field(
        default=None, ge=2, le=16, description="advertise each GPU as N shared nvidia.com/gpu (no isolation)"
    )
    mig_profile: str | None = Field(default=None, description="MIG single strategy, e.g. 1g.10gb (A100/H100/H200)")


class GpuPoolSpec(_Model):
    name: str
    accelerator: str
    gpus_per_node: int = Field(default=1, ge=1)
    capacity: Capacity | None = Field(default=None, description="default: dev spot, else on-demand")
    reservation_id: str | None = None
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(default=2, ge=1, le=1000)
    disk_size_gb: int = Field(default=200, ge=100, le=16000)
    purpose: Literal["training", "serving", "general"] = "general"
    node_image: Literal["al2023", "bottlerocket", "cos"] | None = Field(
        default=None, description="AWS: al2023 (default) or bottlerocket NVIDIA AMIs; GCP: cos"
    )
    labels: dict[str, str] = Field(default_factory=dict)
    sharing: GpuSharingSpec | None = Field(default=None, description="time-slicing or MIG; default whole GPUs")
    zones: list[str] = Field(
        default_factory=list,
        description="zones the nodes may run in (default: every zone of the network); a GCP reservation "
        "lives in one zone",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 20)

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, value: str) -> str:
        catalog.accelerator(value)  # CatalogError (a ValueError) names the known ones
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        _check_labels(labels)
        return labels


class BucketSpec(_Model):
    name: str
    versioning: bool = True
    noncurrent_version_days: int | None = Field(default=None, ge=1, description="default: dev 7, else 30")
    expiration_days: int | None = Field(default=None, ge=1, description="expire current objects (logs: 365)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 20)


class RepositorySpec(_Model):
    name: str
    keep_tagged_images: int = Field(default=100, ge=1)
    untagged_expiry_days: int = Field(default=7, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 40)


class DatabaseSpec(_Model):
    """The model-registry (MLflow) PostgreSQL database."""

    size: Literal["small", "medium", "large"] = "small"
    instance_class: str | None = Field(default=None, description="overrides size: db.* (AWS) or db-custom-* (GCP)")
    storage_gb: int = Field(default=50, ge=20, le=65536)
    max_storage_gb: int = Field(default=500, ge=20, le=65536)
    postgres_version: Literal["15", "16", "17"] = "16"
    backup_retention_days: int | None = Field(default=None, ge=1, le=35, description="default: prod 14, else 7")
    multi_az: bool | None = Field(default=None, description="default: prod")


class TeamSpec(_Model):
    name: str
    owner: Email
    contact: str | None = Field(default=None, description="on-call channel or alias; default: owner")
    cost_center: str | None = None
    gpu_quota: dict[str, int] = Field(default_factory=dict, description="accelerator -> GPUs")
    cpu_quota: int = Field(default=32, ge=1, description="vCPUs")
    memory_quota_gib: int = Field(default=128, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 30)

    @field_validator("gpu_quota")
    @classmethod
    def _quota(cls, quota: dict[str, int]) -> dict[str, int]:
        for accel, gpus in quota.items():
            catalog.accelerator(accel)
            if gpus < 0:
                raise ValueError(f"{accel}: a GPU quota cannot be negative")
        return quota


class GovernanceSpec(_Model):
    cost_center: str
    owner: Email
    contact: str | None = Field(default=None, description="on-call channel or alias; default: owner")
    allowed_regions: list[str] = Field(default_factory=list, description="default: [region]")
    data_classification: Literal["public", "internal", "confidential", "restricted"] = "internal"

    @field_validator("cost_center")
    @classmethod
    def _cost_center(cls, value: str) -> str:
        if not value:
            raise ValueError("a cost center is required (it tags every resource)")
        return value


# --- the cloud-neutral Kubernetes layer (components/k8s) --------------------------------------------


class GpuRuntimeSpec(_Model):
    enabled: bool = True
    mode: Literal["device-plugin", "gpu-operator"] = Field(
        default="device-plugin",
        description="device plugin + GPU feature discovery, or the GPU Operator (driver off: node images carry it); "
        "MIG needs the operator",
    )
    dcgm_interval_ms: int = Field(default=15000, ge=1000, le=300000, description="DCGM exporter collect interval")


class AutoscalingSpec(_Model):
    enabled: bool = True
    gpu_provisioner: Literal["node-groups", "karpenter"] = Field(
        default="node-groups",
        description="AWS: managed node groups + cluster-autoscaler, or Karpenter NodePools; GKE uses its own",
    )


class KueueSpec(_Model):
    enabled: bool = True
    cohort: str = Field(default="platform", description="teams in one cohort borrow each other's idle GPUs")
    borrowing: bool = Field(default=True, description="allow a team to borrow idle quota inside the cohort")
    preemption: bool = Field(default=True, description="reclaim lent quota and let higher priority preempt lower")

    @field_validator("cohort")
    @classmethod
    def _cohort(cls, value: str) -> str:
        return _dns_label(value, 63)


class TrainerSpec(_Model):
    enabled: bool = True


class ServingSpec(_Model):
    """KServe (Standard mode) behind a Gateway API gateway (Envoy Gateway; ingress-nginx is retired)."""

    enabled: bool = True
    domain: str | None = Field(
        default=None, description="inference hosts: <model>-<namespace>.<domain>; default inference.internal"
    )
    internal_load_balancer: bool = Field(
        default=True, description="the gateway's load balancer is reachable only inside the network (VPC)"
    )
    load_balancer_annotations: dict[str, str] = Field(
        default_factory=dict, description="extra annotations of the gateway's LoadBalancer Service"
    )
    tls_issuer: str | None = Field(
        default=None, description="cert-manager ClusterIssuer of the gateway's *.<domain> certificate: HTTPS"
    )
    cert_manager: bool = Field(default=True, description="install cert-manager (false: the cluster has one)")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) > 200 or not all(_DNS_LABEL.match(part) for part in value.split(".")) or "." not in value
        ):
            raise ValueError(f"'{value}' is not a DNS domain (lowercase labels separated by dots)")
        return value

    @field_validator("load_balancer_annotations")
    @classmethod
    def _annotations(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            prefix, _, name = key.rpartition("/")
            if (prefix and not _LABEL_PREFIX.match(prefix)) or not _LABEL_NAME.match(name):
                raise ValueError(f"'{key}' is not a valid annotation key")
        return value

    @field_validator("tls_issuer")
    @classmethod
    def _issuer(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        if not info.data.get("domain"):
            raise ValueError("a TLS certificate needs a domain: set services.serving.domain")
        return _dns_label(value, 63)


class MlflowSpec(_Model):
    enabled: bool = True
    replicas: int | None = Field(default=None, ge=1, le=10, description="default: prod 2, else 1")
    default_permission: Literal["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"] = Field(
        default="READ", description="what an authenticated user may do with others' experiments and models"
    )


class MonitoringSpec(_Model):
    enabled: bool = True
    retention_days: int | None = Field(default=None, ge=1, le=400, description="default: prod 30, else 7")
    storage_gb: int = Field(default=50, ge=10, le=16000, description="Prometheus volume")
    storage_class: str | None = Field(
        default=None, description="StorageClass of the Prometheus and Alertmanager volumes (default: the cluster's)"
    )
    gpu_idle_minutes: int = Field(default=30, ge=5, description="alert: GPUs allocated but idle this long")
    pending_minutes: int = Field(default=60, ge=5, description="alert: Kueue workloads pending this long")

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str | None) -> str | None:
        return None if value is None else _dns_label(value, 63)


_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti)$")
_MODEL_URI = re.compile(r"^(s3|gs)://[a-z0-9][a-z0-9._-]*[a-z0-9]/(?P<key>\S+)$")


def _pinned_image(value: str) -> str:
    tag = value.rsplit("/", 1)[-1]
    if "@sha256:" not in value and (":" not in tag or tag.endswith(":latest")):
        raise ValueError(f"'{value}' is not pinned: give a tag (not latest) or a digest")
    return value


PinnedImage = Annotated[str, AfterValidator(_pinned_image)]


def _cron(value: str) -> str:
    if len(value.split()) != 5 and not value.startswith("@"):
        raise ValueError(f"'{value}' is not a cron schedule (five fields, e.g. '0 3 * * 1', or @hourly)")
    return value


Cron = Annotated[str, AfterValidator(_cron)]


class TrainingJobSpec(_Model):
    """A TrainJob the stack deploys (a sample, or a recurring job a team wants under version control)."""

    name: str
    team: str
    pool: str = Field(description="the GPU pool the workers run on")
    image: PinnedImage = Field(description="training image, pinned by tag or digest")
    command: list[str] = Field(default_factory=lambda: ["torchrun"])
    args: list[str] = Field(default_factory=list)
    num_nodes: int = Field(default=1, ge=1, le=256)
    gpus_per_node: int | None = Field(default=None, ge=1, description="default: all GPUs of a pool node")
    cpu_per_node: int = Field(default=4, ge=1)
    memory_gib_per_node: int = Field(default=16, ge=1)
    priority: Literal["training", "batch"] = "training"
    checkpoint_uri: str | None = Field(default=None, description="s3:// or gs:// prefix; required on spot pools")
    risk_tier: Literal["minimal", "limited", "high"] = Field(
        description="EU AI Act risk tier of the model this job trains (prohibited uses cannot be deployed)"
    )
    dataset_uri: str = Field(description="lineage: the training data")
    dataset_version: str = Field(description="lineage: dataset version or content hash")
    code_version: str = Field(description="lineage: git commit of the training code")
    max_runtime_hours: int = Field(default=72, ge=1, le=720)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 40)


class FairnessSpec(_Model):
    """The fairness figure of the served version, from its model card (`gates` of the training run)."""

    metric: str = Field(description="e.g. demographic_parity_difference")
    value: float
    threshold: float
    op: Literal["<=", ">="] = Field(default="<=", description="<=: the value may not exceed the threshold")


class ModelGovernanceSpec(_Model):
    """What the responsible-AI pack reads on a model deployment (the model card and registry tags say it)."""

    risk_tier: Literal["minimal", "limited", "high"] = Field(
        description="EU AI Act risk tier (the model card's risk_tier; prohibited practices cannot be deployed)"
    )
    intended_use: str = Field(description="one sentence: the model card's intended_use.primary")
    model_card: str | None = Field(default=None, description="URI of model_card.json; default: next to the model")
    approval: str | None = Field(
        default=None, description="approval reference: a ticket or the registry approval, e.g. mlflow:NAME/3@champion"
    )
    dataset_uri: str | None = Field(default=None, description="lineage: the training data (required for high risk)")
    dataset_version: str | None = Field(default=None, description="lineage: dataset version or content hash")
    code_version: str | None = Field(default=None, description="lineage: git commit of the training code")
    eval_metrics: dict[str, float] = Field(
        default_factory=dict, description="evaluation metrics of the version (the model card's metrics)"
    )
    fairness: FairnessSpec | None = None
    data_residency: list[str] = Field(default_factory=list, description="regions the model's data may live in")


class ModelResourcesSpec(_Model):
    cpu: str = Field(default="1", description="CPU request per replica (Kubernetes quantity)")
    memory: str = Field(default="2Gi", description="memory request and limit per replica")
    gpus: int = Field(default=0, ge=0, le=8, description="GPUs per replica (requested and limited)")
    pool: str | None = Field(default=None, description="the GPU pool replicas run on (required with gpus)")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError(f"'{value}' is not a CPU quantity (e.g. 500m, 1, 2.5)")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError(f"'{value}' is not a memory quantity (e.g. 512Mi, 2Gi)")
        return value


class CanarySpec(_Model):
    """A new version next to the stable one, taking `trafficPercent` of the requests (KServe raw-mode
    canary: its own Deployment `<model>-<name>-predictor`, HTTPRoute weights). Promote it by moving its
    uri/version into `model` with `predictorName: <name>` and deleting this block (no pod restart)."""

    name: str = Field(description="the canary's predictor name, e.g. v8")
    storage_uri: str = Field(description="versioned s3:// or gs:// URI of the new version's model/ directory")
    model_version: str = Field(description="registry version of the new model")
    traffic_percent: int = Field(ge=0, le=100, description="share of requests (0: dark launch, no traffic)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 15)


class ShadowSpec(_Model):
    """A candidate version that sees live traffic without answering it: its own InferenceService
    `<model>-shadow`, cluster-local (no gateway route), to which the live model server mirrors a copy of
    each sampled inference request after answering it. The live server compares the two answers and
    counts agreements (`model_server_shadow_predictions_total`); the shadow's answers go nowhere else
    (and to the request log when logging is on)."""

    storage_uri: str = Field(description="versioned s3:// or gs:// URI of the candidate's model/ directory")
    model_version: str = Field(description="registry version of the candidate")
    sample_percent: int = Field(default=100, ge=1, le=100, description="share of live requests mirrored")
    tolerance: float = Field(
        default=0.0,
        ge=0.0,
        description="single-output models: answers further apart than this disagree (classes compare by argmax)",
    )
    replicas: int = Field(default=1, ge=1, le=20, description="the shadow's replicas (fixed: it serves no one)")


_PROM_DURATION = re.compile(r"^([1-9][0-9]*)(m|h)$")


class RolloutAnalysisSpec(_Model):
    """The rollout analysis (workloads/rollouts) of a model's candidate, a CronJob in the team namespace:
    from Prometheus it decides promote, hold or roll back, logs the decision with its evidence, and acts
    on what the stack delegated to automation (a pipeline-managed canary: traffic steps, rollback); for
    everything the stack owns it reports the change to make."""

    image: PinnedImage = Field(description="the image with workloads/ (the pipeline image), pinned")
    schedule: Cron = Field(default="*/10 * * * *", description="cron of the analysis CronJob")
    window: str = Field(default="15m", description="Prometheus range the evidence covers (5m to 6h)")
    min_requests: int = Field(default=200, ge=1, description="fewer candidate requests in the window: hold")
    max_error_ratio: float = Field(default=0.01, ge=0.0, le=1.0, description="candidate 5xx share above: roll back")
    max_disagreement: float = Field(
        default=0.05, ge=0.0, le=1.0, description="shadow predictions differing from live above this share: hold"
    )
    steps: list[int] = Field(
        default_factory=lambda: [10, 25, 50, 100], description="canary traffic percentages a promotion walks"
    )
    act: bool = Field(default=True, description="patch what automation owns; false: report every decision only")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        match = _PROM_DURATION.match(value)
        minutes = int(match[1]) * (60 if match[2] == "h" else 1) if match else 0
        if not 5 <= minutes <= 360:
            raise ValueError(f"'{value}' is not a Prometheus range from 5m to 6h, e.g. 15m")
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if not value or value != sorted(set(value)) or value[0] < 1 or value[-1] != 100:
            raise ValueError(f"{value} is not a rising list of percentages ending at 100, e.g. [10, 25, 50, 100]")
        return value


class DriftMonitorSpec(_Model):
    """Drift detection of a model (workloads/monitoring): a CronJob reads the model's request log
    (requestLogging) over `window`, compares it with the training reference and pushes the PSI/KS
    gauges to the Pushgateway; alert rules fire on drift with enough rows."""

    image: PinnedImage = Field(description="the image with workloads/ (the pipeline image), pinned")
    reference_uri: str = Field(description="the training reference: an s3:// or gs:// CSV or Parquet object")
    schedule: Cron = Field(default="0 * * * *", description="cron of the drift CronJob")
    window_hours: int = Field(default=24, ge=1, le=720, description="payloads newer than this are compared")
    max_psi: float = Field(default=0.2, gt=0.0, description="a feature (or the prediction) above this PSI drifts")
    min_rows: int = Field(default=200, ge=10, description="fewer logged rows in the window: insufficient data")


# the model server's latency histogram bounds in ms (workloads/serving/metrics.py LATENCY_BUCKETS; a test
# keeps the two equal): a latency SLO threshold is one of them, so the slow-request ratio is exact
SERVER_LATENCY_BUCKETS_MS = (0.5, 1, 2, 3, 5, 7.5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000)


class ModelSloSpec(_Model):
    """Service-level objectives of a model deployment (components/k8s/model_slo.py): multi-window burn-rate
    alerts and a Grafana dashboard, on the platform model server's metrics (custom images are not scraped).

    `latencyThresholdMs` must be one of the server histogram's bucket bounds (0.5 ... 5000 ms): the share of
    requests faster than it is then read exactly from the bucket counts, not interpolated."""

    availability: float = Field(
        default=0.999, ge=0.9, le=0.99999, description="target share of inference requests answered without a 5xx"
    )
    latency_threshold_ms: float = Field(
        default=500, description="a request slower than this counts against the latency SLO (a histogram bound)"
    )
    latency_target: float = Field(
        default=0.99, ge=0.9, le=0.99999, description="target share of requests faster than latencyThresholdMs"
    )
    window: str = Field(default="28d", description="the SLO period the error budget covers: 7d to 90d")

    @field_validator("latency_threshold_ms")
    @classmethod
    def _threshold(cls, value: float) -> float:
        if value not in SERVER_LATENCY_BUCKETS_MS:
            nearest = min((b for b in SERVER_LATENCY_BUCKETS_MS if b >= value), default=SERVER_LATENCY_BUCKETS_MS[-1])
            raise ValueError(
                f"{value:g} ms is not a bound of the model server's latency histogram: use {nearest:g} "
                f"(bounds: {', '.join(f'{b:g}' for b in SERVER_LATENCY_BUCKETS_MS)})"
            )
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        match = re.fullmatch(r"([0-9]+)d", value)
        if match is None or not 7 <= int(match[1]) <= 90:
            raise ValueError(f"'{value}' is not a whole number of days from 7d to 90d, e.g. 28d")
        return value

    @property
    def window_days(self) -> int:
        return int(self.window[:-1])


class ModelDeploymentSpec(_Model):
    """A model the stack serves: a KServe InferenceService (raw Deployment) in a team namespace."""

    name: str = Field(description="the InferenceService; the endpoint is <name>-<team>.<serving domain>")
    team: str
    storage_uri: str = Field(description="versioned s3:// or gs:// URI of the model/ directory training exported")
    model_version: str = Field(description="registry version being served, e.g. 7")
    model_stage: Literal["candidate", "approved", "archived", "rejected"] = Field(
        description="the version's lifecycle stage (prod serves approved versions only)"
    )
    registered_model: str | None = Field(default=None, description="registry name; default: name")
    predictor_name: str | None = Field(
        default=None, description="the stable predictor's name (set to the canary's name to promote it)"
    )
    model_format: Literal["mlplatform", "pytorch"] = Field(
        default="mlplatform", description="served by the platform runtime (ClusterServingRuntime ml-platform)"
    )
    image: PinnedImage | None = Field(
        default=None, description="a custom predictor image instead of the platform runtime (pinned)"
    )
    resources: ModelResourcesSpec = Field(default_factory=ModelResourcesSpec)
    min_replicas: int | None = Field(default=None, ge=0, le=100, description="default: prod 2, else 1")
    max_replicas: int = Field(default=3, ge=1, le=100)
    scale_metric: Literal["cpu", "memory"] = Field(default="cpu", description="HPA metric (raw deployment mode)")
    scale_target: int = Field(default=70, ge=1, le=100, description="target utilisation, percent of the request")
    timeout_seconds: int = Field(default=60, ge=1, le=3600, description="per-request timeout")
    request_logging: bool | None = Field(
        default=None, description="log requests and responses to the logs bucket; default (and required): high risk"
    )
    canary: CanarySpec | None = None
    shadow: ShadowSpec | None = None
    rollout: RolloutAnalysisSpec | None = Field(
        default=None, description="automatic analysis of the candidate (canary, shadow or the pipeline's canary)"
    )
    drift: DriftMonitorSpec | None = None
    slo: ModelSloSpec = Field(default_factory=ModelSloSpec)
    governance: ModelGovernanceSpec

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # KServe names the Deployment <name>-<predictor>-predictor and the host <name>-<namespace>.<domain>
        return _dns_label(value, 40)

    @field_validator("predictor_name")
    @classmethod
    def _predictor(cls, value: str | None) -> str | None:
        return None if value is None else _dns_label(value, 15)


class OnlineStoreSpec(_Model):
    """The feature store's online store, provisioned by the foundation: a managed Redis-compatible cache
    (ElastiCache for Valkey on AWS, Memorystore for Redis on GCP) in the private network, TLS in transit,
    an AUTH token kept in the cloud's secret manager, encrypted at rest with the platform's key;
    a replica in another zone with automatic failover in prod."""

    node_type: str | None = Field(
        default=None, description="AWS cache node type; default: prod cache.r7g.large, else cache.t4g.small"
    )
    memory_gb: int | None = Field(default=None, ge=1, le=300, description="GCP capacity; default: prod 5, else 1")
    replicas: int | None = Field(
        default=None, ge=0, le=5, description="replicas in other zones (failover); default: prod 1, else 0"
    )


class FeatureStoreSpec(_Model):
    """Feast: offline store = the datasets bucket (Parquet under features/), online store = the cache
    above, registry = a schema of the platform database; a feature server in the cluster."""

    enabled: bool = True
    project: str = Field(default="ml_platform", description="the Feast project of the stack's feature repository")
    server_replicas: int | None = Field(default=None, ge=1, le=20, description="default: prod 2, else 1")
    online_store: OnlineStoreSpec = Field(default_factory=OnlineStoreSpec)

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9_]{0,62}$", value):
            raise ValueError(f"'{value}' is not a Feast project name (lowercase letters, digits and '_')")
        return value


class PipelinesSpec(_Model):
    """Argo Workflows: the controller and the (client-token) server; artifacts go to the artifacts bucket
    through each team's `pipeline` identity, never through stored credentials."""

    enabled: bool = True
    archive_ttl_days: int | None = Field(
        default=None, ge=1, le=400, description="completed workflows are deleted after; default: prod 30, else 7"
    )
    parallelism: int = Field(default=20, ge=1, le=1000, description="workflows running at once, cluster-wide")


class PipelineGatesSpec(_Model):
    """The continuous-training pipeline's gates: a failing gate stops the run before the next step."""

    max_null_fraction: float = Field(default=0.01, ge=0.0, le=1.0, description="data validation: nulls per column")
    max_psi: float = Field(
        default=0.2, gt=0.0, description="data validation: population stability index of any feature vs. the reference"
    )
    min_accuracy: float = Field(default=0.85, ge=0.0, le=1.0, description="evaluation gate")
    max_demographic_parity_difference: float = Field(default=0.1, ge=0.0, le=1.0, description="fairness gate")


class PipelineSpec(_Model):
    """A continuous-training pipeline (workloads/pipelines): ingest, validate, materialize features, train,
    evaluate, register, and roll the new version out as a canary of a model deployment of the same team."""

    name: str
    team: str
    model: str = Field(description="the modelDeployments[] entry (same team) the new version rolls out to")
    image: PinnedImage = Field(description="the pipeline image (the training image: workloads/), pinned")
    source_uri: str = Field(description="where ingest reads new raw data: an s3:// or gs:// CSV or Parquet object")
    reference_uri: str = Field(description="the validation reference (the data the live model was trained on)")
    schedule: Cron | None = Field(default="0 3 * * 1", description="cron (CronWorkflow); null: run by hand only")
    timezone: str = "UTC"
    pool: str | None = Field(default=None, description="GPU pool of the train step; default: the CPU workers")
    canary_percent: int = Field(default=10, ge=0, le=50, description="traffic share of the new version")
    gates: PipelineGatesSpec = Field(default_factory=PipelineGatesSpec)
    code_version: str = Field(description="lineage: git commit of the pipeline and training code")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 40)


class ServicesSpec(_Model):
    """The platform services installed on the cluster; each can be turned off."""

    gpu_runtime: GpuRuntimeSpec = Field(default_factory=GpuRuntimeSpec)
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec)
    kueue: KueueSpec = Field(default_factory=KueueSpec)
    trainer: TrainerSpec = Field(default_factory=TrainerSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    mlflow: MlflowSpec = Field(default_factory=MlflowSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    pipelines: PipelinesSpec = Field(default_factory=PipelinesSpec)


class PlatformSpec(_Model):
    """The whole environment. `resolve()` fills environment defaults and runs cross-field checks."""

    name: str = Field(default="mlp", description="short prefix for physical names")
    cloud: Literal["aws", "gcp"]
    region: str
    project: str | None = Field(default=None, description="GCP project id (GCP only)")
    environment: Environment
    account: AccountSpec = Field(default_factory=AccountSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    system_pool: SystemPoolSpec = Field(default_factory=SystemPoolSpec)
    worker_pool: WorkerPoolSpec = Field(default_factory=WorkerPoolSpec)
    gpu_pools: list[GpuPoolSpec] = Field(default_factory=list)
    buckets: list[BucketSpec] = Field(default_factory=list)
    repositories: list[RepositorySpec] = Field(default_factory=list)
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    teams: list[TeamSpec] = Field(default_factory=list)
    services: ServicesSpec = Field(default_factory=ServicesSpec)
    training_jobs: list[TrainingJobSpec] = Field(default_factory=list)
    model_deployments: list[ModelDeploymentSpec] = Field(default_factory=list)
    feature_store: FeatureStoreSpec = Field(default_factory=FeatureStoreSpec)
    pipelines: list[PipelineSpec] = Field(default_factory=list)
    governance: GovernanceSpec
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 12)

    # -- derived views used by the components ------------------------------------------------------

    @property
    def is_prod(self) -> bool:
        return self.environment is Environment.prod

    def bucket(self, name: str) -> BucketSpec:
        return next(b for b in self.buckets if b.name == name)


# --- defaults and cross-field checks ---------------------------------------------------------------


def _resolve(spec: PlatformSpec) -> list[tuple[str, str]]:
    """Fill environment defaults in place; return (key path, message) for every semantic error."""
    errors: list[tuple[str, str]] = []
    cloud, prod, dev = spec.cloud, spec.is_prod, spec.environment is Environment.dev

    regex = _AWS_REGION if cloud == "aws" else _GCP_REGION
    if not regex.match(spec.region):
        errors.append(("region", f"'{spec.region}' is not a {cloud} region name"))
    if cloud == "gcp" and not spec.project:
        errors.append(("project", "a GCP stack needs the project id"))
    if cloud == "aws" and spec.project:
        errors.append(("project", "'project' is for GCP stacks; AWS takes the account from credentials"))
    if cloud == "gcp":
        aws_only = {
            "network": (spec.network, ("nat", "interface_endpoints", "flow_log_retention_days")),
            "cluster": (spec.cluster, ("creator_admin", "private_access_cidrs")),
            "account": (spec.account, ("create_service_linked_roles",)),
        }
        for section, (model, keys) in aws_only.items():
            for key in keys:
                if key in model.model_fields_set:
                    errors.append((f"{section}.{to_camel(key)}", "is an AWS setting; GCP stacks do not take it"))

    # governance: data residency
    gov = spec.governance
    if not gov.allowed_regions:
        gov.allowed_regions = [spec.region]
    elif spec.region not in gov.allowed_regions:
        errors.append(
            ("region", f"'{spec.region}' is not in governance.allowedRegions ({', '.join(gov.allowed_regions)})")
        )

    # network
    net = spec.network
    if net.az_count is None:
        net.az_count = 2 if dev else 3
    if net.nat is None:
        net.nat = "single" if dev else "per-az"
    if net.interface_endpoints is None:
        net.interface_endpoints = prod
    if net.bring_your_own:
        if cloud == "aws" and len(net.existing_private_subnet_ids) < 2:
            errors.append(
                ("network.existingPrivateSubnetIds", "an existing VPC needs private subnets in at least 2 zones")
            )
        if cloud == "gcp" and len(net.existing_private_subnet_ids) != 1:
            errors.append(("network.existingPrivateSubnetIds", "give the one regional subnet of the existing network"))
    if cloud == "aws" and (net.existing_pods_range or net.existing_services_range):
        key = "existingPodsRange" if net.existing_pods_range else "existingServicesRange"
        errors.append((f"network.{key}", "is a GCP setting (secondary ranges); EKS pods take VPC addresses"))
    if not net.bring_your_own and (net.existing_pods_range or net.existing_services_range):
        errors.append(("network.existingVpcId", "secondary range names were given without the existing network"))
    if not net.bring_your_own and (net.existing_private_subnet_ids or net.existing_public_subnet_ids):
        errors.append(("network.existingVpcId", "subnet ids were given without the VPC they belong to"))

    # cluster
    cl = spec.cluster
    versions = SUPPORTED_KUBERNETES_VERSIONS[cloud]
    if cl.kubernetes_version not in versions:
        errors.append(
            (
                "cluster.kubernetesVersion",
                f"'{cl.kubernetes_version}' is not in standard support on {cloud} (supported: {', '.join(versions)})",
            )
        )
    if cl.endpoint_access is None:
        cl.endpoint_access = "private" if prod else "public-and-private"
    if cl.endpoint_access == "public-and-private" and not cl.allowed_cidrs:
        errors.append(
            ("cluster.allowedCidrs", "a public endpoint must be limited to CIDRs (or set endpointAccess: private)")
        )
    if cl.gke_security_group is not None:
        if cloud != "gcp":
            errors.append(("cluster.gkeSecurityGroup", "is a GCP setting (Google Groups for RBAC)"))
        elif not re.match(r"^gke-security-groups@[a-z0-9.-]+\.[a-z]{2,}$", cl.gke_security_group):
            errors.append(
                (
                    "cluster.gkeSecurityGroup",
                    f"'{cl.gke_security_group}' is not gke-security-groups@YOUR-DOMAIN (the name GKE requires)",
                )
            )
    if cloud == "aws" and not cl.creator_admin and not cl.admin_principals:
        errors.append(
            (
                "cluster.creatorAdmin",
                "with creatorAdmin off, list adminPrincipals (the deploy identity among them): "
                "no one could reach the cluster, not even the next `pulumi up`",
            )
        )
    if cl.private_access_cidrs:  # one security-group rule per CIDR: a repeat would be a duplicate rule
        cidrs = [str(c) for c in cl.private_access_cidrs]
        errors += [(f"cluster.privateAccessCidrs[{j}]", m) for j, m in _check_unique_values(cidrs)]
    if cloud == "aws":
        for key, days in (
            ("cluster.logRetentionDays", cl.log_retention_days),
            ("network.flowLogRetentionDays", net.flow_log_retention_days),
        ):
            if days not in CLOUDWATCH_RETENTION_DAYS:
                allowed = ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS))
                errors.append((key, f"{days} is not a CloudWatch Logs retention period ({allowed})"))
    for i, principal in enumerate(cl.admin_principals):
        if cloud == "aws" and not _AWS_ARN.match(principal):
            errors.append((f"cluster.adminPrincipals[{i}]", f"'{principal}' is not an IAM role/user ARN"))
        if cloud == "gcp" and not principal.startswith(("user:", "group:", "serviceAccount:")):
            errors.append(
                (f"cluster.adminPrincipals[{i}]", f"'{principal}' is not a GCP member (user:, group:, serviceAccount:)")
            )

    # system pool
    sp = spec.system_pool
    if sp.machine_type is None:
        sp.machine_type = DEFAULT_SYSTEM_MACHINE[cloud]
    else:
        try:
            catalog.cpu_machine(cloud, sp.machine_type)
        except catalog.CatalogError as exc:
            errors.append(("systemPool.machineType", str(exc)))
    if sp.min_nodes > sp.max_nodes:
        errors.append(("systemPool.minNodes", f"minNodes ({sp.min_nodes}) is greater than maxNodes ({sp.max_nodes})"))
    errors += _resolve_worker_pool(spec)

    # GPU pools
    errors += _check_unique("gpuPools", [p.name for p in spec.gpu_pools])
    for i, pool in enumerate(spec.gpu_pools):
        at = f"gpuPools[{i}]"
        try:
            offering = catalog.accelerator(pool.accelerator).offering(cloud)
        except catalog.CatalogError as exc:
            errors.append((f"{at}.accelerator", str(exc)))
        else:
            try:
                offering.machine_for(pool.gpus_per_node)
            except catalog.CatalogError as exc:
                errors.append((f"{at}.gpusPerNode", str(exc)))
        if pool.min_nodes > pool.max_nodes:
            errors.append(
                (f"{at}.minNodes", f"minNodes ({pool.min_nodes}) is greater than maxNodes ({pool.max_nodes})")
            )
        if pool.capacity is None:
            pool.capacity = Capacity.spot if dev else Capacity.on_demand
        if pool.capacity is Capacity.reserved and not pool.reservation_id:
            errors.append((f"{at}.reservationId", "capacity 'reserved' needs the reservation id"))
        if pool.reservation_id and pool.capacity is not Capacity.reserved:
            errors.append(
                (f"{at}.reservationId", f"a reservation id needs capacity 'reserved' (not '{pool.capacity}')")
            )
        if cloud == "aws" and pool.reservation_id and not re.match(r"^cr-[0-9a-f]{8,17}$", pool.reservation_id):
            errors.append(
                (f"{at}.reservationId", f"'{pool.reservation_id}' is not an EC2 capacity reservation id (cr-…)")
            )
        if cloud == "gcp" and pool.reservation_id and not _GCP_RESERVATION.match(pool.reservation_id):
            errors.append(
                (
                    f"{at}.reservationId",
                    f"'{pool.reservation_id}' is not a Compute Engine reservation name "
                    "(name or projects/OWNER/reservations/name)",
                )
            )
        if LABEL_FABRIC in pool.labels:
            fabric = (
                "EFA (EFA interfaces, cluster placement group, EFA device plugin)"
                if cloud == "aws"
                else "GPUDirect (extra node networks, the NCCL plugin)"
            )
            errors.append(
                (
                    f"{at}.labels.{LABEL_FABRIC}",
                    f"claims a GPU fabric the {cloud.upper()} foundation does not build, {fabric}: remove the label, "
                    "nodes would not have what it promises",
                )
            )
        zone_re = re.compile(rf"^{re.escape(spec.region)}{'' if cloud == 'aws' else '-'}[a-z]$")
        for j, zone in enumerate(pool.zones):
            if not zone_re.match(zone):
                errors.append((f"{at}.zones[{j}]", f"'{zone}' is not a zone of {spec.region}"))
        errors += [(f"{at}.zones[{j}]", m) for j, m in _check_unique_values(pool.zones)]
        if cloud == "aws" and net.bring_your_own and pool.zones:
            errors.append(
                (
                    f"{at}.zones",
                    "an existing VPC's subnets are used as given: leave zones empty or list only those subnets",
                )
            )
        if pool.capacity is Capacity.reserved and len(pool.zones) != 1:
            example = f"{spec.region}a" if cloud == "aws" else f"{spec.region}-a"
            errors.append(
                (f"{at}.zones", f"a capacity reservation lives in one zone: give that zone, e.g. zones: [{example}]")
            )
        images = ("al2023", "bottlerocket") if cloud == "aws" else ("cos",)
        if pool.node_image is None:
            pool.node_image = images[0]  # type: ignore[assignment]
        elif pool.node_image not in images:
            errors.append(
                (f"{at}.nodeImage", f"'{pool.node_image}' is not a {cloud} GPU node image ({', '.join(images)})")
            )

    # buckets: the four the platform relies on always exist; the stack file may tune or add
    errors += _check_unique("buckets", [b.name for b in spec.buckets])
    for i, bucket in enumerate(spec.buckets):
        if cloud == "aws" and bucket.name == AWS_ACCESS_LOG_BUCKET:
            errors.append((f"buckets[{i}].name", f"'{bucket.name}' is the S3 access-log bucket's: choose another"))
    given = {b.name: b for b in spec.buckets}
    spec.buckets = [given.pop(name, BucketSpec(name=name)) for name in REQUIRED_BUCKETS] + list(given.values())
    for bucket in spec.buckets:
        if bucket.noncurrent_version_days is None:
            bucket.noncurrent_version_days = 7 if dev else 30
        if bucket.name == "logs" and bucket.expiration_days is None:
            bucket.expiration_days = 365

    errors += _check_unique("repositories", [r.name for r in spec.repositories])
    if not spec.repositories:
        spec.repositories = [RepositorySpec(name=n) for n in DEFAULT_REPOSITORIES]

    # database
    db = spec.database
    if db.instance_class is None:
        db.instance_class = DATABASE_CLASSES[cloud][db.size]
    else:
        try:
            catalog.database_hourly(cloud, db.instance_class, multi_az=False)
        except catalog.CatalogError as exc:
            errors.append(("database.instanceClass", str(exc)))
    if db.max_storage_gb < db.storage_gb:
        errors.append(
            ("database.maxStorageGb", f"maxStorageGb ({db.max_storage_gb}) is below storageGb ({db.storage_gb})")
        )
    if db.backup_retention_days is None:
        db.backup_retention_days = 14 if prod else 7
    if db.multi_az is None:
        db.multi_az = prod

    # teams
    errors += _check_unique("teams", [t.name for t in spec.teams])
    pooled = {p.accelerator for p in spec.gpu_pools}
    for i, team in enumerate(spec.teams):
        for accel in team.gpu_quota:
            if accel not in pooled:
                errors.append((f"teams[{i}].gpuQuota.{accel}", "no GPU pool in this stack has this accelerator"))
    # Kueue admits up to the sum of the nominal quotas: more than the pools can ever hold means admitted
    # jobs that wait for nodes which never come (MIG pools are left out: their slice count varies by profile)
    for accel in sorted(pooled):
        pools = [p for p in spec.gpu_pools if p.accelerator == accel]
        if any(p.sharing and p.sharing.mig_profile for p in pools):
            continue
        capacity = sum(
            p.max_nodes * p.gpus_per_node * ((p.sharing and p.sharing.time_slicing_replicas) or 1) for p in pools
        )
        promised = sum(t.gpu_quota.get(accel, 0) for t in spec.teams)
        if promised > capacity:
            i = max(i for i, t in enumerate(spec.teams) if t.gpu_quota.get(accel))
            errors.append(
                (
                    f"teams[{i}].gpuQuota.{accel}",
                    f"the teams' {accel} quotas sum to {promised} GPUs but the pools hold at most {capacity} "
                    "(maxNodes x gpusPerNode): raise maxNodes or lower the quotas",
                )
            )

    errors += _resolve_services(spec)
    _check_tags(spec.tags, "tags", errors)
    return errors


def _resolve_worker_pool(spec: PlatformSpec) -> list[tuple[str, str]]:
    """Defaults and cross-field checks of the CPU worker pool, and that CPU model replicas fit on it."""
    errors: list[tuple[str, str]] = []
    wp, cloud = spec.worker_pool, spec.cloud
    if wp.machine_type is None:
        wp.machine_type = DEFAULT_WORKER_MACHINE[cloud]
    machine = None
    try:
        machine = catalog.cpu_machine(cloud, wp.machine_type)
    except catalog.CatalogError as exc:
        errors.append(("workerPool.machineType", str(exc)))
    if wp.min_nodes is None:  # a smaller explicit maxNodes caps the default
        wp.min_nodes = min(2 if spec.is_prod else 1, wp.max_nodes)
    elif wp.min_nodes > wp.max_nodes:
        errors.append(("workerPool.minNodes", f"minNodes ({wp.min_nodes}) is greater than maxNodes ({wp.max_nodes})"))
    if wp.capacity is None:
        wp.capacity = Capacity.spot if spec.environment is Environment.dev else Capacity.on_demand
    elif wp.capacity is Capacity.reserved:
        errors.append(("workerPool.capacity", "capacity reservations are for GPU pools; workers run on-demand or spot"))
    for key in wp.labels:
        if key in WORKER_RESERVED_LABELS:
            errors.append((f"workerPool.labels.{key}", "is set by the platform (role: worker, capacity)"))
    # CPU model replicas run on the workers: without them, or bigger than one, they stay Pending forever.
    for i, model in enumerate(spec.model_deployments):
        res = model.resources
        if res.pool or res.gpus:
            continue
        at = f"modelDeployments[{i}]"
        if not wp.enabled:
            errors.append(
                (f"{at}.resources", "a CPU replica runs on the worker pool: enable workerPool or name a pool")
            )
        elif machine is not None and _cpu_cores(res.cpu) > machine.vcpus:
            errors.append(
                (f"{at}.resources.cpu", f"{res.cpu} CPUs do not fit on one worker ({wp.machine_type}: {machine.vcpus})")
            )
        elif machine is not None and _gib(res.memory) > machine.memory_gib:
            errors.append(
                (
                    f"{at}.resources.memory",
                    f"{res.memory} does not fit on one worker ({wp.machine_type}: {machine.memory_gib:g} GiB)",
                )
            )
    return errors


def _cpu_cores(quantity: str) -> float:
    """A CPU quantity (`500m`, `2`, `2.5`) in cores."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _gib(quantity: str) -> float:
    """A memory quantity (`512Mi`, `2Gi`) in GiB."""
    scale = {"Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1.0, "Ti": 1024.0}
    return float(quantity[:-2]) * scale[quantity[-2:]]


def _resolve_services(spec: PlatformSpec) -> list[tuple[str, str]]:
    """Defaults and cross-field checks of the Kubernetes layer (`platform.services`, pool sharing)."""
    errors: list[tuple[str, str]] = []
    svc, prod = spec.services, spec.is_prod
    if svc.mlflow.replicas is None:
        svc.mlflow.replicas = 2 if prod else 1
    if svc.monitoring.retention_days is None:
        svc.monitoring.retention_days = 30 if prod else 7
    if spec.cloud != "aws" and svc.autoscaling.gpu_provisioner == "karpenter":
        errors.append(
            ("services.autoscaling.gpuProvisioner", "Karpenter is for AWS; GKE node pools scale with GKE's autoscaler")
        )
    if spec.cloud == "gcp" and svc.gpu_runtime.mode == "gpu-operator":
        errors.append(
            (
                "services.gpuRuntime.mode",
                "GKE installs the NVIDIA driver and device plugin itself: use device-plugin (only DCGM is added)",
            )
        )
    if svc.serving.enabled and "serving" not in {r.name for r in spec.repositories}:
        errors.append(
            ("repositories", "serving is on: add a repository named 'serving' (the platform's model server image)")
        )
    if svc.trainer.enabled and not svc.kueue.enabled:
        errors.append(("services.trainer.enabled", "the training operator admits jobs through Kueue: enable kueue"))
    errors += _check_unique("trainingJobs", [j.name for j in spec.training_jobs])
    teams = {t.name: t for t in spec.teams}
    pools = {p.name: p for p in spec.gpu_pools}
    for i, job in enumerate(spec.training_jobs):
        at = f"trainingJobs[{i}]"
        if not (svc.trainer.enabled and svc.kueue.enabled):
            errors.append((at, "training jobs need services.trainer and services.kueue enabled"))
        team = teams.get(job.team)
        if team is None:
            errors.append((f"{at}.team", f"no team '{job.team}' in this stack ({', '.join(teams) or 'none'})"))
        pool = pools.get(job.pool)
        if pool is None:
            errors.append((f"{at}.pool", f"no GPU pool '{job.pool}' in this stack ({', '.join(pools) or 'none'})"))
            continue
        if job.gpus_per_node is None:
            job.gpus_per_node = pool.gpus_per_node
        elif job.gpus_per_node > pool.gpus_per_node:
            errors.append(
                (
                    f"{at}.gpusPerNode",
                    f"{job.gpus_per_node} GPUs do not fit a '{pool.name}' node ({pool.gpus_per_node})",
                )
            )
        if job.num_nodes > pool.max_nodes:
            errors.append(
                (f"{at}.numNodes", f"{job.num_nodes} nodes exceed pool '{pool.name}' maxNodes ({pool.max_nodes})")
            )
        if pool.capacity is Capacity.spot and not job.checkpoint_uri:
            errors.append(
                (f"{at}.checkpointUri", f"pool '{pool.name}' is spot: a job must checkpoint to survive reclaims")
            )
        if job.checkpoint_uri and not re.match(r"^(s3|gs)://[a-z0-9][a-z0-9.-]+[a-z0-9](/.*)?$", job.checkpoint_uri):
            errors.append((f"{at}.checkpointUri", f"'{job.checkpoint_uri}' is not an s3:// or gs:// URI"))
        if team is not None and not svc.kueue.borrowing and not team.gpu_quota.get(pool.accelerator):
            errors.append(
                (
                    f"{at}.team",
                    f"team '{team.name}' has no {pool.accelerator} quota and borrowing is off: it never runs",
                )
            )

    errors += _resolve_models(spec, teams, pools)
    errors += _resolve_features_and_pipelines(spec, teams, pools)

    for i, pool in enumerate(spec.gpu_pools):
        sharing = pool.sharing
        if sharing is None:
            continue
        at = f"gpuPools[{i}].sharing"
        if sharing.time_slicing_replicas and sharing.mig_profile:
            errors.append((at, "choose time-slicing or MIG, not both"))
        if sharing.mig_profile:
            profiles = catalog.MIG_PROFILES.get(pool.accelerator, ())
            if not profiles:
                errors.append((f"{at}.migProfile", f"{pool.accelerator} does not support MIG (A100, H100, H200 do)"))
            elif sharing.mig_profile not in profiles:
                errors.append(
                    (
                        f"{at}.migProfile",
                        f"'{sharing.mig_profile}' is not a MIG profile of {pool.accelerator} ({', '.join(profiles)})",
                    )
                )
            # GKE partitions MIG GPUs itself (node pool gpuPartitionSize); on EKS the GPU Operator's MIG manager does
            if spec.cloud == "aws" and svc.gpu_runtime.mode != "gpu-operator":
                errors.append(
                    (f"{at}.migProfile", "on EKS, MIG is configured by the GPU Operator: set services.gpuRuntime.mode")
                )
    return errors


def _resolve_models(
    spec: PlatformSpec, teams: Mapping[str, TeamSpec], pools: Mapping[str, GpuPoolSpec]
) -> list[tuple[str, str]]:
    """Defaults and cross-field checks of `modelDeployments[]` (components/k8s/model_deployment.py)."""
    errors: list[tuple[str, str]] = []
    scheme = {"aws": "s3", "gcp": "gs"}[spec.cloud]
    serving = spec.services.serving
    errors += _check_unique("modelDeployments", [f"{m.team}/{m.name}" for m in spec.model_deployments])
    for i, model in enumerate(spec.model_deployments):
        at = f"modelDeployments[{i}]"
        if not serving.enabled:
            errors.append((at, "model deployments need services.serving enabled"))
        if model.team not in teams:
            errors.append((f"{at}.team", f"no team '{model.team}' in this stack ({', '.join(teams) or 'none'})"))
        # the team's `inference` identity reads exactly teams/<team>/ of the models bucket
        uris = [("storageUri", model.storage_uri)]
        if model.canary is not None:
            uris.append(("canary.storageUri", model.canary.storage_uri))
        if model.shadow is not None:
            uris.append(("shadow.storageUri", model.shadow.storage_uri))
        for key, uri in uris:
            match = _MODEL_URI.match(uri)
            if match is None or not uri.startswith(f"{scheme}://"):
                errors.append((f"{at}.{key}", f"'{uri}' is not a {scheme}:// URI of an object prefix"))
            elif not match["key"].startswith(f"teams/{model.team}/"):
                errors.append(
                    (
                        f"{at}.{key}",
                        f"'{uri}' is outside teams/{model.team}/: the team's inference identity reads only "
                        "its own prefix of the models bucket",
                    )
                )
        if model.min_replicas is None:
            model.min_replicas = 2 if spec.is_prod else 1
        if model.min_replicas > model.max_replicas:
            errors.append(
                (f"{at}.minReplicas", f"minReplicas ({model.min_replicas}) is above maxReplicas ({model.max_replicas})")
            )
        if model.image is not None and model.model_format != "mlplatform":
            errors.append((f"{at}.modelFormat", "a custom image serves its own format: drop modelFormat"))
        if model.governance.risk_tier == "high" and model.request_logging is False:
            errors.append(
                (f"{at}.requestLogging", "high-risk models log their requests (EU AI Act Art. 12): remove this")
            )
        canary = model.canary
        if canary is not None:
            if canary.name == model.predictor_name:
                errors.append((f"{at}.canary.name", f"'{canary.name}' is already the stable predictor's name"))
            if canary.storage_uri == model.storage_uri:
                errors.append((f"{at}.canary.storageUri", "the canary serves the stable version: give the new one"))
        errors += _check_delivery(spec, model, at)
        res = model.resources
        if res.gpus and res.pool is None:
            errors.append((f"{at}.resources.pool", "GPUs come from a GPU pool: name it"))
        if res.pool is not None:
            pool = pools.get(res.pool)
            if pool is None:
                errors.append((f"{at}.resources.pool", f"no GPU pool '{res.pool}' ({', '.join(pools) or 'none'})"))
            elif not res.gpus:
                errors.append((f"{at}.resources.gpus", f"a replica on pool '{res.pool}' asks for its GPUs: set gpus"))
            elif res.gpus > pool.gpus_per_node:
                errors.append(
                    (f"{at}.resources.gpus", f"{res.gpus} GPUs do not fit a '{pool.name}' node ({pool.gpus_per_node})")
                )
    return errors


def _check_delivery(spec: PlatformSpec, model: ModelDeploymentSpec, at: str) -> list[tuple[str, str]]:
    """Shadow, rollout analysis and drift monitoring of one model deployment."""
    errors: list[tuple[str, str]] = []
    monitoring = spec.services.monitoring.enabled
    shadow = model.shadow
    if shadow is not None:
        if model.canary is not None:
            errors.append((f"{at}.shadow", "one candidate at a time: a canary or a shadow, not both"))
        if shadow.storage_uri == model.storage_uri:
            errors.append((f"{at}.shadow.storageUri", "the shadow serves the stable version: give the new one"))
        if model.image is not None:
            errors.append((f"{at}.shadow", "the platform model server mirrors to the shadow: drop the custom image"))
    for key in ("rollout", "drift"):
        if getattr(model, key) is not None:
            if not monitoring:
                errors.append((f"{at}.{key}", "reads Prometheus: enable services.monitoring"))
            if model.image is not None:
                errors.append((f"{at}.{key}", "reads the platform model server's metrics: drop the custom image"))
    if model.drift is not None:
        logged = model.request_logging if model.request_logging is not None else model.governance.risk_tier == "high"
        if not logged:
            errors.append((f"{at}.drift", "compares the logged requests: set requestLogging: true"))
        scheme = {"aws": "s3", "gcp": "gs"}[spec.cloud]
        ref = model.drift.reference_uri
        match = _MODEL_URI.match(ref)
        if match is None or not ref.startswith(f"{scheme}://"):
            errors.append((f"{at}.drift.referenceUri", f"'{ref}' is not a {scheme}:// URI of an object"))
    return errors


def _resolve_features_and_pipelines(
    spec: PlatformSpec, teams: Mapping[str, TeamSpec], pools: Mapping[str, GpuPoolSpec]
) -> list[tuple[str, str]]:
    """Defaults and checks of `featureStore` and `pipelines[]` (components/k8s/feature_store.py, pipelines.py)."""
    errors: list[tuple[str, str]] = []
    prod, fs = spec.is_prod, spec.feature_store
    online = fs.online_store
    if fs.server_replicas is None:
        fs.server_replicas = 2 if prod else 1
    if online.replicas is None:
        online.replicas = 1 if prod else 0
    if spec.cloud == "aws":
        if online.memory_gb is not None:
            errors.append(("featureStore.onlineStore.memoryGb", "is a GCP setting; on AWS give nodeType"))
        if online.node_type is None:
            online.node_type = "cache.r7g.large" if prod else "cache.t4g.small"
        elif not online.node_type.startswith("cache."):
            errors.append(("featureStore.onlineStore.nodeType", f"'{online.node_type}' is not a cache.* node type"))
    else:
        if online.node_type is not None:
            errors.append(("featureStore.onlineStore.nodeType", "is an AWS setting; on GCP give memoryGb"))
        if online.memory_gb is None:
            online.memory_gb = 5 if prod else 1
        if online.replicas > 0 and online.memory_gb < 5:
            errors.append(
                ("featureStore.onlineStore.memoryGb", "Memorystore read replicas need at least 5 GB: raise memoryGb")
            )
    if prod and fs.enabled and online.replicas == 0:
        errors.append(("featureStore.onlineStore.replicas", "prod keeps a replica in another zone: at least 1"))

    svc = spec.services
    if svc.pipelines.archive_ttl_days is None:
        svc.pipelines.archive_ttl_days = 30 if prod else 7
    scheme = {"aws": "s3", "gcp": "gs"}[spec.cloud]
    models = {(m.team, m.name): m for m in spec.model_deployments}
    errors += _check_unique("pipelines", [f"{p.team}/{p.name}" for p in spec.pipelines])
    for i, pipe in enumerate(spec.pipelines):
        at = f"pipelines[{i}]"
        if not svc.pipelines.enabled:
            errors.append((at, "pipelines need services.pipelines enabled (Argo Workflows)"))
        if not fs.enabled:
            errors.append((at, "the continuous-training pipeline materializes features: enable featureStore"))
        if not svc.mlflow.enabled:
            errors.append((at, "the pipeline registers models in MLflow: enable services.mlflow"))
        if pipe.team not in teams:
            errors.append((f"{at}.team", f"no team '{pipe.team}' in this stack ({', '.join(teams) or 'none'})"))
        model = models.get((pipe.team, pipe.model))
        if model is None:
            known = ", ".join(m.name for m in spec.model_deployments if m.team == pipe.team) or "none"
            errors.append((f"{at}.model", f"no model deployment '{pipe.model}' of team '{pipe.team}' ({known})"))
        elif model.canary is not None:
            errors.append(
                (
                    f"{at}.model",
                    f"'{pipe.model}' declares a canary, but this pipeline rolls its new versions out as the canary: "
                    "remove the canary block of the model deployment",
                )
            )
        elif model.shadow is not None:
            errors.append(
                (
                    f"{at}.model",
                    f"'{pipe.model}' has a shadow, but this pipeline rolls its new versions out as the canary "
                    "(one candidate at a time): remove the shadow block of the model deployment",
                )
            )
        elif model.image is not None:
            errors.append(
                (f"{at}.model", f"'{pipe.model}' serves a custom image: the pipeline rolls out runtime models")
            )
        for key in ("source_uri", "reference_uri"):
            uri = getattr(pipe, key)
            match = _MODEL_URI.match(uri)
            if match is None or not uri.startswith(f"{scheme}://"):
                errors.append((f"{at}.{to_camel(key)}", f"'{uri}' is not a {scheme}:// URI of an object"))
            elif not match["key"].startswith(f"teams/{pipe.team}/"):
                errors.append(
                    (
                        f"{at}.{to_camel(key)}",
                        f"'{uri}' is outside teams/{pipe.team}/: the team's pipeline identity reads only its own "
                        "prefix of the datasets bucket",
                    )
                )
        if pipe.pool is not None and pipe.pool not in pools:
            errors.append((f"{at}.pool", f"no GPU pool '{pipe.pool}' ({', '.join(pools) or 'none'})"))
        if pipe.pool is None and not spec.worker_pool.enabled:
            errors.append((f"{at}.pool", "no worker pool for the CPU steps: enable workerPool or name a GPU pool"))
    return errors


def _check_unique(key: str, names: Iterable[str]) -> list[tuple[str, str]]:
    seen: dict[str, int] = {}
    errors = []
    for i, name in enumerate(names):
        if name in seen:
            errors.append((f"{key}[{i}].name", f"duplicate name '{name}' (also {key}[{seen[name]}])"))
        seen.setdefault(name, i)
    return errors


def _check_unique_values(values: list[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    out = []
    for i, value in enumerate(values):
        if value in seen:
            out.append((i, f"'{value}' is listed twice"))
        seen.add(value)
    return out


def _check_tags(tags: Mapping[str, str], key: str, errors: list[tuple[str, str]]) -> None:
    for name, value in tags.items():
        if len(name) > 128 or len(value) > 256:
            errors.append((f"{key}.{name}", "tag keys are at most 128 characters, values 256"))


# --- loading ---------------------------------------------------------------------------------------


def _loc_path(loc: tuple[int | str, ...]) -> str:
    out = "platform"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _field_names(loc: tuple[int | str, ...]) -> list[str]:
    """The camelCase keys allowed at the model a validation-error location points into."""
    model: Any = PlatformSpec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        known = _field_names(loc)
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        msg = f"unknown key (did you mean '{guess[0]}'?)" if guess else f"unknown key (known: {', '.join(known)})"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
    else:
        msg = msg[0].lower() + msg[1:]
        if "input" in err and err["type"] not in ("missing",):
            msg += f", got {json.dumps(err['input'], default=str)}"
    # strip the enum/union noise pydantic adds to literal errors
    return _loc_path(loc), msg


def parse_platform(data: Any, source: str) -> PlatformSpec:
    """Validate the `ml-platform:platform` value; raise `ConfigError` on the first problem."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "platform", f"expected a mapping, got {type(data).__name__}")
    try:
        spec = PlatformSpec.model_validate(data)
    except ValidationError as exc:
        path, msg = _first_error(exc)
        extra = exc.error_count() - 1
        raise ConfigError(source, path, msg + (f" (and {extra} more)" if extra else "")) from None
    errors = _resolve(spec)
    if errors:
        path, msg = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(source, f"platform.{path}", msg + more)
    return spec


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file."""
    source = display_path(path)
    if not path.is_file():
        raise ConfigError(source, "", f"no such stack file (stacks: {', '.join(available_stacks()) or 'none'})")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, "", f"{line}invalid YAML: {problem}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise ConfigError(source, "", "a stack file needs a top-level 'config:' mapping")
    if CONFIG_KEY not in doc["config"]:
        raise ConfigError(source, "", f"missing the '{CONFIG_KEY}' key under 'config:'")
    return doc["config"]


def load_stack_file(path: Path) -> tuple[PlatformSpec, dict[str, Any]]:
    """Read and validate a stack file; returns the spec and the raw config mapping."""
    config = read_stack_file(path)
    source = display_path(path)
    spec = parse_platform(config[CONFIG_KEY], source)
    region_key = f"{spec.cloud}:region" if spec.cloud == "aws" else "gcp:region"
    if region_key in config and config[region_key] != spec.region:
        raise ConfigError(source, region_key, f"'{config[region_key]}' differs from platform.region '{spec.region}'")
    return spec, config


def engine_config(config: Mapping[str, Any], project: str = PROJECT) -> dict[str, str]:
    """Stack config as the Pulumi engine hands it to a program: every value a string, objects as JSON."""
    out: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{project}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out
