"""A GPU node pool: a GKE node pool with attached NVIDIA GPUs and GKE-installed drivers.

The machine type and the GKE accelerator name come from the GPU catalog (accelerator + GPUs per
node), never from a guess. GKE installs the driver (`gpu_driver_installation_config`) and adds the
`nvidia.com/gpu=present:NoSchedule` taint to GPU nodes itself; the pool declares that taint too, or
every update would plan a replacement of the pool (terraform-provider-google#7928). Nodes carry the
platform's cloud-neutral labels, identical to the AWS pools.

Autoscaling uses total (pool-wide) limits with location policy ANY, so `minNodes`/`maxNodes` mean
the same as on AWS and GKE takes whichever zone has capacity (GPUs are scarce). Spot pools use Spot
VMs; reserved pools consume exactly the named Compute Engine reservation. GKE's cluster autoscaler
knows a pool's labels, taints and GPUs from its node template, so pools scale from zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pulumi
import pulumi_gcp as gcp

from components import catalog
from components.context import PlatformContext
from components.foundation import (
    GPU_TAINT,
    LABEL_POOL,
    NodePoolRef,
    gpu_node_labels,
    pool_zones,
)
from components.gcp.cluster import EFFECTS, NODE_METADATA, OAUTH_SCOPES, GkeCluster, per_zone, shielded_nodes
from components.gcp.kms import KmsKeys
from infra.config import Capacity, GpuPoolSpec

DRIVER_VERSION = "LATEST"
# Machine series whose disks must be Hyperdisk: A3 Ultra (H200) and A4/A4X (B200/GB200) support no
# Persistent Disk type (Compute Engine "Accelerator-optimized machine family", supported disk types),
# so a pd-ssd or pd-balanced boot disk is refused when the node pool is created.
HYPERDISK_ONLY = ("a3-ultragpu-", "a4-highgpu-", "a4x-highgpu-")


def boot_disk_type(machine: str, purpose: str) -> str:
    """The boot disk type of a GPU node: Hyperdisk Balanced where the machine takes nothing else,
    otherwise SSD persistent disk for training (multi-GB CUDA images: pull time is GPU time) and
    balanced persistent disk for the rest."""
    if machine.startswith(HYPERDISK_ONLY):
        return "hyperdisk-balanced"
    return "pd-ssd" if purpose == "training" else "pd-balanced"


RESERVATION_KEY = "compute.googleapis.com/reservation-name"
# A reservation in this project (`name`) or a shared one (`projects/OWNER/reservations/name`).
_RESERVATION = re.compile(r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/reservations/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def reservation_affinity(pool: GpuPoolSpec) -> gcp.container.NodePoolNodeConfigReservationAffinityArgs:
    if pool.capacity is Capacity.reserved:
        if not pool.reservation_id or not _RESERVATION.match(pool.reservation_id):
            raise ValueError(
                f"gpuPools '{pool.name}': reservationId '{pool.reservation_id}' is not a Compute Engine "
                "reservation name (name or projects/OWNER/reservations/name)"
            )
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type="SPECIFIC_RESERVATION", key=RESERVATION_KEY, values=[pool.reservation_id]
        )
    # Never silently eat into a reservation meant for something else.
    return gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="NO_RESERVATION")


class GpuNodePool(pulumi.ComponentResource):
    node_pool: gcp.container.NodePool
    ref: NodePoolRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        pool: GpuPoolSpec,
        *,
        cluster: GkeCluster,
        keys: KmsKeys,
        offered: Callable[[str, str], bool],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`offered(machine, zone)` answers whether Compute Engine offers the machine type in that zone."""
        super().__init__("ml-platform:gcp:GpuNodePool", name, None, opts)
        offering = catalog.accelerator(pool.accelerator).offering("gcp")
        machine = offering.machine_for(pool.gpus_per_node)
        if not offering.accelerator_type:
            raise ValueError(f"catalog: {pool.accelerator} on gcp has no GKE accelerator type")
        labels = gpu_node_labels(pool)

        zones = pool_zones(pool, machine.name, cluster.zones, lambda z: offered(machine.name, z))

        self.node_pool = gcp.container.NodePool(
            name,
            name=pool.name,
            project=cluster.cluster.project,
            cluster=cluster.cluster.id,
            location=cluster.cluster.location,
            node_locations=zones,
            initial_node_count=per_zone(pool.min_nodes, len(zones)),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_nodes,
                total_max_node_count=pool.max_nodes,
                location_policy="ANY",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # GPU nodes are expensive and scarce: replace one at a time, never run a surge node.
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE", max_surge=0, max_unavailable=1
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=machine.name,
                guest_accelerators=[
                    gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                        type=offering.accelerator_type,
                        count=machine.gpus,
                        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                            gpu_driver_version=DRIVER_VERSION
                        ),
                        # GKE shares GPUs itself: MIG partitions and time-sharing are node pool settings
                        gpu_partition_size=pool.sharing.mig_profile if pool.sharing else None,
                        gpu_sharing_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
                            gpu_sharing_strategy="TIME_SHARING",
                            max_shared_clients_per_gpu=pool.sharing.time_slicing_replicas,
                        )
                        if pool.sharing and pool.sharing.time_slicing_replicas
                        else None,
                    )
                ],
                spot=pool.capacity is Capacity.spot,
                reservation_affinity=reservation_affinity(pool),
                disk_size_gb=pool.disk_size_gb,
                disk_type=boot_disk_type(machine.name, pool.purpose),
                boot_disk_kms_key=keys.key_id("disk"),
                image_type="COS_CONTAINERD",
                gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
                service_account=cluster.node_service_account_email,
                oauth_scopes=OAUTH_SCOPES,
                shielded_instance_config=shielded_nodes(),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                metadata=NODE_METADATA,
                labels=labels,
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(
                        key=GPU_TAINT.key, value=GPU_TAINT.value, effect=EFFECTS[GPU_TAINT.effect]
                    )
                ],
                resource_labels=ctx.labels(**{LABEL_POOL: pool.name}),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster.system_nodes, *keys.ready("disk")],
                ignore_changes=["initialNodeCount"],
            ),
        )

        self.ref = NodePoolRef(
            name=pool.name,
            accelerator=pool.accelerator,
            gpus_per_node=machine.gpus,
            machine_type=machine.name,
            capacity=str(pool.capacity),
            min_nodes=pool.min_nodes,
            max_nodes=pool.max_nodes,
            node_labels=labels,
        )
        self.register_outputs({"node_pool": self.node_pool.name})
