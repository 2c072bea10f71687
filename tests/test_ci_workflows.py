"""The GitHub Actions workflows a fork inherits: valid, free of known security smells (zizmor), using
OIDC instead of stored keys, and wired to files and commands that exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
MATRIX = REPO / ".github" / "scripts" / "stack_matrix.py"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def all_steps(doc: dict) -> list[dict]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def test_zizmor_finds_nothing() -> None:
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    proc = subprocess.run(
        [zizmor, "--offline", "--config", str(REPO / ".github/zizmor.yml"), "--min-severity", "low", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_pull_requests_run_the_tests_and_upload_sarif() -> None:
    ci = load("ci.yml")
    assert set(ci[True]["pull_request"] or {}) <= {"branches"}  # `on:` parses as True in YAML 1.1
    runs = " ".join(s.get("run", "") for s in all_steps(ci))
    assert "make test" in runs
    assert "mlplat check --all --format sarif --output policy.sarif" in runs
    upload = next(s for s in all_steps(ci) if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "policy.sarif" and upload["if"].startswith("always()")
    assert ci["jobs"]["policy"]["permissions"]["security-events"] == "write"


@pytest.mark.parametrize("name", ["preview.yml", "pulumi-up.yml"])
def test_cloud_access_is_oidc_only_with_the_three_packs(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert "aws-access-key-id" not in text and "credentials_json" not in text  # no long-lived keys
    doc = load(name)
    job = next(iter(j for j in doc["jobs"].values() if "steps" in j and "strategy" in j))
    assert job["permissions"]["id-token"] == "write"
    pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    packs = pulumi["with"]["policyPacks"].strip().splitlines()
    configs = pulumi["with"]["policyPackConfigs"].strip().splitlines()
    assert packs == ["policy/security", "policy/responsible_ai", "policy/deploy"]
    for pack, config in zip(packs, configs, strict=True):
        assert (REPO / pack / "PulumiPolicy.yaml").is_file()
        for env in ("dev", "staging", "prod"):
            assert (REPO / config.replace("${{ matrix.environment }}", env)).is_file()


PULUMI_STATE_ENV = {
    "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",  # a self-managed backend: s3://, gs://
    "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",  # or Pulumi Cloud
    "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",  # passphrase-encrypted stacks
}


@pytest.mark.parametrize(("name", "job_name"), [("preview.yml", "preview"), ("pulumi-up.yml", "up")])
def test_the_pulumi_jobs_get_exactly_the_state_settings(name: str, job_name: str) -> None:
    """The state backend reaches `pulumi preview/up` as README says: the variable PULUMI_BACKEND_URL, the
    secrets PULUMI_ACCESS_TOKEN and PULUMI_CONFIG_PASSPHRASE, in the job's environment; nothing else of
    Pulumi's is set, and no step overrides them."""
    doc = load(name)
    assert not any(k.startswith("PULUMI_") for k in doc.get("env") or {})
    job = doc["jobs"][job_name]
    assert {k: v for k, v in job["env"].items() if k.startswith("PULUMI_")} == PULUMI_STATE_ENV
    for step in job["steps"]:
        assert not any(k.startswith("PULUMI_") for k in step.get("env") or {}), step
    pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert not {"cloud-url", "secrets-provider"} & set(pulumi["with"])  # the backend comes from the env only
    text = (WORKFLOWS / name).read_text()
    assert set(re.findall(r"\b(?:vars|secrets)\.(PULUMI_\w+)", text)) == set(PULUMI_STATE_ENV)


