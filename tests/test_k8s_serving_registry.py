"""Serving and the model registry of the Kubernetes layer: External Secrets, KServe behind the
Gateway API, and MLflow on the foundation's database and models bucket (aws-dev, aws-prod, gcp-prod)."""

from __future__ import annotations

import copy
import json
import re
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest

from components.context import PlatformContext
from components.k8s import mlflow, secrets, serving
from components.k8s.base import ServicesContext
from components.platform import build_foundation
from infra.config import CONFIG_KEY, ConfigError, parse_platform
from infra.mocks import ACCOUNT_ID, _hex, _uuid
from infra.synth import ResourceRecord, Synthesis, synthesize
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.iam_lint import lint_identity_policy, lint_resource_policy
from tests.k8s_schema import helm_image_tags, is_kubernetes, manifest, validate

STACKS = ["aws-dev", "aws-prod", "gcp-prod"]
COMPONENTS = ("ml-platform:k8s:ExternalSecrets", "ml-platform:k8s:Serving", "ml-platform:k8s:ModelRegistry")
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _objects(syn: Synthesis, token: str) -> list[ResourceRecord]:
    """Kubernetes objects (records) under one of this issue's components (none where it is off)."""
    return [r for c in syn.of_type(token) for r in syn.descendants(c.urn) if is_kubernetes(r)]


