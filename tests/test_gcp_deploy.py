"""What a first `pulumi up` of the GCP stacks needs that the mocks do not check (deploy audit G1-G14,
and the GCP half of issue 17's own audit): creation order through the recorded dependencies, values the
API refuses or has removed, companions (an image policy for an enforcing cluster, a firewall for
webhooks on private nodes) and day-2 changes. Each test names the audit item it covers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
import yaml

from infra.config import ConfigError, load_stack_file, parse_platform
from infra.program import run
from infra.synth import ResourceRecord, Synthesis, synthesize
from tests.conftest import STACKS_DIR, raw_platform, synth_platform, synth_stack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_gcp")

SERVICE = "gcp:projects/service:Service"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
FIREWALL = "gcp:compute/firewall:Firewall"
POLICY = "gcp:binaryauthorization/policy:Policy"
SQL_USER = "gcp:sql/user:User"
K8S_PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"

# The API each resource family is served by (Google Cloud's API per product), written out here rather
# than read from the code under test.
API_OF = {
    "gcp:compute/": "compute.googleapis.com",
    "gcp:container/": "container.googleapis.com",
    "gcp:kms/": "cloudkms.googleapis.com",
    "gcp:storage/": "storage.googleapis.com",
    "gcp:artifactregistry/": "artifactregistry.googleapis.com",
    "gcp:sql/": "sqladmin.googleapis.com",
    "gcp:servicenetworking/": "servicenetworking.googleapis.com",
    "gcp:secretmanager/": "secretmanager.googleapis.com",
    "gcp:redis/": "redis.googleapis.com",
    "gcp:serviceaccount/": "iam.googleapis.com",
    "gcp:projects/iAMMember": "cloudresourcemanager.googleapis.com",
    "gcp:logging/": "logging.googleapis.com",
    "gcp:binaryauthorization/": "binaryauthorization.googleapis.com",
}
# The agents created by enabling their API (GKE, Compute Engine, Memorystore), by email domain.
ENABLED_AGENTS = {
    "container-engine-robot.iam.gserviceaccount.com": "container.googleapis.com",
    "compute-system.iam.gserviceaccount.com": "compute.googleapis.com",
    "cloud-redis.iam.gserviceaccount.com": "redis.googleapis.com",
}


@pytest.fixture(scope="module", params=["gcp-dev", "gcp-prod"])
def syn(request: pytest.FixtureRequest) -> Synthesis:
    return synth_stack(request.param)


def deps(syn: Synthesis, record: ResourceRecord) -> list[ResourceRecord]:
    """The resources `record` waits for (explicit dependsOn and those whose outputs it takes)."""
    return [syn.by_urn(u) for u in record.dependencies if u in {r.urn for r in syn.resources}]


def services_of(syn: Synthesis, record: ResourceRecord) -> set[str]:
    return {d.inputs["service"] for d in deps(syn, record) if d.type == SERVICE}


def custom_gcp(syn: Synthesis) -> Iterator[ResourceRecord]:
    return (r for r in syn.resources if r.custom and r.type.startswith("gcp:"))


# --- G7: the APIs are enabled by the program, before their consumers -----------------------------------------


def test_g7_the_apis_the_program_calls_are_enabled_and_never_disabled_on_destroy(syn: Synthesis) -> None:
    services = {r.inputs["service"]: r.inputs for r in syn.of_type(SERVICE)}
    # audit G7: the ones the README did not list, and the ones Workload Identity and CI's WIF need
    assert {
        "iam.googleapis.com",
        "cloudresourcemanager.googleapis.com",
        "iamcredentials.googleapis.com",
        "sts.googleapis.com",
        "containerscanning.googleapis.com",
    } <= set(services)
    assert all(s["disableOnDestroy"] is False for s in services.values())


def test_g7_every_gcp_resource_is_created_after_its_api(syn: Synthesis) -> None:
    enabled = {r.inputs["service"] for r in syn.of_type(SERVICE)}
    checked = 0
    for r in custom_gcp(syn):
        if r.type == SERVICE:
            continue
        if r.type == IDENTITY:
            api = r.inputs["service"]
        else:
            api = next(a for prefix, a in API_OF.items() if r.type.startswith(prefix))
        assert api in enabled, f"{r.type} {r.name}: {api} is not enabled by the program"
        assert api in services_of(syn, r), f"{r.type} {r.name} does not wait for {api}"
        checked += 1
    assert checked > 60


# --- G1: every service-agent grant after whatever creates the agent ------------------------------------------


def test_g1_the_storage_agent_grant_comes_from_the_cloud_storage_api(syn: Synthesis) -> None:
    """The Cloud Storage agent is created lazily and not by generateServiceIdentity; the grant must name
    the agent Cloud Storage's projects.serviceAccount.get returned (which creates it), after the API."""
    (grant,) = [g for g in syn.of_type(KEY_IAM) if g.inputs["cryptoKeyId"].endswith("-storage")]
    assert grant.inputs["member"].endswith("@gs-project-accounts.iam.gserviceaccount.com")
    assert "storage.googleapis.com" in services_of(syn, grant)


