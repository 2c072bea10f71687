"""Every Helm release of every stack, rendered by a real Helm with the stack's exact values against the
packaged chart, as `helm install` would see it (tests/release_checks.py):

a. it renders;  b. every values key the platform sets is read by the chart (or allowed in INERT);
c. every object validates strictly;  d. every pod meets the Pod Security level its namespace enforces;
e. no CRD is installed twice;  f. every image is pinned.

The stacks are the four reference stacks and variants that switch on what they leave off: the GPU
Operator (with Karpenter; with MIG and time-slicing), the device plugin's sharing configs with a
Bottlerocket pool, and on GCP a TLS gateway domain and a StorageClass (GKE runs no GPU Operator:
the stack schema refuses it there). Renders are cached and shared across stacks that create the same
release; the value proofs run two Helm renders at a time. The last tests feed known-bad values
through the same checks to show each one catches its class (K1: external-secrets refusing its values).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import pytest

from infra.synth import Synthesis
from tests import k8s_cluster as kc
from tests import pod_security
from tests import release_checks as rc
from tests.conftest import STACK_NAMES, raw_platform, synth_platform
from tests.test_k8s_gpu_monitoring import device_plugin_variant, operator_variant

# --- the stacks -----------------------------------------------------------------------------------------------


def gcp_https_variant() -> Synthesis:
    """gcp-prod with a gateway domain and TLS issuer (KServe's URLs go https) and a StorageClass for
    Prometheus and Alertmanager."""
    platform = raw_platform("gcp-prod")
    platform["services"] = {
        "serving": {"domain": "ml.example.com", "tlsIssuer": "letsencrypt", "internalLoadBalancer": False},
        "monitoring": {"storageClass": "premium-rwo"},
    }
    return synth_platform(platform, "gcp-prod")


VARIANTS: dict[str, Callable[[], Synthesis]] = {
    kc.GPU_OPERATOR_STACK: kc.gpu_operator_stack,
    "aws-prod+gpu-operator+mig+time-slicing": operator_variant,
    "aws-dev+time-slicing+bottlerocket+storage-class": device_plugin_variant,
    "gcp-prod+https+storage-class": gcp_https_variant,
}
STACKS = [*STACK_NAMES, *VARIANTS]


@cache
def cluster(name: str) -> rc.Cluster:
    syn = VARIANTS[name]() if name in VARIANTS else kc.stack(name)
    found = rc.from_synthesis(name, syn)
    rc.render_all(found.releases)
    return found


# --- the allowlist of inert values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Inert:
    """A values key that renders the same whether set or not. `allowed`: the platform sets it by design
    (the reason says why; should the chart start reading it, the values test says to drop the
    allowance); otherwise the platform once set it and must not again (deploy audit K4). No key is
    allowed today: every key the platform sets is read on every stack."""

    chart: str
    path: str
    value: Any  # what the platform sets (allowed) or used to set (removed)
    why: str
    allowed: bool = False
    stack: str = "aws-prod"  # where a removed key is shown inert


INERT: list[Inert] = [
    # K4, removed: dead keys (not keys of the chart at the packaged version)
    Inert("argo-workflows", "useDefaultArtifactRepo", False, "not a key of the chart"),
    Inert(
        "gpu-operator",
        "operator.defaultRuntime",
        "containerd",
        "not a key of the chart (v26.7.0)",
        stack=kc.GPU_OPERATOR_STACK,
    ),
    # K4, removed: read, but without effect given the other values
    Inert("argo-workflows", "useStaticCredentials", False, "read only inside the controller-wide artifactRepository"),
    Inert(
        "argo-workflows",
        "controller.workflowNamespaces",
        ["research", "recsys"],
        "read only by the per-namespace ServiceAccount/Role templates, off (workflow.*.create: false)",
    ),
    Inert("argo-workflows", "crds.keep", True, "annotates only the minimal CRD templates, not the full-CRD Job"),
    Inert(
        "argo-workflows",
        "server.clusterWorkflowTemplates.enableEditing",
        False,
        "read only with clusterWorkflowTemplates.enabled",
    ),
    Inert("kserve-resources", "kserve.certManager.enabled", True, "`| default .Values.kserve.createSharedResources`"),
    *[
        Inert(
            "kube-prometheus-stack",
            f"defaultRules.rules.{rule}",
            False,
            "the rule group renders only with its component enabled, which the platform turns off",
        )
        for rule in (
            "etcd",
            "kubeControllerManager",
            "kubeSchedulerAlerting",
            "kubeSchedulerRecording",
            "kubeProxy",
            "windows",
        )
    ],
    Inert("kube-prometheus-stack", "grafana.testFramework.enabled", False, "grafana 12.11 has no test templates"),
    Inert(
        "gateway-crds-helm",
        "crds.gatewayAPI.channel",
        "standard",
        "read only with gatewayAPI.enabled (off on GKE)",
        stack="gcp-prod",
    ),
]
ALLOWED = {(i.chart, i.path): i.why for i in INERT if i.allowed}


# --- the checks, per stack ----------------------------------------------------------------------------------


def problems(found: rc.Cluster, check: str) -> list[str]:
    """Every problem of one class in a cluster: what the tests below assert is empty."""
    if check == "renders":
        return [p for r in found.releases for p in rc.render_problems(r)]
    rendering = [r for r in found.releases if not rc.render_problems(r)]
    if check == "values":
        rc.prove_all(rendering)
        return [p for r in rendering for p in rc.values_problems(r, ALLOWED)]
    if check == "schemas":
        return [p for r in rendering for p in rc.schema_problems(r)]
    if check == "pod-security":
        return [p for r in rendering for p in rc.pod_security_problems(r, found.namespace_labels())]
    if check == "crds":
        return rc.duplicate_crd_problems(replace(found, releases=tuple(rendering)))
    if check == "images":
        return [p for r in rendering for p in rc.image_problems(r)]
    raise ValueError(check)


@pytest.mark.parametrize("stack", STACKS)
def test_every_release_renders(stack: str) -> None:
    """`helm install` renders the chart first: a chart's `fail` guard or values schema stops the
    release, and everything that depends on it (K1)."""
    assert problems(cluster(stack), "renders") == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_value_the_platform_sets_is_read(stack: str) -> None:
    """A key the chart does not read (a typo, a key of another chart version) or reads without effect
    only pretends to configure something (K4). Shown by render: tests/values_proof.py."""
    assert problems(cluster(stack), "values") == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_validates_strictly(stack: str) -> None:
    """What the API server would refuse, or prune silently (a misspelt field): core objects against the
    cluster version's OpenAPI schema, custom resources against their CRD's."""
    assert problems(cluster(stack), "schemas") == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_meets_its_namespace_pod_security(stack: str) -> None:
    """Pod Security admission refuses a pod (a hook Job's too) that breaks its namespace's level: the
    Deployment stays at zero replicas, a hook fails the release."""
    assert problems(cluster(stack), "pod-security") == []


@pytest.mark.parametrize("stack", STACKS)
def test_no_crd_is_installed_twice(stack: str) -> None:
    """Two installers of one CRD (releases, their hook Jobs, the platform) fight over it: Helm refuses
    to adopt what another release owns, and an uninstall deletes the other's resources."""
    assert problems(cluster(stack), "crds") == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_image_is_pinned(stack: str) -> None:
    """Containers, init containers, and images a controller is handed in args, env or custom resources."""
    assert problems(cluster(stack), "images") == []


# --- the allowlist stays true ------------------------------------------------------------------------------------


def _set(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return out


def _get(values: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


def _release_of(chart: str, stack: str) -> rc.Release:
    (found,) = [r for r in cluster(stack).releases if r.chart == chart]
    return found


@pytest.mark.parametrize("chart", sorted({i.chart for i in INERT if not i.allowed}))
def test_removed_inert_keys_stay_removed_and_inert(chart: str) -> None:
    """The platform sets none of the keys K4 removed, and each still renders the same with its former
    value put back (the reason in INERT holds for the packaged chart)."""
    rows = [i for i in INERT if i.chart == chart and not i.allowed]
    release = _release_of(chart, rows[0].stack)
    assert [i.path for i in rows if _get(release.values, i.path) is not None] == []
    injected = release.values
    for row in rows:
        injected = _set(injected, row.path, row.value)
    assert release.text(injected, cached=False) == release.text(), f"{chart}: one of {[i.path for i in rows]} is read"


# --- tests of the tests: a known-bad case of each class -----------------------------------------------------------


def _known_bad(stack: str, chart: str, change: Callable[[dict[str, Any]], dict[str, Any]], **fields: Any) -> rc.Cluster:
    """A cluster of one release of `stack` (by chart), with its values changed."""
    found = cluster(stack)
    release = _release_of(chart, stack)
    bad = replace(release.with_values(change(release.values)), **fields)
    return replace(found, name=f"{stack} (known bad)", releases=(bad,))


def test_k1_external_secrets_values_from_before_issue_17_fail_the_render_check() -> None:
    """Before issue 17 the platform turned PushSecrets off and left ClusterPushSecrets at the chart's
    default (on): the chart's reconciler-sanity-test `fail`s (external-secrets PR #4896)."""

    def before(values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        assert out.pop("processClusterPushSecret") is False
        return out

    found = problems(_known_bad("aws-prod", "external-secrets", before), "renders")
    assert len(found) == 1 and "does not render" in found[0] and "ClusterPushSecret" in found[0], found


def test_a_dead_and_an_inert_key_fail_the_values_check() -> None:
    """K4's argo keys put back: `useDefaultArtifactRepo` (not a key of the chart) and
    `controller.workflowNamespaces` (read only by templates the values turn off)."""

    def k4(values: dict[str, Any]) -> dict[str, Any]:
        return _set(_set(values, "useDefaultArtifactRepo", False), "controller.workflowNamespaces", ["research"])

    found = problems(_known_bad("aws-prod", "argo-workflows", k4), "values")
    paths = [p.split(": ", 1)[1].split()[0] for p in found]
    assert paths == ["controller.workflowNamespaces", "useDefaultArtifactRepo"], found


def test_a_misspelt_field_fails_the_schema_check() -> None:
    found = problems(
        _known_bad("aws-prod", "prometheus-pushgateway", lambda v: _set(v, "securityContext.runAsUsr", 65534)),
        "schemas",
    )
    assert found and all("runAsUsr" in p for p in found), found


def test_a_privileged_pod_in_a_restricted_namespace_fails_the_pod_security_check() -> None:

    def privileged(values: dict[str, Any]) -> dict[str, Any]:
        return _set(values, "containerSecurityContext.privileged", True)

    bad = _known_bad("aws-prod", "prometheus-pushgateway", privileged)
    assert bad.namespace_labels()[bad.releases[0].namespace][rc.PSA_ENFORCE] == "restricted"
    found = problems(bad, "pod-security")
    assert len(found) == 1 and "violates restricted: privileged" in found[0], found


def test_a_crd_installed_by_two_releases_fails_the_crd_check() -> None:
    """Karpenter's chart ships its CRDs too: installed with them next to the karpenter-crd release."""
    found = cluster(kc.GPU_OPERATOR_STACK)
    karpenter = replace(_release_of("karpenter", kc.GPU_OPERATOR_STACK), skip_crds=False)
    assert problems(found, "crds") == []
    duplicates = problems(found.with_release(karpenter), "crds")
    assert duplicates and all("release karpenter and release karpenter-crd" in p for p in duplicates)
    assert any("nodepools.karpenter.sh" in p for p in duplicates)


def test_an_unpinned_image_fails_the_image_check() -> None:
    latest = _known_bad("aws-prod", "prometheus-pushgateway", lambda v: _set(v, "image.tag", "latest"))
    found = problems(latest, "images")
    assert found and all("quay.io/prometheus/pushgateway:latest is not pinned" in p for p in found), found


def test_an_image_handed_to_a_controller_in_its_args_is_checked() -> None:
    """kube-prometheus-stack hands the operator the config-reloader image in a flag."""
    objs = rc.objects(_release_of("kube-prometheus-stack", "aws-prod"))
    handed = [ref for o in objs for where, ref in rc.images(o) if "prometheus-config-reloader" in where]
    assert handed and all(rc.pinned(ref) for ref in handed)
    assert not rc.pinned("quay.io/prometheus-operator/prometheus-config-reloader")


def test_pod_security_levels_come_from_the_stack_namespaces() -> None:
    labels = cluster("aws-prod").namespace_labels()
    assert rc.enforced(labels["monitoring"], "1.35") == ("restricted", "1.35")
    assert rc.enforced({}, "1.35")[0] == "privileged"  # kube-system: no label
    assert pod_security.checks("restricted", "1.35")


def test_renders_are_shared_across_stacks_that_create_the_same_release() -> None:
    """aws-prod and its GPU Operator variant create the same kueue release (the variant's extra CRDs
    are not API groups kueue's chart asks about): one render, one proof."""
    plain, variant = _release_of("kueue", "aws-prod"), _release_of("kueue", kc.GPU_OPERATOR_STACK)
    assert plain == variant and plain.stack != variant.stack
    assert plain.apis == ()
    every_api = tuple(sorted(kc.api_versions(kc.gpu_operator_stack())))
    assert replace(plain, apis=every_api).text(cached=False) == plain.text()
    # kube-prometheus-stack asks about a few API versions by name: only those are kept
    monitoring = _release_of("kube-prometheus-stack", "aws-prod")
    assert set(monitoring.apis) < set(every_api) and rc.relevant_apis("external-secrets", every_api) == every_api
