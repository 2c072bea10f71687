"""The AWS security rules (policy/security/aws.py), case by case, through pulumi_policy's analyzer.

Props are engine form as the reference stacks send them (see components/aws/*). The platform's own
add-on policies (Karpenter controller, cluster-autoscaler, KMS key policies) are checked as the
components build them, so a change there that a rule would reject fails here first.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.aws.cluster import CONTROL_PLANE_LOG_TYPES
from components.aws.karpenter import cluster_autoscaler_policy, controller_policy
from components.aws.kms import PURPOSES, AccountInfo, key_policy
from policy import runner
from policy.security import aws as rules
from tests.policy.cases import Case, check_case

ACCOUNT = AccountInfo(account_id="123456789012", partition="aws", region="us-west-2")
KEY = "arn:aws:kms:us-west-2:123456789012:key/14b5b36f-1015-d03c-6626-5942aa7eab9a"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/75EBC145B22638C73CFA70C4EEE58CCC"
OIDC_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def res(type_: str, props: dict[str, Any], name: str, **extra: Any) -> runner.Resource:
    return runner.resource(type_, props, name=name, **extra)


# --- EKS ------------------------------------------------------------------------------------------------

CLUSTER = "aws:eks/cluster:Cluster"


def cluster(**overrides: Any) -> dict[str, Any]:
    """The reference stacks' aws-prod cluster (private endpoint), with overrides."""
    base: dict[str, Any] = {
        "name": "mlp-aws-prod",
        "version": "1.35",
        "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True, "subnetIds": ["subnet-1"]},
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY}},
        "enabledClusterLogTypes": list(CONTROL_PLANE_LOG_TYPES),
        "upgradePolicy": {"supportType": "STANDARD"},
    }
    base.update(overrides)
    return base


def vpc_config(public: Any, cidrs: list[str] | None = None, private: bool = True) -> dict[str, Any]:
    config: dict[str, Any] = {"endpointPrivateAccess": private, "subnetIds": ["subnet-1"]}
    if public is not None:
        config["endpointPublicAccess"] = public
    if cidrs is not None:
        config["publicAccessCidrs"] = cidrs
    return config


def eks(policy: str, id: str, violates: bool, contains: str | None = None, config: Any = None, **props: Any) -> Case:
    return Case(policy, id, violates, CLUSTER, cluster(**props), contains=contains, config=config)


EKS_CASES = [
    eks("aws-eks-endpoint-private", "private", False),
    eks("aws-eks-endpoint-private", "public", True, "endpointPublicAccess is true", vpcConfig=vpc_config(True)),
    eks("aws-eks-endpoint-private", "public-unset", True, "EKS default is public", vpcConfig=vpc_config(None)),
    eks(
        "aws-eks-endpoint-private",
        "no-private-access",
        True,
        "endpointPrivateAccess is off",
        vpcConfig=vpc_config(False, private=False),
    ),
    eks("aws-eks-public-endpoint-restricted", "private", False, vpcConfig=vpc_config(False, ["0.0.0.0/0"])),
    eks("aws-eks-public-endpoint-restricted", "office-cidr", False, vpcConfig=vpc_config(True, ["203.0.113.0/24"])),
    eks(
        "aws-eks-public-endpoint-restricted",
        "world",
        True,
        "allows 0.0.0.0/0",
        vpcConfig=vpc_config(True, ["203.0.113.0/24", "0.0.0.0/0"]),
    ),
    eks("aws-eks-public-endpoint-restricted", "no-cidrs", True, "opens it to 0.0.0.0/0", vpcConfig=vpc_config(None)),
    eks(
        "aws-eks-public-endpoint-restricted",
        "broad",
        True,
        "broader than /8",
        vpcConfig=vpc_config(True, ["0.0.0.0/1"]),
    ),
    eks("aws-eks-public-endpoint-restricted", "not-cidr", True, "not a CIDR", vpcConfig=vpc_config(True, ["office"])),
    eks(
        "aws-eks-public-endpoint-restricted",
        "config-prefix",
        True,
        "broader than /28",
        config={"minPrefixLength": 28},
        vpcConfig=vpc_config(True, ["203.0.113.0/24"]),
    ),
    eks("aws-eks-secrets-encryption", "cmk", False),
    eks(
        "aws-eks-secrets-encryption",
        "list-form",
        False,
        encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": KEY}}],
    ),
    eks("aws-eks-secrets-encryption", "none", True, "no encryptionConfig", encryptionConfig=None),
    eks(
        "aws-eks-secrets-encryption",
        "no-key",
        True,
        "provider.keyArn",
        encryptionConfig={"resources": ["secrets"], "provider": {}},
    ),
    eks("aws-eks-control-plane-logging", "all-five", False),
    eks(
        "aws-eks-control-plane-logging",
        "no-audit",
        True,
        "audit, controllerManager",
        enabledClusterLogTypes=["api", "authenticator", "scheduler"],
    ),
    eks("aws-eks-control-plane-logging", "none", True, "api, audit", enabledClusterLogTypes=None),
    eks("aws-eks-supported-version", "1.35", False),
    eks("aws-eks-supported-version", "unset", False, version=None),
    eks("aws-eks-supported-version", "1.31", True, "1.31 is older than 1.35", version="1.31"),
    eks("aws-eks-supported-version", "1.34-after-its-standard-support", True, "older than 1.35", version="1.34"),
    eks("aws-eks-supported-version", "1.9-vs-1.34", True, "older", version="1.9"),
    eks("aws-eks-supported-version", "config", True, "older than 1.36", config={"minimumVersion": "1.36"}),
    eks("aws-eks-supported-version", "garbage", True, "not a Kubernetes minor version", version="latest"),
]

# --- nodes ----------------------------------------------------------------------------------------------

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"


def metadata(tokens: str | None = "required", hops: float | None = 1.0, endpoint: str = "enabled") -> dict[str, Any]:
    options: dict[str, Any] = {"httpEndpoint": endpoint, "instanceMetadataTags": "disabled"}
    if tokens is not None:
        options["httpTokens"] = tokens
    if hops is not None:
        options["httpPutResponseHopLimit"] = hops
    return {"description": "GPU pool", "metadataOptions": options}


