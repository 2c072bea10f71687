"""The GPU catalog: which machine to rent for an accelerator on a cloud, and what it costs.

This module is data plus a few lookups. Everything else in the platform (GPU node pools, Kueue
flavors, the cost estimator, config validation) asks it instead of hard-coding instance names.

Rules
-----
* **Accelerators are explicit.** A GPU pool names its accelerator (``nvidia-l4``,
  ``nvidia-h100-80gb``, ...) and a GPU count; the catalog maps that to the one canonical machine
  type per (cloud, accelerator, GPU count). Nothing is ever guessed from an instance name such
  as ``g6e.12xlarge``, and no fuzzy matching is done on accelerator names.
* **Not offered is an error.** An accelerator a cloud does not sell (``nvidia-a10g`` and
  ``nvidia-l40s`` on GCP) or a GPU count no machine has raises :class:`CatalogError` with a
  one-line message that lists the valid choices, at config time, before anything is deployed.
* **Prices are on-demand list prices** in USD per hour for the whole machine (Linux, no
  commitment, no discounts), each offering recording the region they were read for
  (``price_region``), the date they were recorded (``price_date``) and where they came from
  (``price_source``, which says which figures were checked against a stored public source and
  which were carried over "not re-verified"). Prices differ by region and change; treat every
  figure as an estimate for planning, never as a quote. On GCP an N1 + T4 machine price is the
  N1 VM plus the attached GPUs; accelerator-optimized (A2/A3/G2) prices are the bundled machine.
* **The spot price factor is an ESTIMATE** (spot price / on-demand price, observed or typical
  for the family), not a list price: spot prices move daily and differ per zone.
  :data:`SPOT_PRICE_FACTOR_IS_ESTIMATE` is ``True`` so reports can label it.
* AWS cut P4d/P4de/P5/P5en on-demand prices by up to 45% in June 2025; the P-family figures here
  are the post-cut prices.
* Non-GPU prices used by the cost estimator (CPU machines, managed PostgreSQL, control planes,
  NAT, load balancers, storage) live here too, with the same region/date/source discipline
  (:data:`NON_GPU_PRICE_SOURCE`).

Adding an accelerator
---------------------
1. Add one :class:`Accelerator` entry to the ``_ACCELERATOR_TABLE`` tuple: canonical name
   (``nvidia-<model>[-<memory>gb]``), display name, architecture, GPU memory in GiB.
2. Give it one :class:`Offering` per cloud that sells it: one canonical machine type per GPU
   count, ascending; vCPUs and memory exactly as the cloud documents them; on GCP the GKE
   accelerator name (``cloud.google.com/gke-accelerator`` label value); the price region, the
   ISO date you read the prices, the source (say "not re-verified" for any figure you did not
   check) and a spot factor estimate.
3. Run the tests. The table is validated once at import (unique ascending GPU counts, GPU
   machines have gpus > 0, positive prices and sizes, a spot factor strictly between 0 and 1,
   ISO dates, accelerator names that match their keys), so a wrong entry fails at import with a
   message naming it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal, get_args

Cloud = Literal["aws", "gcp"]
CLOUDS: tuple[str, ...] = get_args(Cloud)

SPOT_PRICE_FACTOR_IS_ESTIMATE: bool = True
"""The spot price factors in this catalog are estimates, never list prices."""

HOURS_PER_MONTH = 730.0
"""Hours in an average month, used to turn per-GiB-month storage prices into hourly ones."""

_ARCHITECTURES = ("turing", "ampere", "ada", "hopper")


class CatalogError(ValueError):
    """A catalog lookup that cannot be satisfied; the message is one user-facing line."""


@dataclass(frozen=True)
class MachineType:
    """One machine type of a cloud.

    ``on_demand_usd_hour`` is the whole-machine on-demand list price; on GCP for N1 + T4 it is the
    N1 VM plus the attached GPU(s).
    """

    name: str
    gpus: int
    vcpus: int
    memory_gib: float
    on_demand_usd_hour: float


@dataclass(frozen=True)
class Offering:
    """One accelerator on one cloud: the canonical machine type per GPU count and its prices.

    ``spot_price_factor`` (spot / on-demand) is an ESTIMATE, see the module docstring.
    """

    cloud: Cloud
    machine_types: tuple[MachineType, ...]
    accelerator_type: str | None
    price_region: str
    price_date: str
    price_source: str
    spot_price_factor: float

    @property
    def gpu_counts(self) -> tuple[int, ...]:
        """The GPU counts this offering has a machine type for, ascending."""
        return tuple(m.gpus for m in self.machine_types)

    def machine_for(self, gpus: int) -> MachineType:
        """The canonical machine type with exactly ``gpus`` GPUs; CatalogError if there is none."""
        return _machine_with(self, gpus, f"this {self.cloud} offering")


@dataclass(frozen=True)
class Accelerator:
    """A GPU model and the clouds that offer it (an absent cloud key means not offered there)."""

    name: str
    display_name: str
    architecture: str
    gpu_memory_gib: int
    offerings: dict[str, Offering] = field(hash=False)

    def offering(self, cloud: str) -> Offering:
        """This accelerator's offering on ``cloud``; CatalogError if the cloud does not sell it."""
        _check_cloud(cloud)
        found = self.offerings.get(cloud)
        if found is None:
            raise CatalogError(
                f"accelerator '{self.name}' is not offered on {cloud} ({cloud} offers: {', '.join(offered_on(cloud))})"
            )
        return found


