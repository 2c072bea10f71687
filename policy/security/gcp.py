"""Security rules for GCP (pulumi-gcp 10 resource inputs, engine form).

Rule ids: `gcp-<subject>-<requirement>`. Every check reads what the program sends (inputs), never
what the provider computes, and treats a missing field as the provider's / API's default (e.g. a
Cloud SQL instance without `ipConfiguration.ipv4Enabled` gets a public IP, a node pool without
`serviceAccount` runs as the Compute Engine default account). Node settings are checked wherever
GKE takes them from: a `gcp:container/nodePool:NodePool`, the cluster's own `nodeConfig` (the
default pool, even when it is removed after creation), inline `nodePools`, and node
auto-provisioning defaults. Autopilot clusters manage nodes themselves and are skipped by the
node-level rules.

Compliance: checkov ids (`CKV_GCP_*`, `CKV2_GCP_*`, from bridgecrewio/checkov
`checkov/terraform/checks/{resource,graph_checks}/gcp`), the CIS GKE Benchmark 1.4 and CIS Google
Cloud Platform Foundation Benchmark 2.0 section where there is one. Where checkov has no check
(GKE secrets encryption, Cloud SQL CMEK, deletion protection, Artifact Registry immutable tags,
Workload Identity scoping, Memorystore CMEK, network and tier) the mapping is an `ml-platform` control
with the CIS section or the public rule it follows.

Memorystore for Redis (components/gcp/cache.py, the feature store's online store): AUTH, TLS
(`SERVER_AUTHENTICATION`), CMEK, private services access on the platform's VPC (never the `default`
network), and in prod the STANDARD_HA tier (a replica in another zone takes over).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from policy import props as p
from policy.rule import (
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
    ml_platform,
)

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
FIREWALL = "gcp:compute/firewall:Firewall"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
REDIS_INSTANCE = "gcp:redis/instance:Instance"
SA_IAM = ("gcp:serviceaccount/iAMMember:IAMMember", "gcp:serviceaccount/iAMBinding:IAMBinding")
SA_IAM_POLICY = "gcp:serviceaccount/iAMPolicy:IAMPolicy"
# Project, folder and organization level grants apply to every resource below them.
HIERARCHY_IAM = tuple(
    f"gcp:{module}/{kind}"
    for module in ("projects", "folder", "organizations")
    for kind in ("iAMMember:IAMMember", "iAMBinding:IAMBinding", "iAMPolicy:IAMPolicy")
)

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all")
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
_IAM_KIND = re.compile(r"(IAM|Iam)(Member|Binding|Policy)$")

# --- shared readers ---------------------------------------------------------------------------------


def _gke(cis: str) -> str:
    return f"CIS GKE 1.4 {cis}"


def _cis_gcp(cis: str) -> str:
    return f"CIS GCP 2.0 {cis}"


def _is_iam_resource(resource_type: str) -> bool:
    """`gcp:<module>/<x>IAMMember:...`, `...IamBinding`, `...IAMPolicy` (not audit configs)."""
    return resource_type.startswith("gcp:") and bool(_IAM_KIND.search(resource_type.rsplit(":", 1)[-1]))


def _iam_module(resource_type: str) -> str:
    return resource_type.split(":", 2)[1].split("/", 1)[0]


def _policy_bindings(policy_data: Any) -> list[tuple[str, list[str]]]:
    """(role, members) of an IAM policy document given as `policyData` (a JSON string)."""
    if not isinstance(policy_data, str):
        return []
    try:
        doc = json.loads(policy_data)
    except ValueError:
        return []
    out = []
    for binding in doc.get("bindings", []) if isinstance(doc, dict) else []:
        if isinstance(binding, dict):
            out.append((str(binding.get("role", "")), [str(m) for m in binding.get("members", []) or []]))
    return out


def _present(obj: Any, first: str, *rest: str) -> bool:
    """Whether the input at `path` is set (non-empty). A value unknown at preview counts as set: it is the
    output of another resource in the program (a KMS key id, a service-account email), never empty."""
    *parents, leaf = (first, *rest)
    parent = p.get(obj, *parents) if parents else obj
    if not p.is_map(parent):
        return False
    try:  # `in` on the engine's proxy reads the value too
        return leaf in parent and bool(parent[leaf])
    except UnknownValueError:
        return True


def _roles(t: Target) -> list[str]:
    """Every role an IAM member / binding / policy resource grants (reads no member)."""
    if t.type.endswith("Policy"):
        return [role for role, _ in _policy_bindings(t.get("policyData"))]
    role = t.get("role")
    return [str(role)] if isinstance(role, str) else []


def _grants(
    t: Target, only_roles: Iterable[str] | None = None, skip_unknown: bool = False
) -> Iterator[tuple[str, str]]:
    """(role, member) pairs an IAM resource grants. With `only_roles`, members of other roles are not read
    (a member is often a computed service-account email, unknown at preview). With `skip_unknown`, members
    unknown at preview are skipped: they are outputs of other resources, never `allUsers`-style literals."""
    wanted = set(only_roles) if only_roles is not None else None
    if t.type.endswith("Policy"):
        for role, members in _policy_bindings(t.get("policyData")):
            if wanted is None or role in wanted:
                for member in members:
                    yield role, member
        return
    role = t.get("role")
    role = str(role) if isinstance(role, str) else ""
    if wanted is not None and role not in wanted:
        return
    try:
        if t.type.endswith("Member"):
            member = t.get("member")
            members = [member] if isinstance(member, str) else []
        else:
            members = p.as_strings(t.get("members"))
    except UnknownValueError:
        if not skip_unknown:
            raise
        members = _known_members(t.props) if t.type.endswith("Binding") else []
    for member in members:
        yield role, member


def _known_members(props: Any) -> list[str]:
    """The members of a binding that are known at preview (a list may mix literals and outputs)."""
    try:
        raw = props["members"]
        count = len(raw)
    except (UnknownValueError, KeyError, TypeError):
        return []
    out = []
    for i in range(count):
        try:
            out.append(str(raw[i]))
        except UnknownValueError:
            continue
    return out


def _public_grants(t: Target) -> Iterator[str]:
    for role, member in _grants(t, skip_unknown=True):
        if member in PUBLIC_MEMBERS:
            yield f"{t.type.rsplit(':', 1)[-1]} grants {role or 'a role'} to '{member}': anyone on the internet"


def _is_autopilot(props: Any) -> bool:
    return p.truthy(p.get(props, "enableAutopilot"))


def _node_configs(t: Target) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, nodeConfig) of every node pool GKE creates from this resource; `{}` where it takes defaults."""
    if t.type == NODE_POOL:
        node_config = t.get("nodeConfig")
        yield "nodeConfig", node_config if p.is_map(node_config) else {}
        return
    if _is_autopilot(t.props):
        return
    node_config = t.get("nodeConfig")
    if p.is_map(node_config):
        yield "nodeConfig", node_config
    elif not p.items(t.props, "nodePools"):
        yield "nodeConfig (default pool)", {}
    for i, pool in enumerate(p.items(t.props, "nodePools")):
        pool_config = p.get(pool, "nodeConfig")
        yield f"nodePools[{i}].nodeConfig", pool_config if p.is_map(pool_config) else {}


def _auto_provisioning(t: Target) -> Mapping[str, Any] | None:
    """Node auto-provisioning defaults of a cluster that creates node pools itself, else None."""
    if t.type != CLUSTER or _is_autopilot(t.props) or not p.truthy(t.get("clusterAutoscaling", "enabled")):
        return None
    defaults = t.get("clusterAutoscaling", "autoProvisioningDefaults")
    return defaults if p.is_map(defaults) else {}


