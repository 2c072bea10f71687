"""Security rules for AWS resources (pulumi-aws 7 type tokens, engine-form inputs).

What the rules cover, and where the reference stacks meet them (components/aws/):

- EKS (cluster.py): private or CIDR-limited API endpoint, secrets envelope encryption with a CMK, all
  five control-plane log types, a Kubernetes version in standard support; nodes without SSH keys and
  with IMDSv2 (hop limit 2 at most; 1 advised: the system pool keeps 2 for add-ons that need IMDS).
- ECR (registry.py): scan on push (or registry-level scanning), immutable tags, a CMK, no public policy.
- S3 (storage.py): every bucket has a public access block with all four flags, CMK default encryption,
  versioning, server access logs and a TLS-only policy; no public policy or ACL. The log bucket is the
  documented exception to SSE-KMS and to access logging: S3 server access logging can only deliver to a
  bucket encrypted with SSE-S3, and a log bucket does not log to itself.
- KMS (kms.py): rotation on; key policies with no public principal.
- IAM (iam.py, karpenter.py, foundation.py): no admin wildcard, no unconstrained `Resource: "*"` for
  actions that can be scoped, IRSA trust limited to one service account with the STS audience, trust
  policies not public.
- RDS (database.py): CMK storage encryption, never public, backups kept, deletion protection (prod),
  TLS forced by parameter group.
- Networking and logs (network.py): no world-open admin ports, VPC flow logs, CloudWatch log groups
  with a CMK and a retention.
- ElastiCache (cache.py, the feature store's online store): encrypted at rest with a CMK, TLS required
  in transit, AUTH token or RBAC user group, automatic snapshots, and in prod automatic failover across
  availability zones. Inputs that are outputs of other resources at preview (the key ARN, the generated
  AUTH token) count as set.

Companion resources (S3 buckets' public access block, encryption, versioning, logging and policy;
VPC flow logs) are paired with their subject by StackRules; see `_BucketIndex` for how.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyComplianceFramework
from pulumi_policy.policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from policy import props as p
from policy.rule import (
    ADVISORY,
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    ResourceRule,
    Rule,
    Stack,
    StackRule,
    Target,
    checkov,
)

# --- type tokens --------------------------------------------------------------------------------------

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"

ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
ECR_SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")

KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"

IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY_TYPES = {  # type -> the input holding an identity-based policy document
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": "inlinePolicy",
}
IAM_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

ELASTICACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"

VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

TAGS = ["aws"]


def _aws_config(rule: str, cis: str | None = None) -> PolicyComplianceFramework:
    """An AWS Config managed rule (for controls checkov has no Terraform id for), with its CIS control."""
    return PolicyComplianceFramework(name="AWS Config", version="managed rules", reference=rule, specification=cis)


# --- shared helpers -----------------------------------------------------------------------------------


def _known(read: Callable[[], Any], default: Any = None) -> Any:
    """`read()`, or `default` where it touches a value unknown at preview (stack rules keep going)."""
    try:
        return read()
    except UnknownValueError:
        return default


def _world(cidr: Any) -> bool:
    """0.0.0.0/0 or ::/0 (any /0)."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _quote(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _sid(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f"statement '{sid}'" if sid else f"Statement[{index}]"


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return p.as_strings(statement.get("Action"))


