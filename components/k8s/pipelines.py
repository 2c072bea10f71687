"""Argo Workflows: the engine of the platform's pipelines, and each team's pipeline identity.

* The argo-workflows chart in the `argo` namespace (Pod Security restricted): the workflow controller
  and the Argo Server on the system nodes, restricted pods, every image pinned (the executor is the
  `-nonroot` argoexec variant). The full CRDs come from the chart's CRD hook Job (on the system nodes
  too), which applies them outside the release: they stay when the release is uninstalled.
* Controller: reads Workflows cluster-wide, but only team namespaces get an identity, an artifact
  repository and the right to create Workflows (the platform creates them; the chart's per-namespace
  service accounts and roles are off, so the release does not change when a team comes or goes), at
  most `services.pipelines.parallelism` workflows
  running at once, and workflow defaults every Workflow inherits: the `pipeline` service account,
  restricted pod security, completed workflows deleted `archiveTtlDays` after they finish (failed ones
  kept as long), pods deleted as each finishes (podGC `OnPodCompletion`: a finished step releases its
  node at once, which matters on GPU pools that scale to zero; its logs are kept in the artifact
  repository, `archiveLogs`). Workflows may only run WorkflowTemplates (`templateReferencing: Strict`):
  what runs is what the stack deployed, with its lineage annotations. Metrics with a ServiceMonitor
  when monitoring is on.
* Artifact repository: one `artifact-repositories` ConfigMap per team namespace (Argo's per-namespace
  default), not the controller-wide setting: the objects are typed and visible to the policy packs, and
  a namespace the platform does not manage gets no repository. AWS: `s3` on the artifacts bucket through
  the regional endpoint with `useSDKCreds` (the step pod's IRSA role); GCP: `gcs` with no key secret
  (Workload Identity). Keys `teams/<namespace>/pipelines/<workflow>/<pod>`: the `pipeline` identity may
  write under `teams/<team>/` of the artifacts bucket only, so IAM, not this ConfigMap, is the fence.
  No access keys anywhere.
* Argo Server: a ClusterIP service only (reach it with `kubectl -n argo port-forward svc/... 2746`),
  TLS (`secure`), `authModes: [client]`: every request runs with the caller's own Kubernetes token, so
  the server holds no credentials and the team RBAC (tenancy.py `TEAM_RULES`) decides. 1 replica, 2 in
  prod. It has no cloud identity: the UI lists runs and logs; artifacts are read from the bucket.
* Per team namespace: ServiceAccount `pipeline` bound to a cloud identity (datasets `features/` and
  `teams/<team>/`, artifacts and models `teams/<team>/`, all read-write; the online store's AUTH secret;
  image pulls); Role `pipeline` with exactly Argo's executor rights (workflowtaskresults create/patch)
  and the rollout step's (InferenceServices get/patch); the Secret `online-store` (key `password`, the
  cache's AUTH token) synced by External Secrets through a SecretStore read as `pipeline`; the
  artifact repository; and a NetworkPolicy that lets workflow pods (and only them) reach the
  Kubernetes API server over 443 (the executor reports results, the rollout step patches).
* Network (argo namespace): default deny; every pod of the release (controller, server, the CRD hook
  Job) reaches DNS and the API server (443, addresses the program cannot pin: EKS control-plane ENIs,
  GKE's endpoint; the 1.x CRD Job also fetches the CRDs from GitHub over 443), and the release is
  installed only after these policies exist, so the hook never starts under a bare default-deny; the
  server accepts 2746 from pods of the cluster only; Prometheus scrapes the controller's metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.foundation import LABEL_ROLE, BucketAccess, IdentityAccess, IdentityBinding
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext
from components.k8s.serving import monitoring_dependencies, release_label

if TYPE_CHECKING:
    from components.k8s.secrets import ExternalSecrets
    from components.k8s.tenancy import TeamNamespace

# argo-helm chart argo-workflows 1.0.18, appVersion Argo Workflows v4.0.6 (argoproj/argo-helm@
# argo-workflows-1.0.18:charts/argo-workflows/Chart.yaml), the version tests/charts packages and renders
# (re-pinned from 2.0.4, which had no upstream tag to test). The images are the chart's defaults (its
# appVersion); the executor is the `-nonroot` variant of the same release, which the chart's default lacks.
ARGO_VERSION = "v4.0.6"
CHART = Chart("argo-workflows", "1.0.18", "https://argoproj.github.io/argo-helm")
CONTROLLER_IMAGE = Image("quay.io/argoproj/workflow-controller", ARGO_VERSION)
EXECUTOR_IMAGE = Image("quay.io/argoproj/argoexec", f"{ARGO_VERSION}-nonroot")
SERVER_IMAGE = Image("quay.io/argoproj/argocli", ARGO_VERSION)

NAMESPACE = base.NS_ARGO
RELEASE = "argo-workflows"
COMPONENT = "pipelines"
SERVICE_ACCOUNT = "pipeline"  # every team's pipeline identity (workflowDefaults use it)
ROLE = "pipeline"
ONLINE_STORE_SECRET = "online-store"  # key `password`: the online store's AUTH token
ARTIFACT_REPOSITORIES = "artifact-repositories"  # the ConfigMap Argo reads in a workflow's namespace
ARTIFACT_REPOSITORY_KEY = "default"
DEFAULT_REPOSITORY_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
KEY_FORMAT = "teams/{{workflow.namespace}}/pipelines/{{workflow.name}}/{{pod.name}}"
SERVER_PORT = 2746
METRICS_PORT = 9090
HTTPS = 443
UID = 65532
WORKFLOW_POD_LABEL = "workflows.argoproj.io/workflow"  # Argo labels every pod of a workflow with it
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
SYSTEM_NODES = {LABEL_ROLE: "system"}
RELEASE_LABELS = {"app.kubernetes.io/instance": RELEASE}  # every pod the chart renders, hooks included
CONTROLLER_LABELS = {"app.kubernetes.io/instance": RELEASE, base.LABEL_COMPONENT: "workflow-controller"}
SERVER_LABELS = {"app.kubernetes.io/instance": RELEASE, base.LABEL_COMPONENT: "server"}

# (apiGroup, resources, verbs) of the `pipeline` service account in its team namespace. Nothing else.
PIPELINE_RULES: tuple[tuple[str, tuple[str, ...], list[str]], ...] = (
    ("argoproj.io", ("workflowtaskresults",), ["create", "patch"]),  # Argo >= 3.4 executor: step results
    ("serving.kserve.io", ("inferenceservices",), ["get", "patch"]),  # the rollout step's canary
)


def ttl_seconds(svc: ServicesContext) -> int:
    days = svc.spec.pipelines.archive_ttl_days
    if days is None:  # resolved by infra/config.py; a spec built by hand may skip that
        days = 30 if svc.ctx.prod else 7
    return days * 24 * 3600


def workflow_defaults(svc: ServicesContext) -> dict[str, Any]:
    """What every Workflow inherits unless it says otherwise (the controller's `workflowDefaults`)."""
    ttl = ttl_seconds(svc)
    sec = base.restricted_values(UID)
    return {
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            # the ServiceAccount mounts no token by default; workflow pods need one: Argo's executor
            # reports each step's results (workflowtaskresults) through the Kubernetes API
            "automountServiceAccountToken": True,
            "securityContext": sec["podSecurityContext"],
            "podGC": {"strategy": "OnPodCompletion"},
            "ttlStrategy": {
                "secondsAfterCompletion": ttl,
                "secondsAfterSuccess": ttl,
                "secondsAfterFailure": ttl,  # failures are kept as long: their logs explain them
            },
        }
    }