def _managements(t: Target) -> Iterator[tuple[str, Any]]:
    """(path, management block) of every node pool this resource defines."""
    if t.type == NODE_POOL:
        yield "management", t.get("management")
        return
    if _is_autopilot(t.props):
        return
    for i, pool in enumerate(p.items(t.props, "nodePools")):
        yield f"nodePools[{i}].management", p.get(pool, "management")
    nap = _auto_provisioning(t)
    if nap is not None:
        yield "clusterAutoscaling.autoProvisioningDefaults.management", p.get(nap, "management")


def _version(value: Any) -> tuple[int, int] | None:
    """`1.35`, `1.35.1-gke.1396000` -> (1, 35); None for aliases (`latest`, `-`)."""
    match = re.match(r"^\s*(\d+)\.(\d+)", str(value)) if value is not None else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _duration_seconds(value: Any) -> float | None:
    """A protobuf duration (`7776000s`, `7776000.5s`) in seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", value)
        return float(match.group(1)) if match else None
    return p.number(value)


def _is_world(cidr: Any) -> bool:
    return str(cidr).strip() in ("0.0.0.0/0", "0.0.0.0", "::/0", "::", "::0")


# --- GKE: cluster -----------------------------------------------------------------------------------


def _private_nodes(t: Target) -> Iterable[str]:
    if t.type == CLUSTER:
        if not p.truthy(t.get("privateClusterConfig", "enablePrivateNodes")):
            yield (
                "privateClusterConfig.enablePrivateNodes is not true: nodes get external IPs "
                "(GPU nodes reachable from the internet)"
            )
        for i, pool in enumerate(p.items(t.props, "nodePools")):
            if p.get(pool, "networkConfig", "enablePrivateNodes") is False:
                yield f"nodePools[{i}].networkConfig.enablePrivateNodes is false: that pool's nodes get external IPs"
    elif t.get("networkConfig", "enablePrivateNodes") is False:
        yield "networkConfig.enablePrivateNodes is false: this pool's nodes get external IPs"


def _control_plane_restricted(t: Target) -> Iterable[str]:
    """Private endpoint, or a public endpoint limited by master authorized networks to specific CIDRs."""
    if p.truthy(t.get("privateClusterConfig", "enablePrivateEndpoint")):
        return
    if t.get("controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return  # no IP endpoint at all: only the IAM-authenticated DNS endpoint
    man = t.get("masterAuthorizedNetworksConfig")
    if not p.is_map(man):
        yield (
            "the control plane has a public endpoint and no masterAuthorizedNetworksConfig: "
            "the Kubernetes API is reachable from 0.0.0.0/0"
        )
        return
    min_prefix = int(p.number(t.config.get("minPrefixLength"), 8) or 0)
    for i, block in enumerate(p.items(man, "cidrBlocks")):
        cidr = str(p.get(block, "cidrBlock", default=""))
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if network.prefixlen < min_prefix:
            yield (
                f"masterAuthorizedNetworksConfig.cidrBlocks[{i}] is {cidr}: the public control-plane endpoint "
                f"is open to {'the whole internet' if network.prefixlen == 0 else 'a /' + str(network.prefixlen)} "
                f"(at least /{min_prefix} required)"
            )
    if p.truthy(p.get(man, "gcpPublicCidrsAccessEnabled")):
        yield "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled is true: any Google Cloud VM reaches the API"


def _private_endpoint(t: Target) -> Iterable[str]:
    if p.truthy(t.get("privateClusterConfig", "enablePrivateEndpoint")):
        return
    if t.get("controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return
    yield (
        "privateClusterConfig.enablePrivateEndpoint is not true: the control plane keeps a public endpoint "
        "(cluster.endpointAccess: private)"
    )


def _workload_identity(t: Target) -> Iterable[str]:
    if _is_autopilot(t.props):
        return  # always on in Autopilot
    pool = t.get("workloadIdentityConfig", "workloadPool")
    if not pool:
        yield "workloadIdentityConfig.workloadPool is unset: pods can only act as the node's service account"
    elif not str(pool).endswith(".svc.id.goog"):
        yield f"workloadIdentityConfig.workloadPool is '{pool}', not PROJECT_ID.svc.id.goog"


def _network_policy(t: Target) -> Iterable[str]:
    if _is_autopilot(t.props) or t.get("datapathProvider") == "ADVANCED_DATAPATH":
        return
    if p.truthy(t.get("networkPolicy", "enabled")) and not p.truthy(
        t.get("addonsConfig", "networkPolicyConfig", "disabled")
    ):
        return
    yield (
        f"datapathProvider is '{t.get('datapathProvider') or 'LEGACY_DATAPATH'}' and the network policy addon is "
        "not enabled: Kubernetes NetworkPolicies are silently ignored"
    )


_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")


def _release_channel(t: Target) -> Iterable[str]:
    channel = t.get("releaseChannel", "channel")
    if channel not in _CHANNELS:
        yield (
            f"releaseChannel.channel is '{channel or 'unset'}': the cluster is not enrolled in a release channel "
            f"({', '.join(_CHANNELS)}) and falls behind on security patches"
        )
    minimum = _version(t.config.get("minimumVersion"))
    for key in ("minMasterVersion", "nodeVersion"):
        version = _version(t.get(key))
        if minimum and version and version < minimum:
            yield f"{key} is '{t.get(key)}', older than the supported minimum {minimum[0]}.{minimum[1]}"


def _pool_version(t: Target) -> Iterable[str]:
    minimum = _version(t.config.get("minimumVersion"))
    version = _version(t.get("version"))
    if minimum and version and version < minimum:
        yield f"version is '{t.get('version')}', older than the supported minimum {minimum[0]}.{minimum[1]}"


def _release_or_version(t: Target) -> Iterable[str]:
    return _release_channel(t) if t.type == CLUSTER else _pool_version(t)


_BINAUTHZ_ENFORCED = (
    "PROJECT_SINGLETON_POLICY_ENFORCE",
    "POLICY_BINDINGS",
    "POLICY_BINDINGS_AND_PROJECT_SINGLETON_POLICY_ENFORCE",
)


def _binary_authorization(t: Target) -> Iterable[str]:
    mode = t.get("binaryAuthorization", "evaluationMode")
    if mode in _BINAUTHZ_ENFORCED:
        return
    if mode is None and p.truthy(t.get("binaryAuthorization", "enabled")):
        return  # the deprecated boolean form
    yield (
        f"binaryAuthorization.evaluationMode is '{mode or 'unset'}': any image can run "
        "(PROJECT_SINGLETON_POLICY_ENFORCE enforces the project's attestation policy)"
    )


def _secrets_encryption(t: Target) -> Iterable[str]:
    state = t.get("databaseEncryption", "state")
    if state != "ENCRYPTED":
        yield (
            f"databaseEncryption.state is '{state or 'unset'}': Kubernetes Secrets in etcd are not "
            "envelope-encrypted with a Cloud KMS key"
        )
    elif not _present(t.props, "databaseEncryption", "keyName"):
        yield "databaseEncryption.state is ENCRYPTED but keyName is unset"


def _logging_monitoring(t: Target) -> Iterable[str]:
    if t.get("loggingService") == "none":
        yield "loggingService is 'none': no control-plane, system or workload logs"
    if t.get("monitoringService") == "none":
        yield "monitoringService is 'none': no cluster metrics"
    checks = (
        ("loggingConfig", "requiredLoggingComponents"),
        ("monitoringConfig", "requiredMonitoringComponents"),
    )
    for block, setting in checks:
        components = t.get(block, "enableComponents")
        if components is None:
            continue  # GKE's defaults: system components (and workload logs)
        have = set(p.as_strings(components))
        missing = [c for c in p.as_strings(t.config.get(setting)) if c not in have]
        if missing:
            yield f"{block}.enableComponents is {sorted(have)}: missing {', '.join(missing)}"


def _legacy_auth(t: Target) -> Iterable[str]:
    if p.truthy(t.get("enableLegacyAbac")):
        yield "enableLegacyAbac is true: the ABAC authorizer grants broad static permissions beside RBAC"
    if p.truthy(t.get("masterAuth", "clientCertificateConfig", "issueClientCertificate")):
        yield "masterAuth.clientCertificateConfig.issueClientCertificate is true: a non-revocable admin credential"
    if t.get("masterAuth", "username") or t.get("masterAuth", "password"):
        yield "masterAuth sets a username/password: basic authentication to the Kubernetes API"


def _cluster_deletion_protection(t: Target) -> Iterable[str]:
    if t.get("deletionProtection") is False:
        yield "deletionProtection is false: `pulumi destroy` or a replacement deletes the cluster and its workloads"


# --- GKE: nodes -------------------------------------------------------------------------------------


def _metadata_server(t: Target) -> Iterable[str]:
    for path, node_config in _node_configs(t):
        mode = p.get(node_config, "workloadMetadataConfig", "mode")
        if mode != "GKE_METADATA":
            yield (
                f"{path}.workloadMetadataConfig.mode is '{mode or 'unset'}', not GKE_METADATA: "
                "pods can read the node's service-account token from the metadata server"
            )
        legacy = p.get(node_config, "metadata", "disable-legacy-endpoints")
        if legacy is not None and not p.truthy(legacy):
            yield f"{path}.metadata.disable-legacy-endpoints is '{legacy}': legacy metadata APIs are served"


_DEFAULT_SA = re.compile(r"(^default$|-compute@developer\.gserviceaccount\.com$)")


def _node_service_account(t: Target) -> Iterable[str]:
    configs = list(_node_configs(t))
    nap = _auto_provisioning(t)
    if nap is not None:
        configs.append(("clusterAutoscaling.autoProvisioningDefaults", nap))
    for path, node_config in configs:
        if not _present(node_config, "serviceAccount"):
            yield f"{path}.serviceAccount is unset: nodes run as the Compute Engine default service account (Editor)"
            continue
        try:
            account = p.get(node_config, "serviceAccount")
        except UnknownValueError:
            continue  # the email of an account this program creates: a dedicated one
        if _DEFAULT_SA.search(str(account)):
            yield f"{path}.serviceAccount is '{account}', the Compute Engine default service account"


def _shielded_nodes(t: Target) -> Iterable[str]:
    if t.type == CLUSTER and not _is_autopilot(t.props) and t.get("enableShieldedNodes") is False:
        yield "enableShieldedNodes is false: node identity and boot integrity are not verified"
    configs = list(_node_configs(t))
    nap = _auto_provisioning(t)
    if nap is not None:
        configs.append(("clusterAutoscaling.autoProvisioningDefaults", nap))
    for path, node_config in configs:
        shielded = p.get(node_config, "shieldedInstanceConfig")
        if not p.truthy(p.get(shielded, "enableSecureBoot")):
            yield f"{path}.shieldedInstanceConfig.enableSecureBoot is not true: unsigned boot components can load"
        if p.get(shielded, "enableIntegrityMonitoring") is False:
            yield f"{path}.shieldedInstanceConfig.enableIntegrityMonitoring is false"


def _auto_repair_upgrade(t: Target) -> Iterable[str]:
    for path, management in _managements(t):
        for key in ("autoRepair", "autoUpgrade"):
            if p.get(management, key) is False:
                yield f"{path}.{key} is false: nodes stay broken / unpatched until someone acts"


def _cos_image(t: Target) -> Iterable[str]:
    allowed = [s.upper() for s in p.as_strings(t.config.get("allowedImageTypes"))]
    configs = list(_node_configs(t))
    nap = _auto_provisioning(t)
    if nap is not None:
        configs.append(("clusterAutoscaling.autoProvisioningDefaults", nap))
    for path, node_config in configs:
        image = p.get(node_config, "imageType")
        if image is not None and str(image).upper() not in allowed:
            yield f"{path}.imageType is '{image}', not {' or '.join(allowed)} (Container-Optimized OS)"


def _block_project_ssh_keys(t: Target) -> Iterable[str]:
    for path, node_config in _node_configs(t):
        value = p.get(node_config, "metadata", "block-project-ssh-keys")
        if not p.truthy(value):
            yield (
                f"{path}.metadata.block-project-ssh-keys is '{value or 'unset'}', not \"true\": "
                "every project-wide SSH key can log in to these nodes"
            )


# --- Cloud Storage ----------------------------------------------------------------------------------


def _public_access_prevention(t: Target) -> Iterable[str]:
    value = t.get("publicAccessPrevention")
    if value != "enforced":
        yield (
            f"publicAccessPrevention is '{value or 'inherited'}', not 'enforced': one IAM grant to allUsers "
            "makes the bucket public"
        )


def _uniform_access(t: Target) -> Iterable[str]:
    if not p.truthy(t.get("uniformBucketLevelAccess")):
        yield "uniformBucketLevelAccess is not true: object ACLs can grant access that bucket IAM does not show"


def _bucket_versioning(t: Target) -> Iterable[str]:
    if not p.truthy(t.get("versioning", "enabled")):
        yield "versioning.enabled is not true: an overwritten checkpoint or model cannot be restored"


def _bucket_cmek(t: Target) -> Iterable[str]:
    if not _present(t.props, "encryption", "defaultKmsKeyName"):
        yield "encryption.defaultKmsKeyName is unset: objects use Google-managed keys, not the stack's Cloud KMS key"


def _bucket_access_logs(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every bucket logs access to another bucket, except log buckets themselves.

    Pairing: a bucket is a log destination when its `name` input equals another bucket's
    `logging.logBucket` input in this stack (components/gcp/storage.py passes the log bucket's
    physical name, known at preview). A log bucket cannot usefully log to itself (CKV_GCP_63).
    """
    buckets = stack.of_type(BUCKET)
    destinations = set()
    for bucket in buckets:
        target = p.get(bucket.props, "logging", "logBucket")
        if isinstance(target, str) and target:
            destinations.add(target)
    for bucket in buckets:
        name = p.get(bucket.props, "name")
        target = p.get(bucket.props, "logging", "logBucket")
        if target and name and target == name:
            yield f"bucket '{name}' logs access to itself: log writes generate more log writes", bucket.urn
        elif not target and (not name or name not in destinations):
            label = name or bucket.name
            yield (
                f"bucket '{label}' has no logging.logBucket and is not the log bucket of another bucket: "
                "reads of datasets and models leave no usage log",
                bucket.urn,
            )


