"""Cost estimate of a synthesized stack: catalog list prices x what the graph actually creates.

The estimator reads the recorded resources, not the stack file, so it prices exactly what
`pulumi up` would create: node groups at their min and max size (the system, CPU worker and GPU pools;
spot at the catalog's estimated spot factor), the control plane, NAT gateways, interface endpoints, the
database and the feature online store. Storage, data transfer and load balancers depend on use and are
left out (the table says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from components import catalog
from infra.synth import ResourceRecord, Synthesis

HOURS_PER_MONTH = catalog.HOURS_PER_MONTH
EXCLUDED = "storage, data transfer, NAT data processing and load balancers (usage-based)"


@dataclass(frozen=True)
class CostItem:
    name: str
    kind: str  # gpu-pool | node-pool | control-plane | nat | vpc-endpoint | database | online-store
    hourly_min: float
    hourly_max: float
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "hourly_min": round(self.hourly_min, 4),
            "hourly_max": round(self.hourly_max, 4),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CostEstimate:
    items: list[CostItem]
    currency: str = "USD"

    @property
    def hourly_min(self) -> float:
        return sum(i.hourly_min for i in self.items)

    @property
    def hourly_max(self) -> float:
        return sum(i.hourly_max for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "hourly_min": round(self.hourly_min, 2),
            "hourly_max": round(self.hourly_max, 2),
            "monthly_min": round(self.hourly_min * HOURS_PER_MONTH, 2),
            "monthly_max": round(self.hourly_max * HOURS_PER_MONTH, 2),
            "hours_per_month": HOURS_PER_MONTH,
            "excludes": EXCLUDED,
            "items": [i.to_json() for i in self.items],
        }


@dataclass(frozen=True)
class _Priced:
    machine: catalog.MachineType
    spot_factor: float
    accelerator: str | None


@lru_cache(maxsize=4)
def _machine_index(cloud: str) -> dict[str, _Priced]:
    """Machine name -> price and spot factor (GPU machines from the catalog's offerings)."""
    index: dict[str, _Priced] = {}
    for accel in catalog.ACCELERATORS.values():
        offering = accel.offerings.get(cloud)
        if offering is None:
            continue
        for m in offering.machine_types:
            # GCP N1 machines carry a T4 only when attached; index the GPU machines by (name, gpus).
            index[f"{m.name}/{m.gpus}"] = _Priced(m, offering.spot_price_factor, accel.name)
    for name, m in catalog.CPU_MACHINES.get(cloud, {}).items():
        index.setdefault(f"{name}/0", _Priced(m, CPU_SPOT_FACTOR, None))
    return index


# Spot discount for general-purpose machines: an estimate like the catalog's GPU spot factors.
CPU_SPOT_FACTOR = 0.4


def _pool_item(name: str, machine: str, gpus: int, spot: bool, lo: int, hi: int, cloud: str) -> CostItem:
    priced = _machine_index(cloud).get(f"{machine}/{gpus}")
    if priced is None:
        raise LookupError(f"no catalog price for {cloud} machine {machine} with {gpus} GPUs")
    rate = priced.machine.on_demand_usd_hour * (priced.spot_factor if spot else 1.0)
    kind = "gpu-pool" if priced.accelerator else "node-pool"
    detail = f"{machine} x {lo}-{hi}{' spot (est.)' if spot else ''}"
    return CostItem(name, kind, rate * lo, rate * hi, detail)


# -- AWS ----------------------------------------------------------------------------------------------

# Node groups without a GPU pool label, by their `ml-platform/role` node label: the names GKE gives the pools.
ROLE_POOLS = {"system": "system", "worker": "workers"}


def _aws_node_group(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    i = r.inputs
    scaling = i.get("scalingConfig", {})
    machine = (i.get("instanceTypes") or ["?"])[0]
    gpus = _aws_gpus(machine)
    labels = i.get("labels", {})
    name = labels.get("ml-platform/pool") or ROLE_POOLS.get(labels.get("ml-platform/role", "")) or r.name
    yield _pool_item(
        name,
        machine,
        gpus,
        i.get("capacityType") == "SPOT",
        int(scaling.get("minSize", 0)),
        int(scaling.get("maxSize", 0)),
        "aws",
    )


def _aws_gpus(machine: str) -> int:
    for key in _machine_index("aws"):
        name, gpus = key.rsplit("/", 1)
        if name == machine:
            return int(gpus)
    raise LookupError(f"no catalog price for aws machine {machine}")


def _aws_cluster(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    support = r.inputs.get("upgradePolicy", {}).get("supportType", "EXTENDED")
    key = "eks_control_plane" if support == "STANDARD" else "eks_control_plane_extended_support"
    rate = catalog.MANAGED_HOURLY["aws"][key]
    yield CostItem("eks control plane", "control-plane", rate, rate, f"support: {support.lower()}")


def _aws_nat(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    rate = catalog.MANAGED_HOURLY["aws"]["nat_gateway"] + catalog.MANAGED_HOURLY["aws"]["public_ipv4_address"]
    yield CostItem(f"nat {r.name}", "nat", rate, rate, "gateway + public IPv4")


def _aws_endpoint(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    if r.inputs.get("vpcEndpointType") != "Interface":
        return
    azs = len(r.inputs.get("subnetIds", [])) or 1
    rate = catalog.MANAGED_HOURLY["aws"]["vpc_interface_endpoint_per_az"] * azs
    service = str(r.inputs.get("serviceName", r.name)).rsplit(".", 1)[-1]
    yield CostItem(f"endpoint {service}", "vpc-endpoint", rate, rate, f"{azs} AZs")


def _aws_database(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    cls, multi = r.inputs.get("instanceClass", "?"), bool(r.inputs.get("multiAz"))
    rate = catalog.database_hourly("aws", cls, multi_az=multi)
    yield CostItem("model registry database", "database", rate, rate, f"{cls}{' multi-AZ' if multi else ''}")


# ElastiCache for Valkey node-based on-demand, us-east-1, USD per node-hour: the Redis OSS list price less
# the 20% AWS takes off Valkey nodes. Source: aws.amazon.com/elasticache/pricing, recorded 2026-11-24 (not
# re-verified). Compute only: snapshot storage beyond the free allowance and data transfer are usage-based.
_ELASTICACHE_VALKEY_USD_HOUR: dict[str, float] = {
    "cache.t4g.micro": 0.0128,
    "cache.t4g.small": 0.0256,
    "cache.t4g.medium": 0.052,
    "cache.m7g.large": 0.1264,
    "cache.m7g.xlarge": 0.252,
    "cache.m7g.2xlarge": 0.504,
    "cache.r7g.large": 0.1752,
    "cache.r7g.xlarge": 0.3496,
    "cache.r7g.2xlarge": 0.6984,
    "cache.r7g.4xlarge": 1.3968,
}


def _aws_online_store(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    """ElastiCache bills every node of the replication group (primary and replicas) per node-hour."""
    node, nodes = r.inputs.get("nodeType", "?"), int(r.inputs.get("numCacheClusters", 1))
    price = _ELASTICACHE_VALKEY_USD_HOUR.get(node)
    if price is None:
        known = ", ".join(sorted(_ELASTICACHE_VALKEY_USD_HOUR))
        raise LookupError(f"no price for ElastiCache node type {node!r} (known: {known})")
    detail = f"ElastiCache {node} x {nodes}{' multi-AZ' if r.inputs.get('multiAzEnabled') else ''}"
    yield CostItem("feature online store", "online-store", price * nodes, price * nodes, detail)


def _karpenter_node_pool(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    """A Karpenter NodePool: zero nodes when idle (Karpenter launches only for pending pods), at most
    its GPU limit divided by the GPUs of its one instance type."""
    spec = r.inputs.get("spec", {})
    reqs = {q["key"]: q.get("values", []) for q in spec.get("template", {}).get("spec", {}).get("requirements", [])}
    machine = (reqs.get("node.kubernetes.io/instance-type") or ["?"])[0]
    gpus = _aws_gpus(machine)
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    pool = labels.get("ml-platform/pool") or r.name
    # time-slicing / MIG multiply the GPUs the limit counts, not the nodes: take the pool's maxNodes
    max_nodes = next((p.max_nodes for p in syn.spec.gpu_pools if p.name == pool), None)
    if max_nodes is None:
        max_nodes = int(spec.get("limits", {}).get("nvidia.com/gpu", 0)) // max(gpus, 1)
    spot = reqs.get("karpenter.sh/capacity-type") == ["spot"]
    yield _pool_item(pool, machine, gpus, spot, 0, max_nodes, "aws")


# -- GCP ----------------------------------------------------------------------------------------------


def _gcp_node_pool(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    i = r.inputs
    node = i.get("nodeConfig", {})
    machine = node.get("machineType", "?")
    gpus = sum(int(a.get("count", 0)) for a in node.get("guestAccelerators", []) or [])
    auto = i.get("autoscaling", {})
    zones = len(i.get("nodeLocations", []) or []) or 1
    if "totalMinNodeCount" in auto or "totalMaxNodeCount" in auto:
        lo, hi = int(auto.get("totalMinNodeCount", 0)), int(auto.get("totalMaxNodeCount", 0))
    else:  # per-zone limits
        lo, hi = int(auto.get("minNodeCount", i.get("nodeCount", 0))) * zones, int(auto.get("maxNodeCount", 0)) * zones
    spot = bool(node.get("spot") or node.get("preemptible"))
    name = node.get("labels", {}).get("ml-platform/pool") or i.get("name") or r.name
    yield _pool_item(name, machine, gpus, spot, lo, hi, "gcp")


def _gcp_cluster(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    rate = catalog.MANAGED_HOURLY["gcp"]["gke_control_plane"]
    yield CostItem("gke control plane", "control-plane", rate, rate, "regional cluster")


def _gcp_nat(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    rate = catalog.MANAGED_HOURLY["gcp"]["cloud_nat_gateway"]
    yield CostItem(f"nat {r.name}", "nat", rate, rate, "gateway-hours at the cap")


def _gcp_database(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    settings = r.inputs.get("settings", {})
    tier = settings.get("tier", "?")
    regional = settings.get("availabilityType") == "REGIONAL"
    rate = catalog.database_hourly("gcp", tier, multi_az=regional)
    yield CostItem("model registry database", "database", rate, rate, f"{tier}{' regional HA' if regional else ''}")


# Memorystore for Redis, us-central1, USD per GB-hour of provisioned capacity by capacity tier (upper bound
# in GB): (Basic, Standard). Standard Tier with read replicas bills every node (primary + replicas) at the
# Basic rate of its tier. Source: cloud.google.com/memorystore/docs/redis/pricing, recorded 2026-11
# (not re-verified). Read replicas need >= 5 GB, so the M1 Standard rate applies only without them.
_MEMORYSTORE_GB_HOUR: tuple[tuple[int, float, float], ...] = (
    (4, 0.049, 0.064),  # M1: 1-4 GB
    (10, 0.027, 0.054),  # M2: 5-10 GB
    (35, 0.023, 0.046),  # M3: 11-35 GB
    (100, 0.019, 0.038),  # M4: 36-100 GB
    (300, 0.016, 0.032),  # M5: 101-300 GB
)


def memorystore_hourly(memory_gb: int, tier: str, replicas: int, read_replicas: bool) -> float:
    """On-demand hourly price of a Memorystore for Redis instance (capacity only)."""
    basic, standard = next((b, s) for top, b, s in _MEMORYSTORE_GB_HOUR if memory_gb <= top)
    if tier == "BASIC":
        return memory_gb * basic
    if read_replicas:
        return memory_gb * basic * (1 + max(replicas, 1))
    return memory_gb * standard


def _gcp_online_store(r: ResourceRecord, syn: Synthesis) -> Iterable[CostItem]:
    i = r.inputs
    gb, tier = int(i.get("memorySizeGb", 0)), i.get("tier", "BASIC")
    read_replicas = i.get("readReplicasMode") == "READ_REPLICAS_ENABLED"
    replicas = int(i.get("replicaCount", 1 if tier == "STANDARD_HA" else 0) or 0)
    rate = memorystore_hourly(gb, tier, replicas, read_replicas)
    detail = f"Memorystore {gb} GB {tier.lower()}" + (f" + {replicas} replica(s)" if tier == "STANDARD_HA" else "")
    yield CostItem("feature online store", "online-store", rate, rate, detail)


PRICERS: dict[str, Callable[[ResourceRecord, Synthesis], Iterable[CostItem]]] = {
    "aws:eks/nodeGroup:NodeGroup": _aws_node_group,
    "aws:eks/cluster:Cluster": _aws_cluster,
    "aws:ec2/natGateway:NatGateway": _aws_nat,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _aws_endpoint,
    "aws:rds/instance:Instance": _aws_database,
    "aws:elasticache/replicationGroup:ReplicationGroup": _aws_online_store,
    "kubernetes:karpenter.sh/v1:NodePool": _karpenter_node_pool,
    "gcp:container/nodePool:NodePool": _gcp_node_pool,
    "gcp:container/cluster:Cluster": _gcp_cluster,
    "gcp:compute/routerNat:RouterNat": _gcp_nat,
    "gcp:sql/databaseInstance:DatabaseInstance": _gcp_database,
    "gcp:redis/instance:Instance": _gcp_online_store,
}


def estimate(syn: Synthesis) -> CostEstimate:
    items: list[CostItem] = []
    for record in syn.custom_resources:
        pricer = PRICERS.get(record.type)
        if pricer is not None:
            items.extend(pricer(record, syn))
    order = ["gpu-pool", "node-pool", "control-plane", "database", "online-store", "nat", "vpc-endpoint"]
    items.sort(key=lambda i: (order.index(i.kind) if i.kind in order else len(order), i.name))
    return CostEstimate(items)
