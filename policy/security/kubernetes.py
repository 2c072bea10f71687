"""Security rules: Kubernetes objects and GPU scheduling.

What the rules read
* Pod specs wherever they sit: core workloads, Kubeflow Trainer runtimes and the pod templates a
  `TrainJob` patches (`runtimePatches`, `podTemplateOverrides`), KServe serving runtimes and
  `InferenceService` components, and the pod of every container template of an Argo Workflow,
  WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow: the workflow's pod-level settings under
  the template's own, with the template's `container` / `script` (Argo's `main`), `containerSet`,
  init containers and sidecars (`props.pod_specs`, `props.argo_pods`). A container's effective
  security context is its own over the pod's (`runAsNonRoot`, `runAsUser`, `seccompProfile`).
* *Partial* pod specs and containers only override what comes from elsewhere: a TrainJob's patches
  (the runtime supplies the rest) and an InferenceService's `model` (the serving runtime supplies the
  container). There only explicitly bad values count; a missing field is not a violation.
* The trainer container (`node`) of a Trainer runtime's trainer step takes its image and resources
  from each TrainJob (`spec.trainer.image`, `spec.trainer.resourcesPerNode`), which the rules check
  on the TrainJob instead.
* Objects a Helm release installs reach the rules only under `mlplat check --render` (the offline
  runner renders every release with Helm and hands each object over as a resource of its Kubernetes
  type, parented to the release); `pulumi preview` shows a pack only the release's chart, version and
  values, which `k8s-helm-*` police.

GPU-system allowlist: the DCGM exporter (components/k8s/gpu_runtime.py) is the only pod the platform
itself runs outside "restricted": on EKS as root with CAP_SYS_ADMIN added (profiling counters; that
rules out `allowPrivilegeEscalation: false`), on GKE privileged (COS has no NVIDIA container runtime),
with read-only hostPath mounts of the kubelet's pod-resources socket directory and GKE's driver
directory. The rules that these settings break carry `exemptNamespaces` (default: `gpu-system`) and
`exemptObjects` (glob patterns over `Kind/namespace/name`, `Kind/name` for cluster-scoped objects),
and where the allowance is narrower (capabilities, host paths) exactly what the exporter uses.

Node agents: the Helm charts' DaemonSets that read the node itself (rendered by `--render`): the device
plugin, GPU feature discovery and node-feature-discovery in `gpu-system`, and Prometheus' node-exporter in
its own `node-exporter` namespace (Pod Security "privileged"). Where what they need is their purpose,
the rules exempt those two namespaces: host namespaces (node-exporter reads the host's network and
processes), the GPU toleration (they run on GPU nodes), and hostPath volumes limited to the paths they
read or write (the kubelet's device-plugin and pod-resources directories, CDI specs, the MPS directory,
NFD's feature files, /proc, /sys, /boot, /lib, /usr/lib, /etc/os-release; `/` itself only read-only:
node-exporter's rootfs and GFD's driver root). Capabilities, privilege escalation, seccomp and resources
are not exempt there: upstream charts can be told to set them, and the platform's values do. The one
exception is container by container (`exemptContainers`): the device plugin chart's config-manager init
containers and sidecars, which no value of nvidia-device-plugin 0.20.0 reaches.

Upstream controllers' ClusterRoles: a controller that serves an admission webhook and keeps its CA bundle
current updates webhook configurations; where upstream scopes that to its own configurations
(`resourceNames`) the rule has nothing to say, and where it does not, the ClusterRole is named in the
rule's `exemptObjects` (cert-manager's CA injector, the Prometheus operator's admission patch job, KServe,
Kueue, JobSet, Kubeflow Trainer). The Prometheus operator's own ClusterRole manages its StatefulSets,
Secrets and ConfigMaps with '*' (`k8s-rbac-no-wildcards` exempts it by name). Exemptions are named objects
in the pack's config (`policy/security/config/*.json` can replace them), not waivers: they do not expire
because the need does not.

Training runtimes may run as root: GPU teams' namespaces enforce "baseline" because the CUDA images
ML teams use (NGC PyTorch, vLLM, Triton) run as root (components/k8s/tenancy.py pod_security_level);
`k8s-pod-non-root` exempts `ClusterTrainingRuntime/*` and `TrainingRuntime/*` by default.

This module imports only the standard library and `pulumi_policy` (the pack's virtualenv has nothing
else): the platform's label keys and namespace names are repeated here, with where they come from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy.policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from policy import props as p
from policy.rule import (
    ADVISORY,
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    ResourceRule,
    Rule,
    Stack,
    StackRule,
    Target,
    kubernetes_baseline,
    ml_platform,
)

# --- the platform's names (components/foundation.py, components/k8s/*.py) ---------------------------

GPU_RESOURCE = "nvidia.com/gpu"  # base.GPU_RESOURCE
GPU_TAINT_KEY = "nvidia.com/gpu"  # foundation.GPU_TAINT_KEY
NS_GPU = "gpu-system"  # base.NS_GPU: the device plugin / GPU Operator and the DCGM exporter
NS_NODE_EXPORTER = "node-exporter"  # monitoring.NS_NODE_EXPORTER: host metrics, "privileged"
LABEL_TEAM = "ml-platform/team"  # base.LABEL_TEAM ("platform" on the platform's own objects)
LABEL_CAPACITY = "ml-platform/capacity"  # foundation.LABEL_CAPACITY (spot | on-demand | reserved)
LABEL_ACCELERATOR = "ml-platform/accelerator"  # foundation.LABEL_ACCELERATOR
TEAM_COMPONENT = "ml-platform:k8s:TeamNamespace"  # tenancy.TeamNamespace component type
PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
PSS_LEVELS = ("restricted", "baseline", "privileged")
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # kueue.QUEUE_LABEL
ANN_CHECKPOINT = "ml-platform/checkpoint-uri"  # training.ANN_CHECKPOINT
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"  # autoscaling.DO_NOT_DISRUPT
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"  # autoscaling.SAFE_TO_EVICT
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"  # training.JOBSET_NAME_LABEL
TRAINJOB_NAME_LABEL = "trainer.kubeflow.org/trainjob-name"
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
TRAINER_CONTAINER = "node"  # trainer.NODE_CONTAINER: the container a TrainJob's `trainer` configures

RUNTIME_KINDS = ("ClusterTrainingRuntime", "TrainingRuntime")
POD_KINDS = frozenset(
    (
        *p.WORKLOAD_KINDS,
        *RUNTIME_KINDS,
        "TrainJob",
        "JobSet",
        "ClusterServingRuntime",
        "ServingRuntime",
        "InferenceService",
        *p.ARGO_KINDS,
    )
)
# Namespaced kinds the platform uses: one of them without metadata.namespace lands in the provider's
# default namespace.
NAMESPACED_KINDS = frozenset(
    (
        *p.WORKLOAD_KINDS,
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ResourceQuota",
        "LimitRange",
        "PersistentVolumeClaim",
        "Ingress",
        "HorizontalPodAutoscaler",
        "TrainJob",
        "TrainingRuntime",
        "JobSet",
        "InferenceService",
        "ServingRuntime",
        "LocalQueue",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "ExternalSecret",
        "SecretStore",
        "Certificate",
        "Gateway",
        "HTTPRoute",
        "EnvoyProxy",
        "Workflow",
        "WorkflowTemplate",
        "CronWorkflow",
    )
)
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_POOL_TYPES = (EKS_NODE_GROUP, GKE_NODE_POOL, KARPENTER_NODE_POOL)
JOB_KINDS = ("Job", "CronJob", "JobSet", "TrainJob", "RayJob", "PyTorchJob", "MPIJob")

# Registries of the platform: its own (ECR, Artifact Registry) and the upstream ones its pinned
# components pull from (components/k8s/*.py Image pins), by organisation where the registry is shared.
DEFAULT_REGISTRIES = [
    "*.dkr.ecr.*.amazonaws.com/*",  # the foundation's ECR repositories
    "*-docker.pkg.dev/*",  # the foundation's Artifact Registry repositories
    "registry.k8s.io/*",  # Kueue, NFD, kube-state-metrics, cluster-autoscaler
    "nvcr.io/nvidia/*",  # device plugin, GPU Operator, MIG manager, DCGM exporter
    "public.ecr.aws/karpenter/*",
    "quay.io/jetstack/*",  # cert-manager
    "quay.io/feastdev/*",  # Feast's feature and registry servers (components/k8s/feature_store.py)
    "quay.io/prometheus/*",
    "quay.io/prometheus-operator/*",
    "quay.io/kiwigrid/*",  # Grafana's dashboard sidecar
    "quay.io/argoproj/*",  # Argo Workflows: controller, server, executor (components/k8s/pipelines.py)
    "quay.io/brancz/kube-rbac-proxy",  # KServe controller's metrics auth proxy (the kserve-resources chart's)
    "ghcr.io/kubeflow/*",
    "ghcr.io/mlflow/*",
    "ghcr.io/external-secrets/*",
    "ghcr.io/jkroepke/kube-webhook-certgen",  # kube-prometheus-stack's webhook certgen (a personal org: one repo)
    "docker.io/envoyproxy/*",
    "docker.io/grafana/*",
    "docker.io/kserve/*",
    "docker.io/pytorch/*",  # the Trainer runtime's default image (TrainJobs override it)
    "gcr.io/cloud-sql-connectors/*",  # the Cloud SQL Auth Proxy sidecar of IAM database logins (GCP)
]
FLOATING_TAGS = ["latest", "main", "master", "nightly", "edge", "stable"]
SOCKET_PATHS = ("/var/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/crio/crio.sock")
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
GPU_INSTANCE = re.compile(r"^(p\d+[a-z-]*|g\d+[a-z]*|gr\d+[a-z]*)(\.|$)")  # AWS GPU families
GPU_MACHINE = re.compile(r"^(a2|a3|a4|a4x|g2|g4)-")  # GCE machine families with attached GPUs
SPOT_SELECTORS = {
    LABEL_CAPACITY: "spot",
    "karpenter.sh/capacity-type": "spot",
    "eks.amazonaws.com/capacityType": "SPOT",
    "cloud.google.com/gke-spot": "true",
    "cloud.google.com/gke-preemptible": "true",
}


def _strings(description: str, default: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": list(default), "description": description}


def _exemptions(namespaces: list[str], objects: list[str] | None = None) -> dict[str, dict[str, Any]]:
    return {
        "exemptNamespaces": _strings("Namespaces whose pods are exempt (the GPU system components).", namespaces),
        "exemptObjects": _strings(
            "Exempt objects: glob patterns over Kind/namespace/name (Kind/name when cluster-scoped).", objects or []
        ),
    }


# --- reading objects ---------------------------------------------------------------------------------


def _namespace(props: Any) -> str | None:
    ns = p.get(props, "metadata", "namespace")
    return str(ns) if isinstance(ns, str) and ns else None


def _object_id(resource_type: str, props: Any, fallback: str) -> str:
    kind = p.k8s_kind(resource_type) or resource_type
    name = p.get(props, "metadata", "name") or fallback
    ns = _namespace(props)
    return f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"


def _exempt(t: Target) -> bool:
    if _namespace(t.props) in set(t.config.get("exemptNamespaces", [])):
        return True
    oid = _object_id(t.type, t.props, t.name)
    return any(p.glob(pattern).match(oid) for pattern in t.config.get("exemptObjects", []))


# The device plugin chart (nvidia-device-plugin 0.20.0, templates/daemonset-device-plugin.yml,
# daemonset-gpu-feature-discovery.yml, daemonset-mps-control-daemon.yml) writes its config-manager
# containers (the init container that picks the node's sharing config and the sidecar that switches it)
# with no `resources` and, for the init containers and the MPS sidecar, no `securityContext`: no values key
# reaches them. They are exempt by name, container by container, so the plugin's own containers stay checked.
CONFIG_MANAGER_CONTAINERS = [
    f"DaemonSet/gpu-system/{daemonset}:{container}-{role}"
    for daemonset, container in (
        ("nvidia-device-plugin", "nvidia-device-plugin"),
        ("nvidia-device-plugin-gpu-feature-discovery", "gpu-feature-discovery"),
        ("nvidia-device-plugin-mps-control-daemon", "mps-control-daemon"),
    )
    for role in ("init", "sidecar")
]
CONFIG_MANAGER_EXEMPTION = {
    "exemptContainers": _strings(
        "Exempt containers: glob patterns over Kind/namespace/name:container (chart containers no values reach).",
        CONFIG_MANAGER_CONTAINERS,
    )
}


def _container_exempt(t: Target, c: _Ctr) -> bool:
    cid = f"{_object_id(t.type, t.props, t.name)}:{p.get(c.spec, 'name')}"
    return any(p.glob(pattern).match(cid) for pattern in t.config.get("exemptContainers", []))


@dataclass(frozen=True)
class _Pod:
    path: str
    spec: Any
    partial: bool  # a TrainJob's patch or override: absent fields come from the runtime
    trainer: bool  # a Trainer runtime's trainer step: its `node` container is configured per TrainJob
    metadata: Any = None  # the pod template's metadata, where the object carries one


@dataclass(frozen=True)
class _Ctr:
    path: str
    spec: Any
    pod: _Pod
    partial: bool
    supplied: bool  # image and resources come from each TrainJob (`spec.trainer`)

    @property
    def label(self) -> str:
        argo_main = self.path.endswith(tuple(f".{key}" for key in p.ARGO_MAIN_CONTAINERS))
        return f"container '{p.get(self.spec, 'name') or ('main' if argo_main else '?')}' ({self.path})"


def _pods(resource_type: str, props: Any) -> list[_Pod]:
    kind = p.k8s_kind(resource_type)
    if kind == "TrainJob":
        return _trainjob_pods(props)
    trainer_paths: set[str] = set()
    if kind in RUNTIME_KINDS:
        for i, job in enumerate(p.items(props, "spec", "template", "spec", "replicatedJobs")):
            step = p.get(job, "template", "metadata", "labels", ANCESTOR_LABEL)
            if step == "trainer" or (step is None and p.get(job, "name") == TRAINER_CONTAINER):
                trainer_paths.add(f"spec.template.spec.replicatedJobs[{i}].template.spec.template.spec")
    return [_Pod(path, spec, False, path in trainer_paths) for path, spec in p.pod_specs(resource_type, props)]


def _trainjob_pods(props: Any) -> list[_Pod]:
    """The pod templates a TrainJob patches: `podTemplateOverrides` (as `props.pod_specs` reads them) and
    `runtimePatches` (Trainer v2.3; components/k8s/training.py), with their metadata (annotations)."""
    pods = []
    for i, override in enumerate(p.items(props, "spec", "podTemplateOverrides")):
        spec = p.get(override, "spec")
        if p.is_map(spec):
            pods.append(_Pod(f"spec.podTemplateOverrides[{i}].spec", spec, True, False, p.get(override, "metadata")))
    for i, patch in enumerate(p.items(props, "spec", "runtimePatches")):
        for j, job in enumerate(p.items(patch, "trainingRuntimeSpec", "template", "spec", "replicatedJobs")):
            template = p.get(job, "template", "spec", "template")
            spec = p.get(template, "spec")
            if p.is_map(spec):
                path = (
                    f"spec.runtimePatches[{i}].trainingRuntimeSpec.template.spec.replicatedJobs[{j}]"
                    ".template.spec.template.spec"
                )
                pods.append(_Pod(path, spec, True, False, p.get(template, "metadata")))
    return pods


def _containers(resource_type: str, props: Any, ephemeral: bool = True) -> Iterator[_Ctr]:
    for pod in _pods(resource_type, props):
        for path, spec in p.containers(pod.spec):
            if not ephemeral and path.startswith("ephemeralContainers"):
                continue
            yield _Ctr(
                path=f"{pod.path}.{path}",
                spec=spec,
                pod=pod,
                partial=pod.partial or path == "model",
                supplied=pod.trainer and p.get(spec, "name") == TRAINER_CONTAINER,
            )


POD_LEVEL_FIELDS = ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")


def _sc(c: _Ctr, field: str) -> Any:
    """A security-context field as it takes effect: the container's, else the pod's."""
    value = p.get(c.spec, "securityContext", field)
    if value is None and field in POD_LEVEL_FIELDS:
        value = p.get(c.pod.spec, "securityContext", field)
    return value


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _pod_applies(resource_type: str) -> bool:
    return p.k8s_kind(resource_type) in POD_KINDS


def _trainer(props: Any) -> Any:
    """A TrainJob's `spec.trainer` (image, resourcesPerNode), or None."""
    trainer = p.get(props, "spec", "trainer")
    return trainer if p.is_map(trainer) else None