# --- Artifact Registry ------------------------------------------------------------------------------


def _registry_cmek(t: Target) -> Iterable[str]:
    if t.get("mode") == "REMOTE_REPOSITORY" or t.get("mode") == "VIRTUAL_REPOSITORY":
        return  # no stored artifacts of their own to encrypt
    if not _present(t.props, "kmsKeyName"):
        yield "kmsKeyName is unset: images are encrypted with Google-managed keys, not the stack's Cloud KMS key"


def _registry_immutable_tags(t: Target) -> Iterable[str]:
    if t.get("format") != "DOCKER" or t.get("mode") not in (None, "STANDARD_REPOSITORY"):
        return
    if not p.truthy(t.get("dockerConfig", "immutableTags")):
        yield "dockerConfig.immutableTags is not true: a pushed tag can later point at a different image"


def _registry_scanning(t: Target) -> Iterable[str]:
    if t.get("format") != "DOCKER":
        return
    mode = t.get("vulnerabilityScanningConfig", "enablementConfig")
    if mode == "DISABLED":
        yield "vulnerabilityScanningConfig.enablementConfig is DISABLED: pushed images are not scanned for CVEs"


# --- Cloud KMS --------------------------------------------------------------------------------------


def _kms_rotation(t: Target) -> Iterable[str]:
    if t.get("purpose") not in (None, "ENCRYPT_DECRYPT") or p.truthy(t.get("importOnly")):
        return  # asymmetric / MAC / imported keys cannot rotate automatically
    max_days = p.number(t.config.get("maxRotationDays"), 90.0) or 90.0
    period = t.get("rotationPeriod")
    seconds = _duration_seconds(period)
    if period is None:
        yield "rotationPeriod is unset: the key is never rotated"
    elif seconds is None:
        yield f"rotationPeriod '{period}' is not a duration in seconds ('7776000s')"
    elif seconds > max_days * 86400:
        yield f"rotationPeriod is {period} ({seconds / 86400:g} days), longer than {max_days:g} days"


