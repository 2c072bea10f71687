"""What every service of the Kubernetes layer shares: the context, pinned Helm charts, namespaces
with Pod Security labels, the restricted security contexts, labels, and network-policy pieces.

The layer is cloud-neutral: it reads only `Foundation` (kube provider, buckets, registry, database,
GPU pools, `bind_identity`) and the stack's `services` settings. Every object the platform owns is
a typed `pulumi_kubernetes` resource or a custom resource whose schema is checked in the tests;
third-party controllers come from Helm releases pinned to an exact chart version, with every image
pinned by tag in the values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from components.foundation import GPU_TAINT_KEY, Foundation
from infra.config import ServicesSpec

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]

PART_OF = "ml-platform"
GPU_RESOURCE = "nvidia.com/gpu"
LABEL_TEAM = "ml-platform/team"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_NAME = "app.kubernetes.io/name"

# The namespaces of the platform's services: fixed names, so team network policies, alert rules and
# the policy packs can refer to them without plumbing.
NS_GPU = "gpu-system"
NS_KARPENTER = "karpenter"
NS_KUEUE = "kueue-system"
NS_TRAINER = "kubeflow-system"
NS_CERT_MANAGER = "cert-manager"
NS_KSERVE = "kserve"
NS_MLFLOW = "mlflow"
NS_MONITORING = "monitoring"
NS_FEAST = "feast"
NS_ARGO = "argo"


def team_namespace_selector() -> dict[str, Any]:
    """Label selector (plain dict) of the team namespaces: the tenancy component labels them part-of
    ml-platform with their team; the platform's own namespaces carry `ml-platform/team: platform`."""
    return {
        "matchLabels": {"app.kubernetes.io/part-of": PART_OF},
        "matchExpressions": [
            {"key": LABEL_TEAM, "operator": "Exists"},
            {"key": LABEL_TEAM, "operator": "NotIn", "values": ["platform"]},
        ],
    }


# Priority classes (Kueue WorkloadPriorityClass and scheduling PriorityClass share the values):
# serving outranks training, so a traffic spike can take GPUs back from a batch job, never the reverse.
PRIORITY_SERVING = "serving"
PRIORITY_TRAINING = "training"
PRIORITY_BATCH = "batch"


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one exact version. `repo` is an https chart repository, or empty when
    `name` is a full `oci://` reference."""

    name: str
    version: str
    repo: str = ""

    def __post_init__(self) -> None:
        if not self.version or any(c in self.version for c in "^~*><=| "):
            raise ValueError(f"chart {self.name}: '{self.version}' is not an exact version")


@dataclass(frozen=True)
class Image:
    """A container image pinned by tag (never `latest`), and by digest where the chart pins one too
    (`digest`: `sha256:<64 hex>`; the runtime then pulls exactly that image, whatever the tag says)."""

    repository: str
    tag: str
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.tag or self.tag == "latest":
            raise ValueError(f"image {self.repository}: pin a tag, not '{self.tag or 'nothing'}'")
        algo, _, hexa = self.digest.partition(":")
        if self.digest and (algo != "sha256" or len(hexa) != 64 or not all(c in "0123456789abcdef" for c in hexa)):
            raise ValueError(f"image {self.repository}: '{self.digest}' is not a sha256:<64 hex> digest")

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class ServicesContext:
    """Handed to every service component of the layer."""

    ctx: PlatformContext
    foundation: Foundation
    spec: ServicesSpec

    @property
    def kubernetes_version(self) -> str:
        return self.ctx.spec.cluster.kubernetes_version

    def labels(self, component: str, team: str = "platform", **extra: str) -> dict[str, str]:
        """Kubernetes labels for an object the platform owns (values are valid label values)."""
        spec = self.ctx.spec
        labels = {
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            LABEL_COMPONENT: component,
            "ml-platform/stack": self.ctx.stack,
            "ml-platform/environment": spec.environment.value,
            LABEL_TEAM: team,
        }
        labels.update(extra)
        return labels

    def annotations(
        self, team_owner: str | None = None, team_contact: str | None = None, **extra: str
    ) -> dict[str, str]:
        """Ownership annotations (emails are not valid label values); the responsible-AI pack reads them."""
        gov = self.ctx.spec.governance
        owner = team_owner or gov.owner
        contact = team_contact or (gov.contact if team_owner is None else None) or owner
        return {
            "ml-platform/owner": owner,
            "ml-platform/contact": contact,
            "ml-platform/cost-center": gov.cost_center,
            **extra,
        }


def helm_release(
    name: str,
    chart: Chart,
    namespace: str,
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    *,
    skip_crds: bool = False,
    timeout: int = 900,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart. `atomic`: a failed install or upgrade rolls back."""
    oci = chart.name.startswith("oci://")
    if not oci and not chart.repo:
        raise ValueError(f"chart {chart.name}: give the repository or an oci:// reference")
    return k8s.helm.v3.Release(
        name,
        k8s.helm.v3.ReleaseArgs(
            name=name,
            chart=chart.name,
            version=chart.version,
            repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            create_namespace=False,  # the platform creates every namespace, with Pod Security labels
            values=dict(values),
            atomic=True,
            cleanup_on_fail=True,
            max_history=10,
            skip_crds=skip_crds,
            timeout=timeout,
        ),
        opts,
    )