@dataclass(frozen=True)
class PriceRecord:
    """Where a group of non-GPU prices came from."""

    region: str
    date: str
    source: str


# --------------------------------------------------------------------------------------------
# Price provenance. Every offering names its own region/date/source; these are shared strings.
# --------------------------------------------------------------------------------------------

_RECORDED = "2026-11-24"  # the date the figures below were recorded in this file
_AWS_REGION = "us-east-1"
_GCP_REGION = "us-central1"

_AWS_PRICE_LIST = "AWS EC2 on-demand Linux list price, us-east-1"
_SKYPILOT_AWS = "skypilot-org/skypilot-catalog catalogs/v8/aws/vms.csv (AWS Price List snapshot, read 2026-11-24)"
_GCP_PRICE_LIST = "Google Compute Engine on-demand list price, us-central1"
_CYCLENERD = (
    "Cyclenerd/google-cloud-pricing-cost-calculator pricing.yml (Cloud Billing Catalog export generated 2025-03-06)"
)


def _aws(machines: tuple[MachineType, ...], *, source: str, spot_factor: float) -> Offering:
    return Offering(
        cloud="aws",
        machine_types=machines,
        accelerator_type=None,
        price_region=_AWS_REGION,
        price_date=_RECORDED,
        price_source=source,
        spot_price_factor=spot_factor,
    )


def _gcp(machines: tuple[MachineType, ...], *, accelerator_type: str, source: str, spot_factor: float) -> Offering:
    return Offering(
        cloud="gcp",
        machine_types=machines,
        accelerator_type=accelerator_type,
        price_region=_GCP_REGION,
        price_date=_RECORDED,
        price_source=source,
        spot_price_factor=spot_factor,
    )


_M = MachineType  # table shorthand: _M(name, gpus, vcpus, memory_gib, on_demand_usd_hour)

# GCP N1 + T4: the VM and the GPUs are billed separately; the machine price is their sum.
_GCP_T4_GPU_USD_HOUR = 0.35  # nvidia-tesla-t4, us-central1, per GPU (not re-verified)


def _n1_t4(name: str, gpus: int, vcpus: int, memory_gib: float, vm_usd_hour: float) -> MachineType:
    return MachineType(name, gpus, vcpus, memory_gib, round(vm_usd_hour + gpus * _GCP_T4_GPU_USD_HOUR, 6))


# --------------------------------------------------------------------------------------------
# The accelerator table.
# --------------------------------------------------------------------------------------------

