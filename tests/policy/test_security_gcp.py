"""Cases for the GCP security rules (policy/security/gcp.py), in engine form as pulumi-gcp 10 sends them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy import runner
from policy.security import gcp
from tests.policy.cases import Case, check_case

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
BUCKET_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
REPO = "gcp:artifactregistry/repository:Repository"
REPO_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
RING_POLICY = "gcp:kms/keyRingIAMPolicy:KeyRingIAMPolicy"
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
PROJECT_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"
FOLDER_BINDING = "gcp:folder/iAMBinding:IAMBinding"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
SA_BINDING = "gcp:serviceaccount/iAMBinding:IAMBinding"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
FIREWALL = "gcp:compute/firewall:Firewall"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
REDIS = "gcp:redis/instance:Instance"

DROP = object()  # removes a key in `_with`
NODES_SA = "mlp-gcp-prod-nodes@mlp-prod-123456.iam.gserviceaccount.com"
KMS = "projects/mlp-prod-123456/locations/us-central1/keyRings/mlp-gcp-prod/cryptoKeys/mlp-gcp-prod"
WI_MEMBER = "serviceAccount:mlp-prod-123456.svc.id.goog[mlflow/mlflow]"


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of `base` with dotted-path changes (`a__b=1` sets base["a"]["b"]); DROP deletes the key."""
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        if value is DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return out


