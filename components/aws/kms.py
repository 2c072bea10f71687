"""Customer-managed KMS keys, one per purpose, rotated yearly, with least-privilege key policies."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.context import PlatformContext

PURPOSES = ("cluster", "storage", "logs", "registry", "database", "ebs", "cache")


def needed(purpose: str, ctx: PlatformContext) -> bool:
    """Whether the stack uses a key for `purpose`: the online store's only with the feature store on."""
    return purpose != "cache" or ctx.spec.feature_store.enabled


@dataclass(frozen=True)
class AccountInfo:
    """The account, partition and region every ARN and key policy is built from."""

    account_id: str
    partition: str
    region: str
    dns_suffix: str = "amazonaws.com"
    service_prefix: str = "com.amazonaws"  # VPC endpoint service names (cn.com.amazonaws in China)
    # The IAM principal running the program (a role's ARN, not its session's), where it is known.
    caller_arn: str | None = None

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    def managed_policy(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"


def autoscaling_role_arn(account: AccountInfo) -> str:
    """The ARN of the account's Auto Scaling service-linked role (the name and path AWS gives it)."""
    return (
        f"arn:{account.partition}:iam::{account.account_id}:role/aws-service-role/"
        "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )


def key_policy(purpose: str, account: AccountInfo, asg_role: pulumi.Input[str] | None = None) -> dict:
    """The key policy of `purpose`. `asg_role` (the EBS key's) is the Auto Scaling service-linked role's ARN:
    KMS rejects a policy naming a principal that does not exist, so pass the ARN of the role resource (or of
    the role read from the account), not a string built before the role exists."""
    root = f"arn:{account.partition}:iam::{account.account_id}:root"
    statements = [
        # The account administers the key through IAM; no wildcard principal anywhere.
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    usage = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    if purpose == "logs":
        statements.append(
            {
                "Sid": "CloudWatchLogsEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{account.region}.{account.dns_suffix}"},
                "Action": usage,
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": account.arn("logs", "log-group:*")}},
            }
        )
    if purpose == "ebs":
        # Node groups launch through Auto Scaling: its service-linked role must be able to use the
        # key, or instances with CMK-encrypted volumes fail to start (Client.InternalError).
        asg_role = asg_role if asg_role is not None else autoscaling_role_arn(account)
        statements += [
            {
                "Sid": "AutoScalingUsesKey",
                "Effect": "Allow",
                "Principal": {"AWS": asg_role},
                "Action": usage,
                "Resource": "*",
            },
            {
                "Sid": "AutoScalingAttachesVolumes",
                "Effect": "Allow",
                "Principal": {"AWS": asg_role},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    return iam.document(*statements)


class KmsKeys(pulumi.ComponentResource):
    keys: dict[str, aws.kms.Key]

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        account: AccountInfo,
        opts: pulumi.ResourceOptions | None = None,
        *,
        asg_role: pulumi.Input[str] | None = None,
        ebs_after: list[pulumi.Resource] | None = None,
        ebs_tags: dict[str, str] | None = None,
    ) -> None:
        """`asg_role`: the Auto Scaling service-linked role's ARN for the EBS key's policy; `ebs_after`: what
        the EBS key must be created after (that role, where the stack creates it); `ebs_tags`: extra tags of
        the EBS key (the account prerequisites its policy presumes)."""
        super().__init__("ml-platform:aws:KmsKeys", name, None, opts)
        self.keys = {}
        for purpose in [p for p in PURPOSES if needed(p, ctx)]:
            ebs = purpose == "ebs"
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"ml-platform {ctx.stack}: {purpose}",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=30 if ctx.prod else 7,
                policy=iam.to_json(key_policy(purpose, account, asg_role if ebs else None)),
                tags=ctx.tags(Name=f"{ctx.prefix}-{purpose}", **((ebs_tags or {}) if ebs else {})),
                opts=ctx.stateful(pulumi.ResourceOptions(parent=self, depends_on=(ebs_after or []) if ebs else [])),
            )
            aws.kms.Alias(
                f"{name}-{purpose}",
                name=f"alias/{ctx.prefix}-{purpose}",
                target_key_id=key.key_id,
                # a name, not data: never inherit the key's `protect`
                opts=pulumi.ResourceOptions(parent=key, protect=False),
            )
            self.keys[purpose] = key
        self.register_outputs({p: k.arn for p, k in self.keys.items()})

    def arn(self, purpose: str) -> pulumi.Output[str]:
        return self.keys[purpose].arn
