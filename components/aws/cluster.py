"""EKS on plain `aws.eks.Cluster` (every child visible to mocks and policy packs).

Pinned Kubernetes version in standard support, envelope encryption of secrets with a CMK, all five
control-plane log types, API authentication mode with access entries, an OIDC provider for IRSA,
managed core add-ons (VPC CNI and EBS CSI with their own IRSA roles), a tainted on-demand system node
group, and a Kubernetes provider that authenticates with `aws eks get-token` (no static token).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws import iam
from components.aws.kms import AccountInfo, KmsKeys
from components.aws.network import Network
from components.context import PlatformContext
from components.foundation import LABEL_ROLE, SYSTEM_TAINT, exec_kubeconfig

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
SERVICE_CIDR = "172.20.0.0/16"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore")
EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that gets short-lived tokens from the AWS CLI: nothing secret is stored."""
    args = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    return exec_kubeconfig(cluster_name, endpoint, ca_data, {"command": "aws", "args": args})


def launch_template_metadata(hop_limit: int) -> aws.ec2.LaunchTemplateMetadataOptionsArgs:
    """IMDSv2 only. Hop limit 1 keeps pods from reaching the node role; 2 where add-ons need IMDS."""
    return aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint="enabled",
        http_tokens="required",
        http_put_response_hop_limit=hop_limit,
        instance_metadata_tags="disabled",
    )


def root_volume_launch_template(
    name: str,
    ctx: PlatformContext,
    *,
    description: str,
    hop_limit: int,
    disk_size_gb: int,
    kms_key_arn: pulumi.Input[str],
    node_tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.LaunchTemplate:
    """The launch template of a CPU node group (system, workers): IMDSv2 with `hop_limit`, one encrypted gp3
    root volume under the platform's EBS key, `node_tags` on the instances, volumes and interfaces."""
    return aws.ec2.LaunchTemplate(
        name,
        description=description,
        metadata_options=launch_template_metadata(hop_limit=hop_limit),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=disk_size_gb,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=kms_key_arn,
                    delete_on_termination="true",
                ),
            )
        ],
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=t, tags=ctx.tags(**node_tags))
            for t in ("instance", "volume", "network-interface")
        ],
        update_default_version=True,
        tags=ctx.tags(),
        opts=opts,
    )


class EksCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    name: pulumi.Output[str]
    node_role: aws.iam.Role
    oidc_provider: aws.iam.OpenIdConnectProvider
    oidc_issuer: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    system_nodes: aws.eks.NodeGroup

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        network: Network,
        keys: KmsKeys,
        cluster_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:EksCluster", name, None, opts)
        spec = ctx.spec.cluster
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-cluster",
            assume_role_policy=iam.service_trust("eks.amazonaws.com"),
            description=f"EKS control plane of {cluster_name}",
            tags=ctx.tags(),
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=role.name,
            policy_arn=account.managed_policy("AmazonEKSClusterPolicy"),
            opts=pulumi.ResourceOptions(parent=role),
        )

        # EKS writes to this exact name; creating it first gives it retention and a CMK.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=spec.log_retention_days,
            kms_key_id=keys.arn("logs"),
            tags=ctx.tags(),
            opts=child,
        )

        public = spec.endpoint_access == "public-and-private"
        self.cluster = aws.eks.Cluster(
            name,
            name=cluster_name,
            version=spec.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=network.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=[str(c) for c in spec.allowed_cidrs] if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=keys.arn("cluster")),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=spec.creator_admin,
            ),
            bootstrap_self_managed_addons=False,
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                ip_family="ipv4", service_ipv4_cidr=SERVICE_CIDR
            ),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=ctx.prod,
            tags=ctx.tags(Name=cluster_name),
            opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=[cluster_policy, log_group])),
        )
        self.name = self.cluster.name
        self.security_group_id = self.cluster.vpc_config.cluster_security_group_id
        self.oidc_issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)  # type: ignore[index]
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=ctx.tags(),
            opts=pulumi.ResourceOptions(parent=self.cluster),
        )

        for i, principal in enumerate(spec.admin_principals):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=ctx.tags(),
                opts=pulumi.ResourceOptions(parent=self.cluster),
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=entry),
            )

        # One node role for all managed node groups: EKS creates their access entries itself.
        self.node_role = aws.iam.Role(
            f"{name}-node",
            assume_role_policy=iam.service_trust("ec2.amazonaws.com"),
            description=f"EKS nodes of {cluster_name}",
            tags=ctx.tags(),
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=self.node_role.name,
                policy_arn=account.managed_policy(policy),
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )
            for policy in NODE_POLICIES
        ]

        # Networking add-ons first: nodes only become Ready once the CNI runs.
        addon_opts = pulumi.ResourceOptions(parent=self.cluster)
        cni_role = self.irsa_role(
            f"{name}-vpc-cni", ctx, "kube-system", "aws-node", [account.managed_policy("AmazonEKS_CNI_Policy")]
        )
        early_addons = [
            self._addon(name, ctx, "vpc-cni", addon_opts, service_account_role_arn=cni_role.arn),
            self._addon(name, ctx, "kube-proxy", addon_opts),
        ]

        sp = ctx.spec.system_pool
        system_lt = root_volume_launch_template(
            f"{name}-system",
            ctx,
            description=f"{cluster_name} system nodes",
            hop_limit=2,
            disk_size_gb=sp.disk_size_gb,
            kms_key_arn=keys.arn("ebs"),
            node_tags={"Name": f"{cluster_name}-system"},
            opts=child,
        )
        self.system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.cluster.name,
            node_group_name_prefix=f"{cluster_name[:20]}-system-",
            node_role_arn=self.node_role.arn,
            subnet_ids=network.private_subnet_ids,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=[sp.machine_type or "m6i.xlarge"],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=sp.min_nodes, max_size=sp.max_nodes, desired_size=sp.min_nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=system_lt.id, version=system_lt.latest_version.apply(str)
            ),
            labels={LABEL_ROLE: "system"},
            taints=[
                aws.eks.NodeGroupTaintArgs(
                    key=SYSTEM_TAINT.key, value=SYSTEM_TAINT.value, effect=EFFECTS[SYSTEM_TAINT.effect]
                )
            ],
            tags=ctx.tags(Name=f"{cluster_name}-system"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*node_policies, *early_addons],
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        # Add-ons that run as Deployments need a node to schedule on.
        ebs_role = self.irsa_role(
            f"{name}-ebs-csi",
            ctx,
            "kube-system",
            "ebs-csi-controller-sa",
            [account.managed_policy("service-role/AmazonEBSCSIDriverPolicy")],
            inline=iam.document(
                iam.allow(
                    [
                        "kms:CreateGrant",
                        "kms:Decrypt",
                        "kms:DescribeKey",
                        "kms:Encrypt",
                        "kms:GenerateDataKey*",
                        "kms:ReEncrypt*",
                    ],
                    [keys.arn("ebs")],
                )
            ),
        )
        late = pulumi.ResourceOptions(parent=self.cluster, depends_on=[self.system_nodes])
        self._addon(name, ctx, "coredns", late)
        self._addon(name, ctx, "aws-ebs-csi-driver", late, service_account_role_arn=ebs_role.arn)

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data).apply(
                lambda a: kubeconfig(a[0], a[1], a[2] or "", account.region)
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_nodes]),
        )
        self.register_outputs({"name": self.name, "oidc_issuer": self.oidc_issuer})

    def _addon(
        self,
        name: str,
        ctx: PlatformContext,
        addon: str,
        opts: pulumi.ResourceOptions,
        service_account_role_arn: pulumi.Input[str] | None = None,
    ) -> aws.eks.Addon:
        # No addon_version: EKS installs the default version for the cluster's Kubernetes version
        # and keeps it until this resource changes; pin one here to hold a fleet at a tested build.
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            service_account_role_arn=service_account_role_arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            tags=ctx.tags(),
            opts=opts,
        )

    def irsa_role(
        self,
        name: str,
        ctx: PlatformContext,
        namespace: str,
        service_account: str,
        managed_policies: list[str] | None = None,
        inline: dict | None = None,
        team: str = "platform",
    ) -> aws.iam.Role:
        """An IAM role only `namespace/service_account` of this cluster can assume."""
        role = aws.iam.Role(
            name,
            assume_role_policy=iam.web_identity_trust(
                self.oidc_provider.arn, self.oidc_issuer, namespace, service_account
            ),
            description=f"IRSA {namespace}/{service_account}",
            max_session_duration=3600,
            tags=ctx.tags(team=team, **{"ml-platform/service-account": f"{namespace}.{service_account}"}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for policy in managed_policies or []:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=policy,
                opts=pulumi.ResourceOptions(parent=role),
            )
        if inline:
            aws.iam.RolePolicy(
                f"{name}-access", role=role.id, policy=iam.to_json(inline), opts=pulumi.ResourceOptions(parent=role)
            )
        return role
