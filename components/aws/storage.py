"""S3 buckets for datasets, artifacts, models and logs.

Every platform bucket: all four public-access blocks, bucket-owner-enforced ownership (no ACLs), SSE-KMS
with bucket keys, versioning (checkpoint and model rollback), a TLS-only policy, server access logs, and
a lifecycle for noncurrent versions and abandoned multipart uploads. The logs bucket holds what the
platform logs (inference requests and responses, confidential data) and is no exception.

S3 server access logs go to one more bucket, the access-log bucket, which holds nothing else: S3 log
delivery cannot write to a bucket whose default encryption is SSE-KMS, so it uses SSE-S3 and accepts
deliveries only from the S3 logging service, for the platform's own buckets, each into its own prefix.
Its policy is that grant, so every bucket's logging configuration waits for it (PutBucketLogging checks
the target's grant and fails without it).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.aws.kms import AccountInfo
from components.context import PlatformContext
from components.foundation import BucketRef
from infra.config import AWS_ACCESS_LOG_BUCKET, BucketSpec

LOGS = "logs"
ACCESS_LOGS = AWS_ACCESS_LOG_BUCKET  # the S3 server access log bucket (not a platform bucket: not in `refs`)
ACCESS_LOG_PREFIX = "s3-access"
BUCKET_NAME_MAX = 63


def bucket_name(prefix: str, name: str, account_id: str) -> str:
    """`<prefix>-<name>-<account id>` within S3's 63 characters: the prefix shortens, never the account id
    (bucket names are global) or the bucket's own name."""
    suffix = f"-{name}-{account_id}"
    return f"{prefix[: BUCKET_NAME_MAX - len(suffix)].rstrip('-')}{suffix}"


def access_log_delivery(target_arn: pulumi.Input[str], source: str, source_arn: str, account_id: str) -> dict:
    """S3 log delivery may write `source`'s access logs into `source`'s prefix only (S3 user guide,
    "Permissions for log delivery": the logging service principal, aws:SourceArn and aws:SourceAccount)."""
    return {
        "Sid": "AccessLogsFrom" + "".join(part.title() for part in source.split("-")),
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": pulumi.Output.concat(target_arn, f"/{ACCESS_LOG_PREFIX}/{source}/*"),
        "Condition": {"ArnLike": {"aws:SourceArn": source_arn}, "StringEquals": {"aws:SourceAccount": account_id}},
    }


def tls_only_statements(arn: pulumi.Input[str]) -> list[dict]:
    objects = pulumi.Output.concat(arn, "/*")
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, objects],
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


class Bucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    ref: BucketRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        spec: BucketSpec,
        kms_key_arn: pulumi.Input[str] | None,
        log_target: Bucket | None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        log_sources: dict[str, str] | None = None,
    ) -> None:
        """`log_target`: the access-log bucket this bucket's server access logs go to; `log_sources`: for the
        access-log bucket, the buckets (key -> physical name) whose logs it accepts."""
        super().__init__("ml-platform:aws:Bucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        physical = bucket_name(ctx.prefix, spec.name, account.account_id)
        self.bucket = aws.s3.Bucket(
            name,
            bucket=physical,
            force_destroy=not ctx.prod,
            tags=ctx.tags(Name=physical, **{"ml-platform/bucket": spec.name}),
            opts=ctx.stateful(child),
        )
        b = self.bucket
        # The bucket's configuration holds no data: explicitly unprotected (not inherited from the bucket).
        on_bucket = pulumi.ResourceOptions(parent=b, protect=False)
        pab = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=b.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=on_bucket,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=b.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=on_bucket,
        )
        default = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
            )
            if kms_key_arn is not None
            else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=b.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=kms_key_arn is not None,
                )
            ],
            opts=on_bucket,
        )
        aws.s3.BucketVersioning(
            name,
            bucket=b.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled" if spec.versioning else "Suspended"
            ),
            opts=on_bucket,
        )
        if log_target is not None:
            aws.s3.BucketLogging(
                name,
                bucket=b.id,
                target_bucket=log_target.bucket.id,
                target_prefix=f"{ACCESS_LOG_PREFIX}/{spec.name}/",
                # PutBucketLogging checks the target's grant to the logging service: its bucket policy.
                opts=pulumi.ResourceOptions(parent=b, protect=False, depends_on=[log_target.policy]),
            )

        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            ),
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=spec.noncurrent_version_days or 30
                ),
            ),
        ]
        if spec.expiration_days:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-objects",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=spec.expiration_days),
                )
            )
        aws.s3.BucketLifecycleConfiguration(name, bucket=b.id, rules=rules, opts=on_bucket)

        statements = tls_only_statements(b.arn)
        for source, source_name in sorted((log_sources or {}).items()):
            source_arn = f"arn:{account.partition}:s3:::{source_name}"
            statements.append(access_log_delivery(b.arn, source, source_arn, account.account_id))
        self.policy = aws.s3.BucketPolicy(
            name,
            bucket=b.id,
            policy=iam.to_json(iam.document(*statements)),
            # A policy put before the public-access block exists could be briefly public.
            opts=pulumi.ResourceOptions(parent=b, protect=False, depends_on=[pab]),
        )

        self.ref = BucketRef(key=spec.name, name=b.bucket, uri=pulumi.Output.concat("s3://", b.bucket))
        self.register_outputs({"bucket": b.bucket})


class Buckets(pulumi.ComponentResource):
    buckets: dict[str, Bucket]  # the platform's buckets (datasets, artifacts, models, logs, ...)
    access_logs: Bucket  # where S3 delivers their server access logs

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        kms_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:Buckets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        logs = ctx.spec.bucket(LOGS)
        sources = {b.name: bucket_name(ctx.prefix, b.name, account.account_id) for b in ctx.spec.buckets}
        # Kept as long as the platform's logs, SSE-S3 (the only default encryption log delivery supports).
        self.access_logs = Bucket(
            f"{name}-{ACCESS_LOGS}",
            ctx,
            account,
            BucketSpec(
                name=ACCESS_LOGS,
                noncurrent_version_days=logs.noncurrent_version_days,
                expiration_days=logs.expiration_days,
            ),
            None,
            None,
            child,
            log_sources=sources,
        )
        self.buckets = {}
        for spec in ctx.spec.buckets:
            self.buckets[spec.name] = Bucket(
                f"{name}-{spec.name}", ctx, account, spec, kms_key_arn, self.access_logs, child
            )
        self.register_outputs({k: b.bucket.bucket for k, b in self.buckets.items()})

    @property
    def refs(self) -> dict[str, BucketRef]:
        return {k: b.ref for k, b in self.buckets.items()}
