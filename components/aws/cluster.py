"""EKS on plain `aws.eks.Cluster` (every child visible to mocks and policy packs).

Pinned Kubernetes version in standard support, envelope encryption of secrets with a CMK, all five
control-plane log types, API authentication mode with access entries, an OIDC provider for IRSA,
managed core add-ons (VPC CNI and EBS CSI with their own IRSA roles), a tainted on-demand system node
group, and a Kubernetes provider that authenticates with `aws eks get-token` (no static token).
"""

from __future__ import annotations

import json
import re

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
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore")
EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
# The VPC CNI enforces NetworkPolicies only with its network policy agent on (off by default): the EKS
# add-on's configuration key, a string (EKS user guide, "Enable the network policy parameter for the add-on").
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
# metrics-server (an EKS community add-on; not installed by default) serves the resource metrics HPAs
# scale on. It tolerates the system taint so it runs on the system nodes with the other cluster add-ons.
METRICS_SERVER_CONFIGURATION = {
    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}]
}
# terraform-provider-aws: node_group_name_prefix is at most 63 - 26 (the unique suffix) characters.
NODE_GROUP_PREFIX_MAX = 37


def cluster_admin_policy(partition: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def node_group_prefix(cluster_name: str, pool: str) -> str:
    """`<cluster>-<pool>-` within the provider's limit: the cluster part shortens, the pool name (unique) stays."""
    room = NODE_GROUP_PREFIX_MAX - len(pool) - 2
    return f"{cluster_name[: min(20, room)]}-{pool}-"


def principal_key(arn: str) -> str:
    """A resource-name part that identifies an IAM principal: `123456789012-role-platform-admins`."""
    account, resource = arn.split(":")[4], arn.split(":", 5)[5]
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"{account}-{resource}")