NODE_GROUP_PROPS = {
    "clusterName": "mlp-aws-dev",
    "amiType": "AL2023_x86_64_NVIDIA",
    "launchTemplate": {"id": "lt-1", "version": "1"},
    "scalingConfig": {"minSize": 0.0, "maxSize": 2.0, "desiredSize": 0.0},
}

NODE_CASES = [
    Case("aws-eks-nodes-no-ssh", "node-group", False, NODE_GROUP, NODE_GROUP_PROPS),
    Case(
        "aws-eks-nodes-no-ssh",
        "ssh-open",
        True,
        NODE_GROUP,
        {**NODE_GROUP_PROPS, "remoteAccess": {"ec2SshKey": "ops"}},
        contains="from 0.0.0.0/0",
    ),
    Case(
        "aws-eks-nodes-no-ssh",
        "ssh-from-sg",
        True,
        NODE_GROUP,
        {**NODE_GROUP_PROPS, "remoteAccess": {"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-1"]}},
        contains="security groups listed",
    ),
    Case("aws-eks-nodes-no-ssh", "lt", False, LT, metadata()),
    Case("aws-eks-nodes-no-ssh", "lt-key", True, LT, {**metadata(), "keyName": "ops"}, contains="keyName 'ops'"),
    Case("aws-ec2-imdsv2-required", "required-hop-1", False, LT, metadata()),
    Case("aws-ec2-imdsv2-required", "required-hop-2", False, LT, metadata(hops=2.0)),
    Case("aws-ec2-imdsv2-required", "imds-off", False, LT, metadata(tokens="optional", endpoint="disabled")),
    Case("aws-ec2-imdsv2-required", "optional", True, LT, metadata(tokens="optional"), contains="'optional'"),
    Case("aws-ec2-imdsv2-required", "no-options", True, LT, {"description": "x"}, contains="IMDSv1 stays"),
    Case("aws-ec2-imdsv2-required", "hop-3", True, LT, metadata(hops=3.0), contains="HopLimit is 3 (at most 2)"),
    Case("aws-ec2-imdsv2-required", "config-hop", True, LT, metadata(hops=2.0), config={"maxHopLimit": 1}),
    Case("aws-ec2-imdsv2-required", "instance", True, INSTANCE, metadata(tokens="optional")),
    Case("aws-ec2-imds-hop-limit", "hop-1", False, LT, metadata()),
    Case("aws-ec2-imds-hop-limit", "hop-unset", False, LT, metadata(hops=None)),
    Case("aws-ec2-imds-hop-limit", "hop-2", True, LT, metadata(hops=2.0), contains="HopLimit is 2"),
]

# --- ECR ------------------------------------------------------------------------------------------------

REPO = "aws:ecr/repository:Repository"
REPO_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
REPO_PROPS = {
    "name": "mlp-aws-dev/serving",
    "imageTagMutability": "IMMUTABLE",
    "imageScanningConfiguration": {"scanOnPush": True},
    "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY}],
}
NO_SCAN = {**REPO_PROPS, "imageScanningConfiguration": {"scanOnPush": False}}


def registry_scanning(pattern: str, frequency: str = "CONTINUOUS_SCAN") -> runner.Resource:
    rule = {"scanFrequency": frequency, "repositoryFilters": [{"filter": pattern, "filterType": "WILDCARD"}]}
    return res(SCANNING, {"scanType": "ENHANCED", "rules": [rule]}, "scanning")


PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]

ECR_CASES = [
    Case("aws-ecr-scan-on-push", "scan-on-push", False, stack=[res(REPO, REPO_PROPS, "serving")]),
    Case(
        "aws-ecr-scan-on-push", "no-scan", True, stack=[res(REPO, NO_SCAN, "serving")], contains="mlp-aws-dev/serving"
    ),
    Case(
        "aws-ecr-scan-on-push",
        "registry-scanning",
        False,
        stack=[res(REPO, NO_SCAN, "serving"), registry_scanning("mlp-aws-dev/*")],
    ),
    Case(
        "aws-ecr-scan-on-push",
        "registry-scanning-other",
        True,
        stack=[res(REPO, NO_SCAN, "serving"), registry_scanning("other/*")],
    ),
    Case(
        "aws-ecr-scan-on-push",
        "registry-manual",
        True,
        stack=[res(REPO, NO_SCAN, "serving"), registry_scanning("*", "MANUAL")],
    ),
    Case("aws-ecr-immutable-tags", "immutable", False, REPO, REPO_PROPS),
    Case(
        "aws-ecr-immutable-tags",
        "mutable",
        True,
        REPO,
        {**REPO_PROPS, "imageTagMutability": "MUTABLE"},
        contains="MUTABLE",
    ),
    Case("aws-ecr-immutable-tags", "unset", True, REPO, {"name": "x"}, contains="overwritten"),
    Case(
        "aws-ecr-immutable-tags",
        "exclusion",
        False,
        REPO,
        {
            **REPO_PROPS,
            "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters": [{"filter": "dev-*", "filterType": "WILDCARD"}],
        },
    ),
    Case(
        "aws-ecr-immutable-tags",
        "exclusion-all",
        True,
        REPO,
        {
            **REPO_PROPS,
            "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters": [{"filter": "*", "filterType": "WILDCARD"}],
        },
        contains="every tag stays mutable",
    ),
    Case("aws-ecr-kms-encryption", "cmk", False, REPO, REPO_PROPS),
    Case("aws-ecr-kms-encryption", "aes", True, REPO, {"name": "x"}, contains="AES256"),
    Case(
        "aws-ecr-kms-encryption",
        "aws-managed",
        True,
        REPO,
        {**REPO_PROPS, "encryptionConfigurations": [{"encryptionType": "KMS"}]},
        contains="AWS-managed key",
    ),
    Case(
        "aws-ecr-policy-not-public",
        "public-pull",
        True,
        REPO_POLICY,
        {"repository": "x", "policy": doc(allow(PULL, Principal="*"))},
        contains="Principal '*'",
    ),
    Case(
        "aws-ecr-policy-not-public",
        "aws-star",
        True,
        REPO_POLICY,
        {"repository": "x", "policy": doc(allow(PULL, Principal={"AWS": "*"}))},
    ),
    Case(
        "aws-ecr-policy-not-public",
        "not-equals-is-not-a-restriction",
        True,
        REPO_POLICY,
        {
            "repository": "x",
            "policy": doc(allow(PULL, Principal="*", Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}})),
        },
    ),
    Case(
        "aws-ecr-policy-not-public",
        "org",
        False,
        REPO_POLICY,
        {
            "repository": "x",
            "policy": doc(allow(PULL, Principal="*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})),
        },
    ),
    Case(
        "aws-ecr-policy-not-public",
        "account",
        False,
        REPO_POLICY,
        {"repository": "x", "policy": doc(allow(PULL, Principal={"AWS": "arn:aws:iam::210987654321:root"}))},
    ),
]

# --- S3 -------------------------------------------------------------------------------------------------

BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PAB = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
FLAGS = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}
KMS_SSE = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}
AES_SSE = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}