def test_g1_every_service_agent_grant_waits_for_what_creates_the_agent(syn: Synthesis) -> None:
    identities = {
        r.inputs["service"]: r for r in syn.of_type(IDENTITY)
    }  # generateServiceIdentity: Cloud SQL, Artifact Registry, Secret Manager
    for grant in syn.of_type(KEY_IAM):
        domain = grant.inputs["member"].rsplit("@", 1)[1]
        waits = deps(syn, grant)
        if domain in ENABLED_AGENTS:
            assert ENABLED_AGENTS[domain] in services_of(syn, grant), grant.name
        elif domain == "gs-project-accounts.iam.gserviceaccount.com":
            assert "storage.googleapis.com" in services_of(syn, grant), grant.name
        else:
            creators = [r for r in waits if r.type == IDENTITY]
            assert creators and creators[0] in identities.values(), f"{grant.name}: agent {domain} has no creator"


# --- G2: Workload Identity bindings after the cluster that creates the pool -----------------------------------


def test_g2_every_workload_identity_binding_waits_for_the_cluster(syn: Synthesis) -> None:
    cluster = syn.one(CLUSTER)
    bindings = [r for r in syn.of_type(SA_IAM) if r.inputs["role"] == "roles/iam.workloadIdentityUser"]
    assert len(bindings) >= 5  # mlflow, feast (3), ESO, teams ...
    for b in bindings:
        assert ".svc.id.goog[" in b.inputs["member"]
        assert cluster in deps(syn, b), f"{b.name} does not wait for the cluster (pool not yet created)"


# --- G3: the control plane reaches the webhooks on private nodes ---------------------------------------------


def test_g3_control_plane_reaches_every_webhook_port_of_the_platforms_charts(syn: Synthesis) -> None:
    cluster = syn.one(CLUSTER).inputs
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert "masterIpv4CidrBlock" not in cluster["privateClusterConfig"]  # a Private Service Connect plane
    subnet = syn.one("gcp:compute/subnetwork:Subnetwork").inputs
    (fw,) = syn.of_type(FIREWALL)
    rule = fw.inputs
    assert rule["direction"] == "INGRESS" and rule["network"].endswith(f"/networks/{syn.spec.name}-{syn.stack}")
    # the PSC endpoint sits in the node subnet: control-plane traffic comes from there
    assert rule["sourceRanges"] == [subnet["ipCidrRange"]]
    node_sa = [r for r in syn.of_type("gcp:serviceaccount/account:Account") if r.inputs["accountId"].endswith("-nodes")]
    assert rule["targetServiceAccounts"] == [
        f"{node_sa[0].inputs['accountId']}@{syn.spec.project}.iam.gserviceaccount.com"
    ]
    ports = {p for a in rule["allows"] if a["protocol"] == "tcp" for p in a["ports"]}
    # Kueue's configured webhook port and its visibility API server (aggregated APIService, targetPort 8082);
    # KServe, Kubeflow Trainer, JobSet and Envoy Gateway's topology injector serve on 9443 too
    assert {str(_kueue_webhook_port(syn)), "8082", "9443"} <= ports
    # nothing that GKE already allows or that is not a webhook
    assert not ports & {"443", "10250", "22"}
    # the first Kubernetes call comes after the rule
    assert fw in deps(syn, syn.one(K8S_PROVIDER))


