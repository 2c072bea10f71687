"""Node autoscaling on AWS: what the in-cluster autoscaler needs from the account.

`services.autoscaling.gpuProvisioner` picks one of two designs for the GPU pools (the system pool and
the CPU worker pool are always managed node groups):

* ``node-groups`` (default): each GPU pool is an EKS managed node group (`gpu_pool.GpuNodePool`) and
  cluster-autoscaler resizes the Auto Scaling groups. Its IRSA role may change the size of, and
  terminate instances in, only the groups tagged ``k8s.io/cluster-autoscaler/<cluster>: owned`` (EKS tags
  every managed node group's group so); everything else it does is read-only.
* ``karpenter``: no node group, launch template or Auto Scaling group for the GPU pools; Karpenter
  launches the instances (cluster-autoscaler keeps resizing the worker pool's node group). `Karpenter`
  below builds its account side, `components.k8s.autoscaling` its NodePools and EC2NodeClasses:

  - the controller's IAM role through IRSA (not EKS Pod Identity: the cluster already has its OIDC
    provider and every platform identity is IRSA, while Pod Identity would add the agent add-on for one
    role), with the controller policy of the pinned Karpenter version: launches, tags and terminations
    conditioned on the cluster's ``kubernetes.io/cluster/<cluster>: owned`` and ``karpenter.sh/nodepool``
    tags, reads limited to the region, the interruption queue and the node role by ARN;
  - the node role (worker, ECR pull, SSM; the VPC CNI has its own IRSA role, so nodes do not carry the
    CNI policy) with an ``EC2_LINUX`` EKS access entry, and its instance profile, created here so the
    controller needs no IAM write permission at all (the upstream policy lets it create profiles);
  - the interruption queue (SQS-managed encryption, 5 minutes retention, TLS only) and the EventBridge
    rules that feed it: spot interruption warnings, rebalance recommendations, instance state changes
    and AWS Health scheduled changes; only these rules may send to it;
  - the discovery tag ``karpenter.sh/discovery: <cluster>`` on the private subnets (the network tags
    its own; an existing VPC's subnets are tagged here) and on the cluster security group.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

import pulumi
import pulumi_aws as aws

from components import catalog
from components.aws import iam
from components.aws.cluster import NODE_POLICIES, EksCluster
from components.aws.gpu_pool import pool_volumes
from components.aws.kms import AccountInfo, KmsKeys
from components.aws.network import Network
from components.context import PlatformContext
from components.foundation import NodeAutoscalerRef, ProvisionedPool, pool_zones
from infra.config import Capacity, PlatformSpec

KARPENTER_NAMESPACE = "karpenter"  # = components.k8s.base.NS_KARPENTER (the IRSA trust names it)
KARPENTER_SA = "karpenter"
CLUSTER_AUTOSCALER_NAMESPACE = "kube-system"
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"
DISCOVERY_TAG = "karpenter.sh/discovery"

# Node images, pinned (Karpenter's `@latest` would roll every node whenever AWS publishes an AMI).
# AL2023 and Bottlerocket resolve to their NVIDIA variants on GPU instance types. Bump deliberately:
# awslabs/amazon-eks-ami releases (v20260818) and bottlerocket-os releases (v1.61.0).
IMAGE_ALIASES = {"al2023": "al2023@v20260818", "bottlerocket": "bottlerocket@v1.61.0"}

# The EventBridge events Karpenter handles: the five rules of the upstream getting-started template
# (karpenter-provider-aws@v1.14.1, the pin: website/content/en/docs/.../cloudformation.yaml).
INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "capacity-reservation": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}
CAPACITY_TYPES: dict[Capacity, Literal["spot", "on-demand", "reserved"]] = {
    Capacity.spot: "spot",
    Capacity.on_demand: "on-demand",
    # a reservation is never silently replaced by on-demand capacity at list price
    Capacity.reserved: "reserved",
}


def karpenter_enabled(spec: PlatformSpec) -> bool:
    auto = spec.services.autoscaling
    return auto.enabled and auto.gpu_provisioner == "karpenter"


def node_autoscalers(
    name: str,
    ctx: PlatformContext,
    account: AccountInfo,
    cluster: EksCluster,
    network: Network,
    keys: KmsKeys,
    offered: Callable[[str, str], bool],
    opts: pulumi.ResourceOptions,
    spot_role: list[pulumi.Resource] | None = None,
) -> tuple[NodeAutoscalerRef, ...]:
    """The autoscalers `services.autoscaling` asks for, with their AWS side built; none when it is off.

    cluster-autoscaler resizes the managed node groups: the system pool, the CPU worker pool and, unless
    Karpenter provisions them, the GPU pools. With Karpenter it still runs for the worker pool (Karpenter
    does GPUs only). The two never compete for a pod: every Karpenter NodePool carries the GPU taint, and
    no managed group offers GPUs, so a pending pod fits the nodes of one of them at most.
    """
    spec = ctx.spec
    if not spec.services.autoscaling.enabled:
        return ()
    if not karpenter_enabled(spec):
        return (cluster_autoscaler(name, ctx, account, cluster),)
    karpenter = Karpenter(name, ctx, account, cluster, network, keys, offered, opts, spot_role=spot_role).ref
    if spec.worker_pool.enabled:
        return (cluster_autoscaler(name, ctx, account, cluster), karpenter)
    return (karpenter,)


# -- cluster-autoscaler ---------------------------------------------------------------------------------


def cluster_autoscaler_policy(account: AccountInfo, cluster_name: str) -> dict:
    """Resize and terminate only in this cluster's Auto Scaling groups; read what scale-from-zero needs."""
    groups = f"arn:{account.partition}:autoscaling:{account.region}:{account.account_id}:autoScalingGroup:*"
    return iam.document(
        iam.allow(
            ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            [f"{groups}:autoScalingGroupName/*"],
            sid="ResizeOwnedGroups",
            StringEquals={
                f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
            },
        ),
        # Describe/Get calls without resource-level permissions: "*" is the only valid resource.
        iam.allow(
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            ["*"],
            sid="Discover",
        ),
        # Labels, taints and resources of a managed node group at zero nodes.
        iam.allow(
            ["eks:DescribeNodegroup"],
            [account.arn("eks", f"nodegroup/{cluster_name}/*")],
            sid="NodegroupTemplates",
        ),
    )


