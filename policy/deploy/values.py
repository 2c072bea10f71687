"""Values: what the API rejects or has removed, and what was never meant to be deployed.

The mocks echo any input; the real APIs check enums, required fields, name lengths and allowed sets at
create time. The tables below carry each limit with its source. Placeholders (the documentation's
account ids, address ranges and domains) pass every API check and still make a deploy wrong or
failing: they block a stack that is about to be deployed (a deploy gate, see policy.runner.run_facts).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy.policy import PolicyResource

from policy import props as p
from policy.deploy.graph import Graph, prop, short, strings
from policy.rule import HIGH, MEDIUM, ResourceRule, Stack, StackRule, Target, ml_platform

# --- removed and deprecated enum values -----------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    type: str
    path: tuple[str, ...]
    values: frozenset[str]
    why: str
    fix: str


REMOVED: tuple[Removed, ...] = (
    Removed(
        "gcp:container/cluster:Cluster",
        ("securityPostureConfig", "vulnerabilityMode"),
        frozenset({"VULNERABILITY_BASIC"}),
        "GKE Standard no longer offers basic vulnerability scanning (removed July 2025, GKE deprecations)",
        "use VULNERABILITY_DISABLED (Artifact Registry scans images) or VULNERABILITY_ENTERPRISE",
    ),
    Removed(
        "aws:eks/nodeGroup:NodeGroup",
        ("amiType",),
        frozenset({"AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64"}),
        "EKS publishes no Amazon Linux 2 AMIs for Kubernetes 1.33 and later (AL2 support ended 2025-11-26)",
        "use AL2023_x86_64_STANDARD / AL2023_x86_64_NVIDIA or BOTTLEROCKET_*",
    ),
    Removed(
        "gcp:container/cluster:Cluster",
        ("loggingService",),
        frozenset({"logging.googleapis.com"}),
        "legacy Stackdriver Logging was removed from GKE",
        "use logging.googleapis.com/kubernetes (or loggingConfig)",
    ),
)


def _removed_values(target: Target) -> Iterator[str]:
    for entry in REMOVED:
        if entry.type != target.type:
            continue
        value = target.get(*entry.path)
        if isinstance(value, str) and value in entry.values:
            yield f"{'.'.join(entry.path)}: {value}: {entry.why}; {entry.fix}"


REMOVED_VALUES = ResourceRule(
    name="deploy-removed-values",
    description="No input uses an enum value the API has removed or rejects for this resource kind.",
    remediation="Replace the value as the message says (each entry of REMOVED in policy/deploy/values.py cites why).",
    severity=HIGH,
    framework=ml_platform("MLP-DEPLOY-11", "provider and API deprecation notices (GKE, EKS)"),
    types=sorted({r.type for r in REMOVED}),
    check=_removed_values,
    tags=["deploy", "values"],
)


# --- Cloud SQL users that need a password ---------------------------------------------------------------


def _sql_user_password(target: Target) -> Iterator[str]:
    kind = target.get("type") or "BUILT_IN"
    if kind != "BUILT_IN":
        return
    if target.get("password") is None and target.get("passwordWo") is None:
        yield (
            f"a BUILT_IN user '{target.get('name')}' has no password: Cloud SQL for PostgreSQL requires one (and a "
            "password policy on the instance checks it); set password_wo from secret config, or make it a "
            "CLOUD_IAM_USER / CLOUD_IAM_SERVICE_ACCOUNT"
        )


SQL_USER_PASSWORD = ResourceRule(
    name="deploy-gcp-sql-user-password",
    description="A Cloud SQL BUILT_IN user is created with a password (PostgreSQL requires one).",
    remediation="Give the user a password (password_wo from a secret) or make it an IAM user.",
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-12",
        "registry.terraform.io google_sql_user: password is required for Postgres unless type is CLOUD_IAM_*",
    ),
    types=["gcp:sql/user:User"],
    check=_sql_user_password,
    tags=["deploy", "values", "gcp", "database"],
)


# --- name lengths ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameLimit:
    type: str
    prop: str
    max: int
    min: int = 1
    pattern: str | None = None


# Sources: each API's CreateX reference (or the bridged provider's validation) at the pinned versions.
NAME_LIMITS: tuple[NameLimit, ...] = (
    NameLimit("aws:eks/cluster:Cluster", "name", 100),
    NameLimit("aws:eks/nodeGroup:NodeGroup", "nodeGroupName", 63),
    NameLimit("aws:eks/nodeGroup:NodeGroup", "nodeGroupNamePrefix", 37),  # 63 less the provider's 26-char suffix
    NameLimit("aws:iam/role:Role", "name", 64),
    NameLimit("aws:iam/role:Role", "namePrefix", 38),
    NameLimit("aws:iam/policy:Policy", "name", 128),
    NameLimit("aws:iam/instanceProfile:InstanceProfile", "name", 128),
    NameLimit("aws:s3/bucket:Bucket", "bucket", 63, 3, r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"),
    NameLimit("aws:s3/bucketV2:BucketV2", "bucket", 63, 3, r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"),
    NameLimit("aws:s3/bucket:Bucket", "bucketPrefix", 37),
    NameLimit("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId", 40),
    NameLimit("aws:rds/instance:Instance", "identifier", 63),
    NameLimit("aws:rds/instance:Instance", "identifierPrefix", 37),
    NameLimit("aws:sqs/queue:Queue", "name", 80),
    NameLimit("aws:cloudwatch/eventRule:EventRule", "name", 64),
    NameLimit("aws:cloudwatch/logGroup:LogGroup", "name", 512),
    NameLimit("aws:ecr/repository:Repository", "name", 256, 2),
    NameLimit("gcp:serviceaccount/account:Account", "accountId", 30, 6, r"^[a-z][a-z0-9-]*[a-z0-9]$"),
    NameLimit("gcp:storage/bucket:Bucket", "name", 63, 3, r"^[a-z0-9][a-z0-9_.-]*[a-z0-9]$"),
    NameLimit("gcp:container/cluster:Cluster", "name", 40, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:container/nodePool:NodePool", "name", 40, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:compute/network:Network", "name", 63, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:compute/subnetwork:Subnetwork", "name", 63, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:compute/firewall:Firewall", "name", 63, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:compute/router:Router", "name", 63, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:compute/globalAddress:GlobalAddress", "name", 63, 1, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    NameLimit("gcp:redis/instance:Instance", "name", 40, 1, r"^[a-z][a-z0-9-]*[a-z0-9]$"),
    NameLimit("gcp:kms/keyRing:KeyRing", "name", 63, 1, r"^[a-zA-Z0-9_-]+$"),
    NameLimit("gcp:kms/cryptoKey:CryptoKey", "name", 63, 1, r"^[a-zA-Z0-9_-]+$"),
    NameLimit("gcp:artifactregistry/repository:Repository", "repositoryId", 63, 1, r"^[a-z]([a-z0-9-]*[a-z0-9])?$"),
    NameLimit("gcp:secretmanager/secret:Secret", "secretId", 255, 1, r"^[a-zA-Z0-9_-]+$"),
    NameLimit("gcp:logging/projectBucketConfig:ProjectBucketConfig", "bucketId", 100, 1, r"^[a-zA-Z0-9_.-]+$"),
    NameLimit("gcp:sql/databaseInstance:DatabaseInstance", "name", 98, 1, r"^[a-z][a-z0-9-]*$"),
)


def _name_lengths(target: Target) -> Iterator[str]:
    for limit in NAME_LIMITS:
        if limit.type != target.type:
            continue
        value = target.get(limit.prop)
        if not isinstance(value, str):
            continue
        if not limit.min <= len(value) <= limit.max:
            yield f"{limit.prop} '{value}' has {len(value)} characters; the API takes {limit.min} to {limit.max}"
        elif limit.pattern and not re.match(limit.pattern, value):
            yield f"{limit.prop} '{value}' does not match {limit.pattern}, the names the API accepts"


NAME_LENGTHS = ResourceRule(
    name="deploy-name-limits",
    description="Physical names fit the length and character rules of the API that creates them.",
    remediation="Shorten the stack's name or prefix (names are derived from it), or set an explicit shorter name.",
    severity=HIGH,
    framework=ml_platform("MLP-DEPLOY-13", "each API's CreateX name constraints (policy/deploy/values.py NAME_LIMITS)"),
    types=sorted({n.type for n in NAME_LIMITS}),
    check=_name_lengths,
    tags=["deploy", "values"],
)


# --- retention values the API accepts -------------------------------------------------------------------

# CloudWatch Logs PutRetentionPolicy: retentionInDays is one of these (0: never expire).
CLOUDWATCH_RETENTION_DAYS = frozenset(
    {0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def _retention(target: Target) -> Iterator[str]:
    if target.type == "aws:cloudwatch/logGroup:LogGroup":
        days = p.number(target.get("retentionInDays"))
        if days is not None and int(days) not in CLOUDWATCH_RETENTION_DAYS:
            allowed = ", ".join(str(d) for d in sorted(CLOUDWATCH_RETENTION_DAYS) if d)
            yield f"retentionInDays {int(days)} is not a CloudWatch retention ({allowed})"
    elif target.type == "gcp:logging/projectBucketConfig:ProjectBucketConfig":
        days = p.number(target.get("retentionDays"))
        if days is not None and not 1 <= days <= 3650:
            yield f"retentionDays {int(days)} is outside Cloud Logging's 1 to 3650"


RETENTION_VALUES = ResourceRule(
    name="deploy-log-retention-values",
    description="Log retention periods are values the logging API accepts.",
    remediation="Pick a CloudWatch retention from the allowed set (e.g. 90, 365, 731) or 1-3650 days on Cloud Logging.",
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-14",
        "CloudWatch Logs PutRetentionPolicy retentionInDays; Cloud Logging bucket retention 1-3650 days",
    ),
    types=["aws:cloudwatch/logGroup:LogGroup", "gcp:logging/projectBucketConfig:ProjectBucketConfig"],
    check=_retention,
    tags=["deploy", "values"],
)


# --- EKS: zones it refuses, access entries it refuses twice ----------------------------------------------

EKS_CLUSTER = "aws:eks/cluster:Cluster"
SUBNET = "aws:ec2/subnet:Subnet"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
# Availability zone ids where EKS does not run a control plane (CreateCluster: UnsupportedAvailabilityZone-
# Exception); eksctl avoids the same (pkg/az/az.go zoneIDsToAvoid). components/aws/network.py skips them.
EKS_REFUSED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


def _eks_zones(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    for cluster in graph.of_type(EKS_CLUSTER):
        for subnet in graph.feeding(cluster, "vpcConfig"):
            zone = prop(subnet, "availabilityZoneId")
            if subnet.resource_type == SUBNET and zone in EKS_REFUSED_ZONE_IDS:
                yield (
                    f"{short(cluster)} uses {short(subnet)} in zone id {zone}, where EKS runs no control plane "
                    "(UnsupportedAvailabilityZoneException): pick subnets in other zones",
                    cluster.urn,
                )


EKS_ZONES_SUPPORTED = StackRule(
    name="deploy-aws-eks-zones-supported",
    description="An EKS cluster's subnets are in availability zones EKS supports.",
    remediation="Place the cluster's subnets outside use1-az3, usw1-az2 and cac1-az3 (zone ids, not names).",
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-17",
        "EKS network requirements; eksctl pkg/az/az.go zoneIDsToAvoid",
    ),
    check=_eks_zones,
    graph=True,
    types=(EKS_CLUSTER, SUBNET),
    tags=["deploy", "values", "aws", "eks"],
)


def _access_entries_unique(stack: Stack) -> Iterator[tuple[str, str | None]]:
    seen: dict[tuple[object, object], PolicyResource] = {}
    for entry in stack.of_type(ACCESS_ENTRY):
        key = (prop(entry, "clusterName"), prop(entry, "principalArn"))
        if None in key:
            continue
        if key in seen:
            yield (
                f"{short(entry)} and {short(seen[key])} both create the access entry of {key[1]}: EKS refuses the "
                "second (ResourceInUseException); keep one (with bootstrapClusterCreatorAdminPermissions on, the "
                "deployer already has one)",
                entry.urn,
            )
        else:
            seen[key] = entry


ACCESS_ENTRIES_UNIQUE = StackRule(
    name="deploy-aws-eks-access-entries-unique",
    description="Each principal has at most one EKS access entry per cluster.",
    remediation="Create one access entry per principal; do not also list the deployer while creator admin is on.",
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-18",
        "CreateAccessEntry: ResourceInUseException (409); terraform-aws-modules/terraform-aws-eks#2969",
    ),
    check=_access_entries_unique,
    types=(ACCESS_ENTRY,),
    tags=["deploy", "values", "aws", "eks"],
)


# --- what a destroy does to more than the stack -----------------------------------------------------------


def _destroy_safe(target: Target) -> Iterator[str]:
    if target.type == "gcp:projects/service:Service":
        if target.get("disableOnDestroy") is not False:
            yield (
                f"disables {target.get('service')} for the whole project on `pulumi destroy` (the provider's default):"
                " anything else in the project using it breaks, and the disable fails while dependants remain; set "
                "disable_on_destroy=False"
            )
    elif target.type == "gcp:servicenetworking/connection:Connection" and target.get("deletionPolicy") not in (
        "ABANDON",
        "REMOVE_PEERING",
    ):
        yield (
            "deletes the private services connection on destroy, which Service Networking refuses while a producer "
            "(Cloud SQL, Memorystore) is still being torn down: set deletion_policy='REMOVE_PEERING' (or ABANDON)"
        )


DESTROY_SAFE = ResourceRule(
    name="deploy-destroy-scoped-to-the-stack",
    description=(
        "Destroying the stack removes only what it created: no project-wide API disable, no refused peering delete."
    ),
    remediation=(
        "gcp.projects.Service(disable_on_destroy=False); gcp.servicenetworking.Connection(deletion_policy="
        "'REMOVE_PEERING')."
    ),
    severity=MEDIUM,
    framework=ml_platform(
        "MLP-DEPLOY-16",
        "pulumi-gcp projects.Service disable_on_destroy (default true); servicenetworking.Connection deletion_policy",
    ),
    types=["gcp:projects/service:Service", "gcp:servicenetworking/connection:Connection"],
    check=_destroy_safe,
    tags=["deploy", "values", "destroy"],
)


# --- placeholders ---------------------------------------------------------------------------------------

# The example account ids of the AWS documentation; the documentation address ranges (RFC 5737);
# the reserved example domains (RFC 2606, also as GCP labels write them); ids made up for examples.
EXAMPLE_ACCOUNTS = ("123456789012", "111122223333", "444455556666", "777788889999")
DOCUMENTATION_NETWORKS = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_EXAMPLE_DOMAIN = re.compile(r"(?:^|[@./_-])example[._](?:com|org|net)(?:$|[^a-z0-9])|\.(?:example|invalid)(?:$|[/:])")
_ACCOUNT = re.compile(r"(?<!\d)(" + "|".join(EXAMPLE_ACCOUNTS) + r")(?!\d)")
_MADE_UP_ID = re.compile(r"\b[a-z]{1,4}-(?:0a1b2c3d4e5f6\w*|0123456789abcdef\w*|1234567890abcdef\w*)\b")
_TEMPLATE_MARKER = re.compile(
    r"<[A-Za-z_ -]*(?:account|project|region|id|name|cidr|email)[A-Za-z_ -]*>|REPLACE_?ME|CHANGE_?ME", re.I
)
_ADDRESS = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?(?![\d.])")


def placeholders_in(value: str) -> list[str]:
    """The placeholder fragments in one string."""
    found = [m.group(1) for m in _ACCOUNT.finditer(value)]
    found += [m.group(0).strip("@./_-") for m in _EXAMPLE_DOMAIN.finditer(value)]
    found += [m.group(0) for m in _MADE_UP_ID.finditer(value)]
    found += [m.group(0) for m in _TEMPLATE_MARKER.finditer(value)]
    for match in _ADDRESS.finditer(value):
        try:
            net = ipaddress.IPv4Network(match.group(0), strict=False)
        except ValueError:
            continue
        if any(net.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS):
            found.append(match.group(0))
    return found


def _placeholders(stack: Stack) -> Iterator[tuple[str, str | None]]:
    seen: dict[str, list[PolicyResource]] = {}
    for resource in stack.resources:
        for hit in dict.fromkeys(h for value in strings(resource.props) for h in placeholders_in(value)):
            seen.setdefault(hit, []).append(resource)
    for value, where in seen.items():
        names = ", ".join(short(r) for r in where[:2]) + (f" and {len(where) - 2} more" if len(where) > 2 else "")
        yield (
            f"the example value '{value}' is in {names}: replace it in the stack file (or the program) with the "
            "real one before deploying",
            where[0].urn,
        )


NO_PLACEHOLDERS = StackRule(
    name="deploy-no-placeholders",
    description=(
        "A stack about to be deployed carries no example values (documentation accounts, ranges, domains, made-up ids)."
    ),
    remediation=(
        "Replace the example account id, documentation CIDRs, example.com owners and made-up reservation ids in the "
        "stack file with real values; `mlplat check --deploy` shows what is left."
    ),
    severity=MEDIUM,
    framework=ml_platform("MLP-DEPLOY-15", "RFC 2606 / RFC 5737 reserved examples; AWS example account ids"),
    check=_placeholders,
    deploy_gate=True,
    tags=["deploy", "values", "placeholders"],
)


RULES: list[ResourceRule | StackRule] = [
    REMOVED_VALUES,
    SQL_USER_PASSWORD,
    NAME_LENGTHS,
    RETENTION_VALUES,
    EKS_ZONES_SUPPORTED,
    ACCESS_ENTRIES_UNIQUE,
    DESTROY_SAFE,
    NO_PLACEHOLDERS,
]