NODE_CONFIG = {
    "serviceAccount": NODES_SA,
    "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
    "imageType": "COS_CONTAINERD",
    "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
    "workloadMetadataConfig": {"mode": "GKE_METADATA"},
    "metadata": {"disable-legacy-endpoints": "true", "block-project-ssh-keys": "true"},
}
CLUSTER_PROPS = {
    "name": "mlp-gcp-prod",
    "location": "us-central1",
    "removeDefaultNodePool": True,
    "initialNodeCount": 1,
    "nodeConfig": NODE_CONFIG,
    "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": True},
    "masterAuthorizedNetworksConfig": {"cidrBlocks": [], "gcpPublicCidrsAccessEnabled": False},
    "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}},
    "enableLegacyAbac": False,
    "workloadIdentityConfig": {"workloadPool": "mlp-prod-123456.svc.id.goog"},
    "datapathProvider": "ADVANCED_DATAPATH",
    "releaseChannel": {"channel": "STABLE"},
    "minMasterVersion": "1.35",
    "enableShieldedNodes": True,
    "binaryAuthorization": {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": f"{KMS}-cluster"},
    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
    "monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"], "managedPrometheus": {"enabled": True}},
    "deletionProtection": True,
}
# dev: a public endpoint limited to one documentation range
PUBLIC_ENDPOINT = _with(
    CLUSTER_PROPS,
    privateClusterConfig__enablePrivateEndpoint=False,
    masterAuthorizedNetworksConfig__cidrBlocks=[{"cidrBlock": "203.0.113.0/24", "displayName": "office"}],
)
POOL_PROPS = {
    "name": "l4",
    "location": "us-central1",
    "cluster": "projects/mlp-prod-123456/locations/us-central1/clusters/mlp-gcp-prod",
    "management": {"autoRepair": True, "autoUpgrade": True},
    "nodeConfig": {
        **NODE_CONFIG,
        "machineType": "g2-standard-4",
        "guestAccelerators": [{"type": "nvidia-l4", "count": 1}],
    },
}
BUCKET_PROPS = {
    "name": "mlp-gcp-prod-models-mlp-prod-123456",
    "location": "US-CENTRAL1",
    "uniformBucketLevelAccess": True,
    "publicAccessPrevention": "enforced",
    "versioning": {"enabled": True},
    "encryption": {"defaultKmsKeyName": f"{KMS}-storage"},
    "logging": {"logBucket": "mlp-gcp-prod-logs-mlp-prod-123456", "logObjectPrefix": "gcs-access/models/"},
}
LOGS_BUCKET = _with(BUCKET_PROPS, name="mlp-gcp-prod-logs-mlp-prod-123456", logging=DROP)
REPO_PROPS = {
    "repositoryId": "mlp-gcp-prod-serving",
    "format": "DOCKER",
    "mode": "STANDARD_REPOSITORY",
    "kmsKeyName": f"{KMS}-registry",
    "dockerConfig": {"immutableTags": True},
    "vulnerabilityScanningConfig": {"enablementConfig": "INHERITED"},
}
KEY_PROPS = {
    "name": "mlp-gcp-prod-storage",
    "keyRing": "projects/mlp-prod-123456/locations/us-central1/keyRings/mlp-gcp-prod",
    "purpose": "ENCRYPT_DECRYPT",
    "rotationPeriod": "7776000s",
}
SQL_PROPS = {
    "name": "mlp-gcp-prod-registry",
    "databaseVersion": "POSTGRES_16",
    "region": "us-central1",
    "encryptionKeyName": f"{KMS}-database",
    "deletionProtection": True,
    "settings": {
        "tier": "db-custom-4-15360",
        "deletionProtectionEnabled": True,
        "ipConfiguration": {
            "ipv4Enabled": False,
            "privateNetwork": "projects/mlp-prod-123456/global/networks/mlp-gcp-prod",
            "sslMode": "ENCRYPTED_ONLY",
        },
        "backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True, "startTime": "03:00"},
    },
}
FIREWALL_PROPS = {
    "name": "allow-ssh",
    "network": "projects/mlp-prod-123456/global/networks/mlp-gcp-prod",
    "direction": "INGRESS",
    "allows": [{"protocol": "tcp", "ports": ["22"]}],
    "sourceRanges": ["35.235.240.0/20"],
}
SUBNET_PROPS = {
    "name": "mlp-gcp-prod-us-central1",
    "ipCidrRange": "10.60.128.0/19",
    "privateIpGoogleAccess": True,
    "logConfig": {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"},
}

REDIS_PROPS = {  # the gcp-prod online store as components/gcp/cache.py sends it
    "name": "mlp-gcp-prod-features",
    "region": "us-central1",
    "redisVersion": "REDIS_7_2",
    "memorySizeGb": 5.0,
    "tier": "STANDARD_HA",
    "readReplicasMode": "READ_REPLICAS_ENABLED",
    "replicaCount": 1.0,
    "authorizedNetwork": "projects/mlp-prod-123456/global/networks/mlp-gcp-prod",
    "connectMode": "PRIVATE_SERVICE_ACCESS",
    "authEnabled": True,
    "transitEncryptionMode": "SERVER_AUTHENTICATION",
    "customerManagedKey": f"{KMS}-cache",
    "persistenceConfig": {"persistenceMode": "RDB", "rdbSnapshotPeriod": "ONE_HOUR"},
}


def _member(role: str, member: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "member": member, **extra}


def _policy(*bindings: tuple[str, list[str]]) -> dict[str, Any]:
    doc = {"bindings": [{"role": role, "members": members} for role, members in bindings]}
    return {"policyData": json.dumps(doc)}


def _bucket(name: str, props: dict[str, Any]) -> runner.Resource:
    return runner.resource(BUCKET, props, name=name)


CASES: list[Case] = [
    # --- GKE: private nodes
    Case("gcp-gke-private-nodes", "private", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-private-nodes",
        "public-nodes",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, privateClusterConfig=DROP),
        contains="enablePrivateNodes",
    ),
    Case(
        "gcp-gke-private-nodes",
        "inline-pool-override",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, nodePools=[{"name": "p", "networkConfig": {"enablePrivateNodes": False}}]),
        contains="nodePools[0]",
    ),
    Case("gcp-gke-private-nodes", "pool-inherits", False, NODE_POOL, POOL_PROPS),
    Case(
        "gcp-gke-private-nodes",
        "pool-public",
        True,
        NODE_POOL,
        _with(POOL_PROPS, networkConfig={"enablePrivateNodes": False}),
    ),
    # --- GKE: control plane
    Case("gcp-gke-control-plane-restricted", "private-endpoint", False, CLUSTER, CLUSTER_PROPS),
    Case("gcp-gke-control-plane-restricted", "authorized-cidr", False, CLUSTER, PUBLIC_ENDPOINT),
    Case(
        "gcp-gke-control-plane-restricted",
        "dns-endpoint-only",
        False,
        CLUSTER,
        _with(
            PUBLIC_ENDPOINT,
            masterAuthorizedNetworksConfig=DROP,
            controlPlaneEndpointsConfig={"ipEndpointsConfig": {"enabled": False}},
        ),
    ),
    Case(
        "gcp-gke-control-plane-restricted",
        "world-cidr",
        True,
        CLUSTER,
        _with(PUBLIC_ENDPOINT, masterAuthorizedNetworksConfig__cidrBlocks=[{"cidrBlock": "0.0.0.0/0"}]),
        contains="0.0.0.0/0",
    ),
    Case(
        "gcp-gke-control-plane-restricted",
        "no-authorized-networks",
        True,
        CLUSTER,
        _with(PUBLIC_ENDPOINT, masterAuthorizedNetworksConfig=DROP),
        contains="no masterAuthorizedNetworksConfig",
    ),
    Case(
        "gcp-gke-control-plane-restricted",
        "google-cidrs",
        True,
        CLUSTER,
        _with(PUBLIC_ENDPOINT, masterAuthorizedNetworksConfig__gcpPublicCidrsAccessEnabled=True),
        contains="gcpPublicCidrsAccessEnabled",
    ),
    Case(
        "gcp-gke-control-plane-restricted",
        "prefix-config",
        True,
        CLUSTER,
        _with(PUBLIC_ENDPOINT, masterAuthorizedNetworksConfig__cidrBlocks=[{"cidrBlock": "10.0.0.0/8"}]),
        config={"minPrefixLength": 16},
        contains="a /8",
    ),
    Case("gcp-gke-private-endpoint", "private", False, CLUSTER, CLUSTER_PROPS),
    Case("gcp-gke-private-endpoint", "public", True, CLUSTER, PUBLIC_ENDPOINT, contains="enablePrivateEndpoint"),
    # --- GKE: identity
    Case("gcp-gke-workload-identity", "on", False, CLUSTER, CLUSTER_PROPS),
    Case("gcp-gke-workload-identity", "autopilot", False, CLUSTER, {"enableAutopilot": True}),
    Case("gcp-gke-workload-identity", "off", True, CLUSTER, _with(CLUSTER_PROPS, workloadIdentityConfig=DROP)),
    Case(
        "gcp-gke-workload-identity",
        "wrong-pool",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, workloadIdentityConfig__workloadPool="other-pool"),
        contains="other-pool",
    ),
    Case("gcp-gke-metadata-server", "cluster", False, CLUSTER, CLUSTER_PROPS),
    Case("gcp-gke-metadata-server", "pool", False, NODE_POOL, POOL_PROPS),
    Case(
        "gcp-gke-metadata-server",
        "pool-unset",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__workloadMetadataConfig=DROP),
        contains="'unset'",
    ),
    Case(
        "gcp-gke-metadata-server",
        "pool-node-metadata",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__workloadMetadataConfig={"mode": "GCE_METADATA"}),
        contains="GCE_METADATA",
    ),
    Case(
        "gcp-gke-metadata-server",
        "legacy-endpoints",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, nodeConfig__metadata={"disable-legacy-endpoints": "false"}),
        contains="disable-legacy-endpoints",
    ),
    Case(
        "gcp-gke-metadata-server",
        "default-pool-defaults",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, nodeConfig=DROP),
        contains="default pool",
    ),
    Case("gcp-gke-node-service-account", "dedicated", False, NODE_POOL, POOL_PROPS),
    Case(
        "gcp-gke-node-service-account",
        "unset",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__serviceAccount=DROP),
        contains="Compute Engine default",
    ),
    Case(
        "gcp-gke-node-service-account",
        "compute-default",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__serviceAccount="123456789-compute@developer.gserviceaccount.com"),
        contains="-compute@developer",
    ),
    Case(
        "gcp-gke-node-service-account",
        "auto-provisioning-default",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, clusterAutoscaling={"enabled": True, "autoProvisioningDefaults": {}}),
        contains="autoProvisioningDefaults",
    ),
    Case("gcp-gke-node-service-account", "cluster", False, CLUSTER, CLUSTER_PROPS),
    # --- GKE: node hardening
    Case("gcp-gke-shielded-nodes", "cluster", False, CLUSTER, CLUSTER_PROPS),
    Case("gcp-gke-shielded-nodes", "pool", False, NODE_POOL, POOL_PROPS),
    Case(
        "gcp-gke-shielded-nodes",
        "cluster-off",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, enableShieldedNodes=False),
        contains="enableShieldedNodes",
    ),
    Case(
        "gcp-gke-shielded-nodes",
        "no-secure-boot",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__shieldedInstanceConfig=DROP),
        contains="enableSecureBoot",
    ),
    Case(
        "gcp-gke-shielded-nodes",
        "no-integrity",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__shieldedInstanceConfig__enableIntegrityMonitoring=False),
        contains="enableIntegrityMonitoring",
    ),
    Case("gcp-gke-network-policy", "dataplane-v2", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-network-policy",
        "calico",
        False,
        CLUSTER,
        _with(CLUSTER_PROPS, datapathProvider=DROP, networkPolicy={"enabled": True, "provider": "CALICO"}),
    ),
    Case(
        "gcp-gke-network-policy",
        "none",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, datapathProvider=DROP),
        contains="LEGACY_DATAPATH",
    ),
    Case(
        "gcp-gke-network-policy",
        "addon-disabled",
        True,
        CLUSTER,
        _with(
            CLUSTER_PROPS,
            datapathProvider="LEGACY_DATAPATH",
            networkPolicy={"enabled": True},
            addonsConfig={"networkPolicyConfig": {"disabled": True}},
        ),
    ),
    Case("gcp-gke-release-channel", "stable", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-release-channel",
        "no-channel",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, releaseChannel=DROP),
        contains="'unset'",
    ),
    Case(
        "gcp-gke-release-channel",
        "unspecified",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, releaseChannel__channel="UNSPECIFIED"),
    ),
    Case(
        "gcp-gke-release-channel",
        "old-master",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, minMasterVersion="1.30.5-gke.1014001"),
        contains="1.30.5-gke.1014001",
    ),
    Case(
        "gcp-gke-release-channel",
        "minimum-from-config",
        True,
        CLUSTER,
        CLUSTER_PROPS,
        config={"minimumVersion": "1.36"},
        contains="1.36",
    ),
    Case("gcp-gke-release-channel", "pool-latest", False, NODE_POOL, _with(POOL_PROPS, version="latest")),
    Case("gcp-gke-release-channel", "pool-old", True, NODE_POOL, _with(POOL_PROPS, version="1.31"), contains="1.31"),
    Case("gcp-gke-binary-authorization", "enforced", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-binary-authorization",
        "legacy-enabled",
        False,
        CLUSTER,
        _with(CLUSTER_PROPS, binaryAuthorization={"enabled": True}),
    ),
    Case(
        "gcp-gke-binary-authorization",
        "disabled",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, binaryAuthorization__evaluationMode="DISABLED"),
        contains="DISABLED",
    ),
    Case("gcp-gke-binary-authorization", "unset", True, CLUSTER, _with(CLUSTER_PROPS, binaryAuthorization=DROP)),
    Case("gcp-gke-secrets-encryption", "kms", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-secrets-encryption",
        "decrypted",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, databaseEncryption={"state": "DECRYPTED"}),
        contains="DECRYPTED",
    ),
    Case(
        "gcp-gke-secrets-encryption",
        "no-key",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, databaseEncryption__keyName=DROP),
        contains="keyName",
    ),
    Case("gcp-gke-logging-monitoring", "on", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-logging-monitoring",
        "gke-defaults",
        False,
        CLUSTER,
        _with(CLUSTER_PROPS, loggingConfig=DROP, monitoringConfig=DROP),
    ),
    Case(
        "gcp-gke-logging-monitoring",
        "no-workload-logs",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, loggingConfig__enableComponents=["SYSTEM_COMPONENTS"]),
        contains="missing WORKLOADS",
    ),
    Case(
        "gcp-gke-logging-monitoring",
        "apiserver-required",
        True,
        CLUSTER,
        CLUSTER_PROPS,
        config={"requiredLoggingComponents": ["SYSTEM_COMPONENTS", "APISERVER"]},
        contains="APISERVER",
    ),
    Case(
        "gcp-gke-logging-monitoring",
        "logging-none",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, loggingService="none", loggingConfig=DROP),
        contains="loggingService",
    ),
    Case("gcp-gke-legacy-auth-disabled", "rbac-only", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-legacy-auth-disabled",
        "abac",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, enableLegacyAbac=True),
        contains="enableLegacyAbac",
    ),
    Case(
        "gcp-gke-legacy-auth-disabled",
        "client-cert",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, masterAuth__clientCertificateConfig__issueClientCertificate=True),
        contains="issueClientCertificate",
    ),
    Case("gcp-gke-deletion-protection", "on", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-deletion-protection", "provider-default", False, CLUSTER, _with(CLUSTER_PROPS, deletionProtection=DROP)
    ),
    Case("gcp-gke-deletion-protection", "off", True, CLUSTER, _with(CLUSTER_PROPS, deletionProtection=False)),
    Case("gcp-gke-node-auto-repair-upgrade", "on", False, NODE_POOL, POOL_PROPS),
    Case("gcp-gke-node-auto-repair-upgrade", "defaults", False, NODE_POOL, _with(POOL_PROPS, management=DROP)),
    Case(
        "gcp-gke-node-auto-repair-upgrade",
        "no-upgrade",
        True,
        NODE_POOL,
        _with(POOL_PROPS, management__autoUpgrade=False),
        contains="autoUpgrade",
    ),
    Case(
        "gcp-gke-node-auto-repair-upgrade",
        "inline-no-repair",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, nodePools=[{"name": "p", "management": {"autoRepair": False}}]),
        contains="nodePools[0].management.autoRepair",
    ),
    Case("gcp-gke-node-cos-image", "cos", False, NODE_POOL, POOL_PROPS),
    Case(
        "gcp-gke-node-cos-image",
        "ubuntu",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__imageType="UBUNTU_CONTAINERD"),
        contains="UBUNTU_CONTAINERD",
    ),
    Case("gcp-gke-node-no-project-ssh-keys", "blocked", False, NODE_POOL, POOL_PROPS),
    Case("gcp-gke-node-no-project-ssh-keys", "cluster-blocked", False, CLUSTER, CLUSTER_PROPS),
    Case(
        "gcp-gke-node-no-project-ssh-keys",
        "unset",
        True,
        NODE_POOL,
        _with(POOL_PROPS, nodeConfig__metadata={"disable-legacy-endpoints": "true"}),
        contains="block-project-ssh-keys",
    ),
    Case(
        "gcp-gke-node-no-project-ssh-keys",
        "false",
        True,
        CLUSTER,
        _with(CLUSTER_PROPS, nodeConfig__metadata={"block-project-ssh-keys": "false"}),
        contains="'false'",
    ),
    # --- Cloud Storage
    Case("gcp-storage-public-access-prevention", "enforced", False, BUCKET, BUCKET_PROPS),
    Case(
        "gcp-storage-public-access-prevention",
        "inherited",
        True,
        BUCKET,
        _with(BUCKET_PROPS, publicAccessPrevention="inherited"),
        contains="'inherited'",
    ),
    Case("gcp-storage-uniform-access", "on", False, BUCKET, BUCKET_PROPS),
    Case("gcp-storage-uniform-access", "acls", True, BUCKET, _with(BUCKET_PROPS, uniformBucketLevelAccess=False)),
    Case("gcp-storage-versioning", "on", False, BUCKET, BUCKET_PROPS),
    Case("gcp-storage-versioning", "off", True, BUCKET, _with(BUCKET_PROPS, versioning=DROP)),
    Case("gcp-storage-cmek", "kms", False, BUCKET, BUCKET_PROPS),
    Case("gcp-storage-cmek", "google-managed", True, BUCKET, _with(BUCKET_PROPS, encryption=DROP)),
    Case(
        "gcp-storage-access-logs",
        "logs-bucket-exempt",
        False,
        stack=[_bucket("models", BUCKET_PROPS), _bucket("logs", LOGS_BUCKET)],
    ),
    Case(
        "gcp-storage-access-logs",
        "no-logging",
        True,
        stack=[_bucket("models", _with(BUCKET_PROPS, logging=DROP)), _bucket("logs", LOGS_BUCKET)],
        contains="mlp-gcp-prod-models-mlp-prod-123456",
    ),
    Case(
        "gcp-storage-access-logs",
        "logs-to-itself",
        True,
        stack=[_bucket("logs", _with(LOGS_BUCKET, logging={"logBucket": LOGS_BUCKET["name"]}))],
        contains="to itself",
    ),
    Case(
        "gcp-storage-iam-not-public",
        "service-account",
        False,
        BUCKET_MEMBER,
        _member("roles/storage.objectViewer", f"serviceAccount:{NODES_SA}", bucket="b"),
    ),
    Case(
        "gcp-storage-iam-not-public",
        "all-users",
        True,
        BUCKET_MEMBER,
        _member("roles/storage.objectViewer", "allUsers", bucket="b"),
        contains="'allUsers'",
    ),
    Case(
        "gcp-storage-iam-not-public",
        "binding-authenticated",
        True,
        BUCKET_BINDING,
        {
            "bucket": "b",
            "role": "roles/storage.objectViewer",
            "members": ["group:ml@example.com", "allAuthenticatedUsers"],
        },
        contains="allAuthenticatedUsers",
    ),
    # --- Artifact Registry
    Case(
        "gcp-artifact-registry-not-public",
        "nodes",
        False,
        REPO_MEMBER,
        _member("roles/artifactregistry.reader", f"serviceAccount:{NODES_SA}", repository="r"),
    ),
    Case(
        "gcp-artifact-registry-not-public",
        "all-users",
        True,
        REPO_MEMBER,
        _member("roles/artifactregistry.reader", "allUsers", repository="r"),
    ),
    Case("gcp-artifact-registry-cmek", "kms", False, REPO, REPO_PROPS),
    Case(
        "gcp-artifact-registry-cmek",
        "remote",
        False,
        REPO,
        _with(REPO_PROPS, mode="REMOTE_REPOSITORY", kmsKeyName=DROP),
    ),
    Case("gcp-artifact-registry-cmek", "google-managed", True, REPO, _with(REPO_PROPS, kmsKeyName=DROP)),
    Case("gcp-artifact-registry-immutable-tags", "immutable", False, REPO, REPO_PROPS),
    Case(
        "gcp-artifact-registry-immutable-tags",
        "python-repo",
        False,
        REPO,
        _with(REPO_PROPS, format="PYTHON", dockerConfig=DROP),
    ),
    Case("gcp-artifact-registry-immutable-tags", "mutable", True, REPO, _with(REPO_PROPS, dockerConfig=DROP)),
    Case("gcp-artifact-registry-scanning", "inherited", False, REPO, REPO_PROPS),
    Case(
        "gcp-artifact-registry-scanning",
        "disabled",
        True,
        REPO,
        _with(REPO_PROPS, vulnerabilityScanningConfig__enablementConfig="DISABLED"),
        contains="DISABLED",
    ),
    # --- Cloud KMS
    Case("gcp-kms-rotation", "90-days", False, KEY, KEY_PROPS),
    Case(
        "gcp-kms-rotation", "asymmetric", False, KEY, _with(KEY_PROPS, purpose="ASYMMETRIC_SIGN", rotationPeriod=DROP)
    ),
    Case("gcp-kms-rotation", "never", True, KEY, _with(KEY_PROPS, rotationPeriod=DROP), contains="never rotated"),
    Case(
        "gcp-kms-rotation",
        "one-year",
        True,
        KEY,
        _with(KEY_PROPS, rotationPeriod="31536000s"),
        contains="365 days",
    ),
    Case(
        "gcp-kms-rotation",
        "config-30-days",
        True,
        KEY,
        KEY_PROPS,
        config={"maxRotationDays": 30},
        contains="longer than 30 days",
    ),
    Case(
        "gcp-kms-not-public",
        "service-agent",
        False,
        KEY_MEMBER,
        _member(
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "serviceAccount:service-987654321098@gs-project-accounts.iam.gserviceaccount.com",
            cryptoKeyId=f"{KMS}-storage",
        ),
    ),
    Case(
        "gcp-kms-not-public",
        "key-all-users",
        True,
        KEY_MEMBER,
        _member("roles/cloudkms.cryptoKeyEncrypterDecrypter", "allUsers", cryptoKeyId=f"{KMS}-storage"),
    ),
    Case(
        "gcp-kms-not-public",
        "ring-policy",
        True,
        RING_POLICY,
        _policy(("roles/cloudkms.viewer", ["allAuthenticatedUsers"])),
        contains="allAuthenticatedUsers",
    ),
    # --- IAM
    Case(
        "gcp-iam-no-public-members",
        "secret-accessor",
        False,
        SECRET_MEMBER,
        _member("roles/secretmanager.secretAccessor", "serviceAccount:wi@p.iam.gserviceaccount.com", secretId="s"),
    ),
    Case(
        "gcp-iam-no-public-members",
        "public-secret",
        True,
        SECRET_MEMBER,
        _member("roles/secretmanager.secretAccessor", "allUsers", secretId="s"),
        contains="secretAccessor",
    ),
    Case(
        "gcp-iam-no-basic-roles",
        "predefined",
        False,
        PROJECT_MEMBER,
        _member("roles/logging.logWriter", f"serviceAccount:{NODES_SA}", project="p"),
    ),
    Case(
        "gcp-iam-no-basic-roles",
        "editor",
        True,
        PROJECT_MEMBER,
        _member("roles/editor", "user:alice@example.com", project="p"),
        contains="roles/editor at project level",
    ),
    Case(
        "gcp-iam-no-basic-roles",
        "folder-owner",
        True,
        FOLDER_BINDING,
        {"folder": "folders/1", "role": "roles/owner", "members": ["group:admins@example.com"]},
        contains="folder level",
    ),
    Case(
        "gcp-iam-no-basic-roles",
        "policy-viewer",
        True,
        PROJECT_POLICY,
        _policy(("roles/logging.viewer", ["group:a@example.com"]), ("roles/viewer", ["group:b@example.com"])),
        contains="roles/viewer",
    ),
    Case(
        "gcp-iam-service-account-no-admin",
        "writer",
        False,
        PROJECT_MEMBER,
        _member("roles/monitoring.metricWriter", f"serviceAccount:{NODES_SA}", project="p"),
    ),
    Case(
        "gcp-iam-service-account-no-admin",
        "human-admin",
        False,
        PROJECT_MEMBER,
        _member("roles/container.admin", "group:platform@example.com", project="p"),
    ),
    Case(
        "gcp-iam-service-account-no-admin",
        "sa-storage-admin",
        True,
        PROJECT_MEMBER,
        _member("roles/storage.admin", f"serviceAccount:{NODES_SA}", project="p"),
        contains="roles/storage.admin",
    ),
    Case(
        "gcp-iam-service-account-no-admin",
        "allowed-by-config",
        False,
        PROJECT_MEMBER,
        _member("roles/storage.admin", f"serviceAccount:{NODES_SA}", project="p"),
        config={"allowedRoles": ["roles/storage.admin"]},
    ),
    Case(
        "gcp-iam-no-project-impersonation",
        "viewer-role",
        False,
        PROJECT_MEMBER,
        _member("roles/container.clusterViewer", "user:alice@example.com", project="p"),
    ),
    Case(
        "gcp-iam-no-project-impersonation",
        "sa-user",
        True,
        PROJECT_MEMBER,
        _member("roles/iam.serviceAccountUser", "user:alice@example.com", project="p"),
        contains="roles/iam.serviceAccountUser",
    ),
    Case(
        "gcp-iam-no-project-impersonation",
        "project-wide-wi",
        True,
        PROJECT_MEMBER,
        _member("roles/iam.workloadIdentityUser", WI_MEMBER, project="p"),
        contains="workloadIdentityUser",
    ),
    Case(
        "gcp-iam-workload-identity-scoped",
        "one-ksa",
        False,
        SA_MEMBER,
        _member(gcp.WORKLOAD_IDENTITY_USER, WI_MEMBER, serviceAccountId="projects/p/serviceAccounts/wi@p"),
    ),
    Case(
        "gcp-iam-workload-identity-scoped",
        "wif-principal",
        False,
        SA_MEMBER,
        _member(
            gcp.WORKLOAD_IDENTITY_USER,
            "principal://iam.googleapis.com/projects/987654321098/locations/global/workloadIdentityPools/"
            "mlp-prod-123456.svc.id.goog/subject/ns/mlflow/sa/mlflow",
            serviceAccountId="projects/p/serviceAccounts/wi@p",
        ),
    ),
    Case(
        "gcp-iam-workload-identity-scoped",
        "other-role",
        False,
        SA_MEMBER,
        _member("roles/iam.serviceAccountTokenCreator", "user:alice@example.com", serviceAccountId="x"),
    ),
    Case(
        "gcp-iam-workload-identity-scoped",
        "wildcard-namespace",
        True,
        SA_MEMBER,
        _member(
            gcp.WORKLOAD_IDENTITY_USER, "serviceAccount:mlp-prod-123456.svc.id.goog[*/mlflow]", serviceAccountId="x"
        ),
        contains="no wildcards",
    ),
    Case(
        "gcp-iam-workload-identity-scoped",
        "namespace-set",
        True,
        SA_BINDING,
        {
            "serviceAccountId": "x",
            "role": gcp.WORKLOAD_IDENTITY_USER,
            "members": [
                WI_MEMBER,
                "principalSet://iam.googleapis.com/projects/987654321098/locations/global/workloadIdentityPools/"
                "mlp-prod-123456.svc.id.goog/namespace/research",
            ],
        },
        contains="principalSet://",
    ),
    Case(
        "gcp-iam-workload-identity-scoped",
        "not-a-ksa",
        True,
        SA_MEMBER,
        _member(gcp.WORKLOAD_IDENTITY_USER, "user:alice@example.com", serviceAccountId="x"),
        contains="not a Kubernetes service account",
    ),
    # --- Cloud SQL
    Case("gcp-sql-no-public-ip", "private", False, SQL, SQL_PROPS),
    Case(
        "gcp-sql-no-public-ip",
        "default-public",
        True,
        SQL,
        _with(SQL_PROPS, settings__ipConfiguration__ipv4Enabled=DROP),
        contains="unset (true)",
    ),
    Case(
        "gcp-sql-no-public-ip",
        "world-network",
        True,
        SQL,
        _with(
            SQL_PROPS,
            settings__ipConfiguration__ipv4Enabled=True,
            settings__ipConfiguration__authorizedNetworks=[{"name": "any", "value": "0.0.0.0/0"}],
        ),
        contains="authorizedNetworks[0] is 0.0.0.0/0",
    ),
    Case("gcp-sql-ssl-required", "encrypted-only", False, SQL, SQL_PROPS),
    Case(
        "gcp-sql-ssl-required",
        "client-certs",
        False,
        SQL,
        _with(SQL_PROPS, settings__ipConfiguration__sslMode="TRUSTED_CLIENT_CERTIFICATE_REQUIRED"),
    ),
    Case(
        "gcp-sql-ssl-required",
        "unset",
        True,
        SQL,
        _with(SQL_PROPS, settings__ipConfiguration__sslMode=DROP),
        contains="ALLOW_UNENCRYPTED_AND_ENCRYPTED",
    ),
    Case("gcp-sql-backups", "pitr", False, SQL, SQL_PROPS),
    Case(
        "gcp-sql-backups",
        "replica",
        False,
        SQL,
        _with(SQL_PROPS, masterInstanceName="primary", settings__backupConfiguration=DROP),
    ),
    Case(
        "gcp-sql-backups",
        "off",
        True,
        SQL,
        _with(SQL_PROPS, settings__backupConfiguration=DROP),
        contains="no automated backups",
    ),
    Case(
        "gcp-sql-backups",
        "no-pitr",
        True,
        SQL,
        _with(SQL_PROPS, settings__backupConfiguration__pointInTimeRecoveryEnabled=False),
        contains="pointInTimeRecoveryEnabled",
    ),
    Case(
        "gcp-sql-backups",
        "mysql-no-binlog",
        True,
        SQL,
        _with(SQL_PROPS, databaseVersion="MYSQL_8_0"),
        contains="binaryLogEnabled",
    ),
    Case("gcp-sql-deletion-protection", "on", False, SQL, SQL_PROPS),
    Case(
        "gcp-sql-deletion-protection",
        "api-off",
        True,
        SQL,
        _with(SQL_PROPS, settings__deletionProtectionEnabled=DROP),
        contains="settings.deletionProtectionEnabled",
    ),
    Case(
        "gcp-sql-deletion-protection",
        "pulumi-off",
        True,
        SQL,
        _with(SQL_PROPS, deletionProtection=False),
        contains="Pulumi may delete",
    ),
    Case("gcp-sql-cmek", "kms", False, SQL, SQL_PROPS),
    Case("gcp-sql-cmek", "google-managed", True, SQL, _with(SQL_PROPS, encryptionKeyName=DROP)),
    # --- Memorystore for Redis
    Case("gcp-redis-auth", "on", False, REDIS, REDIS_PROPS),
    Case("gcp-redis-auth", "off", True, REDIS, _with(REDIS_PROPS, authEnabled=False), contains="authEnabled is false"),
    Case("gcp-redis-auth", "unset", True, REDIS, _with(REDIS_PROPS, authEnabled=DROP), contains="unset (false)"),
    Case("gcp-redis-transit-encryption", "server-auth", False, REDIS, REDIS_PROPS),
    Case(
        "gcp-redis-transit-encryption",
        "disabled",
        True,
        REDIS,
        _with(REDIS_PROPS, transitEncryptionMode="DISABLED"),
        contains="'DISABLED'",
    ),
    Case(
        "gcp-redis-transit-encryption",
        "unset",
        True,
        REDIS,
        _with(REDIS_PROPS, transitEncryptionMode=DROP),
        contains="unset (DISABLED)",
    ),
    Case("gcp-redis-cmek", "kms", False, REDIS, REDIS_PROPS),
    Case("gcp-redis-cmek", "google-managed", True, REDIS, _with(REDIS_PROPS, customerManagedKey=DROP)),
    Case("gcp-redis-private-service-access", "psa", False, REDIS, REDIS_PROPS),
    Case(
        "gcp-redis-private-service-access",
        "direct-peering",
        True,
        REDIS,
        _with(REDIS_PROPS, connectMode="DIRECT_PEERING"),
        contains="'DIRECT_PEERING', not PRIVATE_SERVICE_ACCESS",
    ),
    Case(
        "gcp-redis-private-service-access",
        "mode-unset",
        True,
        REDIS,
        _with(REDIS_PROPS, connectMode=DROP),
        contains="unset (DIRECT_PEERING)",
    ),
    Case(
        "gcp-redis-private-service-access",
        "network-unset",
        True,
        REDIS,
        _with(REDIS_PROPS, authorizedNetwork=DROP),
        contains="joins the project's 'default' network",
    ),
    Case(
        "gcp-redis-private-service-access",
        "default-network",
        True,
        REDIS,
        _with(REDIS_PROPS, authorizedNetwork="projects/mlp-prod-123456/global/networks/default"),
        contains="the 'default' network",
    ),
    Case(
        "gcp-redis-private-service-access",
        "default-network-short",
        True,
        REDIS,
        _with(REDIS_PROPS, authorizedNetwork="default"),
    ),
    Case(
        "gcp-redis-private-service-access",
        "network-named-default-like",
        False,
        REDIS,
        _with(REDIS_PROPS, authorizedNetwork="projects/p/global/networks/default-ml"),
    ),
    Case("gcp-redis-high-availability", "standard-ha", False, REDIS, REDIS_PROPS),
    Case(
        "gcp-redis-high-availability",
        "basic",
        True,
        REDIS,
        _with(REDIS_PROPS, tier="BASIC", readReplicasMode=DROP, replicaCount=DROP),
        contains="tier is 'BASIC'",
    ),
    Case("gcp-redis-high-availability", "unset", True, REDIS, _with(REDIS_PROPS, tier=DROP), contains="unset (BASIC)"),
    # --- VPC
    Case("gcp-firewall-no-public-admin-ports", "iap-ssh", False, FIREWALL, FIREWALL_PROPS),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "public-https",
        False,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=["0.0.0.0/0"], allows=[{"protocol": "tcp", "ports": ["443"]}]),
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "egress",
        False,
        FIREWALL,
        _with(FIREWALL_PROPS, direction="EGRESS", destinationRanges=["0.0.0.0/0"], sourceRanges=DROP),
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "disabled",
        False,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=["0.0.0.0/0"], disabled=True),
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "tagged-source",
        False,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=DROP, sourceTags=["bastion"]),
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "world-ssh",
        True,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=["0.0.0.0/0"]),
        contains="port(s) 22",
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "ipv6-rdp-range",
        True,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=["::/0"], allows=[{"protocol": "tcp", "ports": ["3000-3400"]}]),
        contains="3389",
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "no-source-all-tcp",
        True,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=DROP, allows=[{"protocol": "tcp"}]),
        contains="every tcp port",
    ),
    Case(
        "gcp-firewall-no-public-admin-ports",
        "all-protocols",
        True,
        FIREWALL,
        _with(FIREWALL_PROPS, sourceRanges=["0.0.0.0/0"], allows=[{"protocol": "all"}]),
        contains="all protocols",
    ),
    Case("gcp-subnet-flow-logs", "on", False, SUBNET, SUBNET_PROPS),
    Case(
        "gcp-subnet-flow-logs",
        "proxy-only",
        False,
        SUBNET,
        _with(SUBNET_PROPS, purpose="REGIONAL_MANAGED_PROXY", logConfig=DROP),
    ),
    Case("gcp-subnet-flow-logs", "off", True, SUBNET, _with(SUBNET_PROPS, logConfig=DROP), contains="logConfig"),
    Case("gcp-subnet-flow-logs", "zero-sampling", True, SUBNET, _with(SUBNET_PROPS, logConfig__flowSampling=0)),
    Case("gcp-subnet-private-google-access", "on", False, SUBNET, SUBNET_PROPS),
    Case(
        "gcp-subnet-private-google-access",
        "off",
        True,
        SUBNET,
        _with(SUBNET_PROPS, privateIpGoogleAccess=False),
        contains="privateIpGoogleAccess",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.param_id)
