"""`mlplat render` and `mlplat check --render` as a user runs them: the manifests `pulumi up` would apply,
one file per Helm release, and the security pack's Kubernetes rules over what the charts install.

The charts are the packages vendored in tests/charts, found by the exact version each release pins.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from infra import cli, manifests
from infra.synth import Synthesis
from policy import runner
from tests import helm
from tests.k8s_cluster import RELEASE, api_versions
from tests.k8s_schema import is_kubernetes, manifest

MISSING_HELM = (
    "mlplat: helm not found: install Helm v4 (https://helm.sh/docs/intro/install/) or run make .venv/bin/helm"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def charts_dir(tmp_path: Path, *, without: str = "", extra: dict[str, Path] | None = None) -> Path:
    """A charts directory: links to the packages in tests/charts (less the chart `without`), plus `extra`."""
    out = tmp_path / "charts"
    out.mkdir()
    for package in sorted(helm.CHARTS_DIR.glob("*.tgz")):
        if without and package.name.startswith(f"{without}-"):
            continue
        (out / package.name).symlink_to(package)
    for name, target in (extra or {}).items():
        (out / name).unlink(missing_ok=True)
        (out / name).symlink_to(target)
    return out


def test_render_writes_one_manifest_per_release_as_helm_renders_it(capsys, tmp_path, aws_prod: Synthesis):
    """`mlplat render --stack aws-prod --charts tests/charts --output DIR`: platform.yaml with the program's own
    Kubernetes objects, and per release DIR/<release>.yaml holding exactly what Helm renders for it (the
    release's chart, namespace, name and values, CRDs unless it skips them, with the stack's CRD API groups)."""
    out = tmp_path / "manifests"
    out.mkdir()
    (out / "retired.yaml").write_text(f"{manifests.HEADER_MARK} --stack aws-prod: Helm release 'retired'\n")
    (out / "notes.yaml").write_text("mine: true\n")

    code, stdout, err = run(capsys, "render", "--stack", "aws-prod", "--charts", str(helm.CHARTS_DIR), "-o", str(out))

    assert code == 0, err
    syn = aws_prod
    releases = syn.of_type(RELEASE)
    assert len(releases) >= 12
    expected = {"platform.yaml", "notes.yaml"} | {f"{r.inputs['name']}.yaml" for r in releases}
    assert {p.name for p in out.iterdir()} == expected  # an earlier render's file for a gone release is removed
    kube, apis = syn.spec.cluster.kubernetes_version, api_versions(syn)
    for record in releases:
        text = (out / f"{record.inputs['name']}.yaml").read_text()
        assert text.startswith(f"{manifests.HEADER_MARK} --stack aws-prod: Helm release '{record.inputs['name']}'")
        header = text[: text.index("\n---\n")]
        assert "Pulumi mocks" in header and f"in namespace {record.inputs['namespace']}" in header
        objects = manifests.parse(text)
        assert objects == helm.release_objects(record.inputs, kube_version=kube, api_versions=apis), record.name
        assert f"{record.inputs['name']}.yaml" in stdout  # the index
    platform = manifests.parse((out / "platform.yaml").read_text())
    assert platform == [manifest(r) for r in syn.resources if is_kubernetes(r)]
    assert "platform.yaml" in stdout and "Helm v4" in stdout


def test_render_without_output_writes_one_stream_to_stdout(capsys):
    """Without --output: the platform's objects, then each release's, as one stream; the summary on stderr."""
    code, stdout, err = run(capsys, "render", "--stack", "gcp-dev", "--charts", str(helm.CHARTS_DIR))
    assert code == 0, err
    summary = re.fullmatch(r"(\d+) objects: (\d+) of the platform's own, (\d+) Helm releases \(.*\) in [\d.]+s\n", err)
    assert summary, err
    objects, platform, releases = map(int, summary.groups())
    assert len(manifests.documents(stdout)) == objects > platform > 0
    assert stdout.count(manifests.HEADER_MARK) == 1 + releases and releases >= 10
    first = manifests.parse(stdout[: stdout.index(f"{manifests.HEADER_MARK} --stack gcp-dev: Helm release")])
    assert len(first) == platform and all(o["metadata"]["labels"]["ml-platform/stack"] == "gcp-dev" for o in first)


@pytest.mark.parametrize("args", [["render", "--stack", "aws-dev"], ["check", "--stack", "aws-dev", "--render"]])
def test_without_helm_it_says_how_to_get_it(capsys, monkeypatch, args):
    monkeypatch.setattr(manifests, "helm_binary", lambda: None)
    code, _, err = run(capsys, *args, "--charts", str(helm.CHARTS_DIR))
    assert (code, err) == (2, MISSING_HELM + "\n")


@pytest.fixture(scope="module")
def aws_dev_pins(aws_dev: Synthesis) -> dict[str, str]:
    return {helm.chart_name(r.inputs["chart"]): r.inputs["version"] for r in aws_dev.of_type(RELEASE)}


@pytest.mark.parametrize("case", ["missing", "other-version", "other-chart"])
def test_a_missing_chart_names_the_chart_its_version_and_where_it_looked(capsys, tmp_path, aws_dev_pins, case):
    pin = aws_dev_pins["kube-prometheus-stack"]
    package = f"kube-prometheus-stack-{pin}.tgz"
    extra = {
        "missing": {},
        "other-version": {"kube-prometheus-stack-1.0.0.tgz": helm.chart_path("kube-prometheus-stack")},
        "other-chart": {package: helm.chart_path("prometheus-pushgateway")},
    }[case]
    charts = charts_dir(tmp_path, without="kube-prometheus-stack", extra=extra)
    code, _, err = run(capsys, "render", "--stack", "aws-dev", "--charts", str(charts))
    assert code == 2 and err.count("\n") == 1, err
    where = f"mlplat: release kube-prometheus-stack: chart kube-prometheus-stack {pin}: "
    assert err.startswith(where), err
    if case == "other-chart":
        version = helm.packaged_charts()["prometheus-pushgateway"]["version"]
        assert f"holds chart prometheus-pushgateway {version}, not the pinned version" in err
    else:
        assert f"no {package} in {charts}" in err
        assert ("(it has kube-prometheus-stack-1.0.0.tgz)" in err) == (case == "other-version")


def test_a_chart_helm_cannot_fetch_is_one_line_naming_the_repository(tmp_path, monkeypatch):
    """Without --charts Helm pulls the pinned chart from its repository; when it cannot (no network here),
    the error names the chart, the version and the repository it tried."""
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var))
    release = manifests.Release(
        urn="urn:pulumi:x::ml-platform::kubernetes:helm.sh/v3:Release::demo",
        name="demo",
        chart="demo-chart",
        version="1.2.3",
        repo="http://127.0.0.1:9/charts",  # the discard port: nothing listens
        namespace="demo",
        values={},
        skip_crds=False,
    )
    source = manifests.ChartSource(helm.require_helm(), None, tmp_path / "work")
    with pytest.raises(manifests.ChartNotFoundError) as raised:
        source.locate(release)
    message = raised.value.one_line()
    assert message.startswith(
        "release demo: chart demo-chart 1.2.3: Helm could not fetch it from http://127.0.0.1:9/charts demo-chart ("
    ), message
    assert message.endswith("give --charts DIR with demo-chart-1.2.3.tgz")


# --- check --render ------------------------------------------------------------------------------------------


def package(path: Path, name: str, version: str, template: str) -> Path:
    """A packaged chart `name` at `version` with one template."""
    files = {
        f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n",
        f"{name}/values.yaml": "{}\n",
        f"{name}/templates/main.yaml": template,
    }
    with tarfile.open(path, "w:gz") as tar:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_chart_that_refuses_its_values_is_one_line_naming_the_release(capsys, tmp_path, aws_dev: Synthesis):
    (release,) = [r for r in aws_dev.of_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
    version = release.inputs["version"]
    guard = '{{ fail "set autoDiscovery.clusterName" }}\n'
    bad = package(tmp_path / "bad.tgz", "cluster-autoscaler", version, guard)
    charts = charts_dir(tmp_path, without="cluster-autoscaler", extra={f"cluster-autoscaler-{version}.tgz": bad})
    code, _, err = run(capsys, "render", "--stack", "aws-dev", "--charts", str(charts))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"mlplat: release cluster-autoscaler: helm template cluster-autoscaler-{version}.tgz: Error:")
    assert err.rstrip().endswith("set autoDiscovery.clusterName"), err


def privileged_chart(path: Path, name: str, version: str) -> Path:
    """A packaged chart `name` at `version` whose one Deployment runs a privileged container: what a
    third-party chart can ship whatever values the platform gives it."""
    return package(
        path,
        name,
        version,
        """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      serviceAccountName: agent
      containers:
        - name: agent
          image: registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.0
          securityContext:
            privileged: true
