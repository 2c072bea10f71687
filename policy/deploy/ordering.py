"""Ordering: what must exist before a resource the cloud checks at create time.

The mocks create everything at once; the real APIs refuse a grant to a principal that does not exist
yet, a logging target that does not grant the log service, a key policy naming a missing role, and any
call to an API that is not enabled. Each rule reads the stack's dependency graph (policy/deploy/graph.py),
so it sees every resource (`graph=True`: an ordering edge may pass through any resource; `types` names
those whose properties it reads), and names the resource, the precondition and the fix in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy.policy import PolicyResource

from policy import props as p
from policy.deploy.graph import Graph, known, prop, short
from policy.rule import CRITICAL, HIGH, Stack, StackRule, ml_platform

# --- IAM members of Google Cloud grants ----------------------------------------------------------------


def _is_gcp_grant(type_: str) -> bool:
    """IAMMember / IAMBinding / IAMPolicy of any resource (some tokens write `IamMember`)."""
    return type_.startswith("gcp:") and type_.rsplit(":", 1)[-1].lower().endswith(
        ("iammember", "iambinding", "iampolicy")
    )


def gcp_members(resource: PolicyResource) -> list[str]:
    """The members a Google Cloud IAM resource grants (`member`, `members`, or `policyData` bindings)."""
    kind = resource.resource_type.rsplit(":", 1)[-1].lower()
    if kind.endswith("iammember"):
        member = prop(resource, "member")
        return [member] if isinstance(member, str) else []
    if kind.endswith("iambinding"):
        return [m for m in p.as_strings(prop(resource, "members")) if isinstance(m, str)]
    document = p.policy_document(prop(resource, "policyData"))
    members: list[str] = []
    for binding in p.items(document or {}, "bindings"):
        members.extend(p.as_strings(p.get(binding, "members")))
    return members


@dataclass(frozen=True)
class Agent:
    """A Google-managed service agent: the API it belongs to and what creates it in a new project.

    - "api": Google creates it when the API is enabled (`gcp.projects.Service`).
    - "identity": created on first use, or explicitly by `gcp.projects.ServiceIdentity` (generateServiceIdentity).
    - "lookup": created only by reading it through its API (Cloud Storage: `storage.getProjectServiceAccount`,
      which is not a resource; generateServiceIdentity does not support it).
    """

    service: str
    created_by: str
    label: str


# Sources: the service-agents reference (cloud.google.com/iam/docs/service-agents), "Cloud Storage service
# agent ... created the first time it is accessed" (cloud.google.com/storage/docs/projects#service-agents,
# hashicorp/terraform-provider-google#9730), and each product's CMEK page for when its agent exists.
AGENTS: dict[str, Agent] = {
    "container-engine-robot.iam.gserviceaccount.com": Agent("container.googleapis.com", "api", "GKE"),
    "compute-system.iam.gserviceaccount.com": Agent("compute.googleapis.com", "api", "Compute Engine"),
    "cloud-redis.iam.gserviceaccount.com": Agent("redis.googleapis.com", "api", "Memorystore for Redis"),
    "gs-project-accounts.iam.gserviceaccount.com": Agent("storage.googleapis.com", "lookup", "Cloud Storage"),
    "gcp-sa-artifactregistry.iam.gserviceaccount.com": Agent(
        "artifactregistry.googleapis.com", "identity", "Artifact Registry"
    ),
    "gcp-sa-cloud-sql.iam.gserviceaccount.com": Agent("sqladmin.googleapis.com", "identity", "Cloud SQL"),
    "gcp-sa-secretmanager.iam.gserviceaccount.com": Agent("secretmanager.googleapis.com", "identity", "Secret Manager"),
    "gcp-sa-binaryauthorization.iam.gserviceaccount.com": Agent(
        "binaryauthorization.googleapis.com", "identity", "Binary Authorization"
    ),
}
STORAGE_AGENT_LOOKUP = "gcp:storage/getProjectServiceAccount:getProjectServiceAccount"
_AGENT = re.compile(r"^serviceAccount:service-\d+@([a-z0-9.-]+)$")
SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
API_SERVICE = "gcp:projects/service:Service"


def _agent(member: str) -> Agent | None:
    match = _AGENT.match(member)
    return AGENTS.get(match.group(1)) if match else None


def _service_agents_created(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    identities = graph.of_type(SERVICE_IDENTITY)
    apis = graph.of_type(API_SERVICE)
    lookups = stack.config.get("lookups")
    for grant in graph.where(lambda r: _is_gcp_grant(r.resource_type)):
        for member in gcp_members(grant):
            agent = _agent(member)
            if agent is None:
                continue
            creators = [r for r in identities if prop(r, "service") == agent.service]
            if agent.created_by == "api":
                creators += [r for r in apis if prop(r, "service") == agent.service]
            if creators:
                if not graph.ordered_after(grant, creators):
                    yield (
                        f"{short(grant)} grants the {agent.label} service agent before {short(creators[0])} "
                        "creates it: make the grant depend on it (or build the member from its email output)",
                        grant.urn,
                    )
            elif agent.created_by == "identity":
                yield (
                    f"{short(grant)} grants the {agent.label} service agent, which a new project creates only on "
                    f"first use: create it with gcp.projects.ServiceIdentity(service='{agent.service}') and build "
                    "the member from its email",
                    grant.urn,
                )
            elif agent.created_by == "lookup" and lookups is not None and STORAGE_AGENT_LOOKUP not in lookups:
                yield (
                    f"{short(grant)} grants the {agent.label} service agent spelled out by hand; it exists only once "
                    "read through its API: build the member from gcp.storage.get_project_service_account()'s "
                    "email_address",
                    grant.urn,
                )


SERVICE_AGENT_CREATED = StackRule(
    name="deploy-gcp-service-agent-created",
    description=(
        "An IAM grant to a Google service agent comes after whatever creates the agent (API enablement, "
        "ServiceIdentity, or the Cloud Storage lookup)."
    ),
    remediation=(
        "Create the agent (gcp.projects.ServiceIdentity, or gcp.storage.get_project_service_account for Cloud "
        "Storage), build the member from its email, and make the grant depend on it."
    ),
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-01",
        "IAM refuses a member that does not exist: cloud.google.com/iam/docs/service-agents; "
        "cloud.google.com/storage/docs/projects#service-agents",
    ),
    check=_service_agents_created,
    config={
        "lookups": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "default": None,
            "description": "The lookups the program called, when known (mlplat check records them; the CLI does "
            "not show them, so a hand-built Cloud Storage agent is then not checked).",
        }
    },
    tags=["deploy", "ordering", "gcp", "iam"],
    graph=True,
    types=("gcp:",),
)


# --- Workload Identity bindings -------------------------------------------------------------------------

_WI_MEMBER = re.compile(r"^serviceAccount:([a-z0-9.:-]+\.svc\.id\.goog)\[[^/\]]+/[^\]]+\]$")
_WI_PRINCIPAL = re.compile(
    r"^principal(?:Set)?://iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/([a-z0-9.:-]+\.svc\.id\.goog)/"
)
GKE_CLUSTER = "gcp:container/cluster:Cluster"


def workload_pool(member: str) -> str | None:
    match = _WI_MEMBER.match(member) or _WI_PRINCIPAL.match(member)
    return match.group(1) if match else None


def _workload_identity_after_cluster(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    clusters = graph.of_type(GKE_CLUSTER)
    for grant in graph.where(lambda r: _is_gcp_grant(r.resource_type)):
        pools = {pool for pool in map(workload_pool, gcp_members(grant)) if pool}
        for pool in sorted(pools):
            owners = [c for c in clusters if prop(c, "workloadIdentityConfig", "workloadPool") == pool]
            if owners and not graph.ordered_after(grant, owners):
                yield (
                    f"{short(grant)} binds a Kubernetes service account of {pool}, a pool that exists only once "
                    f"a Workload Identity cluster does: make it depend on {short(owners[0])}",
                    grant.urn,
                )


WORKLOAD_IDENTITY_AFTER_CLUSTER = StackRule(
    name="deploy-gcp-workload-identity-after-cluster",
    description=(
        "A Workload Identity binding (PROJECT.svc.id.goog[ns/sa]) comes after the cluster that creates the pool."
    ),
    remediation="Make every binding of a PROJECT.svc.id.goog member depend on the GKE cluster with that workload pool.",
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-02",
        "'Identity Pool does not exist' on a new project: terraform-google-modules/kubernetes-engine#916",
    ),
    check=_workload_identity_after_cluster,
    tags=["deploy", "ordering", "gcp", "workload-identity"],
    graph=True,
    types=("gcp:",),
)


# --- S3 server access logging ---------------------------------------------------------------------------

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
LOGGING_TYPES = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL_TYPES = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
LOG_SERVICE = "logging.s3.amazonaws.com"
LOG_DELIVERY_GROUP = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def _logging_targets(resource: PolicyResource) -> Iterator[tuple[str, str | None]]:
    """(the logging input's name, the target bucket's name where known) of each logging setting."""
    if resource.resource_type in LOGGING_TYPES:
        yield "targetBucket", prop(resource, "targetBucket")
        return
    for entry in known(lambda: p.items(resource.props, "loggings"), []):
        yield "loggings", known(lambda e=entry: p.get(e, "targetBucket"), None)
    single = prop(resource, "logging")
    if p.is_map(single):
        yield "logging", known(lambda: p.get(single, "targetBucket"), None)


def _bucket_of(graph: Graph, resource: PolicyResource, key: str, name: str | None) -> list[PolicyResource]:
    """The bucket resources an input names: through its property dependencies, else by bucket name."""
    fed = [r for r in graph.feeding(resource, key) if r.resource_type in BUCKET_TYPES]
    if fed:
        return fed
    if isinstance(name, str) and name:
        return [b for b in graph.of_type(*BUCKET_TYPES) if prop(b, "bucket") == name or b.name == name]
    return []


def _grants_log_delivery(resource: PolicyResource) -> bool:
    """A bucket policy or ACL that lets S3's log delivery write (a policy unknown at preview counts)."""
    if resource.resource_type == BUCKET_POLICY:
        raw = known(lambda: p.get(resource.props, "policy"), "unknown")
        if raw == "unknown":
            return True
        for statement in p.statements(p.policy_document(raw)):
            if statement.get("Effect") == "Allow" and LOG_SERVICE in p.as_strings(
                p.get(statement, "Principal", "Service")
            ):
                return True
        return False
    if prop(resource, "acl") == "log-delivery-write":
        return True
    grants = known(lambda: p.items(resource.props, "accessControlPolicy", "grants"), [])
    return any(known(lambda g=g: p.get(g, "grantee", "uri"), None) == LOG_DELIVERY_GROUP for g in grants)