def _obj(syn: Synthesis, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    found = [
        manifest(r)
        for token in COMPONENTS
        for r in _objects(syn, token)
        if r.inputs.get("kind") == kind
        and r.inputs["metadata"]["name"] == name
        and (namespace is None or r.inputs["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _release(syn: Synthesis, name: str) -> dict[str, Any]:
    (rel,) = [r.inputs for r in syn.of_type(RELEASE) if r.inputs["name"] == name]
    return rel


def _mlflow_container(syn: Synthesis) -> dict[str, Any]:
    (container,) = _obj(syn, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def _db_secret_id(syn: Synthesis) -> str:
    """The database password's secret as the foundation names it (the mocks' RDS-managed secret ARN /
    the Secret Manager secret id), computed independently of the component under test."""
    (db,) = syn.of_type("aws:rds/instance:Instance")
    return f"arn:aws:secretsmanager:{syn.spec.region}:{ACCOUNT_ID}:secret:rds!db-{_uuid(db.name)}-{_hex(db.name, 6)}"


# --- every object is valid; the validator is strict on the vendored CRDs -----------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_schema_valid(stack: str) -> None:
    syn = synth_stack(stack)
    records = [r for token in COMPONENTS for r in _objects(syn, token)]
    kinds = {r.inputs["kind"] for r in records}
    assert {"SecretStore", "ExternalSecret", "Password", "Gateway", "GatewayClass", "EnvoyProxy"} <= kinds
    assert {"ClusterServingRuntime", "Deployment", "NetworkPolicy", "ServiceAccount", "ConfigMap"} <= kinds
    errors = [e for r in records for e in validate(manifest(r), syn.spec.cluster.kubernetes_version)]
    assert errors == []


def test_the_vendored_schemas_reject_misspelt_fields() -> None:
    syn = synth_stack("aws-dev")
    version = syn.spec.cluster.kubernetes_version
    store = _obj(syn, "SecretStore", secrets.STORE, "mlflow")
    store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAcountRef"] = {"name": "x"}
    assert any("serviceAcountRef" in e for e in validate(store, version))
    runtime = _obj(syn, "ClusterServingRuntime", serving.RUNTIME)
    runtime["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True  # embedded core Container
    assert any("runAsNonroot" in e for e in validate(runtime, version))
    es = _obj(syn, "ExternalSecret", mlflow.DB_SECRET, "mlflow")
    es["spec"]["refreshPolicy"] = "Sometimes"
    assert any("Sometimes" in e for e in validate(es, version))


def test_inference_service_schema_takes_raw_mode_canaries() -> None:
    """The pinned InferenceService CRD takes a predictor with the platform runtime and a named canary."""
    isvc: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "churn", "namespace": "research"},
        "spec": {
            "predictor": {
                "serviceAccountName": "inference",
                "minReplicas": 1,
                "model": {
                    "modelFormat": {"name": "mlplatform"},
                    "runtime": serving.RUNTIME,
                    "protocolVersion": "v2",
                    "storageUri": "s3://models/teams/research/churn/1",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                },
            },
            "canary": [
                {
                    "trafficPercent": 10,
                    "predictor": {
                        "name": "v2",
                        "model": {
                            "name": "kserve-container",
                            "modelFormat": {"name": "mlplatform"},
                            "storageUri": "s3://x",
                        },
                    },
                }
            ],
        },
    }
    assert validate(isvc, "1.35") == []
    # a canary's model names its container (KServe's CRD keeps `required` there, unlike the predictor's)
    nameless = copy.deepcopy(isvc)
    del nameless["spec"]["canary"][0]["predictor"]["model"]["name"]
    assert validate(nameless, "1.35") == [
        "InferenceService/churn: spec.canary.0.predictor.model: 'name' is a required property"
    ]
    isvc["spec"]["predictor"]["model"]["resorces"] = {}
    isvc["spec"]["canary"][0]["trafficPercent"] = 101
    errors = validate(isvc, "1.35")
    assert len(errors) == 2 and any("resorces" in e for e in errors) and any("101" in e for e in errors)


# --- External Secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_operator_pinned_restricted_and_namespaced_stores_only(stack: str) -> None:
    syn = synth_stack(stack)
    rel = _release(syn, "external-secrets")
    assert (rel["chart"], rel["version"], rel["repositoryOpts"]["repo"]) == (
        "external-secrets",
        secrets.CHART.version,
        "https://charts.external-secrets.io",
    )
    values = rel["values"]
    assert rel["namespace"] == secrets.NAMESPACE
    for part in (values, values["webhook"], values["certController"]):
        assert part["image"] == {"repository": secrets.IMAGE.repository, "tag": "v2.9.0"}
        assert part["securityContext"]["runAsNonRoot"] and not part["securityContext"]["allowPrivilegeEscalation"]
        assert part["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}]
    assert values["processClusterStore"] is False and values["processPushSecret"] is False
    ns = _obj(syn, "Namespace", secrets.NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_db_password_reaches_mlflow_only_through_external_secret(stack: str) -> None:
    syn = synth_stack(stack)
    store = _obj(syn, "SecretStore", secrets.STORE, "mlflow")["spec"]["provider"]
    es = _obj(syn, "ExternalSecret", mlflow.DB_SECRET, "mlflow")["spec"]
    secret_id = _db_secret_id(syn)
    (entry,) = es["data"]
    assert store == {
        "aws": {
            "service": "SecretsManager",
            "region": syn.spec.region,
            "auth": {"jwt": {"serviceAccountRef": {"name": mlflow.SERVICE_ACCOUNT}}},
        }
    }
    # the RDS-managed master secret is JSON {"username", "password"}
    assert entry == {"secretKey": "password", "remoteRef": {"key": secret_id, "property": "password"}}
    assert es["secretStoreRef"] == {"kind": "SecretStore", "name": secrets.STORE}
    assert es["target"]["name"] == mlflow.DB_SECRET and es["refreshInterval"] == "1h"
    env = _env(_mlflow_container(syn))
    assert env["PGPASSWORD"] == {
        "name": "PGPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": mlflow.DB_SECRET, "key": "password"}},
    }
    sa = _obj(syn, "ServiceAccount", mlflow.SERVICE_ACCOUNT, "mlflow")
    assert list(sa["metadata"]["annotations"]) == ["eks.amazonaws.com/role-arn"]


def test_gcp_mlflow_logs_in_as_its_iam_identity_through_the_auth_proxy() -> None:
    """IAM database authentication for real (G9): no password exists or is synced; the Cloud SQL IAM
    user is the mlflow service account's, reached through the Cloud SQL Auth Proxy sidecar."""
    syn = synth_stack("gcp-prod")
    assert not [
        r
        for token in COMPONENTS
        for r in _objects(syn, token)
        if r.inputs.get("kind") == "ExternalSecret" and r.inputs["metadata"]["name"] == mlflow.DB_SECRET
    ]
    (gsa,) = [r for r in syn.of_type("gcp:serviceaccount/account:Account") if r.name == "wi-mlflow-mlflow"]
    iam_user = f"{gsa.inputs['accountId']}@{syn.spec.project}.iam"
    assert iam_user in [u.inputs["name"] for u in syn.of_type("gcp:sql/user:User")]
    env = _env(_mlflow_container(syn))
    assert "PGPASSWORD" not in env and env["DB_USER"]["value"] == iam_user
    assert (env["DB_HOST"]["value"], env["DB_PORT"]["value"], env["PGSSLMODE"]["value"]) == (
        "127.0.0.1",
        "5432",
        "disable",
    )
    pod = _obj(syn, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
    (proxy,) = pod["initContainers"]
    assert proxy["restartPolicy"] == "Always" and proxy["image"].startswith(
        "gcr.io/cloud-sql-connectors/cloud-sql-proxy:"
    )
    assert {"--auto-iam-authn", "--private-ip", "--port=5432", "--address=127.0.0.1"} <= set(proxy["args"])
    assert proxy["args"][-1] == f"{syn.spec.project}:{syn.spec.region}:mlp-gcp-prod-registry"
    sa = _obj(syn, "ServiceAccount", mlflow.SERVICE_ACCOUNT, "mlflow")
    assert list(sa["metadata"]["annotations"]) == ["iam.gke.io/gcp-service-account"]


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_aws_identity_grants_exactly_models_rw_and_the_db_secret(stack: str) -> None:
    syn = synth_stack(stack)
    (role,) = [r for r in syn.of_type(ROLE) if r.name == "wi-mlflow-mlflow"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert lint_resource_policy(trust) == []
    (cond,) = trust["Statement"][0]["Condition"].values()
    assert sorted(cond.values()) == ["sts.amazonaws.com", "system:serviceaccount:mlflow:mlflow"]
    (policy,) = [
        json.loads(p.inputs["policy"]) for p in syn.of_type(ROLE_POLICY) if p.name == "wi-mlflow-mlflow-access"
    ]
    assert lint_identity_policy(policy) == []
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    models = f"arn:aws:s3:::mlp-{stack}-models-123456789012"
    assert stmts["Objects0"]["Resource"] == [f"{models}/*"] and "s3:PutObject" in stmts["Objects0"]["Action"]
    secret = _db_secret_id(syn)
    assert secret.startswith(f"arn:aws:secretsmanager:{syn.spec.region}:123456789012:secret:rds!")
    assert stmts["ReadSecrets"]["Resource"] == [secret]
    assert stmts["ReadSecrets"]["Action"] == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    decrypt = stmts["SecretKeyThroughSecretsManager"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Resource"][0].startswith("arn:aws:kms:")
    assert decrypt["Resource"] != stmts["StorageKeyThroughS3"]["Resource"]  # the database key, not the storage key
    assert decrypt["Condition"]["StringEquals"] == {
        "kms:ViaService": f"secretsmanager.{syn.spec.region}.amazonaws.com",
        "kms:EncryptionContext:SecretARN": [secret],
    }
    # nothing else: no other bucket, no registry, no wildcard resource
    resources = [res for s in policy["Statement"] for res in s["Resource"]]
    assert all(r.startswith((models, "arn:aws:kms:", secret)) for r in resources), resources
    assert not any(a.startswith("ecr:") for s in policy["Statement"] for a in s["Action"])


def test_gcp_identity_grants_exactly_models_rw_and_the_database_login() -> None:
    syn = synth_stack("gcp-prod")
    (gsa,) = [r for r in syn.of_type("gcp:serviceaccount/account:Account") if r.name == "wi-mlflow-mlflow"]
    member = f"serviceAccount:{gsa.inputs['accountId']}@{syn.spec.project}.iam.gserviceaccount.com"
    grants = [
        (r.type, r.inputs)
        for r in syn.resources
        if r.custom and r.type.startswith("gcp:") and r.inputs.get("member") == member
    ]
    assert sorted((t, g["role"]) for t, g in grants) == [
        ("gcp:projects/iAMMember:IAMMember", "roles/cloudsql.client"),
        ("gcp:projects/iAMMember:IAMMember", "roles/cloudsql.instanceUser"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.objectUser"),
    ]
    by_type = dict(grants)
    assert by_type["gcp:storage/bucketIAMMember:BucketIAMMember"]["bucket"] == f"mlp-gcp-prod-models-{syn.spec.project}"
    assert "condition" not in by_type["gcp:storage/bucketIAMMember:BucketIAMMember"]  # the whole bucket
    instance = f"projects/{syn.spec.project}/instances/mlp-gcp-prod-registry"
    for t, g in grants:
        if t == "gcp:projects/iAMMember:IAMMember":  # the platform's instance, no other
            assert f'resource.name == "{instance}"' in g["condition"]["expression"]
    (wi,) = [r.inputs for r in syn.of_type("gcp:serviceaccount/iAMMember:IAMMember") if r.name == "wi-mlflow-mlflow-wi"]
    assert wi["member"] == f"serviceAccount:{syn.spec.project}.svc.id.goog[mlflow/mlflow]"


# --- MLflow ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_server_on_database_and_models_bucket(stack: str) -> None:
    syn = synth_stack(stack)
    container = _mlflow_container(syn)
    assert container["image"] == "ghcr.io/mlflow/mlflow:v3.18.0-full"
    args, env = container["args"], _env(container)
    assert args[0] == "server" and "--serve-artifacts" in args
    sslmode = "require" if syn.spec.cloud == "aws" else "disable"  # GCP: the local proxy encrypts
    uri = f"postgresql+psycopg2://$(DB_USER)@$(DB_HOST):$(DB_PORT)/$(DB_NAME)?sslmode={sslmode}"  # no password
    assert f"--backend-store-uri={uri}" in args
    assert "--artifacts-destination=$(ARTIFACTS_DESTINATION)" in args
    scheme = "s3" if syn.spec.cloud == "aws" else "gs"
    assert env["ARTIFACTS_DESTINATION"]["value"].startswith(f"{scheme}://mlp-{stack}-models-")
    assert env["DB_NAME"]["value"] == "mlflow" and env["DB_USER"]["value"]
    assert env["DB_PORT"]["value"] == "5432" and env["DB_HOST"]["value"]
    assert env["PGSSLMODE"]["value"] == sslmode
    pod = _obj(syn, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == mlflow.SERVICE_ACCOUNT
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    svc = _obj(syn, "Service", "mlflow", "mlflow")["spec"]
    assert svc["ports"] == [{"name": "http", "port": 5000, "targetPort": "http", "protocol": "TCP"}]
    assert svc["selector"] == mlflow.POD_LABELS
    ns = _obj(syn, "Namespace", "mlflow")["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("stack", STACKS)
def test_no_password_in_plain_inputs(stack: str) -> None:
    syn = synth_stack(stack)
    container = _mlflow_container(syn)
    for name, var in _env(container).items():
        if any(word in name for word in ("PASSWORD", "SECRET")):
            assert "value" not in var and "secretKeyRef" in var["valueFrom"], name
    assert not any(re.search(r"://[^/@]*:[^/@]*@", a) for a in container["args"])  # user:password@ in a URI
    ini = _obj(syn, "ConfigMap", mlflow.AUTH_CONFIG, "mlflow")["data"]["basic_auth.ini"]
    user, sslmode = (
        ("mlflow_admin", "require") if syn.spec.cloud == "aws" else (r"wi-mlflow-mlflow-\w+@[\w.-]+\.iam", "disable")
    )
    assert "admin_password" not in ini and re.search(
        rf"database_uri = postgresql\+psycopg2://{user}@[^:]+:5432/mlflow\?sslmode={sslmode}", ini
    )
    # the platform creates no Kubernetes Secret itself: every secret value is the operator's to write
    records = [r for token in COMPONENTS for r in _objects(syn, token)]
    assert not [r for r in records if r.inputs.get("kind") == "Secret"]
    # no pod of these components carries a literal value in a secret-like variable
    for r in records:
        for pod in _pod_specs(r.inputs):
            for c in pod.get("containers", []):
                for var in c.get("env", []):
                    assert not (re.search("PASSWORD|SECRET|TOKEN", var["name"]) and "value" in var), var["name"]


def _pod_specs(obj: Any) -> list[dict[str, Any]]:
    if isinstance(obj, dict):
        found = [obj] if "containers" in obj else []
        return found + [p for v in obj.values() for p in _pod_specs(v)]
    if isinstance(obj, list):
        return [p for v in obj for p in _pod_specs(v)]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_auth_is_on_with_generated_credentials(stack: str) -> None:
    syn = synth_stack(stack)
    container = _mlflow_container(syn)
    assert "--app-name=basic-auth" in container["args"]
    env = _env(container)
    for var, key in (
        ("MLFLOW_AUTH_ADMIN_USERNAME", "admin-username"),
        ("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password"),
        ("MLFLOW_FLASK_SERVER_SECRET_KEY", "flask-secret-key"),
    ):
        assert env[var]["valueFrom"]["secretKeyRef"] == {"name": mlflow.AUTH_SECRET, "key": key}
    generated = _obj(syn, "ExternalSecret", mlflow.AUTH_SECRET, "mlflow")["spec"]
    assert generated["refreshPolicy"] == "CreatedOnce"  # never regenerated: the admin user keeps its password
    assert generated["target"]["creationPolicy"] == "Orphan"
    refs = [d["sourceRef"]["generatorRef"]["name"] for d in generated["dataFrom"]]
    targets = [d["rewrite"][0]["regexp"]["target"] for d in generated["dataFrom"]]
    assert targets == ["admin-password", "flask-secret-key"]
    for ref in refs:
        spec = _obj(syn, "Password", ref, "mlflow")["spec"]
        assert spec["length"] >= 32 and spec["symbols"] == 0
    assert generated["target"]["template"]["data"] == {"admin-username": "admin"}
    ini = _obj(syn, "ConfigMap", mlflow.AUTH_CONFIG, "mlflow")["data"]["basic_auth.ini"]
    assert "default_permission = READ" in ini and "admin_username = admin" in ini


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_network_policies(stack: str) -> None:
    syn = synth_stack(stack)
    deny = _obj(syn, "NetworkPolicy", "default-deny", "mlflow")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress = _obj(syn, "NetworkPolicy", "mlflow-ingress", "mlflow")["spec"]
    assert ingress["podSelector"]["matchLabels"] == mlflow.POD_LABELS and ingress["policyTypes"] == ["Ingress"]
    (rule,) = ingress["ingress"]
    assert rule["ports"] == [{"port": 5000, "protocol": "TCP"}]
    teams = rule["from"][0]["namespaceSelector"]
    assert teams["matchLabels"] == {"app.kubernetes.io/part-of": "ml-platform"}
    assert {"key": "ml-platform/team", "operator": "Exists"} in teams["matchExpressions"]
    assert {"key": "ml-platform/team", "operator": "NotIn", "values": ["platform"]} in teams["matchExpressions"]
    egress = _obj(syn, "NetworkPolicy", "mlflow-egress", "mlflow")["spec"]
    assert egress["policyTypes"] == ["Egress"]
    ports = [sorted((p["port"], p["protocol"]) for p in r["ports"]) for r in egress["egress"]]
    # the database: RDS on 5432; GCP: the Auth Proxy to the instance (3307) and the Cloud SQL Admin API
    database = [(5432, "TCP")] if syn.spec.cloud == "aws" else [(443, "TCP"), (3307, "TCP")]
    assert ports[:3] == [[(53, "TCP"), (53, "UDP")], database, [(443, "TCP")]]
    assert egress["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    metadata = [r["to"][0]["ipBlock"]["cidr"] for r in egress["egress"][3:]]
    # GKE's metadata server hands out the Workload Identity tokens; on EKS the node's IMDS stays closed and
    # STS answers on the VPC where an interface endpoint serves it (prod)
    if syn.spec.cloud == "gcp":
        assert metadata == ["169.254.169.254/32", "169.254.169.252/32"]
    else:
        assert metadata == ([str(syn.spec.network.cidr)] if syn.spec.network.interface_endpoints else [])


def test_replicas_and_disruption_budget_follow_the_environment() -> None:
    dev, prod = synth_stack("aws-dev"), synth_stack("aws-prod")
    assert _obj(dev, "Deployment", "mlflow", "mlflow")["spec"]["replicas"] == 1
    assert not [r for r in _objects(dev, "ml-platform:k8s:ModelRegistry") if r.inputs["kind"] == "PodDisruptionBudget"]
    deployment = _obj(prod, "Deployment", "mlflow", "mlflow")["spec"]
    assert deployment["replicas"] == prod.spec.services.mlflow.replicas == 2
    assert (
        deployment["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    )
    pdb = _obj(prod, "PodDisruptionBudget", "mlflow", "mlflow")["spec"]
    assert pdb == {"minAvailable": 1, "selector": {"matchLabels": mlflow.POD_LABELS}}


# --- serving ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_charts_pinned_and_images_tagged(stack: str) -> None:
    syn = synth_stack(stack)
    expected = {
        "cert-manager": ("cert-manager", "v1.21.1"),
        "gateway-crds": ("oci://docker.io/envoyproxy/gateway-crds-helm", "v1.9.0"),
        "envoy-gateway": ("oci://docker.io/envoyproxy/gateway-helm", "v1.9.0"),
        "kserve-crd": ("oci://ghcr.io/kserve/charts/kserve-crd", "v0.20.0"),
        "kserve": ("oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0"),
        "external-secrets": ("external-secrets", "2.9.0"),
    }
    for name, (chart, version) in expected.items():
        rel = _release(syn, name)
        assert (rel["chart"], rel["version"]) == (chart, version), name
        assert rel["atomic"] is True
        for where, tag in helm_image_tags(rel["values"]):
            assert re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z]+)?", tag), f"{name}: {where} = {tag}"
    assert not [
        r for r in syn.of_type(RELEASE) if "runtime-configs" in r.inputs["chart"]
    ]  # KServe's runtimes: not installed
    assert _release(syn, "cert-manager")["values"]["crds"] == {"enabled": True, "keep": True}


@pytest.mark.parametrize("stack", STACKS)
def test_kserve_standard_mode_behind_the_gateway_api(stack: str) -> None:
    syn = synth_stack(stack)
    kserve = _release(syn, "kserve")
    assert kserve["namespace"] == "kserve"
    controller = kserve["values"]["kserve"]["controller"]
    assert controller["deploymentMode"] == "Standard"  # no Knative, no Istio
    gateway = controller["gateway"]
    assert gateway["ingressGateway"] == {
        "enableGatewayApi": True,
        "kserveGateway": "envoy-gateway-system/inference",
        "createGateway": False,
        "className": serving.GATEWAY_CLASS,
    }
    assert gateway["domain"] == "inference.internal" and gateway["urlScheme"] == "http"
    assert gateway["disableIstioVirtualHost"] is True
    assert controller["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}]
    assert controller["nodeSelector"] == {"ml-platform/role": "system"}
    assert controller["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    # the webhook's cert-manager Issuer and Certificate come with the shared resources (test_k8s_release_fidelity
    # renders the chart: `certManager.enabled` only defaults to this switch)
    assert kserve["values"]["kserve"]["createSharedResources"] is True
    assert "istio" not in json.dumps(kserve["values"]).replace("disableIstioVirtualHost", "")
    gw = _obj(syn, "Gateway", serving.GATEWAY, serving.NS_ENVOY)["spec"]
    assert gw["gatewayClassName"] == serving.GATEWAY_CLASS
    (listener,) = gw["listeners"]
    assert (listener["hostname"], listener["port"], listener["protocol"]) == ("*.inference.internal", 80, "HTTP")
    routes = listener["allowedRoutes"]["namespaces"]
    assert routes["from"] == "Selector" and routes["selector"] == serving.team_namespaces()
    cls = _obj(syn, "GatewayClass", serving.GATEWAY_CLASS)["spec"]
    assert cls["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert gw["infrastructure"]["parametersRef"] == {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": "inference",
    }


@pytest.mark.parametrize(
    ("stack", "annotations", "gateway_api_crds"),
    [
        (
            "aws-prod",
            {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
            },
            True,
        ),
        ("gcp-prod", {"networking.gke.io/load-balancer-type": "Internal"}, False),  # GKE manages the CRDs
    ],
)
def test_gateway_load_balancer_is_internal_and_crds_fit_the_cloud(
    stack: str, annotations: dict[str, str], gateway_api_crds: bool
) -> None:
    syn = synth_stack(stack)
    proxy = _obj(syn, "EnvoyProxy", serving.GATEWAY, serving.NS_ENVOY)["spec"]["provider"]["kubernetes"]
    assert proxy["envoyService"]["annotations"] == annotations
    assert proxy["envoyService"]["type"] == "LoadBalancer"
    assert proxy["envoyDeployment"]["replicas"] == 2 and proxy["envoyPDB"] == {"minAvailable": 1}
    assert proxy["envoyDeployment"]["pod"]["tolerations"][0]["key"] == "CriticalAddonsOnly"
    crds = _release(syn, "gateway-crds")["values"]["crds"]
    assert crds == {
        "gatewayAPI": {"enabled": True, "channel": "standard"} if gateway_api_crds else {"enabled": False},
        "envoyGateway": {"enabled": True},
    }
    assert _release(syn, "envoy-gateway")["skipCrds"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_platform_runtime_speaks_v2_from_the_serving_repository(stack: str) -> None:
    syn = synth_stack(stack)
    runtime = _obj(syn, "ClusterServingRuntime", serving.RUNTIME)["spec"]
    assert runtime["protocolVersions"] == ["v2"]
    assert [f["name"] for f in runtime["supportedModelFormats"]] == ["mlplatform", "pytorch"]
    (container,) = runtime["containers"]
    assert container["image"] == f"{syn.outputs['registryUrls']['serving']}:{serving.MODEL_SERVER_TAG}"
    sec = container["securityContext"]
    assert sec["runAsNonRoot"] and not sec["allowPrivilegeEscalation"] and sec["capabilities"] == {"drop": ["ALL"]}
    assert sec["seccompProfile"] == {"type": "RuntimeDefault"} and sec["readOnlyRootFilesystem"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_monitoring_gets_a_service_monitor_with_the_auth_secret() -> None:
    """With a monitoring stack, MLflow exposes /metrics (behind basic auth) and Prometheus may reach it."""
    platform = raw_platform("aws-dev")
    spec = parse_platform(platform, "stacks/Pulumi.aws-dev.yaml")
    built: list[mlflow.ModelRegistry] = []

    def program() -> None:
        ctx = PlatformContext(spec=spec, stack="aws-dev")
        foundation = build_foundation("mlp-aws", ctx, pulumi.ResourceOptions())
        svc = ServicesContext(ctx=ctx, foundation=foundation, spec=spec.services)
        monitoring = SimpleNamespace(namespace="monitoring", release="kube-prometheus-stack")
        eso = secrets.ExternalSecrets("external-secrets", svc)
        built.append(mlflow.ModelRegistry("mlflow", svc, secrets=eso, monitoring=monitoring))

    syn = synthesize("aws-dev", spec, {CONFIG_KEY: platform}, program=program)
    (registry,) = built
    assert (registry.namespace, registry.service_url, registry.port) == (
        "mlflow",
        "http://mlflow.mlflow.svc.cluster.local:5000",
        5000,
    )
    assert registry.pod_labels == mlflow.POD_LABELS
    monitor = _obj(syn, "ServiceMonitor", "mlflow", "mlflow")
    assert validate(monitor, spec.cluster.kubernetes_version) == []
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["basicAuth"]["password"] == {"name": mlflow.AUTH_SECRET, "key": "admin-password"}
    assert "--expose-prometheus=/tmp/prometheus" in _mlflow_container(syn)["args"]
    (rule,) = _obj(syn, "NetworkPolicy", "mlflow-ingress", "mlflow")["spec"]["ingress"]
    assert rule["from"][1] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


# --- switches and config -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def variants() -> dict[str, Synthesis]:
    off = raw_platform("aws-dev")
    off.setdefault("services", {}).update({"serving": {"enabled": False}, "mlflow": {"enabled": False}})
    off.pop("modelDeployments")  # nothing to serve them
    # the feature store and pipelines read their own cloud secrets through External Secrets: off too
    off["featureStore"] = {"enabled": False}
    off["services"]["pipelines"] = {"enabled": False}
    tls = raw_platform("gcp-prod")
    tls.setdefault("services", {}).update(
        {
            "serving": {
                "domain": "models.example.com",
                "tlsIssuer": "letsencrypt-dns",
                "internalLoadBalancer": False,
                "loadBalancerAnnotations": {"cloud.google.com/l4-rbs": "enabled"},
            },
            "mlflow": {"enabled": False},
        }
    )
    tls.pop("pipelines")  # they register in MLflow
    tls["featureStore"] = {"enabled": False}  # it reads the database and cache secrets
    tls["services"]["pipelines"] = {"enabled": False}  # the teams' pipelines read the cache secret
    return {"off": synth_platform(off, "aws-dev"), "tls": synth_platform(tls, "gcp-prod")}


def test_serving_and_mlflow_off_create_nothing(variants: dict[str, Synthesis]) -> None:
    syn = variants["off"]
    assert not [r for r in syn.resources if r.type in COMPONENTS and r.type != "ml-platform:k8s:ExternalSecrets"]
    charts = {r.inputs["chart"] for r in syn.of_type(RELEASE)}
    assert not charts & {"cert-manager", serving.KSERVE_CHART.name, serving.GATEWAY_CHART.name}
    assert not [r for r in syn.resources if r.name.startswith("wi-mlflow")]
    assert not [r for r in syn.resources if "serving.kserve.io" in r.type]
    # External Secrets stays for the monitoring stack's generated Grafana credentials, and only there
    secrets = [r for r in syn.resources if "external-secrets.io" in r.type]
    assert {r.inputs["metadata"]["namespace"] for r in secrets} <= {"monitoring"}


def test_mlflow_off_keeps_serving_and_reads_no_cloud_secret(variants: dict[str, Synthesis]) -> None:
    syn = variants["tls"]
    assert [r.type for r in syn.resources if r.type in COMPONENTS if r.type != "ml-platform:k8s:ExternalSecrets"] == [
        "ml-platform:k8s:Serving"
    ]
    assert not [r for r in syn.resources if r.type.endswith(":SecretStore")]  # no cloud secret is read
    assert not [r for r in syn.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")]


def test_domain_with_tls_issuer_serves_https(variants: dict[str, Synthesis]) -> None:
    syn = variants["tls"]
    cert = _obj(syn, "Certificate", serving.TLS_SECRET, serving.NS_ENVOY)
    assert validate(cert, syn.spec.cluster.kubernetes_version) == []
    assert cert["spec"]["dnsNames"] == ["*.models.example.com"]
    assert cert["spec"]["issuerRef"] == {"name": "letsencrypt-dns", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    (listener,) = _obj(syn, "Gateway", serving.GATEWAY, serving.NS_ENVOY)["spec"]["listeners"]
    assert (listener["port"], listener["protocol"], listener["hostname"]) == (443, "HTTPS", "*.models.example.com")
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "name": serving.TLS_SECRET}]
    gateway = _release(syn, "kserve")["values"]["kserve"]["controller"]["gateway"]
    assert (gateway["domain"], gateway["urlScheme"]) == ("models.example.com", "https")
    proxy = _obj(syn, "EnvoyProxy", serving.GATEWAY, serving.NS_ENVOY)["spec"]["provider"]["kubernetes"]
    assert proxy["envoyService"]["annotations"] == {"cloud.google.com/l4-rbs": "enabled"}  # public: no Internal


@pytest.mark.parametrize(
    ("serving_spec", "message"),
    [
        ({"tlsIssuer": "letsencrypt"}, "platform.services.serving.tlsIssuer: a TLS certificate needs a domain"),
        ({"domain": "Models_Example"}, "platform.services.serving.domain: 'Models_Example' is not a DNS domain"),
        ({"ingressClass": "nginx"}, "platform.services.serving.ingressClass"),
        ({"loadBalancerAnnotations": {"bad key!": "x"}}, "'bad key!' is not a valid annotation key"),
    ],
)
def test_serving_config_errors_are_one_line(serving_spec: dict[str, Any], message: str) -> None:
    platform = raw_platform("aws-dev")
    platform.setdefault("services", {})["serving"] = serving_spec
    with pytest.raises(ConfigError) as err:
        parse_platform(platform, "stacks/Pulumi.aws-dev.yaml")
    text = str(err.value)
    assert message in text and "\n" not in text