def _capability(name: Any) -> str:
    return str(name).upper().removeprefix("CAP_")


# --- pod security ------------------------------------------------------------------------------------


def _privileged(t: Target) -> Iterable[str]:
    if _exempt(t):
        return
    for c in _containers(t.type, t.props):
        if _is_true(p.get(c.spec, "securityContext", "privileged")):
            yield f"{c.label} is privileged: it has every capability and the host's devices"


def _non_root(t: Target) -> Iterable[str]:
    if _exempt(t):
        return
    for c in _containers(t.type, t.props):
        uid = p.number(_sc(c, "runAsUser"))
        non_root = _sc(c, "runAsNonRoot")
        if uid == 0:
            yield f"{c.label} runs as UID 0 (root)"
        elif _is_false(non_root):
            yield f"{c.label} sets runAsNonRoot: false"
        elif not c.partial and not _is_true(non_root):
            yield f"{c.label} does not set runAsNonRoot: true (neither it nor its pod)"


def _high_uid(t: Target) -> Iterable[str]:
    minimum = float(t.config.get("minimumUid", 10000))
    for c in _containers(t.type, t.props):
        uid = p.number(_sc(c, "runAsUser"))
        if uid is not None and 0 < uid < minimum:
            yield f"{c.label} runs as UID {int(uid)}, below {int(minimum)}: it may collide with a host user"


