"""The model-registry database: Cloud SQL for PostgreSQL on a private IP only.

No public IP (`ipv4_enabled=False`): the instance sits behind private services access (a
VPC-peering range and the Service Networking connection), TLS is required (`ENCRYPTED_ONLY`),
the disk and backups are encrypted with the database key (CMEK), daily backups with point-in-time
recovery, CIS-style logging flags, Query Insights without client addresses; prod is REGIONAL (HA,
synchronous standby in a second zone) with deletion protection at both the API and Pulumi level.

Logins: IAM database authentication, and no password anywhere. Each client workload (MLflow, the Feast
registry) is a Cloud SQL IAM user of its own Workload Identity service account
(`CLOUD_IAM_SERVICE_ACCOUNT`, named by the account's email without `.gserviceaccount.com`), with
`roles/cloudsql.client` and `roles/cloudsql.instanceUser` on this instance only (IAM condition on the
instance's resource name). Automatic IAM login needs the Cloud SQL Auth Proxy (or a language connector:
the clients here are libpq/SQLAlchemy URLs, which have neither), so the pod runs the proxy as a native
sidecar (`--auto-iam-authn --private-ip`): the client opens `127.0.0.1:5432` without a password, the
proxy reaches the instance on 3307 over mTLS with the pod's identity (Cloud SQL docs, "IAM database
authentication", "Connect using the Cloud SQL Auth Proxy"). A password used as the manual alternative
would be an OAuth token valid one hour, which a static `PGPASSWORD` cannot renew.

IAM users start without privileges on the `mlflow` database's `public` schema (PostgreSQL 15+ leaves
CREATE there to the database owner, `cloudsqlsuperuser` for databases created through the API), so
each gets the `cloudsqlsuperuser` role (`database_roles`), the role Cloud SQL gives its built-in users.

Break-glass: an administrator connects with `gcloud sql connect INSTANCE --user=postgres` after setting
that built-in user's password out of band (`gcloud sql users set-password postgres ...`); Pulumi never
manages a password.

Destroy: the users own the tables they created, and PostgreSQL refuses to drop a role that owns
objects or a database other users can reach, so users and the database are abandoned on destroy
(`deletion_policy ABANDON`) and go with the instance; the Service Networking connection removes its
peering when Cloud SQL still holds it (`REMOVE_PEERING`) so the network can be deleted after it.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from components.foundation import DatabaseLogin, DatabaseRef
from components.gcp.kms import KmsKeys, ProjectInfo
from components.gcp.network import Network

DB_NAME = "mlflow"
PORT = 5432
# The Cloud SQL Auth Proxy, v2.25.3 (GoogleCloudPlatform/cloud-sql-proxy tag of 2026-08-20; distroless,
# runs as 65532). It reaches the instance on 3307 and the Cloud SQL Admin API on 443.
PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"
PROXY_PORTS = (3307, 443)
PROXY_HEALTH_PORT = 9090
CLIENT_ROLES = ("roles/cloudsql.client", "roles/cloudsql.instanceUser")
IAM_USER_ROLES = ["cloudsqlsuperuser"]
PSA_PREFIX_LENGTH = 20
DATABASE_FLAGS = {
    "cloudsql.iam_authentication": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_checkpoints": "on",
    "log_lock_waits": "on",
    "log_temp_files": "0",
    "log_min_duration_statement": "1000",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
    "log_statement": "ddl",
}


class Database(pulumi.ComponentResource):
    instance: gcp.sql.DatabaseInstance
    connection_name: pulumi.Output[str]
    ref: DatabaseRef
    # The private services access peering (owned network only), which Memorystore reuses: None in a
    # network the platform does not own, whose owner set it up.
    psa_connection: gcp.servicenetworking.Connection | None

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        *,
        network: Network,
        keys: KmsKeys,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:Database", name, None, opts)
        db = ctx.spec.database
        child = pulumi.ResourceOptions(parent=self)

        depends: list[pulumi.Resource] = [*keys.ready("database")]
        self.psa_connection = None
        if network.owned:
            # Private services access: Google's service producers (Cloud SQL, Memorystore) get a range in the VPC.
            psa_range = gcp.compute.GlobalAddress(
                f"{name}-psa",
                name=f"{ctx.prefix}-psa",
                project=project.project_id,
                network=network.network_id,
                purpose="VPC_PEERING",
                address_type="INTERNAL",
                prefix_length=PSA_PREFIX_LENGTH,
                description="private services access (Cloud SQL)",
                labels=ctx.labels(),
                opts=child,
            )
            connection = gcp.servicenetworking.Connection(
                f"{name}-psa",
                network=network.network_id,
                service="servicenetworking.googleapis.com",
                reserved_peering_ranges=[psa_range.name],
                # Cloud SQL releases the connection some time after the instance is deleted; until then
                # deleting it fails ("Producer services ... are still using this connection"). This
                # removes the peering instead, so the network after it can be deleted (provider docs).
                deletion_policy="REMOVE_PEERING",
                opts=pulumi.ResourceOptions(parent=psa_range),
            )
            depends.append(connection)
            self.psa_connection = connection

        retention = db.backup_retention_days or (14 if ctx.prod else 7)
        self.instance = gcp.sql.DatabaseInstance(
            name,
            name=f"{ctx.prefix}-registry",
            project=project.project_id,
            region=project.region,
            database_version=f"POSTGRES_{db.postgres_version}",
            encryption_key_name=keys.key_id("database"),
            deletion_protection=ctx.prod,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                # db-custom-* tiers exist only in the Enterprise edition (PostgreSQL 16+ defaults to Plus).
                edition="ENTERPRISE",
                tier=db.instance_class or "db-custom-2-7680",
                availability_type="REGIONAL" if db.multi_az else "ZONAL",
                disk_type="PD_SSD",
                disk_size=db.storage_gb,
                disk_autoresize=True,
                disk_autoresize_limit=db.max_storage_gb,
                deletion_protection_enabled=ctx.prod,
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,
                    private_network=network.network_id,
                    ssl_mode="ENCRYPTED_ONLY",
                    enable_private_path_for_google_cloud_services=True,
                ),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=True,
                    start_time="03:00",
                    location=project.region,
                    transaction_log_retention_days=min(retention, 7),
                    backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                        retained_backups=retention, retention_unit="COUNT"
                    ),
                ),
                maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                    day=7, hour=4, update_track="stable"
                ),
                database_flags=[
                    gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=k, value=v) for k, v in DATABASE_FLAGS.items()
                ],
                insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
                    query_insights_enabled=True,
                    record_application_tags=True,
                    record_client_address=False,
                    query_string_length=1024,
                ),
                password_validation_policy=gcp.sql.DatabaseInstanceSettingsPasswordValidationPolicyArgs(
                    enable_password_policy=True,
                    min_length=20,
                    complexity="COMPLEXITY_DEFAULT",
                    disallow_username_substring=True,
                ),
                user_labels=ctx.labels(),
            ),
            opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=depends)),
        )
        i = self.instance
        self._project = project
        self._ctx = ctx
        gcp.sql.Database(
            f"{name}-{DB_NAME}",
            name=DB_NAME,
            project=project.project_id,
            instance=i.name,
            # The IAM users' tables keep PostgreSQL from dropping it; it goes with the instance.
            deletion_policy="ABANDON",
            opts=ctx.stateful(pulumi.ResourceOptions(parent=i)),
        )
        self.connection_name = i.connection_name
        self.ref = DatabaseRef(
            host=i.private_ip_address,
            port=pulumi.Output.from_input(PORT),
            database=DB_NAME,
            username="",
            password_secret=None,
        )
        self.register_outputs({"connection_name": i.connection_name, "host": i.private_ip_address})

    def iam_user(self, name: str, email: pulumi.Output[str], opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """`email` (a service account) as a Cloud SQL IAM user with the rights to log in to this instance."""
        user = gcp.sql.User(
            f"{name}-db-user",
            name=email.apply(iam_user_name),
            project=self._project.project_id,
            instance=self.instance.name,
            type="CLOUD_IAM_SERVICE_ACCOUNT",
            database_roles=IAM_USER_ROLES,
            deletion_policy="ABANDON",  # a role that owns tables cannot be dropped (module docstring)
            opts=opts,
        )
        member = pulumi.Output.concat("serviceAccount:", email)
        instance = pulumi.Output.concat("projects/", self._project.project_id, "/instances/", self.instance.name)
        grants: list[pulumi.Resource] = [user]
        for role in CLIENT_ROLES:
            grants.append(
                gcp.projects.IAMMember(
                    f"{name}-{role.split('/')[1].replace('.', '-')}",
                    project=self._project.project_id,
                    role=role,
                    member=member,
                    condition=gcp.projects.IAMMemberConditionArgs(
                        title="platform-database-only",
                        description="the platform's Cloud SQL instance, no other",
                        expression=instance.apply(instance_condition),
                    ),
                    opts=opts,
                )
            )
        return grants

    def login(self, email: str) -> DatabaseLogin:
        """The login of the IAM user `email`: through the Auth Proxy sidecar on localhost."""
        return DatabaseLogin(
            username=iam_user_name(email),
            host="127.0.0.1",
            port=PORT,
            database=DB_NAME,
            sslmode="disable",  # the proxy encrypts (mTLS to the instance); localhost is in the pod
            sidecars=(proxy_sidecar(self.connection_name),),
            egress_ports=PROXY_PORTS,
        )


def iam_user_name(email: str) -> str:
    """The PostgreSQL user of a service account: its email without `.gserviceaccount.com`."""
    return email.removesuffix(".gserviceaccount.com")


def instance_condition(instance: str) -> str:
    """CEL limiting a Cloud SQL role to one instance (`projects/P/instances/I`)."""
    return f'resource.type == "sqladmin.googleapis.com/Instance" && resource.name == "{instance}"'


def proxy_sidecar(connection_name: pulumi.Input[str]) -> k8s.core.v1.ContainerArgs:
    """The Cloud SQL Auth Proxy as a native sidecar: started before the pod's other init containers,
    ready once it can serve, stopped after the main containers; restricted Pod Security."""
    probe = k8s.core.v1.HTTPGetActionArgs(path="/startup", port=PROXY_HEALTH_PORT)
    return k8s.core.v1.ContainerArgs(
        name="cloud-sql-proxy",
        image=PROXY_IMAGE,
        image_pull_policy="IfNotPresent",
        restart_policy="Always",
        args=[
            "--auto-iam-authn",
            "--private-ip",
            "--structured-logs",
            "--exit-zero-on-sigterm",
            f"--port={PORT}",
            "--address=127.0.0.1",
            "--health-check",
            "--http-address=0.0.0.0",  # kubelet probes the pod IP
            f"--http-port={PROXY_HEALTH_PORT}",
            connection_name,
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="proxy-health", container_port=PROXY_HEALTH_PORT)],
        startup_probe=k8s.core.v1.ProbeArgs(http_get=probe, period_seconds=2, failure_threshold=60),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/liveness", port=PROXY_HEALTH_PORT), period_seconds=20
        ),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"}
        ),
        security_context=k8s.core.v1.SecurityContextArgs(
            run_as_non_root=True,
            run_as_user=65532,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
    )