_ACCELERATOR_TABLE: tuple[Accelerator, ...] = (
    Accelerator(
        name="nvidia-t4",
        display_name="NVIDIA T4",
        architecture="turing",
        gpu_memory_gib=16,
        offerings={
            "aws": _aws(
                (
                    _M("g4dn.xlarge", 1, 4, 16, 0.526),
                    _M("g4dn.12xlarge", 4, 48, 192, 3.912),
                    _M("g4dn.metal", 8, 96, 384, 7.824),
                ),
                source=f"{_AWS_PRICE_LIST} (not re-verified)",
                spot_factor=0.40,
            ),
            "gcp": _gcp(
                (
                    _n1_t4("n1-standard-4", 1, 4, 15, 0.189999),
                    _n1_t4("n1-standard-8", 2, 8, 30, 0.379998),
                    _n1_t4("n1-standard-16", 4, 16, 60, 0.759996),
                ),
                accelerator_type="nvidia-tesla-t4",
                source=(
                    f"{_GCP_PRICE_LIST}: N1 VM + $0.35/GPU-hour nvidia-tesla-t4 (not re-verified); "
                    "1/2/4 T4s on n1-standard-4/8/16"
                ),
                spot_factor=0.40,
            ),
        },
    ),
    Accelerator(
        name="nvidia-a10g",
        display_name="NVIDIA A10G",
        architecture="ampere",
        gpu_memory_gib=24,
        offerings={
            "aws": _aws(
                (
                    _M("g5.xlarge", 1, 4, 16, 1.006),
                    _M("g5.12xlarge", 4, 48, 192, 5.672),
                    _M("g5.48xlarge", 8, 192, 768, 16.288),
                ),
                source=f"{_AWS_PRICE_LIST} (not re-verified)",
                spot_factor=0.40,
            ),
            # Not offered on GCP: the A10G is an AWS-specific part.
        },
    ),
    Accelerator(
        name="nvidia-l4",
        display_name="NVIDIA L4",
        architecture="ada",
        gpu_memory_gib=24,
        offerings={
            "aws": _aws(
                (
                    _M("g6.xlarge", 1, 4, 16, 0.8048),
                    _M("g6.12xlarge", 4, 48, 192, 4.6016),
                    _M("g6.48xlarge", 8, 192, 768, 13.3504),
                ),
                source=(
                    f"{_AWS_PRICE_LIST}; g6.xlarge and g6.12xlarge verified in {_SKYPILOT_AWS}; "
                    "g6.48xlarge not re-verified"
                ),
                spot_factor=0.45,
            ),
            "gcp": _gcp(
                (
                    _M("g2-standard-4", 1, 4, 16, 0.706832),
                    _M("g2-standard-24", 2, 24, 96, 2.000825),
                    _M("g2-standard-48", 4, 48, 192, 4.001649),
                    _M("g2-standard-96", 8, 96, 384, 8.003298),
                ),
                accelerator_type="nvidia-l4",
                source=f"{_GCP_PRICE_LIST}, G2 bundled machine price (not re-verified)",
                spot_factor=0.40,
            ),
        },
    ),
    Accelerator(
        name="nvidia-l40s",
        display_name="NVIDIA L40S",
        architecture="ada",
        gpu_memory_gib=48,
        offerings={
            "aws": _aws(
                (
                    _M("g6e.xlarge", 1, 4, 32, 1.861),
                    _M("g6e.12xlarge", 4, 48, 384, 10.49264),
                    _M("g6e.48xlarge", 8, 192, 1536, 30.13118),
                ),
                source=(
                    f"{_AWS_PRICE_LIST}; g6e.xlarge and g6e.12xlarge verified in {_SKYPILOT_AWS}; "
                    "g6e.48xlarge not re-verified"
                ),
                spot_factor=0.50,
            ),
            # Not offered on GCP: Compute Engine has no L40S machine series.
        },
    ),
    Accelerator(
        name="nvidia-a100-40gb",
        display_name="NVIDIA A100 40GB",
        architecture="ampere",
        gpu_memory_gib=40,
        offerings={
            "aws": _aws(
                (_M("p4d.24xlarge", 8, 96, 1152, 21.957642),),
                source=(
                    f"{_AWS_PRICE_LIST}, after the June 2025 P-family price cut; verified in "
                    f"{_SKYPILOT_AWS} and datareceipts/data-receipts 109-gpu-pricing/hyperscalers.json "
                    "(retrieved 2026-11-09)"
                ),
                spot_factor=0.40,
            ),
            "gcp": _gcp(
                (
                    _M("a2-highgpu-1g", 1, 12, 85, 3.673385),
                    _M("a2-highgpu-2g", 2, 24, 170, 7.34677),
                    _M("a2-highgpu-4g", 4, 48, 340, 14.69354),
                    _M("a2-highgpu-8g", 8, 96, 680, 29.38708),
                ),
                accelerator_type="nvidia-tesla-a100",
                source=(
                    f"{_GCP_PRICE_LIST}, A2 bundled machine price; 1g and 2g verified in {_CYCLENERD}; "
                    "4g/8g are the same per-GPU rate"
                ),
                spot_factor=0.35,
            ),
        },
    ),
    Accelerator(
        name="nvidia-a100-80gb",
        display_name="NVIDIA A100 80GB",
        architecture="ampere",
        gpu_memory_gib=80,
        offerings={
            "aws": _aws(
                (_M("p4de.24xlarge", 8, 96, 1152, 27.44705),),
                source=(
                    f"{_AWS_PRICE_LIST}, after the June 2025 P-family price cut; verified in "
                    "datareceipts/data-receipts 109-gpu-pricing/hyperscalers.json (retrieved 2026-11-09)"
                ),
                spot_factor=0.40,
            ),
            "gcp": _gcp(
                (
                    _M("a2-ultragpu-1g", 1, 12, 170, 5.068798),
                    _M("a2-ultragpu-2g", 2, 24, 340, 10.137596),
                    _M("a2-ultragpu-4g", 4, 48, 680, 20.275192),
                    _M("a2-ultragpu-8g", 8, 96, 1360, 40.550383),
                ),
                accelerator_type="nvidia-a100-80gb",
                source=(
                    f"{_GCP_PRICE_LIST}, A2 Ultra bundled machine price incl. its local SSD; 1g and 2g "
                    f"verified in {_CYCLENERD}; 4g/8g are the same per-GPU rate"
                ),
                spot_factor=0.40,
            ),
        },
    ),
    Accelerator(
        name="nvidia-h100-80gb",
        display_name="NVIDIA H100 80GB",
        architecture="hopper",
        gpu_memory_gib=80,
        offerings={
            "aws": _aws(
                (
                    _M("p5.4xlarge", 1, 16, 256, 6.88),
                    _M("p5.48xlarge", 8, 192, 2048, 55.04),
                ),
                source=(
                    f"{_AWS_PRICE_LIST}, after the June 2025 P-family price cut; both verified in "
                    f"{_SKYPILOT_AWS}; p5.48xlarge also in datareceipts/data-receipts "
                    "109-gpu-pricing/hyperscalers.json (retrieved 2026-11-09)"
                ),
                spot_factor=0.45,
            ),
            "gcp": _gcp(
                # a3-highgpu-1g/2g/4g exist but are Spot / Flex-start only, so not canonical here.
                (_M("a3-highgpu-8g", 8, 208, 1872, 88.49),),
                accelerator_type="nvidia-h100-80gb",
                source=f"{_GCP_PRICE_LIST}, A3 High bundled machine price; verified in {_CYCLENERD}",
                spot_factor=0.40,
            ),
        },
    ),
    Accelerator(
        name="nvidia-h200-141gb",
        display_name="NVIDIA H200 141GB",
        architecture="hopper",
        gpu_memory_gib=141,
        offerings={
            "aws": _aws(
                (_M("p5en.48xlarge", 8, 192, 2048, 63.296),),
                source=(
                    f"{_AWS_PRICE_LIST}, after the June 2025 P-family price cut; verified in "
                    "dstackai/dstack PR #4110 offer listing (2026-08-06)"
                ),
                spot_factor=0.45,
            ),
            "gcp": _gcp(
                (_M("a3-ultragpu-8g", 8, 224, 2952, 83.492),),
                accelerator_type="nvidia-h200-141gb",
                source=(
                    f"{_GCP_PRICE_LIST}, A3 Ultra bundled machine price; verified as 8 x $10.4365 per GPU "
                    "in the tanod/cloud-gpu-list-prices dataset (Cloud Billing Catalog API, 2026-10-13)"
                ),
                spot_factor=0.60,
            ),
        },
    ),
)

ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in _ACCELERATOR_TABLE}