# --- IAM --------------------------------------------------------------------------------------------


def _no_public(t: Target) -> Iterable[str]:
    return _public_grants(t)


def _other_iam_type(resource_type: str) -> bool:
    return _is_iam_resource(resource_type) and _iam_module(resource_type) not in ("storage", "artifactregistry", "kms")


def _basic_roles(t: Target) -> Iterable[str]:
    forbidden = set(p.as_strings(t.config.get("forbiddenRoles")))
    level = _iam_module(t.type).rstrip("s")
    for role in _roles(t):
        if role in forbidden:
            yield f"grants the basic role {role} at {level} level: thousands of permissions across every service"


_ADMIN_ROLE = re.compile(r"(admin|Admin|^roles/editor$|^roles/owner$)")


def _service_account_admin(t: Target) -> Iterable[str]:
    allowed = set(p.as_strings(t.config.get("allowedRoles")))
    admin_roles = [r for r in _roles(t) if _ADMIN_ROLE.search(r) and r not in allowed]
    level = _iam_module(t.type).rstrip("s")
    for role, member in _grants(t, only_roles=admin_roles):
        if member.startswith("serviceAccount:") and member.endswith(".gserviceaccount.com"):
            yield f"grants {role} to {member} at {level} level: a workload identity with administrative rights"


def _impersonation(t: Target) -> Iterable[str]:
    risky = set(p.as_strings(t.config.get("roles")))
    level = _iam_module(t.type).rstrip("s")
    for role in _roles(t):
        if role in risky:
            yield (
                f"grants {role} at {level} level: the member can act as every service account in the {level}, "
                "not just one (grant it on the service account instead)"
            )


# `serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]` or the GKE Workload Identity Federation principal of one KSA.
_K8S_NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
_WI_MEMBER = re.compile(rf"^serviceAccount:[a-z0-9.:-]+\.svc\.id\.goog\[(?P<ns>{_K8S_NAME})/(?P<sa>{_K8S_NAME})\]$")
_WIF_PRINCIPAL = re.compile(
    rf"^principal://iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/"
    rf"[a-z0-9.:-]+\.svc\.id\.goog/subject/ns/{_K8S_NAME}/sa/{_K8S_NAME}$"
)


def _workload_identity_binding(t: Target) -> Iterable[str]:
    for _, member in _grants(t, only_roles=[WORKLOAD_IDENTITY_USER]):
        if _WI_MEMBER.match(member) or _WIF_PRINCIPAL.match(member):
            continue
        if member.startswith("principalSet://"):
            yield (
                f"grants {WORKLOAD_IDENTITY_USER} to '{member}': every Kubernetes service account in that set "
                "can act as this Google service account"
            )
        elif "*" in member or ".svc.id.goog[" in member:
            yield (
                f"grants {WORKLOAD_IDENTITY_USER} to '{member}': not exactly one Kubernetes service account "
                "(expected serviceAccount:PROJECT.svc.id.goog[NAMESPACE/NAME], no wildcards)"
            )
        else:
            yield f"grants {WORKLOAD_IDENTITY_USER} to '{member}', which is not a Kubernetes service account"


# --- Cloud SQL --------------------------------------------------------------------------------------


def _sql_public_ip(t: Target) -> Iterable[str]:
    ip = t.get("settings", "ipConfiguration")
    if p.get(ip, "ipv4Enabled") is not False:
        yield (
            f"settings.ipConfiguration.ipv4Enabled is '{p.get(ip, 'ipv4Enabled', default='unset (true)')}': "
            "the instance gets a public IP address"
        )
    for i, network in enumerate(p.items(ip, "authorizedNetworks")):
        if _is_world(p.get(network, "value")):
            yield (
                f"settings.ipConfiguration.authorizedNetworks[{i}] is {p.get(network, 'value')}: "
                "the database accepts connections from the whole internet"
            )


_SSL_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")


def _sql_ssl(t: Target) -> Iterable[str]:
    mode = t.get("settings", "ipConfiguration", "sslMode")
    if mode not in _SSL_MODES:
        yield (
            f"settings.ipConfiguration.sslMode is '{mode or 'unset (ALLOW_UNENCRYPTED_AND_ENCRYPTED)'}': "
            "clients may connect without TLS"
        )


def _sql_backups(t: Target) -> Iterable[str]:
    if t.get("masterInstanceName") or t.get("replicaConfiguration"):
        return  # read replicas have no backups of their own
    backup = t.get("settings", "backupConfiguration")
    if not p.truthy(p.get(backup, "enabled")):
        yield "settings.backupConfiguration.enabled is not true: no automated backups"
        return
    version = str(t.get("databaseVersion") or "")
    if version.startswith("MYSQL"):
        if not p.truthy(p.get(backup, "binaryLogEnabled")):
            yield "settings.backupConfiguration.binaryLogEnabled is not true: no point-in-time recovery"
    elif not p.truthy(p.get(backup, "pointInTimeRecoveryEnabled")):
        yield "settings.backupConfiguration.pointInTimeRecoveryEnabled is not true: no point-in-time recovery"


def _sql_deletion_protection(t: Target) -> Iterable[str]:
    if t.get("deletionProtection") is False:
        yield "deletionProtection is false: Pulumi may delete the instance and its backups"
    if not p.truthy(t.get("settings", "deletionProtectionEnabled")):
        yield "settings.deletionProtectionEnabled is not true: the instance can be deleted through the API or console"


def _sql_cmek(t: Target) -> Iterable[str]:
    if not _present(t.props, "encryptionKeyName"):
        yield "encryptionKeyName is unset: data and backups use Google-managed keys, not the stack's Cloud KMS key"


# --- Memorystore for Redis -------------------------------------------------------------------------


def _redis_auth(t: Target) -> Iterable[str]:
    if not p.truthy(t.get("authEnabled")):
        shown = "false" if t.get("authEnabled") is not None else "unset (false)"
        yield f"authEnabled is {shown}: any client that reaches the instance can read and overwrite it"


def _redis_tls(t: Target) -> Iterable[str]:
    mode = t.get("transitEncryptionMode")
    if mode != "SERVER_AUTHENTICATION":
        yield (
            f"transitEncryptionMode is '{mode or 'unset (DISABLED)'}', not SERVER_AUTHENTICATION: clients talk "
            "to the instance in plain text"
        )


def _redis_cmek(t: Target) -> Iterable[str]:
    if not _present(t.props, "customerManagedKey"):
        yield "customerManagedKey is unset: snapshots and data at rest use Google-managed keys, not the stack's key"


def _default_network(value: Any) -> bool:
    """`default`, or the full name / URL of a network named `default` (…/global/networks/default)."""
    return isinstance(value, str) and (value == "default" or value.rstrip("/").endswith("/networks/default"))


