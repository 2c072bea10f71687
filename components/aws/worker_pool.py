"""The CPU worker pool: an untainted EKS managed node group for team workloads that need no GPU.

CPU-served models, pipeline steps and feature jobs have nowhere else to run: the system nodes are
tainted `CriticalAddonsOnly` and the GPU nodes `nvidia.com/gpu`. The workers are hardened like the
system nodes (same node role and AL2023 image, encrypted gp3 with the platform's EBS key, no SSH) and
stricter on metadata: IMDSv2 with hop limit 1, so team pods cannot reach the node role's credentials.
Nodes carry `ml-platform/role: worker` (what `Foundation.worker_node_selector` selects) and no taint.

cluster-autoscaler resizes the group between `minNodes` and `maxNodes` (EKS tags the group's Auto
Scaling group for its auto-discovery; the node-template tags let it scale from zero when `minNodes` is
0), also when Karpenter provisions the GPU pools (`components.aws.karpenter.node_autoscalers`). Spot
workers draw from every catalogued instance type of the same vCPUs and memory, so one reclaimed spot
pool does not empty the group (cluster-autoscaler needs equal sizes within a group).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components import catalog
from components.aws.cluster import EksCluster, node_group_prefix, root_volume_launch_template
from components.aws.gpu_pool import CA_TEMPLATE
from components.aws.kms import KmsKeys
from components.aws.network import Network
from components.context import PlatformContext
from components.foundation import LABEL_ROLE, ROLE_WORKER, worker_node_labels
from infra.config import Capacity, WorkerPoolSpec

POOL_NAME = "workers"
AMI_TYPE = "AL2023_x86_64_STANDARD"  # the system nodes' image


def instance_types(pool: WorkerPoolSpec) -> list[str]:
    """The configured type first; for spot also every catalogued type of the same vCPUs and memory."""
    machine = catalog.cpu_machine("aws", pool.machine_type or "")
    if pool.capacity is not Capacity.spot:
        return [machine.name]
    same = sorted(
        m.name
        for m in catalog.CPU_MACHINES["aws"].values()
        if (m.vcpus, m.memory_gib) == (machine.vcpus, machine.memory_gib) and m.name != machine.name
    )
    return [machine.name, *same]


def autoscaler_template_tags(pool: WorkerPoolSpec) -> dict[str, str]:
    """What cluster-autoscaler must know about a worker before one exists (scale from zero)."""
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in worker_node_labels(pool).items()}
    tags[f"{CA_TEMPLATE}/resources/ephemeral-storage"] = f"{pool.disk_size_gb}G"
    return tags


class WorkerNodePool(pulumi.ComponentResource):
    node_group: aws.eks.NodeGroup
    launch_template: aws.ec2.LaunchTemplate
    node_selector: dict[str, str]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        pool: WorkerPoolSpec,
        cluster: EksCluster,
        network: Network,
        keys: KmsKeys,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:WorkerNodePool", name, None, opts)
        cluster_name = ctx.prefix
        types = instance_types(pool)
        child = pulumi.ResourceOptions(parent=self)

        self.launch_template = root_volume_launch_template(
            name,
            ctx,
            description=f"{cluster_name} CPU worker nodes",
            # team pods run here: hop limit 1 keeps them off the node role (they get IRSA roles)
            hop_limit=1,
            disk_size_gb=pool.disk_size_gb,
            kms_key_arn=keys.arn("ebs"),
            node_tags={"Name": f"{cluster_name}-{POOL_NAME}", LABEL_ROLE: ROLE_WORKER},
            opts=child,
        )
        lt = self.launch_template

        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=cluster.name,
            node_group_name_prefix=node_group_prefix(cluster_name, POOL_NAME),
            version=cluster.cluster.version,  # rolls after a control-plane upgrade
            node_role_arn=cluster.node_role.arn,
            subnet_ids=network.private_subnet_ids,
            ami_type=AMI_TYPE,
            capacity_type="SPOT" if pool.capacity is Capacity.spot else "ON_DEMAND",
            instance_types=types,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_nodes or 0, max_size=pool.max_nodes, desired_size=pool.min_nodes or 0
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version=lt.latest_version.apply(str)),
            labels=worker_node_labels(pool),
            # no taints: this is where pods without tolerations go
            tags=ctx.tags(
                Name=f"{cluster_name}-{POOL_NAME}",
                **{"k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"},
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster.system_nodes],  # CNI and CoreDNS first
                # The autoscaler owns the size once the group exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        # Managed node groups do not copy their tags to the Auto Scaling group.
        asg_name = self.node_group.resources.apply(
            lambda res: res[0].autoscaling_groups[0].name if res and res[0].autoscaling_groups else ""  # type: ignore[index]
        )
        for i, (key, value) in enumerate(sorted(autoscaler_template_tags(pool).items())):
            aws.autoscaling.Tag(
                f"{name}-ca-{i}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self.node_group),
            )

        self.node_selector = {LABEL_ROLE: ROLE_WORKER}
        self.register_outputs({"node_group": self.node_group.node_group_name})