# Multi-Instance GPU profiles per accelerator (NVIDIA MIG user guide, "Supported MIG profiles"):
# the `all-<profile>` single strategy of the GPU Operator's MIG manager slices every GPU of a node
# the same way. Only Ampere/Hopper data-centre GPUs support MIG; T4, A10G, L4 and L40S do not.
MIG_PROFILES: dict[str, tuple[str, ...]] = {
    "nvidia-a100-40gb": ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "nvidia-a100-80gb": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "nvidia-h100-80gb": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "nvidia-h200-141gb": ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
}


# --------------------------------------------------------------------------------------------
# Non-GPU prices for the cost estimator.
# --------------------------------------------------------------------------------------------

NON_GPU_PRICE_SOURCE: dict[str, PriceRecord] = {
    "aws": PriceRecord(
        region=_AWS_REGION,
        date=_RECORDED,
        source=(
            "AWS public price lists, us-east-1: EC2 on-demand Linux, RDS for PostgreSQL single-AZ "
            "on-demand, EKS, VPC NAT gateway, ELB, public IPv4, EBS gp3, S3 Standard (not re-verified)"
        ),
    ),
    "gcp": PriceRecord(
        region=_GCP_REGION,
        date=_RECORDED,
        source=(
            "Google Cloud public price lists, us-central1: Compute Engine on-demand, Cloud SQL for "
            "PostgreSQL Enterprise edition, GKE, Cloud NAT, Cloud Load Balancing, external IPv4, "
            "Persistent Disk balanced, Cloud Storage Standard (not re-verified)"
        ),
    ),
}

