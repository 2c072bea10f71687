"""The feature store's online store: Memorystore for Redis on private services access only.

What it is, and why:
* `connect_mode=PRIVATE_SERVICE_ACCESS` on the platform VPC: the instance gets an address from the
  private services access range the database already peers (components/gcp/database.py), and
  Memorystore for Redis has no public endpoint at all; in a network the platform does not own, the
  owner's peering is used, as for Cloud SQL (components/gcp/network.py).
* AUTH on, TLS in transit (`SERVER_AUTHENTICATION`: the server presents a certificate of a
  per-instance CA, so clients verify it with `OnlineStoreRef.ca_certificate`; port 6378), data at rest
  (RDB snapshots, AUTH and TLS metadata) encrypted with the stack's `cache` key (CMEK) that only the
  Memorystore service agent may use.
* dev: BASIC, one node, no persistence (the cache is rebuilt by materializing the offline store).
  prod: STANDARD_HA with read replicas in other zones of the region (automatic failover; reads may be
  spread over the read endpoint) and hourly RDB snapshots, so a restart does not start empty.
* Redis 7.2 (`REDIS_7_2`), the newest major version Memorystore for Redis offers (its supported-versions
  page, read 2026-11: 7.2, 7.0, 6.x, 5.0, 4.0, 3.2; 7.2 is the default). A weekly maintenance window on
  Sunday 05:00 UTC, one hour after the database's, so both are never updated at once.

The AUTH string: Memorystore generates it (a UUID) and only exposes it as an output of the instance;
no API lets anyone choose it. It therefore passes through Pulumi state, where it is a secret
(encrypted with the stack's secrets provider), and this component copies it into a Secret Manager
secret (CMEK, replicated only in the stack's region) that `OnlineStoreRef.auth_secret` names: workloads
read it as their Workload Identity through External Secrets, never from state or config.

Rotation (Memorystore issues a new AUTH string each time AUTH goes from off to on; on Redis 6.x-7.2,
connections that already authenticated keep working meanwhile):

    gcloud redis instances update INSTANCE --region REGION --no-enable-auth
    gcloud redis instances update INSTANCE --region REGION --enable-auth
    pulumi refresh && pulumi up     # reads the new string, adds it as the secret's new version
    # External Secrets syncs it into each `online-store` Secret; restart the Feast feature server
    # and any client that reconnects with the old string.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.foundation import OnlineStoreRef
from components.gcp.kms import KmsKeys, ProjectInfo
from components.gcp.network import Network

REDIS_VERSION = "REDIS_7_2"
TLS_MODE = "SERVER_AUTHENTICATION"
# Sunday 05:00 UTC: the database's window (components/gcp/database.py) is Sunday 04:00-05:00.
MAINTENANCE_DAY, MAINTENANCE_HOUR = "SUNDAY", 5
RDB_SNAPSHOT_PERIOD = "ONE_HOUR"
NAME_LIMIT = 40  # Memorystore instance ids: at most 40 characters


def instance_name(prefix: str) -> str:
    """The instance id: `<prefix>-features`, the prefix shortened to keep it within 40 characters."""
    suffix = "-features"
    return f"{prefix[: NAME_LIMIT - len(suffix)].rstrip('-')}{suffix}"


def ca_bundle(certs: Sequence[gcp.redis.outputs.InstanceServerCaCert] | None) -> str:
    """Every server CA the instance lists, as one PEM bundle: during a CA rotation Memorystore lists the
    old and the new CA, and a client that trusts both keeps connecting."""
    return "\n".join(c.cert.strip() for c in certs or [] if c.cert) + "\n"


class OnlineStore(pulumi.ComponentResource):
    instance: gcp.redis.Instance
    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion
    ref: OnlineStoreRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        *,
        network: Network,
        keys: KmsKeys,
        peering: pulumi.Resource | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`peering`: the private services access connection of an owned network (the database's), which
        must exist before the instance; None in an existing network, whose owner peered it."""
        super().__init__("ml-platform:gcp:OnlineStore", name, None, opts)
        spec = ctx.spec.feature_store.online_store
        replicas = spec.replicas or 0
        memory_gb = spec.memory_gb
        if memory_gb is None:
            raise ValueError("featureStore.onlineStore.memoryGb is unresolved: parse the stack with parse_platform")
        ha = replicas > 0

        depends: list[pulumi.Resource] = [*keys.ready("cache")]
        if peering is not None:
            depends.append(peering)
        zones = network.zones
        self.instance = gcp.redis.Instance(
            name,
            name=instance_name(ctx.prefix),
            display_name=f"ml-platform {ctx.stack} feature store online store",
            project=project.project_id,
            region=project.region,
            redis_version=REDIS_VERSION,
            memory_size_gb=memory_gb,
            tier="STANDARD_HA" if ha else "BASIC",
            # Read replicas: the replicas are spread over the region's zones and one takes over on failure.
            read_replicas_mode="READ_REPLICAS_ENABLED" if ha else None,
            replica_count=replicas if ha else None,
            location_id=zones[0] if zones else None,
            alternative_location_id=zones[1] if ha and len(zones) > 1 else None,
            authorized_network=network.network_id,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            auth_enabled=True,
            transit_encryption_mode=TLS_MODE,
            customer_managed_key=keys.key_id("cache"),
            persistence_config=gcp.redis.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period=RDB_SNAPSHOT_PERIOD
            )
            if ctx.prod
            else gcp.redis.InstancePersistenceConfigArgs(persistence_mode="DISABLED"),
            maintenance_policy=gcp.redis.InstanceMaintenancePolicyArgs(
                description="weekly, one hour after the database",
                weekly_maintenance_windows=[
                    gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArgs(
                        day=MAINTENANCE_DAY,
                        start_time=gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowStartTimeArgs(
                            hours=MAINTENANCE_HOUR, minutes=0, seconds=0, nanos=0
                        ),
                    )
                ],
            ),
            # The provider's own guard defaults to on; like the database, only prod keeps it.
            deletion_protection=ctx.prod,
            labels=ctx.labels(),
            opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=depends)),
        )
        i = self.instance
        self.secret = gcp.secretmanager.Secret(
            f"{name}-auth",
            secret_id=f"{ctx.prefix}-online-store-auth",
            project=project.project_id,
            replication=keys.regional_secret_replication(project.region),
            labels=ctx.labels(),
            annotations={"ml-platform/online-store": instance_name(ctx.prefix)},
            opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=keys.ready("secrets"))),
        )
        # A new AUTH string (rotation) replaces this version: "latest" then resolves to the new one.
        self.version = gcp.secretmanager.SecretVersion(
            f"{name}-auth",
            secret=self.secret.id,
            secret_data=pulumi.Output.secret(i.auth_string),
            opts=pulumi.ResourceOptions(parent=self.secret),
        )
        self.ref = OnlineStoreRef(
            host=i.host,
            port=i.port,
            auth_secret=self.secret.id,
            auth_secret_property=None,
            tls=True,
            ca_certificate=i.server_ca_certs.apply(ca_bundle),
        )
        self.register_outputs({"host": i.host, "port": i.port, "auth_secret": self.secret.id})