def _redis_network(t: Target) -> Iterable[str]:
    """Private services access (connectMode PRIVATE_SERVICE_ACCESS; unset is the legacy DIRECT_PEERING) on
    a network the stack names (unset is the project's `default` network). An authorizedNetwork unknown at
    preview is another resource's id: the stack's own network."""
    mode = t.get("connectMode")
    if mode != "PRIVATE_SERVICE_ACCESS":
        yield (
            f"connectMode is '{mode or 'unset (DIRECT_PEERING)'}', not PRIVATE_SERVICE_ACCESS: the instance is "
            "peered into the network directly instead of through the platform's private services access range"
        )
    if not _present(t.props, "authorizedNetwork"):
        yield "authorizedNetwork is unset: the instance joins the project's 'default' network"
    else:
        try:
            network = t.get("authorizedNetwork")
        except UnknownValueError:
            return
        if _default_network(network):
            yield f"authorizedNetwork is '{network}': the 'default' network (open firewall rules, every VM)"


def _redis_ha(t: Target) -> Iterable[str]:
    tier = t.get("tier")
    if tier != "STANDARD_HA":
        yield (
            f"tier is '{tier or 'unset (BASIC)'}', not STANDARD_HA: one node in one zone, no replica takes over "
            "when it fails"
        )


# --- VPC --------------------------------------------------------------------------------------------

_PORT_PROTOCOLS = ("tcp", "udp", "sctp", "6", "17", "132")


def _port_ranges(ports: Any) -> list[tuple[int, int]] | None:
    """`["22", "8000-8100"]` -> [(22, 22), (8000, 8100)]; None when no ports are given (all ports)."""
    values = p.as_strings(ports)
    if not values:
        return None
    out = []
    for value in values:
        low, _, high = value.partition("-")
        try:
            start = int(float(low))
            out.append((start, int(float(high)) if high else start))
        except ValueError:
            continue
    return out


def _firewall(t: Target) -> Iterable[str]:
    if t.get("direction") not in (None, "INGRESS") or p.truthy(t.get("disabled")):
        return
    sources = p.as_strings(t.get("sourceRanges"))
    tagged = p.as_strings(t.get("sourceTags")) or p.as_strings(t.get("sourceServiceAccounts"))
    world = [s for s in sources if _is_world(s)]
    if not sources and not tagged:
        world = ["0.0.0.0/0 (no source given)"]
    if not world:
        return
    restricted = sorted({int(n) for n in (p.number(x) for x in t.config.get("restrictedPorts") or []) if n is not None})
    for i, allow in enumerate(p.items(t.props, "allows")):
        protocol = str(p.get(allow, "protocol", default="")).lower()
        if protocol == "all":
            yield f"allows[{i}] opens all protocols and ports to {world[0]}"
            continue
        if protocol not in _PORT_PROTOCOLS:
            continue
        ranges = _port_ranges(p.get(allow, "ports"))
        if ranges is None:
            yield f"allows[{i}] opens every {protocol} port to {world[0]}"
            continue
        hit = [port for port in restricted if any(lo <= port <= hi for lo, hi in ranges)]
        if hit:
            yield f"allows[{i}] opens {protocol} port(s) {', '.join(map(str, hit))} (admin/data) to {world[0]}"


_NO_FLOW_LOG_PURPOSES = (
    "REGIONAL_MANAGED_PROXY",
    "GLOBAL_MANAGED_PROXY",
    "INTERNAL_HTTPS_LOAD_BALANCER",
    "PRIVATE_SERVICE_CONNECT",
    "PRIVATE_NAT",
)


def _flow_logs(t: Target) -> Iterable[str]:
    if t.get("purpose") in _NO_FLOW_LOG_PURPOSES:
        return
    log_config = t.get("logConfig")
    if not p.is_map(log_config):
        yield "logConfig is unset: no VPC flow logs for node and pod traffic"
    elif p.number(p.get(log_config, "flowSampling"), 0.5) == 0:
        yield "logConfig.flowSampling is 0: flow logs record nothing"


def _private_google_access(t: Target) -> Iterable[str]:
    if t.get("purpose") in _NO_FLOW_LOG_PURPOSES:
        return
    if not p.truthy(t.get("privateIpGoogleAccess")):
        yield (
            "privateIpGoogleAccess is not true: private nodes reach Cloud Storage and Artifact Registry "
            "only through NAT, or not at all"
        )


# --- the rules --------------------------------------------------------------------------------------

_ARRAY = {"type": "array", "items": {"type": "string"}}
GKE_NODE_TYPES = [CLUSTER, NODE_POOL]
IMPERSONATION_ROLES = [
    "roles/iam.securityAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountKeyAdmin",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.workloadIdentityUser",
    "roles/dataproc.editor",
    "roles/dataproc.admin",
    "roles/dataflow.developer",
    "roles/resourcemanager.folderAdmin",
    "roles/resourcemanager.folderIamAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/resourcemanager.organizationAdmin",
]
# SSH, RDP, telnet, FTP, databases, Docker, etcd, VNC, Redis, Elasticsearch, kubelet
RESTRICTED_PORTS = [
    20,
    21,
    22,
    23,
    1433,
    1521,
    2375,
    2376,
    2379,
    2380,
    3306,
    3389,
    5432,
    5900,
    6379,
    9200,
    10250,
    27017,
]