CPU_MACHINES: dict[str, dict[str, MachineType]] = {
    "aws": {
        m.name: m
        for m in (
            _M("t3.large", 0, 2, 8, 0.0832),
            _M("m6i.large", 0, 2, 8, 0.096),
            _M("m6i.xlarge", 0, 4, 16, 0.192),
            _M("m6i.2xlarge", 0, 8, 32, 0.384),
            _M("m6i.4xlarge", 0, 16, 64, 0.768),
            _M("m7i.large", 0, 2, 8, 0.1008),
            _M("m7i.xlarge", 0, 4, 16, 0.2016),
            _M("m7i.2xlarge", 0, 8, 32, 0.4032),
            _M("c6i.xlarge", 0, 4, 8, 0.17),
            _M("c6i.2xlarge", 0, 8, 16, 0.34),
            _M("r6i.xlarge", 0, 4, 32, 0.252),
        )
    },
    "gcp": {
        m.name: m
        for m in (
            _M("e2-standard-4", 0, 4, 16, 0.134012),
            _M("e2-standard-8", 0, 8, 32, 0.268024),
            _M("n2-standard-4", 0, 4, 16, 0.194236),
            _M("n2-standard-8", 0, 8, 32, 0.388472),
            _M("n2-standard-16", 0, 16, 64, 0.776944),
            _M("n1-standard-4", 0, 4, 15, 0.189999),
            _M("n1-standard-8", 0, 8, 30, 0.379998),
            _M("n1-standard-16", 0, 16, 60, 0.759996),
            _M("c3-standard-4", 0, 4, 16, 0.20872),
            _M("c3-standard-8", 0, 8, 32, 0.41744),
        )
    },
}

