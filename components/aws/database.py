"""The model-registry database: RDS PostgreSQL in private subnets.

Encrypted with a CMK, never publicly accessible, reachable only from the cluster's security group,
TLS forced by parameter, master password generated and rotated by RDS in Secrets Manager (it never
passes through Pulumi state), IAM database authentication, automated backups; multi-AZ, deletion
protection and a final snapshot in prod.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.kms import KmsKeys
from components.aws.network import Network, cluster_only_security_group
from components.context import PlatformContext
from components.foundation import DatabaseRef

DB_NAME = "mlflow"
DB_USER = "mlflow_admin"
RDS_PREFIX_MAX = 63 - 26


class Database(pulumi.ComponentResource):
    instance: aws.rds.Instance
    ref: DatabaseRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        network: Network,
        keys: KmsKeys,
        client_security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:Database", name, None, opts)
        db = ctx.spec.database
        child = pulumi.ResourceOptions(parent=self)

        subnets = aws.rds.SubnetGroup(
            name,
            name_prefix=f"{ctx.prefix}-",
            subnet_ids=network.private_subnet_ids,
            description=f"{ctx.prefix} model registry (private subnets)",
            tags=ctx.tags(),
            opts=child,
        )
        sg = cluster_only_security_group(
            name,
            ctx,
            network,
            client_security_group_id,
            port=5432,
            service="PostgreSQL",
            tag_name=f"{ctx.prefix}-db",
            opts=child,
        )
        params = aws.rds.ParameterGroup(
            name,
            name_prefix=f"{ctx.prefix}-pg{db.postgres_version}-",
            family=f"postgres{db.postgres_version}",
            description=f"{ctx.prefix} model registry: TLS only, connection logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="1000"),
            ],
            tags=ctx.tags(),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.instance = aws.rds.Instance(
            name,
            # RDS identifiers are at most 63 characters, 26 of them the provider's unique suffix
            identifier_prefix=f"{ctx.prefix[: RDS_PREFIX_MAX - len('-registry-')].rstrip('-')}-registry-",
            engine="postgres",
            engine_version=db.postgres_version,
            auto_minor_version_upgrade=True,
            instance_class=db.instance_class or "db.t4g.medium",
            allocated_storage=db.storage_gb,
            max_allocated_storage=db.max_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=keys.arn("database"),
            db_name=DB_NAME,
            username=DB_USER,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=keys.arn("database"),
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name,
            publicly_accessible=False,
            multi_az=bool(db.multi_az),
            backup_retention_period=db.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            deletion_protection=ctx.prod,
            skip_final_snapshot=not ctx.prod,
            final_snapshot_identifier=f"{ctx.prefix}-registry-final" if ctx.prod else None,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=keys.arn("database"),
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=ctx.tags(Name=f"{ctx.prefix}-registry"),
            opts=ctx.stateful(child),
        )
        i = self.instance
        self.ref = DatabaseRef(
            host=i.address,
            port=i.port,
            database=DB_NAME,
            username=DB_USER,
            password_secret=i.master_user_secrets.apply(lambda s: s[0].secret_arn if s else ""),  # type: ignore[index]
        )
        self.register_outputs({"endpoint": i.endpoint})
