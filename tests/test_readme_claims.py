"""Claims of README.md and policy/README.md that no other test held: the make targets, the rule counts,
the cloud-neutral k8s layer, the plan's JSON contract, the stack outputs, and every quoted `mlplat`
command line. Each test quotes the passage it backs."""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from infra import cli
from infra.cost import estimate
from infra.render import plan_document
from policy import runner

from .conftest import synth_stack

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
POLICY_README = (ROOT / "policy" / "README.md").read_text()


def recipe(target: str) -> str:
    """The recipe lines of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)*)", text, flags=re.MULTILINE)
    assert match, target
    return match.group(1)


def test_make_plan_and_make_test_do_what_the_two_commands_say() -> None:
    """ "make plan ... prints the offline plan of the default stack (aws-dev)"; "`STACK=aws-prod make plan`
    plans another stack"; "make test ... runs lint (ruff), type check (pyright) and all tests";
    "CI (`.ci/run`) runs `make test`"; "make bench # plan timings; see benchmarks/plan_bench.py"."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^STACK\s*\?=\s*aws-dev$", makefile, flags=re.MULTILINE)  # ?= : the environment overrides it
    assert "mlplat plan --stack $(STACK)" in recipe("plan")
    assert re.search(r"^test: lint typecheck pytest$", makefile, flags=re.MULTILINE)
    assert "ruff check ." in recipe("lint") and "ruff format --check ." in recipe("lint")
    assert "pyright" in recipe("typecheck")
    assert re.fullmatch(r"\t\$\(BIN\)/pytest -q\n", recipe("pytest"))  # every test under testpaths
    assert "benchmarks/plan_bench.py" in recipe("bench")
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test"


def test_make_setup_installs_every_extra() -> None:
    """ "`make setup`, which installs every extra": each extra's packages are among those the set-up installs."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def packages(names: list[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            for req in extras[name]:
                nested = re.fullmatch(r"ml-platform\[([\w,-]+)\]", req)
                out |= packages(nested.group(1).split(",")) if nested else {req}
        return out

    installed = re.search(r"pip install [-\w ]*-e '\.\[([\w,-]+)\]'", (ROOT / "Makefile").read_text())
    assert installed
    chosen = packages(installed.group(1).split(","))
    for extra in extras:
        assert packages([extra]) <= chosen, (extra, packages([extra]) - chosen)


def _packs() -> dict[str, runner.Pack]:
    return {p.name: p for p in runner.load_packs()}


def test_the_guardrails_table_counts_the_rules_of_each_pack() -> None:
    """ "| security | 115 (AWS 39, GCP 47, Kubernetes and GPU 29) |", "| responsible AI | 23 |" and the
    counts in the headings of policy/README.md's rule tables."""
    packs = _packs()
    names = {"security": "ml-platform-security", "responsible AI": "ml-platform-responsible-ai"}
    names |= {"deploy": "ml-platform-deploy", "deploy readiness": "ml-platform-deploy"}
    rows = re.findall(r"^\| ([\w -]+?) \| (\d+)( \([^)]*\))? \|", README, flags=re.MULTILINE)
    assert rows
    for label, count, detail in rows:
        rules = packs[names[label]].rules
        assert int(count) == len(rules), label
        prefixes = {"AWS": ("aws-",), "GCP": ("gcp-",), "Kubernetes and GPU": ("k8s-", "gpu-")}
        for part, number in re.findall(r"([A-Za-z ]+?) (\d+)", detail or ""):
            assert int(number) == sum(r.name.startswith(prefixes[part.strip()]) for r in rules), (label, part)
    for name, count in re.findall(r"^### (ml-platform-[\w-]+) \((\d+) rules\)$", POLICY_README, flags=re.MULTILINE):
        assert int(count) == len(packs[name].rules), name


