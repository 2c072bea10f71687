"""The GCP foundation under offline synthesis: secure defaults, dev/prod differences, GPU pools,
Workload Identity and labels, read from the resource graph the engine would receive."""

from __future__ import annotations

import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp
import pytest

from components.context import REQUIRED_TAGS, _label
from components.foundation import BucketAccess, IdentityAccess
from components.foundation import gpu_node_labels as aws_node_labels
from components.gcp.network import plan_ranges
from infra import mocks_gcp
from infra.config import load_stack_file, parse_platform, read_stack_file
from infra.mocks import GCP_PROJECT_NUMBER, PlatformMocks
from infra.program import run
from infra.synth import Synthesis, synthesize

STACKS = Path(__file__).resolve().parent.parent / "stacks"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
REPO = "gcp:artifactregistry/repository:Repository"
REPO_IAM = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SA = "gcp:serviceaccount/account:Account"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
REQUIRED_LABELS = tuple(_label(k) for k in REQUIRED_TAGS)
# pulumi_gcp warns about its own deprecated aliases when its modules load.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_gcp")

# The identity the dev fixture binds: read-write on one prefix, read on a whole bucket.
ACCESS = IdentityAccess(
    buckets=(
        BucketAccess("artifacts", prefix="runs/research", mode="read-write"),
        BucketAccess("datasets", mode="read"),
    ),
    registry_pull=True,
)


def _with_identity() -> None:
    platform = run()
    f = platform.foundation
    binding = f.bind_identity("research", "trainer", ACCESS)
    pulumi.export("bindingPrincipal", binding.principal)
    pulumi.export("bindingAnnotations", binding.annotations)
    try:
        f.bind_identity("research", "other", IdentityAccess(buckets=(BucketAccess("nope"),)))
    except ValueError as exc:
        pulumi.export("unknownBucketError", str(exc))


@pytest.fixture(scope="module")
def dev() -> Synthesis:
    spec, cfg = load_stack_file(STACKS / "Pulumi.gcp-dev.yaml")
    return synthesize("gcp-dev", spec, cfg, program=_with_identity)


@pytest.fixture(scope="module")
def prod() -> Synthesis:
    spec, cfg = load_stack_file(STACKS / "Pulumi.gcp-prod.yaml")
    return synthesize("gcp-prod", spec, cfg)


@pytest.fixture(scope="module", params=["dev", "prod"])
def syn(request: pytest.FixtureRequest) -> Synthesis:
    return request.getfixturevalue(request.param)


def _pool(s: Synthesis, name: str) -> dict[str, Any]:
    found = [r.inputs for r in s.of_type(NODE_POOL) if r.inputs["name"] == name]
    assert len(found) == 1, name
    return found[0]


def _seconds(duration: str) -> int:
    assert re.fullmatch(r"\d+s", duration), duration
    return int(duration[:-1])


# --- network ---------------------------------------------------------------------------------------