def _logging_after_target_grant(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    grants = [r for r in graph.of_type(BUCKET_POLICY, *BUCKET_ACL_TYPES) if _grants_log_delivery(r)]
    for logging in graph.of_type(*LOGGING_TYPES, *BUCKET_TYPES):
        for key, name in _logging_targets(logging):
            targets = _bucket_of(graph, logging, key, name)
            if not targets:
                continue  # the target lives outside this stack
            target_grants = [g for g in grants if set(_bucket_of(graph, g, "bucket", prop(g, "bucket"))) & set(targets)]
            inline = [t for t in targets if prop(t, "acl") == "log-delivery-write"]
            if not target_grants and not inline:
                yield (
                    f"{short(logging)} logs to {short(targets[0])}, whose policy does not let {LOG_SERVICE} write: "
                    "PutBucketLogging refuses it; add a bucket policy on the target allowing s3:PutObject to "
                    f"{LOG_SERVICE}",
                    logging.urn,
                )
            elif target_grants and not inline and not graph.ordered_after(logging, target_grants):
                yield (
                    f"{short(logging)} is created in parallel with {short(target_grants[0])}, the grant "
                    "PutBucketLogging checks on the target: make the logging depend on it",
                    logging.urn,
                )


S3_LOGGING_AFTER_TARGET_GRANT = StackRule(
    name="deploy-aws-s3-logging-after-target-grant",
    description="S3 access logging is configured after the target bucket's policy grants the logging service.",
    remediation=(
        "Give the target bucket a policy allowing s3:PutObject to logging.s3.amazonaws.com and make the "
        "BucketLogging depend on that BucketPolicy."
    ),
    severity=HIGH,
    framework=ml_platform(
        "MLP-DEPLOY-03",
        "PutBucketLogging validates the target's grant (docs.aws.amazon.com/AmazonS3/latest/userguide/"
        "enable-server-access-logging.html)",
    ),
    check=_logging_after_target_grant,
    tags=["deploy", "ordering", "aws", "s3"],
    graph=True,
    types=("aws:s3/",),
)


# --- KMS key policies and the roles they name -----------------------------------------------------------

KEY_TYPES = ("aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy", "aws:kms/replicaKey:ReplicaKey")
SERVICE_LINKED_ROLE = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
IAM_ROLE = "aws:iam/role:Role"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:(.*)/)?([\w+=,.@-]+)$")
# awsServiceName -> the role AWS names for it (docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html)
SERVICE_LINKED_NAMES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "spot.amazonaws.com": "AWSServiceRoleForEC2Spot",
    "eks.amazonaws.com": "AWSServiceRoleForAmazonEKS",
    "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup",
    "elasticache.amazonaws.com": "AWSServiceRoleForElastiCache",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
}


