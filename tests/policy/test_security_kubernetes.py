"""Kubernetes and GPU-scheduling rules of the security pack (policy/security/kubernetes.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policy import props, runner
from policy.security import kubernetes as k8s_rules
from tests.conftest import synth_stack
from tests.policy.cases import Case, check_case, rule

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SA = "kubernetes:core/v1:ServiceAccount"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V4 = "kubernetes:helm.sh/v4:Chart"
LOCAL_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue"
TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
RUNTIME = "kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime"
SERVING_RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CLUSTER_WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterWorkflowTemplate"
CRON_WORKFLOW = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
WORKFLOW = "kubernetes:argoproj.io/v1alpha1:Workflow"

ECR_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlp-aws-dev/training:0.1.0"
TEAM_URN = "urn:pulumi:dev::ml-platform::ml-platform:k8s:PlatformServices$ml-platform:k8s:TeamNamespace$"

RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


def ctr(name: str = "app", image: str = ECR_IMAGE, **overrides: Any) -> dict[str, Any]:
    """A container that passes every pod rule; `securityContext`/`resources` overrides replace the block."""
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "securityContext": copy.deepcopy(RESTRICTED),
        "resources": copy.deepcopy(RESOURCES),
    }
    container.update(overrides)
    return container


def sc(**changes: Any) -> dict[str, Any]:
    """The restricted security context with fields changed (None removes one)."""
    out = copy.deepcopy(RESTRICTED)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def deploy(*containers: dict[str, Any], ns: str = "research", kind: str = "Deployment", **pod: Any) -> dict:
    spec = {"serviceAccountName": "workload", "automountServiceAccountToken": False, **pod}
    spec["containers"] = list(containers) or [ctr()]
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "app", "namespace": ns},
        "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": spec}},
    }


def dcgm(ns: str = "gpu-system", gke: bool = False) -> dict:
    """The DCGM exporter as components/k8s/gpu_runtime.py builds it (EKS or GKE flavour)."""
    if gke:
        security: dict[str, Any] = {"privileged": True, "runAsUser": 0}
        volumes = [{"name": "nvidia", "hostPath": {"path": "/home/kubernetes/bin/nvidia", "type": "Directory"}}]
    else:
        security = {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        volumes = []
    volumes.append(
        {"name": "pod-resources", "hostPath": {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}}
    )
    exporter = ctr(
        "exporter",
        image="nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless",
        securityContext=security,
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    )
    props = deploy(exporter, ns=ns, kind="DaemonSet", volumes=volumes)
    props["metadata"]["name"] = "dcgm-exporter"
    props["spec"]["template"]["spec"]["serviceAccountName"] = "dcgm-exporter"
    props["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    return props


def device_plugin(ns: str = "gpu-system", plugin_resources: Any = RESOURCES) -> dict:
    """The device plugin's DaemonSet as nvidia-device-plugin 0.20.0 renders it with a config map: the
    config-manager init container and sidecar without resources or securityContext (no values reach them)."""
    manager = {"image": "nvcr.io/nvidia/k8s-device-plugin:v0.20.0", "command": ["config-manager"]}
    obj = deploy(
        ctr("nvidia-device-plugin-sidecar", **manager, securityContext=None, resources=None),
        ctr("nvidia-device-plugin-ctr", image=manager["image"], resources=copy.deepcopy(plugin_resources)),
        ns=ns,
        kind="DaemonSet",
        initContainers=[ctr("nvidia-device-plugin-init", **manager, securityContext=None, resources=None)],
    )
    obj["metadata"]["name"] = "nvidia-device-plugin"
    return obj


def node_exporter(ns: str = "node-exporter", root_read_only: bool = True) -> dict:
    """Prometheus' node-exporter as kube-prometheus-stack 88.5.3 renders it (its prometheus-node-exporter
    4.56.1 subchart): host network and PID namespace, /proc, /sys and / read-only, every taint tolerated."""
    mounts = [
        {"name": "proc", "mountPath": "/host/proc", "readOnly": True},
        {"name": "sys", "mountPath": "/host/sys", "readOnly": True},
        {"name": "root", "mountPath": "/host/root", "mountPropagation": "HostToContainer", "readOnly": root_read_only},
    ]
    exporter = ctr("node-exporter", image="quay.io/prometheus/node-exporter:v1.11.1", volumeMounts=mounts)
    volumes = [
        {"name": name, "hostPath": {"path": path}} for name, path in (("proc", "/proc"), ("sys", "/sys"), ("root", "/"))
    ]
    props = deploy(exporter, ns=ns, kind="DaemonSet", volumes=volumes, hostNetwork=True, hostPID=True)
    props["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists", "effect": "NoSchedule"}]
    return props


def runtime(container: dict[str, Any] | None = None, **pod: Any) -> dict:
    """The platform's torch-distributed ClusterTrainingRuntime (components/k8s/trainer.py)."""
    node = container or {
        "name": "node",
        "image": "pytorch/pytorch:2.10.0-cuda12.8-cudnn9-runtime",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    spec = {
        "serviceAccountName": "workload",
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [node],
        **pod,
    }
    return {
        "metadata": {"name": "torch-distributed"},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {
                                "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                                "spec": {"template": {"spec": spec}},
                            },
                        }
                    ]
                }
            },
        },
    }


def trainjob(
    *,
    name: str = "tabular",
    ns: str = "research",
    resources: dict | None = None,
    image: str = ECR_IMAGE,
    pod: dict | None = None,
    pod_annotations: dict | None = None,
    annotations: dict | None = None,
    labels: dict | None = None,
) -> dict:
    """A TrainJob as components/k8s/training.py builds it (runtime patch with node selector and toleration)."""
    if resources is None:
        resources = {
            "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
        }
    patch_pod = (
        pod
        if pod is not None
        else {
            "nodeSelector": {"ml-platform/pool": "l4"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "serviceAccountName": "workload",
        }
    )
    template = {"spec": patch_pod}
    if pod_annotations is not None:
        template["metadata"] = {"annotations": pod_annotations}
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kueue.x-k8s.io/queue-name": "default"} if labels is None else labels,
            "annotations": {"ml-platform/checkpoint-uri": f"s3://artifacts/{name}"}
            if annotations is None
            else annotations,
        },
        "spec": {
            "runtimeRef": {
                "name": "torch-distributed",
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
            },
            "trainer": {"image": image, "numNodes": 1, "resourcesPerNode": resources},
            "runtimePatches": [
                {
                    "manager": "ml-platform/pulumi",
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": template}}}]}
                        }
                    },
                }
            ],
        },
    }


def isvc(model: dict | None = None, **predictor: Any) -> dict:
    return {
        "metadata": {"name": "credit", "namespace": "research"},
        "spec": {
            "predictor": {
                "serviceAccountName": "inference",
                "model": model or {"modelFormat": {"name": "mlplatform"}, "storageUri": "s3://models/credit"},
                **predictor,
            }
        },
    }


def res(type_: str, props: dict, name: str, urn: str | None = None) -> runner.Resource:
    return runner.resource(type_, props, name=name, **({"urn": urn} if urn else {}))


def namespace(name: str, level: str | None = "restricted", team: str = "platform", via_component: bool = False):
    labels = {"kubernetes.io/metadata.name": name, "ml-platform/team": team}
    if level is not None:
        labels["pod-security.kubernetes.io/enforce"] = level
    urn = f"{TEAM_URN}{NAMESPACE}::{name}" if via_component else None
    return res(NAMESPACE, {"metadata": {"name": name, "labels": labels}}, f"ns-{name}", urn)


def quota(ns: str, gpus: str | None = "4") -> runner.Resource:
    hard = {"requests.cpu": "32", "requests.memory": "128Gi"}
    if gpus is not None:
        hard["requests.nvidia.com/gpu"] = gpus
    return res(QUOTA, {"metadata": {"name": "team-quota", "namespace": ns}, "spec": {"hard": hard}}, f"quota-{ns}")


