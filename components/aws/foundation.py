"""The AWS foundation: KMS, network, EKS with GPU pools, buckets, ECR, RDS, the feature online store
(ElastiCache) and workload identity.

Implements `components.foundation.Foundation`, the only thing the layers above see.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.aws.account import AUTOSCALING, SPOT, ServiceLinkedRole, prerequisite_tags, service_linked_roles
from components.aws.cache import OnlineStore
from components.aws.cluster import EksCluster
from components.aws.database import Database
from components.aws.gpu_pool import GpuNodePool, node_pool_ref
from components.aws.karpenter import karpenter_enabled, node_autoscalers
from components.aws.kms import AccountInfo, KmsKeys
from components.aws.network import Network
from components.aws.registry import Registry
from components.aws.storage import Buckets
from components.aws.worker_pool import WorkerNodePool
from components.context import PlatformContext
from components.foundation import Foundation, IdentityAccess, IdentityBinding

S3_READ = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"]
# create only: on the versioned platform buckets a PUT to an existing key keeps the old version
S3_APPEND = ["s3:PutObject", "s3:AbortMultipartUpload"]
S3_WRITE = [
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
]
ECR_PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
SECRETS_READ = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
# Service annotations of the in-tree (cloud-controller-manager) load balancer: an NLB, internal or not.
NLB = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
INTERNAL_NLB = {**NLB, "service.beta.kubernetes.io/aws-load-balancer-internal": "true"}


class AwsFoundation(pulumi.ComponentResource, Foundation):
    account: AccountInfo
    service_linked_roles: dict[str, ServiceLinkedRole]
    keys: KmsKeys
    network: Network
    eks: EksCluster
    storage: Buckets
    registry: Registry
    db: Database
    cache: OnlineStore | None
    pools: list[GpuNodePool]
    workers: WorkerNodePool | None

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:aws:Foundation", name, None, opts)
        self._ctx = ctx
        spec = ctx.spec
        self.cloud, self.region = "aws", spec.region

        provider = aws.Provider(f"{name}-provider", region=spec.region, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"aws": provider})
        invoke = pulumi.InvokeOptions(provider=provider)
        identity = aws.get_caller_identity(opts=invoke)
        partition = aws.get_partition(opts=invoke)
        self.account = AccountInfo(
            account_id=identity.account_id,
            partition=partition.partition,
            region=spec.region,
            dns_suffix=partition.dns_suffix,
            service_prefix=partition.reverse_dns_prefix,
            # an assumed role's session ARN names the role without its path: ask IAM for the role's ARN
            caller_arn=aws.iam.get_session_context(arn=identity.arn, opts=invoke).issuer_arn,
        )
        cluster_name = ctx.prefix
        self._invoke = invoke
        self._offerings: dict[str, set[str]] = {}

        self.service_linked_roles = service_linked_roles(f"{name}-account", ctx, self.account, child, invoke)
        asg_role = self.service_linked_roles[AUTOSCALING]
        self.keys = KmsKeys(
            f"{name}-kms",
            ctx,
            self.account,
            opts=child,
            asg_role=asg_role.arn,
            ebs_after=asg_role.after(),
            ebs_tags=prerequisite_tags([asg_role]),
        )
        self.network = Network(f"{name}-network", ctx, self.account, self.keys.arn("logs"), cluster_name, opts=child)
        # STS behind an interface endpoint (ours in prod, or one an existing VPC may have) answers on VPC addresses
        if spec.network.interface_endpoints or spec.network.existing_vpc_id:
            self.workload_identity_endpoints = ((str(self.network.cidr), 443),)
        self.eks = EksCluster(f"{name}-eks", ctx, self.account, self.network, self.keys, cluster_name, opts=child)
        # With Karpenter the GPU pools are its NodePools (components/k8s/autoscaling.py), not node groups.
        self.pools = [
            GpuNodePool(
                f"{name}-gpu-{pool.name}", ctx, pool, self.eks, self.network, self.keys, self._offered, opts=child
            )
            for pool in spec.gpu_pools
            if not karpenter_enabled(spec)
        ]
        # Team workloads without GPUs (CPU models, pipeline steps) run on the untainted workers.
        self.workers = None
        if spec.worker_pool.enabled:
            self.workers = WorkerNodePool(
                f"{name}-workers", ctx, spec.worker_pool, self.eks, self.network, self.keys, opts=child
            )
        self.worker_node_selector = self.workers.node_selector if self.workers else None
        spot_role = self.service_linked_roles.get(SPOT)
        self.node_autoscalers = node_autoscalers(
            f"{name}-autoscaling",
            ctx,
            self.account,
            self.eks,
            self.network,
            self.keys,
            self._offered,
            child,
            spot_role=spot_role.after() if spot_role else None,
        )
        # encrypted gp3 with the platform's EBS key (the EBS CSI driver's role may use it)
        self.default_storage_class = (
            "ebs.csi.aws.com",
            {"type": "gp3", "encrypted": "true", "kmsKeyId": self.keys.arn("ebs"), "csi.storage.k8s.io/fstype": "ext4"},
        )
        self.storage = Buckets(f"{name}-buckets", ctx, self.account, self.keys.arn("storage"), opts=child)
        self.registry = Registry(f"{name}-ecr", ctx, self.keys.arn("registry"), opts=child)
        self.db = Database(f"{name}-db", ctx, self.network, self.keys, self.eks.security_group_id, opts=child)
        self.cache = None
        if spec.feature_store.enabled:
            self.cache = OnlineStore(
                f"{name}-online-store", ctx, self.network, self.keys, self.eks.security_group_id, opts=child
            )

        self.kube_provider = self.eks.provider
        self.cluster_name = self.eks.name
        self.kubeconfig = self.eks.kubeconfig
        self.buckets = self.storage.refs
        self.registry_urls = self.registry.urls
        # The RDS-managed master secret is JSON {"username", "password"}.
        self.database = dataclasses.replace(self.db.ref, password_property="password")
        self.online_store = self.cache.ref if self.cache else None
        self.gpu_pools = [p.ref for p in self.pools] if self.pools else [node_pool_ref(p) for p in spec.gpu_pools]
        self.register_outputs({"cluster_name": self.cluster_name})

    def _offered(self, machine: str, zone: str) -> bool:
        """Whether EC2 offers `machine` in `zone` (one lookup per machine type per program run)."""
        if machine not in self._offerings:
            self._offerings[machine] = set(
                aws.ec2.get_instance_type_offerings(
                    location_type="availability-zone",
                    filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[machine])],
                    opts=self._invoke,
                ).locations
            )
        return zone in self._offerings[machine]

    def identity_policy(self, access: IdentityAccess) -> dict:
        """The IAM policy for `access`: object actions on the named prefixes only, list limited to
        those prefixes, KMS use only through S3 (and Secrets Manager for the named secrets), reads of
        exactly the named secrets, and image pulls from the platform's repositories."""
        statements = []
        kms_actions = {"kms:Decrypt", "kms:DescribeKey"}
        for i, grant in enumerate(access.buckets):
            if grant.bucket not in self.storage.buckets:
                raise ValueError(
                    f"bind_identity: unknown bucket '{grant.bucket}' (buckets: {', '.join(self.storage.buckets)})"
                )
            arn = self.storage.buckets[grant.bucket].bucket.arn
            prefix = grant.prefix.strip("/")
            objects = pulumi.Output.concat(arn, "/", f"{prefix}/*" if prefix else "*")
            actions = {"read": S3_READ, "read-write": S3_READ + S3_WRITE, "append": S3_APPEND}[grant.mode]
            if grant.mode != "read":
                kms_actions |= {"kms:GenerateDataKey", "kms:Encrypt"}
            statements.append(iam.allow(actions, [objects], sid=f"Objects{i}"))
            if grant.mode == "append":
                continue  # writes only: no listing of what others wrote
            listing = iam.allow(["s3:ListBucket"], [arn], sid=f"List{i}")
            if prefix:  # s3:prefix only applies to ListBucket; GetBucketLocation gets no condition
                listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
            statements += [listing, iam.allow(["s3:GetBucketLocation"], [arn], sid=f"Locate{i}")]
        if access.buckets:
            statements.append(
                iam.allow(
                    sorted(kms_actions),
                    [self.keys.arn("storage")],
                    sid="StorageKeyThroughS3",
                    StringEquals={"kms:ViaService": f"s3.{self.account.region}.{self.account.dns_suffix}"},
                )
            )
        if access.secrets:
            # Exactly the named secrets, read-only. The platform's secrets are encrypted with the
            # database key (the RDS-managed master secret) and the cache key (the online store's AUTH
            # token): decrypt only through Secrets Manager and only for these secrets (Secrets Manager
            # puts the secret ARN in the encryption context), so listing both keys opens nothing else.
            secrets = list(access.secrets)
            statements.append(iam.allow(SECRETS_READ, secrets, sid="ReadSecrets"))
            secret_keys = [self.keys.arn("database")] + ([self.keys.arn("cache")] if self.cache else [])
            statements.append(
                iam.allow(
                    ["kms:Decrypt"],
                    secret_keys,
                    sid="SecretKeyThroughSecretsManager",
                    StringEquals={
                        "kms:ViaService": f"secretsmanager.{self.account.region}.{self.account.dns_suffix}",
                        "kms:EncryptionContext:SecretARN": secrets,
                    },
                )
            )
        if access.registry_pull and self.registry.repositories:
            statements.append(
                iam.allow(ECR_PULL, [r.arn for r in self.registry.repositories.values()], sid="PullPlatformImages")
            )
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            statements.append(iam.allow(["ecr:GetAuthorizationToken"], ["*"], sid="RegistryLogin"))
        return iam.document(*statements)

    def bind_identity(self, namespace: str, service_account: str, access: IdentityAccess) -> IdentityBinding:
        policy = self.identity_policy(access)
        role = self.eks.irsa_role(
            f"wi-{namespace}-{service_account}",
            self._ctx,
            namespace,
            service_account,
            inline=policy if policy["Statement"] else None,
            team=namespace,
        )
        return IdentityBinding(
            namespace=namespace,
            service_account=service_account,
            principal=role.arn,
            annotations=role.arn.apply(lambda arn: {"eks.amazonaws.com/role-arn": arn}),
        )

    def secret_store_provider(self, service_account: str) -> dict[str, Any]:
        """Secrets Manager in the stack's region; ESO requests a token for `service_account` and
        assumes the IRSA role its annotation names (AssumeRoleWithWebIdentity, audience STS)."""
        return {
            "aws": {
                "service": "SecretsManager",
                "region": self.region,
                "auth": {"jwt": {"serviceAccountRef": {"name": service_account}}},
            }
        }

    def secret_remote_ref(self, secret: pulumi.Input[str], field: str | None = None) -> dict[str, Any]:
        return {"key": secret, **({"property": field} if field else {})}

    def load_balancer_annotations(self, internal: bool) -> dict[str, str]:
        return dict(INTERNAL_NLB if internal else NLB)