def _privilege_escalation(t: Target) -> Iterable[str]:
    if _exempt(t):
        return
    for c in _containers(t.type, t.props):
        value = p.get(c.spec, "securityContext", "allowPrivilegeEscalation")
        if _is_true(value):
            yield f"{c.label} sets allowPrivilegeEscalation: true"
        elif not c.partial and not _is_false(value):
            yield f"{c.label} does not set allowPrivilegeEscalation: false (setuid binaries can gain privileges)"


def _seccomp(t: Target) -> Iterable[str]:
    if _exempt(t):
        return
    for c in _containers(t.type, t.props):
        kind = p.get(_sc(c, "seccompProfile"), "type")
        if kind is None:
            if not c.partial:
                yield f"{c.label} has no seccomp profile (neither it nor its pod sets RuntimeDefault)"
        elif kind not in ("RuntimeDefault", "Localhost"):
            yield f"{c.label} uses seccomp profile '{kind}', not RuntimeDefault or Localhost"


def _capabilities(t: Target) -> Iterable[str]:
    exempt = _exempt(t)
    allowed = {_capability(c) for c in t.config.get("allowedCapabilities", [])}
    if exempt:
        allowed |= {_capability(c) for c in t.config.get("exemptCapabilities", [])}
    for c in _containers(t.type, t.props):
        if _is_true(p.get(c.spec, "securityContext", "privileged")) or _container_exempt(t, c):
            continue  # privileged: every capability, k8s-pod-not-privileged decides
        drop = {_capability(x) for x in p.items(c.spec, "securityContext", "capabilities", "drop")}
        if not c.partial and "ALL" not in drop:
            yield f"{c.label} does not drop ALL capabilities"
        for cap in (_capability(x) for x in p.items(c.spec, "securityContext", "capabilities", "add")):
            if cap in allowed:
                continue
            why = {"NET_RAW": " (raw sockets: ARP/DNS spoofing)", "SYS_ADMIN": " (near-root on the host)"}.get(cap, "")
            yield f"{c.label} adds capability {cap}{why}"


def _host_namespaces(t: Target) -> Iterable[str]:
    if _exempt(t):
        return
    for pod in _pods(t.type, t.props):
        for field in ("hostPID", "hostIPC", "hostNetwork"):
            if _is_true(p.get(pod.spec, field)):
                yield f"{pod.path} sets {field}: true"
        for path, c in p.containers(pod.spec):
            for port in p.items(c, "ports"):
                host_port = p.number(p.get(port, "hostPort"))
                if host_port:
                    yield f"{pod.path}.{path} binds host port {int(host_port)}"


def _host_path_allowed(path: str, allowed: Iterable[str]) -> bool:
    """`path` is one of `allowed` or below it; `/` in `allowed` admits `/` itself only."""
    path = path.rstrip("/") or "/"
    for given in allowed:
        entry = given.rstrip("/") or "/"
        if path == entry or (entry != "/" and path.startswith(entry + "/")):
            return True
    return False


def _writable_mounts(pod_spec: Any, volume: str) -> list[str]:
    """The containers that mount `volume` without readOnly."""
    return [
        str(p.get(c, "name") or "?")
        for _, c in p.containers(pod_spec)
        for m in p.items(c, "volumeMounts")
        if p.get(m, "name") == volume and not _is_true(p.get(m, "readOnly"))
    ]


def _host_paths(t: Target) -> Iterable[str]:
    exempt = _exempt(t)
    allowed = [str(x) for x in t.config.get("exemptHostPaths", [])]
    for pod in _pods(t.type, t.props):
        for volume in p.items(pod.spec, "volumes"):
            path = p.get(volume, "hostPath", "path")
            if path is None:
                continue
            where = f"{pod.path} volume '{p.get(volume, 'name')}'"
            if any(str(path).startswith(s) for s in SOCKET_PATHS):
                yield f"{where} mounts the container runtime socket {path} from the host"
            elif not exempt:
                yield f"{where} mounts hostPath {path}"
            elif not _host_path_allowed(str(path), allowed):
                yield f"{where} mounts hostPath {path}, outside the node agents' allowed paths"
            elif (str(path).rstrip("/") or "/") == "/" and (
                writers := _writable_mounts(pod.spec, p.get(volume, "name"))
            ):
                yield f"{where} mounts the host's root filesystem writable (containers {', '.join(writers)})"


def _read_only_root(t: Target) -> Iterable[str]:
    for c in _containers(t.type, t.props, ephemeral=False):
        if c.partial:
            continue
        if not _is_true(p.get(c.spec, "securityContext", "readOnlyRootFilesystem")):
            yield f"{c.label} has a writable root filesystem (mount emptyDirs where it writes)"


# --- resources -----------------------------------------------------------------------------------------


