"""A GPU node pool: an EKS managed node group on an NVIDIA AMI with a hardened launch template.

The machine type comes from the GPU catalog (accelerator + GPUs per node), never from a guess.
Nodes carry `nvidia.com/gpu=present:NoSchedule` so only pods that ask for GPUs land there, and the
platform's cloud-neutral labels. The Auto Scaling group gets cluster-autoscaler node-template tags
(labels, taint, GPU count), so pending GPU pods can scale a pool up from zero.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_aws as aws

from components import catalog
from components.aws.cluster import EFFECTS, EksCluster, launch_template_metadata, node_group_prefix
from components.aws.kms import KmsKeys
from components.aws.network import Network
from components.context import PlatformContext
from components.foundation import (
    GPU_TAINT,
    LABEL_POOL,
    NodePoolRef,
    NodeVolume,
    gpu_node_labels,
    pool_zones,
)
from infra.config import Capacity, GpuPoolSpec

AMI_TYPES = {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}
# Bottlerocket keeps images and containers on a second (data) volume; AL2023 on the root volume.
DATA_DEVICE = {"al2023": "/dev/xvda", "bottlerocket": "/dev/xvdb"}
BOTTLEROCKET_OS_GB = 4  # Bottlerocket's OS volume; images and containers live on the data volume
CAPACITY_TYPES = {Capacity.on_demand: "ON_DEMAND", Capacity.spot: "SPOT", Capacity.reserved: "ON_DEMAND"}
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def autoscaler_template_tags(pool: GpuPoolSpec, machine: catalog.MachineType) -> dict[str, str]:
    """What cluster-autoscaler must know about a node before one exists (scale from zero)."""
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in gpu_node_labels(pool).items()}
    tags[f"{CA_TEMPLATE}/taint/{GPU_TAINT.key}"] = f"{GPU_TAINT.value}:{GPU_TAINT.effect}"
    tags[f"{CA_TEMPLATE}/resources/nvidia.com/gpu"] = str(machine.gpus)
    tags[f"{CA_TEMPLATE}/resources/ephemeral-storage"] = f"{pool.disk_size_gb}G"
    return tags


def pool_volumes(pool: GpuPoolSpec) -> tuple[NodeVolume, ...]:
    """The node's volumes, every one encrypted with the platform's EBS key: the pool's disk where images and
    containers go (tuned: multi-GB CUDA images, pull time is GPU time), plus Bottlerocket's small OS volume
    (left out of the mapping, it would come from the AMI's snapshot under the account's default key)."""
    image = pool.node_image or "al2023"
    data = NodeVolume(DATA_DEVICE[image], pool.disk_size_gb, iops=6000, throughput_mibps=500)
    if image == "bottlerocket":
        return (NodeVolume("/dev/xvda", BOTTLEROCKET_OS_GB), data)
    return (data,)


def node_pool_ref(pool: GpuPoolSpec) -> NodePoolRef:
    """What schedulers see of a GPU pool, whoever launches its nodes (a node group or Karpenter)."""
    machine = catalog.machine_for(pool.accelerator, "aws", pool.gpus_per_node)
    return NodePoolRef(
        name=pool.name,
        accelerator=pool.accelerator,
        gpus_per_node=machine.gpus,
        machine_type=machine.name,
        capacity=str(pool.capacity),
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        node_labels=gpu_node_labels(pool),
    )


class GpuNodePool(pulumi.ComponentResource):
    node_group: aws.eks.NodeGroup
    ref: NodePoolRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        pool: GpuPoolSpec,
        cluster: EksCluster,
        network: Network,
        keys: KmsKeys,
        offered: Callable[[str, str], bool],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`offered(machine, zone)` answers whether EC2 offers the machine type in that zone."""
        super().__init__("ml-platform:aws:GpuNodePool", name, None, opts)
        machine = catalog.machine_for(pool.accelerator, "aws", pool.gpus_per_node)
        image = pool.node_image or "al2023"
        cluster_name = ctx.prefix
        labels = gpu_node_labels(pool)
        child = pulumi.ResourceOptions(parent=self)
        # Only zones that offer the machine (a node group with a subnet where the instance type does not
        # exist fails to scale there); training pools can be pinned to one zone (a capacity reservation).
        subnets: list[pulumi.Output[str]] = network.private_subnet_ids
        if network.availability_zones:
            zones = pool_zones(pool, machine.name, network.availability_zones, lambda z: offered(machine.name, z))
            by_zone = dict(zip(network.availability_zones, network.private_subnet_ids, strict=True))
            subnets = [by_zone[z] for z in zones]

        reservation = None
        if pool.capacity is Capacity.reserved:
            reservation = aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                    capacity_reservation_id=pool.reservation_id
                )
            )
        lt = aws.ec2.LaunchTemplate(
            name,
            description=f"{cluster_name} GPU pool {pool.name} ({machine.name})",
            metadata_options=launch_template_metadata(hop_limit=1),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=volume.device,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=volume.size_gb,
                        volume_type="gp3",
                        iops=volume.iops,
                        throughput=volume.throughput_mibps,
                        encrypted="true",
                        kms_key_id=keys.arn("ebs"),
                        delete_on_termination="true",
                    ),
                )
                for volume in pool_volumes(pool)
            ],
            capacity_reservation_specification=reservation,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=t, tags=ctx.tags(Name=f"{cluster_name}-{pool.name}", **{LABEL_POOL: pool.name})
                )
                for t in ("instance", "volume", "network-interface")
            ],
            update_default_version=True,
            tags=ctx.tags(),
            opts=child,
        )

        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=cluster.name,
            node_group_name_prefix=node_group_prefix(cluster_name, pool.name),
            version=cluster.cluster.version,  # rolls after a control-plane upgrade
            node_role_arn=cluster.node_role.arn,
            subnet_ids=subnets,
            ami_type=AMI_TYPES[image],
            capacity_type=CAPACITY_TYPES[pool.capacity or Capacity.on_demand],
            instance_types=[machine.name],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_nodes, max_size=pool.max_nodes, desired_size=pool.min_nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version=lt.latest_version.apply(str)),
            labels=labels,
            taints=[
                aws.eks.NodeGroupTaintArgs(key=GPU_TAINT.key, value=GPU_TAINT.value, effect=EFFECTS[GPU_TAINT.effect])
            ],
            tags=ctx.tags(
                Name=f"{cluster_name}-{pool.name}",
                **{"k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster_name}": "owned"},
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster.system_nodes],
                # The autoscaler owns the size once the pool exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        # Managed node groups do not copy their tags to the Auto Scaling group.
        asg_name = self.node_group.resources.apply(
            lambda res: res[0].autoscaling_groups[0].name if res and res[0].autoscaling_groups else ""  # type: ignore[index]
        )
        for i, (key, value) in enumerate(sorted(autoscaler_template_tags(pool, machine).items())):
            aws.autoscaling.Tag(
                f"{name}-ca-{i}",
                autoscaling_group_name=asg_name.apply(lambda n: n or ""),
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self.node_group),
            )

        self.ref = node_pool_ref(pool)
        self.register_outputs({"node_group": self.node_group.node_group_name})
