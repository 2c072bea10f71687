"""The CPU worker pool: an untainted GKE node pool for team workloads that need no GPU.

CPU-served models, pipeline steps and feature jobs have nowhere else to run: the system pool is tainted
`CriticalAddonsOnly` and the GPU pools `nvidia.com/gpu`. The workers are hardened like the system pool:
shielded COS nodes, the GKE metadata server (pods see only their own Workload Identity), the dedicated
node service account, a CMEK-encrypted boot disk, no legacy metadata endpoints or project SSH keys.
Nodes carry `ml-platform/role: worker` (what `Foundation.worker_node_selector` selects) and no taint.

GKE's cluster autoscaler keeps the pool between `minNodes` and `maxNodes` in total (as on AWS), spread
evenly over the zones (BALANCED) for on-demand nodes, wherever capacity is (ANY) for Spot VMs.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.foundation import LABEL_POOL, LABEL_ROLE, ROLE_WORKER, worker_node_labels
from components.gcp.cluster import NODE_METADATA, OAUTH_SCOPES, GkeCluster, per_zone, shielded_nodes
from components.gcp.kms import KmsKeys
from infra.config import Capacity, WorkerPoolSpec

POOL_NAME = "workers"


class WorkerNodePool(pulumi.ComponentResource):
    node_pool: gcp.container.NodePool
    node_selector: dict[str, str]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        pool: WorkerPoolSpec,
        *,
        cluster: GkeCluster,
        keys: KmsKeys,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:WorkerNodePool", name, None, opts)
        spot = pool.capacity is Capacity.spot
        min_nodes = pool.min_nodes or 0
        self.node_pool = gcp.container.NodePool(
            name,
            name=POOL_NAME,
            project=cluster.cluster.project,
            cluster=cluster.cluster.id,
            location=cluster.cluster.location,
            node_locations=cluster.zones,
            initial_node_count=per_zone(min_nodes, len(cluster.zones)),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=min_nodes,
                total_max_node_count=pool.max_nodes,
                # replicas of one model spread over zones; Spot VMs go where there is capacity
                location_policy="ANY" if spot else "BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # one extra node during upgrades: serving replicas move before their node goes
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE", max_surge=1, max_unavailable=0
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.machine_type,
                spot=spot,
                disk_size_gb=pool.disk_size_gb,
                disk_type="pd-balanced",
                boot_disk_kms_key=keys.key_id("disk"),
                image_type="COS_CONTAINERD",
                service_account=cluster.node_service_account_email,
                oauth_scopes=OAUTH_SCOPES,
                shielded_instance_config=shielded_nodes(),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                metadata=NODE_METADATA,
                labels=worker_node_labels(pool),
                # no taints: this is where pods without tolerations go
                resource_labels=ctx.labels(**{LABEL_POOL: POOL_NAME}),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster.system_nodes, *keys.ready("disk")],
                # The autoscaler owns the size once the pool exists.
                ignore_changes=["initialNodeCount"],
            ),
        )
        self.node_selector = {LABEL_ROLE: ROLE_WORKER}
        self.register_outputs({"node_pool": self.node_pool.name})
