"""The small interface every cloud foundation exposes to the layers above it.

The Kubernetes layer, the model registry, serving and training components consume only this: a
kube provider, the buckets, the registry, the database, the GPU pools and `bind_identity`. They
never import a cloud SDK. A third cloud is one new package that implements `Foundation`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra.config import GpuPoolSpec, WorkerPoolSpec

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
SYSTEM_TAINT_KEY = "CriticalAddonsOnly"

# Node labels the platform sets on its pools, identical on every cloud (Kueue flavors, node
# selectors and the policy packs match on these, never on cloud-specific labels).
LABEL_POOL = "ml-platform/pool"
LABEL_ACCELERATOR = "ml-platform/accelerator"
LABEL_CAPACITY = "ml-platform/capacity"
LABEL_PURPOSE = "ml-platform/purpose"
LABEL_ROLE = "ml-platform/role"
ROLE_SYSTEM = "system"  # the tainted pool of platform controllers
ROLE_WORKER = "worker"  # the untainted general-purpose CPU pool of team workloads


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


GPU_TAINT = Taint(GPU_TAINT_KEY, GPU_TAINT_VALUE, "NoSchedule")
SYSTEM_TAINT = Taint(SYSTEM_TAINT_KEY, "true", "NoSchedule")


def exec_kubeconfig(cluster_name: str, server: str, ca_data: str, exec_: dict[str, object]) -> str:
    """A kubeconfig whose user gets short-lived tokens from an exec credential plugin (`exec_`:
    command, args, ...): nothing secret is stored in it or in Pulumi state."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            **exec_,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


def gpu_node_labels(pool: GpuPoolSpec) -> dict[str, str]:
    """The Kubernetes node labels of a GPU pool: the same keys and values on every cloud."""
    return {
        LABEL_POOL: pool.name,
        LABEL_ACCELERATOR: pool.accelerator,
        LABEL_CAPACITY: str(pool.capacity),
        LABEL_PURPOSE: pool.purpose,
        **sharing_node_labels(pool),
        **pool.labels,
    }


def worker_node_labels(pool: WorkerPoolSpec) -> dict[str, str]:
    """The Kubernetes node labels of the CPU worker pool, identical on every cloud. Pods select it by
    `ml-platform/role: worker` alone (`Foundation.worker_node_selector`)."""
    return {LABEL_ROLE: ROLE_WORKER, LABEL_CAPACITY: str(pool.capacity), **pool.labels}


# How NVIDIA's device plugin / MIG manager pick a node's sharing configuration (components/k8s/gpu_runtime.py)
LABEL_DEVICE_PLUGIN_CONFIG = "nvidia.com/device-plugin.config"
LABEL_MIG_CONFIG = "nvidia.com/mig.config"


def sharing_node_labels(pool: GpuPoolSpec) -> dict[str, str]:
    """Labels that select a pool's GPU sharing: its time-slicing config, or its MIG layout."""
    sharing = pool.sharing
    if sharing is None:
        return {}
    if sharing.mig_profile:
        return {LABEL_MIG_CONFIG: f"all-{sharing.mig_profile}"}
    if sharing.time_slicing_replicas:
        return {LABEL_DEVICE_PLUGIN_CONFIG: pool.name}
    return {}


def pool_zones(pool: GpuPoolSpec, machine: str, available: list[str], offered: Callable[[str], bool]) -> list[str]:
    """The zones a GPU pool runs in: those the stack names (each must be a zone of the network), or all of
    the network's, kept only where the cloud offers the pool's machine type (`offered(zone)` asks the
    cloud: EC2 instance-type offerings, Compute Engine machine types). None left is a one-line error."""
    wanted = pool.zones or list(available)
    unknown = [z for z in wanted if z not in available]
    if unknown:
        raise pulumi.RunError(
            f"gpuPools '{pool.name}': zones {', '.join(unknown)} are not zones of the network "
            f"({', '.join(available) or 'an existing network: leave zones empty'})"
        )
    zones = [z for z in available if z in wanted and offered(z)]
    if not zones:
        raise pulumi.RunError(
            f"gpuPools '{pool.name}': {pool.accelerator} ({machine}) is not offered in "
            f"{', '.join(wanted)}; pick another accelerator, region or zone"
        )
    return zones


@dataclass(frozen=True)
class BucketRef:
    """A platform bucket: `key` is the logical name (datasets, artifacts, models, logs, ...)."""

    key: str
    name: pulumi.Output[str]
    uri: pulumi.Output[str]  # s3://name or gs://name