# RDS for PostgreSQL, single-AZ on-demand, us-east-1. A Multi-AZ instance deployment (one standby)
# costs twice the single-AZ price.
_RDS_POSTGRES_SINGLE_AZ_USD_HOUR: dict[str, float] = {
    "db.t4g.micro": 0.016,
    "db.t4g.small": 0.032,
    "db.t4g.medium": 0.065,
    "db.t4g.large": 0.129,
    "db.m6g.large": 0.152,
    "db.m6g.xlarge": 0.304,
    "db.m6g.2xlarge": 0.608,
    "db.m7g.large": 0.168,
    "db.m7g.xlarge": 0.336,
    "db.r6g.large": 0.225,
    "db.r6g.xlarge": 0.45,
    "db.r6g.2xlarge": 0.899,
}

# Cloud SQL for PostgreSQL (Enterprise edition), us-central1: priced per vCPU-hour and per
# GiB-hour of memory; high availability (regional) is exactly twice the zonal rates.
_CLOUD_SQL_VCPU_USD_HOUR = 0.0413
_CLOUD_SQL_MEMORY_GIB_USD_HOUR = 0.0070
_CLOUD_SQL_TIERS: dict[str, tuple[int, float]] = {  # tier -> (vCPUs, memory GiB)
    "db-custom-1-3840": (1, 3.75),
    "db-custom-2-7680": (2, 7.5),
    "db-custom-4-15360": (4, 15.0),
    "db-custom-8-30720": (8, 30.0),
    "db-custom-16-61440": (16, 60.0),
}

MANAGED_HOURLY: dict[str, dict[str, float]] = {
    "aws": {
        "eks_control_plane": 0.10,  # per EKS cluster-hour, standard Kubernetes version support
        "eks_control_plane_extended_support": 0.60,  # per cluster-hour on an extended-support version
        "nat_gateway": 0.045,  # per NAT gateway-hour; data processed is extra (DATA_PROCESSING_PER_GB)
        "alb": 0.0225,  # per Application Load Balancer-hour, excluding LCU charges
        "nlb": 0.0225,  # per Network Load Balancer-hour, excluding NLCU charges
        "public_ipv4_address": 0.005,  # per public IPv4 address-hour (in use or idle)
        "vpc_interface_endpoint_per_az": 0.01,  # per interface endpoint ENI-hour (one per AZ); data extra
        "ebs_gp3_per_gib": 0.08 / HOURS_PER_MONTH,  # per GiB-hour of gp3 ($0.08/GiB-month)
        "s3_standard_per_gib": 0.023 / HOURS_PER_MONTH,  # per GiB-hour of S3 Standard, first 50 TB
    },
    "gcp": {
        "gke_control_plane": 0.10,  # per GKE cluster-hour management fee (one zonal/Autopilot free)
        "cloud_nat_gateway": 0.044,  # per NAT gateway-hour at the cap ($0.0014/VM-hour, >= 32 VMs)
        "cloud_nat_per_vm": 0.0014,  # per VM-hour using the NAT gateway, below the 32-VM cap
        "load_balancer_forwarding_rule": 0.025,  # per forwarding rule-hour, first five rules
        "external_ipv4_address": 0.005,  # per external IPv4 address-hour on a standard VM
        "pd_balanced_per_gib": 0.10 / HOURS_PER_MONTH,  # per GiB-hour of balanced PD
        "gcs_standard_per_gib": 0.020 / HOURS_PER_MONTH,  # per GiB-hour of regional Standard storage
    },
}
"""Hourly prices of managed building blocks (USD), see :data:`NON_GPU_PRICE_SOURCE`."""

DATA_PROCESSING_PER_GB: dict[str, dict[str, float]] = {
    "aws": {"nat_gateway": 0.045},  # per GB processed by a NAT gateway
    "gcp": {"cloud_nat": 0.045},  # per GiB processed by Cloud NAT
}
"""Per-GB data processing charges (USD) that come on top of the hourly ones."""


# --------------------------------------------------------------------------------------------
# Lookups.
# --------------------------------------------------------------------------------------------


def _check_cloud(cloud: str) -> None:
    if cloud not in CLOUDS:
        raise CatalogError(f"unknown cloud {cloud!r} (known: {', '.join(CLOUDS)})")