def _image(image: Image) -> dict[str, str]:
    registry, _, repository = image.repository.partition("/")
    return {"registry": registry, "repository": repository, "tag": image.tag}


def _placement() -> dict[str, Any]:
    return {"nodeSelector": dict(SYSTEM_NODES), "tolerations": base.system_tolerations()}


def crd_job_values() -> dict[str, Any]:
    """The CRD hook Job (`crds.upgradeJob`): on the system nodes like the controller (without a
    toleration it could only land on the CPU workers, which a stack may turn off), with requests.
    Its image and security context stay the chart's (registry.k8s.io/kubectl at a pinned tag; 2.x charts
    use another image): they already meet the restricted level (non-root, no privilege escalation, all
    capabilities dropped)."""
    return {
        **_placement(),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
    }


def chart_values(svc: ServicesContext, monitoring: Any) -> dict[str, Any]:
    """Values of the argo-workflows chart. No `artifactRepository`: the controller has no repository
    and no keys of its own; each team namespace has its `artifact-repositories` ConfigMap."""
    prod = svc.ctx.prod
    replicas = 2 if prod else 1
    sec = base.restricted_values(UID)
    pod_sec, container_sec = sec["podSecurityContext"], sec["securityContext"]
    return {
        "images": {"pullPolicy": "IfNotPresent"},
        # Full CRDs (the chart's default since argo-helm #3705) are too big for the release Secret: a
        # pre-install/pre-upgrade hook Job applies them server-side (the chart's kubectl image, fetching
        # them from the chart's GitHub tag; argo-helm 2.x replaces it with a crdinstaller image). Its
        # pods reach the API server through the release-wide egress policy (`_network_policies`), run on
        # the system nodes, and the CRDs it applies are not release objects: an uninstall leaves them.
        "crds": {"install": True, "upgradeJob": crd_job_values()},
        "createAggregateRoles": False,  # Argo rights come from the team Role, not from admin/edit/view
        "singleNamespace": False,
        # the platform creates the `pipeline` ServiceAccount and its Role in each team namespace
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "controller": {
            "image": _image(CONTROLLER_IMAGE),
            "replicas": replicas,  # leader election: one active, one standing by in prod
            "pdb": {"enabled": prod, "minAvailable": 1} if prod else {"enabled": False},
            "parallelism": svc.spec.pipelines.parallelism,
            "workflowDefaults": workflow_defaults(svc),
            # only Workflows that run a WorkflowTemplate: what runs is what the stack deployed
            "workflowRestrictions": {"templateReferencing": "Strict"},
            "clusterWorkflowTemplates": {"enabled": False},
            "rbac": {"accessAllSecrets": False, "writeConfigMaps": False},
            "metricsConfig": {"enabled": True, "port": METRICS_PORT, "path": "/metrics"},
            "serviceMonitor": {"enabled": monitoring is not None, "additionalLabels": release_label(monitoring)},
            "podSecurityContext": pod_sec,
            "securityContext": container_sec,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            **_placement(),
        },
        # Argo's init and wait containers in every workflow pod: restricted, with limits (team quotas
        # count limits). The emissary executor works on a read-only root (its files live in a volume).
        "executor": {
            "image": _image(EXECUTOR_IMAGE),
            "securityContext": container_sec,
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            },
        },
        "server": {
            "enabled": True,
            "image": _image(SERVER_IMAGE),
            "replicas": replicas,
            "pdb": {"enabled": prod, "minAvailable": 1} if prod else {"enabled": False},
            "serviceType": "ClusterIP",  # never a LoadBalancer: port-forward, or a gateway the stack adds
            "servicePort": SERVER_PORT,
            "authModes": ["client"],  # the caller's own Kubernetes token: no server-side credentials
            "secure": True,  # TLS on 2746
            "ingress": {"enabled": False},
            "clusterWorkflowTemplates": {"enabled": False},
            "podSecurityContext": pod_sec,
            "securityContext": container_sec,
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],  # read-only root elsewhere
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            **_placement(),
        },
    }


