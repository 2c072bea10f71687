"""Binary Authorization: the project policy a cluster that enforces it is checked against.

`binary_authorization.evaluation_mode = PROJECT_SINGLETON_POLICY_ENFORCE` on the cluster only says
"check images against the project's policy"; a project without a policy has the default one, whose
default rule is `ALWAYS_ALLOW`, so nothing is checked. This component writes that policy:

* default rule `ALWAYS_DENY`, enforced (`ENFORCED_BLOCK_AND_AUDIT_LOG`): an image that matches nothing
  below is refused at admission;
* `globalPolicyEvaluationMode: ENABLE`: Google's system policy admits the images GKE runs itself
  (kube-system, gmp-system, GPU driver installers, ...), so the cluster can start;
* an allowlist of the platform's own Artifact Registry repositories (`REPO/**`: any image in them) and,
  for third-party images, exactly the image repositories the platform's charts and components pull
  (`REPO:*` for tags, `REPO@*` for digests: `*` does not match `/`, so no sibling path is admitted).

The allowlist is what the platform pins today; `tests/test_gcp_deploy.py` checks every image the
synthesized prod stack names against it, and a fork that adds a chart adds its images here.
Attestations (signed builds) are the stronger model; an allowlist is the one that needs nothing the
platform does not build.

The policy is a project singleton: destroying it restores the default (allow everything).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pulumi
import pulumi_gcp as gcp

from components.context import PlatformContext

# Third-party image repositories the platform runs on GKE (with the chart or component that pulls
# them); the tags are pinned where they are used (components/k8s/*.py, chart defaults at the pin).
THIRD_PARTY_IMAGES: tuple[str, ...] = (
    # external-secrets (components/k8s/secrets.py)
    "ghcr.io/external-secrets/external-secrets",
    # cert-manager (components/k8s/serving.py)
    "quay.io/jetstack/cert-manager-controller",
    "quay.io/jetstack/cert-manager-webhook",
    "quay.io/jetstack/cert-manager-cainjector",
    "quay.io/jetstack/cert-manager-startupapicheck",
    "quay.io/jetstack/cert-manager-acmesolver",
    # Envoy Gateway: the controller (also its certgen job and the proxies' shutdown manager) and the
    # Envoy proxy image compiled into v1.9 (api/v1alpha1/shared_types.go DefaultEnvoyProxyImage)
    "docker.io/envoyproxy/gateway",
    "docker.io/envoyproxy/envoy",
    # KServe v0.20 (controller, its kube-rbac-proxy, and what it injects into predictor pods)
    "docker.io/kserve/kserve-controller",
    "docker.io/kserve/agent",
    "docker.io/kserve/router",
    "docker.io/kserve/storage-initializer",
    "quay.io/brancz/kube-rbac-proxy",
    # Kueue, Kubeflow Trainer and its JobSet, the training runtime
    "registry.k8s.io/kueue/kueue",
    "ghcr.io/kubeflow/trainer/trainer-controller-manager",
    "registry.k8s.io/jobset/jobset",
    "docker.io/pytorch/pytorch",
    # kube-prometheus-stack, Pushgateway
    "quay.io/prometheus-operator/prometheus-operator",
    "quay.io/prometheus-operator/prometheus-config-reloader",
    "quay.io/prometheus/prometheus",
    "quay.io/prometheus/alertmanager",
    "quay.io/prometheus/node-exporter",
    "quay.io/prometheus/pushgateway",
    "registry.k8s.io/kube-state-metrics/kube-state-metrics",
    "ghcr.io/jkroepke/kube-webhook-certgen",  # kube-prometheus-stack's admission-webhook certificate Jobs
    "docker.io/grafana/grafana",
    "quay.io/kiwigrid/k8s-sidecar",
    # Argo Workflows (the CRD install job runs kubectl)
    "quay.io/argoproj/workflow-controller",
    "quay.io/argoproj/argocli",
    "quay.io/argoproj/argoexec",
    "registry.k8s.io/kubectl",
    # the model registry, the feature store, GPU metrics
    "ghcr.io/mlflow/mlflow",
    "quay.io/feastdev/feature-server",
    "nvcr.io/nvidia/k8s/dcgm-exporter",
    # the Cloud SQL Auth Proxy beside the database's IAM-authenticated clients (components/gcp/database.py)
    "gcr.io/cloud-sql-connectors/cloud-sql-proxy",
)


def allowlist(registries: Iterable[pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    """The name patterns: every image of the platform's registries, then each third-party repository by
    tag or digest."""
    patterns: list[pulumi.Input[str]] = [pulumi.Output.concat(r, "/**") for r in registries]
    for repo in THIRD_PARTY_IMAGES:
        patterns += [f"{repo}:*", f"{repo}@*"]
    return patterns


class ImagePolicy(pulumi.ComponentResource):
    policy: gcp.binaryauthorization.Policy

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        project_id: str,
        *,
        registries: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`registries`: the platform's Artifact Registry repositories (URL without a trailing `/`)."""
        super().__init__("ml-platform:gcp:ImagePolicy", name, None, opts)
        self.policy = gcp.binaryauthorization.Policy(
            f"{name}-policy",
            project=project_id,
            description=f"ml-platform {ctx.stack}: the platform's registries and the images its charts pull",
            global_policy_evaluation_mode="ENABLE",
            admission_whitelist_patterns=[
                gcp.binaryauthorization.PolicyAdmissionWhitelistPatternArgs(name_pattern=p)
                for p in allowlist(registries.values())
            ],
            default_admission_rule=gcp.binaryauthorization.PolicyDefaultAdmissionRuleArgs(
                evaluation_mode="ALWAYS_DENY", enforcement_mode="ENFORCED_BLOCK_AND_AUDIT_LOG"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"policy": self.policy.id})