def _machine_with(offering: Offering, gpus: int, subject: str) -> MachineType:
    if not isinstance(gpus, int) or isinstance(gpus, bool):
        raise CatalogError(f"GPU count must be an integer, got {gpus!r}")
    for machine in offering.machine_types:
        if machine.gpus == gpus:
            return machine
    counts = ", ".join(str(c) for c in offering.gpu_counts)
    plural = "" if gpus == 1 else "s"
    raise CatalogError(f"{subject} has no machine type with {gpus} GPU{plural} (valid GPU counts: {counts})")


def accelerator(name: str) -> Accelerator:
    """The accelerator called ``name`` (exact canonical name); CatalogError if unknown."""
    found = ACCELERATORS.get(name)
    if found is None:
        raise CatalogError(f"unknown accelerator {name!r} (known: {', '.join(sorted(ACCELERATORS))})")
    return found


def offered_on(cloud: str) -> list[str]:
    """Sorted names of the accelerators offered on ``cloud``."""
    _check_cloud(cloud)
    return sorted(name for name, acc in ACCELERATORS.items() if cloud in acc.offerings)


def machine_for(accelerator_name: str, cloud: str, gpus: int) -> MachineType:
    """The canonical machine type for ``gpus`` x ``accelerator_name`` on ``cloud``."""
    offering = accelerator(accelerator_name).offering(cloud)
    return _machine_with(offering, gpus, f"accelerator '{accelerator_name}' on {cloud}")


def cpu_machine(cloud: str, name: str) -> MachineType:
    """A CPU-only machine type with its on-demand price; CatalogError if it is not catalogued."""
    _check_cloud(cloud)
    found = CPU_MACHINES[cloud].get(name)
    if found is None:
        known = ", ".join(sorted(CPU_MACHINES[cloud]))
        raise CatalogError(f"unknown {cloud} CPU machine type {name!r} (known: {known})")
    return found


def database_hourly(cloud: str, instance_class: str, multi_az: bool) -> float:
    """On-demand hourly price of a managed PostgreSQL instance (compute only, storage excluded).

    AWS: RDS for PostgreSQL instance class; ``multi_az`` is a Multi-AZ instance deployment (2x).
    GCP: Cloud SQL tier; ``multi_az`` means high availability (regional), also 2x.
    """
    _check_cloud(cloud)
    factor = 2.0 if multi_az else 1.0
    if cloud == "aws":
        price = _RDS_POSTGRES_SINGLE_AZ_USD_HOUR.get(instance_class)
        if price is None:
            known = ", ".join(sorted(_RDS_POSTGRES_SINGLE_AZ_USD_HOUR))
            raise CatalogError(f"unknown RDS PostgreSQL instance class {instance_class!r} (known: {known})")
        return round(price * factor, 6)
    tier = _CLOUD_SQL_TIERS.get(instance_class)
    if tier is None:
        known = ", ".join(sorted(_CLOUD_SQL_TIERS))
        raise CatalogError(f"unknown Cloud SQL tier {instance_class!r} (known: {known})")
    vcpus, memory_gib = tier
    zonal = vcpus * _CLOUD_SQL_VCPU_USD_HOUR + memory_gib * _CLOUD_SQL_MEMORY_GIB_USD_HOUR
    return round(zonal * factor, 6)


# --------------------------------------------------------------------------------------------
# Import-time validation: a fork that adds an entry wrong fails here, naming the entry.
# --------------------------------------------------------------------------------------------


def _fail(where: str, problem: str) -> CatalogError:
    return CatalogError(f"catalog data error in {where}: {problem}")


def _check_machine(where: str, machine: MachineType, *, gpu_machine: bool) -> None:
    here = f"{where} machine {machine.name!r}"
    if not machine.name:
        raise _fail(where, "a machine type has an empty name")
    if gpu_machine and machine.gpus <= 0:
        raise _fail(here, f"GPU machines need gpus > 0, got {machine.gpus}")
    if not gpu_machine and machine.gpus != 0:
        raise _fail(here, f"CPU machines need gpus == 0, got {machine.gpus}")
    if machine.vcpus <= 0 or machine.memory_gib <= 0:
        raise _fail(here, "vcpus and memory_gib must be positive")
    if not machine.on_demand_usd_hour > 0:
        raise _fail(here, f"on_demand_usd_hour must be positive, got {machine.on_demand_usd_hour}")