def local_queue(ns: str, name: str = "default") -> runner.Resource:
    props = {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterQueue": f"team-{ns}"}}
    return res(LOCAL_QUEUE, props, f"lq-{ns}-{name}")


def netpol(ns: str, selector: dict | None = None, types: list[str] | None = None, **rules: Any) -> runner.Resource:
    spec = {"podSelector": selector or {}, "policyTypes": types or ["Ingress", "Egress"], **rules}
    return res(NETPOL, {"metadata": {"name": "default-deny", "namespace": ns}, "spec": spec}, f"np-{ns}")


def team(name: str = "research", level: str = "baseline", **kw: Any) -> list[runner.Resource]:
    """A team namespace as TeamNamespace builds it: namespace, quota, LocalQueue, default deny."""
    return [namespace(name, level, team=name), quota(name), local_queue(name), netpol(name), *kw.get("extra", [])]


def node_group(capacity: str = "SPOT", labels: dict | None = None, **kw: Any) -> runner.Resource:
    props = {
        "amiType": "AL2023_x86_64_NVIDIA",
        "instanceTypes": ["g6.xlarge"],
        "capacityType": capacity,
        "labels": labels or {"ml-platform/pool": "l4", "ml-platform/capacity": capacity.lower().replace("_", "-")},
        "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
        **kw,
    }
    return res(EKS_NODE_GROUP, props, f"ng-{capacity}")


def pdb(ns: str, jobset: str) -> runner.Resource:
    props = {
        "metadata": {"name": f"{jobset}-no-disruption", "namespace": ns},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"jobset.sigs.k8s.io/jobset-name": jobset}}},
    }
    return res(PDB, props, f"pdb-{jobset}")


def release(**kw: Any) -> dict:
    props = {
        "name": "kueue",
        "chart": "oci://registry.k8s.io/kueue/charts/kueue",
        "version": "0.16.1",
        "namespace": "kueue-system",
        "values": {"image": {"repository": "registry.k8s.io/kueue/kueue", "tag": "v0.16.1"}},
    }
    props.update(kw)
    return {k: v for k, v in props.items() if v is not None}


NO_EXEMPTIONS = {"exemptNamespaces": [], "exemptObjects": []}

# --- Argo Workflows: the shapes workloads/pipelines/workflow.py renders (Hera) -----------------------------

ARGO_POD_SC = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
ARGO_CONTAINER_SC = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def argo_container(gpus: int = 0, **overrides: Any) -> dict[str, Any]:
    """A step's container as Hera renders it: no name (Argo calls it `main`), the pod context elsewhere."""
    resources: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
    container = {
        "image": ECR_IMAGE,
        "command": ["python", "-m", "workloads.pipelines"],
        "securityContext": copy.deepcopy(ARGO_CONTAINER_SC),
        "resources": resources,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return _drop_none({**container, **overrides})


def step(name: str = "ingest", **template: Any) -> dict[str, Any]:
    """A container template (None drops a field)."""
    out = {
        "name": name,
        "metadata": {"annotations": {"ml-platform/pipeline-step": name}},
        "container": argo_container(),
        "nodeSelector": {"ml-platform/pool": "cpu"},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}}],
    }
    return _drop_none({**out, **template})


def train_step(**template: Any) -> dict[str, Any]:
    base = {
        "container": argo_container(gpus=1),
        "nodeSelector": {"ml-platform/pool": "l4"},
        "tolerations": [GPU_TOLERATION],
    }
    return step("train", **{**base, **template})


DAG = {"name": "continuous-training", "dag": {"tasks": [{"name": "ingest", "template": "ingest"}]}}


