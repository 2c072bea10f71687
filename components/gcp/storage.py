"""GCS buckets for datasets, artifacts, models and logs.

Every bucket: uniform bucket-level access (IAM only, no ACLs), public access prevention enforced,
CMEK with the storage key, versioning (checkpoint and model rollback), soft delete, a lifecycle for
noncurrent versions, expiring objects where the stack asks for it and abandoned multipart uploads,
and usage/storage logs to the logs bucket. `force_destroy` only outside prod.

Unlike S3, GCS can deliver access logs into a CMEK bucket (the storage service agent encrypts them),
so the logs bucket is CMEK too; it accepts log deliveries from `cloud-storage-analytics@google.com`
only, as the GCS access-log docs require. Bucket names are global: they carry the project id.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext
from components.foundation import BucketRef
from components.gcp.kms import ProjectInfo
from infra.config import BucketSpec

LOGS = "logs"
LOG_WRITER = "group:cloud-storage-analytics@google.com"
ABORT_UPLOADS_AFTER_DAYS = 7


def bucket_name(ctx: PlatformContext, project: ProjectInfo, key: str) -> str:
    """The globally unique physical name: prefix, logical name and project id, at most 63 characters."""
    return f"{ctx.prefix}-{key}-{project.project_id}"[:63].rstrip("-")


def lifecycle_rules(spec: BucketSpec) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    rules = [
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=ABORT_UPLOADS_AFTER_DAYS),
        ),
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                days_since_noncurrent_time=spec.noncurrent_version_days or 30, with_state="ARCHIVED"
            ),
        ),
    ]
    if spec.expiration_days:
        rules.append(
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=spec.expiration_days, with_state="LIVE"),
            )
        )
    return rules


class Bucket(pulumi.ComponentResource):
    bucket: gcp.storage.Bucket
    physical_name: str
    ref: BucketRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        spec: BucketSpec,
        *,
        kms_key: pulumi.Input[str],
        log_bucket: str | None,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:Bucket", name, None, opts)
        self.physical_name = bucket_name(ctx, project, spec.name)
        self.bucket = gcp.storage.Bucket(
            name,
            name=self.physical_name,
            project=project.project_id,
            location=project.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=kms_key),
            versioning=gcp.storage.BucketVersioningArgs(enabled=spec.versioning),
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=7 * 86400),
            lifecycle_rules=lifecycle_rules(spec),
            logging=(
                gcp.storage.BucketLoggingArgs(log_bucket=log_bucket, log_object_prefix=f"gcs-access/{spec.name}/")
                if log_bucket
                else None
            ),
            force_destroy=not ctx.prod,
            labels=ctx.labels(**{"ml-platform/bucket": spec.name}),
            opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=depends_on)),
        )
        if spec.name == LOGS:
            gcp.storage.BucketIAMMember(
                f"{name}-analytics-writer",
                bucket=self.bucket.name,
                role="roles/storage.objectCreator",
                member=LOG_WRITER,
                opts=pulumi.ResourceOptions(parent=self.bucket),
            )
        self.ref = BucketRef(key=spec.name, name=self.bucket.name, uri=pulumi.Output.concat("gs://", self.bucket.name))
        self.register_outputs({"bucket": self.bucket.name})


class Buckets(pulumi.ComponentResource):
    buckets: dict[str, Bucket]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project: ProjectInfo,
        *,
        kms_key: pulumi.Input[str],
        key_ready: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:gcp:Buckets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        logs = Bucket(
            f"{name}-{LOGS}",
            ctx,
            project,
            ctx.spec.bucket(LOGS),
            kms_key=kms_key,
            log_bucket=None,
            depends_on=key_ready,
            opts=child,
        )
        self.buckets = {LOGS: logs}
        for spec in ctx.spec.buckets:
            if spec.name != LOGS:
                self.buckets[spec.name] = Bucket(
                    f"{name}-{spec.name}",
                    ctx,
                    project,
                    spec,
                    kms_key=kms_key,
                    log_bucket=logs.physical_name,
                    depends_on=[*key_ready, logs.bucket],
                    opts=child,
                )
        self.register_outputs({k: b.bucket.name for k, b in self.buckets.items()})

    @property
    def refs(self) -> dict[str, BucketRef]:
        return {k: b.ref for k, b in self.buckets.items()}
