"""One stack's Kubernetes cluster as the API server would hold it after `pulumi up`: the platform's own
objects (from the synthesis) plus every Helm release rendered by a real Helm (tests/helm.py) with the
exact chart name, namespace, release name and values the stack creates it with.

Charts are rendered at their packaged version (tests/charts/charts.yaml), which is the version the
platform pins (test_k8s_helm.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from infra.synth import ResourceRecord, Synthesis
from tests import helm
from tests.k8s_schema import is_kubernetes, manifest
from tests.netpol import Address, Cluster, Pod

RELEASE = "kubernetes:helm.sh/v3:Release"
SYSTEM_NAMESPACES = ("kube-system", "default")
# a variant with what no reference stack runs: the GPU Operator, and Karpenter for the GPU pools
GPU_OPERATOR_STACK = "aws-prod+gpu-operator+karpenter"


@cache
def gpu_operator_stack() -> Synthesis:
    """aws-prod with `services.gpuRuntime.mode: gpu-operator` and `autoscaling.gpuProvisioner: karpenter`."""
    from tests.conftest import raw_platform, synth_platform

    platform = raw_platform("aws-prod")
    platform["services"] = {"gpuRuntime": {"mode": "gpu-operator"}, "autoscaling": {"gpuProvisioner": "karpenter"}}
    return synth_platform(platform, "aws-prod")


def stack(name: str) -> Synthesis:
    """A reference stack, or the GPU Operator variant."""
    from tests.conftest import synth_stack

    return gpu_operator_stack() if name == GPU_OPERATOR_STACK else synth_stack(name)


@dataclass(frozen=True)
class Obj:
    """A Kubernetes object and where it comes from: a release's name, or `platform`."""

    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.body.get("kind", "")

    @property
    def name(self) -> str:
        return self.body.get("metadata", {}).get("name", "")

    @property
    def namespace(self) -> str:
        return self.body.get("metadata", {}).get("namespace", "")

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} ({self.source})"


def _crd_apis(objs: list[dict[str, Any]]) -> set[str]:
    """`group/version` and `group/version/Kind` of every CRD, as `.Capabilities.APIVersions` lists them."""
    apis = set()
    for o in objs:
        if o.get("kind") != "CustomResourceDefinition":
            continue
        spec = o["spec"]
        for v in spec.get("versions") or []:
            apis.add(f"{spec['group']}/{v['name']}")
            apis.add(f"{spec['group']}/{v['name']}/{spec['names']['kind']}")
    return apis


def release_inputs(syn: Synthesis) -> list[ResourceRecord]:
    return syn.of_type(RELEASE)


def _namespace_of(obj: dict[str, Any], default: str) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    if not meta.get("namespace") and obj.get("kind") not in CLUSTER_SCOPED:
        meta["namespace"] = default
    return obj


CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "RuntimeClass",
    "APIService",
    "ClusterIssuer",
    "GatewayClass",
    "ClusterPolicy",
    "ClusterQueue",
    "ResourceFlavor",
    "ClusterServingRuntime",
    "ClusterTrainingRuntime",
    "NodePool",
    "EC2NodeClass",
    "WorkloadPriorityClass",
}


_RENDERED: dict[int, tuple[Synthesis, dict[str, list[dict[str, Any]]]]] = {}


def api_versions(syn: Synthesis) -> set[str]:
    """What `.Capabilities.APIVersions` adds in this stack's cluster: the API groups of every CRD its
    releases install (charts render ServiceMonitors and the like only when the cluster has them)."""
    kube = syn.spec.cluster.kubernetes_version
    return _crd_apis([o for r in release_inputs(syn) for o in helm.release_objects(r.inputs, kube_version=kube)])


def _render_all(syn: Synthesis) -> dict[str, list[dict[str, Any]]]:
    kube = syn.spec.cluster.kubernetes_version
    apis = api_versions(syn)  # as a real install after the CRD releases would see them
    out = {}
    for r in release_inputs(syn):
        objs = helm.release_objects(r.inputs, kube_version=kube, api_versions=apis)
        out[r.name] = [_namespace_of(o, r.inputs["namespace"]) for o in objs]
    return out


def rendered(syn: Synthesis) -> dict[str, list[dict[str, Any]]]:
    """release name -> the objects it installs (hooks included), rendered once per Synthesis."""
    if id(syn) not in _RENDERED:  # keyed by identity, the Synthesis kept alive with its renders
        _RENDERED[id(syn)] = (syn, _render_all(syn))
    return _RENDERED[id(syn)][1]


