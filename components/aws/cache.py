"""The feature store's online store: ElastiCache for Valkey in the private subnets.

A replication group with cluster mode disabled (Feast's `redis` online store talks to one primary
endpoint), reachable only from the EKS cluster security group on 6379, TLS required in transit,
encrypted at rest with the platform's `cache` key, automatic snapshots and slow/engine logs in a
KMS-encrypted log group. Prod adds a replica per `featureStore.onlineStore.replicas` with automatic
failover across zones (Multi-AZ) and defers changes to the maintenance window.

Authentication: an AUTH token (Valkey's default user password). ElastiCache takes the token at
creation, so something must generate it before the cache exists: a `random.RandomPassword`, kept in
Pulumi state only as a secret (encrypted by the stack's secrets provider), copied into a Secrets
Manager secret (JSON {"password": ...}, encrypted with the `cache` key) from which the cluster's
External Secrets operator syncs it for Feast and the team pipelines. ElastiCache also offers IAM
authentication for Valkey RBAC users, but the client needs a SigV4-signed token refreshed every
15 minutes, which Feast's Redis client (redis-py via a connection string) cannot produce. The token
is alphanumeric: ElastiCache rejects `@`, `"` and `/`, and Feast's connection string splits on `,`
and `=`.

Rotating the token: replace the RandomPassword (`pulumi up --replace <its URN>`). The strategy is
ROTATE, so ElastiCache accepts the old and the new token until the next change; once every client
has the new one (External Secrets refreshes it), a change with strategy SET drops the old token.

Known provider gap: ElastiCache only accepts log-delivery changes with apply-immediately, and the
provider sends the group's `apply_immediately` (false in prod) with them
(hashicorp/terraform-provider-aws#49842). Changing the log configuration of a prod cache needs one
`pulumi up` with apply_immediately true.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.kms import KmsKeys
from components.aws.network import Network, cluster_only_security_group
from components.context import PlatformContext
from components.foundation import OnlineStoreRef

# The newest ElastiCache Valkey version (AWS ElastiCache docs, "Engine versions and upgrading",
# read 2026-11-24: Valkey 9.1 > 9.0 > 8.2 > 8.1 > 8.0 > 7.2). Major.minor: patches are applied
# in the maintenance window (auto_minor_version_upgrade).
ENGINE_VERSION = "9.1"
PORT = 6379
TOKEN_LENGTH = 64
SECRET_PROPERTY = "password"
# UTC windows, clear of the database's (backup 03:00-04:00, maintenance sun 04:30-05:30) and of each other.
SNAPSHOT_WINDOW = "01:00-02:00"
MAINTENANCE_WINDOW = "sun:06:00-sun:07:00"


def replication_group_id(prefix: str) -> str:
    """At most 40 characters, a letter first, no trailing or doubled hyphen (ElastiCache's rules)."""
    return f"{prefix[:31].rstrip('-')}-features".lower()


class OnlineStore(pulumi.ComponentResource):
    replication_group: aws.elasticache.ReplicationGroup
    security_group: aws.ec2.SecurityGroup
    token: random.RandomPassword
    secret: aws.secretsmanager.Secret
    secret_version: aws.secretsmanager.SecretVersion
    log_group: aws.cloudwatch.LogGroup
    ref: OnlineStoreRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        network: Network,
        keys: KmsKeys,
        client_security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:OnlineStore", name, None, opts)
        spec = ctx.spec.feature_store.online_store
        replicas = spec.replicas or 0
        child = pulumi.ResourceOptions(parent=self)
        group_id = replication_group_id(ctx.prefix)

        subnets = aws.elasticache.SubnetGroup(
            name,
            name=group_id,
            subnet_ids=network.private_subnet_ids,
            description=f"{ctx.prefix} feature online store (private subnets)",
            tags=ctx.tags(),
            opts=child,
        )
        self.security_group = sg = cluster_only_security_group(
            name,
            ctx,
            network,
            client_security_group_id,
            port=PORT,
            service="Valkey (TLS)",
            tag_name=f"{ctx.prefix}-online-store",
            opts=child,
        )

        self.token = token = random.RandomPassword(
            f"{name}-auth-token",
            length=TOKEN_LENGTH,
            special=False,
            min_lower=8,
            min_upper=8,
            min_numeric=8,
            opts=child,
        )
        auth_token = pulumi.Output.secret(token.result)
        self.secret = aws.secretsmanager.Secret(
            name,
            name_prefix=f"{ctx.prefix}/online-store-",
            description=f"{ctx.prefix} feature online store AUTH token (JSON: {SECRET_PROPERTY})",
            kms_key_id=keys.arn("cache"),
            recovery_window_in_days=30 if ctx.prod else 7,
            tags=ctx.tags(),
            opts=child,
        )
        self.secret_version = aws.secretsmanager.SecretVersion(
            name,
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.json_dumps({SECRET_PROPERTY: auth_token})),
            opts=pulumi.ResourceOptions(parent=self.secret),
        )

        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=f"/aws/elasticache/{ctx.prefix}/online-store",
            retention_in_days=ctx.spec.cluster.log_retention_days,
            kms_key_id=keys.arn("logs"),
            tags=ctx.tags(),
            opts=child,
        )
        logs = [
            aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                destination=self.log_group.name,
                destination_type="cloudwatch-logs",
                log_format="json",
                log_type=log_type,
            )
            for log_type in ("slow-log", "engine-log")
        ]

        self.replication_group = rg = aws.elasticache.ReplicationGroup(
            name,
            replication_group_id=group_id,
            description=f"{ctx.prefix} feature online store (Feast)",
            engine="valkey",
            engine_version=ENGINE_VERSION,
            auto_minor_version_upgrade=True,
            node_type=spec.node_type or "cache.t4g.small",
            cluster_mode="disabled",
            num_cache_clusters=1 + replicas,
            automatic_failover_enabled=replicas > 0,
            multi_az_enabled=replicas > 0,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=keys.arn("cache"),
            auth_token=auth_token,
            auth_token_update_strategy="ROTATE",
            snapshot_retention_limit=7 if ctx.prod else 1,
            snapshot_window=SNAPSHOT_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            final_snapshot_identifier=f"{group_id}-final" if ctx.prod else None,
            apply_immediately=not ctx.prod,
            log_delivery_configurations=logs,
            tags=ctx.tags(Name=f"{ctx.prefix}-online-store"),
            opts=ctx.stateful(child),
        )
        self.ref = OnlineStoreRef(
            host=rg.primary_endpoint_address,
            port=pulumi.Output.from_input(PORT),
            auth_secret=self.secret.arn,
            auth_secret_property=SECRET_PROPERTY,
            tls=True,
        )
        self.register_outputs({"endpoint": rg.primary_endpoint_address, "auth_secret": self.secret.arn})
