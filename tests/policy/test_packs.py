"""The packs as wholes: how the Pulumi CLI loads them, their metadata, their environment config files,
every rule covered by cases, and the reference stacks passing with no waivers."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy import runner, waivers
from policy.rule import META_RULES, ResourceRule
from tests.policy import (
    test_deploy,
    test_responsible_ai,
    test_security_aws,
    test_security_gcp,
    test_security_kubernetes,
)

REPO = Path(__file__).resolve().parents[2]
PACKS = {p.name: p for p in runner.load_packs()}
SECURITY = PACKS["ml-platform-security"]
RAI = PACKS["ml-platform-responsible-ai"]
DEPLOY = PACKS["ml-platform-deploy"]
ALL_CASES = [
    *test_deploy.CASES,
    *test_security_aws.CASES,
    *test_security_gcp.CASES,
    *test_security_kubernetes.CASES,
    *test_responsible_ai.CASES,
]
RULE_ID = re.compile(r"^(aws|gcp|k8s|gpu|rai|deploy)-[a-z0-9]+(-[a-z0-9]+)*$")


def test_pack_sizes() -> None:
    assert len(SECURITY.rules) >= 40
    assert len(RAI.rules) >= 15
    security_clouds = {r.name.split("-")[0] for r in SECURITY.rules}
    assert {"aws", "gcp", "k8s", "gpu"} <= security_clouds
    assert len(DEPLOY.rules) >= 15
    assert all(r.name.startswith("deploy-") for r in DEPLOY.rules)


@pytest.mark.parametrize("pack", PACKS.values(), ids=lambda p: p.name)
def test_every_rule_is_documented_and_mapped(pack: runner.Pack) -> None:
    for rule in pack.rules:
        assert RULE_ID.match(rule.name), rule.name
        assert rule.description.endswith("."), rule.name
        assert rule.remediation_steps and len(rule.remediation_steps) > 15, rule.name
        assert rule.severity is not None and rule.enforcement_level is not None, rule.name
        fw = rule.framework
        assert fw is not None and fw.reference, rule.name
        if pack is RAI:
            assert fw.name == "NIST AI RMF", rule.name
            assert re.match(r"^(GOVERN|MAP|MEASURE|MANAGE) \d+\.\d+", fw.reference), (rule.name, fw.reference)
            assert fw.specification and re.match(r"^EU AI Act (Art\. \d+|Annex [IVX]+)", fw.specification), rule.name
        else:
            assert fw.name in ("checkov", "AWS Config", "ml-platform"), rule.name
            if fw.name == "checkov":
                assert re.search(r"CKV2?_(AWS|GCP|K8S)_\d+|AVD-", fw.reference), (rule.name, fw.reference)
        if isinstance(rule, ResourceRule):
            assert rule.types or rule.applies_to is not None, rule.name


def test_every_rule_has_a_violating_and_a_compliant_case() -> None:
    covered: dict[str, set[bool]] = {}
    for case in ALL_CASES:
        covered.setdefault(case.policy, set()).add(case.violates)
    for pack in PACKS.values():
        for rule in pack.rules:
            assert covered.get(rule.name) == {True, False}, f"{rule.name}: cases {covered.get(rule.name)}"


# --- loading as the Pulumi CLI does -----------------------------------------------------------------


def _serve(pack_dir: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """`pulumi-analyzer-policy-python` runs `python -m pulumi.policy ENGINE PACK_DIR` and reads the port;
    `env`: what the environment of `pulumi preview` adds."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(pack_dir)],
        cwd=pack_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        proc.kill()
        raise AssertionError(f"the pack did not print its port: {line!r} {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return proc, int(line)


@pytest.mark.parametrize(
    ("pack_name", "resource"),
    [
        (
            "ml-platform-security",
            runner.resource(
                "kubernetes:apps/v1:Deployment",
                {
                    "metadata": {"name": "x", "namespace": "team-a"},
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [{"name": "x", "image": "x", "securityContext": {"privileged": True}}]
                            }
                        }
                    },
                },
            ),
        ),
        (
            "ml-platform-responsible-ai",
            runner.resource(
                "kubernetes:serving.kserve.io/v1beta1:InferenceService",
                {
                    "metadata": {
                        "name": "x",
                        "namespace": "team-a",
                        "annotations": {"ml-platform/risk-tier": "prohibited"},
                    },
                    "spec": {"predictor": {"model": {"storageUri": "s3://mlp-models/x"}}},
                },
            ),
        ),
        (
            "ml-platform-deploy",
            runner.resource(
                "gcp:container/cluster:Cluster",
                {"name": "x", "securityPostureConfig": {"vulnerabilityMode": "VULNERABILITY_BASIC"}},
            ),
        ),
    ],
)
def test_pack_directory_loads_and_analyzes_as_the_cli_runs_it(pack_name: str, resource: runner.Resource) -> None:
    pack = PACKS[pack_name]
    proc, port = _serve(pack.directory)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
            assert info.name == pack.name
            assert [p.name for p in info.policies] == [p.name for p in pack.policies]
            assert all(p.framework.reference for p in info.policies)
            resolved = runner.resolve_pack_config(pack, runner.read_pack_config(pack.config_file("prod")))
            stub.Configure(runner.configure_request(resolved), timeout=20)
            response = stub.Analyze(runner.analyze_request(resource), timeout=20)
            mandatory = [d for d in response.diagnostics if d.enforcementLevel == proto.MANDATORY]
            assert mandatory, [d.message for d in response.diagnostics]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_deploy_pack_reads_the_dependency_graph_as_the_cli_sends_it() -> None:
    """Under the CLI, AnalyzeStack carries each resource's dependencies, property dependencies and parent: the
    deploy pack served as the CLI serves it flags a binding created in parallel with its cluster, and not one
    whose parent component waits for the cluster."""
    from tests.policy.test_deploy import _cluster, _services, _wi, res

    proc, port = _serve(DEPLOY.directory)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            resolved = runner.resolve_pack_config(DEPLOY, runner.read_pack_config(DEPLOY.config_file("prod")))
            stub.Configure(runner.configure_request(resolved), timeout=20)
            racing = res("gcp:serviceaccount/iAMMember:IAMMember", "racing", _wi)
            waiting = res("gcp:serviceaccount/iAMMember:IAMMember", "waiting", _wi, parent=_services)
            request = runner.stack_request([_cluster, _services, racing, waiting])
            response = stub.AnalyzeStack(request, timeout=20)
            flagged = {
                d.urn for d in response.diagnostics if d.policyName == "deploy-gcp-workload-identity-after-cluster"
            }
            assert flagged == {racing.urn}
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _privileged(name: str) -> runner.Resource:
    container = {"name": "app", "image": "app", "securityContext": {"privileged": True}}
    spec = {"template": {"spec": {"containers": [container]}}}
    return runner.resource("kubernetes:apps/v1:Deployment", {"metadata": {"name": name}, "spec": spec}, name=name)


