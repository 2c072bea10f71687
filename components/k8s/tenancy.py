"""A team's slice of the platform: its namespace and everything that fences it in.

Per team (`teams[]` of the stack):
* Namespace `<team>` enforcing a Pod Security level (see `pod_security_level`), audited and warned at
  restricted so the gap stays visible.
* ResourceQuota: CPU, memory, GPUs (`requests.nvidia.com/gpu`), pods, storage; no LoadBalancer or
  NodePort services (endpoints go through the platform's gateway).
* LimitRange: default requests/limits so a pod without them still counts against quota sanely, and
  a per-container GPU maximum (the largest GPU node).
* NetworkPolicies: default deny in and out, then only what the platform needs: DNS, traffic inside
  the namespace (DDP workers), the model registry, object storage and registries over HTTPS, and
  metrics scraping from the monitoring namespace. The serving gateway reaches no pod here until a
  `ModelDeployment` (model_deployment.py) admits it to that model's pods: an endpoint exists only
  for a model the stack declares, with its governance, and the policy packs have checked it.
* Two ServiceAccounts bound to cloud identities through `Foundation.bind_identity`:
  `workload` (training, pipelines: datasets read-only, the team's prefix of artifacts and models
  read-write) and `inference` (serving: the team's models read-only; its request logs under
  `inference/<team>/` of the logs bucket append-only: written, never read back or deleted).
* Role `team-member` with explicit verbs and resources (no wildcards), bound to the group
  `ml-platform:team:<team>` (map an IAM role / Google group to it).
* The Kueue LocalQueue `default`, pointing at the team's ClusterQueue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import BucketAccess, IdentityAccess, IdentityBinding
from components.k8s import base
from components.k8s.base import ServicesContext
from infra.config import TeamSpec

if TYPE_CHECKING:
    from components.k8s.services import PlatformServices

WORKLOAD_SA = "workload"
INFERENCE_SA = "inference"
TEAM_ROLE = "team-member"
HTTPS = 443

# (apiGroup, resources, verbs): what a team member may do in the team namespace. No wildcards.
_READ = ["get", "list", "watch"]
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
TEAM_RULES: tuple[tuple[str, tuple[str, ...], list[str]], ...] = (
    ("", ("pods", "pods/log", "events", "resourcequotas", "limitranges"), _READ),
    ("", ("configmaps", "persistentvolumeclaims", "services"), _WRITE),
    ("", ("secrets",), ["create", "update", "patch", "delete"]),  # write-only: no reading others' secrets
    ("", ("pods/portforward",), ["create"]),
    ("batch", ("jobs", "cronjobs"), _WRITE),
    ("trainer.kubeflow.org", ("trainjobs",), _WRITE),
    ("trainer.kubeflow.org", ("trainingruntimes",), _READ),
    ("serving.kserve.io", ("inferenceservices",), _WRITE),
    ("kueue.x-k8s.io", ("localqueues", "workloads"), _READ),
    # Argo Workflows (pipelines.py): run the team's templates (the controller runs only Workflows that
    # reference a WorkflowTemplate), watch and delete runs; the templates themselves come from the stack
    ("argoproj.io", ("workflows",), ["get", "list", "watch", "create", "delete"]),
    ("argoproj.io", ("workflowtemplates", "cronworkflows"), _READ),
)


def pod_security_level(team: TeamSpec) -> base.PodSecurityLevel:
    """Restricted for CPU-only teams. Teams that run GPU pods get baseline: the CUDA images ML teams
    use (NGC PyTorch, vLLM, Triton) run as root, which restricted forbids; baseline still refuses
    privileged pods, host namespaces, hostPath volumes and added capabilities."""
    return "baseline" if any(team.gpu_quota.values()) else "restricted"


def gpu_quota_cap(svc: ServicesContext, team: TeamSpec) -> int:
    """The namespace's hard GPU cap. Kueue enforces the fair share (nominal quota + borrowing); the
    ResourceQuota is the backstop, so it must leave room for what the team may borrow inside the
    cohort: every team's quota when borrowing is on, the team's own otherwise."""
    if svc.spec.kueue.enabled and svc.spec.kueue.borrowing:
        return sum(sum(t.gpu_quota.values()) for t in svc.ctx.spec.teams)
    return sum(team.gpu_quota.values())


def identity_access(svc: ServicesContext, team: str, kind: str) -> IdentityAccess:
    buckets = svc.foundation.buckets
    prefix = f"teams/{team}/"
    if kind == WORKLOAD_SA:
        access = (
            BucketAccess(bucket="datasets", mode="read"),
            BucketAccess(bucket="artifacts", prefix=prefix, mode="read-write"),
            BucketAccess(bucket="models", prefix=prefix, mode="read-write"),
        )
    else:
        access = (
            BucketAccess(bucket="models", prefix=prefix, mode="read"),
            # KServe's request logger: <logs>/inference/<namespace>/<model>/... (model_deployment.py)
            BucketAccess(bucket="logs", prefix=f"inference/{team}/", mode="append"),
        )
    missing = [a.bucket for a in access if a.bucket not in buckets]
    if missing:
        raise pulumi.RunError(f"team '{team}': the foundation has no bucket {', '.join(missing)}")
    return IdentityAccess(buckets=access, registry_pull=True)


class TeamNamespace(pulumi.ComponentResource):
    namespace: str
    identities: dict[str, IdentityBinding]

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        team: TeamSpec,
        *,
        services: PlatformServices,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("ml-platform:k8s:TeamNamespace", name, None, opts)
        self.namespace = ns_name = team.name
        labels = svc.labels("tenancy", team.name)
        # After the controllers that put finalizers on what runs in the namespace (Kueue's Workloads): on
        # destroy the namespace then goes first, while they can still release it; uninstalled first, they
        # would leave it Terminating for good.
        finalizing = [c.release for c in (services.kueue, services.trainer) if c is not None]
        ns = base.namespace(
            ns_name,
            svc,
            pod_security_level(team),
            pulumi.ResourceOptions(parent=self, depends_on=finalizing),
            component="tenancy",
            team=team.name,
            owner=team.owner,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])

        def meta(obj_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=obj_name, namespace=ns_name, labels=labels)

        # -- quota and defaults ------------------------------------------------------------------------
        hard = {
            "requests.cpu": str(team.cpu_quota),
            "limits.cpu": str(team.cpu_quota * 2),
            "requests.memory": f"{team.memory_quota_gib}Gi",
            "limits.memory": f"{team.memory_quota_gib}Gi",
            f"requests.{base.GPU_RESOURCE}": str(gpu_quota_cap(svc, team)),
            "pods": "500",
            "persistentvolumeclaims": "50",
            "requests.storage": "5Ti",
            "services.loadbalancers": "0",
            "services.nodeports": "0",
        }
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=meta("team-quota"), spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=hard), opts=in_ns
        )
        max_gpus = max((p.gpus_per_node for p in svc.foundation.gpu_pools), default=0)
        container_max = {base.GPU_RESOURCE: str(max_gpus)} if max_gpus else None
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("team-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={"cpu": "250m", "memory": "512Mi"},
                        default={"cpu": "1", "memory": "1Gi"},
                        max=container_max,
                    )
                ]
            ),
            opts=in_ns,
        )

        # -- identities --------------------------------------------------------------------------------
        self.identities = {}
        for sa in (WORKLOAD_SA, INFERENCE_SA):
            binding = svc.foundation.bind_identity(ns_name, sa, identity_access(svc, team.name, sa))
            self.identities[sa] = binding
            k8s.core.v1.ServiceAccount(
                f"{name}-sa-{sa}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sa, namespace=ns_name, labels=labels, annotations=binding.annotations
                ),
                automount_service_account_token=False,  # pods that need the API opt in
                opts=in_ns,
            )

        # -- RBAC ---------------------------------------------------------------------------------------
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=meta(TEAM_ROLE),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=list(resources), verbs=verbs)
                for group, resources, verbs in TEAM_RULES
            ],
            opts=in_ns,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-rolebinding",
            metadata=meta(TEAM_ROLE),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=TEAM_ROLE),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="Group", name=f"ml-platform:team:{team.name}", api_group="rbac.authorization.k8s.io"
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )

        # -- network ------------------------------------------------------------------------------------
        self._network_policies(name, svc, ns_name, services, in_ns)

        # -- queue ---------------------------------------------------------------------------------------
        kueue = services.kueue
        if kueue is not None:
            base.custom_resource(
                f"{name}-localqueue",
                "kueue.x-k8s.io/v1beta2",
                "LocalQueue",
                meta("default"),
                {"clusterQueue": kueue.cluster_queues[team.name]},
                pulumi.ResourceOptions(parent=self, depends_on=[ns, kueue.release]),
            )
        self.register_outputs({"namespace": ns_name})

    def _network_policies(
        self, name: str, svc: ServicesContext, ns: str, services: PlatformServices, opts: pulumi.ResourceOptions
    ) -> None:
        np = k8s.networking.v1
        base.default_deny(f"{name}-deny", ns, svc, opts, component="tenancy", team=ns)

        def allow(
            suffix: str,
            ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs] | None = None,
            egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None = None,
        ) -> None:
            base.network_policy(
                f"{name}-{suffix}",
                ns,
                svc,
                opts,
                component="tenancy",
                team=ns,
                policy_name=f"allow-{suffix}",
                ingress=ingress or (),
                egress=egress or (),
            )

        allow("dns", egress=[base.dns_egress()])
        same_ns = [np.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())]
        allow(
            "same-namespace",  # DDP / NCCL rendezvous between the workers of one job
            ingress=[np.NetworkPolicyIngressRuleArgs(from_=same_ns)],
            egress=[np.NetworkPolicyEgressRuleArgs(to=same_ns)],
        )
        # object storage, container registries and cloud APIs (STS, secret managers) are HTTPS endpoints
        # outside the cluster; in-cluster and private addresses stay closed
        allow(
            "https-egress",
            egress=[
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(
                            ip_block=np.IPBlockArgs(
                                cidr="0.0.0.0/0", except_=["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
                            )
                        )
                    ],
                    ports=base.ports(HTTPS),
                )
            ],
        )
        endpoints = svc.foundation.workload_identity_endpoints
        if endpoints:  # workload identity tokens: GKE's metadata server, AWS STS through an interface endpoint
            allow(
                "workload-identity",
                egress=[
                    np.NetworkPolicyEgressRuleArgs(
                        to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=cidr))], ports=base.ports(port)
                    )
                    for cidr, port in endpoints
                ],
            )
        registry = services.model_registry
        if registry is not None:
            allow(
                "model-registry",
                egress=[
                    np.NetworkPolicyEgressRuleArgs(
                        to=[base.peer(base.NS_MLFLOW, getattr(registry, "pod_labels", None))],
                        ports=base.ports(int(getattr(registry, "port", 5000))),
                    )
                ],
            )
        feature_store = getattr(services, "feature_store", None)
        if feature_store is not None:
            online = svc.foundation.online_store
            rules = [
                np.NetworkPolicyEgressRuleArgs(
                    to=[base.peer(base.NS_FEAST, feature_store.server_pod_labels)],
                    ports=base.ports(feature_store.ports["feature_server"]),
                ),
                np.NetworkPolicyEgressRuleArgs(
                    to=[base.peer(base.NS_FEAST, feature_store.registry_pod_labels)],
                    ports=base.ports(feature_store.ports["registry"]),
                ),
            ]
            if online is not None:  # materialization writes the cache (a private endpoint: port only)
                rules.append(
                    np.NetworkPolicyEgressRuleArgs(
                        ports=[
                            np.NetworkPolicyPortArgs(
                                port=pulumi.Output.from_input(online.port).apply(int), protocol="TCP"
                            )
                        ]
                    )
                )
            allow("feature-store", egress=rules)
        if services.monitoring is not None:
            allow("metrics-scrape", ingress=[np.NetworkPolicyIngressRuleArgs(from_=[base.peer(base.NS_MONITORING)])])