def _slr_name(resource: PolicyResource) -> str | None:
    service = prop(resource, "awsServiceName")
    base = SERVICE_LINKED_NAMES.get(service) if isinstance(service, str) else None
    suffix = prop(resource, "customSuffix")
    return f"{base}_{suffix}" if base and suffix else base


def _role_principals(resource: PolicyResource) -> set[tuple[str, bool]]:
    """(role name, service-linked) of each IAM role a key policy names."""
    found = set()
    for statement in p.statements(p.policy_document(prop(resource, "policy"))):
        for principal in p.principals(statement):
            match = _ROLE_ARN.match(principal)
            if match:
                found.add((match.group(2), (match.group(1) or "").startswith("aws-service-role")))
    return found


# A key may declare the service-linked roles it names as account prerequisites (space-separated role names)
# where the program verified they exist (components/aws/account.py reads them from IAM before creating anything).
PREREQUISITES_TAG = "ml-platform/account-prerequisites"


def _declared_prerequisites(key: PolicyResource) -> set[str]:
    value = prop(key, "tags", PREREQUISITES_TAG)
    return set(value.split()) if isinstance(value, str) else set()


def _key_policy_principals_exist(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    configured = set(stack.config.get("accountPrerequisites") or ())
    linked = {name: r for r in graph.of_type(SERVICE_LINKED_ROLE) if (name := _slr_name(r))}
    roles = {prop(r, "name"): r for r in graph.of_type(IAM_ROLE) if isinstance(prop(r, "name"), str)}
    for key in graph.of_type(*KEY_TYPES):
        prerequisites = configured | _declared_prerequisites(key)
        for name, service_linked in sorted(_role_principals(key)):
            creator = linked.get(name) if service_linked else roles.get(name)
            if creator is not None:
                if not graph.ordered_after(key, [creator]):
                    yield (
                        f"{short(key)} names {name} in its policy before {short(creator)} creates it: KMS refuses "
                        "a policy with an unknown principal; make the key depend on the role",
                        key.urn,
                    )
            elif service_linked and name not in prerequisites:
                yield (
                    f"{short(key)} names the service-linked role {name}, which exists only once the account "
                    "used the service (KMS: MalformedPolicyDocumentException): create it with "
                    "aws.iam.ServiceLinkedRole and depend on it, or check it exists and declare it (tag "
                    f"{PREREQUISITES_TAG} or the rule's accountPrerequisites)",
                    key.urn,
                )


KMS_KEY_POLICY_PRINCIPALS_EXIST = StackRule(
    name="deploy-aws-kms-policy-principals-exist",
    description=(
        "Every role a KMS key policy names exists before the key: created earlier in the stack, or an account "
        "prerequisite."
    ),
    remediation=(
        "Create the role in the stack (aws.iam.ServiceLinkedRole for AWSServiceRoleFor*) and make the key depend "
        "on it, or read it from IAM first and declare it (key tag ml-platform/account-prerequisites, or this rule's "
        "accountPrerequisites)."
    ),
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-04",
        "KMS validates principals (MalformedPolicyDocumentException): terraform-aws-modules/terraform-aws-eks#3013, "
        "terraform-aws-modules/terraform-aws-kms#30",
    ),
    check=_key_policy_principals_exist,
    config={
        "accountPrerequisites": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Service-linked roles the target accounts already have (role names).",
        }
    },
    tags=["deploy", "ordering", "aws", "kms"],
    graph=True,
    types=("aws:kms/", "aws:iam/"),
)