def _kueue_webhook_port(syn: Synthesis) -> int:
    """The webhook port of Kueue's manager configuration, as the platform renders it into the chart."""
    values = next(r for r in syn.of_type(RELEASE) if r.name == "kueue").inputs["values"]
    return int(yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])["webhook"]["port"])


# --- G4: CI reaches the API through the IAM-gated DNS endpoint ----------------------------------------------


def _with_kubeconfig() -> None:
    platform = run()
    pulumi.export("kubeconfigPlain", pulumi.Output.unsecret(platform.foundation.kubeconfig))


@pytest.fixture(scope="module")
def prod_kubeconfig() -> Synthesis:
    spec, cfg = load_stack_file(STACKS_DIR / "Pulumi.gcp-prod.yaml")
    return synthesize("gcp-prod", spec, cfg, program=_with_kubeconfig)


def test_g4_the_dns_endpoint_takes_iam_authenticated_traffic_from_anywhere(syn: Synthesis) -> None:
    endpoints = syn.one(CLUSTER).inputs["controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"] == {
        "allowExternalTraffic": True,
        "enableK8sTokensViaDns": False,
        "enableK8sCertsViaDns": False,
    }
    assert endpoints["ipEndpointsConfig"] == {"enabled": True}
    private = syn.one(CLUSTER).inputs["privateClusterConfig"]["enablePrivateEndpoint"]
    assert private is syn.spec.is_prod  # the IP endpoint stays private in prod