def test_the_kubernetes_layer_imports_no_cloud_sdk() -> None:
    """ "The layers above the cloud foundation consume only the small interface in components/foundation.py
    ... — never a cloud SDK"."""
    forbidden = ("pulumi_aws", "pulumi_gcp", "components.aws", "components.gcp", "boto3", "google.cloud")
    for path in sorted((ROOT / "components" / "k8s").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            bad = [m for m in modules if m.startswith(forbidden)]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.fixture(scope="module")
def prod_plan() -> dict:
    syn = synth_stack("aws-prod")
    return plan_document(syn, estimate(syn))


def test_the_plan_json_has_the_contracts_fields(prod_plan: dict) -> None:
    """ "The JSON plan is a contract: `stack`, `cloud`, `environment`, `resources` (each with `urn`, `type`,
    `name`, `parent`, `custom`, `inputs` in engine form — camelCase, secrets redacted — and `options`),
    `outputs`, `cost` (`currency`, `hourly_min`, `hourly_max`, `monthly_min`, `monthly_max`, `items` with
    `name`, `kind`, `hourly_min`, `hourly_max`)"; costs "for the GPU, system and CPU worker pools at min and
    max size, the control plane, NAT gateways, interface endpoints and the database; storage and data
    transfer depend on use and are left out". (`policy`: tests/policy/test_check_cli.py.)"""
    doc = prod_plan
    assert {"stack", "cloud", "environment", "resources", "outputs", "cost"} <= set(doc)
    for r in doc["resources"]:
        assert {"urn", "type", "name", "parent", "custom", "inputs", "options"} <= set(r), r["urn"]
    cluster = next(r for r in doc["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    assert "vpcConfig" in cluster["inputs"] and "vpc_config" not in cluster["inputs"]  # engine form
    provider = next(r for r in doc["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    cost = doc["cost"]
    assert {"currency", "hourly_min", "hourly_max", "monthly_min", "monthly_max", "items"} <= set(cost)
    for item in cost["items"]:
        assert {"name", "kind", "hourly_min", "hourly_max"} <= set(item)
    kinds = {i["kind"] for i in cost["items"]}
    assert {"gpu-pool", "node-pool", "control-plane", "nat", "database"} <= kinds
    names = " ".join(i["name"] for i in cost["items"]).lower()
    assert "system" in names and "worker" in names and "endpoint" in names, names
    assert "storage" in cost["excludes"] and "data transfer" in cost["excludes"]


def test_the_stack_outputs_the_readme_lists_exist(prod_plan: dict) -> None:
    """ "Stack outputs: `clusterName`, `kubeconfig` (secret ...), `buckets`, `registryUrls`, ... `gpuPools`"."""
    passage = README[README.index("Stack outputs:") :]
    passage = passage[: passage.index("\n\n")]
    listed = [name for name in re.findall(r"`(\w+)`", passage) if name != "redis"]
    assert len(listed) >= 12
    assert set(listed) <= set(prod_plan["outputs"]), sorted(set(listed) - set(prod_plan["outputs"]))
    assert prod_plan["outputs"]["kubeconfig"] == "[secret]"


def _quoted_commands(text: str) -> list[list[str]]:
    commands = []
    for raw in text.splitlines():
        line = raw.split("  #")[0].strip()
        if line.startswith(".venv/bin/mlplat "):
            commands.append(shlex.split(line)[1:])
    return commands


# `mlplat demo --keep-serving ...; --format json; --help` and `--workdir DIR` (README, "Local end-to-end demo")
DEMO = ["demo", "--keep-serving", "--format", "json", "--workdir", "DIR"]


@pytest.mark.parametrize(
    "args",
    [*_quoted_commands(README), *_quoted_commands(POLICY_README), DEMO],
    ids=lambda a: " ".join(a)[:60],
)
def test_every_quoted_mlplat_command_line_parses(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Each `.venv/bin/mlplat ...` line quoted in README.md and policy/README.md names a real command and
    real options (`--help` after them: parsed, not run)."""
    assert cli.main([*args, "--help"]) == 0, capsys.readouterr().err
