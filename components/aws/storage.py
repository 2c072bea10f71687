"""S3 buckets for datasets, artifacts, models and logs.

Every bucket: all four public-access blocks, bucket-owner-enforced ownership (no ACLs), SSE-KMS
with bucket keys, versioning (checkpoint and model rollback), a TLS-only policy, server access logs
to the logs bucket, and a lifecycle for noncurrent versions and abandoned multipart uploads.

The logs bucket is the one exception to SSE-KMS: S3 server access logging cannot deliver to a
bucket whose default encryption is SSE-KMS, so it uses SSE-S3 and accepts deliveries only from the
S3 logging service of this account.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.aws.kms import AccountInfo
from components.context import PlatformContext
from components.foundation import BucketRef
from infra.config import BucketSpec

LOGS = "logs"


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
    ref: BucketRef

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        spec: BucketSpec,
        kms_key_arn: pulumi.Input[str] | None,
        log_bucket: aws.s3.Bucket | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:aws:Bucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        physical = f"{ctx.prefix}-{spec.name}-{account.account_id}"[:63]
        self.bucket = aws.s3.Bucket(
            name,
            bucket=physical,
            force_destroy=not ctx.prod,
            tags=ctx.tags(Name=physical, **{"ml-platform/bucket": spec.name}),
            opts=ctx.stateful(child),
        )
        b = self.bucket
        on_bucket = pulumi.ResourceOptions(parent=b)
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
        if log_bucket is not None:
            aws.s3.BucketLogging(
                name,
                bucket=b.id,
                target_bucket=log_bucket.id,
                target_prefix=f"s3-access/{spec.name}/",
                opts=on_bucket,
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
        if spec.name == LOGS:
            statements.append(
                {
                    "Sid": "S3ServerAccessLogsDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(b.arn, "/s3-access/*"),
                    "Condition": {"StringEquals": {"aws:SourceAccount": account.account_id}},
                }
            )
        aws.s3.BucketPolicy(
            name,
            bucket=b.id,
            policy=iam.to_json(iam.document(*statements)),
            # A policy put before the public-access block exists could be briefly public.
            opts=pulumi.ResourceOptions(parent=b, depends_on=[pab]),
        )

        self.ref = BucketRef(key=spec.name, name=b.bucket, uri=pulumi.Output.concat("s3://", b.bucket))
        self.register_outputs({"bucket": b.bucket})


class Buckets(pulumi.ComponentResource):
    buckets: dict[str, Bucket]

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
        logs = Bucket(f"{name}-{LOGS}", ctx, account, ctx.spec.bucket(LOGS), None, None, child)
        self.buckets = {LOGS: logs}
        for spec in ctx.spec.buckets:
            if spec.name != LOGS:
                self.buckets[spec.name] = Bucket(
                    f"{name}-{spec.name}", ctx, account, spec, kms_key_arn, logs.bucket, child
                )
        self.register_outputs({k: b.bucket.bucket for k, b in self.buckets.items()})

    @property
    def refs(self) -> dict[str, BucketRef]:
        return {k: b.ref for k, b in self.buckets.items()}
