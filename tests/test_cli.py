"""`mlplat` as a user runs it: exit codes, one-line errors, the plan in both formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import cli
from infra import config as cfg

from .conftest import raw_platform, write_stack

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_table_shows_tree_types_and_cost(capsys):
    code, out, err = run(capsys, "plan", "--stack", "aws-dev")
    assert code == 0, err
    assert "aws-dev (aws us-west-2, dev)" in out
    assert "ml-platform:aws:GpuNodePool mlp-aws-gpu-l4" in out
    assert "Resources by type" in out and "aws:eks/cluster:Cluster" in out
    assert "Estimated cost" in out and "g6.xlarge x 0-2 spot (est.)" in out


def test_plan_json_contract(capsys):
    code, out, _ = run(capsys, "plan", "--stack", "aws-prod", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["stack"], doc["cloud"], doc["environment"]) == ("aws-prod", "aws", "prod")
    resources = doc["resources"]
    assert all({"urn", "type", "name", "parent", "custom", "inputs"} <= set(r) for r in resources)
    urns = {r["urn"] for r in resources}
    assert all(r["parent"] in urns for r in resources if r["parent"])  # a closed tree
    cluster = next(r for r in resources if r["type"] == "aws:eks/cluster:Cluster")
    assert cluster["custom"] is True and cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster["parent"].endswith("ml-platform:aws:EksCluster::mlp-aws-eks")
    cost = doc["cost"]
    assert cost["currency"] == "USD"
    assert {"hourly_min", "hourly_max", "monthly_min", "monthly_max", "items"} <= set(cost)
    kinds = {i["kind"] for i in cost["items"]}
    assert {"gpu-pool", "node-pool", "control-plane", "nat", "database"} <= kinds
    assert all({"name", "kind", "hourly_min", "hourly_max"} <= set(i) for i in cost["items"])
    h100 = next(i for i in cost["items"] if i["name"] == "h100-train")
    assert h100["hourly_min"] == 0 and h100["hourly_max"] == pytest.approx(4 * 55.04, rel=0.2)
    assert cost["monthly_max"] == pytest.approx(cost["hourly_max"] * 730, rel=1e-3)
    assert cost["hourly_min"] < cost["hourly_max"]


def test_plan_json_records_each_resources_dependencies(capsys):
    """What orders each resource in `pulumi up`: explicit depends_on, the inputs other resources' outputs feed,
    and the parent; the deploy-readiness pack's ordering rules read the same edges."""
    code, out, _ = run(capsys, "plan", "--stack", "aws-prod", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    by_urn = {r["urn"]: r for r in doc["resources"]}
    assert all({"all", "dependsOn", "properties", "parent"} <= set(r["dependencies"]) for r in doc["resources"])
    cluster = next(r for r in doc["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    deps = cluster["dependencies"]
    role = by_urn[deps["properties"]["roleArn"][0]]
    assert role["type"] == "aws:iam/role:Role"  # roleArn is the role's output
    explicit = {by_urn[u]["type"] for u in deps["dependsOn"]}
    assert {"aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:cloudwatch/logGroup:LogGroup"} <= explicit
    assert deps["parent"] == cluster["parent"] and cluster["parent"] in deps["all"]
    assert set(deps["dependsOn"]) | {u for us in deps["properties"].values() for u in us} <= set(deps["all"])
    assert "aws:index/getCallerIdentity:getCallerIdentity" in doc["lookups"]


def test_check_deploy_blocks_example_values_until_the_stack_is_real(capsys, tmp_path):
    """`mlplat check --deploy` (the deploy workflow's offline gate) stops a stack that still carries the
    reference stack's example account, documentation CIDR and example.com owners; with real values and
    the account pinned (`aws:allowedAccountIds`, which the offline graph then uses too) it passes."""
    example = (ROOT / "stacks/Pulumi.aws-dev.yaml").read_text()
    path = tmp_path / "Pulumi.team-dev.yaml"
    path.write_text(example)
    code, out, _ = run(capsys, "check", "--stack-file", str(path), "--deploy", "-f", "json")
    assert code == 1
    blocking = {v["message"].split("'")[1] for v in json.loads(out)["violations"] if v["level"] == "mandatory"}
    assert {"123456789012", "203.0.113.0/24", "example.com"} <= blocking
    real = (
        example.replace("123456789012", "210987654321")
        .replace("203.0.113.0/24", "100.64.10.0/24")
        .replace("example.com", "acme.io")
        .replace("config:\n", "config:\n  aws:allowedAccountIds: ['210987654321']\n", 1)
    )
    path.write_text(real)
    code, out, _ = run(capsys, "check", "--stack-file", str(path), "--deploy", "-f", "json")
    assert code == 0, [v["message"] for v in json.loads(out)["violations"] if v["level"] == "mandatory"]


def test_plan_writes_output_file_and_takes_a_stack_file(capsys, tmp_path):
    target = tmp_path / "plan.json"
    path = write_stack(tmp_path, raw_platform("aws-dev"), "fork")
    code, out, _ = run(capsys, "plan", "--stack-file", str(path), "-f", "json", "--output", str(target))
    assert code == 0 and out == ""
    doc = json.loads(target.read_text())
    assert doc["stack"] == "fork"
    assert any(r["name"] == "mlp-aws-gpu-l4" for r in doc["resources"])
    table = tmp_path / "plan.txt"
    assert run(capsys, "plan", "--stack", "aws-dev", "-o", str(table))[0] == 0
    assert "Estimated cost" in table.read_text() and "\x1b[" not in table.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan"], "mlplat: give exactly one of --stack NAME or --stack-file PATH"),
        (["plan", "--stack", "a", "--stack-file", "b"], "mlplat: give exactly one of --stack NAME"),
        (["plan", "--stack", "nope"], "stacks/Pulumi.nope.yaml: no such stack file (stacks: "),
        (["plan", "--stack", "aws-dev", "--format", "xml"], "mlplat: "),
        (["plan", "--bogus"], "mlplat: "),
        (["catalog", "--cloud", "azure"], "mlplat: unknown cloud 'azure'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, args, message):
    code, _out, err = run(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(message), err
    assert "Traceback" not in err


def test_config_error_exit_2_names_file_and_key(capsys, tmp_path):
    p = raw_platform("aws-prod")
    p["gpuPools"][1]["accelerator"] = "nvidia-h1000"
    path = write_stack(tmp_path, p)
    code, _, err = run(capsys, "plan", "--stack-file", str(path))
    assert code == 2
    assert err.strip().endswith(
        "Pulumi.x.yaml: platform.gpuPools[1].accelerator: unknown accelerator 'nvidia-h1000' (known: "
        "nvidia-a100-40gb, nvidia-a100-80gb, nvidia-a10g, nvidia-h100-80gb, nvidia-h200-141gb, nvidia-l4, "
        "nvidia-l40s, nvidia-t4)"
    )


def test_console_script_exit_status_and_no_traceback(tmp_path):
    """The installed entry point, as a separate process: real exit status and real stderr."""
    p = raw_platform("aws-dev")
    p["network"]["cidr"] = "10.0.0.0/8"
    path = write_stack(tmp_path, p)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack-file", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.count("\n") == 1 and "platform.network.cidr: 10.0.0.0/8: the VPC needs a /16 to /20" in proc.stderr
    )


def test_catalog_lists_machines_and_prices(capsys):
    code, out, _ = run(capsys, "catalog", "--cloud", "aws")
    assert code == 0
    assert "p5.48xlarge" in out and "nvidia-h100-80gb" in out and "a3-highgpu-8g" not in out


def test_new_stack_forks_a_valid_stack(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, "STACKS_DIR", tmp_path)
    (tmp_path / "Pulumi.aws-dev.yaml").write_text((ROOT / "stacks/Pulumi.aws-dev.yaml").read_text())
    code, _out, err = run(capsys, "new-stack", "team-dev", "--from", "aws-dev")
    assert code == 0, err
    forked = tmp_path / "Pulumi.team-dev.yaml"
    assert forked.read_text().startswith("# Forked from Pulumi.aws-dev.yaml")
    assert cfg.load_stack_file(forked)[0].region == "us-west-2"
    assert run(capsys, "new-stack", "team-dev")[0] == 2  # never overwrites
    assert run(capsys, "new-stack", "Bad_Name")[0] == 2


def test_program_time_error_is_one_line_exit_2(capsys, monkeypatch):
    """Errors only the cloud can answer (here: no zone offers the machine) are user errors too."""
    from infra.mocks import PlatformMocks

    monkeypatch.setattr(PlatformMocks, "unavailable", {"g6.xlarge": {"us-west-2a", "us-west-2b"}})
    code, _out, err = run(capsys, "plan", "--stack", "aws-dev")
    assert code == 2
    assert err == (
        "stacks/Pulumi.aws-dev.yaml: gpuPools 'l4': nvidia-l4 (g6.xlarge) is not offered in us-west-2a, us-west-2b; "
        "pick another accelerator, region or zone\n"
    )


def test_plan_json_for_gcp_prod_prices_gcp_machines(capsys):
    code, out, _ = run(capsys, "plan", "--stack", "gcp-prod", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["cloud"], doc["region"]) == ("gcp", "us-central1")
    items = {i["name"]: i for i in doc["cost"]["items"]}
    assert "a3-highgpu-8g x 0-4" in items["h100-train"]["detail"]
    assert items["gke control plane"]["kind"] == "control-plane"
    assert {"gpu-pool", "node-pool", "control-plane", "nat", "database"} <= {i["kind"] for i in items.values()}
    assert any(r["type"] == "gcp:container/nodePool:NodePool" for r in doc["resources"])
    code, out, _ = run(capsys, "plan", "--stack", "gcp-dev")
    assert code == 0 and "gcp-dev (gcp us-central1, dev)" in out