def artifact_repository(cloud: str, bucket: str, region: str) -> dict[str, Any]:
    """An entry of the `artifact-repositories` ConfigMap: the artifacts bucket through workload identity."""
    if cloud == "aws":
        location: dict[str, Any] = {
            "s3": {
                "bucket": bucket,
                "endpoint": f"s3.{region}.amazonaws.com",
                "region": region,
                "useSDKCreds": True,  # the pod's IRSA role, no key secrets
                "keyFormat": KEY_FORMAT,
            }
        }
    elif cloud == "gcp":
        location = {"gcs": {"bucket": bucket, "keyFormat": KEY_FORMAT}}  # no key secret: Workload Identity
    else:
        raise pulumi.RunError(f"pipelines: no artifact repository for cloud '{cloud}'")
    # podGC deletes a step's pod when it ends: its logs are kept next to its artifacts
    return {"archiveLogs": True, **location}


def pipeline_access(svc: ServicesContext, team: str) -> IdentityAccess:
    """What a team's `pipeline` identity may touch: the feature store's offline data, the team's
    prefixes of datasets, artifacts and models, and the online store's AUTH token."""
    prefix = f"teams/{team}/"
    access = (
        BucketAccess(bucket="datasets", prefix="features/", mode="read-write"),
        BucketAccess(bucket="datasets", prefix=prefix, mode="read-write"),
        BucketAccess(bucket="artifacts", prefix=prefix, mode="read-write"),
        BucketAccess(bucket="models", prefix=prefix, mode="read-write"),
    )
    missing = sorted({a.bucket for a in access if a.bucket not in svc.foundation.buckets})
    if missing:
        raise pulumi.RunError(f"pipelines: the foundation has no bucket {', '.join(missing)}")
    online = svc.foundation.online_store
    return IdentityAccess(
        buckets=access,
        secrets=(online.auth_secret,) if online is not None else (),
        registry_pull=True,
    )


