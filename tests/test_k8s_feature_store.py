"""Feast in the Kubernetes layer (components/k8s/feature_store.py): registry server and feature server on
the platform database, the online store (the foundation's cache) and the datasets bucket (aws-dev, aws-prod,
gcp-prod), and the team namespaces' way to them."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from sqlalchemy.engine import make_url

from components.k8s import feature_store as fs
from infra.mocks import ACCOUNT_ID, _hex, _uuid
from infra.synth import Synthesis
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.iam_lint import lint_identity_policy
from tests.k8s_schema import is_kubernetes, manifest, validate

STACKS = ["aws-dev", "aws-prod", "gcp-prod"]
TOKEN = "ml-platform:k8s:FeatureStore"
NS = "feast"
WORKER = {"ml-platform/role": "worker"}


@cache
def feast_off() -> Synthesis:
    platform_doc = raw_platform("aws-dev")
    platform_doc["featureStore"] = {"enabled": False}
    platform_doc.pop("pipelines", None)  # a pipeline needs the feature store
    return synth_platform(platform_doc, "feast-off")


def _database(syn: Synthesis) -> tuple[str, str]:
    """(user, database) the registry server logs in with, as the cloud resources name them: the RDS master
    user; on GCP the Cloud SQL IAM user of the registry's own service account."""
    if syn.spec.cloud == "aws":
        (db,) = syn.of_type("aws:rds/instance:Instance")
        return db.inputs["username"], db.inputs["dbName"]
    (gsa,) = [r for r in syn.of_type("gcp:serviceaccount/account:Account") if r.name == "wi-feast-feast-registry"]
    user = f"{gsa.inputs['accountId']}@{syn.spec.project}.iam"
    assert user in [u.inputs["name"] for u in syn.of_type("gcp:sql/user:User")]
    (database,) = syn.of_type("gcp:sql/database:Database")
    return user, database.inputs["name"]


def _synced_secret(syn: Synthesis, name: str) -> str:
    """The cloud secret an ExternalSecret of the feast namespace reads."""
    (entry,) = _obj(syn, "ExternalSecret", name)["spec"]["data"]
    assert entry["secretKey"] == "password"
    return entry["remoteRef"]["key"]


def _objects(syn: Synthesis) -> list[dict[str, Any]]:
    return [manifest(r) for c in syn.of_type(TOKEN) for r in syn.descendants(c.urn) if is_kubernetes(r)]