def objects(syn: Synthesis) -> list[Obj]:
    """Every object of the cluster: the platform's own, then each release's."""
    out = [Obj("platform", manifest(r)) for r in syn.resources if is_kubernetes(r)]
    for release, objs in rendered(syn).items():
        out += [Obj(release, o) for o in objs]
    return out


def of_kind(syn: Synthesis, *kinds: str) -> list[Obj]:
    return [o for o in objects(syn) if o.kind in kinds]


def namespaces(syn: Synthesis) -> dict[str, dict[str, str]]:
    found = {ns: {"kubernetes.io/metadata.name": ns} for ns in SYSTEM_NAMESPACES}
    for o in of_kind(syn, "Namespace"):
        found[o.name] = dict(o.body["metadata"].get("labels") or {})
    return found


def cluster(syn: Synthesis) -> Cluster:
    """The stack's namespaces and every NetworkPolicy in it (the platform's and the charts')."""
    return Cluster(namespaces(syn), [o.body for o in of_kind(syn, "NetworkPolicy")])


@dataclass(frozen=True)
class Workload:
    obj: Obj
    pod: Pod
    template: dict[str, Any]

    @property
    def hooks(self) -> set[str]:
        return helm.hook_phases(self.obj.body)


def _ports(template: Mapping[str, Any]) -> dict[str, int]:
    spec = template.get("spec") or {}
    found = {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for p in c.get("ports") or []:
            if p.get("name"):
                found[p["name"]] = int(p["containerPort"])
    return found


def workloads(syn: Synthesis) -> Iterator[Workload]:
    """Every pod template of the cluster (Deployments, DaemonSets, StatefulSets, Jobs, CronJobs, hook Jobs)."""
    for o in objects(syn):
        template = helm.pod_template(o.body)
        if template is None:
            continue
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        account = (template.get("spec") or {}).get("serviceAccountName") or "default"
        pod = Pod(o.namespace, labels, _ports(template), name=f"{o.kind}/{o.name}", service_account=account)
        yield Workload(o, pod, template)


def services(syn: Synthesis) -> list[Obj]:
    return of_kind(syn, "Service")


def service_backends(syn: Synthesis, namespace: str, name: str) -> tuple[Obj, list[Workload]]:
    """A Service and the workloads whose pods it selects."""
    (svc,) = [s for s in services(syn) if s.namespace == namespace and s.name == name]
    selector = svc.body["spec"].get("selector") or {}
    backends = [
        w
        for w in workloads(syn)
        if selector and w.pod.namespace == namespace and all(w.pod.labels.get(k) == v for k, v in selector.items())
    ]
    return svc, backends


def target_port(service: Obj, port: int | str, backend: Workload) -> int | None:
    """The pod port a Service port (number or name) leads to on one backend."""
    for p in service.body["spec"].get("ports") or []:
        if port in (p.get("port"), p.get("name")):
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, str):
                return backend.pod.ports.get(target)
            return int(target)
    return None


# --- endpoints outside the platform's objects ------------------------------------------------------------

DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, name="cluster DNS")  # CoreDNS (EKS) and kube-dns (GKE)


def api_server(syn: Synthesis) -> Address:
    """The API server as a pod reaches it (after the `kubernetes` Service's NAT): a private address in
    the VPC (EKS control-plane ENIs, GKE's private endpoint)."""
    net = syn.spec.network.cidr
    return Address(str(net.network_address + 10), name="the API server")


def private_address(syn: Synthesis, offset: int, name: str) -> Address:
    """A private endpoint inside the VPC (a database, a cache): its address is not known to the program."""
    return Address(str(syn.spec.network.cidr.network_address + offset), name=name)


PUBLIC_HTTPS = Address("52.216.0.10", name="a public HTTPS endpoint (object storage, a cloud API)")


def tolerates_system_nodes(template: Mapping[str, Any]) -> bool:
    """Whether a pod may run on the system nodes (tainted CriticalAddonsOnly:NoSchedule)."""
    for t in (template.get("spec") or {}).get("tolerations") or []:
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == "CriticalAddonsOnly" and t.get("effect") in (None, "", "NoSchedule"):
            return True
    return False