def namespace(
    name: str,
    svc: ServicesContext,
    level: PodSecurityLevel,
    opts: pulumi.ResourceOptions,
    *,
    component: str,
    team: str = "platform",
    owner: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    """A namespace that enforces a Pod Security Standard level. Use "restricted" unless a workload in
    it cannot run so, and say why at the call site."""
    labels = svc.labels(component, team)
    labels.update(
        {
            "kubernetes.io/metadata.name": name,
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/enforce-version": "latest",
            # audit and warn at restricted everywhere: the gap between enforce and restricted stays visible
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }
    )
    labels.update(extra_labels or {})
    return k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels, annotations=svc.annotations(owner)),
        opts=opts,
    )


def restricted_container_security(
    *, read_only_root: bool = True, uid: int | None = None
) -> k8s.core.v1.SecurityContextArgs:
    """The container security context the "restricted" Pod Security Standard asks for."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        run_as_non_root=True,
        run_as_user=uid,
        read_only_root_filesystem=read_only_root,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_pod_security(uid: int = 65532) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_values(uid: int = 65532) -> dict[str, Any]:
    """The same restricted contexts as plain dicts, for Helm values (`podSecurityContext` and
    `securityContext` are the common chart keys)."""
    return {
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def pdb_values(replicas: int, enabled: bool) -> dict[str, Any]:
    """A chart's `podDisruptionBudget` (`enabled`, `minAvailable`): one replica may be evicted at a time,
    and only where more than one runs. `minAvailable: 1` over a single replica would refuse every
    eviction: a node drain (upgrade, scale-down) would hang on it."""
    if enabled and replicas > 1:
        return {"enabled": True, "minAvailable": replicas - 1}
    return {"enabled": False}


def system_tolerations() -> list[dict[str, str]]:
    """Platform controllers run on the system pool (tainted CriticalAddonsOnly)."""
    return [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}]


def system_toleration_args() -> list[k8s.core.v1.TolerationArgs]:
    return [k8s.core.v1.TolerationArgs(key="CriticalAddonsOnly", operator="Exists", effect="NoSchedule")]


def gpu_tolerations() -> list[dict[str, str]]:
    """The toleration of the GPU taint (as a plain dict, for Helm values and custom resources):
    only pods that request GPUs, and the GPU node daemons, carry it."""
    return [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]


def gpu_toleration_args() -> list[k8s.core.v1.TolerationArgs]:
    """`gpu_tolerations()` as typed arguments, for the platform's own pod specs."""
    return [
        k8s.core.v1.TolerationArgs(key=t["key"], operator=t["operator"], effect=t["effect"]) for t in gpu_tolerations()
    ]


# --- network policy pieces ---------------------------------------------------------------------------


def ns_selector(name: str) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": name})


def peer(namespace: str, pod_labels: Mapping[str, str] | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=ns_selector(namespace),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None,
    )


def ports(*numbers: int, protocol: str = "TCP") -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=n, protocol=protocol) for n in numbers]


def dns_egress() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress to the cluster DNS (kube-system, UDP and TCP 53)."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[peer("kube-system", {"k8s-app": "kube-dns"})],
        ports=[*ports(53, protocol="UDP"), *ports(53)],
    )


def default_deny(
    name: str, ns: str, svc: ServicesContext, opts: pulumi.ResourceOptions, *, component: str, team: str = "platform"
) -> k8s.networking.v1.NetworkPolicy:
    """Deny all ingress and egress for every pod of `ns`; allowances are separate policies."""
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=ns, labels=svc.labels(component, team)),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
        ),
        opts=opts,
    )


def network_policy(
    name: str,
    ns: str,
    svc: ServicesContext,
    opts: pulumi.ResourceOptions,
    *,
    component: str,
    policy_name: str,
    pod_labels: Mapping[str, str] | None = None,
    ingress: Sequence[k8s.networking.v1.NetworkPolicyIngressRuleArgs] = (),
    egress: Sequence[k8s.networking.v1.NetworkPolicyEgressRuleArgs] = (),
    team: str = "platform",
) -> k8s.networking.v1.NetworkPolicy:
    """An allowance on top of default-deny; policy types follow the rules given."""
    types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules]
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, namespace=ns, labels=svc.labels(component, team)),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels) if pod_labels else None),
            policy_types=types,
            ingress=list(ingress) or None,
            egress=list(egress) or None,
        ),
        opts=opts,
    )


def custom_resource(
    name: str,
    api_version: str,
    kind: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    spec: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A custom resource (Kueue, Trainer, KServe, Karpenter, Prometheus operator...). Its `spec` is
    checked against the CRD of the pinned chart in the tests (tests/schemas/crds, CEL rules included)."""
    return k8s.apiextensions.CustomResource(
        name, api_version=api_version, kind=kind, metadata=metadata, spec=dict(spec), opts=opts
    )


class CustomObject(pulumi.CustomResource):
    """A custom resource whose fields are not all under `spec` (a Kueue WorkloadPriorityClass has a
    top-level `value`). Registered exactly as `apiextensions.CustomResource` registers its objects."""

    def __init__(
        self,
        resource_name: str,
        api_version: str,
        kind: str,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        fields: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
    ) -> None:
        from pulumi_kubernetes import _utilities

        props: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_utilities.get_version()))
        super().__init__(f"kubernetes:{api_version}:{kind}", resource_name, props, opts)