@dataclass(frozen=True)
class DatabaseRef:
    """The model-registry PostgreSQL database. The password never leaves the cloud's secret store.

    How a given workload logs in is `Foundation.database_login`: with this shared user and password on
    AWS, as its own IAM identity (no password) on GCP."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: str
    username: str  # the shared login user; "" where each workload logs in as itself (GCP)
    # ARN (AWS Secrets Manager); None where no password exists (GCP: IAM database authentication)
    password_secret: pulumi.Output[str] | None
    # the JSON field of the secret's value that holds the password (AWS RDS: "password"); None: the whole value
    password_property: str | None = None


@dataclass(frozen=True)
class DatabaseLogin:
    """How one workload (a Kubernetes service account bound with `IdentityAccess(database=True)`) logs in
    to the platform database: the PG* settings of its client, the password (if any) to sync from the
    cloud's secret manager, containers to run beside it, and what its pod must reach on the network."""

    username: pulumi.Input[str]
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    database: str
    sslmode: str = "require"
    password_secret: pulumi.Input[str] | None = None  # None: the login needs no password
    password_property: str | None = None
    # Native sidecars (init containers with restartPolicy Always), e.g. a database proxy; add them to the
    # pod's initContainers ahead of any init container that opens the database.
    sidecars: tuple[Any, ...] = ()
    # TCP ports the pod opens to addresses outside the cluster for this login (network policy egress)
    egress_ports: tuple[pulumi.Input[int], ...] = ()