def test_rule(case: Case) -> None:
    check_case(case)


def test_every_rule_has_both_kinds_of_case() -> None:
    names = {r.name for r in gcp.RULES}
    violating = {c.policy for c in CASES if c.violates}
    compliant = {c.policy for c in CASES if not c.violates}
    assert names - violating == set(), "rules without a violating case"
    assert names - compliant == set(), "rules without a compliant case"
    assert {c.policy for c in CASES} <= names, "cases for unknown rules"


def test_prod_only_rules_relax_in_dev() -> None:
    """Exactly these GCP rules are advisory outside prod (the env config files key on the tag)."""
    prod_only = {r.name for r in gcp.RULES if "prod-only" in (r.tags or [])}
    assert prod_only == {
        "gcp-gke-private-endpoint",
        "gcp-gke-binary-authorization",
        "gcp-gke-deletion-protection",
        "gcp-sql-deletion-protection",
        "gcp-redis-high-availability",
    }


# At preview, outputs of other resources (KMS key ids, service-account emails) are unknown: rules that only
# need to know a value is set, or that look for literals such as allUsers, still decide.
UNKNOWN = runner.UNKNOWN
PREVIEW_CASES: list[Case] = [
    Case(
        "gcp-gke-node-service-account",
        "preview-created-account",
        False,
        NODE_POOL,
        _with(POOL_PROPS, cluster=UNKNOWN, nodeConfig__serviceAccount=UNKNOWN),
    ),
    Case(
        "gcp-gke-secrets-encryption",
        "preview-key",
        False,
        CLUSTER,
        _with(CLUSTER_PROPS, databaseEncryption__keyName=UNKNOWN),
    ),
    Case("gcp-storage-cmek", "preview-key", False, BUCKET, _with(BUCKET_PROPS, encryption__defaultKmsKeyName=UNKNOWN)),
    Case("gcp-artifact-registry-cmek", "preview-key", False, REPO, _with(REPO_PROPS, kmsKeyName=UNKNOWN)),
    Case("gcp-sql-cmek", "preview-key", False, SQL, _with(SQL_PROPS, encryptionKeyName=UNKNOWN)),
    Case("gcp-redis-cmek", "preview-key", False, REDIS, _with(REDIS_PROPS, customerManagedKey=UNKNOWN)),
    Case(
        "gcp-redis-private-service-access",
        "preview-network",
        False,
        REDIS,
        _with(REDIS_PROPS, authorizedNetwork=UNKNOWN),
    ),
    Case(
        "gcp-storage-iam-not-public",
        "preview-member",
        False,
        BUCKET_MEMBER,
        _member("roles/storage.objectViewer", UNKNOWN, bucket=UNKNOWN),
    ),
    Case(
        "gcp-storage-iam-not-public",
        "preview-binding-with-public",
        True,
        BUCKET_BINDING,
        {"bucket": UNKNOWN, "role": "roles/storage.objectViewer", "members": [UNKNOWN, "allUsers"]},
        contains="'allUsers'",
    ),
    Case(
        "gcp-iam-no-project-impersonation",
        "preview-member",
        True,
        PROJECT_MEMBER,
        _member("roles/iam.serviceAccountTokenCreator", UNKNOWN, project="p"),
    ),
]


@pytest.mark.parametrize("case", PREVIEW_CASES, ids=lambda c: c.param_id)
def test_rule_at_preview(case: Case) -> None:
    check_case(case)