# --- Google Cloud APIs ----------------------------------------------------------------------------------

# Resource type (prefix) -> the API it calls. Sources: each product's API reference.
API_BY_TYPE: tuple[tuple[str, str], ...] = (
    ("gcp:container/", "container.googleapis.com"),
    ("gcp:compute/", "compute.googleapis.com"),
    ("gcp:sql/", "sqladmin.googleapis.com"),
    ("gcp:kms/", "cloudkms.googleapis.com"),
    ("gcp:artifactregistry/", "artifactregistry.googleapis.com"),
    ("gcp:secretmanager/", "secretmanager.googleapis.com"),
    ("gcp:redis/", "redis.googleapis.com"),
    ("gcp:servicenetworking/", "servicenetworking.googleapis.com"),
    ("gcp:binaryauthorization/", "binaryauthorization.googleapis.com"),
    ("gcp:serviceaccount/", "iam.googleapis.com"),
    ("gcp:projects/iAMCustomRole:", "iam.googleapis.com"),
    ("gcp:projects/iAM", "cloudresourcemanager.googleapis.com"),
    ("gcp:dns/", "dns.googleapis.com"),
    ("gcp:certificatemanager/", "certificatemanager.googleapis.com"),
    ("gcp:pubsub/", "pubsub.googleapis.com"),
)
# Enabled in every new project (cloud.google.com/service-usage/docs/enabled-service#default).
DEFAULT_APIS = frozenset(
    {
        "bigquery.googleapis.com",
        "bigquerystorage.googleapis.com",
        "cloudapis.googleapis.com",
        "cloudtrace.googleapis.com",
        "datastore.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
        "servicemanagement.googleapis.com",
        "serviceusage.googleapis.com",
        "sql-component.googleapis.com",
        "storage-api.googleapis.com",
        "storage-component.googleapis.com",
        "storage.googleapis.com",
    }
)