def tls_policy(name: str) -> str:
    arn = f"arn:aws:s3:::{name}"
    return doc(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def bucket(
    name: str,
    *,
    sse: dict[str, Any] | None = KMS_SSE,
    log_to: runner.Resource | None = None,
    versioning: str | None = "Enabled",
    pab: dict[str, Any] | None = FLAGS,
    policy: str | None = "tls",
    **props: Any,
) -> list[runner.Resource]:
    """A bucket and its companions as components/aws/storage.py creates them (parented to the bucket)."""
    b = res(BUCKET, {"bucket": name, "forceDestroy": True, **props}, name)
    on = {"parent": b.urn, "dependencies": (b.urn,)}
    out = [b]
    if pab is not None:
        out.append(res(PAB, {"bucket": name, **pab}, f"{name}-pab", **on))
    if sse is not None:
        out.append(res(SSE, {"bucket": name, "rules": [sse]}, f"{name}-sse", **on))
    if versioning is not None:
        out.append(
            res(VERSIONING, {"bucket": name, "versioningConfiguration": {"status": versioning}}, f"{name}-v", **on)
        )
    if log_to is not None:
        props = {"bucket": name, "targetBucket": log_to.inputs["bucket"], "targetPrefix": f"s3-access/{name}/"}
        out.append(res(LOGGING, props, f"{name}-logging", parent=b.urn, dependencies=(b.urn, log_to.urn)))
    if policy is not None:
        text = tls_policy(name) if policy == "tls" else policy
        out.append(res(BUCKET_POLICY, {"bucket": name, "policy": text}, f"{name}-policy", **on))
    return out


def platform_buckets(**data: Any) -> list[runner.Resource]:
    """The log bucket (SSE-S3, no logging of its own) and one data bucket logging to it."""
    logs = bucket("mlp-logs", sse=AES_SSE)
    return [*logs, *bucket("mlp-models", log_to=logs[0], **data)]


def without(resources: list[runner.Resource], type_: str) -> list[runner.Resource]:
    return [r for r in resources if r.type != type_]


LOGS = bucket("mlp-logs", sse=AES_SSE)
UNPARENTED_PAB = res(PAB, {"bucket": "mlp-models", **FLAGS}, "pab")  # paired by the bucket input only
PREFIXED = res(BUCKET, {"bucketPrefix": "scratch-"}, "scratch")

S3_CASES = [
    Case("aws-s3-public-access-block", "platform", False, stack=platform_buckets()),
    Case(
        "aws-s3-public-access-block",
        "missing",
        True,
        stack=[*LOGS, *bucket("mlp-models", log_to=LOGS[0], pab=None)],
        contains="'mlp-models' has no BucketPublicAccessBlock",
    ),
    Case(
        "aws-s3-public-access-block",
        "by-bucket-name",
        False,
        stack=[*bucket("mlp-models", pab=None), UNPARENTED_PAB],
    ),
    Case(
        "aws-s3-public-access-block",
        "by-dependency",
        False,
        stack=[PREFIXED, res(PAB, FLAGS, "pab", dependencies=(PREFIXED.urn,))],
    ),
    Case(
        "aws-s3-public-access-block",
        "preview-unknown-bucket-id",  # at preview a new bucket's id is unknown: paired by parent
        False,
        stack=[
            *(new := [res(BUCKET, {"bucket": "[unknown]"}, "new")]),
            res(PAB, {"bucket": "[unknown]", **FLAGS}, "new-pab", parent=new[0].urn),
        ],
    ),
    Case("aws-s3-public-access-block", "account-level", False, stack=[PREFIXED, res(ACCOUNT_PAB, FLAGS, "account")]),
    Case(
        "aws-s3-public-access-block",
        "account-level-partial",
        True,
        stack=[PREFIXED, res(ACCOUNT_PAB, {**FLAGS, "restrictPublicBuckets": False}, "account")],
    ),
    Case("aws-s3-public-access-block-flags", "all-four", False, PAB, {"bucket": "b", **FLAGS}),
    Case(
        "aws-s3-public-access-block-flags",
        "policy-allowed",
        True,
        PAB,
        {"bucket": "b", **FLAGS, "blockPublicPolicy": False, "restrictPublicBuckets": False},
        contains="blockPublicPolicy, restrictPublicBuckets off",
    ),
    Case("aws-s3-public-access-block-flags", "account", True, ACCOUNT_PAB, {"blockPublicAcls": True}),
    Case("aws-s3-kms-encryption", "platform", False, stack=platform_buckets()),
    Case(
        "aws-s3-kms-encryption",
        "data-bucket-sse-s3",
        True,
        stack=[*LOGS, *bucket("mlp-models", log_to=LOGS[0], sse=AES_SSE)],
        contains="'mlp-models' default encryption is 'AES256'",
    ),
    Case(
        "aws-s3-kms-encryption",
        "aws-managed-key",
        True,
        stack=bucket("mlp-models", sse={"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}),
        contains="without kmsMasterKeyId",
    ),
    Case("aws-s3-kms-encryption", "none", True, stack=bucket("mlp-models", sse=None), contains="no server-side"),
    Case(
        "aws-s3-kms-encryption",
        "sse-s3-but-no-log-target",
        True,
        stack=bucket("mlp-logs", sse=AES_SSE),
        contains="'mlp-logs'",
    ),
    Case(
        "aws-s3-kms-encryption",
        "inline",
        False,
        stack=bucket("mlp-models", sse=None, serverSideEncryptionConfiguration={"rule": KMS_SSE}),
    ),
    Case("aws-s3-versioning", "enabled", False, stack=platform_buckets()),
    Case(
        "aws-s3-versioning",
        "missing",
        True,
        stack=bucket("mlp-models", versioning=None),
        contains="no BucketVersioning",
    ),
    Case(
        "aws-s3-versioning",
        "suspended",
        True,
        stack=bucket("mlp-models", versioning="Suspended"),
        contains="'Suspended'",
    ),
    Case(
        "aws-s3-versioning",
        "inline-enabled",
        False,
        stack=[res(BUCKET, {"bucket": "b", "versioning": {"enabled": True}}, "b")],
    ),
    Case("aws-s3-access-logging", "platform", False, stack=platform_buckets()),
    Case(
        "aws-s3-access-logging",
        "no-logging",
        True,
        stack=[*LOGS, *bucket("mlp-models")],
        contains="'mlp-models' has no server access logging",
    ),
    Case(
        "aws-s3-access-logging",
        "self",
        True,
        stack=[
            *(b := bucket("mlp-logs", sse=AES_SSE)),
            res(LOGGING, {"bucket": "mlp-logs", "targetBucket": "mlp-logs"}, "self", parent=b[0].urn),
        ],
        contains="to itself",
    ),
    Case(
        "aws-s3-access-logging",
        "inline",
        False,
        stack=[*LOGS, res(BUCKET, {"bucket": "b", "logging": {"targetBucket": "mlp-logs"}}, "b")],
    ),
    Case(
        "aws-s3-access-logging",
        "target-by-dependency",
        False,
        stack=[
            *(logs := [res(BUCKET, {"bucketPrefix": "logs-"}, "logs")]),
            *(data := [res(BUCKET, {"bucket": "data"}, "data")]),
            res(
                LOGGING, {"bucket": "data"}, "data-logging", parent=data[0].urn, dependencies=(data[0].urn, logs[0].urn)
            ),
        ],
    ),
    Case("aws-s3-tls-only", "platform", False, stack=platform_buckets()),
    Case(
        "aws-s3-tls-only",
        "preview-unknown-policy",  # checked again by `pulumi up` once the ARN is known
        False,
        stack=bucket("mlp-models", policy="[unknown]"),
    ),
    Case("aws-s3-tls-only", "no-policy", True, stack=bucket("mlp-models", policy=None), contains="aws:SecureTransport"),
    Case(
        "aws-s3-tls-only",
        "only-tls-version",
        True,
        stack=bucket(
            "mlp-models",
            policy=doc(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::mlp-models/*"],
                    "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                }
            ),
        ),
    ),
    Case(
        "aws-s3-tls-only",
        "deny-get-only",
        True,
        stack=bucket("mlp-models", policy=tls_policy("mlp-models").replace('"s3:*"', '"s3:GetObject"')),
    ),
    Case(
        "aws-s3-tls-only",
        "inline",
        False,
        stack=[res(BUCKET, {"bucket": "b", "policy": tls_policy("b")}, "b")],
    ),
    Case(
        "aws-s3-not-public",
        "public-read-policy",
        True,
        BUCKET_POLICY,
        {"bucket": "b", "policy": doc(allow("s3:GetObject", "arn:aws:s3:::b/*", Principal="*"))},
        contains="Principal '*' to 's3:GetObject'",
    ),
    Case(
        "aws-s3-not-public",
        "vpce",
        False,
        BUCKET_POLICY,
        {
            "bucket": "b",
            "policy": doc(
                allow(
                    "s3:GetObject",
                    "arn:aws:s3:::b/*",
                    Principal="*",
                    Condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c"}},
                )
            ),
        },
    ),
    Case(
        "aws-s3-not-public",
        "source-ip-world",
        True,
        BUCKET_POLICY,
        {
            "bucket": "b",
            "policy": doc(
                allow(
                    "s3:GetObject",
                    "arn:aws:s3:::b/*",
                    Principal="*",
                    Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
                )
            ),
        },
    ),
    Case("aws-s3-not-public", "tls-deny", False, BUCKET_POLICY, {"bucket": "b", "policy": tls_policy("b")}),
    Case(
        "aws-s3-not-public",
        "acl-public",
        True,
        BUCKET_ACL,
        {"bucket": "b", "acl": "public-read"},
        contains="'public-read'",
    ),
    Case(
        "aws-s3-not-public",
        "acl-grant",
        True,
        BUCKET_ACL,
        {
            "bucket": "b",
            "accessControlPolicy": {
                "grants": [
                    {
                        "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                        "permission": "READ",
                    }
                ],
                "owner": {"id": "abc"},
            },
        },
        contains="AllUsers",
    ),
    Case("aws-s3-not-public", "acl-private", False, BUCKET_ACL, {"bucket": "b", "acl": "private"}),
    Case("aws-s3-not-public", "bucket-inline-acl", True, BUCKET, {"bucket": "b", "acl": "public-read-write"}),
    Case("aws-s3-not-public", "bucket", False, BUCKET, {"bucket": "b", "forceDestroy": True}),
]

# --- KMS ------------------------------------------------------------------------------------------------

KMS = "aws:kms/key:Key"
KEY_PROPS = {
    "description": "ml-platform aws-dev: storage",
    "keyUsage": "ENCRYPT_DECRYPT",
    "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
    "enableKeyRotation": True,
    "rotationPeriodInDays": 365.0,
}
USE = ["kms:Decrypt", "kms:GenerateDataKey*"]

KMS_CASES = [
    Case("aws-kms-key-rotation", "rotating", False, KMS, KEY_PROPS),
    Case("aws-kms-key-rotation", "off", True, KMS, {**KEY_PROPS, "enableKeyRotation": False}, contains="off"),
    Case("aws-kms-key-rotation", "unset", True, KMS, {"description": "k"}),
    Case("aws-kms-key-rotation", "slow", True, KMS, {**KEY_PROPS, "rotationPeriodInDays": 730.0}, contains="730"),
    Case("aws-kms-key-rotation", "config", True, KMS, KEY_PROPS, config={"maxRotationDays": 180}),
    Case(
        "aws-kms-key-rotation",
        "asymmetric",
        False,
        KMS,
        {"keyUsage": "SIGN_VERIFY", "customerMasterKeySpec": "ECC_NIST_P256"},
    ),
    Case(
        "aws-kms-key-policy-not-public",
        "public",
        True,
        KMS,
        {**KEY_PROPS, "policy": doc(allow(USE, Principal={"AWS": "*"}))},
        contains="Principal '*'",
    ),
    Case(
        "aws-kms-key-policy-not-public",
        "caller-account",
        False,
        KMS,
        {
            **KEY_PROPS,
            "policy": doc(
                allow(
                    USE,
                    Principal={"AWS": "*"},
                    Condition={
                        "StringEquals": {
                            "kms:CallerAccount": "123456789012",
                            "kms:ViaService": "s3.us-west-2.amazonaws.com",
                        }
                    },
                )
            ),
        },
    ),
    Case(
        "aws-kms-key-policy-not-public",
        "key-policy-resource",
        True,
        "aws:kms/keyPolicy:KeyPolicy",
        {"keyId": "k", "policy": doc(allow("kms:*", Principal="*"))},
    ),
    *[
        Case(
            "aws-kms-key-policy-not-public",
            f"platform-{purpose}",
            False,
            KMS,
            {**KEY_PROPS, "policy": json.dumps(key_policy(purpose, ACCOUNT))},
        )
        for purpose in PURPOSES
    ],
]

# --- IAM ------------------------------------------------------------------------------------------------

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
OWNED = {"aws:ResourceTag/kubernetes.io/cluster/mlp": "owned"}


def role_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"role": "r", "policy": doc(*statements)}


KARPENTER = controller_policy(
    ACCOUNT,
    "mlp-aws-dev",
    "arn:aws:iam::123456789012:role/mlp-karpenter-node",
    "arn:aws:iam::123456789012:instance-profile/mlp-aws-dev-karpenter-node",
    "arn:aws:sqs:us-west-2:123456789012:mlp-aws-dev",
    KEY,
)


def web_identity(condition: dict[str, Any] | None = None, federated: str = OIDC_ARN) -> dict[str, Any]:
    """An IRSA trust policy as components/aws/iam.web_identity_trust builds it (unless overridden)."""
    if condition is None:
        condition = {
            "StringEquals": {
                f"{ISSUER}:sub": "system:serviceaccount:karpenter:karpenter",
                f"{ISSUER}:aud": "sts.amazonaws.com",
            }
        }
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": federated},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }
    return {"assumeRolePolicy": doc(statement)}


def service_trust(service: str, actions: Any = "sts:AssumeRole") -> dict[str, Any]:
    return {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Service": [service]}, "Action": actions})}


AUD = {f"{ISSUER}:aud": "sts.amazonaws.com"}

IAM_CASES = [
    Case(
        "aws-iam-no-admin-wildcard",
        "scoped",
        False,
        ROLE_POLICY,
        role_policy(allow("s3:GetObject", "arn:aws:s3:::b/*")),
    ),
    Case(
        "aws-iam-no-admin-wildcard",
        "star-star",
        True,
        ROLE_POLICY,
        role_policy(allow("*", "*")),
        contains="Action '*' on Resource '*'",
    ),
    Case(
        "aws-iam-no-admin-wildcard",
        "not-action",
        True,
        "aws:iam/policy:Policy",
        {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
        contains="every action except 'iam:*'",
    ),
    Case("aws-iam-no-admin-wildcard", "attach-admin", True, ATTACHMENT, {"role": "r", "policyArn": ADMIN_ARN}),
    Case(
        "aws-iam-no-admin-wildcard",
        "attach-worker",
        False,
        ATTACHMENT,
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
    ),
    Case("aws-iam-no-admin-wildcard", "role-managed-arns", True, ROLE, {"managedPolicyArns": [ADMIN_ARN]}),
    Case(
        "aws-iam-no-admin-wildcard",
        "role-inline",
        True,
        ROLE,
        {"inlinePolicies": [{"name": "all", "policy": doc(allow(["*"], ["*"]))}]},
        contains="inline policy 'all'",
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "object-read-anywhere",
        True,
        ROLE_POLICY,
        role_policy(allow(["s3:GetObject", "ec2:DescribeInstances"], "*", Sid="Read")),
        contains="statement 'Read' allows 's3:GetObject' on Resource '*'",
    ),
    Case("aws-iam-no-unscoped-resource", "service-wildcard", True, ROLE_POLICY, role_policy(allow("s3:*", ["*"]))),
    Case(
        "aws-iam-no-unscoped-resource",
        "pass-any-role",
        True,
        ROLE_POLICY,
        role_policy(
            allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
        ),
        contains="iam:PassRole",
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "kms-via-service",
        True,
        ROLE_POLICY,
        role_policy(
            allow("kms:Decrypt", "*", Condition={"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}})
        ),
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "not-resource",
        True,
        ROLE_POLICY,
        role_policy({"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::secret/*"}),
        contains="NotResource",
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "describe-and-login",
        False,
        ROLE_POLICY,
        role_policy(
            allow(["ec2:Describe*", "autoscaling:DescribeAutoScalingGroups", "ecr:GetAuthorizationToken"]),
            allow("pricing:GetProducts", ["*"]),
        ),
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "tag-scoped",
        False,
        ROLE_POLICY,
        role_policy(allow(["ec2:TerminateInstances"], "*", Condition={"StringEquals": OWNED})),
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "request-tag-required",
        False,
        ROLE_POLICY,
        role_policy(
            allow(
                "elasticloadbalancing:CreateLoadBalancer",
                "*",
                Condition={"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}},
            )
        ),
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "tag-excluded-is-not-scoped",
        True,
        ROLE_POLICY,
        role_policy(allow(["ec2:TerminateInstances"], "*", Condition={"StringNotEquals": OWNED})),
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "scoped-arns",
        False,
        ROLE_POLICY,
        role_policy(allow("s3:PutObject", ["arn:aws:s3:::mlp-models/teams/research/*"])),
    ),
    Case("aws-iam-no-unscoped-resource", "karpenter-controller", False, ROLE_POLICY, {"policy": json.dumps(KARPENTER)}),
    Case(
        "aws-iam-no-unscoped-resource",
        "cluster-autoscaler",
        False,
        ROLE_POLICY,
        {"policy": json.dumps(cluster_autoscaler_policy(ACCOUNT, "mlp-aws-dev"))},
    ),
    Case(
        "aws-iam-no-unscoped-resource",
        "role-inline",
        True,
        ROLE,
        {"inlinePolicies": [{"name": "w", "policy": doc(allow("dynamodb:PutItem"))}]},
    ),
    Case("aws-iam-irsa-trust-scoped", "one-service-account", False, ROLE, web_identity()),
    Case(
        "aws-iam-irsa-trust-scoped",
        "no-sub",
        True,
        ROLE,
        web_identity({"StringEquals": AUD}),
        contains="every service account",
    ),
    Case(
        "aws-iam-irsa-trust-scoped",
        "namespace-wildcard",
        True,
        ROLE,
        web_identity({"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:research:*"}, "StringEquals": AUD}),
        contains="with StringLike, not StringEquals",
    ),
    Case(
        "aws-iam-irsa-trust-scoped",
        "two-accounts",
        True,
        ROLE,
        web_identity(
            {
                "StringEquals": {
                    f"{ISSUER}:sub": ["system:serviceaccount:a:x", "system:serviceaccount:b:y"],
                    **AUD,
                }
            }
        ),
        contains="lists 2 service accounts",
    ),
    Case(
        "aws-iam-irsa-trust-scoped",
        "no-aud",
        True,
        ROLE,
        web_identity({"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:a:x"}}),
        contains=":aud' StringEquals sts.amazonaws.com",
    ),
    Case(
        "aws-iam-irsa-trust-scoped",
        "not-a-service-account",
        True,
        ROLE,
        web_identity({"StringEquals": {f"{ISSUER}:sub": "system:serviceaccounts:a", **AUD}}),
        contains="not one system:serviceaccount",
    ),
    Case(
        "aws-iam-irsa-trust-scoped",
        "pod-identity",
        False,
        ROLE,
        service_trust("pods.eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"]),
    ),
    Case(
        "aws-iam-irsa-trust-scoped",
        "github-oidc-not-eks",
        False,
        ROLE,
        web_identity(
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/ml-platform:*"}},
            federated="arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        ),
    ),
    Case("aws-iam-trust-not-public", "service", False, ROLE, service_trust("ec2.amazonaws.com")),
    Case("aws-iam-trust-not-public", "irsa", False, ROLE, web_identity()),
    Case(
        "aws-iam-trust-not-public",
        "anyone",
        True,
        ROLE,
        {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})},
        contains="any principal",
    ),
    Case(
        "aws-iam-trust-not-public",
        "anyone-in-org",
        False,
        ROLE,
        {
            "assumeRolePolicy": doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
                }
            )
        },
    ),
    Case(
        "aws-iam-trust-not-public",
        "federated-star",
        True,
        ROLE,
        web_identity({"StringEquals": AUD}, federated="*"),
    ),
]

# --- ElastiCache -----------------------------------------------------------------------------------------

CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
UNKNOWN = runner.UNKNOWN
SECRET = runner.SECRET
CACHE_PROPS: dict[str, Any] = {  # the aws-prod online store as components/aws/cache.py sends it
    "replicationGroupId": "mlp-aws-prod-features",
    "engine": "valkey",
    "engineVersion": "9.1",
    "nodeType": "cache.r7g.large",
    "clusterMode": "disabled",
    "numCacheClusters": 2.0,
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "port": 6379.0,
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "atRestEncryptionEnabled": True,
    "kmsKeyId": KEY,
    "authToken": SECRET,
    "authTokenUpdateStrategy": "ROTATE",
    "snapshotRetentionLimit": 7.0,
}


def cache(**changes: Any) -> dict[str, Any]:
    """CACHE_PROPS with inputs changed; None drops one."""
    out = {**CACHE_PROPS, **changes}
    return {k: v for k, v in out.items() if v is not None}


def cache_case(policy: str, id: str, violates: bool, contains: str | None = None, config: Any = None, **changes: Any):
    return Case(policy, id, violates, CACHE, cache(**changes), contains=contains, config=config)


CACHE_CASES = [
    cache_case("aws-elasticache-encrypted-cmk", "cmk", False),
    cache_case("aws-elasticache-encrypted-cmk", "preview-key", False, kmsKeyId=UNKNOWN),
    cache_case("aws-elasticache-encrypted-cmk", "valkey-default-on", False, atRestEncryptionEnabled=None),
    cache_case(
        "aws-elasticache-encrypted-cmk",
        "redis-default-off",
        True,
        "unset (off for engine redis)",
        engine="redis",
        atRestEncryptionEnabled=None,
        kmsKeyId=None,
    ),
    cache_case(
        "aws-elasticache-encrypted-cmk", "off", True, "atRestEncryptionEnabled is false", atRestEncryptionEnabled=False
    ),
    cache_case("aws-elasticache-encrypted-cmk", "service-key", True, "no kmsKeyId", kmsKeyId=None),
    cache_case("aws-elasticache-transit-encryption", "required", False),
    cache_case("aws-elasticache-transit-encryption", "mode-default", False, transitEncryptionMode=None),
    cache_case(
        "aws-elasticache-transit-encryption",
        "off",
        True,
        "transitEncryptionEnabled is false",
        transitEncryptionEnabled=False,
        transitEncryptionMode=None,
    ),
    cache_case(
        "aws-elasticache-transit-encryption",
        "unset",
        True,
        "unset (off)",
        transitEncryptionEnabled=None,
        transitEncryptionMode=None,
    ),
    cache_case(
        "aws-elasticache-transit-encryption", "preferred", True, "'preferred'", transitEncryptionMode="preferred"
    ),
    cache_case("aws-elasticache-auth", "token", False),
    cache_case("aws-elasticache-auth", "preview-token", False, authToken=UNKNOWN),
    cache_case(
        "aws-elasticache-auth", "write-only-token", False, authToken=None, authTokenWo=SECRET, authTokenWoVersion=1.0
    ),
    cache_case("aws-elasticache-auth", "rbac", False, authToken=None, userGroupIds=["mlp-features-users"]),
    cache_case("aws-elasticache-auth", "none", True, "no authToken (AUTH) and no userGroupIds", authToken=None),
    cache_case("aws-elasticache-auth", "empty-user-groups", True, "no authToken", authToken=None, userGroupIds=[]),
    cache_case("aws-elasticache-auth", "delete", True, "DELETE", authTokenUpdateStrategy="DELETE", authToken=None),
    cache_case("aws-elasticache-multi-az", "prod", False),
    cache_case(
        "aws-elasticache-multi-az",
        "dev-single-node",
        True,
        "automaticFailoverEnabled is false",
        numCacheClusters=1.0,
        automaticFailoverEnabled=False,
        multiAzEnabled=False,
    ),
    cache_case("aws-elasticache-multi-az", "failover-one-zone", True, "multiAzEnabled is unset", multiAzEnabled=None),
    cache_case("aws-elasticache-snapshots", "7-days", False),
    cache_case("aws-elasticache-snapshots", "dev-1-day", False, snapshotRetentionLimit=1.0),
    cache_case("aws-elasticache-snapshots", "off", True, "is 0 days", snapshotRetentionLimit=0.0),
    cache_case("aws-elasticache-snapshots", "unset", True, "unset", snapshotRetentionLimit=None),
    cache_case(
        "aws-elasticache-snapshots",
        "config-7",
        True,
        "at least 7",
        config={"minimumDays": 7},
        snapshotRetentionLimit=1.0,
    ),
]


# --- RDS ------------------------------------------------------------------------------------------------

DB = "aws:rds/instance:Instance"
AURORA = "aws:rds/cluster:Cluster"
PG = "aws:rds/parameterGroup:ParameterGroup"
CLUSTER_PG = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
DB_PROPS = {
    "engine": "postgres",
    "engineVersion": "16",
    "storageEncrypted": True,
    "kmsKeyId": KEY,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 14.0,
    "deletionProtection": True,
}


def params(family: str, **values: str) -> dict[str, Any]:
    return {"family": family, "parameters": [{"name": k.replace("__", "."), "value": v} for k, v in values.items()]}


RDS_CASES = [
    Case("aws-rds-encrypted-cmk", "cmk", False, DB, DB_PROPS),
    Case("aws-rds-encrypted-cmk", "plain", True, DB, {**DB_PROPS, "storageEncrypted": False}, contains="unencrypted"),
    Case("aws-rds-encrypted-cmk", "aws-key", True, DB, {**DB_PROPS, "kmsKeyId": None}, contains="AWS-managed key"),
    Case(
        "aws-rds-encrypted-cmk", "replica", False, DB, {"replicateSourceDb": "db-1", "instanceClass": "db.t4g.medium"}
    ),
    Case("aws-rds-encrypted-cmk", "aurora", True, AURORA, {"engine": "aurora-postgresql"}),
    Case("aws-rds-not-public", "private", False, DB, DB_PROPS),
    Case("aws-rds-not-public", "public", True, DB, {**DB_PROPS, "publiclyAccessible": True}, contains="public IP"),
    Case(
        "aws-rds-not-public",
        "cluster-instance",
        True,
        "aws:rds/clusterInstance:ClusterInstance",
        {"publiclyAccessible": True},
    ),
    Case("aws-rds-backup-retention", "14-days", False, DB, DB_PROPS),
    Case("aws-rds-backup-retention", "unset", True, DB, {"engine": "postgres"}, contains="API default is 1 day"),
    Case("aws-rds-backup-retention", "3-days", True, DB, {**DB_PROPS, "backupRetentionPeriod": 3.0}, contains="3 days"),
    Case(
        "aws-rds-backup-retention",
        "config",
        True,
        DB,
        {**DB_PROPS, "backupRetentionPeriod": 7.0},
        config={"minimumDays": 14},
    ),
    Case("aws-rds-backup-retention", "aurora", False, AURORA, {"backupRetentionPeriod": 7.0}),
    Case("aws-rds-deletion-protection", "on", False, DB, DB_PROPS),
    Case("aws-rds-deletion-protection", "off", True, DB, {**DB_PROPS, "deletionProtection": False}),
    Case("aws-rds-deletion-protection", "aurora-unset", True, AURORA, {"engine": "aurora-postgresql"}),
    Case("aws-rds-force-tls", "pg16-default", False, PG, params("postgres16", log_connections="1")),
    Case("aws-rds-force-tls", "pg16-forced", False, PG, params("postgres16", rds__force_ssl="1")),
    Case("aws-rds-force-tls", "pg16-off", True, PG, params("postgres16", rds__force_ssl="0"), contains="is 0"),
    Case("aws-rds-force-tls", "pg14-default", True, PG, params("postgres14"), contains="postgres14"),
    Case("aws-rds-force-tls", "pg14-forced", False, PG, params("postgres14", rds__force_ssl="1")),
    Case("aws-rds-force-tls", "mysql-default", True, PG, params("mysql8.0"), contains="require_secure_transport"),
    Case("aws-rds-force-tls", "mysql-on", False, PG, params("mysql8.0", require_secure_transport="ON")),
    Case("aws-rds-force-tls", "aurora-cluster", True, CLUSTER_PG, params("aurora-postgresql16")),
    Case(
        "aws-rds-force-tls", "aurora-cluster-on", False, CLUSTER_PG, params("aurora-postgresql16", rds__force_ssl="1")
    ),
    Case("aws-rds-force-tls", "aurora-instance-level", False, PG, params("aurora-postgresql16")),
]

# --- networking and logs --------------------------------------------------------------------------------

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def ingress(port: float, cidrs: list[str], protocol: str = "tcp", to: float | None = None) -> dict[str, Any]:
    return {"protocol": protocol, "fromPort": port, "toPort": port if to is None else to, "cidrBlocks": cidrs}


VPC_RES = res(VPC, {"cidrBlock": "10.40.0.0/16"}, "vpc")
GROUP = res(LOG_GROUP, {"name": "/aws/vpc/flow-logs", "kmsKeyId": KEY, "retentionInDays": 90.0}, "flow-logs")
FLOW = {"vpcId": "vpc-1", "trafficType": "ALL", "logDestinationType": "cloud-watch-logs"}

NET_CASES = [
    Case("aws-sg-no-public-admin-ports", "https", False, SG, {"ingress": [ingress(443.0, ["0.0.0.0/0"])]}),
    Case(
        "aws-sg-no-public-admin-ports",
        "ssh",
        True,
        SG,
        {"ingress": [ingress(22.0, ["0.0.0.0/0"])]},
        contains="0.0.0.0/0 to tcp 22: 22 (SSH)",
    ),
    Case("aws-sg-no-public-admin-ports", "ssh-vpn", False, SG, {"ingress": [ingress(22.0, ["10.8.0.0/16"])]}),
    Case(
        "aws-sg-no-public-admin-ports",
        "rule-range",
        True,
        SG_RULE,
        {"type": "ingress", **ingress(0.0, ["0.0.0.0/0"], to=65535.0), "securityGroupId": "sg-1"},
        contains="3389 (RDP)",
    ),
    Case(
        "aws-sg-no-public-admin-ports",
        "rule-egress",
        False,
        SG_RULE,
        {"type": "egress", **ingress(0.0, ["0.0.0.0/0"], protocol="-1"), "securityGroupId": "sg-1"},
    ),
    Case(
        "aws-sg-no-public-admin-ports",
        "ingress-rule-all-ipv6",
        True,
        INGRESS,
        {"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv6": "::/0"},
        contains="::/0 on all protocols",
    ),
    Case(
        "aws-sg-no-public-admin-ports",
        "ingress-rule-postgres-from-sg",
        False,
        INGRESS,
        {
            "securityGroupId": "sg-1",
            "ipProtocol": "tcp",
            "fromPort": 5432.0,
            "toPort": 5432.0,
            "referencedSecurityGroupId": "sg-2",
        },
    ),
    Case(
        "aws-sg-no-public-admin-ports",
        "ingress-rule-kubelet",
        True,
        INGRESS,
        {
            "securityGroupId": "sg-1",
            "ipProtocol": "tcp",
            "fromPort": 10250.0,
            "toPort": 10250.0,
            "cidrIpv4": "0.0.0.0/0",
        },
        contains="kubelet",
    ),
    Case(
        "aws-sg-no-public-admin-ports",
        "config-ports",
        True,
        SG,
        {"ingress": [ingress(8080.0, ["0.0.0.0/0"])]},
        config={"ports": [8080]},
        contains="8080",
    ),
    Case(
        "aws-sg-no-public-admin-ports", "icmp", False, SG, {"ingress": [ingress(-1.0, ["0.0.0.0/0"], protocol="icmp")]}
    ),
    Case(
        "aws-sg-no-public-admin-ports",
        "default-sg-empty",
        False,
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        {"vpcId": "vpc-1", "ingress": [], "egress": []},
    ),
    Case("aws-vpc-flow-logs", "none", True, stack=[VPC_RES], contains="'vpc' has no flow log"),
    Case(
        "aws-vpc-flow-logs",
        "depends-on-vpc",
        False,
        stack=[VPC_RES, GROUP, res(FLOW_LOG, FLOW, "flow", parent=GROUP.urn, dependencies=(GROUP.urn, VPC_RES.urn))],
    ),
    Case("aws-vpc-flow-logs", "parented", False, stack=[VPC_RES, res(FLOW_LOG, FLOW, "flow", parent=VPC_RES.urn)]),
    Case(
        "aws-vpc-flow-logs",
        "other-vpc",
        True,
        stack=[
            VPC_RES,
            other := res(VPC, {"cidrBlock": "10.50.0.0/16"}, "other"),
            res(FLOW_LOG, FLOW, "flow", dependencies=(other.urn,)),
        ],
    ),
    Case("aws-cloudwatch-log-group-kms", "cmk", False, LOG_GROUP, {"name": "/aws/eks/x/cluster", "kmsKeyId": KEY}),
    Case(
        "aws-cloudwatch-log-group-kms",
        "none",
        True,
        LOG_GROUP,
        {"name": "/aws/eks/x/cluster"},
        contains="'/aws/eks/x/cluster' has no kmsKeyId",
    ),
    Case("aws-cloudwatch-log-retention", "90", False, LOG_GROUP, {"name": "g", "retentionInDays": 90.0}),
    Case("aws-cloudwatch-log-retention", "never-expires", False, LOG_GROUP, {"name": "g"}),
    Case(
        "aws-cloudwatch-log-retention",
        "30",
        True,
        LOG_GROUP,
        {"name": "g", "retentionInDays": 30.0},
        contains="30 days",
    ),
    Case(
        "aws-cloudwatch-log-retention",
        "prod-config",
        True,
        LOG_GROUP,
        {"name": "g", "retentionInDays": 90.0},
        config={"minimumDays": 365},
    ),
]

CASES: list[Case] = [
    *EKS_CASES,
    *NODE_CASES,
    *ECR_CASES,
    *S3_CASES,
    *KMS_CASES,
    *IAM_CASES,
    *CACHE_CASES,
    *RDS_CASES,
    *NET_CASES,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.param_id)
def test_rule(case: Case) -> None:
    check_case(case)


def test_every_rule_has_both_kinds_of_case() -> None:
    names = {r.name for r in rules.RULES}
    assert len(names) >= 20
    for name in names:
        kinds = {c.violates for c in CASES if c.policy == name}
        assert kinds == {True, False}, f"{name}: cases {kinds}"


def test_prod_only_rules() -> None:
    """Deletion protection, a private endpoint, versioning and a Multi-AZ cache are mandatory in prod, advisory
    elsewhere."""
    prod_only = {r.name for r in rules.RULES if "prod-only" in (r.tags or [])}
    assert prod_only == {
        "aws-eks-endpoint-private",
        "aws-rds-deletion-protection",
        "aws-s3-versioning",
        "aws-elasticache-multi-az",
    }
