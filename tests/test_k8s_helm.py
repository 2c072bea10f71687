"""The Helm harness (tests/helm.py, tests/charts/): the packaged charts, the pinned Helm, what a render
returns. That every release of every stack renders (and more) is test_k8s_rendered_releases.py."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from components.k8s import base
from tests import helm
from tests.conftest import STACK_NAMES, synth_stack
from tests.k8s_cluster import RELEASE


def test_packaged_charts_are_the_recorded_upstream_packages() -> None:
    """Every tgz in tests/charts is listed in charts.yaml with its sha256 (from the chart cache's
    INDEX.md), and matches it; nothing listed is missing."""
    listed = helm.packaged_charts()
    on_disk = {p.name for p in helm.CHARTS_DIR.glob("*.tgz")}
    assert on_disk == {f"{name}-{c['version']}.tgz" for name, c in listed.items()}
    for name, entry in listed.items():
        assert helm.sha256(helm.chart_path(name)) == entry["sha256"], f"{name}-{entry['version']}.tgz was changed"
        assert entry["source"].startswith("github.com/"), name


def test_charts_manifest_records_the_pins() -> None:
    """`pin` in charts.yaml is the version the code installs: a re-pin shows up here."""
    pins = {}
    for stack in STACK_NAMES:
        for rel in synth_stack(stack).of_type(RELEASE):
            pins[helm.chart_name(rel.inputs["chart"])] = rel.inputs["version"]
    listed = helm.packaged_charts()
    assert set(pins) <= set(listed)
    assert {name: listed[name]["pin"] for name in pins} == pins


def test_helm_is_the_pinned_release() -> None:
    out = subprocess.run([helm.require_helm(), "version", "--short"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(helm.HELM_VERSION)


def test_a_chart_that_refuses_its_values_raises_with_the_charts_message() -> None:
    with pytest.raises(helm.HelmError, match="ClusterPushSecrets"):
        helm.render("external-secrets", {"processPushSecret": False}, namespace="x")


def test_render_returns_hooks_and_pod_templates() -> None:
    objs = helm.render("argo-workflows", {}, namespace="argo", release="argo-workflows")
    (job,) = helm.of_kind(objs, "Job")
    assert helm.hook_phases(job) == {"pre-install", "pre-upgrade"}
    assert helm.pod_template(job)["spec"]["restartPolicy"] == "Never"  # type: ignore[index]
    assert helm.pod_template(helm.named(objs, "ServiceAccount", "argo-workflows-crd-install")) is None


def test_values_are_sent_as_given() -> None:
    """The values file is the dict itself (JSON is YAML): strings that look like numbers stay strings."""
    objs = helm.render(
        "prometheus-pushgateway",
        {"podLabels": {"version": "1.10", "flag": "true"}},
        namespace=base.NS_MONITORING,
        release="pushgateway",
    )
    (deploy,) = helm.of_kind(objs, "Deployment")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert labels["version"] == "1.10" and labels["flag"] == "true"
    assert yaml.safe_dump(labels)  # plain data, no custom YAML types