def consumed_api(resource: PolicyResource) -> str | None:
    """The API a resource's create call goes to (a ServiceIdentity: the API whose agent it creates)."""
    type_ = resource.resource_type
    if type_ == SERVICE_IDENTITY:
        service = prop(resource, "service")
        return service if isinstance(service, str) else None
    for prefix, api in API_BY_TYPE:
        if type_.startswith(prefix):
            return api
    return None


def _apis_enabled_first(stack: Stack) -> Iterator[tuple[str, str | None]]:
    graph = Graph(stack.resources)
    enabled: dict[str, list[PolicyResource]] = {}
    for api in graph.of_type(API_SERVICE):
        name = prop(api, "service")
        if isinstance(name, str):
            enabled.setdefault(name, []).append(api)
    prerequisites = set(stack.config.get("prerequisiteApis") or ())
    for resource in graph.resources:
        api = consumed_api(resource)
        if api is None or api in DEFAULT_APIS:
            continue
        enablers = enabled.get(api)
        if enablers:
            if not graph.ordered_after(resource, enablers):
                yield (
                    f"{short(resource)} calls {api} in parallel with {short(enablers[0])}, which enables it: make "
                    "it depend on the API",
                    resource.urn,
                )
        elif api not in prerequisites:
            yield (
                f"{short(resource)} calls {api}, which a new project has off and no resource enables: add "
                "gcp.projects.Service (disable_on_destroy=False) and depend on it, or list it in prerequisiteApis",
                resource.urn,
            )


APIS_ENABLED_FIRST = StackRule(
    name="deploy-gcp-api-enabled-first",
    description=(
        "Every Google Cloud resource comes after the API it calls is enabled (or the API is a declared prerequisite)."
    ),
    remediation=(
        "Enable the API with gcp.projects.Service(disable_on_destroy=False) and make its consumers depend on it; "
        "list APIs enabled outside the program in this rule's prerequisiteApis."
    ),
    severity=CRITICAL,
    framework=ml_platform(
        "MLP-DEPLOY-05",
        "SERVICE_DISABLED (403) on a new project: cloud.google.com/service-usage/docs/enable-disable",
    ),
    check=_apis_enabled_first,
    config={
        "prerequisiteApis": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "APIs the target projects have enabled outside the program.",
        }
    },
    tags=["deploy", "ordering", "gcp", "apis"],
    graph=True,
    types=(API_SERVICE, SERVICE_IDENTITY),
)


RULES: list[StackRule] = [
    SERVICE_AGENT_CREATED,
    WORKLOAD_IDENTITY_AFTER_CLUSTER,
    S3_LOGGING_AFTER_TARGET_GRANT,
    KMS_KEY_POLICY_PRINCIPALS_EXIST,
    APIS_ENABLED_FIRST,
]
