"""The Kubernetes layer as one cluster (the platform's objects plus every release rendered by a real Helm,
tests/k8s_cluster.py), checked for what only a running cluster would show (issue 17, section 3):

* PodDisruptionBudgets leave a node drain room to evict (minAvailable below the replica count);
* an admission webhook that fails closed is serving before anything it admits is created (the creator
  depends on the webhook's release), and never intercepts the install of releases beside it;
* NetworkPolicies let the real traffic through: DNS, the API server (controllers and Helm hook Jobs),
  the API server calling webhooks and aggregated APIs, Prometheus scrapes, and the data paths (teams to
  MLflow and Feast, Feast and MLflow to their stores, the gateway to models, drift to the Pushgateway);
* every controller and hook Job of a release can run on the system nodes (a stack may turn the CPU
  workers off, and the GPU nodes are tainted).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml

from components.gcp.foundation import GcpFoundation
from components.k8s import base, feature_store, mlflow, pipelines, serving, tenancy, training
from infra.synth import Synthesis
from tests import helm
from tests import k8s_cluster as kc
from tests.conftest import STACK_NAMES, synth_stack
from tests.k8s_schema import is_kubernetes, manifest
from tests.netpol import Address, Cluster, Endpoint, Pod, selects

STACKS = [*STACK_NAMES, kc.GPU_OPERATOR_STACK]
TEAM_NS = serving.team_namespaces()  # the tenancy labels: part-of ml-platform, a team other than platform


def team_namespaces(syn: Synthesis) -> list[str]:
    return sorted(ns for ns, labels in kc.namespaces(syn).items() if selects(TEAM_NS, labels))


# --- pods the cluster's operators and controllers create ----------------------------------------------------


def operated_pods(syn: Synthesis) -> Iterator[tuple[Pod, int]]:
    """(pod, replicas) of what operators create from custom resources: Prometheus and Alertmanager
    (prometheus-operator's pod labels), the gateway's Envoy proxies, KServe predictors, workflow pods."""
    for o in kc.of_kind(syn, "Prometheus", "Alertmanager"):
        app = o.kind.lower()
        labels = {
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/instance": o.name,
            "app.kubernetes.io/managed-by": "prometheus-operator",
            app: o.name,
            "operator.prometheus.io/name": o.name,
        }
        yield (
            Pod(o.namespace, labels, {"http-web": 9090 if app == "prometheus" else 9093}, o.name),
            int(o.body["spec"].get("replicas", 1)),
        )
    for o in kc.of_kind(syn, "EnvoyProxy"):
        labels = {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy"}
        deployment = o.body["spec"]["provider"]["kubernetes"].get("envoyDeployment") or {}
        yield Pod(o.namespace, labels, {}, "envoy proxy"), int(deployment.get("replicas", 1))
    runtime_ports = {}
    for o in kc.of_kind(syn, "ClusterServingRuntime"):
        runtime_ports = {
            p["name"]: p["containerPort"] for c in o.body["spec"]["containers"] for p in c.get("ports", [])
        }
    for o in kc.of_kind(syn, "InferenceService"):
        labels = {
            **(o.body["metadata"].get("labels") or {}),
            "serving.kserve.io/inferenceservice": o.name,
            "component": "predictor",
        }
        account = o.body["spec"]["predictor"].get("serviceAccountName") or "default"
        yield Pod(o.namespace, labels, runtime_ports, f"{o.name} predictor", account), 1
    for o in kc.of_kind(syn, "WorkflowTemplate"):
        labels = {**(o.body["spec"].get("podMetadata") or {}).get("labels", {}), "workflows.argoproj.io/workflow": "x"}
        account = o.body["spec"].get("serviceAccountName") or pipelines.SERVICE_ACCOUNT  # the controller's default
        yield Pod(o.namespace, labels, {}, f"workflow pod of {o.name}", account), 1
    for o in kc.of_kind(syn, "TrainJob"):
        labels = {training.JOBSET_NAME_LABEL: o.name}
        nodes = int((o.body["spec"].get("trainer") or {}).get("numNodes", 1))
        yield Pod(o.namespace, labels, {}, f"TrainJob {o.name}", tenancy.WORKLOAD_SA), nodes


def all_pods(syn: Synthesis) -> list[Pod]:
    return [w.pod for w in kc.workloads(syn)] + [p for p, _ in operated_pods(syn)]


# --- PodDisruptionBudgets -----------------------------------------------------------------------------------


def _replicas(syn: Synthesis) -> list[tuple[Pod, int]]:
    found = []
    for w in kc.workloads(syn):
        if w.obj.kind in ("Deployment", "StatefulSet"):
            found.append((w.pod, int(w.obj.body["spec"].get("replicas", 1))))
    return found + list(operated_pods(syn))


def _allowed_disruptions(pdb: Mapping[str, Any], replicas: int) -> int:
    spec = pdb["spec"]
    if "maxUnavailable" in spec and spec["maxUnavailable"] is not None:
        value = spec["maxUnavailable"]
        return replicas * int(value[:-1]) // 100 if isinstance(value, str) else int(value)
    value = spec.get("minAvailable", 0)
    floor = -(-replicas * int(value[:-1]) // 100) if isinstance(value, str) else int(value)
    return replicas - floor


# PDBs that refuse every eviction on purpose: a running TrainJob's pods (a voluntary eviction restarts
# the whole gang from its last checkpoint). The price: a GPU node upgrade waits for the job (EKS managed
# node groups give up after 15 minutes, GKE evicts after an hour); Karpenter consolidation and the
# autoscaler's scale-down leave the node alone, which is the point.
DELIBERATE = {training.JOBSET_NAME_LABEL}


@pytest.mark.parametrize("stack", STACKS)
def test_pod_disruption_budgets_let_a_node_drain(stack: str) -> None:
    """A PDB that allows no disruption (minAvailable >= replicas) blocks every drain of its node: EKS
    managed node group upgrades fail after their eviction timeout, GKE upgrades wait an hour, and the
    cluster autoscaler never removes the node."""
    syn = kc.stack(stack)
    pods = _replicas(syn)
    blocking, unmatched = [], []
    for pdb in kc.of_kind(syn, "PodDisruptionBudget"):
        selector = pdb.body["spec"]["selector"]
        matched = [(p, n) for p, n in pods if p.namespace == pdb.namespace and selects(selector, p.labels)]
        if not matched:
            unmatched.append(str(pdb))
        if DELIBERATE & set(selector.get("matchLabels") or {}):
            continue
        blocking += [f"{pdb} over {p} x{n}" for p, n in matched if _allowed_disruptions(pdb.body, n) < 1]
    for proxy in kc.of_kind(syn, "EnvoyProxy"):  # Envoy Gateway renders the proxies' PDB from this
        k8s_spec = proxy.body["spec"]["provider"]["kubernetes"]
        if "envoyPDB" in k8s_spec:
            replicas = int(k8s_spec.get("envoyDeployment", {}).get("replicas", 1))
            if _allowed_disruptions({"spec": k8s_spec["envoyPDB"]}, replicas) < 1:
                blocking.append(f"{proxy}: envoyPDB over {replicas} replica(s)")
    assert blocking == []
    assert unmatched == []  # a PDB selecting nothing is a typo


# --- admission webhooks and install order -------------------------------------------------------------------


def _plural(kind: str, crds: Mapping[str, str]) -> str:
    if kind in crds:
        return crds[kind]
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "ch")):
        return lower + "es"
    return lower + "s"


def _creators(syn: Synthesis) -> dict[str, set[str]]:
    """Release name (or a platform resource's URN) -> the release names it transitively depends on."""
    names = {r.urn: r.name for r in syn.of_type(kc.RELEASE)}
    closure: dict[str, set[str]] = {}

    def deps(urn: str) -> set[str]:
        if urn not in closure:
            closure[urn] = set()
            for d in syn.by_urn(urn).dependencies if urn in syn._index else ():
                closure[urn] |= {d} | deps(d)
        return closure[urn]

    return {urn: {names[d] for d in deps(urn) if d in names} for urn in [r.urn for r in syn.resources]}


def _admitted(syn: Synthesis) -> Iterator[tuple[str, str, dict[str, Any], str, bool]]:
    """(apiGroup, resource, object, creator URN, is_hook) of every object created in the cluster, and a
    pod for each workload (its controller creates those later, on behalf of the workload's creator)."""
    crds = {
        o.body["spec"]["names"]["kind"]: o.body["spec"]["names"]["plural"]
        for o in kc.of_kind(syn, "CustomResourceDefinition")
    }
    created = [(manifest(r), r.urn) for r in syn.resources if is_kubernetes(r)]
    for rel in syn.of_type(kc.RELEASE):
        created += [(o, rel.urn) for o in kc.rendered(syn)[rel.name]]
    for body, creator in created:
        hook = bool(helm.hook_phases(body))
        yield body["apiVersion"].rpartition("/")[0], _plural(body["kind"], crds), body, creator, hook
        template = helm.pod_template(body)
        if template is not None:
            namespace = body["metadata"].get("namespace")
            pod = {"kind": "Pod", "metadata": {**(template.get("metadata") or {}), "namespace": namespace}}
            yield "", "pods", pod, creator, hook


def _rule_matches(rules: list[Mapping[str, Any]], group: str, resource: str) -> bool:
    for rule in rules:
        if "CREATE" not in rule.get("operations", []) and "*" not in rule.get("operations", []):
            continue
        groups, resources = rule.get("apiGroups", []), rule.get("resources", [])
        if ("*" in groups or group in groups) and ("*" in resources or "*/*" in resources or resource in resources):
            return True
    return False


@pytest.mark.parametrize("stack", STACKS)
def test_fail_closed_webhooks_serve_before_what_they_admit(stack: str) -> None:
    """A webhook with failurePolicy Fail rejects what it selects while its backend is not serving. So
    whatever it selects must be created by something ordered after its release (Pulumi waits for a
    release's pods to be ready): not by a release installed beside it (its hook Jobs would race the
    webhook), and not by its own release (it could never install or upgrade)."""
    syn = kc.stack(stack)
    namespaces = kc.namespaces(syn)
    after = _creators(syn)
    release_urn = {r.name: r.urn for r in syn.of_type(kc.RELEASE)}
    admitted = list(_admitted(syn))
    racing = []
    for config in kc.of_kind(syn, "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for hook in config.body.get("webhooks") or []:
            if hook.get("failurePolicy", "Fail") != "Fail":
                continue
            for group, resource, obj, creator, is_hook in admitted:
                if not _rule_matches(hook.get("rules") or [], group, resource):
                    continue
                ns = obj["metadata"].get("namespace")
                if ns and not selects(hook.get("namespaceSelector") or {}, namespaces.get(ns, {})):
                    continue
                if not selects(hook.get("objectSelector") or {}, obj["metadata"].get("labels") or {}):
                    continue
                if creator == release_urn[config.source]:
                    if is_hook or resource == "pods":
                        racing.append(f"{hook['name']} ({config.source}) admits its own release's {resource} in {ns}")
                    continue
                if config.source not in after[creator]:
                    what = f"{obj.get('kind', 'Pod')} {ns}/{obj['metadata'].get('name', '')}"
                    racing.append(f"{hook['name']} ({config.source}) admits {what}, created without waiting for it")
    assert racing == []


def test_kueue_manages_jobs_of_team_namespaces_only() -> None:
    """Kueue's Job webhooks (failurePolicy Fail) follow managedJobsNamespaceSelector: team namespaces."""
    syn = synth_stack("aws-prod")
    namespaces = kc.namespaces(syn)
    (config,) = [o for o in kc.of_kind(syn, "MutatingWebhookConfiguration") if o.source == "kueue"]
    (job_hook,) = [h for h in config.body["webhooks"] if h["name"] == "mjob.kb.io"]
    selected = sorted(ns for ns, labels in namespaces.items() if selects(job_hook["namespaceSelector"], labels))
    assert selected == team_namespaces(syn) == sorted(t.name for t in syn.spec.teams)


# --- network policies against the real traffic -------------------------------------------------------------


def _isolated_namespaces(cluster: Cluster) -> set[str]:
    return {p["metadata"]["namespace"] for p in cluster.policies}


def _service_targets(syn: Synthesis, namespace: str, name: str, port: int | str) -> list[tuple[Pod, int]]:
    svc, backends = kc.service_backends(syn, namespace, name)
    out = []
    for w in backends:
        target = kc.target_port(svc, port, w)
        if target is not None:
            out.append((w.pod, target))
    return out


def _scrape_targets(syn: Synthesis, pods: list[Pod]) -> Iterator[tuple[str, Pod, int]]:
    namespaces = list(kc.namespaces(syn))
    for sm in kc.of_kind(syn, "ServiceMonitor", "PodMonitor"):
        spec = sm.body["spec"]
        ns_sel = spec.get("namespaceSelector") or {}
        scope = namespaces if ns_sel.get("any") else ns_sel.get("matchNames") or [sm.namespace]
        if sm.kind == "ServiceMonitor":
            for svc in kc.services(syn):
                if svc.namespace not in scope or not selects(
                    spec["selector"], svc.body["metadata"].get("labels") or {}
                ):
                    continue
                for ep in spec.get("endpoints") or []:
                    for pod, port in _service_targets(
                        syn, svc.namespace, svc.name, ep.get("port") or ep.get("targetPort")
                    ):
                        yield str(sm), pod, port
        else:
            for pod in pods:
                if pod.namespace not in scope or not selects(spec["selector"], pod.labels):
                    continue
                for ep in spec.get("podMetricsEndpoints") or []:
                    port = ep.get("portNumber") or pod.ports.get(ep.get("port", "")) or ep.get("targetPort")
                    if isinstance(port, int):
                        yield str(sm), pod, port


def _webhook_targets(syn: Synthesis) -> Iterator[tuple[str, Pod, int]]:
    """Pods the API server calls: admission webhooks and aggregated APIs (APIService)."""
    for config in kc.of_kind(syn, "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for hook in config.body.get("webhooks") or []:
            ref = hook["clientConfig"].get("service")
            if ref:
                for pod, port in _service_targets(syn, ref["namespace"], ref["name"], ref.get("port", 443)):
                    yield f"{hook['name']} ({config.source})", pod, port
    for api in kc.of_kind(syn, "APIService"):
        ref = api.body["spec"].get("service")
        if ref:
            for pod, port in _service_targets(syn, ref["namespace"], ref["name"], ref.get("port", 443)):
                yield f"APIService {api.name} ({api.source})", pod, port


def webhook_ports(syn: Synthesis) -> dict[str, set[int]]:
    """Release -> the pod ports the API server calls (a private cluster's control plane must reach them)."""
    out: dict[str, set[int]] = {}
    for what, _, port in _webhook_targets(syn):
        out.setdefault(what.rsplit("(", 1)[1].rstrip(")"), set()).add(port)
    return out


def _first(pods: list[Pod], namespace: str, labels: Mapping[str, str]) -> Pod:
    for p in pods:
        if p.namespace == namespace and all(p.labels.get(k) == v for k, v in labels.items()):
            return p
    raise LookupError(f"no pod {namespace}/{dict(labels)}")


def _config_endpoint(syn: Synthesis, config_map: str, key: str) -> Address:
    """host:port of a store in a Feast feature_store.yaml the platform renders (the real data path)."""
    (cm,) = [o for o in kc.of_kind(syn, "ConfigMap") if o.namespace == base.NS_FEAST and o.name == config_map]
    doc = yaml.safe_load(cm.body["data"]["feature_store.yaml"])
    value = doc["online_store"]["connection_string"] if key == "online" else doc["registry"]["path"]
    host_port = value.split(",")[0].rsplit("@", 1)[-1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    return Address(host, name=f"{key} store {host_port}", port=int(port))


CLOUD_SQL_PROXY_PORT = 3307  # the Cloud SQL Auth Proxy's server-side port on the instance


def _database_endpoint(syn: Synthesis, configured: Address) -> Address:
    """Where a database login's traffic leaves the pod: the configured host, or, where the client talks to a
    proxy beside it on loopback (GCP: the Cloud SQL Auth Proxy sidecar), the instance's private address on
    the proxy's port (the proxy's other leg, the Cloud SQL Admin API, is HTTPS to Google)."""
    if configured.ip not in ("127.0.0.1", "localhost"):
        return configured
    host = str(syn.outputs["databaseEndpoint"]).rsplit(":", 1)[0]
    return Address(host, name=f"the database through its Auth Proxy {host}", port=CLOUD_SQL_PROXY_PORT)


def _cloud_identities(syn: Synthesis) -> set[tuple[str, str]]:
    """(namespace, service account) of every account bound to a cloud identity (IRSA / Workload Identity)."""
    keys = ("eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account")
    return {
        (o.namespace, o.name)
        for o in kc.of_kind(syn, "ServiceAccount")
        if any(k in (o.body["metadata"].get("annotations") or {}) for k in keys)
    }


def _data_paths(syn: Synthesis, pods: list[Pod]) -> Iterator[tuple[Endpoint, Endpoint, int, str]]:
    """The platform's own traffic: (from, to, port, what)."""
    public = kc.PUBLIC_HTTPS
    if syn.spec.cloud == "gcp":  # tokens from the node's metadata server
        workload_identity = tuple(
            (Address(cidr.split("/")[0]), port) for cidr, port in GcpFoundation.workload_identity_endpoints
        )
    elif syn.spec.network.interface_endpoints:  # IRSA: STS answers on an interface endpoint's VPC address
        workload_identity = ((kc.private_address(syn, 4000, "the STS interface endpoint"), 443),)
    else:
        workload_identity = ()
    identities = _cloud_identities(syn)
    teams = team_namespaces(syn)
    team_pods = [p for p in pods if p.namespace in teams]
    namespaces = kc.namespaces(syn)
    database = cache = None
    if base.NS_FEAST in namespaces:
        database = _database_endpoint(syn, _config_endpoint(syn, feature_store.REGISTRY, "registry"))
        cache = _config_endpoint(syn, feature_store.SERVER, "online")
    if base.NS_MLFLOW in namespaces:
        registry = _first(pods, base.NS_MLFLOW, mlflow.POD_LABELS)
        if database is not None:  # the same database instance (MLflow's and Feast's schemas)
            yield registry, database, database.port, "MLflow to its database"
        yield registry, public, 443, "MLflow to the model bucket"
        for pod in team_pods:
            yield pod, registry, mlflow.PORT, "a team to the model registry"
    if base.NS_FEAST in namespaces:
        server = _first(pods, base.NS_FEAST, feature_store.SERVER_LABELS)
        fs_registry = _first(pods, base.NS_FEAST, feature_store.REGISTRY_LABELS)
        yield server, fs_registry, feature_store.REGISTRY_PORT, "feature server to the Feast registry"
        assert database is not None and cache is not None
        yield server, cache, cache.port, "feature server to the online store"
        yield server, public, 443, "feature server to the offline store"
        yield fs_registry, database, database.port, "Feast registry to its database"
        for pod in team_pods:
            yield pod, server, feature_store.SERVER_PORT, "a team to the feature server"
            yield pod, fs_registry, feature_store.REGISTRY_PORT, "a team to the Feast registry"
            yield pod, cache, cache.port, "a team's materialization to the online store"
    proxies = [
        p for p in pods if p.namespace == serving.NS_ENVOY and p.labels.get("app.kubernetes.io/component") == "proxy"
    ]
    for pod in pods:
        if "serving.kserve.io/inferenceservice" in pod.labels:
            for proxy in proxies:
                yield proxy, pod, serving.INFERENCE_PORT, "the gateway to a model"
            yield pod, public, 443, "a model's storage initializer and payload log to object storage"
        if "workflows.argoproj.io/workflow" in pod.labels:
            yield pod, kc.api_server(syn), 443, "a workflow's executor to the API server"
            yield pod, public, 443, "a workflow step to object storage"
        if pod.labels.get(base.LABEL_COMPONENT) == "rollout-analysis":
            yield pod, kc.api_server(syn), 443, "the rollout analysis patching its canary"
            yield (
                pod,
                _first(pods, base.NS_MONITORING, {"app.kubernetes.io/name": "prometheus"}),
                9090,
                "rollout to Prometheus",
            )
        if pod.labels.get(base.LABEL_COMPONENT) == "model-drift":
            gateway = _first(pods, base.NS_MONITORING, {"app.kubernetes.io/name": "prometheus-pushgateway"})
            yield pod, gateway, 9091, "drift metrics to the Pushgateway"
        if (pod.namespace, pod.service_account) in identities:
            for address, port in workload_identity:
                yield pod, address, port, "workload identity tokens"


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_let_the_platform_traffic_through(stack: str) -> None:
    syn = kc.stack(stack)
    cluster = kc.cluster(syn)
    pods = all_pods(syn)
    isolated = _isolated_namespaces(cluster)
    api = kc.api_server(syn)
    prometheus = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "prometheus"]
    blocked = []

    def check(src: Endpoint, dst: Endpoint, port: int, what: str, protocol: str = "TCP") -> None:
        if not cluster.allowed(src, dst, port, protocol):
            blocked.append(f"{what}: {src} -> {dst}:{port}/{protocol}")

    for pod in pods:
        if pod.namespace in isolated:
            check(pod, kc.DNS, 53, "DNS", "UDP")
    # every controller and hook Job of a release talks to the API server
    for w in kc.workloads(syn):
        if w.obj.source != "platform" and w.pod.namespace in isolated:
            check(w.pod, api, 443, "a release's pod to the API server" + (" (a Helm hook)" if w.hooks else ""))
    for what, pod, port in _webhook_targets(syn):
        check(api, pod, port, f"the API server calling {what}")
    for what, pod, port in _scrape_targets(syn, pods):
        for prom in prometheus:
            check(prom, pod, port, f"Prometheus scraping {what}")
    for src, dst, port, what in _data_paths(syn, pods):
        check(src, dst, port, what)
    assert blocked == []


@pytest.mark.parametrize("stack", STACKS)
def test_release_controllers_and_hooks_can_run_on_the_system_nodes(stack: str) -> None:
    """The system nodes carry CriticalAddonsOnly, the GPU nodes nvidia.com/gpu, and a stack may turn the
    CPU workers off: a release's Deployment, StatefulSet or hook Job without the system toleration
    would then have no node (a hook Job that never runs fails its release)."""
    syn = kc.stack(stack)
    homeless = [
        str(w.obj)
        for w in kc.workloads(syn)
        if w.obj.source != "platform"
        and w.obj.kind in ("Deployment", "StatefulSet", "Job")
        and not kc.tolerates_system_nodes(w.template)
    ]
    assert homeless == []


def test_webhook_ports_the_control_plane_must_reach() -> None:
    """The pod ports the API server calls (GKE private clusters open only 443 and 10250 from the control
    plane: the rest needs a firewall rule, deploy audit G3)."""
    ports = webhook_ports(synth_stack("gcp-prod"))
    assert ports == {
        "cert-manager": {10250},
        "envoy-gateway": {9443},
        "external-secrets": {10250},
        "kserve": {9443},
        "kube-prometheus-stack": {10250},
        "kubeflow-trainer": {9443},
        "kueue": {9443, 8082},  # the webhooks, and the visibility API (an APIService)
    }


# --- the destroy path ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_team_namespaces_go_before_the_controllers_that_finalize_their_objects(stack: str) -> None:
    """Kueue puts a finalizer on the Workload of every job it admits. Pulumi destroys in reverse
    dependency order: a team namespace that does not depend on the Kueue (and Trainer) release may be
    deleted while Kueue is being uninstalled, and then stays Terminating with Workloads nobody
    releases (the destroy times out). Ordered after them, it is deleted while they still run."""
    syn = kc.stack(stack)
    finalizers = {r.urn for r in syn.of_type(kc.RELEASE) if r.name in ("kueue", "kubeflow-trainer")}
    assert finalizers
    for team in syn.spec.teams:
        (ns,) = [r for r in syn.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == team.name]
        assert finalizers <= set(ns.dependencies), f"namespace {team.name} may outlive Kueue on destroy"