RULES: list[Rule] = [
    # --- GKE cluster ---
    ResourceRule(
        name="gcp-gke-private-nodes",
        description="GKE nodes have internal IP addresses only.",
        remediation="Set privateClusterConfig.enablePrivateNodes=true and leave node pools' enablePrivateNodes unset.",
        severity=HIGH,
        framework=checkov("CKV_GCP_64", "CKV_GCP_25", cis=_gke("5.6.5")),
        types=GKE_NODE_TYPES,
        check=_private_nodes,
        tags=["gcp", "gke", "network"],
    ),
    ResourceRule(
        name="gcp-gke-control-plane-restricted",
        description="The GKE control plane is private or reachable only from specific authorized CIDRs.",
        remediation="Set cluster.endpointAccess: private, or list narrow cluster.allowedCidrs (never 0.0.0.0/0).",
        severity=CRITICAL,
        framework=checkov("CKV_GCP_18", "CKV_GCP_20", cis=_gke("5.6.3")),
        types=[CLUSTER],
        check=_control_plane_restricted,
        tags=["gcp", "gke", "network"],
        config={
            "minPrefixLength": {
                "type": "integer",
                "default": 8,
                "minimum": 0,
                "maximum": 32,
                "description": "Shortest prefix an authorized network may have (0.0.0.0/0 is /0).",
            }
        },
    ),
    ResourceRule(
        name="gcp-gke-private-endpoint",
        description="Production GKE control planes have no public endpoint.",
        remediation="Set cluster.endpointAccess: private (privateClusterConfig.enablePrivateEndpoint=true).",
        severity=HIGH,
        framework=checkov("CKV_GCP_25", cis=_gke("5.6.4")),
        types=[CLUSTER],
        check=_private_endpoint,
        tags=["gcp", "gke", "network", "prod-only"],
    ),
    ResourceRule(
        name="gcp-gke-workload-identity",
        description="GKE clusters have Workload Identity enabled.",
        remediation="Set workloadIdentityConfig.workloadPool to PROJECT_ID.svc.id.goog (cluster.py does).",
        severity=HIGH,
        framework=checkov("CKV_GCP_69", cis=_gke("5.2.2")),
        types=[CLUSTER],
        check=_workload_identity,
        tags=["gcp", "gke", "iam"],
    ),
    ResourceRule(
        name="gcp-gke-metadata-server",
        description="GKE nodes serve pods the GKE metadata server, never the node's credentials or legacy APIs.",
        remediation="Set nodeConfig.workloadMetadataConfig.mode=GKE_METADATA on every node pool.",
        severity=HIGH,
        framework=checkov("CKV_GCP_69", "CKV_GCP_67", cis=_gke("5.4.1, 5.4.2")),
        types=GKE_NODE_TYPES,
        check=_metadata_server,
        tags=["gcp", "gke", "iam"],
    ),
    ResourceRule(
        name="gcp-gke-node-service-account",
        description="GKE nodes run as a dedicated service account, not the Compute Engine default account.",
        remediation="Set nodeConfig.serviceAccount to a least-privilege account (GkeCluster.node_service_account).",
        severity=HIGH,
        framework=checkov("CKV2_GCP_1", cis=_gke("5.2.1")),
        types=GKE_NODE_TYPES,
        check=_node_service_account,
        tags=["gcp", "gke", "iam"],
    ),
    ResourceRule(
        name="gcp-gke-shielded-nodes",
        description="GKE nodes are Shielded VMs with secure boot and integrity monitoring.",
        remediation="Keep enableShieldedNodes; turn on shieldedInstanceConfig secure boot and integrity monitoring.",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_71", "CKV_GCP_68", "CKV_GCP_72", cis=_gke("5.5.5, 5.5.6, 5.5.7")),
        types=GKE_NODE_TYPES,
        check=_shielded_nodes,
        tags=["gcp", "gke"],
    ),
    ResourceRule(
        name="gcp-gke-network-policy",
        description="GKE enforces Kubernetes NetworkPolicies (Dataplane V2 or the network policy addon).",
        remediation="Set datapathProvider=ADVANCED_DATAPATH (Dataplane V2), or enable networkPolicy.",
        severity=HIGH,
        framework=checkov("CKV_GCP_12", cis=_gke("5.6.7")),
        types=[CLUSTER],
        check=_network_policy,
        tags=["gcp", "gke", "network"],
    ),
    ResourceRule(
        name="gcp-gke-release-channel",
        description="GKE clusters and node pools are in a release channel and on a supported Kubernetes version.",
        remediation="Set releaseChannel.channel (REGULAR/STABLE) and cluster.kubernetesVersion to a supported minor.",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_70", cis=_gke("5.5.4")),
        types=GKE_NODE_TYPES,
        check=_release_or_version,
        tags=["gcp", "gke"],
        config={
            "minimumVersion": {
                "type": "string",
                "default": "1.33",
                "description": "Oldest Kubernetes minor (MAJOR.MINOR) a cluster or node pool may pin.",
            }
        },
    ),
    ResourceRule(
        name="gcp-gke-binary-authorization",
        description="Production GKE clusters enforce Binary Authorization.",
        remediation="Set binaryAuthorization.evaluationMode=PROJECT_SINGLETON_POLICY_ENFORCE (prod stacks do).",
        severity=HIGH,
        framework=checkov("CKV_GCP_66", cis=_gke("5.10.5")),
        types=[CLUSTER],
        check=_binary_authorization,
        tags=["gcp", "gke", "supply-chain", "prod-only"],
    ),
    ResourceRule(
        name="gcp-gke-secrets-encryption",
        description="GKE envelope-encrypts Kubernetes Secrets with a Cloud KMS key.",
        remediation="Set databaseEncryption{state: ENCRYPTED, keyName: <KMS key>} (KmsKeys 'cluster' key).",
        severity=HIGH,
        framework=ml_platform("MLP-GCP-GKE-01", _gke("5.3.1")),
        types=[CLUSTER],
        check=_secrets_encryption,
        tags=["gcp", "gke", "encryption"],
    ),
    ResourceRule(
        name="gcp-gke-logging-monitoring",
        description="GKE sends system and workload logs and system metrics to Cloud Logging and Monitoring.",
        remediation="Keep loggingConfig.enableComponents [SYSTEM_COMPONENTS, WORKLOADS] and monitoring on.",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_1", "CKV_GCP_8", cis=_gke("5.7.1")),
        types=[CLUSTER],
        check=_logging_monitoring,
        tags=["gcp", "gke", "logging"],
        config={
            "requiredLoggingComponents": {
                **_ARRAY,
                "default": ["SYSTEM_COMPONENTS", "WORKLOADS"],
                "description": "loggingConfig components that must be on (add APISERVER, SCHEDULER, ...).",
            },
            "requiredMonitoringComponents": {
                **_ARRAY,
                "default": ["SYSTEM_COMPONENTS"],
                "description": "monitoringConfig components that must be on.",
            },
        },
    ),
    ResourceRule(
        name="gcp-gke-legacy-auth-disabled",
        description="GKE uses RBAC only: no legacy ABAC, no client certificate, no basic authentication.",
        remediation="Set enableLegacyAbac=false and masterAuth.clientCertificateConfig.issueClientCertificate=false.",
        severity=HIGH,
        framework=checkov("CKV_GCP_7", "CKV_GCP_13", "CKV_GCP_19", cis=_gke("5.8.1, 5.8.2, 5.8.4")),
        types=[CLUSTER],
        check=_legacy_auth,
        tags=["gcp", "gke", "iam"],
    ),
    ResourceRule(
        name="gcp-gke-deletion-protection",
        description="Production GKE clusters keep deletion protection on.",
        remediation="Leave deletionProtection at its default (true) in prod.",
        severity=MEDIUM,
        framework=ml_platform("MLP-GCP-DP-01", "stateful resources survive a mistaken destroy"),
        types=[CLUSTER],
        check=_cluster_deletion_protection,
        tags=["gcp", "gke", "resilience", "prod-only"],
    ),
    # --- GKE nodes ---
    ResourceRule(
        name="gcp-gke-node-auto-repair-upgrade",
        description="GKE node pools repair and upgrade their nodes automatically.",
        remediation="Set management{autoRepair: true, autoUpgrade: true} on every node pool.",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_9", "CKV_GCP_10", cis=_gke("5.5.2, 5.5.3")),
        types=GKE_NODE_TYPES,
        check=_auto_repair_upgrade,
        tags=["gcp", "gke"],
    ),
    ResourceRule(
        name="gcp-gke-node-cos-image",
        description="GKE nodes run Container-Optimized OS with containerd.",
        remediation="Set nodeConfig.imageType=COS_CONTAINERD (GKE installs GPU drivers on COS).",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_22", cis=_gke("5.5.1")),
        types=GKE_NODE_TYPES,
        check=_cos_image,
        tags=["gcp", "gke"],
        config={
            "allowedImageTypes": {
                **_ARRAY,
                "default": ["COS_CONTAINERD"],
                "description": "Node image types allowed (GKE's default when unset is COS_CONTAINERD).",
            }
        },
    ),
    ResourceRule(
        name="gcp-gke-node-no-project-ssh-keys",
        description="GKE nodes do not accept project-wide SSH keys.",
        remediation='Add "block-project-ssh-keys": "true" to nodeConfig.metadata (NODE_METADATA in gcp/cluster.py).',
        severity=MEDIUM,
        framework=checkov("CKV_GCP_32", cis=_cis_gcp("4.3")),
        types=GKE_NODE_TYPES,
        check=_block_project_ssh_keys,
        tags=["gcp", "gke", "ssh"],
    ),
    # --- Cloud Storage ---
    ResourceRule(
        name="gcp-storage-public-access-prevention",
        description="Cloud Storage buckets enforce public access prevention.",
        remediation="Set publicAccessPrevention='enforced' (components/gcp/storage.py does).",
        severity=HIGH,
        framework=checkov("CKV_GCP_114", cis=_cis_gcp("5.1")),
        types=[BUCKET],
        check=_public_access_prevention,
        tags=["gcp", "storage"],
    ),
    ResourceRule(
        name="gcp-storage-uniform-access",
        description="Cloud Storage buckets use uniform bucket-level access (IAM only, no ACLs).",
        remediation="Set uniformBucketLevelAccess=true.",
        severity=HIGH,
        framework=checkov("CKV_GCP_29", cis=_cis_gcp("5.2")),
        types=[BUCKET],
        check=_uniform_access,
        tags=["gcp", "storage"],
    ),
    ResourceRule(
        name="gcp-storage-versioning",
        description="Cloud Storage buckets keep object versions.",
        remediation="Set versioning.enabled=true (buckets[].versioning in the stack file).",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_78"),
        types=[BUCKET],
        check=_bucket_versioning,
        tags=["gcp", "storage"],
    ),
    ResourceRule(
        name="gcp-storage-cmek",
        description="Cloud Storage buckets are encrypted with a customer-managed Cloud KMS key.",
        remediation="Set encryption.defaultKmsKeyName to the stack's storage key.",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_5"),
        types=[BUCKET],
        check=_bucket_cmek,
        tags=["gcp", "storage", "encryption"],
    ),
    StackRule(
        name="gcp-storage-access-logs",
        types=("gcp:",),
        description="Every Cloud Storage bucket logs access to a log bucket (log buckets excepted).",
        remediation="Set logging.logBucket to the stack's logs bucket (components/gcp/storage.py does).",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_62", "CKV_GCP_63"),
        check=_bucket_access_logs,
        tags=["gcp", "storage", "logging"],
    ),
    ResourceRule(
        name="gcp-storage-iam-not-public",
        description="No IAM grant on a bucket or managed folder goes to allUsers or allAuthenticatedUsers.",
        remediation="Grant roles to specific principals; serve public content through a CDN-backed bucket elsewhere.",
        severity=CRITICAL,
        framework=checkov("CKV_GCP_28", cis=_cis_gcp("5.1")),
        types=lambda t: _is_iam_resource(t) and _iam_module(t) == "storage",
        check=_no_public,
        tags=["gcp", "storage", "iam"],
    ),
    # --- Artifact Registry ---
    ResourceRule(
        name="gcp-artifact-registry-not-public",
        description="No IAM grant on an Artifact Registry repository goes to allUsers or allAuthenticatedUsers.",
        remediation="Grant roles/artifactregistry.reader to the node and workload service accounts only.",
        severity=CRITICAL,
        framework=checkov("CKV_GCP_101", cis=_gke("5.1.2")),
        types=lambda t: _is_iam_resource(t) and _iam_module(t) == "artifactregistry",
        check=_no_public,
        tags=["gcp", "artifact-registry", "iam"],
    ),
    ResourceRule(
        name="gcp-artifact-registry-cmek",
        description="Artifact Registry repositories are encrypted with a customer-managed Cloud KMS key.",
        remediation="Set kmsKeyName to the stack's registry key (it cannot be changed after creation).",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_84"),
        types=[REPOSITORY],
        check=_registry_cmek,
        tags=["gcp", "artifact-registry", "encryption"],
    ),
    ResourceRule(
        name="gcp-artifact-registry-immutable-tags",
        description="Docker repositories have immutable tags: a tag names one image forever.",
        remediation="Set dockerConfig.immutableTags=true.",
        severity=MEDIUM,
        framework=ml_platform("MLP-GCP-AR-01", "counterpart of CKV_AWS_51 (ECR immutable tags)"),
        types=[REPOSITORY],
        check=_registry_immutable_tags,
        tags=["gcp", "artifact-registry", "supply-chain"],
    ),
    ResourceRule(
        name="gcp-artifact-registry-scanning",
        description="Docker repositories are scanned for vulnerabilities.",
        remediation="Keep vulnerabilityScanningConfig INHERITED and enable containerscanning.googleapis.com.",
        severity=MEDIUM,
        framework=checkov("CKV2_GCP_11", cis=_gke("5.1.1")),
        types=[REPOSITORY],
        check=_registry_scanning,
        tags=["gcp", "artifact-registry", "supply-chain"],
    ),
    # --- Cloud KMS ---
    ResourceRule(
        name="gcp-kms-rotation",
        description="Symmetric Cloud KMS keys rotate at least every 90 days.",
        remediation="Set rotationPeriod <= '7776000s' (components/gcp/kms.py ROTATION_PERIOD).",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_43", cis=_cis_gcp("1.10")),
        types=[CRYPTO_KEY],
        check=_kms_rotation,
        tags=["gcp", "kms", "encryption"],
        config={
            "maxRotationDays": {
                "type": "integer",
                "default": 90,
                "minimum": 1,
                "description": "Longest rotation period allowed, in days.",
            }
        },
    ),
    ResourceRule(
        name="gcp-kms-not-public",
        description="No IAM grant on a Cloud KMS key or key ring goes to allUsers or allAuthenticatedUsers.",
        remediation="Grant key roles to the encrypting service's agent only (components/gcp/kms.py).",
        severity=CRITICAL,
        framework=checkov("CKV2_GCP_6", "CKV2_GCP_8", cis=_cis_gcp("1.9")),
        types=lambda t: _is_iam_resource(t) and _iam_module(t) == "kms",
        check=_no_public,
        tags=["gcp", "kms", "iam"],
    ),
    # --- IAM ---
    ResourceRule(
        name="gcp-iam-no-public-members",
        description="No IAM grant on any other GCP resource (secrets, service accounts, projects) is public.",
        remediation="Grant roles to specific principals only.",
        severity=CRITICAL,
        framework=ml_platform("MLP-GCP-IAM-01", "same control as CKV_GCP_28 / CKV_GCP_101 for every IAM resource"),
        types=_other_iam_type,
        check=_no_public,
        tags=["gcp", "iam"],
    ),
    ResourceRule(
        name="gcp-iam-no-basic-roles",
        description="No principal gets a basic role (Owner, Editor, Viewer) on a project, folder or organization.",
        remediation="Grant predefined roles scoped to what the principal needs (see NODE_ROLES in cluster.py).",
        severity=HIGH,
        framework=checkov("CKV_GCP_117"),
        types=list(HIERARCHY_IAM),
        check=_basic_roles,
        tags=["gcp", "iam"],
        config={
            "forbiddenRoles": {
                **_ARRAY,
                "default": ["roles/owner", "roles/editor", "roles/viewer"],
                "description": "Roles never granted at project / folder / organization level.",
            }
        },
    ),
    ResourceRule(
        name="gcp-iam-service-account-no-admin",
        description="Service accounts get no administrative role on a project, folder or organization.",
        remediation="Grant the service account narrower roles, or grant the admin role on the one resource it manages.",
        severity=HIGH,
        framework=checkov("CKV_GCP_42", cis=_cis_gcp("1.5")),
        types=list(HIERARCHY_IAM),
        check=_service_account_admin,
        tags=["gcp", "iam"],
        config={
            "allowedRoles": {
                **_ARRAY,
                "default": [],
                "description": "Admin roles a service account may hold at project level (reviewed exceptions).",
            }
        },
    ),
    ResourceRule(
        name="gcp-iam-no-project-impersonation",
        description="Roles that impersonate or manage service accounts are not granted project-, folder- or org-wide.",
        remediation="Grant serviceAccountUser / tokenCreator / workloadIdentityUser on one service account instead.",
        severity=HIGH,
        framework=checkov("CKV_GCP_41", "CKV_GCP_49", cis=_cis_gcp("1.6")),
        types=list(HIERARCHY_IAM),
        check=_impersonation,
        tags=["gcp", "iam"],
        config={
            "roles": {
                **_ARRAY,
                "default": IMPERSONATION_ROLES,
                "description": "Roles that reach every service account below the level they are granted at.",
            }
        },
    ),
    ResourceRule(
        name="gcp-iam-workload-identity-scoped",
        description="A workloadIdentityUser grant names exactly one Kubernetes service account, no wildcards.",
        remediation="Use member serviceAccount:PROJECT.svc.id.goog[NAMESPACE/NAME] (Foundation.bind_identity does).",
        severity=HIGH,
        framework=ml_platform("MLP-GCP-IAM-02", _gke("5.2.2")),
        types=[*SA_IAM, SA_IAM_POLICY],
        check=_workload_identity_binding,
        tags=["gcp", "iam", "gke"],
    ),
    # --- Cloud SQL ---
    ResourceRule(
        name="gcp-sql-no-public-ip",
        description="Cloud SQL instances have no public IP address and no world-open authorized network.",
        remediation="Set settings.ipConfiguration{ipv4Enabled: false, privateNetwork: <VPC>}.",
        severity=CRITICAL,
        framework=checkov("CKV_GCP_60", "CKV_GCP_11", cis=_cis_gcp("6.5, 6.6")),
        types=[SQL_INSTANCE],
        check=_sql_public_ip,
        tags=["gcp", "sql", "network"],
    ),
    ResourceRule(
        name="gcp-sql-ssl-required",
        description="Cloud SQL instances accept only TLS connections.",
        remediation="Set settings.ipConfiguration.sslMode=ENCRYPTED_ONLY (or TRUSTED_CLIENT_CERTIFICATE_REQUIRED).",
        severity=HIGH,
        framework=checkov("CKV_GCP_6", cis=_cis_gcp("6.4")),
        types=[SQL_INSTANCE],
        check=_sql_ssl,
        tags=["gcp", "sql", "encryption"],
    ),
    ResourceRule(
        name="gcp-sql-backups",
        description="Cloud SQL instances take automated backups with point-in-time recovery.",
        remediation="Set settings.backupConfiguration{enabled: true, pointInTimeRecoveryEnabled: true}.",
        severity=MEDIUM,
        framework=checkov("CKV_GCP_14", cis=_cis_gcp("6.7")),
        types=[SQL_INSTANCE],
        check=_sql_backups,
        tags=["gcp", "sql", "resilience"],
    ),
    ResourceRule(
        name="gcp-sql-deletion-protection",
        description="Production Cloud SQL instances are protected from deletion in Pulumi and in the API.",
        remediation="Set deletionProtection=true and settings.deletionProtectionEnabled=true in prod.",
        severity=MEDIUM,
        framework=ml_platform("MLP-GCP-DP-02", "gcpdiag cloudsql/BP_EXT/2023_002"),
        types=[SQL_INSTANCE],
        check=_sql_deletion_protection,
        tags=["gcp", "sql", "resilience", "prod-only"],
    ),
    ResourceRule(
        name="gcp-sql-cmek",
        description="Cloud SQL instances are encrypted with a customer-managed Cloud KMS key.",
        remediation="Set encryptionKeyName to the stack's database key (only at creation).",
        severity=MEDIUM,
        framework=ml_platform("MLP-GCP-SQL-01", "CMEK for data stores, as CKV_GCP_84 / CKV_GCP_5"),
        types=[SQL_INSTANCE],
        check=_sql_cmek,
        tags=["gcp", "sql", "encryption"],
    ),
    # --- Memorystore for Redis ---
    ResourceRule(
        name="gcp-redis-auth",
        description="Memorystore for Redis instances require AUTH.",
        remediation="Set authEnabled=true; clients read the AUTH string from Secret Manager (cache.py does).",
        severity=HIGH,
        framework=checkov("CKV_GCP_95"),
        types=[REDIS_INSTANCE],
        check=_redis_auth,
        tags=["gcp", "redis", "authentication"],
    ),
    ResourceRule(
        name="gcp-redis-transit-encryption",
        description="Memorystore for Redis instances encrypt traffic in transit (TLS, server authentication).",
        remediation="Set transitEncryptionMode=SERVER_AUTHENTICATION; clients verify the instance's CA (port 6378).",
        severity=HIGH,
        framework=checkov("CKV_GCP_97"),
        types=[REDIS_INSTANCE],
        check=_redis_tls,
        tags=["gcp", "redis", "encryption"],
    ),
    ResourceRule(
        name="gcp-redis-cmek",
        description="Memorystore for Redis instances are encrypted with a customer-managed Cloud KMS key.",
        remediation="Set customerManagedKey to the stack's cache key (only at creation).",
        severity=MEDIUM,
        framework=ml_platform("MLP-GCP-REDIS-01", "CMEK for data stores, as CKV_GCP_84 / CKV_GCP_5"),
        types=[REDIS_INSTANCE],
        check=_redis_cmek,
        tags=["gcp", "redis", "encryption"],
    ),
    ResourceRule(
        name="gcp-redis-private-service-access",
        description=(
            "Memorystore for Redis instances connect through private services access on the platform's VPC, "
            "never the default network."
        ),
        remediation="Set connectMode=PRIVATE_SERVICE_ACCESS and authorizedNetwork to the platform VPC (cache.py does).",
        severity=HIGH,
        framework=ml_platform(
            "MLP-GCP-REDIS-02", f"private services access, never the default network; {_cis_gcp('3.1')}"
        ),
        types=[REDIS_INSTANCE],
        check=_redis_network,
        tags=["gcp", "redis", "network"],
    ),
    ResourceRule(
        name="gcp-redis-high-availability",
        description="Production Memorystore for Redis instances run the STANDARD_HA tier (a replica in another zone).",
        remediation="Set featureStore.onlineStore.replicas >= 1 (tier STANDARD_HA with read replicas).",
        severity=MEDIUM,
        framework=ml_platform("MLP-GCP-REDIS-03", "zonal failover, the counterpart of CKV2_AWS_50 on ElastiCache"),
        types=[REDIS_INSTANCE],
        check=_redis_ha,
        tags=["gcp", "redis", "resilience", "prod-only"],
    ),
    # --- VPC ---
    ResourceRule(
        name="gcp-firewall-no-public-admin-ports",
        description="No VPC firewall rule opens admin or data ports (or all ports) to the internet.",
        remediation="Restrict sourceRanges (IAP: 35.235.240.0/20) or use IAP TCP forwarding for SSH/RDP.",
        severity=CRITICAL,
        framework=checkov("CKV_GCP_2", "CKV_GCP_3", "CKV_GCP_88", "CKV2_GCP_12", cis=_cis_gcp("3.6, 3.7")),
        types=[FIREWALL],
        check=_firewall,
        tags=["gcp", "network"],
        config={
            "restrictedPorts": {
                "type": "array",
                "items": {"type": "integer"},
                "default": RESTRICTED_PORTS,
                "description": "Ports never open to 0.0.0.0/0 (SSH, RDP, databases, etcd, kubelet, ...).",
            }
        },
    ),
    ResourceRule(
        name="gcp-subnet-flow-logs",
        description="VPC subnets record flow logs.",
        remediation="Set logConfig on the subnet (network.flowLogs: true in the stack file).",
        severity=LOW,
        framework=checkov("CKV_GCP_26", cis=f"{_cis_gcp('3.8')}; {_gke('5.6.1')}"),
        types=[SUBNETWORK],
        check=_flow_logs,
        tags=["gcp", "network", "logging"],
    ),
    ResourceRule(
        name="gcp-subnet-private-google-access",
        description="VPC subnets reach Google APIs privately (Private Google Access).",
        remediation="Set privateIpGoogleAccess=true on the subnet.",
        severity=LOW,
        framework=checkov("CKV_GCP_74"),
        types=[SUBNETWORK],
        check=_private_google_access,
        tags=["gcp", "network"],
    ),
]