def test_network_is_custom_mode_with_private_access_nat_and_flow_logs(syn: Synthesis) -> None:
    vpc = syn.one("gcp:compute/network:Network").inputs
    assert vpc["autoCreateSubnetworks"] is False
    subnet = syn.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["region"] == syn.spec.region
    assert {r["rangeName"] for r in subnet["secondaryIpRanges"]} == {"pods", "services"}
    assert subnet["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA"
    nat = syn.one("gcp:compute/routerNat:RouterNat").inputs
    assert nat["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"][0]["name"].endswith(f"/subnetworks/{subnet['name']}")


def test_subnet_ranges_do_not_overlap_and_stay_in_the_vpc_cidr(syn: Synthesis) -> None:
    cidr = syn.spec.network.cidr
    ranges = list(plan_ranges(cidr).values())
    for i, a in enumerate(ranges):
        assert a.subnet_of(cidr)
        for b in ranges[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    subnet = syn.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["ipCidrRange"] == str(plan_ranges(cidr)["nodes"])


# --- KMS -------------------------------------------------------------------------------------------


def test_kms_keys_rotate_within_90_days_and_only_service_agents_use_them(syn: Synthesis) -> None:
    keys = syn.of_type(KEY)
    assert {k.inputs["name"].rsplit("-", 1)[1] for k in keys} == {
        "cluster",
        "disk",
        "storage",
        "registry",
        "database",
        "secrets",
        "cache",  # the feature store's online store (tests/test_online_store_gcp.py)
    }
    for key in keys:
        assert _seconds(key.inputs["rotationPeriod"]) <= 90 * 86400, key.name
        assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    grants = syn.of_type(KEY_IAM)
    assert len(grants) == len(keys)
    agents = {g.inputs["cryptoKeyId"].rsplit("-", 1)[1]: g.inputs["member"] for g in grants}
    n = GCP_PROJECT_NUMBER
    assert agents == {
        "cluster": f"serviceAccount:service-{n}@container-engine-robot.iam.gserviceaccount.com",
        "disk": f"serviceAccount:service-{n}@compute-system.iam.gserviceaccount.com",
        "storage": f"serviceAccount:service-{n}@gs-project-accounts.iam.gserviceaccount.com",
        "registry": f"serviceAccount:service-{n}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
        "database": f"serviceAccount:service-{n}@gcp-sa-cloud-sql.iam.gserviceaccount.com",
        "secrets": f"serviceAccount:service-{n}@gcp-sa-secretmanager.iam.gserviceaccount.com",
        "cache": f"serviceAccount:service-{n}@cloud-redis.iam.gserviceaccount.com",
    }
    assert {g.inputs["role"] for g in grants} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter"}


# --- GKE -------------------------------------------------------------------------------------------


def test_cluster_security_defaults(syn: Synthesis) -> None:
    c = syn.one(CLUSTER).inputs
    project = syn.spec.project
    assert c["location"] == syn.spec.region  # regional
    assert c["removeDefaultNodePool"] is True and c["initialNodeCount"] == 1
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["workloadIdentityConfig"] == {"workloadPool": f"{project}.svc.id.goog"}
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in c  # Dataplane V2 enforces policy itself
    assert c["enableShieldedNodes"] is True
    assert c["enableLegacyAbac"] is False
    assert c["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    assert c["databaseEncryption"]["state"] == "ENCRYPTED"
    assert c["databaseEncryption"]["keyName"].endswith(f"/cryptoKeys/{syn.spec.name}-{syn.stack}-cluster")
    assert set(c["loggingConfig"]["enableComponents"]) >= {"SYSTEM_COMPONENTS", "WORKLOADS"}
    assert "SYSTEM_COMPONENTS" in c["monitoringConfig"]["enableComponents"]
    assert c["minMasterVersion"] == syn.spec.cluster.kubernetes_version
    assert c["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


def test_nodes_run_as_a_dedicated_least_privilege_service_account(syn: Synthesis) -> None:
    project = syn.spec.project
    node_sa = [r for r in syn.of_type(SA) if r.inputs["accountId"].endswith("-nodes")]
    assert len(node_sa) == 1
    email = f"{node_sa[0].inputs['accountId']}@{project}.iam.gserviceaccount.com"
    pools = [r.inputs for r in syn.of_type(NODE_POOL)]
    for cfg in [syn.one(CLUSTER).inputs["nodeConfig"], *(p["nodeConfig"] for p in pools)]:
        assert cfg["serviceAccount"] == email
        assert "compute@developer.gserviceaccount.com" not in cfg["serviceAccount"]
        assert cfg["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
        assert cfg["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert cfg["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    roles = {r.inputs["role"] for r in syn.of_type(PROJECT_IAM) if r.inputs["member"] == f"serviceAccount:{email}"}
    # Google's node role (logs, metrics, resource metadata), not the broader monitoring.viewer recipe
    assert roles == {"roles/container.defaultNodeServiceAccount"}
    # Image pulls: reader on each platform repository, not project-wide.
    pulls = [r.inputs for r in syn.of_type(REPO_IAM) if r.inputs["member"] == f"serviceAccount:{email}"]
    assert {p["repository"] for p in pulls} == {r.inputs["repositoryId"] for r in syn.of_type(REPO)}
    assert {p["role"] for p in pulls} == {"roles/artifactregistry.reader"}


def test_system_pool(syn: Synthesis) -> None:
    pool = _pool(syn, "system")
    cfg = pool["nodeConfig"]
    sp = syn.spec.system_pool
    assert cfg["machineType"] == sp.machine_type
    assert cfg["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    assert cfg["labels"] == {"ml-platform/role": "system"}
    assert cfg["imageType"] == "COS_CONTAINERD"
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert pool["autoscaling"]["totalMinNodeCount"] == sp.min_nodes
    assert pool["autoscaling"]["totalMaxNodeCount"] == sp.max_nodes


def test_kube_provider_uses_the_auth_plugin_and_the_kubeconfig_is_secret(syn: Synthesis) -> None:
    assert syn.outputs["kubeconfig"] == "[secret]"
    provider = syn.one("pulumi:providers:kubernetes").inputs
    assert provider["kubeconfig"] == "[secret]"
    from components.gcp.cluster import kubeconfig

    doc = json.loads(kubeconfig("c", "10.0.0.2", "Q0E="))
    user = doc["users"][0]["user"]
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert "token" not in user and "client-key-data" not in user
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.0.2"


# --- GPU pools -------------------------------------------------------------------------------------


def test_gpu_pools_match_the_spec_and_the_catalog(syn: Synthesis) -> None:
    from components import catalog

    assert len(syn.of_type(NODE_POOL)) == len(syn.spec.gpu_pools) + 2  # + system and workers
    zones = mocks_gcp.zones(syn.spec.region)[: syn.spec.network.az_count]
    for spec in syn.spec.gpu_pools:
        pool = _pool(syn, spec.name)
        cfg = pool["nodeConfig"]
        offering = catalog.accelerator(spec.accelerator).offering("gcp")
        machine = offering.machine_for(spec.gpus_per_node)
        assert cfg["machineType"] == machine.name
        assert cfg["guestAccelerators"] == [
            {
                "type": offering.accelerator_type,
                "count": machine.gpus,
                "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
            }
        ]
        assert GPU_TAINT in cfg["taints"], "GKE adds the taint itself; undeclared, every update replaces the pool"
        # The same node labels as the AWS pool for the same spec: Kueue and selectors are cloud-neutral.
        assert cfg["labels"] == aws_node_labels(spec)
        assert pool["autoscaling"] == {
            "totalMinNodeCount": spec.min_nodes,
            "totalMaxNodeCount": spec.max_nodes,
            "locationPolicy": "ANY",
        }
        assert "minNodeCount" not in pool["autoscaling"] and "maxNodeCount" not in pool["autoscaling"]
        assert pool["nodeLocations"] == (spec.zones or zones)  # a reserved pool stays in its reservation's zone
        assert cfg["diskSizeGb"] == spec.disk_size_gb
        assert cfg["diskType"] in ("pd-ssd", "pd-balanced")
        assert cfg["imageType"] == "COS_CONTAINERD"
        assert cfg["bootDiskKmsKey"].endswith("-disk")
        assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert cfg["spot"] is (str(spec.capacity) == "spot")


def test_dev_gpu_pool_is_spot_from_zero(dev: Synthesis) -> None:
    cfg = _pool(dev, "l4")["nodeConfig"]
    assert cfg["spot"] is True
    assert cfg["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert _pool(dev, "l4")["autoscaling"]["totalMinNodeCount"] == 0


def test_prod_training_pool_consumes_its_reservation(prod: Synthesis) -> None:
    pool = _pool(prod, "h100-train")["nodeConfig"]
    assert pool["machineType"] == "a3-highgpu-8g"
    assert pool["guestAccelerators"][0]["count"] == 8
    assert pool["spot"] is False
    assert pool["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["mlp-h100-train"],
    }
    assert "ml-platform/fabric" not in pool["labels"]  # no GPUDirect networking is built (G11)
    serve = _pool(prod, "l4-serve")["nodeConfig"]
    assert serve["spot"] is False and serve["labels"]["ml-platform/capacity"] == "on-demand"


# --- buckets, registry, database -------------------------------------------------------------------


def test_buckets_are_private_encrypted_versioned_and_logged(syn: Synthesis) -> None:
    buckets = {r.inputs["labels"]["ml-platform_bucket"]: r.inputs for r in syn.of_type(BUCKET)}
    assert set(buckets) == {b.name for b in syn.spec.buckets}
    logs_name = buckets["logs"]["name"]
    for key, b in buckets.items():
        spec = syn.spec.bucket(key)
        assert syn.spec.project in b["name"]
        assert b["uniformBucketLevelAccess"] is True
        assert b["publicAccessPrevention"] == "enforced"
        assert b["encryption"]["defaultKmsKeyName"].endswith(f"/cryptoKeys/{syn.spec.name}-{syn.stack}-storage")
        assert b["versioning"] == {"enabled": True}
        assert b["forceDestroy"] is (not syn.spec.is_prod)
        actions = {(r["action"]["type"], json.dumps(r["condition"], sort_keys=True)) for r in b["lifecycleRules"]}
        assert ("AbortIncompleteMultipartUpload", json.dumps({"age": 7})) in actions
        noncurrent = [r for r in b["lifecycleRules"] if "daysSinceNoncurrentTime" in r["condition"]]
        assert [r["condition"]["daysSinceNoncurrentTime"] for r in noncurrent] == [spec.noncurrent_version_days]
        expiring = [
            r["condition"]["age"]
            for r in b["lifecycleRules"]
            if r["action"]["type"] == "Delete" and "age" in r["condition"]
        ]
        assert expiring == ([spec.expiration_days] if spec.expiration_days else [])
        if key == "logs":
            assert "logging" not in b
        else:
            assert b["logging"]["logBucket"] == logs_name
    writers = [r.inputs for r in syn.of_type(BUCKET_IAM) if r.inputs["member"].startswith("group:")]
    assert writers == [
        {
            "bucket": logs_name,
            "role": "roles/storage.objectCreator",
            "member": "group:cloud-storage-analytics@google.com",
        }
    ]


def test_repositories_are_immutable_encrypted_scanned_and_cleaned(syn: Synthesis) -> None:
    repos = {r.inputs["repositoryId"]: r.inputs for r in syn.of_type(REPO)}
    assert len(repos) == len(syn.spec.repositories)
    for spec in syn.spec.repositories:
        repo = repos[f"{syn.spec.name}-{syn.stack}-{spec.name}"]
        assert repo["format"] == "DOCKER"
        assert repo["dockerConfig"] == {"immutableTags": True}
        assert repo["kmsKeyName"].endswith("-registry")
        assert repo["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
        assert repo["cleanupPolicyDryRun"] is False
        policies = {p["id"]: p for p in repo["cleanupPolicies"]}
        untagged = policies["delete-untagged"]
        assert untagged["action"] == "DELETE" and untagged["condition"]["tagState"] == "UNTAGGED"
        assert _seconds(untagged["condition"]["olderThan"]) == spec.untagged_expiry_days * 86400
        keep = policies["keep-most-recent"]
        assert keep["action"] == "KEEP" and keep["mostRecentVersions"] == {"keepCount": spec.keep_tagged_images}
        url = syn.outputs["registryUrls"][spec.name]
        # an image path (REPOSITORY/IMAGE): Artifact Registry refuses an image directly under a repository
        assert url == f"{syn.spec.region}-docker.pkg.dev/{syn.spec.project}/{repo['repositoryId']}/{spec.name}"


def test_database_is_private_tls_only_backed_up_and_encrypted(syn: Synthesis) -> None:
    db = syn.one(SQL).inputs
    s = db["settings"]
    assert db["databaseVersion"] == f"POSTGRES_{syn.spec.database.postgres_version}"
    assert db["encryptionKeyName"].endswith("-database")
    ip = s["ipConfiguration"]
    assert ip["ipv4Enabled"] is False
    assert ip["privateNetwork"].endswith(f"/networks/{syn.spec.name}-{syn.stack}")
    assert ip["sslMode"] == "ENCRYPTED_ONLY"
    assert "authorizedNetworks" not in ip
    backup = s["backupConfiguration"]
    assert backup["enabled"] is True and backup["pointInTimeRecoveryEnabled"] is True
    assert backup["backupRetentionSettings"]["retainedBackups"] == syn.spec.database.backup_retention_days
    assert s["tier"] == syn.spec.database.instance_class and s["edition"] == "ENTERPRISE"
    flags = {f["name"]: f["value"] for f in s["databaseFlags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    assert flags["log_connections"] == "on" and flags["log_disconnections"] == "on"
    assert s["insightsConfig"]["queryInsightsEnabled"] is True
    psa = syn.one("gcp:compute/globalAddress:GlobalAddress").inputs
    assert psa["purpose"] == "VPC_PEERING" and psa["addressType"] == "INTERNAL"
    conn = syn.one("gcp:servicenetworking/connection:Connection").inputs
    assert conn["reservedPeeringRanges"] == [psa["name"]]
    assert syn.one("gcp:sql/database:Database").inputs["name"] == "mlflow"
    # IAM database authentication: every user is a workload's IAM identity, no password exists (G5, G9)
    users = [r.inputs for r in syn.of_type("gcp:sql/user:User")]
    assert users and {u["type"] for u in users} == {"CLOUD_IAM_SERVICE_ACCOUNT"}
    assert not any("password" in u or "passwordWo" in u for u in users)
    assert syn.outputs["databaseSecret"] is None
    assert syn.outputs["databaseEndpoint"].endswith(":5432")


# --- dev vs prod -----------------------------------------------------------------------------------


def test_environment_differences(dev: Synthesis, prod: Synthesis) -> None:
    d, p = dev.one(CLUSTER).inputs, prod.one(CLUSTER).inputs
    assert d["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert p["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert [c["cidrBlock"] for c in d["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["203.0.113.0/24"]
    assert p["masterAuthorizedNetworksConfig"]["cidrBlocks"] == []
    assert d["binaryAuthorization"] == {"evaluationMode": "DISABLED"}
    assert p["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert d["releaseChannel"] == {"channel": "REGULAR"} and p["releaseChannel"] == {"channel": "STABLE"}
    assert d["deletionProtection"] is False and p["deletionProtection"] is True
    assert len(d["nodeLocations"]) == 2 and len(p["nodeLocations"]) == 3

    ddb, pdb = dev.one(SQL).inputs, prod.one(SQL).inputs
    assert ddb["settings"]["availabilityType"] == "ZONAL"
    assert pdb["settings"]["availabilityType"] == "REGIONAL"
    assert ddb["deletionProtection"] is False and pdb["deletionProtection"] is True
    assert pdb["settings"]["deletionProtectionEnabled"] is True

    stateful = (
        CLUSTER,
        BUCKET,
        REPO,
        SQL,
        KEY,
        "gcp:kms/keyRing:KeyRing",
        "gcp:secretmanager/secret:Secret",
        "gcp:sql/database:Database",
    )
    for token in stateful:
        assert prod.of_type(token) and all(r.protect for r in prod.of_type(token)), token
        assert not any(r.protect for r in dev.of_type(token)), token
    # Node pools are cattle: never protected, so a pool can be replaced.
    assert not any(r.protect for r in prod.of_type(NODE_POOL))


def test_prod_admins_get_rbac_in_the_cluster_not_project_admin(prod: Synthesis) -> None:
    principals = prod.spec.cluster.admin_principals
    iam = [r.inputs for r in prod.of_type(PROJECT_IAM) if r.inputs["member"] in principals]
    assert sorted(i["member"] for i in iam) == sorted(principals)
    assert {i["role"] for i in iam} == {"roles/container.clusterViewer"}
    bindings = [r.inputs for r in prod.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")]
    assert len(bindings) == len(principals)
    assert {b["roleRef"]["name"] for b in bindings} == {"cluster-admin"}
    subjects = {(s["kind"], s["name"]) for b in bindings for s in b["subjects"]}
    assert subjects == {
        ("Group", "platform-admins@example.com"),
        ("User", "platform-ci@mlp-prod-123456.iam.gserviceaccount.com"),
    }


# --- Workload Identity -----------------------------------------------------------------------------


def test_bind_identity_trusts_exactly_one_kubernetes_service_account(dev: Synthesis) -> None:
    gsa = [r for r in dev.of_type(SA) if r.inputs["accountId"].startswith("wi-research-trainer")]
    assert len(gsa) == 1
    email = f"{gsa[0].inputs['accountId']}@{dev.spec.project}.iam.gserviceaccount.com"
    assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", gsa[0].inputs["accountId"])
    assert dev.outputs["bindingPrincipal"] == email
    assert dev.outputs["bindingAnnotations"] == {"iam.gke.io/gcp-service-account": email}
    wi = [r.inputs for r in dev.of_type(SA_IAM) if r.inputs["serviceAccountId"].endswith(f"/{email}")]
    assert wi == [
        {
            "serviceAccountId": f"projects/{dev.spec.project}/serviceAccounts/{email}",
            "role": "roles/iam.workloadIdentityUser",
            "member": "serviceAccount:mlp-dev-123456.svc.id.goog[research/trainer]",
        }
    ]


def test_bind_identity_grants_only_the_named_buckets_and_prefixes(dev: Synthesis) -> None:
    member = f"serviceAccount:{dev.outputs['bindingPrincipal']}"
    grants = {r.inputs["bucket"]: r.inputs for r in dev.of_type(BUCKET_IAM) if r.inputs["member"] == member}
    names = dev.outputs["buckets"]
    assert set(grants) == {names["artifacts"], names["datasets"]}
    rw = grants[names["artifacts"]]
    assert rw["role"] == "roles/storage.objectUser"
    expr = rw["condition"]["expression"]
    assert f'resource.name.startsWith("projects/_/buckets/{names["artifacts"]}/objects/runs/research/")' in expr
    assert '"storage.googleapis.com/objectListPrefix", "").startsWith("runs/research/")' in expr
    ro = grants[names["datasets"]]
    assert ro["role"] == "roles/storage.objectViewer" and "condition" not in ro
    # Nothing project-wide, image pulls only from the platform's repositories.
    assert not [r for r in dev.of_type(PROJECT_IAM) if r.inputs["member"] == member]
    pulls = [r.inputs for r in dev.of_type(REPO_IAM) if r.inputs["member"] == member]
    assert {p["role"] for p in pulls} == {"roles/artifactregistry.reader"}
    assert len(pulls) == len(dev.of_type(REPO))
    assert "unknown bucket 'nope'" in dev.outputs["unknownBucketError"]
    assert "datasets" in dev.outputs["unknownBucketError"]


# --- labels ----------------------------------------------------------------------------------------


def _labels_of(token: str, inputs: dict[str, Any]) -> dict[str, str] | None:
    """The labels a resource carries, or None where its type takes none."""
    if token == NODE_POOL:
        return inputs["nodeConfig"].get("resourceLabels", {})
    if token == SQL:
        return inputs["settings"].get("userLabels", {})
    module, cls_name = token.split(":")[1].split("/", maxsplit=1)[0], token.rsplit(":", 1)[1]
    cls = getattr(getattr(pulumi_gcp, module), cls_name)
    params = inspect.signature(cls._internal_init).parameters
    for param, key in (("labels", "labels"), ("resource_labels", "resourceLabels"), ("user_labels", "userLabels")):
        if param in params:
            return inputs.get(key, {})
    return None


def test_every_labelable_resource_carries_the_required_labels(syn: Synthesis) -> None:
    checked = set()
    for r in syn.resources:
        if not r.type.startswith("gcp:"):
            continue
        labels = _labels_of(r.type, r.inputs)
        if labels is None:
            continue
        checked.add(r.type)
        missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
        assert not missing, f"{r.type} {r.name} lacks labels {missing}"
        assert labels["ml-platform_stack"] == syn.stack
        for k, v in labels.items():
            assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) and re.fullmatch(r"[a-z0-9_-]{0,63}", v), (k, v)
    assert {CLUSTER, NODE_POOL, BUCKET, REPO, SQL, KEY, "gcp:secretmanager/secret:Secret"} <= checked


# --- bring your own network ------------------------------------------------------------------------


def test_existing_network_is_used_not_created() -> None:
    raw = copy.deepcopy(read_stack_file(STACKS / "Pulumi.gcp-dev.yaml"))
    platform = raw["ml-platform:platform"]
    platform["network"] = {
        "existingVpcId": "projects/shared-vpc-host/global/networks/shared",
        "existingPrivateSubnetIds": [
            "projects/shared-vpc-host/regions/us-central1/subnetworks/ml",
        ],
    }
    spec = parse_platform(platform, "test")
    syn = synthesize("gcp-dev", spec, raw)
    for token in (
        "gcp:compute/network:Network",
        "gcp:compute/subnetwork:Subnetwork",
        "gcp:compute/routerNat:RouterNat",
        "gcp:compute/globalAddress:GlobalAddress",
        "gcp:servicenetworking/connection:Connection",
    ):
        assert not syn.of_type(token), token
    c = syn.one(CLUSTER).inputs
    assert c["network"] == "projects/shared-vpc-host/global/networks/shared"
    assert c["subnetwork"] == "projects/shared-vpc-host/regions/us-central1/subnetworks/ml"
    assert syn.one(SQL).inputs["settings"]["ipConfiguration"]["privateNetwork"] == c["network"]


# --- mocks -----------------------------------------------------------------------------------------


def test_unknown_gcp_lookup_is_an_error_naming_the_token() -> None:
    mocks = PlatformMocks(region="us-central1", project="p-123456")
    with pytest.raises(NotImplementedError, match="gcp:compute/getImage:getImage"):
        mocks_gcp.call(mocks, "gcp:compute/getImage:getImage", {})
    project = mocks_gcp.call(mocks, "gcp:organizations/getProject:getProject", {"projectId": "p-123456"})
    assert project["number"] == GCP_PROJECT_NUMBER and project["projectId"] == "p-123456"
    rid, state = mocks_gcp.new_resource(mocks, CLUSTER, "c", {"name": "c", "location": "us-central1"})
    assert rid == "projects/p-123456/locations/us-central1/clusters/c"
    assert state["masterAuth"]["clusterCaCertificate"] and state["endpoint"]
    assert mocks_gcp.new_resource(mocks, CLUSTER, "c", {"name": "c"}) == mocks_gcp.new_resource(
        mocks, CLUSTER, "c", {"name": "c"}
    )


def test_node_locations_keep_only_zones_offering_the_machine(monkeypatch) -> None:
    from infra.mocks import PlatformMocks

    monkeypatch.setattr(PlatformMocks, "unavailable", {"g2-standard-4": {"us-central1-b"}})
    raw = copy.deepcopy(read_stack_file(STACKS / "Pulumi.gcp-prod.yaml"))
    spec = parse_platform(raw["ml-platform:platform"], "test")
    syn = synthesize("gcp-prod", spec, raw)
    pools = {r.inputs["name"]: r.inputs for r in syn.of_type("gcp:container/nodePool:NodePool")}
    assert pools["l4-serve"]["nodeLocations"] == ["us-central1-a", "us-central1-c"]
    assert pools["h100-train"]["nodeLocations"] == ["us-central1-a"]


def test_reserved_zone_without_the_machine_is_a_clear_error(monkeypatch) -> None:
    import pulumi

    from infra.mocks import PlatformMocks

    monkeypatch.setattr(PlatformMocks, "unavailable", {"a3-highgpu-8g": {"us-central1-a"}})
    raw = copy.deepcopy(read_stack_file(STACKS / "Pulumi.gcp-prod.yaml"))
    spec = parse_platform(raw["ml-platform:platform"], "test")
    with pytest.raises(pulumi.RunError, match=r"nvidia-h100-80gb \(a3-highgpu-8g\) is not offered in us-central1-a"):
        synthesize("gcp-prod", spec, raw)


def test_existing_network_uses_its_own_secondary_range_names() -> None:
    raw = copy.deepcopy(read_stack_file(STACKS / "Pulumi.gcp-dev.yaml"))
    raw["ml-platform:platform"]["network"] = {
        "existingVpcId": "shared",
        "existingPrivateSubnetIds": ["ml"],
        "existingPodsRange": "gke-pods-1",
        "existingServicesRange": "gke-svc-1",
    }
    spec = parse_platform(raw["ml-platform:platform"], "test")
    cluster = synthesize("gcp-dev", spec, raw).one("gcp:container/cluster:Cluster").inputs
    assert cluster["ipAllocationPolicy"]["clusterSecondaryRangeName"] == "gke-pods-1"
    assert cluster["ipAllocationPolicy"]["servicesSecondaryRangeName"] == "gke-svc-1"
    assert cluster["subnetwork"].endswith("/regions/us-central1/subnetworks/ml")


def test_cluster_logs_stay_in_region_for_the_configured_retention(syn: Synthesis) -> None:
    bucket = syn.one("gcp:logging/projectBucketConfig:ProjectBucketConfig").inputs
    assert bucket["location"] == syn.spec.region  # data residency: not the `global` _Default bucket
    assert bucket["retentionDays"] == syn.spec.cluster.log_retention_days
    sink = syn.one("gcp:logging/projectSink:ProjectSink").inputs
    assert sink["destination"].startswith("logging.googleapis.com/projects/")
    assert 'resource.labels.cluster_name="' in sink["filter"] and "k8s_cluster" in sink["filter"]