def test_g4_the_kubernetes_provider_talks_to_the_dns_endpoint(prod_kubeconfig: Synthesis) -> None:
    doc = json.loads(prod_kubeconfig.outputs["kubeconfigPlain"])
    server = doc["clusters"][0]["cluster"]["server"]
    assert server.startswith("https://gke-") and server.endswith(".us-central1.gke.goog")
    # a publicly trusted certificate there, not the cluster CA: no CA data to mismatch
    assert "certificate-authority-data" not in doc["clusters"][0]["cluster"]
    assert doc["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"


def test_g4_admins_including_ci_can_connect_and_the_provider_waits_for_their_iam() -> None:
    prod = synth_stack("gcp-prod")
    principals = prod.spec.cluster.admin_principals
    assert any(p.startswith("serviceAccount:") for p in principals)  # the CI deploy identity
    grants = {r.inputs["member"]: r for r in prod.of_type(PROJECT_IAM) if r.inputs["member"] in principals}
    assert set(grants) == set(principals)
    # container.clusterViewer carries container.clusters.connect, what the DNS endpoint checks
    assert {g.inputs["role"] for g in grants.values()} == {"roles/container.clusterViewer"}
    provider = deps(prod, prod.one(K8S_PROVIDER))
    assert {g.urn for g in grants.values()} <= {r.urn for r in provider}
    assert any(r.type == NODE_POOL and r.inputs["name"] == "system" for r in provider)


# --- G5/G9: IAM database authentication for real, no password user ------------------------------------------


def test_g5_no_database_user_is_created_without_a_way_to_log_in(syn: Synthesis) -> None:
    """Postgres BUILT_IN users need a password (provider docs); the platform creates IAM users only."""
    for user in syn.of_type(SQL_USER):
        assert user.inputs["type"] in ("CLOUD_IAM_SERVICE_ACCOUNT", "CLOUD_IAM_USER") or user.inputs.get("password"), (
            user.name
        )


def test_g9_mlflow_and_the_feast_registry_log_in_as_their_workload_identities() -> None:
    prod = synth_stack("gcp-prod")
    accounts = {
        r.name: r.inputs["accountId"]
        for r in prod.of_type("gcp:serviceaccount/account:Account")
        if r.name in ("wi-mlflow-mlflow", "wi-feast-feast-registry")
    }
    assert len(accounts) == 2
    users = {u.inputs["name"]: u for u in prod.of_type(SQL_USER)}
    for account in accounts.values():
        user = users[f"{account}@{prod.spec.project}.iam"]  # the email without .gserviceaccount.com
        assert user.inputs["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
        assert user.inputs["databaseRoles"] == ["cloudsqlsuperuser"]  # CREATE on the API-created database
        assert user.inputs["deletionPolicy"] == "ABANDON"
    # no password secret exists for anything to read
    assert not [s for s in prod.of_type("gcp:secretmanager/secret:Secret") if "password" in s.inputs["secretId"]]
    pods = [
        r.inputs["spec"]["template"]["spec"]
        for r in prod.of_type("kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"]["name"] in ("mlflow", "feast-registry")
    ]
    assert len(pods) == 2
    for pod in pods:
        assert pod["initContainers"][0]["name"] == "cloud-sql-proxy"
        assert "--auto-iam-authn" in pod["initContainers"][0]["args"]
        for c in [*pod["initContainers"], *pod["containers"]]:
            assert "PGPASSWORD" not in {e["name"] for e in c.get("env", [])}


# --- G6: no removed enum value --------------------------------------------------------------------------------


def test_g6_security_posture_uses_no_removed_vulnerability_mode(syn: Synthesis) -> None:
    posture = syn.one(CLUSTER).inputs["securityPostureConfig"]
    # VULNERABILITY_BASIC was removed for Standard clusters (GKE deprecations, July 2025)
    assert posture == {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_DISABLED"}


# --- G8: an enforcing cluster has a policy that admits the platform and nothing else --------------------------


def _patterns(prod: Synthesis) -> list[str]:
    return [p["namePattern"] for p in prod.one(POLICY).inputs["admissionWhitelistPatterns"]]


def _admitted(image: str, patterns: list[str]) -> bool:
    """Binary Authorization's name-pattern matching: a trailing `**` matches anything below, a trailing
    `*` anything but `/` (AdmissionWhitelistPattern reference)."""
    for p in patterns:
        if p.endswith("**") and image.startswith(p[:-2]):
            return True
        if p.endswith("*") and not p.endswith("**") and image.startswith(p[:-1]) and "/" not in image[len(p) - 1 :]:
            return True
    return False


def _images(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "image" and isinstance(v, str):
                # chart values that split repository and tag ({"image": repo, "tag": tag})
                yield f"{v}:{obj['tag']}" if "tag" in obj and ":" not in v.rsplit("/", 1)[-1] else v
            elif k == "image" and isinstance(v, dict) and "repository" in v:
                registry = v.get("registry") or ""
                repo = f"{registry}/{v['repository']}" if registry else v["repository"]
                yield f"{repo}:{v.get('tag', 'x')}"
            else:
                yield from _images(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _images(v)


def test_g8_enforcement_comes_with_a_deny_by_default_policy_created_first() -> None:
    prod, dev = synth_stack("gcp-prod"), synth_stack("gcp-dev")
    cluster = prod.one(CLUSTER)
    assert cluster.inputs["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    policy = prod.one(POLICY)
    assert policy.inputs["defaultAdmissionRule"] == {
        "evaluationMode": "ALWAYS_DENY",
        "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
    }
    assert policy.inputs["globalPolicyEvaluationMode"] == "ENABLE"  # GKE's own system images
    assert policy in deps(prod, cluster)
    assert not dev.of_type(POLICY)  # dev does not enforce, and leaves the project's policy alone


def test_g8_every_image_the_prod_stack_runs_is_admitted() -> None:
    """Every image in the synthesized prod stack (chart values, pods, runtimes), the proxy sidecar, and
    the chart-default images the values do not override (found by rendering the pinned charts with the
    stack's values: Helm 4.1.4, 2026-12): prod's own controllers must not be blocked."""
    prod = synth_stack("gcp-prod")
    patterns = _patterns(prod)
    images = {i for r in prod.resources if r.type.startswith("kubernetes:") for i in _images(r.inputs)}
    images |= {
        "docker.io/envoyproxy/envoy:distroless-v1.39.0",  # Envoy Gateway v1.9 DefaultEnvoyProxyImage
        "quay.io/brancz/kube-rbac-proxy:v0.18.0",  # kserve-resources
        "registry.k8s.io/jobset/jobset:v0.12.0",  # kubeflow-trainer's jobset subchart
        "registry.k8s.io/kubectl:v1.36.2",  # argo-workflows' CRD install job
        "quay.io/argoproj/argoexec:v4.0.6-nonroot",
    }
    assert len(images) > 30
    blocked = sorted(i for i in images if not _admitted(i, patterns))
    assert blocked == []
    # the allowlist is not a wildcard: other images on the same registries stay out
    for image in ("docker.io/library/nginx:1.29", "quay.io/evil/miner:1", "ghcr.io/someone/else:1"):
        assert not _admitted(image, patterns), image
    # the platform's own repositories, every image in them
    assert _admitted(f"us-central1-docker.pkg.dev/{prod.spec.project}/mlp-gcp-prod-serving/serving:0.1.0", patterns)


# --- G10: group admins get their RBAC -------------------------------------------------------------------------


def test_g10_group_admins_come_with_google_groups_for_rbac() -> None:
    prod, dev = synth_stack("gcp-prod"), synth_stack("gcp-dev")
    assert any(p.startswith("group:") for p in prod.spec.cluster.admin_principals)
    assert prod.one(CLUSTER).inputs["authenticatorGroupsConfig"] == {"securityGroup": "gke-security-groups@example.com"}
    assert "authenticatorGroupsConfig" not in dev.one(CLUSTER).inputs  # no group admin, nothing to set


def test_g10_the_security_group_defaults_to_the_groups_domain_and_must_have_gkes_name() -> None:
    platform = raw_platform("gcp-prod")
    platform["cluster"].pop("gkeSecurityGroup")
    platform["cluster"]["adminPrincipals"] = ["group:ml-admins@corp.example.org"]
    cluster = synth_platform(platform, "gcp-prod").one(CLUSTER).inputs
    assert cluster["authenticatorGroupsConfig"] == {"securityGroup": "gke-security-groups@corp.example.org"}
    platform["cluster"]["gkeSecurityGroup"] = "admins@corp.example.org"
    with pytest.raises(
        ConfigError, match=r"cluster\.gkeSecurityGroup: 'admins@corp\.example\.org' is not gke-security"
    ):
        parse_platform(platform, "stacks/Pulumi.x.yaml")


# --- G11: no fabric claim without the fabric ------------------------------------------------------------------


def test_g11_a_gpudirect_label_without_gpudirect_networking_is_refused() -> None:
    prod = synth_stack("gcp-prod")
    for pool in prod.of_type(NODE_POOL):
        assert "ml-platform/fabric" not in pool.inputs["nodeConfig"].get("labels", {})
    platform = raw_platform("gcp-prod")
    platform["gpuPools"][0]["labels"] = {"ml-platform/fabric": "gpudirect-tcpx"}
    with pytest.raises(
        ConfigError,
        match=r"gpuPools\[0\].labels.ml-platform/fabric: claims a GPU fabric the GCP foundation does not build",
    ):
        parse_platform(platform, "stacks/Pulumi.x.yaml")


# --- G12: H200 boot disks are Hyperdisk ------------------------------------------------------------------------


def test_g12_an_h200_pool_boots_from_hyperdisk() -> None:
    platform = raw_platform("gcp-dev")
    platform["gpuPools"] = [
        {
            "name": "h200",
            "accelerator": "nvidia-h200-141gb",
            "gpusPerNode": 8,
            "capacity": "spot",
            "minNodes": 0,
            "maxNodes": 1,
            "purpose": "training",
        }
    ]
    platform["teams"][0]["gpuQuota"] = {"nvidia-h200-141gb": 8}
    platform.pop("trainingJobs", None)
    (pool,) = [r for r in synth_platform(platform, "gcp-dev").of_type(NODE_POOL) if r.inputs["name"] == "h200"]
    assert pool.inputs["nodeConfig"]["machineType"] == "a3-ultragpu-8g"
    # A3 Ultra takes no Persistent Disk type: pd-ssd is refused at creation
    assert pool.inputs["nodeConfig"]["diskType"] == "hyperdisk-balanced"


# --- G13 and the destroy path of dev ---------------------------------------------------------------------------


def test_g13_destroying_dev_removes_the_peering_and_abandons_what_postgres_will_not_drop() -> None:
    dev = synth_stack("gcp-dev")
    (conn,) = dev.of_type("gcp:servicenetworking/connection:Connection")
    assert conn.inputs["deletionPolicy"] == "REMOVE_PEERING"  # ABANDON would block the network's deletion
    (database,) = dev.of_type("gcp:sql/database:Database")
    assert database.inputs["deletionPolicy"] == "ABANDON"  # IAM users own tables in it
    assert {u.inputs["deletionPolicy"] for u in dev.of_type(SQL_USER)} == {"ABANDON"}
    instance = dev.one("gcp:sql/databaseInstance:DatabaseInstance").inputs
    assert instance["deletionProtection"] is False and instance["settings"]["deletionProtectionEnabled"] is False
    assert dev.one(CLUSTER).inputs["deletionProtection"] is False
    assert all(b.inputs["forceDestroy"] is True for b in dev.of_type("gcp:storage/bucket:Bucket"))
    assert not any(r.protect for r in dev.resources)


# --- G14: Envoy Gateway on GKE's Gateway API CRDs (decision kept, pinned) -------------------------------------


def test_g14_the_platform_uses_only_the_gateway_api_kinds_envoy_gateway_needs_and_gke_ships() -> None:
    """GKE manages the standard Gateway API CRDs and does not let a cluster replace them; Envoy Gateway
    v1.9 requires only GatewayClass, Gateway, HTTPRoute and ReferenceGrant and skips newer kinds that
    are absent (its controller.go names GKE's addon). So: GKE's channel on, the platform installs no
    Gateway API CRDs there, and creates only those kinds."""
    prod = synth_stack("gcp-prod")
    assert prod.one(CLUSTER).inputs["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    crds = next(r for r in prod.of_type(RELEASE) if r.name == "gateway-crds").inputs["values"]["crds"]
    assert crds["gatewayAPI"]["enabled"] is False and crds["envoyGateway"]["enabled"] is True
    kinds = {
        r.inputs["kind"]
        for r in prod.resources
        if r.type.startswith("kubernetes:gateway.networking.k8s.io/")
        or str(r.inputs.get("apiVersion", "")).startswith("gateway.networking.k8s.io/")
    }
    assert kinds and kinds <= {"GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant"}


# --- issue 17 section 3: day-2 changes ---------------------------------------------------------------------------


def test_removing_an_admin_touches_only_that_admin() -> None:
    """Admin grants and bindings are named by principal: removing the first admin must not rename (and so
    replace) the others, as index-based names did."""
    platform = raw_platform("gcp-prod")
    before = synth_platform(platform, "gcp-prod")
    platform["cluster"]["adminPrincipals"] = platform["cluster"]["adminPrincipals"][1:]
    after = synth_platform(platform, "gcp-prod")

    def admin_urns(s: Synthesis) -> set[str]:
        ci = platform["cluster"]["adminPrincipals"][0]
        iam = [r.urn for r in s.of_type(PROJECT_IAM) if r.inputs["member"] == ci]
        crb = [
            r.urn
            for r in s.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
            if r.inputs["subjects"][0]["name"] == ci.split(":", 1)[1]
        ]
        return {*iam, *crb}

    assert len(admin_urns(before)) == 2
    assert admin_urns(before) == admin_urns(after)


def test_the_model_server_image_is_an_artifact_registry_image_path() -> None:
    """Artifact Registry refuses `<repository>:<tag>`: the serving runtime's image must be
    `<region>-docker.pkg.dev/<project>/<repository>/<image>:<tag>`."""
    prod = synth_stack("gcp-prod")
    runtime = prod.one("kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime").inputs
    image = runtime["spec"]["containers"][0]["image"]
    host, project, repository, rest = image.split("/", 3)
    assert host == "us-central1-docker.pkg.dev" and project == prod.spec.project
    assert repository == "mlp-gcp-prod-serving" and rest.startswith("serving:")