def _check_date(where: str, value: str) -> None:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise _fail(where, f"price date {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _check_offering(where: str, cloud: str, offering: Offering) -> None:
    if offering.cloud != cloud:
        raise _fail(where, f"offering keyed {cloud!r} says cloud={offering.cloud!r}")
    if not offering.machine_types:
        raise _fail(where, "an offering needs at least one machine type")
    for machine in offering.machine_types:
        _check_machine(where, machine, gpu_machine=True)
    counts = offering.gpu_counts
    if list(counts) != sorted(set(counts)):
        raise _fail(where, f"GPU counts must be unique and ascending, got {list(counts)}")
    if cloud == "gcp" and not offering.accelerator_type:
        raise _fail(where, "GCP offerings need the GKE accelerator_type")
    if cloud == "aws" and offering.accelerator_type is not None:
        raise _fail(where, "AWS offerings must have accelerator_type=None")
    if not offering.price_region or not offering.price_source:
        raise _fail(where, "price_region and price_source are required")
    _check_date(where, offering.price_date)
    if not 0.0 < offering.spot_price_factor < 1.0:
        raise _fail(where, f"spot_price_factor must be in (0, 1), got {offering.spot_price_factor}")


def _validate() -> None:
    if len(ACCELERATORS) != len(_ACCELERATOR_TABLE):
        raise _fail("_ACCELERATOR_TABLE", "duplicate accelerator names")
    seen_machines: dict[tuple[str, str], str] = {}
    for acc in _ACCELERATOR_TABLE:
        if not acc.name.startswith("nvidia-") or acc.name != acc.name.lower():
            raise _fail(acc.name, "accelerator names are lower-case 'nvidia-...'")
        if acc.architecture not in _ARCHITECTURES:
            raise _fail(acc.name, f"architecture must be one of {', '.join(_ARCHITECTURES)}")
        if acc.gpu_memory_gib <= 0 or not acc.display_name:
            raise _fail(acc.name, "gpu_memory_gib must be positive and display_name non-empty")
        if not acc.offerings:
            raise _fail(acc.name, "an accelerator needs at least one offering")
        for cloud, offering in acc.offerings.items():
            if cloud not in CLOUDS:
                raise _fail(acc.name, f"unknown cloud {cloud!r} (known: {', '.join(CLOUDS)})")
            where = f"{acc.name} on {cloud}"
            _check_offering(where, cloud, offering)
            for machine in offering.machine_types:
                other = seen_machines.setdefault((cloud, machine.name), acc.name)
                if other != acc.name:
                    raise _fail(where, f"machine {machine.name!r} is already listed for {other}")
    for cloud in CLOUDS:
        for name, machine in CPU_MACHINES[cloud].items():
            if name != machine.name:
                raise _fail(f"CPU_MACHINES[{cloud!r}]", f"key {name!r} != machine name {machine.name!r}")
            _check_machine(f"CPU_MACHINES[{cloud!r}]", machine, gpu_machine=False)
        for item, price in MANAGED_HOURLY[cloud].items():
            if not price > 0:
                raise _fail(f"MANAGED_HOURLY[{cloud!r}]", f"{item} must be positive")
        record = NON_GPU_PRICE_SOURCE[cloud]
        _check_date(f"NON_GPU_PRICE_SOURCE[{cloud!r}]", record.date)
    for klass, price in _RDS_POSTGRES_SINGLE_AZ_USD_HOUR.items():
        if not price > 0:
            raise _fail("_RDS_POSTGRES_SINGLE_AZ_USD_HOUR", f"{klass} must be positive")
    for tier, (vcpus, memory_gib) in _CLOUD_SQL_TIERS.items():
        if vcpus <= 0 or memory_gib <= 0:
            raise _fail("_CLOUD_SQL_TIERS", f"{tier} needs positive vCPUs and memory")


_validate()