def cluster_autoscaler(name: str, ctx: PlatformContext, account: AccountInfo, cluster: EksCluster) -> NodeAutoscalerRef:
    role = cluster.irsa_role(
        f"{name}-cluster-autoscaler",
        ctx,
        CLUSTER_AUTOSCALER_NAMESPACE,
        CLUSTER_AUTOSCALER_SA,
        inline=cluster_autoscaler_policy(account, ctx.prefix),
    )
    return NodeAutoscalerRef(
        kind="cluster-autoscaler",
        namespace=CLUSTER_AUTOSCALER_NAMESPACE,
        service_account=CLUSTER_AUTOSCALER_SA,
        annotations=role.arn.apply(lambda arn: {"eks.amazonaws.com/role-arn": arn}),
        cluster_name=cluster.name,
        region=account.region,
    )


# -- Karpenter ------------------------------------------------------------------------------------------


def controller_policy(
    account: AccountInfo,
    cluster_name: str,
    node_role_arn: pulumi.Input[str],
    instance_profile_arn: pulumi.Input[str],
    queue_arn: pulumi.Input[str],
    volume_key_arn: pulumi.Input[str],
) -> dict:
    """The Karpenter controller policy of the pinned version (upstream getting-started CloudFormation,
    statement for statement), less instance-profile management (the profile is created with the stack) and
    zonal-shift reads (a feature the platform leaves off).
    Statements are split by resource type on purpose: RunInstances/CreateFleet authorize every resource of
    the request separately, and request-tag conditions only apply to the resources being created."""
    p, region = account.partition, account.region
    ec2 = f"arn:{p}:ec2:{region}"
    owned = f"kubernetes.io/cluster/{cluster_name}"
    launch = ["ec2:CreateFleet", "ec2:RunInstances"]
    created = ["fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"]
    return iam.document(
        iam.allow(
            launch,
            [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
            sid="AllowScopedEC2InstanceAccessActions",
        ),
        iam.allow(
            launch,
            [f"{ec2}:*:launch-template/*"],
            sid="AllowScopedEC2LaunchTemplateAccessActions",
            StringEquals={f"aws:ResourceTag/{owned}": "owned"},
            StringLike={"aws:ResourceTag/karpenter.sh/nodepool": "*"},
        ),
        iam.allow(
            [*launch, "ec2:CreateLaunchTemplate"],
            [f"{ec2}:*:{kind}/*" for kind in created],
            sid="AllowScopedEC2InstanceActionsWithTags",
            StringEquals={f"aws:RequestTag/{owned}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster_name},
            StringLike={"aws:RequestTag/karpenter.sh/nodepool": "*"},
        ),
        iam.allow(
            ["ec2:CreateTags"],
            [f"{ec2}:*:{kind}/*" for kind in created],
            sid="AllowScopedResourceCreationTagging",
            StringEquals={
                f"aws:RequestTag/{owned}": "owned",
                "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                "ec2:CreateAction": ["CreateFleet", "CreateLaunchTemplate", "RunInstances"],
            },
            StringLike={"aws:RequestTag/karpenter.sh/nodepool": "*"},
        ),
        iam.allow(
            ["ec2:CreateTags"],
            [f"{ec2}:*:instance/*"],
            sid="AllowScopedResourceTagging",
            StringEquals={f"aws:ResourceTag/{owned}": "owned"},
            StringLike={"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            StringEqualsIfExists={"aws:RequestTag/eks:eks-cluster-name": cluster_name},
            **{
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]}
            },
        ),
        iam.allow(
            ["ec2:DeleteLaunchTemplate", "ec2:TerminateInstances"],
            [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            sid="AllowScopedDeletion",
            StringEquals={f"aws:ResourceTag/{owned}": "owned"},
            StringLike={"aws:ResourceTag/karpenter.sh/nodepool": "*"},
        ),
        # Describe calls have no resource-level permissions: "*", limited to the cluster's region.
        iam.allow(
            [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeInstances",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            ["*"],
            sid="AllowRegionalReadActions",
            StringEquals={"aws:RequestedRegion": region},
        ),
        # AMI aliases resolve through the public SSM parameters (an account-less ARN: "*" matches it).
        iam.allow(["ssm:GetParameter"], [f"arn:{p}:ssm:{region}:*:parameter/aws/service/*"], sid="AllowSSMReadActions"),
        # Consolidation compares prices; the pricing API has no resources.
        iam.allow(["pricing:GetProducts"], ["*"], sid="AllowPricingReadActions"),
        iam.allow(
            ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            [queue_arn],
            sid="AllowInterruptionQueueActions",
        ),
        iam.allow(
            ["iam:PassRole"],
            [node_role_arn],
            sid="AllowPassingInstanceRole",
            StringEquals={"iam:PassedToService": f"ec2.{account.dns_suffix}"},
        ),
        iam.allow(["iam:GetInstanceProfile"], [instance_profile_arn], sid="AllowInstanceProfileReadActions"),
        # The instance-profile garbage collector lists profiles; the call takes no resource.
        iam.allow(["iam:ListInstanceProfiles"], ["*"], sid="AllowUnscopedInstanceProfileListAction"),
        iam.allow(
            ["eks:DescribeCluster"],
            [account.arn("eks", f"cluster/{cluster_name}")],
            sid="AllowAPIServerEndpointDiscovery",
        ),
        # Upstream's ZonalShiftPolicy (arc-zonal-shift:GetManagedResource) is left out: Karpenter calls it only
        # with --enable-zonal-shift (off by default, and the platform does not turn it on).
        # Node volumes are encrypted with the platform's EBS key: EC2 uses it on the launcher's behalf.
        iam.allow(
            ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"],
            [volume_key_arn],
            sid="NodeVolumeKeyThroughEC2",
            StringEquals={"kms:ViaService": f"ec2.{region}.{account.dns_suffix}"},
        ),
        iam.allow(
            ["kms:CreateGrant"],
            [volume_key_arn],
            sid="NodeVolumeKeyGrantsThroughEC2",
            StringEquals={"kms:ViaService": f"ec2.{region}.{account.dns_suffix}"},
            Bool={"kms:GrantIsForAWSResource": "true"},
        ),
    )


def queue_policy(queue_arn: str, rule_arns: list[str]) -> dict:
    """Only the interruption rules (EventBridge) and SQS itself may send; nothing over plain HTTP."""
    return iam.document(
        {
            "Sid": "EventBridgeRulesSend",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
        },
        {
            "Sid": "SqsSends",
            "Effect": "Allow",
            "Principal": {"Service": "sqs.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
        {
            "Sid": "DenyHTTP",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )


class Karpenter(pulumi.ComponentResource):
    """The account side of Karpenter: controller and node identities, interruption queue, discovery tags."""

    ref: NodeAutoscalerRef
    node_role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    queue: aws.sqs.Queue
    controller_role: aws.iam.Role

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        cluster: EksCluster,
        network: Network,
        keys: KmsKeys,
        offered: Callable[[str, str], bool],
        opts: pulumi.ResourceOptions | None = None,
        *,
        spot_role: list[pulumi.Resource] | None = None,
    ) -> None:
        """`spot_role`: the EC2 Spot service-linked role where the stack creates it (its spot launches need it)."""
        super().__init__("ml-platform:aws:Karpenter", name, None, opts)
        cluster_name = ctx.prefix
        child = pulumi.ResourceOptions(parent=self)

        # -- what the nodes run as --------------------------------------------------------------------
        self.node_role = aws.iam.Role(
            f"{name}-node",
            assume_role_policy=iam.service_trust("ec2.amazonaws.com"),
            description=f"GPU nodes Karpenter launches in {cluster_name}",
            tags=ctx.tags(),
            opts=child,
        )
        for policy in NODE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=self.node_role.name,
                policy_arn=account.managed_policy(policy),
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-node",
            name=f"{cluster_name}-karpenter-node",
            role=self.node_role.name,
            tags=ctx.tags(),
            opts=pulumi.ResourceOptions(parent=self.node_role),
        )
        # Managed node groups get their access entries from EKS; Karpenter's nodes need one.
        aws.eks.AccessEntry(
            f"{name}-node",
            cluster_name=cluster.name,
            principal_arn=self.node_role.arn,
            type="EC2_LINUX",
            tags=ctx.tags(),
            opts=pulumi.ResourceOptions(parent=self.node_role),
        )

        # -- interruption handling --------------------------------------------------------------------
        self.queue = aws.sqs.Queue(
            f"{name}-interruption",
            name=cluster_name,
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=ctx.tags(),
            opts=child,
        )
        queue_arn = self.queue.name.apply(lambda n: account.arn("sqs", n))
        rule_arns = []
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule_name = f"{cluster_name}-karpenter-{event}"[:64]
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}",
                name=rule_name,
                description=f"{pattern['detail-type'][0]} -> Karpenter ({cluster_name})",
                event_pattern=json.dumps(pattern),
                tags=ctx.tags(),
                opts=pulumi.ResourceOptions(parent=self.queue),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{event}",
                rule=rule.name,
                target_id="KarpenterInterruptionQueueTarget",
                arn=queue_arn,
                opts=pulumi.ResourceOptions(parent=rule),
            )
            rule_arns.append(account.arn("events", f"rule/{rule_name}"))
        aws.sqs.QueuePolicy(
            f"{name}-interruption",
            queue_url=self.queue.id,  # the provider's id of a queue is its URL
            policy=iam.to_json(queue_arn.apply(lambda arn: queue_policy(arn, rule_arns))),
            opts=pulumi.ResourceOptions(parent=self.queue),
        )

        # -- discovery --------------------------------------------------------------------------------
        discovery = {DISCOVERY_TAG: cluster_name}
        # Nodes join with the cluster security group, like the managed node groups' nodes.
        aws.ec2.Tag(
            f"{name}-cluster-sg-discovery",
            resource_id=cluster.security_group_id,
            key=DISCOVERY_TAG,
            value=cluster_name,
            opts=child,
        )
        if not network.availability_zones:  # an existing VPC: its private subnets are tagged here
            for i, subnet in enumerate(network.private_subnet_ids):
                aws.ec2.Tag(
                    f"{name}-subnet-discovery-{i}",
                    resource_id=subnet,
                    key=DISCOVERY_TAG,
                    value=cluster_name,
                    opts=child,
                )

        # -- the controller's identity ----------------------------------------------------------------
        # (after the Spot service-linked role, where the stack creates it: CreateFleet of spot capacity
        # fails without it, and the controller may not create it)
        self.controller_role = cluster.irsa_role(
            f"{name}-controller",
            ctx,
            KARPENTER_NAMESPACE,
            KARPENTER_SA,
            inline=controller_policy(
                account,
                cluster_name,
                self.node_role.arn,
                self.instance_profile.name.apply(
                    lambda n: f"arn:{account.partition}:iam::{account.account_id}:instance-profile/{n}"
                ),
                queue_arn,
                keys.arn("ebs"),
            ),
            depends_on=spot_role,
        )

        pools = []
        for pool in ctx.spec.gpu_pools:
            machine = catalog.machine_for(pool.accelerator, "aws", pool.gpus_per_node)
            zones: list[str] = []
            if network.availability_zones:
                zones = pool_zones(
                    pool, machine.name, network.availability_zones, lambda z, m=machine.name: offered(m, z)
                )
            pools.append(
                ProvisionedPool(
                    name=pool.name,
                    image_alias=IMAGE_ALIASES[pool.node_image or "al2023"],
                    zones=tuple(zones),
                    capacity_type=CAPACITY_TYPES[pool.capacity or Capacity.on_demand],
                    reservation_id=pool.reservation_id,
                    volumes=pool_volumes(pool),
                )
            )

        self.ref = NodeAutoscalerRef(
            kind="karpenter",
            namespace=KARPENTER_NAMESPACE,
            service_account=KARPENTER_SA,
            annotations=self.controller_role.arn.apply(lambda arn: {"eks.amazonaws.com/role-arn": arn}),
            cluster_name=cluster.name,
            region=account.region,
            cluster_endpoint=cluster.cluster.endpoint,
            interruption_queue=self.queue.name,
            instance_profile=self.instance_profile.name,
            discovery_tags=discovery,
            volume_kms_key=keys.arn("ebs"),
            pools=tuple(pools),
        )
        self.register_outputs({"queue": self.queue.name, "node_role": self.node_role.arn})