def test_deploy_hands_the_reusable_workflow_both_secrets() -> None:
    """deploy.yml calls pulumi-up.yml, which sees only the secrets it is given (the variable it reads itself)."""
    declared = load("pulumi-up.yml")[True]["workflow_call"]["secrets"]
    assert set(declared) == {"PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}
    deploy = load("deploy.yml")
    for job in ("up-dev", "up-prod"):
        assert deploy["jobs"][job]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert deploy["jobs"][job]["secrets"] == {k: f"${{{{ secrets.{k} }}}}" for k in declared}


def test_deploys_wait_for_an_environment_approval_dev_first() -> None:
    deploy = load("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]
    assert deploy["jobs"]["up-prod"]["needs"] == ["stacks", "up-dev"]
    up = load("pulumi-up.yml")["jobs"]["up"]
    assert up["environment"] == "${{ matrix.stack }}"  # a GitHub Environment per stack: reviewers gate it
    gate = next(s for s in up["steps"] if s.get("run", "").startswith(".venv/bin/mlplat check --stack"))
    assert gate["run"].endswith("--deploy")  # example values left in the stack file stop the deploy here
    assert next(s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@"))["with"]["command"] == "up"


def test_make_targets_used_by_workflows_exist() -> None:
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.MULTILINE))
    for wf in WORKFLOWS.glob("*.yml"):
        for target in re.findall(r"\bmake ([a-z-]+)", wf.read_text()):
            assert target in targets, f"{wf.name}: make {target}"


def matrix(value: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ML_PLATFORM_STACKS": value}
    return subprocess.run([sys.executable, str(MATRIX), *args], capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize("name", ["preview.yml", "pulumi-up.yml"])
def test_each_stack_runs_where_it_reaches_its_cluster(name: str) -> None:
    """The job runs on the stack's runner, and GCP jobs get the auth plugin the kubeconfig calls."""
    job = next(iter(j for j in load(name)["jobs"].values() if "steps" in j and "strategy" in j))
    assert job["runs-on"] == "${{ matrix.runsOn }}"
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/setup-gcloud@"))
    assert setup["if"] == "matrix.cloud == 'gcp'" and "gke-gcloud-auth-plugin" in setup["with"]["install_components"]


def test_stack_matrix_lists_only_configured_stacks_by_stage() -> None:
    configured = {
        "aws-prod": {
            "awsRoleArn": "arn:aws:iam::123456789012:role/ml-platform-deploy",
            "runsOn": ["self-hosted", "mlp-aws-prod"],
        },
        "gcp-dev": {
            "gcpWorkloadIdentityProvider": "projects/123/locations/global/workloadIdentityPools/gh/providers/gh",
            "gcpServiceAccount": "mlp-deploy@my-project.iam.gserviceaccount.com",
        },
    }
    proc = matrix(json.dumps(configured), "--by-stage")
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    dev, prod = json.loads(out["dev"]), json.loads(out["prod"])
    assert [d["stack"] for d in dev] == ["gcp-dev"] and dev[0]["region"] == "us-central1"
    assert [p["stack"] for p in prod] == ["aws-prod"] and prod[0]["environment"] == "prod"
    assert prod[0]["runsOn"] == ["self-hosted", "mlp-aws-prod"]
    assert dev[0]["runsOn"] == "ubuntu-24.04"  # GKE's DNS endpoint is reached through IAM, from anywhere
    assert out["any_dev"] == out["any_prod"] == "true"
    empty = matrix("")
    assert empty.returncode == 0 and "any=false" in empty.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"aws-dev": {"awsRoleArn": "AKIAIOSFODNN7EXAMPLE"}}', "is not an IAM role ARN"),
        ('{"nope": {}}', "no stack file"),
        # an EKS endpoint admits only configured CIDRs; a GitHub-hosted runner has no fixed address
        ('{"aws-prod": {"awsRoleArn": "arn:aws:iam::123456789012:role/deploy"}}', "runsOn: name a runner"),
        ('{"aws-prod": {"awsRoleArn": "arn:aws:iam::123456789012:role/deploy", "runsOn": [""]}}', "not a runner label"),
    ],
)
def test_stack_matrix_rejects_bad_settings(value: str, message: str) -> None:
    proc = matrix(value)
    assert proc.returncode != 0 and message in proc.stderr