@dataclass(frozen=True)
class OnlineStoreRef:
    """The feature store's online store: a managed Redis-compatible cache reachable from the cluster only,
    TLS in transit (`tls`), clients authenticate with the AUTH token held in the cloud's secret manager
    (`auth_secret`, as `IdentityAccess.secrets` takes it; `auth_secret_property`: the JSON field of its
    value, None: the whole value). `ca_certificate`: PEM of the server's CA where the cloud's CA is not
    a public one (Memorystore's per-instance CA); None: the system trust store verifies it."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    auth_secret: pulumi.Output[str]
    auth_secret_property: str | None = None
    tls: bool = True
    ca_certificate: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class NodePoolRef:
    """What a scheduler needs to place pods on a GPU pool."""

    name: str
    accelerator: str
    gpus_per_node: int
    machine_type: str
    capacity: str
    min_nodes: int
    max_nodes: int
    node_labels: dict[str, str]
    taints: tuple[Taint, ...] = (GPU_TAINT,)


@dataclass(frozen=True)
class BucketAccess:
    """Access to one bucket prefix: `prefix=""` means the whole bucket. `append`: create objects only
    (no read, no overwrite, no delete), for records that are evidence (inference request logs)."""

    bucket: str
    prefix: str = ""
    mode: Literal["read", "read-write", "append"] = "read"


@dataclass(frozen=True)
class IdentityAccess:
    buckets: tuple[BucketAccess, ...] = ()
    registry_pull: bool = True
    # Secrets of the cloud's secret manager the identity may read (AWS: secret ARNs, GCP: secret ids),
    # e.g. `DatabaseRef.password_secret`. Exactly these, read-only; External Secrets Operator reads them
    # as this identity and materialises them as Kubernetes Secrets (see `Foundation.secret_store_provider`).
    secrets: tuple[pulumi.Input[str], ...] = ()
    # Log in to the platform database as this identity (`Foundation.database_login`): on GCP a Cloud SQL
    # IAM user for it and the IAM to connect; nothing where logins share a password (AWS).
    database: bool = False


@dataclass(frozen=True)
class IdentityBinding:
    """The cloud identity bound to one Kubernetes service account."""

    namespace: str
    service_account: str
    principal: pulumi.Output[str]  # IAM role ARN / Google service account email
    annotations: pulumi.Output[dict[str, str]]  # to put on the Kubernetes ServiceAccount


@dataclass(frozen=True)
class NodeVolume:
    """One encrypted block device of a provisioned node (size in GB; iops/throughput where tuned)."""

    device: str
    size_gb: int
    iops: int | None = None
    throughput_mibps: int | None = None


@dataclass(frozen=True)
class ProvisionedPool:
    """How a node provisioner that launches nodes itself (Karpenter) builds one GPU pool's nodes. Machine
    type, labels, taint and sizes are those of the `NodePoolRef` of the same name."""

    name: str
    image_alias: str  # the node image, pinned: "al2023@v20260818", "bottlerocket@v1.61.0"
    zones: tuple[str, ...]  # empty: every zone the discovered subnets are in
    capacity_type: Literal["spot", "on-demand", "reserved"]
    reservation_id: str | None
    volumes: tuple[NodeVolume, ...]


@dataclass(frozen=True)
class NodeAutoscalerRef:
    """A node autoscaler the cloud needs installed in the cluster and what its chart needs. None of them in
    `Foundation.node_autoscalers` where the cloud scales node pools itself (GKE's autoscaler)."""

    kind: Literal["cluster-autoscaler", "karpenter"]
    namespace: str
    service_account: str
    annotations: pulumi.Output[dict[str, str]]  # the controller's cloud identity, for its ServiceAccount
    cluster_name: pulumi.Output[str]
    region: str
    cluster_endpoint: pulumi.Output[str] | None = None
    interruption_queue: pulumi.Output[str] | None = None  # queue name (Karpenter)
    instance_profile: pulumi.Output[str] | None = None  # what nodes run as (Karpenter)
    discovery_tags: dict[str, str] | None = None  # node subnets and security groups carry these tags
    volume_kms_key: pulumi.Output[str] | None = None  # encrypts the node volumes
    pools: tuple[ProvisionedPool, ...] = ()  # Karpenter: one per GPU pool


class Foundation(ABC):
    """Implemented by each cloud's foundation component (`components.aws.AwsFoundation`, ...).

    The attributes are set by the implementation's constructor; consumers only read them.
    """

    cloud: str
    region: str
    kube_provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]  # secret
    buckets: dict[str, BucketRef]
    registry_urls: dict[str, pulumi.Output[str]]  # repository name -> pushable/pullable URL
    database: DatabaseRef
    # The feature store's online store (featureStore.enabled); None where the stack has no feature store.
    online_store: OnlineStoreRef | None = None
    gpu_pools: list[NodePoolRef]
    # The autoscalers to install in the cluster (AWS: cluster-autoscaler for the managed node groups, and
    # Karpenter for the GPU pools where it provisions them); empty: the cloud scales node pools itself.
    node_autoscalers: tuple[NodeAutoscalerRef, ...] = ()
    # The node selector that places a pod on the untainted general-purpose CPU worker pool (CPU-served
    # models, pipeline steps, feature jobs): `{"ml-platform/role": "worker"}` on every cloud. None when
    # the stack has no worker pool (`workerPool.enabled: false`): such pods then have no node to run on.
    worker_node_selector: dict[str, str] | None = None

    @abstractmethod
    def bind_identity(self, namespace: str, service_account: str, access: IdentityAccess) -> IdentityBinding:
        """A cloud identity that exactly `namespace/service_account` can assume, with only `access`."""

    def database_login(self, namespace: str, service_account: str) -> DatabaseLogin:
        """How `namespace/service_account` logs in to the platform database (bind it with
        `IdentityAccess(database=True)`, plus `secrets=(login.password_secret,)` where there is one).
        Default: the shared user and its password secret, straight to the database over TLS."""
        db = self.database
        return DatabaseLogin(
            username=db.username,
            host=db.host,
            port=db.port,
            database=db.database,
            password_secret=db.password_secret,
            password_property=db.password_property,
            egress_ports=(db.port,),
        )

    # -- the secret store (External Secrets Operator) ---------------------------------------------------

    @abstractmethod
    def secret_store_provider(self, service_account: str) -> dict[str, Any]:
        """The `spec.provider` of an External Secrets `SecretStore` that reads this cloud's secret
        manager as `service_account`, a service account of the store's namespace bound with
        `bind_identity(..., IdentityAccess(secrets=...))` (AWS: Secrets Manager, jwt auth through the
        account's IRSA role; GCP: Secret Manager, Workload Identity). Values may be Outputs."""

    @abstractmethod
    def secret_remote_ref(self, secret: pulumi.Input[str], field: str | None = None) -> dict[str, Any]:
        """The `remoteRef` of an ExternalSecret entry for `secret` (as given to `IdentityAccess.secrets`),
        optionally one JSON `field` of its value."""

    # -- load balancers -----------------------------------------------------------------------------

    @abstractmethod
    def load_balancer_annotations(self, internal: bool) -> dict[str, str]:
        """Annotations of a Kubernetes `Service` of type LoadBalancer: an internal (VPC-only) or an
        internet-facing network load balancer on this cloud."""

    # True where the managed cluster installs the standard Gateway API CRDs itself (GKE's Gateway API
    # channel): the platform must not install or upgrade them there.
    gateway_api_crds_managed: bool = False

    # The cluster's default block-storage class where the managed cluster has none (EKS ships no default
    # StorageClass since 1.30: Prometheus and other volumes would stay Pending): (CSI provisioner,
    # parameters). None where the cloud provides one (GKE: standard-rwo).
    default_storage_class: tuple[str, dict[str, pulumi.Input[str]]] | None = None

    # (CIDR, TCP port) a pod must reach to obtain its workload identity's credentials, for egress
    # network policies: GKE's metadata server; on AWS the VPC on 443 where STS answers through an interface
    # endpoint with private DNS (IRSA's token exchange then goes to VPC addresses, not the public 443 that
    # team namespaces may reach), else nothing beyond public HTTPS.
    workload_identity_endpoints: tuple[tuple[str, int], ...] = ()