def _obj(syn: Synthesis, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in _objects(syn) if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod(syn: Synthesis, deployment: str) -> dict[str, Any]:
    return _obj(syn, "Deployment", deployment)["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _config(syn: Synthesis, configmap: str) -> str:
    return _obj(syn, "ConfigMap", configmap)["data"]["feature_store.yaml"]


@contextmanager
def _feast_without_torch() -> Iterator[None]:
    """Import Feast without its optional torch integration (feast.torch_wrapper imports torch when installed:
    ~8 s of CPU that config validation does not need). No effect once Feast or torch is imported."""
    if "feast" in sys.modules or "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # import torch -> ImportError, which Feast tolerates
    try:
        yield
    finally:
        del sys.modules["torch"]


def _load_repo_config(text: str, tmp_path: Path, env: dict[str, str]) -> Any:
    """The file as Feast loads it (`feast.repo_config.load_repo_config`: env expansion, then validation)."""
    with _feast_without_torch():
        from feast.repo_config import load_repo_config

    path = tmp_path / "feature_store.yaml"
    path.write_text(text)
    with mock.patch.dict(os.environ, env):
        return load_repo_config(tmp_path, path)


def _network_policies(syn: Synthesis) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"] for o in _objects(syn) if o["kind"] == "NetworkPolicy"}


# --- every object is valid -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_schema_valid(stack: str) -> None:
    syn = synth_stack(stack)
    objects = _objects(syn)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "NetworkPolicy", "ServiceAccount"} <= kinds
    assert {"SecretStore", "ExternalSecret", "PodMonitor"} <= kinds
    version = syn.spec.cluster.kubernetes_version
    errors = [e for o in objects for e in validate(o, version)]
    assert errors == []


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_restricted_and_image_pinned(stack: str) -> None:
    syn = synth_stack(stack)
    labels = _obj(syn, "Namespace", NS)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in (fs.SERVER, fs.REGISTRY):
        pod = _pod(syn, deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in [*pod.get("initContainers", []), *pod["containers"]]:
            if c["name"] == "cloud-sql-proxy":  # GCP: the database's Auth Proxy sidecar, pinned too
                assert re.fullmatch(r"gcr\.io/cloud-sql-connectors/cloud-sql-proxy:\d+\.\d+\.\d+", c["image"])
                assert c["securityContext"]["readOnlyRootFilesystem"] is True
                continue
            assert c["image"] == "quay.io/feastdev/feature-server:0.67.0"
            sec = c["securityContext"]
            assert sec["readOnlyRootFilesystem"] is True and sec["allowPrivilegeEscalation"] is False
            assert sec["capabilities"] == {"drop": ["ALL"]}
            assert {"mountPath": "/tmp", "name": "tmp"} in c["volumeMounts"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


# --- feature_store.yaml: Feast accepts it, no secret in it ------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_registry_server_config_is_the_sql_registry_in_the_feast_schema(stack: str, tmp_path: Path) -> None:
    syn = synth_stack(stack)
    text = _config(syn, fs.REGISTRY)
    config = _load_repo_config(text, tmp_path, {})
    assert config.project == syn.spec.feature_store.project == "ml_platform"
    reg = config.registry
    assert reg.registry_type == "sql"
    url = make_url(reg.path)
    user, database = _database(syn)
    assert (url.drivername, url.username, url.database) == ("postgresql+psycopg", user, database)
    assert url.password is None  # libpq reads PGPASSWORD (AWS); GCP logs in as IAM, no password
    aws = syn.spec.cloud == "aws"
    assert url.query == {"sslmode": "require" if aws else "disable"}  # GCP: the local proxy encrypts
    assert reg.sqlalchemy_config_kwargs["connect_args"]["options"] == "-csearch_path=feast"
    assert config.online_store.type == "redis" and "password" not in config.online_store.connection_string
    # the registry pod: the schema exists before the server starts, the password only from the synced Secret
    pod = _pod(syn, fs.REGISTRY)
    *proxy, init = pod["initContainers"]
    # GCP: the Auth Proxy is a native sidecar ahead of the schema init, which connects through it
    assert [(c["name"], c["restartPolicy"]) for c in proxy] == ([] if aws else [("cloud-sql-proxy", "Always")])
    assert "CREATE SCHEMA IF NOT EXISTS feast" in init["command"][-1]
    init_env = _env(init)
    assert init_env["PGHOST"]["value"] == url.host and init_env["PGPORT"]["value"] == str(url.port)
    assert (init_env["PGUSER"]["value"], init_env["PGDATABASE"]["value"]) == (user, database)
    (server,) = pod["containers"]
    assert server["args"] == ["--chdir", "/etc/feast", "serve_registry", "--port", "6570"]
    for c in (init, server):
        if aws:
            ref = _env(c)["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": fs.DB_SECRET, "key": "password"}
        else:
            assert "PGPASSWORD" not in _env(c)


@pytest.mark.parametrize("stack", STACKS)
def test_feature_server_config_uses_the_remote_registry_and_the_cache_over_tls(stack: str, tmp_path: Path) -> None:
    syn = synth_stack(stack)
    token = "Tok3n#with:odd%chars!"  # substituted by Feast, passed through unchanged
    config = _load_repo_config(_config(syn, fs.SERVER), tmp_path, {"REDIS_PASSWORD": token})
    assert config.registry.registry_type == "remote"
    assert config.registry.path == "feast-registry.feast.svc.cluster.local:6570"
    assert config.offline_store.type == "file"
    with _feast_without_torch():
        from feast.infra.online_stores.redis import RedisOnlineStore

    (node,), params = RedisOnlineStore._parse_connection_string(config.online_store.connection_string)
    assert params["ssl"] is True and params["password"] == token
    pod = _pod(syn, fs.SERVER)
    (container,) = pod["containers"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    if syn.spec.cloud == "gcp":  # Memorystore's per-instance CA, pinned from a ConfigMap
        assert params["ssl_ca_certs"] == "/etc/feast-ca/ca.crt" and params["ssl_check_hostname"] is False
        assert "/etc/feast-ca" in mounts
        assert _obj(syn, "ConfigMap", fs.CA_CONFIG)["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    else:  # ElastiCache: Amazon's public CA, from the system trust store, host name checked
        assert "ssl_ca_certs" not in params and "ssl_check_hostname" not in params
        assert "/etc/feast-ca" not in mounts
    # the port the policies open is the cache's (Memorystore's TLS port is 6378, not 6379)
    port = int(node["port"])
    egress = _network_policies(syn)["feast-feature-server-egress"]["egress"]
    assert any(r.get("ports") == [{"port": port, "protocol": "TCP"}] and "to" not in r for r in egress)
    ref = _env(container)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": fs.ONLINE_SECRET, "key": "password"}
    assert "PGPASSWORD" not in _env(container)  # the feature server never holds the database password


@pytest.mark.parametrize("stack", STACKS)
def test_no_password_in_any_configmap(stack: str) -> None:
    syn = synth_stack(stack)
    configmaps = [o for o in _objects(syn) if o["kind"] == "ConfigMap"]
    assert len(configmaps) >= 2
    text = json.dumps([c["data"] for c in configmaps])
    assert "[secret]" not in text
    for cm in configmaps:
        for key, value in cm["data"].items():
            if not key.endswith(".yaml"):
                continue
            conn = yaml.safe_load(value)["online_store"]["connection_string"]
            passwords = [p.split("=", 1)[1] for p in conn.split(",") if p.startswith("password=")]
            assert passwords in ([], ["${REDIS_PASSWORD}"])
    # the values come only from the cloud, through the ExternalSecrets (GCP: no database password exists)
    assert _synced_secret(syn, fs.ONLINE_SECRET)
    assert syn.spec.cloud == "gcp" or _synced_secret(syn, fs.DB_SECRET)


# --- identities ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_are_read_as_their_own_identity_and_pods_run_as_theirs(stack: str) -> None:
    syn = synth_stack(stack)
    sas = {o["metadata"]["name"]: o for o in _objects(syn) if o["kind"] == "ServiceAccount"}
    assert set(sas) == {fs.SECRETS_SA, fs.SERVER_SA, fs.REGISTRY_SA}
    assert sas[fs.SECRETS_SA]["metadata"]["annotations"] and sas[fs.SERVER_SA]["metadata"]["annotations"]
    # the registry server has a cloud identity only where it is its database login (GCP)
    assert bool(sas[fs.REGISTRY_SA]["metadata"].get("annotations")) is (syn.spec.cloud == "gcp")
    store = json.dumps(_obj(syn, "SecretStore", "cloud-secrets")["spec"])
    assert f'"serviceAccountRef": {{"name": "{fs.SECRETS_SA}"}}' in store
    assert _pod(syn, fs.SERVER)["serviceAccountName"] == fs.SERVER_SA
    assert _pod(syn, fs.REGISTRY)["serviceAccountName"] == fs.REGISTRY_SA
    bound = {r.name for r in syn.resources if r.name.startswith("wi-feast-") and r.type.endswith((":Role", ":Account"))}
    registry = {"wi-feast-feast-registry"} if syn.spec.cloud == "gcp" else set()
    assert bound == {"wi-feast-feast", "wi-feast-feast-secrets", *registry}


def test_aws_identities_grant_the_features_prefix_read_and_exactly_the_two_secrets() -> None:
    syn = synth_stack("aws-prod")
    policies = {
        p.name: json.loads(p.inputs["policy"])
        for p in syn.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.startswith("wi-feast-")
    }
    assert set(policies) == {"wi-feast-feast-access", "wi-feast-feast-secrets-access"}
    server, store = policies["wi-feast-feast-access"], policies["wi-feast-feast-secrets-access"]
    for policy in (server, store):
        assert lint_identity_policy(policy) == []
    # the feature server: read of <datasets>/features/ and nothing else
    stmts = {s["Sid"]: s for s in server["Statement"]}
    datasets = f"arn:aws:s3:::mlp-aws-prod-datasets-{ACCOUNT_ID}"
    assert stmts["Objects0"]["Resource"] == [f"{datasets}/features/*"]
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in stmts["Objects0"]["Action"])
    assert stmts["List0"]["Condition"] == {"StringLike": {"s3:prefix": ["features", "features/*"]}}
    assert "ReadSecrets" not in stmts and not any(a.startswith("ecr:") for s in stmts.values() for a in s["Action"])
    assert all(r.startswith((datasets, "arn:aws:kms:")) for s in stmts.values() for r in s["Resource"])
    # the secret store: exactly the database password and the cache token, nothing else
    (db,) = syn.of_type("aws:rds/instance:Instance")
    db_secret = f"arn:aws:secretsmanager:{syn.spec.region}:{ACCOUNT_ID}:secret:rds!db-{_uuid(db.name)}-"
    synced = [_synced_secret(syn, fs.DB_SECRET), _synced_secret(syn, fs.ONLINE_SECRET)]
    assert synced[0] == db_secret + _hex(db.name, 6) and ":secret:mlp-aws-prod/online-store-" in synced[1]
    read = {s["Sid"]: s for s in store["Statement"]}
    assert read["ReadSecrets"]["Resource"] == synced
    assert set(read) == {"ReadSecrets", "SecretKeyThroughSecretsManager"}


def test_gcp_identities_grant_the_features_prefix_read_the_cache_token_and_the_registry_login() -> None:
    syn = synth_stack("gcp-prod")
    accounts = {
        r.name: f"serviceAccount:{r.inputs['accountId']}@{syn.spec.project}.iam.gserviceaccount.com"
        for r in syn.of_type("gcp:serviceaccount/account:Account")
        if r.name.startswith("wi-feast-")
    }

    def grants(member: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (r.type, r.inputs)
            for r in syn.resources
            if r.custom and r.type.startswith("gcp:") and r.inputs.get("member") == member
        ]

    ((kind, bucket),) = grants(accounts["wi-feast-feast"])
    assert (kind, bucket["role"]) == ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.objectViewer")
    assert bucket["bucket"] == f"mlp-gcp-prod-datasets-{syn.spec.project}"
    assert bucket["condition"]["title"] == "prefix-features"
    secrets = grants(accounts["wi-feast-feast-secrets"])
    assert {(t, g["role"]) for t, g in secrets} == {
        ("gcp:secretmanager/secretIamMember:SecretIamMember", "roles/secretmanager.secretAccessor")
    }
    names = [g["secretId"].rsplit("/", 1)[-1] for _, g in secrets]
    assert names == [_synced_secret(syn, fs.ONLINE_SECRET)]  # no database password exists on GCP
    # the registry server: the database login, on the platform's instance only, and nothing else
    registry = grants(accounts["wi-feast-feast-registry"])
    assert sorted(g["role"] for _, g in registry) == ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]
    assert all("mlp-gcp-prod-registry" in g["condition"]["expression"] for _, g in registry)


# --- the servers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_feature_server_serves_metrics_on_the_worker_pool(stack: str) -> None:
    syn = synth_stack(stack)
    pod = _pod(syn, fs.SERVER)
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:7] == ["--chdir", "/etc/feast", "serve", "--host", "0.0.0.0", "--port", "6566"]
    assert "--metrics" in args
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 6566, "metrics": 8000}
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert _pod(syn, fs.REGISTRY)["containers"][0]["readinessProbe"]["grpc"] == {"port": 6570}
    assert syn.spec.worker_pool.enabled
    assert pod["nodeSelector"] == WORKER and "tolerations" not in pod
    assert pod["priorityClassName"] == "ml-serving"
    monitor = _obj(syn, "PodMonitor", fs.SERVER)["spec"]
    assert monitor["selector"] == {"matchLabels": fs.SERVER_LABELS}
    assert monitor["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    services = {o["metadata"]["name"]: o["spec"] for o in _objects(syn) if o["kind"] == "Service"}
    assert services[fs.SERVER]["ports"][0]["port"] == 6566 and services[fs.SERVER]["selector"] == fs.SERVER_LABELS
    assert services[fs.REGISTRY]["ports"][0]["port"] == 6570
    assert services[fs.REGISTRY]["selector"] == fs.REGISTRY_LABELS
    # a changed configuration rolls the pods
    annotations = _obj(syn, "Deployment", fs.SERVER)["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["ml-platform/config-digest"]) == 16


@pytest.mark.parametrize(("stack", "replicas"), [("aws-dev", 1), ("aws-prod", 2), ("gcp-prod", 2)])
def test_replicas_and_disruption_budgets_follow_the_environment(stack: str, replicas: int) -> None:
    syn = synth_stack(stack)
    for deployment in (fs.SERVER, fs.REGISTRY):
        spec = _obj(syn, "Deployment", deployment)["spec"]
        assert spec["replicas"] == replicas
        assert ("topologySpreadConstraints" in spec["template"]["spec"]) == (replicas > 1)
    pdbs = {o["metadata"]["name"]: o["spec"] for o in _objects(syn) if o["kind"] == "PodDisruptionBudget"}
    if replicas > 1:
        assert pdbs == {
            fs.SERVER: {"minAvailable": 1, "selector": {"matchLabels": fs.SERVER_LABELS}},
            fs.REGISTRY: {"minAvailable": 1, "selector": {"matchLabels": fs.REGISTRY_LABELS}},
        }
    else:
        assert pdbs == {}


def test_component_attributes_name_the_services() -> None:
    syn = synth_stack("aws-dev")
    assert fs.REGISTRY_ADDRESS == "feast-registry.feast.svc.cluster.local:6570"
    assert fs.FEATURE_SERVER_URL == "http://feast-feature-server.feast.svc.cluster.local:6566"
    (component,) = syn.of_type(TOKEN)
    assert component.name == "feast"


# --- network policies ----------------------------------------------------------------------------------------


# the team namespaces (tenancy labels them with their team), never the platform's own
TEAM_NAMESPACES = {
    "matchLabels": {"app.kubernetes.io/part-of": "ml-platform"},
    "matchExpressions": [
        {"key": "ml-platform/team", "operator": "Exists"},
        {"key": "ml-platform/team", "operator": "NotIn", "values": ["platform"]},
    ],
}


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_admit_team_namespaces_and_monitoring_only(stack: str) -> None:
    syn = synth_stack(stack)
    policies = _network_policies(syn)
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    teams = {"namespaceSelector": TEAM_NAMESPACES}
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    server_pods = {"podSelector": {"matchLabels": fs.SERVER_LABELS}}
    admitted: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for spec in policies.values():
        for rule in spec.get("ingress", []):
            for port in rule["ports"]:
                key = (json.dumps(spec["podSelector"]["matchLabels"], sort_keys=True), port["port"])
                admitted.setdefault(key, []).extend(rule["from"])
    server = json.dumps(fs.SERVER_LABELS, sort_keys=True)
    registry = json.dumps(fs.REGISTRY_LABELS, sort_keys=True)
    assert admitted == {
        (server, 6566): [teams],
        (server, 8000): [monitoring],
        (registry, 6570): [teams, server_pods],
    }
    # egress: the registry server reaches only DNS and the database; the feature server no database
    registry_out = policies["feast-registry-egress"]["egress"]
    if syn.spec.cloud == "aws":
        assert [r.get("ports") for r in registry_out][1:] == [[{"port": 5432, "protocol": "TCP"}]]
    else:  # the Auth Proxy: the instance (3307), the Cloud SQL Admin API, its identity's token endpoint
        assert registry_out[1]["ports"] == [{"port": 3307, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
        assert [r["to"][0]["ipBlock"]["cidr"] for r in registry_out[2:]] == ["169.254.169.254/32", "169.254.169.252/32"]
    server_ports = {p["port"] for r in policies["feast-feature-server-egress"]["egress"] for p in r["ports"]}
    assert 5432 not in server_ports and {53, 6570, 443} <= server_ports
    if syn.spec.cloud == "gcp":  # the metadata server hands out workload-identity tokens
        assert 80 in server_ports or 988 in server_ports


@pytest.mark.parametrize("stack", STACKS)
def test_team_namespaces_may_reach_feast(stack: str) -> None:
    syn = synth_stack(stack)
    teams = [t.name for t in syn.spec.teams]
    assert teams
    for team in teams:
        (policy,) = [
            manifest(r)
            for r in syn.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            if r.inputs["metadata"]["name"] == "allow-feature-store" and r.inputs["metadata"]["namespace"] == team
        ]
        egress = policy["spec"]["egress"]
        to = {
            (json.dumps(r["to"][0]["podSelector"]["matchLabels"], sort_keys=True), r["ports"][0]["port"])
            for r in egress
            if "to" in r
        }
        assert to == {
            (json.dumps(fs.SERVER_LABELS, sort_keys=True), 6566),
            (json.dumps(fs.REGISTRY_LABELS, sort_keys=True), 6570),
        }
        assert all(
            r["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NS}
            for r in egress
            if "to" in r
        )


# --- off -----------------------------------------------------------------------------------------------------


def test_disabled_feature_store_creates_nothing() -> None:
    syn = feast_off()
    assert not syn.spec.feature_store.enabled
    assert syn.of_type(TOKEN) == []
    namespaced = [
        r for r in syn.resources if is_kubernetes(r) and (r.inputs.get("metadata") or {}).get("namespace") == NS
    ]
    assert namespaced == [] and not any(r.inputs.get("metadata", {}).get("name") == NS for r in syn.resources)
    assert not [r for r in syn.resources if r.name.startswith("wi-feast-")]
    assert not [
        r
        for r in syn.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["name"] == "allow-feature-store"
    ]
