"""The Helm harness (tests/helm.py, tests/charts/): the packaged charts, the pinned Helm, what a render
returns. That every release of every stack renders (and more) is test_k8s_rendered_releases.py."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from components.k8s import base
from tests import helm
from tests.conftest import STACK_NAMES
from tests.k8s_cluster import GPU_OPERATOR_STACK, RELEASE
from tests.k8s_cluster import stack as k8s_stack


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
    """The platform installs exactly the chart versions the tests render: `pin` in charts.yaml is the
    version the code installs (every release of the reference stacks and of the variant that turns on
    the GPU Operator and Karpenter), and it equals the packaged `version`. A pin with no package to
    render (the seven charts pinned newer than any packaged upstream tag before issue 18) fails here."""
    pins: dict[str, set[str]] = {}
    for stack in [*STACK_NAMES, GPU_OPERATOR_STACK]:
        for rel in k8s_stack(stack).of_type(RELEASE):
            pins.setdefault(helm.chart_name(rel.inputs["chart"]), set()).add(rel.inputs["version"])
    listed = helm.packaged_charts()
    assert set(pins) == set(listed), "every packaged chart is installed by some stack, every installed one packaged"
    assert {name: {listed[name]["pin"]} for name in pins} == pins
    assert {name: entry["pin"] for name, entry in listed.items()} == {
        name: entry["version"] for name, entry in listed.items()
    }


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


def test_the_readme_lists_every_chart_at_its_pin() -> None:
    """README "Chart versions": "Every chart is pinned to the exact version the tests render", with a
    table of each chart and its pinned version."""
    readme = (helm.ROOT / "README.md").read_text()
    section = readme.split("#### Chart versions", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| ([\w-]+) \| (v?[\d.]+) \| .*\|$", section, flags=re.MULTILINE)
    assert dict(rows) == {name: entry["pin"] for name, entry in helm.packaged_charts().items()}
    assert len(rows) == len(helm.packaged_charts())
