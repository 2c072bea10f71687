"""What the charts do with the platform's values, checked with a real Helm (deploy audit K1-K3): the
external-secrets chart renders with only the namespaced reconcilers, the Argo CRD hook can work under
the namespace's default-deny, the GPU Operator's exporter finds the platform's metric list. K4 (no
dead or inert values) is checked for every release in test_k8s_rendered_releases.py.

Charts are the packaged upstream versions in tests/charts (charts.yaml), the versions the platform pins.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.k8s import base, gpu_runtime, pipelines
from infra.synth import Synthesis
from tests import helm
from tests import k8s_cluster as kc
from tests.conftest import STACK_NAMES, synth_stack
from tests.netpol import Pod


def release(syn: Synthesis, name: str) -> dict[str, Any]:
    return syn.one(kc.RELEASE, name).inputs


def render(syn: Synthesis, name: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    inputs = dict(release(syn, name))
    if values is not None:
        inputs["values"] = values
    return helm.release_objects(inputs, kube_version=syn.spec.cluster.kubernetes_version)


# --- K1: external-secrets renders, with only the namespaced reconcilers ------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_external_secrets_renders_with_namespaced_stores_only(stack: str) -> None:
    """The chart `fail`s when PushSecrets are off and ClusterPushSecrets on (its _helpers.tpl
    "reconciler-sanity-test", external-secrets PR #4896); with both off it renders, and the controller
    runs with every cluster-wide reconciler off."""
    objs = render(synth_stack(stack), "external-secrets")
    controller = helm.named(objs, "Deployment", "external-secrets")
    args = set(controller["spec"]["template"]["spec"]["containers"][0]["args"])
    assert {
        "--enable-cluster-store-reconciler=false",
        "--enable-cluster-external-secret-reconciler=false",
        "--enable-push-secret-reconciler=false",
        "--enable-cluster-push-secret-reconciler=false",
    } <= args


# --- K2: Argo's CRD hook Job under the argo namespace's default-deny ---------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_argo_crd_hook_job_reaches_the_api_server(stack: str) -> None:
    """argo-workflows installs its full CRDs with a pre-install/pre-upgrade hook Job (`kubectl apply
    --server-side`); a failed hook fails the (atomic) release. Its pods, with the labels the chart gives
    them, must get DNS and the API server (443) through the namespace's policies, land on a node, and
    the policies must exist before the hook runs (the release depends on them)."""
    syn = synth_stack(stack)
    objs = kc.rendered(syn)[pipelines.RELEASE]
    hooks = [o for o in helm.of_kind(objs, "Job") if "pre-install" in helm.hook_phases(o)]
    assert [j["metadata"]["name"] for j in hooks] == ["argo-workflows-crd-install"]
    cluster = kc.cluster(syn)
    for job in hooks:
        template = helm.pod_template(job)
        assert template is not None
        pod = Pod(pipelines.NAMESPACE, template["metadata"]["labels"], name=job["metadata"]["name"])
        assert cluster.allowed(pod, kc.api_server(syn), 443), f"{pod}: no egress to the API server"
        assert cluster.allowed(pod, kc.DNS, 53, "UDP"), f"{pod}: no DNS"
        assert kc.tolerates_system_nodes(template), f"{pod}: cannot run on the system nodes"
    rel = syn.one(kc.RELEASE, pipelines.RELEASE)
    policies = [
        r.urn
        for r in syn.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == pipelines.NAMESPACE
    ]
    assert policies and set(policies) <= set(rel.dependencies)


def test_argo_crds_stay_outside_the_release() -> None:
    """With full CRDs (the chart's default) no CRD is a release object: uninstalling Argo keeps the
    Workflows of every team. The minimal CRDs the chart would template instead are not rendered."""
    objs = render(synth_stack("aws-prod"), pipelines.RELEASE)
    assert not helm.of_kind(objs, "CustomResourceDefinition")
    assert release(synth_stack("aws-prod"), pipelines.RELEASE)["values"]["crds"]["install"] is True


# --- K3: the GPU Operator's exporter reads the platform's metric list --------------------------------------

# gpu-operator v26.7.0, controllers/object_controls.go: when `dcgmExporter.config.name` is set the
# operator mounts key MetricsConfigFileName of that ConfigMap at MetricsConfigMountPath (subPath) and
# sets DCGM_EXPORTER_COLLECTORS to that path; then it applies `dcgmExporter.env` (setContainerEnv:
# the same name overwrites).
OPERATOR_METRICS_KEY = "dcgm-metrics.csv"
OPERATOR_METRICS_PATH = "/etc/dcgm-exporter/dcgm-metrics.csv"


def test_gpu_operator_exporter_reads_the_platform_metrics() -> None:
    syn = kc.gpu_operator_stack()
    policy = helm.named(render(syn, "gpu-operator"), "ClusterPolicy", "cluster-policy")["spec"]["dcgmExporter"]
    assert policy["enabled"] is True
    (cm,) = [
        o.body
        for o in kc.of_kind(syn, "ConfigMap")
        if o.source == "platform" and o.namespace == base.NS_GPU and o.name == policy["config"]["name"]
    ]
    # the volume's only item is this key: without it the exporter pod never starts
    assert OPERATOR_METRICS_KEY in cm["data"], f"the operator mounts key {OPERATOR_METRICS_KEY}, not {list(cm['data'])}"
    env = {"DCGM_EXPORTER_COLLECTORS": OPERATOR_METRICS_PATH}
    env.update({e["name"]: e["value"] for e in policy.get("env") or []})
    assert env["DCGM_EXPORTER_COLLECTORS"] == OPERATOR_METRICS_PATH
    listed = [line.split(",")[0] for line in cm["data"][OPERATOR_METRICS_KEY].splitlines() if line[:1] != "#"]
    assert set(gpu_runtime.PROFILING_METRICS) <= set(listed)


def test_kserve_webhook_certificate_comes_from_cert_manager() -> None:
    """What `kserve.certManager.enabled` claimed: with the shared resources, the chart issues the
    webhook's certificate through cert-manager (the kserve release depends on cert-manager's)."""
    objs = render(synth_stack("aws-prod"), "kserve")
    assert helm.of_kind(objs, "Certificate") and helm.of_kind(objs, "Issuer")