def _missing_resources(resources: Any) -> list[str]:
    wanted = (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
    return [f"{kind}.{name}" for kind, name in wanted if p.get(resources, kind, name) in (None, "")]


def _resources(t: Target) -> Iterable[str]:
    for c in _containers(t.type, t.props, ephemeral=False):
        if c.partial or c.supplied or _container_exempt(t, c):
            continue
        missing = _missing_resources(p.get(c.spec, "resources"))
        if missing:
            yield f"{c.label} sets no {', '.join(missing)}"
    trainer = _trainer(t.props) if t.kind == "TrainJob" else None
    if t.kind == "TrainJob":
        missing = _missing_resources(p.get(trainer, "resourcesPerNode"))
        if missing:
            yield f"TrainJob sets no spec.trainer.resourcesPerNode {', '.join(missing)}"


def _gpu_keys(resources: Any, config: Mapping[str, Any]) -> list[str]:
    named = set(config.get("gpuResources", [GPU_RESOURCE]))
    keys = {*p.mapping(resources, "requests"), *p.mapping(resources, "limits")}
    return sorted(k for k in keys if k in named or k.startswith("nvidia.com/mig-"))


def _gpu_limit_problems(where: str, resources: Any, config: Mapping[str, Any]) -> Iterator[str]:
    for key in _gpu_keys(resources, config):
        request = p.number(p.get(resources, "requests", key))
        limit = p.number(p.get(resources, "limits", key))
        if request and limit is None:
            yield f"{where} requests {key}: {request:g} without a limit: set it in limits (requests may be omitted)"
        elif request is not None and limit is not None and request != limit:
            yield f"{where} requests {key}: {request:g} but limits it to {limit:g}: GPUs are not overcommitted"


def _gpu_limits(t: Target) -> Iterable[str]:
    for c in _containers(t.type, t.props):
        yield from _gpu_limit_problems(c.label, p.get(c.spec, "resources"), t.config)
    trainer = _trainer(t.props) if t.kind == "TrainJob" else None
    if trainer is not None:
        yield from _gpu_limit_problems("spec.trainer.resourcesPerNode", p.get(trainer, "resourcesPerNode"), t.config)


# --- images --------------------------------------------------------------------------------------------


def _images(t: Target) -> Iterator[tuple[str, str]]:
    for c in _containers(t.type, t.props):
        image = p.get(c.spec, "image")
        if isinstance(image, str) and image:
            yield c.label, image
    trainer = _trainer(t.props) if t.kind == "TrainJob" else None
    image = p.get(trainer, "image")
    if isinstance(image, str) and image:
        yield "spec.trainer", image


def _registry(t: Target) -> Iterable[str]:
    patterns = [p.glob(x) for x in t.config.get("allowedRegistries", DEFAULT_REGISTRIES)]
    for where, image in _images(t):
        registry, repository, _, _ = p.image_reference(image)
        ref = f"{registry}/{repository}"
        if not any(x.match(ref) for x in patterns):
            yield f"{where} image {image} is not from an approved registry ({ref})"


def _pinned(t: Target) -> Iterable[str]:
    floating = {str(x).lower() for x in t.config.get("floatingTags", FLOATING_TAGS)}
    for where, image in _images(t):
        _, _, tag, digest = p.image_reference(image)
        if digest:
            continue
        if tag is None:
            yield f"{where} image {image} has no tag (pulls :latest)"
        elif tag.lower() in floating:
            yield f"{where} image {image} uses the floating tag '{tag}'"


# --- namespaces and tenancy (stack rules) ----------------------------------------------------------------


def _each(
    stack: Stack, check: Callable[[PolicyResource], Iterable[tuple[str, str | None]]], *types: str
) -> Iterator[tuple[str, str | None]]:
    """Run `check` per resource of `types` (all when none); a resource whose inputs are unknown at
    preview is skipped instead of failing the whole stack rule."""
    for r in stack.resources:
        if types and r.resource_type not in types:
            continue
        try:
            yield from list(check(r))
        except UnknownValueError:
            continue


def _kind_of(r: PolicyResource) -> str | None:
    return p.k8s_kind(r.resource_type)


def _name(r: PolicyResource) -> str:
    name = p.get(r.props, "metadata", "name")
    return str(name) if isinstance(name, str) and name else r.name


def _is_team_namespace(r: PolicyResource) -> bool:
    """A team's namespace: labelled with a team other than `platform`, or created by TeamNamespace."""
    team = p.labels(r.props).get(LABEL_TEAM)
    return (team is not None and team != "platform") or f"{TEAM_COMPONENT}$" in r.urn


def _namespaces(stack: Stack) -> list[PolicyResource]:
    out = []
    for r in stack.resources:
        if r.resource_type == "kubernetes:core/v1:Namespace":
            try:
                _name(r)
            except UnknownValueError:
                continue
            out.append(r)
    return out


def _team_namespaces(stack: Stack) -> dict[str, PolicyResource]:
    out = {}
    for r in _namespaces(stack):
        try:
            if _is_team_namespace(r):
                out[_name(r)] = r
        except UnknownValueError:
            continue
    return out


def _in_namespace(stack: Stack, kind: str, namespace: str) -> list[PolicyResource]:
    out = []
    for r in stack.resources:
        if _kind_of(r) != kind:
            continue
        try:
            if _namespace(r.props) == namespace:
                out.append(r)
        except UnknownValueError:
            continue
    return out


def _gpu_quota(quota: PolicyResource) -> float | None:
    hard = p.mapping(quota.props, "spec", "hard")
    values = [p.number(v) for k, v in hard.items() if k in (f"requests.{GPU_RESOURCE}", GPU_RESOURCE)]
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _namespace_pod_security(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every Namespace enforces a Pod Security level: privileged only for the allowlisted system
    namespaces; the platform's own namespaces restricted (or an allowlisted baseline); a team namespace
    restricted, or baseline where its ResourceQuota grants GPUs (CUDA images run as root)."""
    privileged_ok = set(stack.config.get("privilegedNamespaces", []))
    baseline_ok = set(stack.config.get("baselineNamespaces", []))

    def check(r: PolicyResource) -> Iterable[tuple[str, str | None]]:
        name = _name(r)
        level = p.labels(r.props).get(PSS_ENFORCE)
        if level is None:
            yield f"namespace '{name}' has no {PSS_ENFORCE} label: pods are admitted unchecked", r.urn
        elif level not in PSS_LEVELS:
            yield f"namespace '{name}' enforces '{level}', not one of {', '.join(PSS_LEVELS)}", r.urn
        elif level == "privileged" and name not in privileged_ok:
            yield f"namespace '{name}' enforces 'privileged' but is not an allowlisted system namespace", r.urn
        elif level == "baseline" and name not in baseline_ok:
            if not _is_team_namespace(r):
                yield f"platform namespace '{name}' enforces 'baseline', not 'restricted'", r.urn
            else:
                gpus = [g for q in _in_namespace(stack, "ResourceQuota", name) if (g := _gpu_quota(q))]
                if not gpus:
                    yield f"team namespace '{name}' enforces 'baseline' but its quota grants no GPUs", r.urn

    yield from _each(stack, check, "kubernetes:core/v1:Namespace")


def _default_namespace(t: Target) -> Iterable[str]:
    if t.type in HELM_TYPES:
        ns = p.get(t.props, "namespace")
        if ns in (None, "", "default"):
            yield f"Helm release installs into the '{ns or 'default'}' namespace"
        return
    ns = _namespace(t.props)
    if ns == "default":
        yield f"{t.kind} '{p.get(t.props, 'metadata', 'name') or t.name}' is in the 'default' namespace"
    elif ns is None and t.kind in NAMESPACED_KINDS:
        yield f"{t.kind} '{p.get(t.props, 'metadata', 'name') or t.name}' names no namespace (the provider's default)"


def _team_quota(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every team namespace has a ResourceQuota (metadata.namespace = the namespace's name) with a hard
    `requests.nvidia.com/gpu`."""
    for name, ns in _team_namespaces(stack).items():
        quotas = _in_namespace(stack, "ResourceQuota", name)
        if not quotas:
            yield f"team namespace '{name}' has no ResourceQuota", ns.urn
        elif all(_safe_quota(q) is None for q in quotas):
            yield f"team namespace '{name}' has no ResourceQuota on requests.{GPU_RESOURCE}", ns.urn


def _safe_quota(q: PolicyResource) -> float | None:
    try:
        return _gpu_quota(q)
    except UnknownValueError:
        return 0.0  # the quota is there; its value is decided at apply


def _team_local_queue(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every team namespace has a Kueue LocalQueue (metadata.namespace = the namespace's name)."""
    for name, ns in _team_namespaces(stack).items():
        if not _in_namespace(stack, "LocalQueue", name):
            yield f"team namespace '{name}' has no Kueue LocalQueue: its jobs bypass the team's GPU share", ns.urn


def _is_default_deny(policy: PolicyResource) -> bool:
    spec = p.get(policy.props, "spec")
    selector = p.get(spec, "podSelector")
    if p.mapping(selector, "matchLabels") or p.items(selector, "matchExpressions"):
        return False
    types = set(p.as_strings(p.get(spec, "policyTypes")))
    return {"Ingress", "Egress"} <= types and not p.items(spec, "ingress") and not p.items(spec, "egress")


def _team_default_deny(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Every team namespace has a NetworkPolicy selecting all pods (empty podSelector) with policy types
    Ingress and Egress and no rules."""
    for name, ns in _team_namespaces(stack).items():
        policies = _in_namespace(stack, "NetworkPolicy", name)
        if not any(_is_default_deny_safe(x) for x in policies):
            yield f"team namespace '{name}' has no default-deny NetworkPolicy (ingress and egress)", ns.urn


def _is_default_deny_safe(policy: PolicyResource) -> bool:
    try:
        return _is_default_deny(policy)
    except UnknownValueError:
        return False


# --- service accounts --------------------------------------------------------------------------------------


def _pod_service_account(pod: Any) -> str | None:
    name = p.get(pod, "serviceAccountName") or p.get(pod, "serviceAccount")
    return str(name) if name else None


def _runtime_service_account(stack: Stack, job: PolicyResource) -> str | None:
    """The service account the TrainJob's runtime gives its pods (None when the runtime is not in the stack
    or names none)."""
    ref = p.get(job.props, "spec", "runtimeRef")
    kind, name = p.get(ref, "kind") or "ClusterTrainingRuntime", p.get(ref, "name")
    for r in stack.resources:
        if _kind_of(r) != kind or _name(r) != name:
            continue
        if kind == "TrainingRuntime" and _namespace(r.props) != _namespace(job.props):
            continue
        for pod in _pods(r.resource_type, r.props):
            account = _pod_service_account(pod.spec)
            if account:
                return account
    return None


def _no_default_service_account(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Namespaced workloads run as a named service account, not `default` (CKV_K8S_41): pod specs of core
    workloads, InferenceServices (per component) and TrainJobs (their patches, else the runtime they
    reference). A `default` ServiceAccount the stack defines must not automount its token."""

    def check(r: PolicyResource) -> Iterable[tuple[str, str | None]]:
        kind = _kind_of(r)
        if kind == "ServiceAccount":
            if _name(r) == "default" and not _is_false(p.get(r.props, "automountServiceAccountToken")):
                yield f"ServiceAccount '{_namespace(r.props)}/default' automounts its token", r.urn
            return
        if kind not in POD_KINDS or kind in (*RUNTIME_KINDS, "ClusterServingRuntime", "ServingRuntime"):
            return
        if _namespace(r.props) is None:
            return
        pods = _pods(r.resource_type, r.props)
        if kind == "TrainJob":
            account = next((a for pod in pods if (a := _pod_service_account(pod.spec))), None)
            account = account or _runtime_service_account(stack, r)
            if account in (None, "default"):
                yield f"TrainJob '{_name(r)}' runs as the 'default' service account (set one in its runtime)", r.urn
            return
        for pod in pods:
            if _pod_service_account(pod.spec) in (None, "default"):
                yield f"{kind} '{_name(r)}' ({pod.path}) runs as the 'default' service account", r.urn

    yield from _each(stack, check)


def _token_automount(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Pods mount a service account token only where they call the Kubernetes API: the pod's
    `automountServiceAccountToken`, else its ServiceAccount's in the stack (same namespace; any namespace
    for cluster-scoped runtimes), else the Kubernetes default (mounted). Serving runtimes and TrainJobs
    are skipped (the InferenceService and the runtime decide), and so are Argo workflow pods: Argo's
    executor (the injected `wait` container) reports each step's results through the Kubernetes API
    (`workflowtaskresults`) with the pod's token."""
    accounts: dict[tuple[str | None, str], Any] = {}
    for r in stack.resources:
        if _kind_of(r) == "ServiceAccount":
            try:
                accounts[(_namespace(r.props), _name(r))] = p.get(r.props, "automountServiceAccountToken")
            except UnknownValueError:
                continue

    def mounted(namespace: str | None, account: str, pod: Any) -> bool:
        own = p.get(pod, "automountServiceAccountToken")
        if own is not None:
            return not _is_false(own)
        if namespace is None:  # a cluster-scoped template: every namespace's account of that name
            found = [v for (_, name), v in accounts.items() if name == account]
            return not found or not all(_is_false(v) for v in found)
        return not _is_false(accounts.get((namespace, account)))

    def check(r: PolicyResource) -> Iterable[tuple[str, str | None]]:
        kind = _kind_of(r)
        if kind not in POD_KINDS or kind in ("TrainJob", "ClusterServingRuntime", "ServingRuntime", *p.ARGO_KINDS):
            return
        ns = _namespace(r.props)
        for pod in _pods(r.resource_type, r.props):
            account = _pod_service_account(pod.spec) or "default"
            if mounted(ns, account, pod.spec):
                yield (
                    f"{kind} '{_name(r)}' ({pod.path}) mounts the token of service account '{account}': "
                    "set automountServiceAccountToken: false unless it calls the Kubernetes API",
                    r.urn,
                )

    yield from _each(stack, check)


# --- RBAC ------------------------------------------------------------------------------------------------


def _rules(t: Target) -> Iterator[tuple[int, Any]]:
    yield from enumerate(p.items(t.props, "rules"))


def _rbac_exempt(t: Target) -> bool:
    oid = _object_id(t.type, t.props, t.name)
    return any(p.glob(pattern).match(oid) for pattern in t.config.get("exemptObjects", []))


def _rbac_wildcards(t: Target) -> Iterable[str]:
    if _rbac_exempt(t):
        return
    for i, rule in _rules(t):
        for field in ("verbs", "resources", "apiGroups", "nonResourceURLs"):
            values = p.as_strings(p.get(rule, field))
            wild = [v for v in values if v == "*" or v.startswith("*/") or (field == "nonResourceURLs" and "*" in v)]
            if wild:
                yield f"rules[{i}].{field} contains the wildcard {', '.join(wild)}"


def _kubernetes_signer(name: str) -> bool:
    """A signer name (or `resourceNames` pattern) that covers a built-in `kubernetes.io/*` signer."""
    return name == "*" or name.startswith(("kubernetes.io/", "*/"))


def _rbac_escalation(t: Target) -> Iterable[str]:
    if _rbac_exempt(t):
        return
    write = {"create", "update", "patch", "delete", "deletecollection"}
    for i, rule in _rules(t):
        verbs = {v.lower() for v in p.as_strings(p.get(rule, "verbs"))}
        resources = set(p.as_strings(p.get(rule, "resources")))
        # `resourceNames` scopes a rule to named objects: a controller that updates only its own webhook
        # configurations (or approves only for its own signers) changes nobody else's
        names = p.as_strings(p.get(rule, "resourceNames"))
        target = ", ".join(sorted(resources)) or "any resource"
        for verb, control in (("escalate", "CKV_K8S_158"), ("bind", "CKV_K8S_157"), ("impersonate", "CIS 5.1.8")):
            if verb in verbs:
                yield f"rules[{i}] grants '{verb}' on {target} ({control})"
        webhooks = resources & {"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
        if webhooks and verbs & write and not names:
            yield f"rules[{i}] may change {', '.join(sorted(webhooks))} (CKV_K8S_155)"
        if ("certificatesigningrequests/approval" in resources and verbs & {"update", "patch"}) or (
            "signers" in resources and "approve" in verbs and (not names or any(map(_kubernetes_signer, names)))
        ):
            yield f"rules[{i}] may approve CertificateSigningRequests (CKV_K8S_156)"


ANONYMOUS = {"system:anonymous", "system:unauthenticated"}


def _rbac_subjects(t: Target) -> Iterable[str]:
    cluster_wide = t.kind == "ClusterRoleBinding"
    role = p.get(t.props, "roleRef", "name")
    for i, subject in enumerate(p.items(t.props, "subjects")):
        kind, name = p.get(subject, "kind"), p.get(subject, "name")
        if name in ANONYMOUS:
            yield f"subjects[{i}] binds '{role}' to {kind} {name}: anyone who reaches the API server"
        elif name == "system:authenticated" and cluster_wide:
            yield f"subjects[{i}] binds '{role}' cluster-wide to every authenticated identity (system:authenticated)"
        elif kind == "ServiceAccount" and name == "default":
            yield f"subjects[{i}] grants '{role}' to the 'default' service account of {p.get(subject, 'namespace')}"


# --- Helm --------------------------------------------------------------------------------------------------


def _helm_pinned(t: Target) -> Iterable[str]:
    chart = str(p.get(t.props, "chart") or "")
    version = p.get(t.props, "version")
    repo = p.get(t.props, "repositoryOpts", "repo")
    archive = chart.startswith("https://") and chart.endswith((".tgz", ".tar.gz"))
    if chart.startswith("oci://") or archive:
        pass
    elif isinstance(repo, str) and repo:
        if not repo.startswith(("https://", "oci://")):
            yield f"chart '{chart}' comes from {repo}, not an https or oci:// repository"
    elif chart.startswith((".", "/")) or not chart:
        if not t.config.get("allowLocalCharts", False):
            yield f"chart '{chart or '?'}' is a local path, not a versioned chart from a repository"
    elif "/" in chart:
        yield f"chart '{chart}' names a locally configured Helm repository alias: give repositoryOpts.repo"
    else:
        yield f"chart '{chart}' names no repository (repositoryOpts.repo or an oci:// reference)"
    if archive:
        return
    if not isinstance(version, str) or not version:
        yield f"chart '{chart}' has no version: every install may get a different chart"
    elif not EXACT_VERSION.match(version):
        yield f"chart '{chart}' version '{version}' is a range, not an exact version"


def _walk(value: Any, path: str) -> Iterator[tuple[str, str, Any, Any]]:
    """(path, key, value, the mapping holding it) of every mapping entry under `value`; unknown
    (preview) values are skipped."""
    if p.is_map(value):
        for key in list(value):
            try:
                item = value[key]
            except UnknownValueError:
                continue
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key), item, value
            yield from _walk(item, where)
    elif p.is_list(value):
        for i in range(len(value)):
            try:
                item = value[i]
            except UnknownValueError:
                continue
            yield from _walk(item, f"{path}[{i}]")


def _helm_values(t: Target) -> Iterable[str]:
    """Image settings in values: `tag` / `imageTag`, `version` beside `repository` or `image` (the GPU
    Operator's form), and full image references under keys naming an image."""
    floating = {str(x).lower() for x in t.config.get("floatingTags", FLOATING_TAGS)}
    try:
        values = p.get(t.props, "values")
    except UnknownValueError:
        return
    for where, key, value, holder in _walk(values, "values"):
        if not isinstance(value, str):
            continue
        lowered = key.lower()
        image_version = lowered == "version" and any(k in holder for k in ("repository", "image"))
        if (lowered in ("tag", "imagetag") or image_version) and value.lower() in floating:
            yield f"{where} is '{value}': pin the image tag"
        elif "image" in lowered and ("/" in value or ":" in value) and not value.startswith("{{"):
            _, _, tag, digest = p.image_reference(value)
            if digest is None and tag is not None and tag.lower() in floating:
                yield f"{where} is {value}: pin the image tag"


# --- GPU scheduling -----------------------------------------------------------------------------------------


def _effect_ok(effect: Any) -> bool:
    return str(effect).replace("_", "").lower() in ("noschedule", "noexecute")


def _gpu_taint(taints: list[Any]) -> bool:
    return any(p.get(x, "key") == GPU_TAINT_KEY and _effect_ok(p.get(x, "effect")) for x in taints)


def _karpenter_gpu(props: Any) -> bool:
    template = p.get(props, "spec", "template")
    if LABEL_ACCELERATOR in p.mapping(template, "metadata", "labels"):
        return True
    if GPU_RESOURCE in p.mapping(props, "spec", "limits"):
        return True
    for req in p.items(template, "spec", "requirements"):
        key, operator = str(p.get(req, "key") or ""), p.get(req, "operator")
        values = p.as_strings(p.get(req, "values"))
        if "gpu" in key and operator in ("In", "Exists", "Gt"):
            if operator == "In" and values and all(v in ("0", "") for v in values):
                continue  # instance-gpu-count In [0]: CPU nodes
            return True
        families = ("node.kubernetes.io/instance-type", "karpenter.k8s.aws/instance-family")
        if key in families and operator == "In" and any(GPU_INSTANCE.match(v) for v in values):
            return True
    return False


def _gpu_node_pool(t: Target) -> Iterable[str]:
    if t.type == EKS_NODE_GROUP:
        ami = str(p.get(t.props, "amiType") or "")
        types = p.as_strings(p.get(t.props, "instanceTypes"))
        gpu = (
            "NVIDIA" in ami
            or "GPU" in ami
            or any(GPU_INSTANCE.match(x) for x in types)
            or LABEL_ACCELERATOR in p.mapping(t.props, "labels")
        )
        taints = p.items(t.props, "taints")
        fix = "taint key nvidia.com/gpu effect NO_SCHEDULE"
    elif t.type == GKE_NODE_POOL:
        config = p.get(t.props, "nodeConfig")
        gpu = (
            bool(p.items(config, "guestAccelerators"))
            or bool(GPU_MACHINE.match(str(p.get(config, "machineType") or "")))
            or LABEL_ACCELERATOR in p.mapping(config, "labels")
        )
        taints = p.items(config, "taints")
        fix = "nodeConfig.taints key nvidia.com/gpu effect NO_SCHEDULE"
    else:
        gpu = _karpenter_gpu(t.props)
        taints = p.items(t.props, "spec", "template", "spec", "taints")
        fix = "spec.template.spec.taints key nvidia.com/gpu effect NoSchedule"
    if gpu and not _gpu_taint(taints):
        yield f"GPU node pool has no {fix}: any pod may land on (and hold) its GPU nodes"


def _tolerates_gpu(tolerations: list[Any]) -> str | None:
    for x in tolerations:
        key, operator, effect = p.get(x, "key"), p.get(x, "operator"), p.get(x, "effect")
        if effect not in (None, "", "NoSchedule"):
            continue
        if key == GPU_TAINT_KEY:
            return f"the {GPU_TAINT_KEY} taint"
        if not key and operator == "Exists":
            return "every taint (operator Exists without a key)"
    return None


def _requests_gpu(resources: Any, config: Mapping[str, Any]) -> bool:
    keys = _gpu_keys(resources, config)
    return any(
        (p.number(p.get(resources, "limits", k)) or 0) > 0 or (p.number(p.get(resources, "requests", k)) or 0) > 0
        for k in keys
    )


def _gpu_toleration(t: Target) -> Iterable[str]:
    if _exempt(t):
        return
    trainer = _trainer(t.props) if t.kind == "TrainJob" else None
    job_gpus = trainer is not None and _requests_gpu(p.get(trainer, "resourcesPerNode"), t.config)
    for pod in _pods(t.type, t.props):
        what = _tolerates_gpu(p.items(pod.spec, "tolerations"))
        if what is None:
            continue
        gpus = job_gpus or any(_requests_gpu(p.get(c, "resources"), t.config) for _, c in p.containers(pod.spec))
        if not gpus:
            yield f"{pod.path} tolerates {what} but no container requests {GPU_RESOURCE}: it would sit on GPU nodes"


def _job_queue_label(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """TrainJobs anywhere, and Jobs / CronJobs / JobSets (and other batch kinds Kueue manages) in team
    namespaces, carry `kueue.x-k8s.io/queue-name`; where the stack defines LocalQueues in the job's
    namespace, the label names one of them."""
    teams = set(_team_namespaces(stack))

    def check(r: PolicyResource) -> Iterable[tuple[str, str | None]]:
        kind = _kind_of(r)
        if kind not in JOB_KINDS:
            return
        ns = _namespace(r.props)
        if kind != "TrainJob" and ns not in teams:
            return
        labels = p.labels(r.props)
        if kind == "CronJob":
            labels = {**labels, **p.mapping(r.props, "spec", "jobTemplate", "metadata", "labels")}
        queue = labels.get(QUEUE_LABEL)
        if not queue:
            yield f"{kind} '{_name(r)}' has no {QUEUE_LABEL} label: Kueue neither queues nor counts it", r.urn
            return
        queues = {_name(q) for q in _in_namespace(stack, "LocalQueue", ns)} if ns else set()
        if queues and queue not in queues:
            yield f"{kind} '{_name(r)}' names LocalQueue '{queue}', which namespace '{ns}' does not have", r.urn

    yield from _each(stack, check)


def _pool_labels(r: PolicyResource) -> tuple[dict[str, str], bool]:
    """A node pool's node labels and whether its nodes are spot/preemptible."""
    if r.resource_type == EKS_NODE_GROUP:
        labels = {str(k): str(v) for k, v in p.mapping(r.props, "labels").items()}
        spot = str(p.get(r.props, "capacityType") or "").upper() == "SPOT"
    elif r.resource_type == GKE_NODE_POOL:
        config = p.get(r.props, "nodeConfig")
        labels = {str(k): str(v) for k, v in p.mapping(config, "labels").items()}
        spot = p.truthy(p.get(config, "spot")) or p.truthy(p.get(config, "preemptible"))
    else:
        template = p.get(r.props, "spec", "template")
        labels = {str(k): str(v) for k, v in p.mapping(template, "metadata", "labels").items()}
        spot = any(
            p.get(req, "key") == "karpenter.sh/capacity-type"
            and p.get(req, "operator") == "In"
            and "spot" in p.as_strings(p.get(req, "values"))
            for req in p.items(template, "spec", "requirements")
        )
    return labels, spot or labels.get(LABEL_CAPACITY) == "spot"


def _selects_spot(pod: Any) -> bool:
    selector = {str(k): str(v) for k, v in p.mapping(pod, "nodeSelector").items()}
    if any(selector.get(k) == v for k, v in SPOT_SELECTORS.items()):
        return True
    terms = p.items(
        pod, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"
    )
    for term in terms:
        for expr in p.items(term, "matchExpressions"):
            key = p.get(expr, "key")
            values = p.as_strings(p.get(expr, "values"))
            if key in SPOT_SELECTORS and p.get(expr, "operator") == "In" and SPOT_SELECTORS[key] in values:
                return True
    return False


def _spot_checkpoint(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """A TrainJob placed on spot capacity (a node selector or required node affinity naming a spot
    capacity label, or a node selector that only matches node pools of the stack whose nodes are spot)
    declares its checkpoint location (`ml-platform/checkpoint-uri`) and is protected from voluntary
    disruption: `karpenter.sh/do-not-disrupt: "true"` (or cluster-autoscaler's `safe-to-evict: "false"`)
    on its pod template, or a PodDisruptionBudget in its namespace selecting its JobSet."""
    pools: list[tuple[dict[str, str], bool]] = []
    for r in stack.resources:
        if r.resource_type in NODE_POOL_TYPES:
            try:
                pools.append(_pool_labels(r))
            except UnknownValueError:
                continue

    def on_spot(pod: Any) -> bool:
        if _selects_spot(pod):
            return True
        selector = {str(k): str(v) for k, v in p.mapping(pod, "nodeSelector").items()}
        if not selector:
            return False
        matching = [spot for labels, spot in pools if all(labels.get(k) == v for k, v in selector.items())]
        return any(matching)

    def protected(r: PolicyResource, pods: list[_Pod]) -> bool:
        for pod in pods:
            annotations = p.mapping(pod.metadata, "annotations")
            if str(annotations.get(DO_NOT_DISRUPT, "")).lower() == "true":
                return True
            if str(annotations.get(SAFE_TO_EVICT, "")).lower() == "false":
                return True
        name, ns = _name(r), _namespace(r.props)
        for pdb in _in_namespace(stack, "PodDisruptionBudget", ns or ""):
            selector = p.mapping(pdb.props, "spec", "selector", "matchLabels")
            if selector.get(JOBSET_NAME_LABEL) == name or selector.get(TRAINJOB_NAME_LABEL) == name:
                return True
        return False

    def check(r: PolicyResource) -> Iterable[tuple[str, str | None]]:
        pods = _pods(r.resource_type, r.props)
        if not any(on_spot(pod.spec) for pod in pods):
            return
        if not p.annotations(r.props).get(ANN_CHECKPOINT):
            yield f"TrainJob '{_name(r)}' runs on spot capacity without a {ANN_CHECKPOINT} annotation", r.urn
        if not protected(r, pods):
            yield (
                f"TrainJob '{_name(r)}' runs on spot capacity without {DO_NOT_DISRUPT} on its pods "
                "or a PodDisruptionBudget: consolidation kills steps an interruption notice would checkpoint",
                r.urn,
            )

    yield from _each(stack, check, "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob")


# --- the rules -------------------------------------------------------------------------------------------

GPU_SYSTEM = _exemptions([NS_GPU])
# the node agents: the GPU system's DaemonSets and node-exporter (see the module docstring)
NODE_AGENTS = _exemptions([NS_GPU, NS_NODE_EXPORTER])
NODE_AGENT_HOST_PATHS = [
    "/var/lib/kubelet/pod-resources",  # DCGM exporter: which pod holds which GPU
    "/home/kubernetes/bin/nvidia",  # GKE's NVIDIA driver installation
    "/var/lib/kubelet/device-plugins",  # the device plugin's socket (Kubernetes device plugin API)
    "/var/run/cdi",  # the device plugin's CDI specs
    "/run/nvidia/mps",  # the device plugin's MPS control daemon (gpuPools[].sharing: mps)
    "/etc/kubernetes/node-feature-discovery/features.d",  # NFD's feature files (GFD writes them)
    "/proc",  # node-exporter; NFD (swap)
    "/sys",  # node-exporter; NFD and GFD (PCI devices)
    "/boot",  # NFD: kernel config
    "/etc/os-release",  # NFD: OS
    "/lib",  # NFD: kernel modules
    "/usr/lib",  # NFD: kernel modules, OS
    "/",  # only itself and only read-only: node-exporter's rootfs, GFD's driver root
]
# upstream controllers' ClusterRoles that update webhook configurations without resourceNames (CA bundles)
WEBHOOK_CA_CONTROLLERS = [
    "ClusterRole/cert-manager-cainjector",  # cert-manager: injects CAs into annotated webhooks, by design any
    "ClusterRole/kps-admission",  # kube-prometheus-stack: its admission webhook's certgen patch job
    "ClusterRole/kserve-manager-role",  # KServe
    "ClusterRole/kueue-manager-role",  # Kueue
    "ClusterRole/jobset-controller",  # JobSet (installed by Kubeflow Trainer)
    "ClusterRole/kubeflow-trainer-controller-manager",  # Kubeflow Trainer
]

RULES: list[Rule] = [
    ResourceRule(
        name="k8s-pod-not-privileged",
        description="Containers are not privileged, except the allowlisted GPU system components.",
        remediation="Remove securityContext.privileged; grant the one capability the container needs instead.",
        severity=CRITICAL,
        framework=kubernetes_baseline(
            "CKV_K8S_16",
            cis="CIS Kubernetes 5.2.2; PSS baseline: Privileged Containers; Kyverno disallow-privileged-containers",
        ),
        types=_pod_applies,
        check=_privileged,
        config=GPU_SYSTEM,
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-non-root",
        description="Containers run as non-root: runAsNonRoot true (pod or container) and never UID 0.",
        remediation="Set securityContext.runAsNonRoot: true and a non-zero runAsUser (base.restricted_pod_security()).",
        severity=HIGH,
        framework=kubernetes_baseline(
            "CKV_K8S_23",
            cis="CIS Kubernetes 5.2.7; PSS restricted: Running as Non-root; Kyverno require-run-as-nonroot",
        ),
        types=_pod_applies,
        check=_non_root,
        config=_exemptions([NS_GPU], ["ClusterTrainingRuntime/*", "TrainingRuntime/*"]),
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-high-uid",
        description="Containers that set a UID use one of 10000 or above, away from host users.",
        remediation="Run as a high UID (the platform uses 65532).",
        severity=LOW,
        framework=kubernetes_baseline("CKV_K8S_40", cis="Kyverno require-run-as-non-root-user"),
        types=_pod_applies,
        check=_high_uid,
        enforcement=ADVISORY,
        config={"minimumUid": {"type": "integer", "default": 10000, "description": "The lowest UID accepted."}},
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-no-privilege-escalation",
        description="Containers set allowPrivilegeEscalation: false, except the allowlisted GPU system components.",
        remediation="Set securityContext.allowPrivilegeEscalation: false (base.restricted_container_security()).",
        severity=HIGH,
        framework=kubernetes_baseline(
            "CKV_K8S_20",
            cis="CIS Kubernetes 5.2.6; PSS restricted: Privilege Escalation; Kyverno disallow-privilege-escalation",
        ),
        types=_pod_applies,
        check=_privilege_escalation,
        config=GPU_SYSTEM,
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-seccomp",
        description="Containers run under the RuntimeDefault (or a Localhost) seccomp profile.",
        remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
        severity=MEDIUM,
        framework=kubernetes_baseline(
            "CKV_K8S_31", cis="CIS Kubernetes 5.7.2; PSS restricted: Seccomp; Kyverno restrict-seccomp-strict"
        ),
        types=_pod_applies,
        check=_seccomp,
        config=GPU_SYSTEM,
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-capabilities",
        description=(
            "Containers drop ALL capabilities and add none but NET_BIND_SERVICE; the GPU system components may "
            "add exactly SYS_ADMIN (DCGM profiling counters)."
        ),
        remediation="Set securityContext.capabilities: {drop: [ALL]} and remove the added capabilities.",
        severity=HIGH,
        framework=kubernetes_baseline(
            "CKV_K8S_37",
            "CKV_K8S_28",
            "CKV_K8S_39",
            "CKV_K8S_25",
            cis="CIS Kubernetes 5.2.8-5.2.10; PSS restricted: Capabilities; Kyverno require-drop-all",
        ),
        types=_pod_applies,
        check=_capabilities,
        config={
            **GPU_SYSTEM,
            "allowedCapabilities": _strings("Capabilities any container may add.", ["NET_BIND_SERVICE"]),
            "exemptCapabilities": _strings("Capabilities exempt pods may add as well.", ["SYS_ADMIN"]),
            **CONFIG_MANAGER_EXEMPTION,
        },
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-no-host-namespaces",
        description=(
            "Pods share no host namespace (PID, IPC, network) and bind no host port, except the node agents "
            "(GPU system, node-exporter)."
        ),
        remediation="Remove hostPID/hostIPC/hostNetwork/hostPort (NCCL wants a memory emptyDir at /dev/shm).",
        severity=HIGH,
        framework=kubernetes_baseline(
            "CKV_K8S_17",
            "CKV_K8S_18",
            "CKV_K8S_19",
            "CKV_K8S_26",
            cis="CIS Kubernetes 5.2.3-5.2.5, 5.2.13; PSS baseline: Host Namespaces, Host Ports; "
            "Kyverno disallow-host-namespaces, disallow-host-ports",
        ),
        types=_pod_applies,
        check=_host_namespaces,
        config=NODE_AGENTS,
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-no-host-path",
        description=(
            "Pods mount no hostPath volume; the node agents (GPU system, node-exporter) only the host paths they "
            "read or write, and nobody the container runtime's socket."
        ),
        remediation="Use an emptyDir, a ConfigMap or a PersistentVolumeClaim instead of the host's filesystem.",
        severity=HIGH,
        framework=kubernetes_baseline(
            "CKV_K8S_27", cis="CIS Kubernetes 5.2.12; PSS baseline: HostPath Volumes; Kyverno disallow-host-path"
        ),
        types=_pod_applies,
        check=_host_paths,
        config={
            **NODE_AGENTS,
            "exemptHostPaths": _strings(
                "Host paths (and below) exempt pods may mount; '/' admits '/' itself, read-only.",
                NODE_AGENT_HOST_PATHS,
            ),
        },
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-read-only-root-filesystem",
        description="Containers run with a read-only root filesystem.",
        remediation="Set securityContext.readOnlyRootFilesystem: true and mount emptyDirs where the process writes.",
        severity=LOW,
        framework=kubernetes_baseline("CKV_K8S_22", cis="Kyverno require-ro-rootfs"),
        types=_pod_applies,
        check=_read_only_root,
        enforcement=ADVISORY,
        tags=["kubernetes", "pod-security"],
    ),
    ResourceRule(
        name="k8s-pod-resources",
        description=(
            "Containers request CPU and memory and limit memory (a Trainer runtime's trainer container gets "
            "them from each TrainJob's resourcesPerNode, which must set them)."
        ),
        remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory.",
        severity=MEDIUM,
        framework=kubernetes_baseline(
            "CKV_K8S_10", "CKV_K8S_12", "CKV_K8S_13", cis="Kyverno require-pod-requests-limits"
        ),
        types=_pod_applies,
        check=_resources,
        config=CONFIG_MANAGER_EXEMPTION,
        tags=["kubernetes", "resources"],
    ),
    ResourceRule(
        name="k8s-image-approved-registry",
        description="Container images come from the platform's registries or the upstream ones its components pin.",
        remediation="Push the image to the platform's registry (ECR / Artifact Registry) or extend allowedRegistries.",
        severity=HIGH,
        framework=ml_platform("MLP-K8S-04", "Kyverno restrict-image-registries; Gatekeeper K8sAllowedRepos"),
        types=_pod_applies,
        check=_registry,
        config={
            "allowedRegistries": _strings(
                "Glob patterns over registry/repository (docker.io for Docker Hub images).", DEFAULT_REGISTRIES
            )
        },
        tags=["kubernetes", "supply-chain"],
    ),
    ResourceRule(
        name="k8s-image-pinned",
        description="Container images are pinned by a fixed tag or a digest, never latest or untagged.",
        remediation="Reference the image by an immutable version tag (base.Image) or by digest.",
        severity=HIGH,
        framework=kubernetes_baseline("CKV_K8S_14", "CKV_K8S_43", cis="Kyverno disallow-latest-tag"),
        types=_pod_applies,
        check=_pinned,
        config={"floatingTags": _strings("Tags that move and never count as pinned.", FLOATING_TAGS)},
        tags=["kubernetes", "supply-chain"],
    ),
    StackRule(
        name="k8s-namespace-pod-security",
        types=("kubernetes:",),
        description=(
            "Namespaces enforce a Pod Security Standard: restricted for the platform's, baseline only for team "
            "namespaces with GPUs, privileged only for allowlisted system namespaces."
        ),
        remediation="Create namespaces with base.namespace(...) at the strictest level that works.",
        severity=HIGH,
        framework=ml_platform(
            "MLP-K8S-02",
            "Pod Security Admission enforce label (PSS restricted / baseline); CIS Kubernetes 5.2.1; "
            "kubeflow/manifests PSS_enable.sh",
        ),
        check=_namespace_pod_security,
        config={
            "privilegedNamespaces": _strings(
                "Namespaces allowed to enforce 'privileged'.", [NS_GPU, NS_NODE_EXPORTER, "kube-system"]
            ),
            "baselineNamespaces": _strings("Other namespaces allowed to enforce 'baseline'.", []),
        },
        tags=["kubernetes", "pod-security", "namespaces"],
    ),
    ResourceRule(
        name="k8s-no-default-namespace",
        description="Namespaced objects and Helm releases name a namespace other than 'default'.",
        remediation="Set metadata.namespace (or the release's namespace) to a namespace the platform creates.",
        severity=MEDIUM,
        framework=kubernetes_baseline("CKV_K8S_21", cis="CIS Kubernetes 5.7.4"),
        types=lambda t: (p.is_k8s(t) and not t.startswith("kubernetes:helm.sh/")) or t in HELM_TYPES,
        check=_default_namespace,
        tags=["kubernetes", "namespaces"],
    ),
    ResourceRule(
        name="k8s-rbac-no-wildcards",
        description="Roles and ClusterRoles name their verbs, resources and API groups: no '*'.",
        remediation="Replace each '*' with the verbs, resources and API groups the subject needs.",
        severity=HIGH,
        framework=kubernetes_baseline("CKV_K8S_49", cis="CIS Kubernetes 5.1.3; Kyverno restrict-wildcard-verbs"),
        types=["kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"],
        check=_rbac_wildcards,
        config={
            "exemptObjects": _strings(
                "Exempt roles: glob patterns over Kind/namespace/name (Kind/name when cluster-scoped).",
                ["ClusterRole/kps-operator"],  # the Prometheus operator manages its StatefulSets, Secrets, ConfigMaps
            )
        },
        tags=["kubernetes", "rbac"],
    ),
    ResourceRule(
        name="k8s-rbac-no-escalation",
        description=(
            "Roles and ClusterRoles grant no escalate, bind or impersonate, no write on admission webhook "
            "configurations and no CertificateSigningRequest approval (unless resourceNames limit them to "
            "the controller's own)."
        ),
        remediation="Remove the verb; grant the specific Role the subject needs instead of the right to make one.",
        severity=HIGH,
        framework=kubernetes_baseline(
            "CKV_K8S_155", "CKV_K8S_156", "CKV_K8S_157", "CKV_K8S_158", cis="CIS Kubernetes 5.1.8"
        ),
        types=["kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"],
        check=_rbac_escalation,
        config={
            "exemptObjects": _strings(
                "Exempt roles: glob patterns over Kind/namespace/name (Kind/name when cluster-scoped).",
                WEBHOOK_CA_CONTROLLERS,
            )
        },
        tags=["kubernetes", "rbac"],
    ),
    ResourceRule(
        name="k8s-rbac-binding-subjects",
        description=(
            "Role bindings grant nothing to system:anonymous or system:unauthenticated, nothing cluster-wide to "
            "system:authenticated, and nothing to a 'default' service account."
        ),
        remediation="Bind the role to a named group or service account.",
        severity=CRITICAL,
        framework=kubernetes_baseline(
            "CKV_K8S_42", cis="CIS Kubernetes 5.1.1, 5.1.5; Kyverno restrict-binding-system-groups"
        ),
        types=[
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        ],
        check=_rbac_subjects,
        tags=["kubernetes", "rbac"],
    ),
    StackRule(
        name="k8s-no-default-service-account",
        types=("kubernetes:",),
        description="Workloads run as a named service account, never a namespace's 'default' one.",
        remediation="Set serviceAccountName (teams: 'workload' or 'inference'); keep 'default' without a token.",
        severity=MEDIUM,
        framework=kubernetes_baseline("CKV_K8S_41", cis="CIS Kubernetes 5.1.5"),
        check=_no_default_service_account,
        tags=["kubernetes", "service-accounts"],
    ),
    StackRule(
        name="k8s-service-account-token-automount",
        types=("kubernetes:",),
        description="Pods mount a service account token only where they call the Kubernetes API.",
        remediation="Set automountServiceAccountToken: false on the pod or its ServiceAccount.",
        severity=LOW,
        framework=kubernetes_baseline("CKV_K8S_38", cis="CIS Kubernetes 5.1.6; Kyverno restrict-automount-sa-token"),
        check=_token_automount,
        enforcement=ADVISORY,
        tags=["kubernetes", "service-accounts"],
    ),
    StackRule(
        name="k8s-team-namespace-default-deny",
        types=("kubernetes:",),
        description="Every team namespace has a default-deny NetworkPolicy for ingress and egress.",
        remediation="Create team namespaces with TeamNamespace (base.default_deny plus explicit allowances).",
        severity=HIGH,
        framework=ml_platform("MLP-K8S-03", "CIS Kubernetes 5.3.2; Kyverno add-networkpolicy (default deny)"),
        check=_team_default_deny,
        tags=["kubernetes", "network", "tenancy"],
    ),
    ResourceRule(
        name="k8s-helm-chart-pinned",
        description="Helm releases install an exact chart version from an https or oci:// repository.",
        remediation="Use base.helm_release with a base.Chart pinned to an exact version and its repository.",
        severity=HIGH,
        framework=ml_platform("MLP-K8S-01", "Helm chart pinned to an exact version from a trusted repository"),
        types=HELM_TYPES,
        check=_helm_pinned,
        config={"allowLocalCharts": {"type": "boolean", "default": False, "description": "Accept local chart paths."}},
        tags=["kubernetes", "helm", "supply-chain"],
    ),
    ResourceRule(
        name="k8s-helm-values-no-latest",
        description="Helm values pin image tags: no 'latest' (or other floating) tag in any image setting.",
        remediation="Set every image tag in the values from a base.Image pin.",
        severity=HIGH,
        framework=kubernetes_baseline("CKV_K8S_14", cis="Kyverno disallow-latest-tag (applied to chart values)"),
        types=HELM_TYPES,
        check=_helm_values,
        config={"floatingTags": _strings("Tags that move and never count as pinned.", FLOATING_TAGS)},
        tags=["kubernetes", "helm", "supply-chain"],
    ),
    ResourceRule(
        name="gpu-pod-limits",
        description="A container that requests GPUs sets them in limits, equal to the request.",
        remediation="Set resources.limits['nvidia.com/gpu'] (requests may be omitted; if given, equal).",
        severity=HIGH,
        framework=ml_platform(
            "MLP-GPU-01", "GPUs in limits (extends CKV_K8S_10-13, Kyverno require-pod-requests-limits)"
        ),
        types=_pod_applies,
        check=_gpu_limits,
        config={"gpuResources": _strings("Extended resources that are GPUs.", [GPU_RESOURCE])},
        tags=["kubernetes", "gpu", "resources"],
    ),
    ResourceRule(
        name="gpu-node-pool-taint",
        description="GPU node pools (EKS node groups, GKE node pools, Karpenter NodePools) carry the GPU taint.",
        remediation="Give the pool the GPU taint (components/foundation.py GPU_TAINT does for the platform's pools).",
        severity=HIGH,
        framework=ml_platform("MLP-GPU-02", "GPU nodes only for GPU pods (taint)"),
        types=NODE_POOL_TYPES,
        check=_gpu_node_pool,
        tags=["gpu", "cost", "aws", "gcp", "kubernetes"],
    ),
    ResourceRule(
        name="gpu-toleration-requires-gpu",
        description=(
            "Only pods that request GPUs tolerate the GPU taint (or every taint), except the node agents (GPU "
            "system DaemonSets, node-exporter); Kueue ResourceFlavors add it to admitted GPU workloads."
        ),
        remediation="Remove the toleration, or request nvidia.com/gpu; let the Kueue flavor add the toleration.",
        severity=MEDIUM,
        framework=ml_platform("MLP-GPU-03", "no non-GPU pods on GPU nodes"),
        types=_pod_applies,
        check=_gpu_toleration,
        config={**NODE_AGENTS, "gpuResources": _strings("Extended resources that are GPUs.", [GPU_RESOURCE])},
        tags=["kubernetes", "gpu", "cost"],
    ),
    StackRule(
        name="gpu-team-namespace-quota",
        types=("kubernetes:",),
        description="Every team namespace has a ResourceQuota with a hard requests.nvidia.com/gpu.",
        remediation="Create team namespaces with TeamNamespace (its team-quota caps GPUs).",
        severity=HIGH,
        framework=ml_platform("MLP-GPU-04", "GPU quota per tenant (Kyverno add-ns-quota pattern)"),
        check=_team_quota,
        tags=["kubernetes", "gpu", "tenancy"],
    ),
    StackRule(
        name="gpu-team-namespace-local-queue",
        types=("kubernetes:",),
        description="Every team namespace has a Kueue LocalQueue pointing its jobs at the team's ClusterQueue.",
        remediation="Enable services.kueue; TeamNamespace creates the 'default' LocalQueue.",
        severity=MEDIUM,
        framework=ml_platform("MLP-GPU-05", "fair GPU sharing through Kueue queues"),
        check=_team_local_queue,
        tags=["kubernetes", "gpu", "tenancy"],
    ),
    StackRule(
        name="gpu-job-queue-label",
        types=("kubernetes:",),
        description="TrainJobs, and batch jobs in team namespaces, name an existing Kueue LocalQueue in their labels.",
        remediation="Label the job kueue.x-k8s.io/queue-name: default (the team's LocalQueue).",
        severity=MEDIUM,
        framework=ml_platform("MLP-GPU-06", "jobs admitted through Kueue"),
        check=_job_queue_label,
        tags=["kubernetes", "gpu", "tenancy"],
    ),
    StackRule(
        name="gpu-spot-training-checkpoint",
        types=("kubernetes:", "aws:eks/", "gcp:container/"),
        description=(
            "TrainJobs on spot capacity declare their checkpoint location and are protected from voluntary "
            "disruption (do-not-disrupt or a PodDisruptionBudget)."
        ),
        remediation="Set trainingJobs[].checkpointUri (TrainingJob adds the annotation, do-not-disrupt and a PDB).",
        severity=HIGH,
        framework=ml_platform("MLP-GPU-07", "spot training resumes from checkpoints"),
        check=_spot_checkpoint,
        tags=["kubernetes", "gpu", "cost", "training"],
    ),
]