def test_waivers_from_the_environment_are_applied_and_listed_in_preview(tmp_path: Path) -> None:
    """Under the Pulumi CLI the pack reads its waivers from `$ML_PLATFORM_POLICY_WAIVERS`: the waived
    resource gets no mandatory violation, and the advisory stack rule `waivers-in-effect` lists it."""
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waiver_file = tmp_path / "waivers.yaml"
    waiver_file.write_text(
        "waivers:\n"
        "  - policy: k8s-pod-not-privileged\n"
        "    resource: 'waived-*'\n"
        "    reason: the GPU driver installer needs it until the operator ships (TICKET-3)\n"
        f"    expires: {expires}\n"
    )
    waived, other = _privileged("waived-installer"), _privileged("other")
    proc, port = _serve(SECURITY.directory, {waivers.ENV_FILE: str(waiver_file)})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            resolved = runner.resolve_pack_config(SECURITY, runner.read_pack_config(SECURITY.config_file("prod")))
            stub.Configure(runner.configure_request(resolved), timeout=20)
            flagged = set()
            for r in (waived, other):  # the CLI: Analyze for each resource, then AnalyzeStack
                for d in stub.Analyze(runner.analyze_request(r), timeout=20).diagnostics:
                    if d.policyName == "k8s-pod-not-privileged":
                        assert d.enforcementLevel == proto.MANDATORY
                        flagged.add(r.name)
            assert flagged == {"other"}
            stack = stub.AnalyzeStack(runner.stack_request([waived, other]), timeout=20).diagnostics
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not [d.message for d in stack if d.policyName == "waivers-valid"]
    (in_effect,) = [d for d in stack if d.policyName == "waivers-in-effect"]
    assert in_effect.enforcementLevel == proto.ADVISORY
    assert f"'k8s-pod-not-privileged' waived until {expires}: " in in_effect.message
    assert "TICKET-3" in in_effect.message and "'app'" in in_effect.message