def _conditions(statement: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(operator, key, values) for every condition of a statement."""
    out = []
    condition = p.mapping(statement, "Condition")
    for operator, block in condition.items():
        if p.is_map(block):
            for key, values in block.items():
                out.append((str(operator), str(key), p.as_strings(values)))
    return out


# Condition keys whose fixed values make a statement with a wildcard principal non-public: the list AWS's
# "public" evaluation uses for S3 Block Public Access and IAM Access Analyzer.
_RESTRICTING_KEYS = {
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:userid",
    "kms:calleraccount",
}
_POSITIVE_OPERATOR = re.compile(r"^(for(any|all)values:)?(stringequals|stringlike|arnequals|arnlike|ipaddress)$")


def _restricted(statement: Mapping[str, Any]) -> bool:
    """A condition pins the caller to fixed accounts, ARNs, organizations, VPCs or IP ranges."""
    for operator, key, values in _conditions(statement):
        if not _POSITIVE_OPERATOR.match(operator.lower()) or key.lower() not in _RESTRICTING_KEYS:
            continue
        if not values or any(v.strip() in ("*", "") or _world(v) for v in values):
            continue
        return True
    return False


def _public_grants(document: Mapping[str, Any] | None) -> Iterable[str]:
    """Allow statements that any principal can use (wildcard principal, no restricting condition)."""
    for i, statement in enumerate(p.statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement:
            yield f"{_sid(statement, i)} allows NotPrincipal (everyone but the listed principals)"
            continue
        if "*" in p.principals(statement) and not _restricted(statement):
            actions = _actions(statement) or p.as_strings(statement.get("NotAction"))
            yield (
                f"{_sid(statement, i)} allows Principal '*' to {_quote(actions)} with no condition on the "
                "caller's account, organization, source ARN or network"
            )


# --- EKS ------------------------------------------------------------------------------------------------


def _endpoint_public(t: Target) -> bool:
    """The EKS API default is a public endpoint: only an explicit false turns it off."""
    value = t.get("vpcConfig", "endpointPublicAccess")
    return value is None or p.truthy(value)


def _eks_private_endpoint(t: Target) -> Iterable[str]:
    if _endpoint_public(t):
        shown = t.get("vpcConfig", "endpointPublicAccess")
        state = "true" if shown is not None else "unset (the EKS default is public)"
        cidrs = p.as_strings(t.get("vpcConfig", "publicAccessCidrs"))
        limited = f" (from {', '.join(cidrs)})" if cidrs and not any(_world(c) for c in cidrs) else ""
        yield f"cluster endpointPublicAccess is {state}: the Kubernetes API is reachable from the internet{limited}"
    if not p.truthy(t.get("vpcConfig", "endpointPrivateAccess")):
        yield "cluster endpointPrivateAccess is off: nodes reach the API through its public endpoint"


def _eks_public_cidrs(t: Target) -> Iterable[str]:
    if not _endpoint_public(t):
        return
    cidrs = p.as_strings(t.get("vpcConfig", "publicAccessCidrs"))
    if not cidrs:
        yield "the public endpoint sets no publicAccessCidrs: EKS opens it to 0.0.0.0/0"
        return
    minimum = int(p.number(t.config.get("minPrefixLength"), 8) or 8)
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            yield f"publicAccessCidrs entry '{cidr}' is not a CIDR"
            continue
        if net.prefixlen == 0:
            yield f"publicAccessCidrs allows {cidr}: the Kubernetes API is open to the whole internet"
        elif net.prefixlen < minimum:
            yield f"publicAccessCidrs entry {cidr} is broader than /{minimum}: list office/VPN ranges"


def _eks_secrets_encryption(t: Target) -> Iterable[str]:
    configs = t.get("encryptionConfig")
    configs = list(configs) if p.is_list(configs) else [configs] if configs else []
    for config in configs:
        if "secrets" in p.as_strings(p.get(config, "resources")) and p.get(config, "provider", "keyArn"):
            return
    if not configs:
        yield "cluster has no encryptionConfig: Kubernetes secrets are not envelope-encrypted with a KMS key"
    else:
        yield "cluster encryptionConfig does not cover 'secrets' with a provider.keyArn (KMS key)"


CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


def _eks_logging(t: Target) -> Iterable[str]:
    enabled = set(p.as_strings(t.get("enabledClusterLogTypes")))
    missing = [log for log in CONTROL_PLANE_LOG_TYPES if log not in enabled]
    if missing:
        yield f"control-plane log types {', '.join(missing)} are not enabled (enabledClusterLogTypes)"


def _version(text: Any) -> tuple[int, ...] | None:
    match = re.match(r"^v?(\d+)\.(\d+)", str(text or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _eks_version(t: Target) -> Iterable[str]:
    version = t.get("version")
    if version is None:
        return  # EKS creates the newest version it offers
    minimum = str(t.config.get("minimumVersion", "1.35"))
    have, floor = _version(version), _version(minimum)
    if have is None:
        yield f"cluster version '{version}' is not a Kubernetes minor version"
    elif floor is not None and have < floor:
        yield f"cluster version {version} is older than {minimum}, the oldest in EKS standard support"


def _no_ssh(t: Target) -> Iterable[str]:
    if t.type == NODE_GROUP:
        key = t.get("remoteAccess", "ec2SshKey")
        if key:
            sources = p.as_strings(t.get("remoteAccess", "sourceSecurityGroupIds"))
            where = "from the security groups listed" if sources else "from 0.0.0.0/0 (no sourceSecurityGroupIds)"
            yield f"node group remoteAccess.ec2SshKey '{key}' opens SSH to the nodes {where}: use SSM"
    elif t.get("keyName"):
        yield f"launch template keyName '{t.get('keyName')}' puts an SSH key on the nodes: use SSM Session Manager"


def _hop_limit(t: Target) -> float | None:
    return p.number(t.get("metadataOptions", "httpPutResponseHopLimit"))


def _imdsv2(t: Target) -> Iterable[str]:
    options = t.get("metadataOptions")
    if str(p.get(options, "httpEndpoint", default="enabled")).lower() == "disabled":
        return
    tokens = p.get(options, "httpTokens")
    if str(tokens or "").lower() != "required":
        shown = f"'{tokens}'" if tokens else "unset (IMDSv1 stays available)"
        yield f"metadataOptions.httpTokens is {shown}, not 'required': IMDSv1 lets SSRF read node credentials"
    hops, most = _hop_limit(t), p.number(t.config.get("maxHopLimit"), 2) or 2
    if hops is not None and hops > most:
        yield f"metadataOptions.httpPutResponseHopLimit is {hops:g} (at most {most:g})"


def _imds_hop_one(t: Target) -> Iterable[str]:
    hops, most = _hop_limit(t), p.number(t.config.get("maxHopLimit"), 1) or 1
    if hops is not None and hops > most:
        yield (
            f"metadataOptions.httpPutResponseHopLimit is {hops:g}: pods on these nodes can reach the node "
            f"role's credentials (keep {most:g} unless an add-on on these nodes needs IMDS)"
        )


# --- ECR ------------------------------------------------------------------------------------------------


def _registry_scans(stack: Stack) -> list[tuple[str, str]]:
    """(filter pattern, frequency) of registry-level scanning rules that scan on push or continuously."""
    out = []
    for config in stack.of_type(ECR_SCANNING):
        for rule in _known(lambda c=config: p.items(c.props, "rules"), []):
            frequency = str(p.get(rule, "scanFrequency") or "")
            if frequency not in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
                continue
            for f in p.items(rule, "repositoryFilters"):
                if str(p.get(f, "filterType", default="WILDCARD")) == "WILDCARD" and p.get(f, "filter"):
                    out.append((str(p.get(f, "filter")), frequency))
    return out


def _ecr_scan(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Each repository scans images on push, itself or through a registry scanning rule whose wildcard
    filter matches its name (registry-level basic or enhanced scanning overrides the repository's flag)."""
    registry = _registry_scans(stack)
    for repo in stack.of_type(ECR_REPOSITORY):
        if p.truthy(_known(lambda r=repo: p.get(r.props, "imageScanningConfiguration", "scanOnPush"))):
            continue
        name = _known(lambda r=repo: p.get(r.props, "name"))
        if isinstance(name, str) and any(p.glob(pattern).match(name) for pattern, _ in registry):
            continue
        yield (
            f"repository '{name or repo.name}' does not scan images on push "
            "(imageScanningConfiguration.scanOnPush, or a registry scanning rule matching it)",
            repo.urn,
        )


def _ecr_immutable(t: Target) -> Iterable[str]:
    mutability = str(t.get("imageTagMutability") or "MUTABLE")
    if mutability == "IMMUTABLE":
        return
    if mutability == "IMMUTABLE_WITH_EXCLUSION":
        for f in p.items(t.props, "imageTagMutabilityExclusionFilters"):
            if str(p.get(f, "filter", default="")).strip("*") == "":
                yield f"imageTagMutabilityExclusionFilters has '{p.get(f, 'filter')}': every tag stays mutable"
        return
    yield f"imageTagMutability is {mutability}: a pushed tag can be overwritten with a different image"


def _ecr_kms(t: Target) -> Iterable[str]:
    configs = p.items(t.props, "encryptionConfigurations")
    kind = str(p.get(configs, 0, "encryptionType") or "AES256")
    if kind not in ("KMS", "KMS_DSSE"):
        yield f"encryptionType is {kind}: images are not encrypted with a KMS key"
    elif not p.get(configs, 0, "kmsKey"):
        yield f"encryptionType {kind} without kmsKey uses the AWS-managed key, not a customer-managed key"


def _policy_public(t: Target) -> Iterable[str]:
    yield from _public_grants(p.policy_document(t.get("policy")))


# --- S3 -------------------------------------------------------------------------------------------------


class _BucketIndex:
    """The stack's buckets, and which bucket a companion resource configures.

    A companion (public access block, encryption, versioning, logging, policy) belongs to the bucket
    that is (1) its parent (the components parent companions to their bucket: reliable at preview), else
    (2) the bucket whose `bucket` input equals the companion's `bucket` input (the S3 id is the bucket
    name; skipped where either is unknown at preview), else (3) the only bucket among its dependencies.
    """

    def __init__(self, stack: Stack) -> None:
        self.buckets = stack.of_type(*BUCKETS)
        self.by_urn = {b.urn: b for b in self.buckets}
        self.by_name: dict[str, PolicyResource] = {}
        for b in self.buckets:
            name = _known(lambda b=b: p.get(b.props, "bucket"))
            if isinstance(name, str) and name:
                self.by_name[name] = b
        self.stack = stack

    def name(self, bucket: PolicyResource) -> str:
        return next((n for n, b in self.by_name.items() if b is bucket), bucket.name)

    def owner(self, companion: PolicyResource) -> PolicyResource | None:
        if companion.parent is not None and companion.parent.urn in self.by_urn:
            return self.by_urn[companion.parent.urn]
        name = _known(lambda: p.get(companion.props, "bucket"))
        if isinstance(name, str) and name in self.by_name:
            return self.by_name[name]
        deps = [d for d in companion.dependencies if d.urn in self.by_urn]
        return self.by_urn[deps[0].urn] if len(deps) == 1 else None

    def companions(self, *types: str) -> dict[str, list[PolicyResource]]:
        """Bucket URN -> its companions of `types`."""
        out: dict[str, list[PolicyResource]] = {}
        for companion in self.stack.of_type(*types):
            owner = self.owner(companion)
            if owner is not None:
                out.setdefault(owner.urn, []).append(companion)
        return out

    def log_targets(self) -> set[str]:
        """URNs of buckets that receive server access logs (a BucketLogging's or inline `logging` target)."""
        targets: set[str] = set()
        for logging in self.stack.of_type(*BUCKET_LOGGING):
            target = _known(lambda lg=logging: p.get(lg.props, "targetBucket"))
            if isinstance(target, str) and target in self.by_name:
                targets.add(self.by_name[target].urn)
                continue
            source = self.owner(logging)
            others = [
                d for d in logging.dependencies if d.urn in self.by_urn and (source is None or d.urn != source.urn)
            ]
            if len(others) == 1:
                targets.add(others[0].urn)
        for bucket in self.buckets:
            target = _known(lambda b=bucket: p.get(b.props, "logging", "targetBucket"))
            if isinstance(target, str) and target in self.by_name:
                targets.add(self.by_name[target].urn)
        return targets


def _s3_pab_present(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every bucket has a BucketPublicAccessBlock, unless the account-level block sets all four flags."""
    for account in stack.of_type(ACCOUNT_PUBLIC_ACCESS_BLOCK):
        if all(p.truthy(_known(lambda a=account, f=f: p.get(a.props, f))) for f in PAB_FLAGS):
            return
    index = _BucketIndex(stack)
    blocks = index.companions(PUBLIC_ACCESS_BLOCK)
    for bucket in index.buckets:
        if bucket.urn not in blocks:
            yield f"bucket '{index.name(bucket)}' has no BucketPublicAccessBlock", bucket.urn


PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _s3_pab_flags(t: Target) -> Iterable[str]:
    off = [flag for flag in PAB_FLAGS if not p.truthy(t.get(flag))]
    if off:
        yield f"public access block leaves {', '.join(off)} off (all four must be true)"


def _sse_rules(resource: PolicyResource, inline: bool) -> list[Any]:
    if inline:
        rule = _known(lambda: p.get(resource.props, "serverSideEncryptionConfiguration", "rule"))
        return [rule] if rule else []
    return _known(lambda: p.items(resource.props, "rules"), [])


def _s3_kms(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Default encryption is SSE-KMS with a customer-managed key; a bucket that receives S3 server access
    logs may use SSE-S3 (AES256), the only default encryption log delivery supports."""
    index = _BucketIndex(stack)
    configs = index.companions(*BUCKET_SSE)
    targets = index.log_targets()
    for bucket in index.buckets:
        rules = [r for c in configs.get(bucket.urn, []) for r in _sse_rules(c, inline=False)]
        rules += _sse_rules(bucket, inline=True)
        name = index.name(bucket)
        if not rules:
            yield f"bucket '{name}' has no server-side encryption configuration (SSE-S3 default, no CMK)", bucket.urn
            continue
        for rule in rules:
            algorithm = str(p.get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") or "")
            key = p.get(rule, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
            if algorithm in ("aws:kms", "aws:kms:dsse") and key:
                continue
            if algorithm == "AES256" and bucket.urn in targets:
                continue  # server access log delivery supports SSE-S3 only
            if algorithm in ("aws:kms", "aws:kms:dsse"):
                yield f"bucket '{name}' uses {algorithm} without kmsMasterKeyId (the AWS-managed key)", bucket.urn
            else:
                yield (
                    f"bucket '{name}' default encryption is '{algorithm or 'unset'}', not aws:kms with a CMK",
                    bucket.urn,
                )


def _s3_versioning(stack: Stack) -> Iterable[tuple[str, str | None]]:
    index = _BucketIndex(stack)
    versionings = index.companions(*BUCKET_VERSIONING)
    for bucket in index.buckets:
        mine = versionings.get(bucket.urn, [])
        if p.truthy(_known(lambda b=bucket: p.get(b.props, "versioning", "enabled"))):
            continue
        if not mine:
            yield f"bucket '{index.name(bucket)}' has no BucketVersioning: overwritten objects are lost", bucket.urn
        for v in mine:
            status = _known(lambda v=v: p.get(v.props, "versioningConfiguration", "status"), "Enabled")
            if status != "Enabled":
                yield (
                    f"bucket '{index.name(bucket)}' versioning is '{status}', not Enabled: a bad model or "
                    "checkpoint write cannot be rolled back",
                    v.urn,
                )


def _s3_logging(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every bucket has server access logs (a BucketLogging or inline `logging`), except a log bucket:
    one that receives other buckets' access logs and so must not log to itself."""
    index = _BucketIndex(stack)
    loggings = index.companions(*BUCKET_LOGGING)
    targets = index.log_targets()
    for bucket in index.buckets:
        name = index.name(bucket)
        own = [_known(lambda lg=lg: p.get(lg.props, "targetBucket")) for lg in loggings.get(bucket.urn, [])]
        inline = _known(lambda b=bucket: p.get(b.props, "logging", "targetBucket"))
        if inline:
            own.append(inline)
        if name in own:
            yield f"bucket '{name}' delivers its access logs to itself (a log loop)", bucket.urn
        elif not own and bucket.urn not in targets:
            yield f"bucket '{name}' has no server access logging (BucketLogging to the log bucket)", bucket.urn


def _denies_http(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Deny" or "*" not in p.principals(statement):
        return False
    if not any(a in ("*", "s3:*") for a in _actions(statement)):
        return False
    if not any(r == "*" or r.endswith("/*") for r in p.as_strings(statement.get("Resource"))):
        return False
    return any(
        operator in ("Bool", "BoolIfExists") and key.lower() == "aws:securetransport" and "false" in values
        for operator, key, values in ((o, k, [str(v).lower() for v in vs]) for o, k, vs in _conditions(statement))
    )


def _s3_tls_only(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Each bucket's policy (BucketPolicy or inline) denies every S3 action over plain HTTP. A policy that
    is unknown at preview is checked when `pulumi up` runs the pack again with known values."""
    index = _BucketIndex(stack)
    policies = index.companions(BUCKET_POLICY)
    for bucket in index.buckets:
        sources = [_known(lambda r=r: p.get(r.props, "policy"), "?") for r in policies.get(bucket.urn, [])]
        inline = _known(lambda b=bucket: p.get(b.props, "policy"), "?")
        if inline:
            sources.append(inline)
        if "?" in sources:
            continue
        documents = [p.policy_document(s) for s in sources]
        if not any(_denies_http(s) for d in documents for s in p.statements(d)):
            yield (
                f"bucket '{index.name(bucket)}' policy does not deny s3:* when aws:SecureTransport is false "
                "(plain-HTTP requests are accepted)",
                bucket.urn,
            )


PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _s3_not_public(t: Target) -> Iterable[str]:
    if t.type == BUCKET_POLICY or (t.type in BUCKETS and t.get("policy")):
        yield from _public_grants(p.policy_document(t.get("policy")))
    acl = t.get("acl")
    if acl in PUBLIC_ACLS:
        yield f"canned ACL '{acl}' grants access to everyone"
    grants = p.items(t.props, "accessControlPolicy", "grants") + p.items(t.props, "grants")
    for grant in grants:
        uri = p.get(grant, "grantee", "uri") or p.get(grant, "uri")
        if uri in PUBLIC_GRANTEES:
            permission = p.get(grant, "permission") or p.as_strings(p.get(grant, "permissions"))
            yield f"ACL grants {permission} to {str(uri).rsplit('/', 1)[-1]}"


# --- KMS ------------------------------------------------------------------------------------------------


def _kms_rotation(t: Target) -> Iterable[str]:
    usage = str(t.get("keyUsage") or "ENCRYPT_DECRYPT")
    spec = str(t.get("customerMasterKeySpec") or t.get("keySpec") or "SYMMETRIC_DEFAULT")
    if usage != "ENCRYPT_DECRYPT" or spec != "SYMMETRIC_DEFAULT":
        return  # KMS rotates only symmetric encryption keys
    if not p.truthy(t.get("enableKeyRotation")):
        shown = "off" if t.get("enableKeyRotation") is not None else "unset (off)"
        yield f"enableKeyRotation is {shown}: the key material never changes"
        return
    period, most = p.number(t.get("rotationPeriodInDays")), p.number(t.config.get("maxRotationDays"), 365) or 365
    if period is not None and period > most:
        yield f"rotationPeriodInDays is {period:g} (at most {most:g})"


# --- IAM ------------------------------------------------------------------------------------------------


def _identity_documents(t: Target) -> list[tuple[str, dict[str, Any] | None]]:
    """(label, document) for every identity-based policy a resource carries."""
    if t.type == IAM_ROLE:
        return [
            (f"inline policy '{p.get(ip, 'name') or i}'", p.policy_document(p.get(ip, "policy")))
            for i, ip in enumerate(p.items(t.props, "inlinePolicies"))
            if p.get(ip, "policy")
        ]
    key = IAM_POLICY_TYPES.get(t.type)
    return [("policy", p.policy_document(t.get(key)))] if key else []


IDENTITY_POLICY_TYPES = [IAM_ROLE, *IAM_POLICY_TYPES]
ADMIN_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/AdministratorAccess$")


def _admin_wildcard(t: Target) -> Iterable[str]:
    arns = p.as_strings(t.get("managedPolicyArns")) if t.type == IAM_ROLE else []
    if t.type in IAM_ATTACHMENTS:
        arns = p.as_strings(t.get("policyArn"))
    for arn in arns:
        if ADMIN_POLICY.match(arn):
            yield f"attaches {arn}: full administrative access"
    for label, document in _identity_documents(t):
        for i, statement in enumerate(p.statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            resources = p.as_strings(statement.get("Resource"))
            if "*" not in resources and "NotResource" not in statement:
                continue
            if any(a in ("*", "*:*") for a in _actions(statement)):
                yield f"{label} {_sid(statement, i)} allows Action '*' on Resource '*': full administrative access"
            elif "NotAction" in statement:
                excluded = _quote(p.as_strings(statement.get("NotAction")))
                yield f"{label} {_sid(statement, i)} allows every action except {excluded} on Resource '*'"


# Actions that take no resource-level permissions (Resource "*" is the only valid value), or are
# read-only metadata calls: allowed on "*" (AWS Service Authorization Reference). Lowercase.
_STAR_ONLY = {
    "acm:listcertificates",
    "cloudwatch:getmetricdata",
    "cloudwatch:getmetricstatistics",
    "cloudwatch:listmetrics",
    "cloudwatch:putmetricdata",
    "ec2:getinstancetypesfrominstancerequirements",
    "ecr:getauthorizationtoken",
    "ecr-public:getauthorizationtoken",
    "eks:listclusters",
    "iam:listinstanceprofiles",
    "kms:listaliases",
    "kms:listkeys",
    "route53:listhostedzones",
    "route53:listhostedzonesbyname",
    "s3:listallmybuckets",
    "secretsmanager:getrandompassword",
    "secretsmanager:listsecrets",
    "servicequotas:getservicequota",
    "sts:getcalleridentity",
    "sts:getservicebearertoken",
    "xray:puttelemetryrecords",
    "xray:puttracesegments",
}
# Whole families that are read-only and (for these services) take no resource-level permissions.
_STAR_ONLY_PATTERNS = (
    re.compile(r"^[a-z0-9-]+:describe[a-z0-9]*\*?$"),  # Describe* metadata reads (ec2, autoscaling, elb, ...)
    re.compile(r"^pricing:[a-z*]+$"),
    re.compile(r"^tag:get[a-z*]*$"),
)
# Conditions that scope a mutating action on "*" to resources the platform owns or creates.
_SCOPING_KEY = re.compile(r"^([a-z0-9-]+:(resourcetag|requesttag)/.+|ec2:createaction)$")
_SCOPING_OPERATOR = re.compile(r"^(for(any|all)values:)?(stringequals|stringlike|stringequalsignorecase)$")


def _star_only(action: str) -> bool:
    action = action.lower()
    return action in _STAR_ONLY or any(pattern.match(action) for pattern in _STAR_ONLY_PATTERNS)


def _tag_scoped(statement: Mapping[str, Any]) -> bool:
    """A condition limits the statement to tagged resources (or to resources it creates), e.g.
    `aws:ResourceTag/kubernetes.io/cluster/<name>: owned`, or requires such a tag (`Null ... false`)."""
    for operator, key, values in _conditions(statement):
        if not _SCOPING_KEY.match(key.lower()) or not values:
            continue
        if _SCOPING_OPERATOR.match(operator.lower()) and all(v.strip("*") for v in values):
            return True
        if operator == "Null" and all(v.lower() == "false" for v in values):
            return True
    return False


def _unscoped_resource(t: Target) -> Iterable[str]:
    for label, document in _identity_documents(t):
        for i, statement in enumerate(p.statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            resources = p.as_strings(statement.get("Resource"))
            unscoped = "NotResource" in statement or "*" in resources
            if not unscoped:
                continue
            where = "NotResource" if "NotResource" in statement else "Resource '*'"
            # Action '*' and NotAction on '*' are administrator grants: aws-iam-no-admin-wildcard reports them.
            actions = [a for a in _actions(statement) if a not in ("*", "*:*")]
            offending = [a for a in actions if not _star_only(a)]
            if offending and not _tag_scoped(statement):
                yield (
                    f"{label} {_sid(statement, i)} allows {_quote(offending)} on {where}: scope it to resource "
                    "ARNs or condition it on resource/request tags"
                )


def _trust_statements(t: Target) -> list[dict[str, Any]]:
    return p.statements(p.policy_document(t.get("assumeRolePolicy")))


def _trust_public(t: Target) -> Iterable[str]:
    for i, statement in enumerate(_trust_statements(t)):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        federated = p.as_strings(p.get(principal, "Federated")) if p.is_map(principal) else []
        if ("*" in p.principals(statement) or "*" in federated) and not _restricted(statement):
            yield (
                f"trust {_sid(statement, i)} lets any principal ('*') assume the role with no condition "
                "on account, organization or source"
            )
        if "NotPrincipal" in statement:
            yield f"trust {_sid(statement, i)} uses NotPrincipal: everyone but the listed principals may assume it"


_EKS_ISSUER = re.compile(r":oidc-provider/(oidc\.eks\.[^/]+\.amazonaws\.com(?:\.cn)?/id/[^/]+)$")
_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _irsa_trust(t: Target) -> Iterable[str]:
    """Web-identity trust on an EKS OIDC provider: `<issuer>:sub` StringEquals exactly one
    `system:serviceaccount:<ns>:<sa>` and `<issuer>:aud` StringEquals `sts.amazonaws.com`.
    EKS Pod Identity trust (service principal pods.eks.amazonaws.com) has no subject to pin: it passes."""
    for i, statement in enumerate(_trust_statements(t)):
        if statement.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in _actions(statement)]
        if not any(a in ("sts:assumerolewithwebidentity", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        federated = p.as_strings(p.get(principal, "Federated")) if p.is_map(principal) else []
        for arn in federated:
            match = _EKS_ISSUER.search(arn)
            if not match:
                continue
            issuer = match.group(1)
            where = _sid(statement, i)
            conditions = [(o, k.lower(), v) for o, k, v in _conditions(statement)]
            subs = [(o, v) for o, k, v in conditions if k == f"{issuer.lower()}:sub"]
            auds = [(o, v) for o, k, v in conditions if k == f"{issuer.lower()}:aud"]
            if not subs:
                yield f"IRSA trust {where} does not condition '{issuer}:sub': every service account can assume it"
            for operator, values in subs:
                if operator != "StringEquals":
                    yield f"IRSA trust {where} matches ':sub' with {operator}, not StringEquals"
                if len(values) != 1:
                    yield f"IRSA trust {where} ':sub' lists {len(values)} service accounts (exactly one)"
                for value in values:
                    if not _SERVICE_ACCOUNT.match(value):
                        yield f"IRSA trust {where} ':sub' is '{value}', not one system:serviceaccount:<ns>:<sa>"
            if not any(o == "StringEquals" and v == ["sts.amazonaws.com"] for o, v in auds):
                yield f"IRSA trust {where} does not require '{issuer}:aud' StringEquals sts.amazonaws.com"


# --- RDS ------------------------------------------------------------------------------------------------


def _rds_encrypted(t: Target) -> Iterable[str]:
    if t.type == RDS_INSTANCE and t.get("replicateSourceDb"):
        return  # a read replica inherits its source's encryption
    if not p.truthy(t.get("storageEncrypted")):
        yield "storageEncrypted is off: the database storage, backups and snapshots are unencrypted"
    elif not t.get("kmsKeyId"):
        yield "storage is encrypted with the AWS-managed key (no kmsKeyId): use a customer-managed key"


def _rds_public(t: Target) -> Iterable[str]:
    if p.truthy(t.get("publiclyAccessible")):
        yield "publiclyAccessible is true: the database gets a public IP address and DNS name"


def _rds_backups(t: Target) -> Iterable[str]:
    if t.type == RDS_INSTANCE and t.get("replicateSourceDb"):
        return
    days, least = p.number(t.get("backupRetentionPeriod")), p.number(t.config.get("minimumDays"), 7) or 7
    if days is None:
        yield f"backupRetentionPeriod is unset (the API default is 1 day; at least {least:g})"
    elif days < least:
        yield f"backupRetentionPeriod is {days:g} days (at least {least:g})"


def _rds_deletion_protection(t: Target) -> Iterable[str]:
    if not p.truthy(t.get("deletionProtection")):
        yield "deletionProtection is off: one mistaken change or destroy deletes the database"


_PG_FAMILY = re.compile(r"^(aurora-)?postgres(ql)?(\d+)")
_MYSQL_FAMILY = re.compile(r"^(aurora-mysql|mysql|mariadb)")


def _rds_tls(t: Target) -> Iterable[str]:
    """PostgreSQL: `rds.force_ssl` 1 (the RDS default from PostgreSQL 15; earlier and Aurora: set it);
    MySQL/MariaDB: `require_secure_transport` ON (off by default). Aurora instance-level groups skip it:
    the cluster parameter group carries TLS for Aurora. An instance left on its engine's default parameter
    group is not checked here (RDS PostgreSQL 15+ forces TLS by default; older engines need a group)."""
    family = str(t.get("family") or "").lower()
    params = {str(p.get(x, "name")).lower(): str(p.get(x, "value")).lower() for x in p.items(t.props, "parameters")}
    if t.type == RDS_PARAMETER_GROUP and family.startswith("aurora"):
        return
    pg = _PG_FAMILY.match(family)
    if pg or family.startswith("sqlserver"):
        value = params.get("rds.force_ssl")
        default_on = bool(pg and not pg.group(1) and int(pg.group(3)) >= 15)
        if value is not None and value not in ("1", "true", "on"):
            yield f"parameter rds.force_ssl is {value}: clients may connect without TLS"
        elif value is None and not default_on:
            yield f"family {family} does not force TLS by default: set rds.force_ssl = 1"
    elif _MYSQL_FAMILY.match(family):
        value = params.get("require_secure_transport")
        if value not in ("1", "on", "true"):
            yield f"require_secure_transport is {value or 'unset (OFF)'}: clients may connect without TLS"


# --- security groups ------------------------------------------------------------------------------------

ADMIN_PORTS = {
    22: "SSH",
    23: "Telnet",
    3389: "RDP",
    5432: "PostgreSQL",
    3306: "MySQL",
    1433: "SQL Server",
    6379: "Redis",
    27017: "MongoDB",
    9200: "OpenSearch",
    6443: "Kubernetes API",
    2379: "etcd",
    2380: "etcd peer",
    10250: "kubelet",
    10255: "kubelet read-only",
    10257: "kube-controller-manager",
    10259: "kube-scheduler",
}


def _ingress(t: Target) -> list[tuple[str, float | None, float | None, list[str]]]:
    """(protocol, from port, to port, CIDRs) of every ingress rule a resource carries."""
    if t.type == INGRESS_RULE:
        cidrs = [c for c in (t.get("cidrIpv4"), t.get("cidrIpv6")) if c]
        return [(str(t.get("ipProtocol") or ""), p.number(t.get("fromPort")), p.number(t.get("toPort")), cidrs)]
    if t.type == SECURITY_GROUP_RULE:
        if t.get("type") != "ingress":
            return []
        rules = [t.props]
    else:
        rules = p.items(t.props, "ingress")
    return [
        (
            str(p.get(r, "protocol") or ""),
            p.number(p.get(r, "fromPort")),
            p.number(p.get(r, "toPort")),
            p.as_strings(p.get(r, "cidrBlocks")) + p.as_strings(p.get(r, "ipv6CidrBlocks")),
        )
        for r in rules
    ]


def _admin_ports(t: Target) -> Iterable[str]:
    configured = t.config.get("ports")
    ports = {int(x): ADMIN_PORTS.get(int(x), "admin") for x in configured} if configured else ADMIN_PORTS
    for protocol, low, high, cidrs in _ingress(t):
        world = [c for c in cidrs if _world(c)]
        if not world:
            continue
        source = " and ".join(world)
        if protocol.lower() in ("-1", "all"):
            yield f"ingress allows {source} on all protocols and ports"
            continue
        if protocol.lower() not in ("tcp", "udp", "6", "17"):
            continue
        first = 0 if low is None or low < 0 else int(low)
        last = 65535 if high is None or high < 0 else int(high)
        exposed = [f"{port} ({name})" for port, name in sorted(ports.items()) if first <= port <= last]
        if exposed:
            span = f"{first}" if first == last else f"{first}-{last}"
            yield f"ingress allows {source} to {protocol} {span}: {', '.join(exposed)}"


# --- ElastiCache ----------------------------------------------------------------------------------------

_UNKNOWN: Any = object()  # an input unknown at preview


def _read(t: Target, *path: str) -> Any:
    """The input at `path`, or `_UNKNOWN` where it is an output not known at preview."""
    return _known(lambda: t.get(*path), _UNKNOWN)


def _given(t: Target, *path: str) -> bool:
    """The input at `path` is set (non-empty). An output unknown at preview counts as set: it is another
    resource's value (a KMS key ARN, a generated password), never empty."""
    value = _read(t, *path)
    if value is _UNKNOWN:
        return True
    try:
        return bool(value)
    except UnknownValueError:  # a list whose length is unknown
        return True


def _flag(value: Any, default: str) -> str:
    return "false" if value is not None else f"unset ({default})"


def _elasticache_at_rest(t: Target) -> Iterable[str]:
    """At-rest encryption on (unset: on for the valkey engine, off for redis) with a customer-managed
    `kmsKeyId`; an unknown flag is decided when `pulumi up` checks known values."""
    enabled, engine = _read(t, "atRestEncryptionEnabled"), _read(t, "engine")
    if enabled is _UNKNOWN or engine is _UNKNOWN:
        return
    engine = str(engine or "redis").lower()
    on = p.truthy(enabled) if enabled is not None else engine == "valkey"
    if not on:
        shown = _flag(enabled, f"off for engine {engine}")
        yield f"atRestEncryptionEnabled is {shown}: cached data and snapshots are stored unencrypted"
    elif not _given(t, "kmsKeyId"):
        yield "at-rest encryption uses the ElastiCache-owned key (no kmsKeyId): use a customer-managed KMS key"


def _elasticache_transit(t: Target) -> Iterable[str]:
    """TLS in transit, with transitEncryptionMode `required` (the default when TLS is on at creation);
    `preferred` still accepts plain-text clients."""
    enabled, mode = _read(t, "transitEncryptionEnabled"), _read(t, "transitEncryptionMode")
    if enabled is _UNKNOWN:
        return
    if not p.truthy(enabled):
        yield (
            f"transitEncryptionEnabled is {_flag(enabled, 'off')}: clients and replicas talk to the cache in plain text"
        )
    elif mode is not _UNKNOWN and str(mode or "required").lower() != "required":
        yield f"transitEncryptionMode is '{mode}', not 'required': clients may still connect without TLS"


def _elasticache_auth(t: Target) -> Iterable[str]:
    """An AUTH token (`authToken` or the write-only `authTokenWo`) or an RBAC user group (`userGroupIds`)."""
    strategy = _read(t, "authTokenUpdateStrategy")
    if isinstance(strategy, str) and strategy.upper() == "DELETE":
        yield "authTokenUpdateStrategy is DELETE: the AUTH token is removed and clients connect unauthenticated"
    elif not (_given(t, "authToken") or _given(t, "authTokenWo") or _given(t, "userGroupIds")):
        yield (
            "no authToken (AUTH) and no userGroupIds (RBAC): any client that reaches the port can read and "
            "overwrite the cache"
        )


def _elasticache_multi_az(t: Target) -> Iterable[str]:
    failover, multi_az = _read(t, "automaticFailoverEnabled"), _read(t, "multiAzEnabled")
    if failover is not _UNKNOWN and not p.truthy(failover):
        yield f"automaticFailoverEnabled is {_flag(failover, 'off')}: a failed primary is not replaced by a replica"
    if multi_az is not _UNKNOWN and not p.truthy(multi_az):
        yield f"multiAzEnabled is {_flag(multi_az, 'off')}: the primary and its replicas may share one zone"


def _elasticache_snapshots(t: Target) -> Iterable[str]:
    raw = _read(t, "snapshotRetentionLimit")
    if raw is _UNKNOWN:
        return
    days, least = p.number(raw), p.number(t.config.get("minimumDays"), 1) or 1
    if days is None:
        yield f"snapshotRetentionLimit is unset (0: no automatic snapshots; at least {least:g} days)"
    elif days < least:
        yield f"snapshotRetentionLimit is {days:g} days (at least {least:g}; 0 turns automatic snapshots off)"


# --- VPC and logs ---------------------------------------------------------------------------------------


def _flow_logs(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every VPC the stack creates has a flow log: a FlowLog that depends on the VPC (its `vpcId` input is
    the VPC's id, an output, so the engine records the dependency) or is parented to it."""
    covered: set[str] = set()
    for flow in stack.of_type(FLOW_LOG):
        for dep in [*flow.dependencies, *([flow.parent] if flow.parent is not None else [])]:
            if dep.resource_type == VPC:
                covered.add(dep.urn)
    for vpc in stack.of_type(VPC):
        if vpc.urn not in covered:
            yield f"VPC '{vpc.name}' has no flow log: network traffic leaves no record", vpc.urn


def _log_group_kms(t: Target) -> Iterable[str]:
    if not t.get("kmsKeyId"):
        yield f"log group '{t.get('name') or t.name}' has no kmsKeyId: logs are encrypted with a service key only"


def _log_retention(t: Target) -> Iterable[str]:
    days, least = p.number(t.get("retentionInDays")), p.number(t.config.get("minimumDays"), 90) or 90
    if days and days < least:
        yield f"log group '{t.get('name') or t.name}' keeps logs {days:g} days (at least {least:g})"


# --- the rules ------------------------------------------------------------------------------------------

RULES: list[Rule] = [
    # EKS
    ResourceRule(
        name="aws-eks-endpoint-private",
        description="The EKS API endpoint is private (public access off, private access on).",
        remediation="Set cluster.endpointAccess: private in the stack file (run `pulumi up` from the VPC or VPN).",
        severity=HIGH,
        framework=checkov("CKV_AWS_39", "AVD-AWS-0040", cis="CIS Amazon EKS 5.4.2"),
        types=[EKS_CLUSTER],
        check=_eks_private_endpoint,
        tags=[*TAGS, "eks", "prod-only"],
    ),
    ResourceRule(
        name="aws-eks-public-endpoint-restricted",
        description="A public EKS API endpoint is limited to listed CIDRs, never 0.0.0.0/0.",
        remediation="List office/VPN ranges in cluster.allowedCidrs, or set cluster.endpointAccess: private.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_38", "AVD-AWS-0041", cis="CIS Amazon EKS 5.4.1"),
        types=[EKS_CLUSTER],
        check=_eks_public_cidrs,
        tags=[*TAGS, "eks"],
        config={
            "minPrefixLength": {
                "type": "integer",
                "default": 8,
                "minimum": 1,
                "maximum": 32,
                "description": "the broadest CIDR (prefix length) the public endpoint may allow",
            }
        },
    ),
    ResourceRule(
        name="aws-eks-secrets-encryption",
        description="Kubernetes secrets are envelope-encrypted with a KMS key.",
        remediation="Set encryptionConfig {resources: [secrets], provider.keyArn: <CMK ARN>} (cluster.py does).",
        severity=HIGH,
        framework=checkov("CKV_AWS_58", "AVD-AWS-0039", cis="CIS Amazon EKS 5.3.1"),
        types=[EKS_CLUSTER],
        check=_eks_secrets_encryption,
        tags=[*TAGS, "eks", "encryption"],
    ),
    ResourceRule(
        name="aws-eks-control-plane-logging",
        description="All five EKS control-plane log types (api, audit, authenticator, controllerManager, scheduler).",
        remediation="Set enabledClusterLogTypes to all five types (cluster.py's CONTROL_PLANE_LOG_TYPES).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_37", "AVD-AWS-0038", cis="CIS Amazon EKS 2.1.1"),
        types=[EKS_CLUSTER],
        check=_eks_logging,
        tags=[*TAGS, "eks", "logging"],
    ),
    ResourceRule(
        name="aws-eks-supported-version",
        description="The EKS cluster runs a Kubernetes version in standard support.",
        remediation="Raise cluster.kubernetesVersion to a version in EKS standard support and upgrade the cluster.",
        severity=HIGH,
        framework=checkov("CKV_AWS_339"),
        types=[EKS_CLUSTER],
        check=_eks_version,
        tags=[*TAGS, "eks"],
        config={
            "minimumVersion": {
                "type": "string",
                "default": "1.35",
                "pattern": r"^\d+\.\d+$",
                "description": (
                    "oldest Kubernetes minor version in EKS standard support (1.34 ended 2026-12-02, 1.35 ends "
                    "2027-03-27)"
                ),
            }
        },
    ),
    ResourceRule(
        name="aws-eks-nodes-no-ssh",
        description="EKS nodes carry no SSH key (node group remoteAccess, launch template keyName).",
        remediation="Drop remoteAccess / keyName; reach nodes through SSM Session Manager (the node role has it).",
        severity=HIGH,
        framework=checkov("CKV_AWS_100"),
        types=[NODE_GROUP, LAUNCH_TEMPLATE],
        check=_no_ssh,
        tags=[*TAGS, "eks", "nodes"],
    ),
    ResourceRule(
        name="aws-ec2-imdsv2-required",
        description="Instances and launch templates require IMDSv2 tokens, with a metadata hop limit of at most 2.",
        remediation="Set metadataOptions httpTokens: required and hop limit 1 (2 only where pods need IMDS).",
        severity=HIGH,
        framework=checkov("CKV_AWS_79", "AVD-AWS-0130", "AVD-AWS-0028"),
        types=[LAUNCH_TEMPLATE, EC2_INSTANCE, LAUNCH_CONFIGURATION],
        check=_imdsv2,
        tags=[*TAGS, "eks", "nodes"],
        config={
            "maxHopLimit": {
                "type": "integer",
                "default": 2,
                "minimum": 1,
                "maximum": 64,
                "description": "the highest metadata response hop limit allowed (2 lets add-on pods use IMDS)",
            }
        },
    ),
    ResourceRule(
        name="aws-ec2-imds-hop-limit",
        description="The instance metadata hop limit is 1, so pods cannot reach the node role's credentials.",
        remediation="Set httpPutResponseHopLimit 1; pods get their own IAM roles (IRSA); 2 only on the system pool.",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_341"),
        types=[LAUNCH_TEMPLATE, EC2_INSTANCE, LAUNCH_CONFIGURATION],
        check=_imds_hop_one,
        enforcement=ADVISORY,
        tags=[*TAGS, "eks", "nodes"],
        config={
            "maxHopLimit": {
                "type": "integer",
                "default": 1,
                "minimum": 1,
                "maximum": 64,
                "description": "the advised metadata response hop limit",
            }
        },
    ),
    # ECR
    StackRule(
        name="aws-ecr-scan-on-push",
        types=("aws:",),
        description="Every ECR repository scans images for vulnerabilities on push.",
        remediation="Set imageScanningConfiguration.scanOnPush: true, or a registry scanning rule that matches it.",
        severity=HIGH,
        framework=checkov("CKV_AWS_163", "AVD-AWS-0030", cis="CIS Amazon EKS 5.1.1"),
        check=_ecr_scan,
        tags=[*TAGS, "ecr", "supply-chain"],
    ),
    ResourceRule(
        name="aws-ecr-immutable-tags",
        description="ECR image tags are immutable.",
        remediation="Set imageTagMutability: IMMUTABLE (registry.py does).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_51", "AVD-AWS-0031"),
        types=[ECR_REPOSITORY],
        check=_ecr_immutable,
        tags=[*TAGS, "ecr", "supply-chain"],
    ),
    ResourceRule(
        name="aws-ecr-kms-encryption",
        description="ECR repositories are encrypted with a customer-managed KMS key.",
        remediation="Set encryptionConfigurations [{encryptionType: KMS, kmsKey: <CMK ARN>}] (registry.py does).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_136", "AVD-AWS-0033"),
        types=[ECR_REPOSITORY],
        check=_ecr_kms,
        tags=[*TAGS, "ecr", "encryption"],
    ),
    ResourceRule(
        name="aws-ecr-policy-not-public",
        description="No ECR repository policy grants access to any principal ('*') without a restricting condition.",
        remediation="Name the accounts or roles that pull, or add aws:PrincipalOrgID / aws:SourceAccount conditions.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_32", "AVD-AWS-0032"),
        types=[ECR_REPOSITORY_POLICY],
        check=_policy_public,
        tags=[*TAGS, "ecr", "public-exposure"],
    ),
    # S3
    StackRule(
        name="aws-s3-public-access-block",
        types=("aws:",),
        description="Every S3 bucket has a public access block (or the account-level block sets all four flags).",
        remediation="Create an aws.s3.BucketPublicAccessBlock for the bucket, parented to it (storage.py does).",
        severity=HIGH,
        framework=checkov("CKV2_AWS_6", "AVD-AWS-0094"),
        check=_s3_pab_present,
        tags=[*TAGS, "s3", "public-exposure"],
    ),
    ResourceRule(
        name="aws-s3-public-access-block-flags",
        description="S3 public access blocks set all four flags.",
        remediation="Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets to true.",
        severity=HIGH,
        framework=checkov(
            "CKV_AWS_53",
            "CKV_AWS_54",
            "CKV_AWS_55",
            "CKV_AWS_56",
            "AVD-AWS-0086",
            "AVD-AWS-0087",
            "AVD-AWS-0091",
            "AVD-AWS-0093",
        ),
        types=[PUBLIC_ACCESS_BLOCK, ACCOUNT_PUBLIC_ACCESS_BLOCK],
        check=_s3_pab_flags,
        tags=[*TAGS, "s3", "public-exposure"],
    ),
    StackRule(
        name="aws-s3-kms-encryption",
        types=("aws:",),
        description="S3 buckets default to SSE-KMS with a customer-managed key (the access-log bucket may use SSE-S3).",
        remediation="Add a BucketServerSideEncryptionConfiguration: aws:kms with kmsMasterKeyId (storage.py does).",
        severity=HIGH,
        framework=checkov("CKV_AWS_145", "CKV_AWS_19", "AVD-AWS-0132", "AVD-AWS-0088"),
        check=_s3_kms,
        tags=[*TAGS, "s3", "encryption"],
    ),
    StackRule(
        name="aws-s3-versioning",
        types=("aws:",),
        description="S3 buckets keep object versions, so a bad model or checkpoint write can be rolled back.",
        remediation="Keep versioning on in the stack's buckets (BucketVersioning status Enabled).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_21", "AVD-AWS-0090"),
        check=_s3_versioning,
        tags=[*TAGS, "s3", "prod-only"],
    ),
    StackRule(
        name="aws-s3-access-logging",
        types=("aws:",),
        description="Every S3 bucket but the log bucket delivers server access logs.",
        remediation="Add an aws.s3.BucketLogging to the stack's log bucket (storage.py does for every data bucket).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_18", "AVD-AWS-0089"),
        check=_s3_logging,
        tags=[*TAGS, "s3", "logging"],
    ),
    StackRule(
        name="aws-s3-tls-only",
        types=("aws:",),
        description="Every S3 bucket policy denies requests that do not use TLS (aws:SecureTransport false).",
        remediation="Deny s3:* to Principal '*' when aws:SecureTransport is false (storage.tls_only_statements).",
        severity=MEDIUM,
        framework=_aws_config("s3-bucket-ssl-requests-only", cis="CIS AWS Foundations Benchmark 3.0 2.1.1"),
        check=_s3_tls_only,
        tags=[*TAGS, "s3", "encryption"],
    ),
    ResourceRule(
        name="aws-s3-not-public",
        description="No S3 bucket policy or ACL grants access to everyone.",
        remediation="Remove the wildcard principal or public ACL grant; share with named principals or presigned URLs.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_70", "CKV_AWS_20", "CKV_AWS_57"),
        types=[BUCKET_POLICY, *BUCKET_ACL, *BUCKETS],
        check=_s3_not_public,
        tags=[*TAGS, "s3", "public-exposure"],
    ),
    # KMS
    ResourceRule(
        name="aws-kms-key-rotation",
        description="Symmetric KMS keys rotate their key material at least yearly.",
        remediation="Set enableKeyRotation: true (rotationPeriodInDays 365 or less), as kms.py does.",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_7", "AVD-AWS-0065"),
        types=[KMS_KEY],
        check=_kms_rotation,
        tags=[*TAGS, "kms", "encryption"],
        config={
            "maxRotationDays": {
                "type": "integer",
                "default": 365,
                "minimum": 90,
                "maximum": 2560,
                "description": "the longest rotation period allowed",
            }
        },
    ),
    ResourceRule(
        name="aws-kms-key-policy-not-public",
        description="No KMS key policy lets any principal ('*') use the key without a restricting condition.",
        remediation="Grant the account and named roles; a '*' principal needs kms:CallerAccount or aws:PrincipalOrgID.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_33"),
        types=[KMS_KEY, KMS_KEY_POLICY],
        check=_policy_public,
        tags=[*TAGS, "kms", "public-exposure"],
    ),
    # IAM
    ResourceRule(
        name="aws-iam-no-admin-wildcard",
        description="No IAM policy grants '*' actions on '*' resources, and AdministratorAccess is not attached.",
        remediation="Grant the actions the workload needs on its own resources (components/aws/iam.allow).",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_62", "CKV_AWS_1", "CKV_AWS_274", "AVD-AWS-0057"),
        types=[*IDENTITY_POLICY_TYPES, *IAM_ATTACHMENTS],
        check=_admin_wildcard,
        tags=[*TAGS, "iam", "least-privilege"],
    ),
    ResourceRule(
        name="aws-iam-no-unscoped-resource",
        description=(
            "IAM policies grant actions that support resource scoping on ARNs, not on '*' "
            "(read-only Describe calls and actions that only take '*' excepted; tag conditions scope a statement)."
        ),
        remediation="List the resource ARNs, or condition the statement on aws:ResourceTag / aws:RequestTag values.",
        severity=HIGH,
        framework=checkov("CKV_AWS_355", "CKV_AWS_290", "CKV_AWS_289", "CKV_AWS_286", "AVD-AWS-0057"),
        types=IDENTITY_POLICY_TYPES,
        check=_unscoped_resource,
        tags=[*TAGS, "iam", "least-privilege"],
    ),
    ResourceRule(
        name="aws-iam-irsa-trust-scoped",
        description="An IRSA role trusts exactly one Kubernetes service account of its cluster, with the STS audience.",
        remediation="Build the trust with components/aws/iam.web_identity_trust (StringEquals :sub and :aud).",
        severity=HIGH,
        framework=checkov("CKV_AWS_60", cis="CIS Amazon EKS 5.2.1"),
        types=[IAM_ROLE],
        check=_irsa_trust,
        tags=[*TAGS, "iam", "eks", "workload-identity"],
    ),
    ResourceRule(
        name="aws-iam-trust-not-public",
        description="No IAM role trust policy lets any principal assume the role.",
        remediation="Trust named accounts, roles, services or an OIDC provider with conditions, never Principal '*'.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_60", "CKV_AWS_61"),
        types=[IAM_ROLE],
        check=_trust_public,
        tags=[*TAGS, "iam", "public-exposure"],
    ),
    # RDS
    ResourceRule(
        name="aws-rds-encrypted-cmk",
        description="RDS storage is encrypted with a customer-managed KMS key.",
        remediation="Set storageEncrypted: true and kmsKeyId to the stack's database key (database.py does).",
        severity=HIGH,
        framework=checkov("CKV_AWS_16", "AVD-AWS-0080"),
        types=[RDS_INSTANCE, RDS_CLUSTER],
        check=_rds_encrypted,
        tags=[*TAGS, "rds", "encryption"],
    ),
    ResourceRule(
        name="aws-rds-not-public",
        description="RDS databases are not publicly accessible.",
        remediation="Set publiclyAccessible: false and reach the database from the VPC.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_17", "AVD-AWS-0180"),
        types=[RDS_INSTANCE, RDS_CLUSTER, RDS_CLUSTER_INSTANCE],
        check=_rds_public,
        tags=[*TAGS, "rds", "public-exposure"],
    ),
    ResourceRule(
        name="aws-rds-backup-retention",
        description="RDS automated backups are kept for at least the configured number of days.",
        remediation="Set database.backupRetentionDays (default 7, prod 14) in the stack file.",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_133", "AVD-AWS-0077"),
        types=[RDS_INSTANCE, RDS_CLUSTER],
        check=_rds_backups,
        tags=[*TAGS, "rds", "resilience"],
        config={
            "minimumDays": {
                "type": "integer",
                "default": 7,
                "minimum": 1,
                "maximum": 35,
                "description": "the shortest backup retention allowed",
            }
        },
    ),
    ResourceRule(
        name="aws-rds-deletion-protection",
        description="RDS databases have deletion protection on.",
        remediation="Set deletionProtection: true (database.py does in prod).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_293"),
        types=[RDS_INSTANCE, RDS_CLUSTER],
        check=_rds_deletion_protection,
        tags=[*TAGS, "rds", "resilience", "prod-only"],
    ),
    ResourceRule(
        name="aws-rds-force-tls",
        description="RDS parameter groups force TLS (PostgreSQL rds.force_ssl, MySQL require_secure_transport).",
        remediation="Set rds.force_ssl = 1 (PostgreSQL) or require_secure_transport = ON (MySQL) in the group.",
        severity=MEDIUM,
        framework=checkov("CKV2_AWS_69"),
        types=[RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP],
        check=_rds_tls,
        tags=[*TAGS, "rds", "encryption"],
    ),
    # ElastiCache
    ResourceRule(
        name="aws-elasticache-encrypted-cmk",
        description="ElastiCache replication groups are encrypted at rest with a customer-managed KMS key.",
        remediation="Set atRestEncryptionEnabled: true and kmsKeyId to the stack's cache key (cache.py does).",
        severity=HIGH,
        framework=checkov("CKV_AWS_29", "CKV_AWS_191", "AVD-AWS-0045"),
        types=[ELASTICACHE_GROUP],
        check=_elasticache_at_rest,
        tags=[*TAGS, "elasticache", "encryption"],
    ),
    ResourceRule(
        name="aws-elasticache-transit-encryption",
        description="ElastiCache replication groups require TLS in transit (mode required, not preferred).",
        remediation="Set transitEncryptionEnabled: true and transitEncryptionMode: required; clients connect with TLS.",
        severity=HIGH,
        framework=checkov("CKV_AWS_30", "AVD-AWS-0051"),
        types=[ELASTICACHE_GROUP],
        check=_elasticache_transit,
        tags=[*TAGS, "elasticache", "encryption"],
    ),
    ResourceRule(
        name="aws-elasticache-auth",
        description="ElastiCache replication groups authenticate clients (an AUTH token or an RBAC user group).",
        remediation="Set authToken from a generated secret (cache.py: RandomPassword) or userGroupIds (RBAC).",
        severity=HIGH,
        framework=checkov("CKV_AWS_31"),
        types=[ELASTICACHE_GROUP],
        check=_elasticache_auth,
        tags=[*TAGS, "elasticache", "authentication"],
    ),
    ResourceRule(
        name="aws-elasticache-multi-az",
        description="Production ElastiCache replication groups fail over automatically to a replica in another zone.",
        remediation="Set featureStore.onlineStore.replicas >= 1 (automaticFailoverEnabled and multiAzEnabled true).",
        severity=MEDIUM,
        framework=checkov("CKV2_AWS_50"),
        types=[ELASTICACHE_GROUP],
        check=_elasticache_multi_az,
        tags=[*TAGS, "elasticache", "resilience", "prod-only"],
    ),
    ResourceRule(
        name="aws-elasticache-snapshots",
        description="ElastiCache replication groups keep automatic snapshots.",
        remediation="Set snapshotRetentionLimit to at least minimumDays (cache.py: 1 day, 7 in prod).",
        severity=LOW,
        framework=checkov("CKV_AWS_134", "AVD-AWS-0050"),
        types=[ELASTICACHE_GROUP],
        check=_elasticache_snapshots,
        tags=[*TAGS, "elasticache", "resilience"],
        config={
            "minimumDays": {
                "type": "integer",
                "default": 1,
                "minimum": 1,
                "maximum": 35,
                "description": "the shortest snapshot retention allowed",
            }
        },
    ),
    # networking and logs
    ResourceRule(
        name="aws-sg-no-public-admin-ports",
        description="No security group rule opens admin or database ports (or all ports) to 0.0.0.0/0 or ::/0.",
        remediation="Allow the port from a security group or a private CIDR (VPN, bastion), never from the internet.",
        severity=CRITICAL,
        framework=checkov("CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_277", "AVD-AWS-0107"),
        types=[SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE],
        check=_admin_ports,
        tags=[*TAGS, "network", "public-exposure"],
        config={
            "ports": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                "default": sorted(ADMIN_PORTS),
                "description": "ports that must never be open to the internet",
            }
        },
    ),
    StackRule(
        name="aws-vpc-flow-logs",
        types=("aws:",),
        description="Every VPC the stack creates records flow logs.",
        remediation="Keep network.flowLogs on (network.py creates an aws.ec2.FlowLog to a KMS-encrypted log group).",
        severity=MEDIUM,
        framework=checkov("CKV2_AWS_11", "AVD-AWS-0178"),
        check=_flow_logs,
        tags=[*TAGS, "network", "logging"],
    ),
    ResourceRule(
        name="aws-cloudwatch-log-group-kms",
        description="CloudWatch log groups are encrypted with a customer-managed KMS key.",
        remediation="Set kmsKeyId to the stack's logs key (the key policy must allow logs.<region>.amazonaws.com).",
        severity=MEDIUM,
        framework=checkov("CKV_AWS_158", "AVD-AWS-0017"),
        types=[LOG_GROUP],
        check=_log_group_kms,
        tags=[*TAGS, "logging", "encryption"],
    ),
    ResourceRule(
        name="aws-cloudwatch-log-retention",
        description="CloudWatch log groups keep logs at least the configured number of days.",
        remediation="Raise cluster.logRetentionDays / network.flowLogRetentionDays (prod: 365).",
        severity=LOW,
        framework=checkov("CKV_AWS_338", "CKV_AWS_66"),
        types=[LOG_GROUP],
        check=_log_retention,
        tags=[*TAGS, "logging"],
        config={
            "minimumDays": {
                "type": "integer",
                "default": 90,
                "minimum": 1,
                "description": "the shortest retention allowed (CKV_AWS_338 asks 365: set it in the prod config)",
            }
        },
    ),
]