class Pipelines(pulumi.ComponentResource):
    """Argo Workflows, and in every team namespace the identity and rights its pipelines run with."""

    namespace: str
    release: k8s.helm.v3.Release
    service_account: str
    team_identities: dict[str, IdentityBinding]

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        *,
        teams: Mapping[str, TeamNamespace],
        secrets: ExternalSecrets | None,
        monitoring: Any = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:k8s:Pipelines", name, None, opts)
        f = svc.foundation
        if f.online_store is not None and secrets is None:
            raise pulumi.RunError("pipelines: the online store's token needs External Secrets (services.secrets)")
        self.namespace = NAMESPACE
        self.service_account = SERVICE_ACCOUNT
        child = pulumi.ResourceOptions(parent=self)

        ns = base.namespace(NAMESPACE, svc, "restricted", child, component=COMPONENT)
        policies = self._network_policies(name, svc, monitoring, pulumi.ResourceOptions(parent=self, depends_on=[ns]))
        self.release = base.helm_release(
            RELEASE,
            CHART,
            NAMESPACE,
            chart_values(svc, monitoring),
            # after the namespace's policies: the CRD hook Job must find its egress allowance in place
            pulumi.ResourceOptions(parent=self, depends_on=[ns, *policies, *monitoring_dependencies(monitoring)]),
        )

        repository = pulumi.Output.from_input(f.buckets["artifacts"].name).apply(
            lambda bucket: yaml.safe_dump(artifact_repository(f.cloud, bucket, f.region), sort_keys=False)
        )
        self.team_identities = {}
        for team, tenant in teams.items():
            self.team_identities[team] = self._team(name, svc, team, tenant, repository, secrets)

        self.register_outputs(
            {
                "namespace": self.namespace,
                "release": self.release.name,
                "team_identities": {team: b.principal for team, b in self.team_identities.items()},
            }
        )

    # -- a team namespace ---------------------------------------------------------------------------------

    def _team(
        self,
        name: str,
        svc: ServicesContext,
        team: str,
        tenant: TeamNamespace,
        repository: pulumi.Output[str],
        secrets: ExternalSecrets | None,
    ) -> IdentityBinding:
        f = svc.foundation
        ns = tenant.namespace
        prefix = f"{name}-{team}"
        labels = svc.labels(COMPONENT, team)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[tenant])

        def meta(obj: str, annotations: Mapping[str, Any] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=obj, namespace=ns, labels=labels, annotations=dict(annotations) if annotations else None
            )

        binding = f.bind_identity(ns, SERVICE_ACCOUNT, pipeline_access(svc, team))
        sa = k8s.core.v1.ServiceAccount(
            f"{prefix}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT, namespace=ns, labels=labels, annotations=binding.annotations
            ),
            # no token unless a pod asks: workflow pods do (workflowDefaults), nothing else running as it does
            automount_service_account_token=False,
            opts=in_ns,
        )
        role = k8s.rbac.v1.Role(
            f"{prefix}-role",
            metadata=meta(ROLE),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=list(resources), verbs=list(verbs))
                for group, resources, verbs in PIPELINE_RULES
            ],
            opts=in_ns,
        )
        k8s.rbac.v1.RoleBinding(
            f"{prefix}-rolebinding",
            metadata=meta(ROLE),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=ROLE),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SERVICE_ACCOUNT, namespace=ns)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[tenant, role, sa]),
        )
        k8s.core.v1.ConfigMap(
            f"{prefix}-artifact-repositories",
            metadata=meta(ARTIFACT_REPOSITORIES, {DEFAULT_REPOSITORY_ANNOTATION: ARTIFACT_REPOSITORY_KEY}),
            data={ARTIFACT_REPOSITORY_KEY: repository},
            opts=in_ns,
        )

        online = f.online_store
        if online is not None and secrets is not None:
            # The namespace's SecretStore (secrets.STORE), read as `pipeline`: the team namespace has no
            # other store, and the only secret `pipeline` may read is the online store's token.
            store = secrets.store(
                f"{prefix}-store",
                ns,
                SERVICE_ACCOUNT,
                pulumi.ResourceOptions(parent=self, depends_on=[sa]),
                component=COMPONENT,
            )
            secrets.sync(
                f"{prefix}-online-store",
                ns,
                ONLINE_STORE_SECRET,
                {"password": f.secret_remote_ref(online.auth_secret, online.auth_secret_property)},
                pulumi.ResourceOptions(parent=self, depends_on=[store]),
                component=COMPONENT,
            )

        # Workflow pods (and only they) reach the API server: the executor's results, the rollout step
        # (the team's https-egress allowance covers public addresses only; the API server is private)
        np = k8s.networking.v1
        np.NetworkPolicy(
            f"{prefix}-api-server",
            metadata=meta("allow-pipeline-api-server"),
            spec=np.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_expressions=[
                        k8s.meta.v1.LabelSelectorRequirementArgs(key=WORKFLOW_POD_LABEL, operator="Exists")
                    ]
                ),
                policy_types=["Egress"],
                egress=[
                    np.NetworkPolicyEgressRuleArgs(
                        to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=cidr)) for cidr in PRIVATE_RANGES],
                        ports=base.ports(HTTPS),
                    )
                ],
            ),
            opts=in_ns,
        )
        return binding

    # -- the argo namespace ---------------------------------------------------------------------------------

    def _network_policies(
        self, name: str, svc: ServicesContext, monitoring: Any, opts: pulumi.ResourceOptions
    ) -> list[k8s.networking.v1.NetworkPolicy]:
        np = k8s.networking.v1
        deny = base.default_deny(f"{name}-default-deny", NAMESPACE, svc, opts, component=COMPONENT)
        # the Kubernetes API server: EKS control-plane ENIs / GKE's endpoint, addresses not known here
        api_server = np.NetworkPolicyEgressRuleArgs(
            to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr="0.0.0.0/0"))], ports=base.ports(HTTPS)
        )
        # Every pod of the release, the Helm hook Job that installs the CRDs included (its labels differ
        # between chart versions; the release label does not): controller, server and hook all talk to
        # the API server and nothing else.
        egress = base.network_policy(
            f"{name}-release-egress",
            NAMESPACE,
            svc,
            opts,
            component=COMPONENT,
            policy_name="argo-workflows-egress",
            pod_labels=RELEASE_LABELS,
            egress=[base.dns_egress(), api_server],
        )
        controller_ingress = []
        if monitoring is not None:
            controller_ingress.append(
                np.NetworkPolicyIngressRuleArgs(
                    from_=[base.peer(getattr(monitoring, "namespace", base.NS_MONITORING))],
                    ports=base.ports(METRICS_PORT),
                )
            )
        policies = [deny, egress]
        if controller_ingress:
            policies.append(
                base.network_policy(
                    f"{name}-controller",
                    NAMESPACE,
                    svc,
                    opts,
                    component=COMPONENT,
                    policy_name="workflow-controller",
                    pod_labels=CONTROLLER_LABELS,
                    ingress=controller_ingress,
                )
            )
        policies.append(
            base.network_policy(
                f"{name}-server",
                NAMESPACE,
                svc,
                opts,
                component=COMPONENT,
                policy_name="argo-server",
                pod_labels=SERVER_LABELS,
                # pods of the cluster only (kubectl port-forward enters the pod directly)
                ingress=[
                    np.NetworkPolicyIngressRuleArgs(
                        from_=[np.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs())],
                        ports=base.ports(SERVER_PORT),
                    )
                ],
            )
        )
        return policies