# --- per-environment enforcement ----------------------------------------------------------------------


@pytest.mark.parametrize("pack", PACKS.values(), ids=lambda p: p.name)
def test_environment_configs_load_and_tighten_towards_prod(pack: runner.Pack) -> None:
    levels = {}
    for env in ("dev", "staging", "prod"):
        path = pack.config_file(env)
        assert path.is_file(), path
        resolved = runner.resolve_pack_config(pack, runner.read_pack_config(path), str(path))
        levels[env] = {name: level for name, (level, _) in resolved.items()}
    rank = {"disabled": 0, "advisory": 1, "mandatory": 2, "remediate": 2}
    for rule in pack.rules:
        dev, staging, prod = (rank[levels[e][rule.name]] for e in ("dev", "staging", "prod"))
        assert dev <= staging <= prod, rule.name
        default = rule.enforcement_level.value if rule.enforcement_level else "advisory"
        assert prod == 2 or default == "advisory", f"{rule.name} is not mandatory in prod"
        if "prod-only" in (rule.tags or []):
            assert levels["dev"][rule.name] == "advisory", rule.name
    for name in META_RULES:
        assert levels["prod"][name] == ("mandatory" if name == "waivers-valid" else "advisory")


def test_bad_pack_config_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"no-such-rule": "mandatory"}))
    with pytest.raises(runner.PolicyConfigError, match=r"no-such-rule.*not a policy"):
        runner.resolve_pack_config(SECURITY, runner.read_pack_config(bad), str(bad))
    bad.write_text(json.dumps({"all": "sometimes"}))
    with pytest.raises(runner.PolicyConfigError, match="not an enforcement level"):
        runner.resolve_pack_config(SECURITY, runner.read_pack_config(bad), str(bad))


# --- the reference stacks -----------------------------------------------------------------------------


def test_the_repository_carries_no_waivers() -> None:
    assert waivers.load(waivers.DEFAULT_FILE).waivers == ()


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod", "gcp-dev", "gcp-prod"])
def test_reference_stack_has_no_mandatory_violation(stack: str) -> None:
    from tests.conftest import synth_stack

    report = runner.check_synthesis(synth_stack(stack))
    mandatory = [f"{v.policy} {v.name}: {v.message}" for v in report.violations if v.level == "mandatory"]
    assert not mandatory, "\n".join(mandatory)
    assert report.count("waived") == 0
    cant_run = [v.message for v in report.violations if v.message.startswith("can't run policy")]
    assert not cant_run, cant_run
    assert report.evaluations > report.resources  # every resource met several rules


def test_readme_lists_every_rule() -> None:
    from policy.report import rules_markdown

    readme = (REPO / "policy" / "README.md").read_text()
    assert readme.endswith(rules_markdown(list(PACKS.values()))), "regenerate: mlplat policies --format markdown"