_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")


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
        # Envelope encryption: EKS uses the secrets key as the cluster role (and checks the key's health
        # with ListGrants/DescribeKey); terraform-aws-eks attaches the same four actions.
        secrets_key = aws.iam.RolePolicy(
            f"{name}-cluster-secrets-key",
            role=role.id,
            policy=iam.to_json(
                iam.document(
                    iam.allow(
                        ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ListGrants"],
                        [keys.arn("cluster")],
                        sid="SecretsEnvelopeEncryption",
                    )
                )
            ),
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
                # Never the one-shot, unmanaged bootstrap entry: it collides (409) with an access entry for
                # the same principal. The caller gets a managed entry below instead (terraform-aws-eks too).
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            bootstrap_self_managed_addons=False,
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                ip_family="ipv4", service_ipv4_cidr=SERVICE_CIDR
            ),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=ctx.prod,
            tags=ctx.tags(Name=cluster_name),
            opts=ctx.stateful(
                pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[cluster_policy, secrets_key, log_group],
                    # Both are creation-time only (ForceNew in the provider): a change must never replace
                    # the cluster.
                    ignore_changes=[
                        "accessConfig.bootstrapClusterCreatorAdminPermissions",
                        "bootstrapSelfManagedAddons",
                    ],
                )
            ),
        )
        self.name = self.cluster.name
        self.security_group_id = self.cluster.vpc_config.cluster_security_group_id
        self.oidc_issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)  # type: ignore[index]
        # Children of the (protected in prod) cluster that hold no data: explicitly unprotected, so that
        # removing an admin or an add-on is an ordinary change, not a `pulumi state unprotect` chore.
        unprotected = pulumi.ResourceOptions(parent=self.cluster, protect=False)
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=ctx.tags(),
            opts=unprotected,
        )

        # Private endpoint: the control plane's ENIs carry the cluster security group, which admits only
        # itself (nodes, pods). A deploy runner, bastion or VPN elsewhere in the network needs HTTPS in.
        # Rules are named by CIDR (the default, the VPC's, too): listing the VPC's CIDR explicitly later
        # changes nothing, where a renamed rule would be created before its twin is deleted (a duplicate).
        private_cidrs = (
            [str(c) for c in spec.private_access_cidrs] if spec.private_access_cidrs is not None else [network.cidr]
        )
        for cidr in private_cidrs:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-{cidr.replace('.', '-').replace('/', '-')}",
                security_group_id=self.security_group_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description=f"Kubernetes API (private endpoint) from {cidr}",
                tags=ctx.tags(),
                opts=unprotected,
            )

        # Cluster-admin: the stack's admin principals, and the identity running `pulumi up` unless it is one
        # of them (two entries for one principal: 409 ResourceInUseException). Entries are named by principal,
        # so removing one from the list removes exactly that entry; the aliases carry over entries named by
        # list position (before 2026-12) on the first update.
        admins = list(spec.admin_principals)
        creator = account.caller_arn
        if spec.creator_admin and creator and _IAM_PRINCIPAL.match(creator) and creator not in admins:
            admins.append(creator)
        elif spec.creator_admin and creator and not _IAM_PRINCIPAL.match(creator):
            pulumi.log.warn(f"{creator} runs `pulumi up` and cannot have an EKS access entry; list adminPrincipals")
        self.admin_associations: list[aws.eks.AccessPolicyAssociation] = []
        for principal in admins:
            key = f"{name}-admin-{principal_key(principal)}"
            previous = (
                [pulumi.Alias(name=f"{name}-admin-{spec.admin_principals.index(principal)}")]
                if principal in spec.admin_principals
                else []
            )
            entry = aws.eks.AccessEntry(
                key,
                cluster_name=self.cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=ctx.tags(),
                opts=pulumi.ResourceOptions(parent=self.cluster, protect=False, aliases=previous),
            )
            self.admin_associations.append(
                aws.eks.AccessPolicyAssociation(
                    key,
                    cluster_name=self.cluster.name,
                    principal_arn=entry.principal_arn,
                    policy_arn=cluster_admin_policy(account.partition),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=pulumi.ResourceOptions(parent=entry, protect=False, aliases=previous),
                )
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
        addon_opts = unprotected
        cni_role = self.irsa_role(
            f"{name}-vpc-cni", ctx, "kube-system", "aws-node", [account.managed_policy("AmazonEKS_CNI_Policy")]
        )
        early_addons = [
            self._addon(
                name,
                ctx,
                "vpc-cni",
                addon_opts,
                service_account_role_arn=cni_role.arn,
                configuration=VPC_CNI_CONFIGURATION,
            ),
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
            node_group_name_prefix=node_group_prefix(cluster_name, "system"),
            # follows the control plane: a kubernetesVersion upgrade rolls the nodes after the cluster
            version=self.cluster.version,
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
            # The EBS CSI driver's customer-managed-key policy (EBS CSI driver docs, "KMS key"): grants only
            # for AWS resources (the volumes), plus the data-key calls.
            inline=iam.document(
                iam.allow(
                    ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    [keys.arn("ebs")],
                    sid="VolumeGrants",
                    Bool={"kms:GrantIsForAWSResource": "true"},
                ),
                iam.allow(
                    ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                    [keys.arn("ebs")],
                    sid="VolumeEncryption",
                ),
            ),
        )
        late = pulumi.ResourceOptions(parent=self.cluster, protect=False, depends_on=[self.system_nodes])
        self._addon(name, ctx, "coredns", late)
        self._addon(name, ctx, "aws-ebs-csi-driver", late, service_account_role_arn=ebs_role.arn)
        self._addon(name, ctx, "metrics-server", late, configuration=METRICS_SERVER_CONFIGURATION)

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data).apply(
                lambda a: kubeconfig(a[0], a[1], a[2] or "", account.region)
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # The deployer reaches the API only once its admin access policy is associated (prod has no
            # other path), and the services need nodes.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_nodes, *self.admin_associations]),
        )
        self.register_outputs({"name": self.name, "oidc_issuer": self.oidc_issuer})

    def _addon(
        self,
        name: str,
        ctx: PlatformContext,
        addon: str,
        opts: pulumi.ResourceOptions,
        service_account_role_arn: pulumi.Input[str] | None = None,
        configuration: dict | None = None,
    ) -> aws.eks.Addon:
        # No addon_version: EKS installs the default version for the cluster's Kubernetes version
        # and keeps it until this resource changes; pin one here to hold a fleet at a tested build.
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            service_account_role_arn=service_account_role_arn,
            configuration_values=json.dumps(configuration) if configuration else None,
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
        depends_on: list[pulumi.Resource] | None = None,
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
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