def workflow_spec(*templates: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """spec.templates: [0] the DAG, then `templates` (default: ingest, train)."""
    out = {
        "entrypoint": "continuous-training",
        "serviceAccountName": "pipeline",
        "automountServiceAccountToken": True,
        "securityContext": copy.deepcopy(ARGO_POD_SC),
        "templates": [DAG, *(templates or (step(), train_step()))],
    }
    return _drop_none({**out, **spec})


def workflow_template(*templates: dict[str, Any], ns: str | None = "research", **spec: Any) -> dict[str, Any]:
    metadata = _drop_none({"name": "credit-ct", "namespace": ns})
    return {"metadata": metadata, "spec": workflow_spec(*templates, **spec)}


def cron_workflow(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CronWorkflow: its own workflow spec, or (default) only a reference to the WorkflowTemplate."""
    inner = spec or {"serviceAccountName": "pipeline", "workflowTemplateRef": {"name": "credit-ct"}}
    return {
        "metadata": {"name": "credit-ct", "namespace": "research"},
        "spec": {"schedules": ["0 3 * * 1"], "concurrencyPolicy": "Forbid", "workflowSpec": inner},
    }


def wt_case(policy: str, id: str, violates: bool, props: dict[str, Any], contains: str | None = None) -> Case:
    return Case(policy, id, violates, WORKFLOW_TEMPLATE, props, contains=contains)


ARGO_CASES: list[Case] = [
    wt_case("k8s-pod-not-privileged", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-pod-not-privileged",
        "argo-sidecar",
        True,
        workflow_template(step(sidecars=[ctr("proxy", securityContext=sc(privileged=True))])),
        "container 'proxy' (spec.templates[1].sidecars[0]) is privileged",
    ),
    wt_case("k8s-pod-non-root", "argo-workflow-pod-context", False, workflow_template()),
    wt_case(
        "k8s-pod-non-root",
        "argo-template-context-replaces-workflow-one",
        True,
        workflow_template(step(securityContext={"runAsUser": 0})),
        "container 'main' (spec.templates[1].container) runs as UID 0",
    ),
    wt_case(
        "k8s-pod-non-root",
        "argo-no-pod-context",
        True,
        workflow_template(step(container=argo_container(securityContext=sc(runAsNonRoot=None))), securityContext=None),
        "does not set runAsNonRoot: true",
    ),
    wt_case("k8s-pod-seccomp", "argo-workflow-level", False, workflow_template()),
    wt_case(
        "k8s-pod-seccomp",
        "argo-template-context-without-seccomp",
        True,
        workflow_template(step(securityContext={"runAsNonRoot": True})),
        "container 'main' (spec.templates[1].container) has no seccomp profile",
    ),
    wt_case("k8s-pod-no-privilege-escalation", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-pod-no-privilege-escalation",
        "argo-script-template",
        True,
        workflow_template(
            step(container=None, script=argo_container(source="print(1)", securityContext={"runAsNonRoot": True}))
        ),
        "container 'main' (spec.templates[1].script) does not set allowPrivilegeEscalation: false",
    ),
    wt_case(
        "k8s-pod-no-privilege-escalation",
        "argo-template-defaults",
        False,
        workflow_template(
            step(container=argo_container(securityContext=None)),
            templateDefaults={"container": {"securityContext": copy.deepcopy(ARGO_CONTAINER_SC)}},
        ),
    ),
    wt_case("k8s-pod-capabilities", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-pod-capabilities",
        "argo-container-set",
        True,
        workflow_template(
            step(
                container=None,
                containerSet={
                    "containers": [
                        argo_container(name="a"),
                        argo_container(name="b", securityContext=sc(capabilities={"drop": ["NET_RAW"]})),
                    ]
                },
            )
        ),
        "container 'b' (spec.templates[1].containerSet.containers[1]) does not drop ALL",
    ),
    wt_case("k8s-pod-read-only-root-filesystem", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-pod-read-only-root-filesystem",
        "argo-init-container",
        True,
        workflow_template(step(initContainers=[ctr("fetch", securityContext=sc(readOnlyRootFilesystem=None))])),
        "container 'fetch' (spec.templates[1].initContainers[0]) has a writable root filesystem",
    ),
    wt_case("k8s-pod-resources", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-pod-resources",
        "argo-no-resources",
        True,
        workflow_template(step(container=argo_container(resources=None))),
        "container 'main' (spec.templates[1].container) sets no requests.cpu",
    ),
    wt_case(
        "k8s-pod-no-host-namespaces",
        "argo-workflow-host-network",
        True,
        workflow_template(hostNetwork=True),
        "spec.templates[1] sets hostNetwork: true",
    ),
    wt_case("k8s-pod-no-host-namespaces", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-pod-no-host-path",
        "argo-workflow-volume",
        True,
        workflow_template(volumes=[{"name": "host", "hostPath": {"path": "/var/lib/data"}}]),
        "spec.templates[2] volume 'host' mounts hostPath /var/lib/data",
    ),
    wt_case("k8s-pod-no-host-path", "argo-pipeline", False, workflow_template()),
    wt_case("k8s-image-approved-registry", "argo-pipeline", False, workflow_template()),
    wt_case(
        "k8s-image-approved-registry",
        "argo-docker-hub",
        True,
        workflow_template(step(container=argo_container(image="python:3.12.8-slim"))),
        "(spec.templates[1].container) image python:3.12.8-slim is not from an approved registry",
    ),
    Case("k8s-image-pinned", "argo-cron-template-ref", False, CRON_WORKFLOW, cron_workflow()),
    Case(
        "k8s-image-pinned",
        "argo-cron-inline-spec",
        True,
        CRON_WORKFLOW,
        cron_workflow(workflow_spec(step(container=argo_container(image="python:latest")))),
        contains="container 'main' (spec.workflowSpec.templates[1].container) image python:latest uses the floating",
    ),
    wt_case("gpu-toleration-requires-gpu", "argo-train-step", False, workflow_template()),
    wt_case(
        "gpu-toleration-requires-gpu",
        "argo-workflow-level-toleration",
        True,
        workflow_template(step(), tolerations=[GPU_TOLERATION]),
        "spec.templates[1] tolerates the nvidia.com/gpu taint but no container requests nvidia.com/gpu",
    ),
    wt_case("gpu-pod-limits", "argo-train-step", False, workflow_template()),
    wt_case(
        "gpu-pod-limits",
        "argo-request-only",
        True,
        workflow_template(
            train_step(
                container=argo_container(resources={"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}})
            )
        ),
        "container 'main' (spec.templates[1].container) requests nvidia.com/gpu: 1 without a limit",
    ),
    Case(
        "k8s-no-default-service-account",
        "argo-pipeline",
        False,
        stack=[res(WORKFLOW_TEMPLATE, workflow_template(), "wt"), res(CRON_WORKFLOW, cron_workflow(), "cron")],
    ),
    Case(
        "k8s-no-default-service-account",
        "argo-template-account",
        False,
        stack=[
            res(WORKFLOW_TEMPLATE, workflow_template(step(serviceAccountName="ingest"), serviceAccountName=None), "wt")
        ],
    ),
    Case(
        "k8s-no-default-service-account",
        "argo-no-account",
        True,
        stack=[res(WORKFLOW_TEMPLATE, workflow_template(serviceAccountName=None), "wt")],
        contains="WorkflowTemplate 'credit-ct' (spec.templates[1]) runs as the 'default' service account",
    ),
    Case(
        "k8s-service-account-token-automount",
        "argo-executor-needs-token",
        False,
        stack=[res(WORKFLOW_TEMPLATE, workflow_template(), "wt")],
    ),
    wt_case("k8s-no-default-namespace", "argo-team-namespace", False, workflow_template()),
    wt_case(
        "k8s-no-default-namespace",
        "argo-no-namespace",
        True,
        workflow_template(ns=None),
        "WorkflowTemplate 'credit-ct' names no namespace",
    ),
    Case(
        "k8s-no-default-namespace",
        "argo-cluster-template",
        False,
        CLUSTER_WORKFLOW_TEMPLATE,
        workflow_template(ns=None),
    ),
]

CASES: list[Case] = [
    # --- privileged ---
    Case("k8s-pod-not-privileged", "restricted", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-not-privileged",
        "privileged-app",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(privileged=True))),
        contains="container 'app' (spec.template.spec.containers[0]) is privileged",
    ),
    Case("k8s-pod-not-privileged", "dcgm-gke-gpu-system", False, DAEMONSET, dcgm(gke=True)),
    Case("k8s-pod-not-privileged", "dcgm-gke-elsewhere", True, DAEMONSET, dcgm("monitoring", gke=True)),
    Case(
        "k8s-pod-not-privileged",
        "init-container",
        True,
        DEPLOYMENT,
        deploy(initContainers=[ctr("init", securityContext={"privileged": True})]),
        contains="container 'init'",
    ),
    Case("k8s-pod-not-privileged", "no-allowlist", True, DAEMONSET, dcgm(gke=True), config=NO_EXEMPTIONS),
    Case(
        "k8s-pod-not-privileged",
        "object-allowlist",
        False,
        DAEMONSET,
        dcgm("monitoring", gke=True),
        config={"exemptNamespaces": [], "exemptObjects": ["DaemonSet/monitoring/dcgm-*"]},
    ),
    # --- non-root ---
    Case("k8s-pod-non-root", "restricted", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-non-root",
        "pod-level",
        False,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(runAsNonRoot=None, runAsUser=None)), securityContext={"runAsNonRoot": True}),
    ),
    Case(
        "k8s-pod-non-root",
        "unset",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(runAsNonRoot=None))),
        contains="does not set runAsNonRoot: true",
    ),
    Case(
        "k8s-pod-non-root",
        "uid-0",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(runAsUser=0))),
        contains="runs as UID 0",
    ),
    Case(
        "k8s-pod-non-root",
        "pod-uid-0",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(runAsUser=None)), securityContext={"runAsUser": 0}),
        contains="UID 0",
    ),
    Case("k8s-pod-non-root", "dcgm-eks-gpu-system", False, DAEMONSET, dcgm()),
    Case("k8s-pod-non-root", "dcgm-eks-no-allowlist", True, DAEMONSET, dcgm(), config=NO_EXEMPTIONS),
    Case("k8s-pod-non-root", "training-runtime-allowlisted", False, RUNTIME, runtime()),
    Case("k8s-pod-non-root", "training-runtime-not-allowlisted", True, RUNTIME, runtime(), config=NO_EXEMPTIONS),
    Case("k8s-pod-non-root", "trainjob-patch-unset", False, TRAINJOB, trainjob()),
    Case(
        "k8s-pod-non-root",
        "trainjob-patch-root",
        True,
        TRAINJOB,
        trainjob(pod={"securityContext": {"runAsUser": 0}, "containers": [{"name": "node"}]}),
        contains="UID 0",
    ),
    Case("k8s-pod-non-root", "isvc-model-from-runtime", False, ISVC, isvc()),
    Case(
        "k8s-pod-non-root",
        "isvc-model-root",
        True,
        ISVC,
        isvc({"modelFormat": {"name": "pytorch"}, "securityContext": {"runAsNonRoot": False}}),
        contains="runAsNonRoot: false",
    ),
    # --- high UID (advisory) ---
    Case("k8s-pod-high-uid", "65532", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-high-uid",
        "uid-1000",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(runAsUser=1000))),
        contains="UID 1000",
    ),
    # --- privilege escalation ---
    Case("k8s-pod-no-privilege-escalation", "false", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-no-privilege-escalation",
        "unset",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(allowPrivilegeEscalation=None))),
        contains="does not set allowPrivilegeEscalation: false",
    ),
    Case(
        "k8s-pod-no-privilege-escalation",
        "true",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(allowPrivilegeEscalation=True))),
        contains="allowPrivilegeEscalation: true",
    ),
    Case("k8s-pod-no-privilege-escalation", "dcgm-sys-admin", False, DAEMONSET, dcgm()),
    Case("k8s-pod-no-privilege-escalation", "dcgm-no-allowlist", True, DAEMONSET, dcgm(), config=NO_EXEMPTIONS),
    Case("k8s-pod-no-privilege-escalation", "trainjob-patch", False, TRAINJOB, trainjob()),
    # --- seccomp ---
    Case("k8s-pod-seccomp", "runtime-default", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-seccomp",
        "pod-level",
        False,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(seccompProfile=None)), securityContext={"seccompProfile": {"type": "Localhost"}}),
    ),
    Case(
        "k8s-pod-seccomp",
        "missing",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(seccompProfile=None))),
        contains="no seccomp profile",
    ),
    Case(
        "k8s-pod-seccomp",
        "unconfined",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(seccompProfile={"type": "Unconfined"}))),
        contains="'Unconfined'",
    ),
    Case("k8s-pod-seccomp", "dcgm-gke", False, DAEMONSET, dcgm(gke=True)),
    Case("k8s-pod-seccomp", "dcgm-gke-no-allowlist", True, DAEMONSET, dcgm(gke=True), config=NO_EXEMPTIONS),
    # --- capabilities ---
    Case("k8s-pod-capabilities", "drop-all", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-capabilities",
        "no-drop",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(capabilities={"drop": ["NET_RAW"]}))),
        contains="does not drop ALL",
    ),
    Case(
        "k8s-pod-capabilities",
        "net-raw",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(capabilities={"drop": ["ALL"], "add": ["NET_RAW"]}))),
        contains="adds capability NET_RAW",
    ),
    Case(
        "k8s-pod-capabilities",
        "net-bind-service",
        False,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}))),
    ),
    Case("k8s-pod-capabilities", "dcgm-sys-admin", False, DAEMONSET, dcgm()),
    Case(
        "k8s-pod-capabilities",
        "sys-admin-outside-gpu-system",
        True,
        DAEMONSET,
        dcgm("monitoring"),
        contains="adds capability SYS_ADMIN",
    ),
    Case(
        "k8s-pod-capabilities",
        "gpu-system-other-cap",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(capabilities={"drop": ["ALL"], "add": ["CAP_SYS_PTRACE"]})), ns="gpu-system"),
        contains="SYS_PTRACE",
    ),
    # --- host namespaces ---
    Case("k8s-pod-no-host-namespaces", "none", False, DEPLOYMENT, deploy()),
    Case("k8s-pod-no-host-namespaces", "host-ipc", True, DEPLOYMENT, deploy(hostIPC=True), contains="hostIPC: true"),
    Case(
        "k8s-pod-no-host-namespaces",
        "host-network",
        True,
        DEPLOYMENT,
        deploy(hostNetwork=True, hostPID=True),
        contains="hostNetwork",
    ),
    Case(
        "k8s-pod-no-host-namespaces",
        "host-port",
        True,
        DEPLOYMENT,
        deploy(ctr(ports=[{"containerPort": 9100, "hostPort": 9100}])),
        contains="host port 9100",
    ),
    Case("k8s-pod-no-host-namespaces", "gpu-system", False, DEPLOYMENT, deploy(hostPID=True, ns="gpu-system")),
    Case("k8s-pod-no-host-namespaces", "node-exporter", False, DAEMONSET, node_exporter()),
    Case(
        "k8s-pod-no-host-namespaces",
        "node-exporter-elsewhere",
        True,
        DAEMONSET,
        node_exporter(ns="monitoring"),
        contains="hostNetwork: true",
    ),
    # --- hostPath ---
    Case("k8s-pod-no-host-path", "dcgm-eks", False, DAEMONSET, dcgm()),
    Case("k8s-pod-no-host-path", "dcgm-gke", False, DAEMONSET, dcgm(gke=True)),
    Case(
        "k8s-pod-no-host-path",
        "dcgm-outside-gpu-system",
        True,
        DAEMONSET,
        dcgm("monitoring"),
        contains="mounts hostPath /var/lib/kubelet/pod-resources",
    ),
    Case(
        "k8s-pod-no-host-path",
        "gpu-system-other-path",
        True,
        DEPLOYMENT,
        deploy(ns="gpu-system", volumes=[{"name": "kubelet", "hostPath": {"path": "/var/lib/kubelet"}}]),
        contains="outside the node agents' allowed paths",
    ),
    Case(
        "k8s-pod-no-host-path",
        "gpu-system-below-root",
        True,
        DEPLOYMENT,
        deploy(ns="gpu-system", volumes=[{"name": "etc", "hostPath": {"path": "/etc/kubernetes"}}]),
        contains="outside the node agents' allowed paths",
    ),
    # node-exporter (kube-prometheus-stack's subchart, rendered by `mlplat check --render`): /proc, /sys and
    # the host's root filesystem read-only (prometheus-node-exporter 4.56.1 templates/daemonset.yaml)
    Case("k8s-pod-no-host-path", "node-exporter", False, DAEMONSET, node_exporter()),
    Case(
        "k8s-pod-no-host-path",
        "root-writable",
        True,
        DAEMONSET,
        node_exporter(root_read_only=False),
        contains="mounts the host's root filesystem writable (containers node-exporter)",
    ),
    Case(
        "k8s-pod-no-host-path",
        "node-exporter-elsewhere",
        True,
        DAEMONSET,
        node_exporter(ns="monitoring"),
        contains="mounts hostPath /proc",
    ),
    Case(
        "k8s-pod-no-host-path",
        "runtime-socket",
        True,
        DEPLOYMENT,
        deploy(ns="gpu-system", volumes=[{"name": "sock", "hostPath": {"path": "/run/containerd/containerd.sock"}}]),
        contains="container runtime socket",
    ),
    Case(
        "k8s-pod-no-host-path",
        "empty-dir",
        False,
        DEPLOYMENT,
        deploy(volumes=[{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]),
    ),
    # --- read-only root filesystem (advisory) ---
    Case("k8s-pod-read-only-root-filesystem", "read-only", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-pod-read-only-root-filesystem",
        "writable",
        True,
        DEPLOYMENT,
        deploy(ctr(securityContext=sc(readOnlyRootFilesystem=None))),
        contains="writable root filesystem",
    ),
    # --- resources ---
    Case("k8s-pod-resources", "set", False, DEPLOYMENT, deploy()),
    # the device plugin chart's config-manager containers take no values (exempt by name, one by one)
    Case("k8s-pod-resources", "config-manager", False, DAEMONSET, device_plugin()),
    Case(
        "k8s-pod-resources",
        "config-manager-plugin-still-checked",
        True,
        DAEMONSET,
        device_plugin(plugin_resources=None),
        contains="'nvidia-device-plugin-ctr'",
    ),
    Case(
        "k8s-pod-resources",
        "config-manager-name-elsewhere",
        True,
        DAEMONSET,
        device_plugin(ns="research"),
        contains="'nvidia-device-plugin-init'",
    ),
    Case("k8s-pod-capabilities", "config-manager", False, DAEMONSET, device_plugin()),
    Case(
        "k8s-pod-capabilities",
        "config-manager-name-elsewhere",
        True,
        DAEMONSET,
        device_plugin(ns="research"),
        contains="'nvidia-device-plugin-sidecar'",
    ),
    Case(
        "k8s-pod-resources",
        "no-memory-limit",
        True,
        DEPLOYMENT,
        deploy(ctr(resources={"requests": {"cpu": "1", "memory": "1Gi"}})),
        contains="sets no limits.memory",
    ),
    Case(
        "k8s-pod-resources",
        "nothing",
        True,
        DEPLOYMENT,
        deploy(ctr(resources=None)),
        contains="requests.cpu, requests.memory, limits.memory",
    ),
    Case("k8s-pod-resources", "runtime-trainer-from-trainjob", False, RUNTIME, runtime()),
    Case(
        "k8s-pod-resources",
        "runtime-sidecar",
        True,
        RUNTIME,
        runtime(initContainers=[{"name": "fetch", "image": ECR_IMAGE}]),
        contains="container 'fetch'",
    ),
    Case("k8s-pod-resources", "trainjob-resources-per-node", False, TRAINJOB, trainjob()),
    Case(
        "k8s-pod-resources",
        "trainjob-no-resources",
        True,
        TRAINJOB,
        trainjob(resources={"limits": {"nvidia.com/gpu": "1"}}),
        contains="spec.trainer.resourcesPerNode requests.cpu, requests.memory, limits.memory",
    ),
    Case("k8s-pod-resources", "isvc-model-from-runtime", False, ISVC, isvc()),
    # --- image registry ---
    Case("k8s-image-approved-registry", "ecr", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-image-approved-registry",
        "artifact-registry",
        False,
        DEPLOYMENT,
        deploy(ctr(image="us-central1-docker.pkg.dev/mlp-dev/mlp/serving:0.1.0")),
    ),
    Case("k8s-image-approved-registry", "nvcr-dcgm", False, DAEMONSET, dcgm()),
    Case("k8s-image-approved-registry", "docker-hub-pytorch", False, RUNTIME, runtime()),
    Case(
        "k8s-image-approved-registry",
        "docker-hub-library",
        True,
        DEPLOYMENT,
        deploy(ctr(image="busybox:1.37")),
        contains="not from an approved registry (docker.io/library/busybox)",
    ),
    Case(
        "k8s-image-approved-registry",
        "trainjob-image",
        True,
        TRAINJOB,
        trainjob(image="ghcr.io/someone/trainer:1.0"),
        contains="spec.trainer image ghcr.io/someone/trainer:1.0",
    ),
    Case(
        "k8s-image-approved-registry",
        "configured",
        False,
        DEPLOYMENT,
        deploy(ctr(image="registry.example.com/ml/app:1.0")),
        config={"allowedRegistries": ["registry.example.com/ml/*"]},
    ),
    # --- image pinned ---
    Case("k8s-image-pinned", "tag", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-image-pinned",
        "digest",
        False,
        DEPLOYMENT,
        deploy(ctr(image="nvcr.io/nvidia/pytorch@sha256:" + "a" * 64)),
    ),
    Case(
        "k8s-image-pinned",
        "latest",
        True,
        DEPLOYMENT,
        deploy(ctr(image="nvcr.io/nvidia/pytorch:latest")),
        contains="floating tag 'latest'",
    ),
    Case(
        "k8s-image-pinned",
        "untagged",
        True,
        DEPLOYMENT,
        deploy(ctr(image="registry.k8s.io/pause")),
        contains="has no tag",
    ),
    Case(
        "k8s-image-pinned",
        "registry-port-untagged",
        True,
        DEPLOYMENT,
        deploy(ctr(image="localhost:5000/app")),
        contains="has no tag",
    ),
    Case(
        "k8s-image-pinned",
        "trainjob-latest",
        True,
        TRAINJOB,
        trainjob(image=ECR_IMAGE.replace("0.1.0", "latest")),
        contains="spec.trainer image",
    ),
    # --- namespaces: Pod Security ---
    Case("k8s-namespace-pod-security", "restricted", False, stack=[namespace("kueue-system")]),
    Case(
        "k8s-namespace-pod-security",
        "no-label",
        True,
        stack=[namespace("mlflow", None)],
        contains="no pod-security.kubernetes.io/enforce label",
    ),
    Case(
        "k8s-namespace-pod-security",
        "invalid-level",
        True,
        stack=[namespace("mlflow", "strict")],
        contains="enforces 'strict'",
    ),
    Case("k8s-namespace-pod-security", "gpu-system-privileged", False, stack=[namespace("gpu-system", "privileged")]),
    Case(
        "k8s-namespace-pod-security",
        "other-privileged",
        True,
        stack=[namespace("mlflow", "privileged")],
        contains="not an allowlisted system namespace",
    ),
    Case(
        "k8s-namespace-pod-security",
        "platform-baseline",
        True,
        stack=[namespace("kserve", "baseline")],
        contains="platform namespace 'kserve' enforces 'baseline'",
    ),
    Case("k8s-namespace-pod-security", "gpu-team-baseline", False, stack=team("research", "baseline")),
    Case(
        "k8s-namespace-pod-security",
        "cpu-team-baseline",
        True,
        stack=[namespace("analytics", "baseline", team="analytics"), quota("analytics", gpus="0")],
        contains="its quota grants no GPUs",
    ),
    Case(
        "k8s-namespace-pod-security",
        "team-by-component",
        False,
        stack=[namespace("vision", "baseline", team="platform", via_component=True), quota("vision")],
    ),
    Case(
        "k8s-namespace-pod-security",
        "configured-baseline",
        False,
        stack=[namespace("legacy", "baseline")],
        config={"baselineNamespaces": ["legacy"]},
    ),
    # --- default namespace ---
    Case("k8s-no-default-namespace", "namespaced", False, DEPLOYMENT, deploy()),
    Case(
        "k8s-no-default-namespace",
        "default",
        True,
        DEPLOYMENT,
        deploy(ns="default"),
        contains="in the 'default' namespace",
    ),
    Case(
        "k8s-no-default-namespace",
        "missing",
        True,
        SA,
        {"metadata": {"name": "x"}},
        contains="names no namespace",
    ),
    Case("k8s-no-default-namespace", "cluster-scoped", False, RUNTIME, runtime()),
    Case("k8s-no-default-namespace", "helm-namespace", False, RELEASE, release()),
    Case(
        "k8s-no-default-namespace",
        "helm-no-namespace",
        True,
        RELEASE,
        release(namespace=None),
        contains="Helm release installs into the 'default' namespace",
    ),
    # --- RBAC ---
    Case(
        "k8s-rbac-no-wildcards",
        "explicit",
        False,
        ROLE,
        {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    ),
    Case(
        "k8s-rbac-no-wildcards",
        "verbs",
        True,
        ROLE,
        {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]},
        contains="rules[0].verbs contains the wildcard *",
    ),
    Case(
        "k8s-rbac-no-wildcards",
        "prometheus-operator",
        False,
        CLUSTER_ROLE,
        {
            "metadata": {"name": "kps-operator"},
            "rules": [{"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["*"]}],
        },
    ),
    Case(
        "k8s-rbac-no-wildcards",
        "exemption-is-by-name",
        True,
        CLUSTER_ROLE,
        {
            "metadata": {"name": "operator"},
            "rules": [{"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["*"]}],
        },
        contains="rules[0].verbs contains the wildcard *",
    ),
    Case(
        "k8s-rbac-no-wildcards",
        "resources-subresource",
        True,
        CLUSTER_ROLE,
        {"rules": [{"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}]},
        contains="rules[0].resources",
    ),
    Case(
        "k8s-rbac-no-wildcards",
        "api-groups",
        True,
        CLUSTER_ROLE,
        {"rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}]},
        contains="apiGroups",
    ),
    Case(
        "k8s-rbac-no-escalation",
        "team-member",
        False,
        ROLE,
        {"rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]}]},
    ),
    Case(
        "k8s-rbac-no-escalation",
        "bind",
        True,
        CLUSTER_ROLE,
        {"rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}]},
        contains="'bind' on clusterroles (CKV_K8S_157)",
    ),
    Case(
        "k8s-rbac-no-escalation",
        "impersonate",
        True,
        CLUSTER_ROLE,
        {"rules": [{"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}]},
        contains="'impersonate'",
    ),
    Case(
        "k8s-rbac-no-escalation",
        "escalate",
        True,
        ROLE,
        {"rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}]},
        contains="CKV_K8S_158",
    ),
    Case(
        "k8s-rbac-no-escalation",
        "webhooks",
        True,
        CLUSTER_ROLE,
        {
            "rules": [
                {
                    "apiGroups": ["admissionregistration.k8s.io"],
                    "resources": ["validatingwebhookconfigurations"],
                    "verbs": ["patch"],
                }
            ]
        },
        contains="CKV_K8S_155",
    ),
    Case(
        "k8s-rbac-no-escalation",
        "webhooks-own-by-name",
        False,
        CLUSTER_ROLE,
        {
            # external-secrets 2.9.0 cert-controller: its own two webhooks only
            "rules": [
                {
                    "apiGroups": ["admissionregistration.k8s.io"],
                    "resources": ["validatingwebhookconfigurations"],
                    "resourceNames": ["secretstore-validate", "externalsecret-validate"],
                    "verbs": ["update", "patch"],
                }
            ]
        },
    ),
    Case(
        "k8s-rbac-no-escalation",
        "webhooks-exempt-controller",
        False,
        CLUSTER_ROLE,
        {
            "metadata": {"name": "cert-manager-cainjector"},
            "rules": [
                {
                    "apiGroups": ["admissionregistration.k8s.io"],
                    "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
                    "verbs": ["get", "list", "watch", "update", "patch"],
                }
            ],
        },
    ),
    Case(
        "k8s-rbac-no-escalation",
        "signers-own",
        False,
        CLUSTER_ROLE,
        {
            # cert-manager v1.21.1 controller-approve:cert-manager-io
            "rules": [
                {
                    "apiGroups": ["cert-manager.io"],
                    "resources": ["signers"],
                    "verbs": ["approve"],
                    "resourceNames": ["issuers.cert-manager.io/*", "clusterissuers.cert-manager.io/*"],
                }
            ]
        },
    ),
    Case(
        "k8s-rbac-no-escalation",
        "signers-kubernetes",
        True,
        CLUSTER_ROLE,
        {
            "rules": [
                {
                    "apiGroups": ["certificates.k8s.io"],
                    "resources": ["signers"],
                    "verbs": ["approve"],
                    "resourceNames": ["kubernetes.io/kube-apiserver-client"],
                }
            ]
        },
        contains="CKV_K8S_156",
    ),
    Case(
        "k8s-rbac-no-escalation",
        "csr-approval",
        True,
        CLUSTER_ROLE,
        {
            "rules": [
                {
                    "apiGroups": ["certificates.k8s.io"],
                    "resources": ["certificatesigningrequests/approval"],
                    "verbs": ["update"],
                }
            ]
        },
        contains="CKV_K8S_156",
    ),
    Case(
        "k8s-rbac-binding-subjects",
        "team-group",
        False,
        ROLE_BINDING,
        {
            "roleRef": {"kind": "Role", "name": "team-member"},
            "subjects": [{"kind": "Group", "name": "ml-platform:team:research"}],
        },
    ),
    Case(
        "k8s-rbac-binding-subjects",
        "anonymous",
        True,
        CLUSTER_ROLE_BINDING,
        {
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "system:anonymous"}],
        },
        contains="system:anonymous",
    ),
    Case(
        "k8s-rbac-binding-subjects",
        "unauthenticated",
        True,
        ROLE_BINDING,
        {"roleRef": {"name": "x"}, "subjects": [{"kind": "Group", "name": "system:unauthenticated"}]},
        contains="system:unauthenticated",
    ),
    Case(
        "k8s-rbac-binding-subjects",
        "authenticated-cluster-wide",
        True,
        CLUSTER_ROLE_BINDING,
        {"roleRef": {"name": "edit"}, "subjects": [{"kind": "Group", "name": "system:authenticated"}]},
        contains="every authenticated identity",
    ),
    Case(
        "k8s-rbac-binding-subjects",
        "default-sa",
        True,
        ROLE_BINDING,
        {"roleRef": {"name": "edit"}, "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "ml"}]},
        contains="'default' service account of ml",
    ),
    # --- service accounts ---
    Case(
        "k8s-no-default-service-account",
        "named",
        False,
        stack=[res(DEPLOYMENT, deploy(), "app"), res(RUNTIME, runtime(), "rt"), res(TRAINJOB, trainjob(), "job")],
    ),
    Case(
        "k8s-no-default-service-account",
        "unset",
        True,
        stack=[res(DEPLOYMENT, deploy(serviceAccountName=None), "app")],
        contains="runs as the 'default' service account",
    ),
    Case(
        "k8s-no-default-service-account",
        "explicit-default",
        True,
        stack=[res(JOB, deploy(kind="Job", serviceAccountName="default"), "job")],
        contains="Job 'app'",
    ),
    Case(
        "k8s-no-default-service-account",
        "trainjob-from-runtime",
        False,
        stack=[res(RUNTIME, runtime(), "rt"), res(TRAINJOB, trainjob(pod={"nodeSelector": {"a": "b"}}), "job")],
    ),
    Case(
        "k8s-no-default-service-account",
        "trainjob-runtime-without-sa",
        True,
        stack=[
            res(RUNTIME, runtime(serviceAccountName="default"), "rt"),
            res(TRAINJOB, trainjob(pod={"nodeSelector": {"a": "b"}}), "job"),
        ],
        contains="TrainJob 'tabular'",
    ),
    Case(
        "k8s-no-default-service-account",
        "isvc",
        True,
        stack=[res(ISVC, isvc(serviceAccountName="default"), "isvc")],
        contains="InferenceService 'credit' (spec.predictor)",
    ),
    Case(
        "k8s-no-default-service-account",
        "default-sa-automount",
        True,
        stack=[res(SA, {"metadata": {"name": "default", "namespace": "research"}}, "sa")],
        contains="automounts its token",
    ),
    Case(
        "k8s-service-account-token-automount",
        "pod-false",
        False,
        stack=[res(DEPLOYMENT, deploy(), "app")],
    ),
    Case(
        "k8s-service-account-token-automount",
        "service-account-false",
        False,
        stack=[
            res(DEPLOYMENT, deploy(automountServiceAccountToken=None), "app"),
            res(
                SA,
                {"metadata": {"name": "workload", "namespace": "research"}, "automountServiceAccountToken": False},
                "sa",
            ),
            res(RUNTIME, runtime(), "rt"),
        ],
    ),
    Case(
        "k8s-service-account-token-automount",
        "mounted",
        True,
        stack=[res(DEPLOYMENT, deploy(automountServiceAccountToken=None), "app")],
        contains="mounts the token of service account 'workload'",
    ),
    Case(
        "k8s-service-account-token-automount",
        "runtime-account-mounts",
        True,
        stack=[res(RUNTIME, runtime(), "rt"), res(SA, {"metadata": {"name": "workload", "namespace": "a"}}, "sa")],
        contains="ClusterTrainingRuntime 'torch-distributed'",
    ),
    # --- team namespaces ---
    Case("k8s-team-namespace-default-deny", "tenancy", False, stack=team()),
    Case(
        "k8s-team-namespace-default-deny",
        "missing",
        True,
        stack=[namespace("research", "baseline", team="research"), quota("research")],
        contains="team namespace 'research' has no default-deny NetworkPolicy",
    ),
    Case(
        "k8s-team-namespace-default-deny",
        "ingress-only",
        True,
        stack=[namespace("research", team="research"), netpol("research", types=["Ingress"])],
    ),
    Case(
        "k8s-team-namespace-default-deny",
        "selective",
        True,
        stack=[namespace("research", team="research"), netpol("research", selector={"matchLabels": {"a": "b"}})],
    ),
    Case(
        "k8s-team-namespace-default-deny",
        "allow-rule",
        True,
        stack=[namespace("research", team="research"), netpol("research", ingress=[{"from": [{"podSelector": {}}]}])],
    ),
    Case("k8s-team-namespace-default-deny", "platform-namespace", False, stack=[namespace("kserve")]),
    Case("gpu-team-namespace-quota", "tenancy", False, stack=team()),
    Case(
        "gpu-team-namespace-quota",
        "no-quota",
        True,
        stack=[namespace("research", "baseline", team="research")],
        contains="has no ResourceQuota",
    ),
    Case(
        "gpu-team-namespace-quota",
        "no-gpu-line",
        True,
        stack=[namespace("research", team="research"), quota("research", gpus=None)],
        contains="no ResourceQuota on requests.nvidia.com/gpu",
    ),
    Case(
        "gpu-team-namespace-quota",
        "quota-elsewhere",
        True,
        stack=[namespace("research", team="research", via_component=True), quota("vision")],
    ),
    Case("gpu-team-namespace-local-queue", "tenancy", False, stack=team()),
    Case(
        "gpu-team-namespace-local-queue",
        "missing",
        True,
        stack=[namespace("research", team="research"), local_queue("vision")],
        contains="team namespace 'research' has no Kueue LocalQueue",
    ),
    # --- Helm ---
    Case("k8s-helm-chart-pinned", "oci", False, RELEASE, release()),
    Case(
        "k8s-helm-chart-pinned",
        "https-repo",
        False,
        RELEASE,
        release(chart="cert-manager", version="v1.21.1", repositoryOpts={"repo": "https://charts.jetstack.io"}),
    ),
    Case(
        "k8s-helm-chart-pinned",
        "range",
        True,
        RELEASE,
        release(version="^0.16.0"),
        contains="'^0.16.0' is a range",
    ),
    Case("k8s-helm-chart-pinned", "partial-version", True, RELEASE, release(version="0.16"), contains="is a range"),
    Case("k8s-helm-chart-pinned", "no-version", True, RELEASE, release(version=None), contains="has no version"),
    Case(
        "k8s-helm-chart-pinned",
        "http-repo",
        True,
        RELEASE,
        release(chart="x", repositoryOpts={"repo": "http://charts.example.com"}),
        contains="not an https or oci:// repository",
    ),
    Case(
        "k8s-helm-chart-pinned",
        "repo-alias",
        True,
        RELEASE,
        release(chart="bitnami/redis"),
        contains="locally configured Helm repository alias",
    ),
    Case("k8s-helm-chart-pinned", "local-path", True, RELEASE, release(chart="./charts/app"), contains="local path"),
    Case(
        "k8s-helm-chart-pinned",
        "v4-chart",
        True,
        CHART_V4,
        release(chart="kueue", version="0.16.x", repositoryOpts={"repo": "https://kueue.example.com"}),
        contains="'0.16.x' is a range",
    ),
    Case("k8s-helm-values-no-latest", "pinned", False, RELEASE, release()),
    Case(
        "k8s-helm-values-no-latest",
        "tag-latest",
        True,
        RELEASE,
        release(values={"controller": {"image": {"repository": "x/y", "tag": "latest"}}}),
        contains="values.controller.image.tag is 'latest'",
    ),
    Case(
        "k8s-helm-values-no-latest",
        "image-string",
        True,
        RELEASE,
        release(values={"sidecars": [{"image": "quay.io/kiwigrid/k8s-sidecar:latest"}]}),
        contains="values.sidecars[0].image is quay.io/kiwigrid/k8s-sidecar:latest",
    ),
    Case(
        "k8s-helm-values-no-latest",
        "operator-version",
        True,
        RELEASE,
        release(
            values={"dcgmExporter": {"repository": "nvcr.io/nvidia/k8s", "image": "dcgm-exporter", "version": "latest"}}
        ),
        contains="values.dcgmExporter.version is 'latest'",
    ),
    Case(
        "k8s-helm-values-no-latest",
        "unrelated-latest",
        False,
        RELEASE,
        release(values={"driver": {"version": "LATEST-driver-branch"}, "mode": "latest"}),
    ),
    # --- GPU: limits ---
    Case(
        "gpu-pod-limits",
        "limits",
        False,
        DEPLOYMENT,
        deploy(ctr(resources={**RESOURCES, "limits": {"memory": "1Gi", "nvidia.com/gpu": "1"}})),
    ),
    Case(
        "gpu-pod-limits",
        "requests-only",
        True,
        DEPLOYMENT,
        deploy(ctr(resources={"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}})),
        contains="requests nvidia.com/gpu: 1 without a limit",
    ),
    Case(
        "gpu-pod-limits",
        "different",
        True,
        DEPLOYMENT,
        deploy(ctr(resources={"requests": {"nvidia.com/gpu": 1.0}, "limits": {"nvidia.com/gpu": 2.0}})),
        contains="limits it to 2",
    ),
    Case("gpu-pod-limits", "trainjob", False, TRAINJOB, trainjob()),
    Case(
        "gpu-pod-limits",
        "trainjob-requests-only",
        True,
        TRAINJOB,
        trainjob(resources={"requests": {"cpu": "4", "memory": "1Gi", "nvidia.com/gpu": "8"}}),
        contains="spec.trainer.resourcesPerNode requests nvidia.com/gpu: 8",
    ),
    Case(
        "gpu-pod-limits",
        "isvc-model",
        True,
        ISVC,
        isvc({"modelFormat": {"name": "pytorch"}, "resources": {"requests": {"nvidia.com/gpu": "1"}}}),
        contains="container '?' (spec.predictor.model)",
    ),
    Case(
        "gpu-pod-limits",
        "mig",
        True,
        DEPLOYMENT,
        deploy(ctr(resources={"requests": {"nvidia.com/mig-1g.10gb": "1"}})),
        contains="nvidia.com/mig-1g.10gb",
    ),
    # --- GPU: node pool taint ---
    Case("gpu-node-pool-taint", "eks-tainted", False, EKS_NODE_GROUP, dict(node_group().inputs)),
    Case(
        "gpu-node-pool-taint",
        "eks-untainted",
        True,
        EKS_NODE_GROUP,
        {"amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["p5.48xlarge"], "taints": []},
        contains="taint key nvidia.com/gpu effect NO_SCHEDULE",
    ),
    Case(
        "gpu-node-pool-taint",
        "eks-prefer-no-schedule",
        True,
        EKS_NODE_GROUP,
        {
            "amiType": "CUSTOM",
            "instanceTypes": ["g6e.2xlarge"],
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "PREFER_NO_SCHEDULE"}],
        },
    ),
    Case(
        "gpu-node-pool-taint",
        "eks-system",
        False,
        EKS_NODE_GROUP,
        {"amiType": "AL2023_x86_64_STANDARD", "instanceTypes": ["m6i.large"], "taints": []},
    ),
    Case(
        "gpu-node-pool-taint",
        "gke-tainted",
        False,
        GKE_NODE_POOL,
        {
            "nodeConfig": {
                "machineType": "g2-standard-4",
                "guestAccelerators": [{"type": "nvidia-l4", "count": 1}],
                "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
            }
        },
    ),
    Case(
        "gpu-node-pool-taint",
        "gke-untainted",
        True,
        GKE_NODE_POOL,
        {"nodeConfig": {"machineType": "a3-highgpu-8g"}},
        contains="nodeConfig.taints",
    ),
    Case("gpu-node-pool-taint", "gke-cpu", False, GKE_NODE_POOL, {"nodeConfig": {"machineType": "e2-standard-4"}}),
    Case(
        "gpu-node-pool-taint",
        "karpenter-gpu-untainted",
        True,
        KARPENTER_NODE_POOL,
        {
            "spec": {
                "template": {
                    "spec": {
                        "requirements": [
                            {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["0"]}
                        ]
                    }
                }
            }
        },
        contains="spec.template.spec.taints",
    ),
    Case(
        "gpu-node-pool-taint",
        "karpenter-instance-type",
        True,
        KARPENTER_NODE_POOL,
        {
            "spec": {
                "template": {
                    "spec": {
                        "requirements": [
                            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]}
                        ],
                        "taints": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
                    }
                }
            }
        },
    ),
    Case(
        "gpu-node-pool-taint",
        "karpenter-tainted",
        False,
        KARPENTER_NODE_POOL,
        {
            "spec": {
                "template": {
                    "metadata": {"labels": {"ml-platform/accelerator": "nvidia-l4"}},
                    "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
                },
                "limits": {"nvidia.com/gpu": "8"},
            }
        },
    ),
    Case(
        "gpu-node-pool-taint",
        "karpenter-cpu",
        False,
        KARPENTER_NODE_POOL,
        {
            "spec": {
                "template": {
                    "spec": {
                        "requirements": [
                            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["m7i", "c7i"]}
                        ]
                    }
                }
            }
        },
    ),
    # --- GPU: tolerations ---
    Case("gpu-toleration-requires-gpu", "trainjob", False, TRAINJOB, trainjob()),
    Case(
        "gpu-toleration-requires-gpu",
        "trainjob-cpu",
        True,
        TRAINJOB,
        trainjob(resources={"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}),
        contains="tolerates the nvidia.com/gpu taint but no container requests nvidia.com/gpu",
    ),
    Case("gpu-toleration-requires-gpu", "dcgm-gpu-system", False, DAEMONSET, dcgm()),
    Case("gpu-toleration-requires-gpu", "node-exporter", False, DAEMONSET, node_exporter()),
    Case("gpu-toleration-requires-gpu", "dcgm-no-allowlist", True, DAEMONSET, dcgm(), config=NO_EXEMPTIONS),
    Case(
        "gpu-toleration-requires-gpu",
        "tolerate-everything",
        True,
        DAEMONSET,
        deploy(kind="DaemonSet", ns="logging", tolerations=[{"operator": "Exists"}]),
        contains="every taint",
    ),
    Case(
        "gpu-toleration-requires-gpu",
        "gpu-deployment",
        False,
        DEPLOYMENT,
        deploy(
            ctr(resources={**RESOURCES, "limits": {"memory": "1Gi", "nvidia.com/gpu": "1"}}),
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
    ),
    Case(
        "gpu-toleration-requires-gpu",
        "no-execute-only",
        False,
        DEPLOYMENT,
        deploy(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}]),
    ),
    Case(
        "gpu-toleration-requires-gpu",
        "isvc-cpu",
        True,
        ISVC,
        isvc(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]),
        contains="spec.predictor tolerates",
    ),
    # --- GPU: queue label ---
    Case(
        "gpu-job-queue-label",
        "trainjob",
        False,
        stack=[*team(), res(TRAINJOB, trainjob(), "job")],
    ),
    Case(
        "gpu-job-queue-label",
        "trainjob-unlabelled",
        True,
        stack=[res(TRAINJOB, trainjob(labels={}), "job")],
        contains="TrainJob 'tabular' has no kueue.x-k8s.io/queue-name label",
    ),
    Case(
        "gpu-job-queue-label",
        "unknown-queue",
        True,
        stack=[*team(), res(TRAINJOB, trainjob(labels={"kueue.x-k8s.io/queue-name": "fast"}), "job")],
        contains="names LocalQueue 'fast'",
    ),
    Case(
        "gpu-job-queue-label",
        "team-job",
        True,
        stack=[*team(), res(JOB, deploy(kind="Job"), "job")],
        contains="Job 'app' has no",
    ),
    Case(
        "gpu-job-queue-label",
        "platform-job",
        False,
        stack=[*team(), namespace("monitoring"), res(JOB, deploy(kind="Job", ns="monitoring"), "job")],
    ),
    # --- GPU: spot training ---
    Case(
        "gpu-spot-training-checkpoint",
        "platform-trainjob",
        False,
        stack=[
            node_group("SPOT"),
            res(TRAINJOB, trainjob(pod_annotations={"karpenter.sh/do-not-disrupt": "true"}), "job"),
        ],
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "pdb-protects",
        False,
        stack=[node_group("SPOT"), res(TRAINJOB, trainjob(), "job"), pdb("research", "tabular")],
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "pool-spot-unprotected",
        True,
        stack=[node_group("SPOT"), res(TRAINJOB, trainjob(), "job"), pdb("vision", "tabular")],
        contains="without karpenter.sh/do-not-disrupt on its pods or a PodDisruptionBudget",
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "no-checkpoint",
        True,
        stack=[
            node_group("SPOT"),
            res(TRAINJOB, trainjob(annotations={}, pod_annotations={"karpenter.sh/do-not-disrupt": "true"}), "job"),
        ],
        contains="without a ml-platform/checkpoint-uri annotation",
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "on-demand-pool",
        False,
        stack=[node_group("ON_DEMAND"), res(TRAINJOB, trainjob(annotations={}), "job")],
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "karpenter-capacity-selector",
        True,
        stack=[
            res(TRAINJOB, trainjob(annotations={}, pod={"nodeSelector": {"karpenter.sh/capacity-type": "spot"}}), "j")
        ],
        contains="checkpoint-uri",
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "spot-affinity",
        True,
        stack=[
            res(
                TRAINJOB,
                trainjob(
                    annotations={},
                    pod={
                        "affinity": {
                            "nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [
                                        {
                                            "matchExpressions": [
                                                {"key": "ml-platform/capacity", "operator": "In", "values": ["spot"]}
                                            ]
                                        }
                                    ]
                                }
                            }
                        }
                    },
                ),
                "job",
            )
        ],
    ),
    Case(
        "gpu-spot-training-checkpoint",
        "gke-spot-pool",
        True,
        stack=[
            res(
                GKE_NODE_POOL,
                {"nodeConfig": {"spot": True, "labels": {"ml-platform/pool": "l4"}}},
                "np-l4",
            ),
            res(TRAINJOB, trainjob(annotations={}), "job"),
        ],
    ),
]


CASES += ARGO_CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.param_id)
def test_rule(case: Case) -> None:
    check_case(case)


def argo_pods(type_: str, obj: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(props.pod_specs(type_, obj))


def test_argo_pods_are_assembled_as_the_controller_runs_them() -> None:
    """One pod per container template (not the DAG), at the template's path: the template's pod-level
    fields replace the workflow's whole, volumes add up, and the containers keep their manifest paths."""
    obj = workflow_template(
        step(nodeSelector=None),
        train_step(serviceAccountName="trainer", securityContext={"runAsNonRoot": True}),
        nodeSelector={"ml-platform/pool": "cpu"},
        volumes=[{"name": "cache", "emptyDir": {}}],
    )
    found = argo_pods(WORKFLOW_TEMPLATE, obj)
    assert [path for path, _ in found] == ["spec.templates[1]", "spec.templates[2]"]
    ingest, train = (pod for _, pod in found)
    assert ingest["nodeSelector"] == {"ml-platform/pool": "cpu"}
    assert train["nodeSelector"] == {"ml-platform/pool": "l4"}
    assert (ingest["serviceAccountName"], train["serviceAccountName"]) == ("pipeline", "trainer")
    assert ingest["securityContext"] == ARGO_POD_SC and train["securityContext"] == {"runAsNonRoot": True}
    assert "tolerations" not in ingest and train["tolerations"] == [GPU_TOLERATION]
    assert [v["name"] for v in train["volumes"]] == ["cache", "tmp"]
    assert [path for path, _ in props.containers(train)] == ["container"]
    cron = cron_workflow(workflow_spec(step()))
    assert [path for path, _ in argo_pods(CRON_WORKFLOW, cron)] == ["spec.workflowSpec.templates[1]"]
    assert argo_pods(CRON_WORKFLOW, cron_workflow()) == []  # only a workflowTemplateRef
    assert argo_pods("kubernetes:example.com/v1:WorkflowTemplate", obj) == []  # not Argo's


def test_the_rendered_pipeline_passes_every_kubernetes_rule() -> None:
    """The pipeline as workloads/pipelines/workflow.py renders it (a GPU train step), advisory rules included."""
    from workloads.pipelines.workflow import PipelineParams, StepResources, render

    params = PipelineParams(
        name="credit-ct",
        namespace="research",
        image=ECR_IMAGE,
        settings={},
        source_uri="s3://datasets/raw/credit/",
        reference_uri="s3://datasets/reference/credit/",
        registered_model="credit-approval",
        owner="credit-ml@example.com",
        contact="credit-oncall@example.com",
        risk_tier="high",
        code_version="3f9c2ab",
        node_selector={"ml-platform/pool": "cpu"},
        train_node_selector={"ml-platform/pool": "l4"},
        train_tolerations=(GPU_TOLERATION,),
        train_resources=StepResources(cpu="2", memory="8Gi", cpu_limit="4", gpus=1),
    )
    template, cron = render(params)
    assert cron is not None
    objects = [res(WORKFLOW_TEMPLATE, template, "wt"), res(CRON_WORKFLOW, cron, "cron")]
    assert len(argo_pods(WORKFLOW_TEMPLATE, template)) == 7
    found = [f"{v.policy}: {v.message}" for r in k8s_rules.RULES for v in runner.evaluate(r, objects)]
    assert found == []


def test_every_rule_has_both_kinds_of_case() -> None:
    names = {r.name for r in k8s_rules.RULES}
    violating = {c.policy for c in CASES if c.violates}
    compliant = {c.policy for c in CASES if not c.violates}
    assert len(names) >= 18
    assert names <= violating, sorted(names - violating)
    assert names <= compliant, sorted(names - compliant)


def test_unknown_image_is_reported_as_undecidable_not_crashing() -> None:
    """An image that is a Pulumi output unknown at preview: the engine reports the rule as unable to run."""
    props = deploy(ctr(image="[unknown]"))
    found = runner.evaluate(rule("k8s-image-pinned"), runner.resource(DEPLOYMENT, props, name="app"))
    assert [v.level for v in found] == ["advisory"] and found[0].message.startswith("can't run policy")


def test_stack_rules_skip_unknown_resources() -> None:
    """A namespace whose name is unknown at preview does not stop the stack rule for the others."""
    stack = [res(NAMESPACE, {"metadata": {"name": "[unknown]"}}, "x"), namespace("mlflow", None)]
    found = runner.evaluate(rule("k8s-namespace-pod-security"), stack)
    assert [v.message for v in found] == [
        "namespace 'mlflow' has no pod-security.kubernetes.io/enforce label: pods are admitted unchecked"
    ]


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev"])
def test_reference_stack_passes_and_the_gpu_allowlist_is_what_admits_dcgm(stack: str) -> None:
    """The reference stacks have no mandatory violation of these rules; without the GPU-system allowlist,
    the DCGM exporter (root + SYS_ADMIN on EKS, privileged on GKE, hostPath) would be flagged."""
    resources = runner.from_synthesis(synth_stack(stack))
    mandatory = []
    for r in k8s_rules.RULES:
        if r.enforcement_level is not None and r.enforcement_level.value == "mandatory":
            mandatory += [f"{v.policy} {v.name}: {v.message}" for v in runner.evaluate(r, resources)]
    assert mandatory == []
    dcgm_ds = [r for r in resources if r.type == DAEMONSET and r.inputs["metadata"]["name"] == "dcgm-exporter"]
    assert len(dcgm_ds) == 1
    flagged = {
        name
        for name in ("k8s-pod-not-privileged", "k8s-pod-non-root", "k8s-pod-no-host-path", "k8s-pod-seccomp")
        if runner.evaluate(rule(name), dcgm_ds, config=NO_EXEMPTIONS)
    }
    expected = {"k8s-pod-non-root", "k8s-pod-no-host-path"}
    expected |= {"k8s-pod-not-privileged", "k8s-pod-seccomp"} if stack.startswith("gcp") else set()
    assert flagged == expected