""",
    )


def test_check_render_catches_a_privileged_pod_a_chart_installs(capsys, tmp_path, aws_dev: Synthesis):
    """The release's values are clean, so the plain check (what `pulumi preview` shows a pack) passes it; with
    --render the chart's privileged Deployment is a mandatory violation naming the release and the object, in
    the JSON and SARIF reports."""
    (release,) = [r for r in aws_dev.of_type(RELEASE) if r.inputs["name"] == "cluster-autoscaler"]
    version = release.inputs["version"]
    bad = privileged_chart(tmp_path / "bad.tgz", "cluster-autoscaler", version)
    charts = charts_dir(tmp_path, without="cluster-autoscaler", extra={f"cluster-autoscaler-{version}.tgz": bad})
    name = "cluster-autoscaler/Deployment/kube-system/cluster-autoscaler-agent"

    plain = runner.check_synthesis(aws_dev)  # `mlplat check --stack aws-dev`
    assert not plain.failed and not any(name in v.name for v in plain.violations)

    code, out, err = run(capsys, "check", "--stack", "aws-dev", "--render", "--charts", str(charts), "-f", "json")
    assert code == 1, err
    doc = json.loads(out)
    (found,) = [v for v in doc["violations"] if v["policy"] == "k8s-pod-not-privileged"]
    assert found["level"] == "mandatory" and found["name"] == name
    assert found["type"] == "kubernetes:apps/v1:Deployment"
    assert found["urn"].startswith(release.urn.rsplit("::", 1)[0] + "$kubernetes:apps/v1:Deployment::")
    assert "container 'agent'" in found["message"] and "is privileged" in found["message"]
    (stack,) = doc["stacks"]
    assert stack["rendered"] > 100 and stack["resources"] > stack["rendered"]
    # only the security pack reads the charts' objects
    assert {v["pack"] for v in doc["violations"] if "$kubernetes:helm.sh/v3:Release$" in v["urn"]} == {
        "ml-platform-security"
    }

    sarif_file = tmp_path / "policy.sarif"
    args = ["check", "--stack", "aws-dev", "--render", "--charts", str(charts), "-f", "sarif", "-o", str(sarif_file)]
    code, _, err = run(capsys, *args)
    assert code == 1, err
    results = json.loads(sarif_file.read_text())["runs"][0]["results"]
    (result,) = [r for r in results if r["ruleId"] == "ml-platform-security/k8s-pod-not-privileged"]
    assert result["level"] == "error" and name in result["message"]["text"]
    assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == found["urn"]


def test_check_render_options_are_checked_before_any_work(capsys, tmp_path):
    code, _, err = run(capsys, "check", "--stack", "aws-dev", "--charts", str(helm.CHARTS_DIR))
    assert (code, err) == (2, "mlplat: --charts goes with --render\n")
    code, _, err = run(capsys, "check", "--program", str(tmp_path), "--render")
    assert code == 2 and err.startswith("mlplat: --render renders a platform stack's Helm releases"), err
    code, _, err = run(capsys, "render", "--stack", "aws-dev", "--charts", str(tmp_path / "nowhere"))
    assert (code, err) == (2, f"mlplat: --charts {tmp_path / 'nowhere'}: no such directory\n")


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod", "gcp-dev", "gcp-prod"])
def test_reference_stacks_pass_the_security_pack_over_what_their_charts_install(capsys, stack):
    """The charts' own pods meet the mandatory pod rules too, through the values the platform gives them
    (node-exporter drops ALL capabilities and escalation and uses the runtime's seccomp profile; the Grafana
    sidecars, the operator's admission Jobs and Envoy Gateway's certgen Job have resources; the device plugin
    says its device-list strategy, so the chart adds no CAP_SYS_ADMIN); only the device plugin chart's
    config-manager containers, which no value reaches, are exempt by name."""
    code, out, err = run(capsys, "check", "--stack", stack, "--render", "--charts", str(helm.CHARTS_DIR), "-f", "json")
    doc = json.loads(out)
    mandatory = [f"{v['policy']}: {v['name']}: {v['message']}" for v in doc["violations"] if v["level"] == "mandatory"]
    assert (code, mandatory) == (0, []), err
    (report,) = doc["stacks"]
    assert report["rendered"] > 300
