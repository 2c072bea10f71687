"""How fast is `mlplat plan`, and does its cost per resource stay flat as a stack grows?

For each stack: the wall time of the real command in a fresh process (what a user and CI wait for,
Python start-up and SDK imports included), best and median of N runs; how much of that a process
spends only importing the CLI, the Pulumi runtime and the provider SDK modules the stack uses (the
fixed floor); and the synthesis time inside one warm process (the part that grows with the stack),
in ms per resource.

    python benchmarks/plan_bench.py [--runs 10] [--stacks aws-dev aws-prod ...]

The "x10" stacks are generated from aws-prod / gcp-prod: many GPU pools, teams, buckets and
repositories (more node pools than a cloud's default quota allows: it measures the program, not a
deployable design).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components import catalog  # noqa: E402
from infra.config import CONFIG_KEY, STACKS_DIR, load_stack_file  # noqa: E402


def scaled(stack: str, pools: int = 80, teams: int = 40, buckets: int = 30, repos: int = 30) -> dict:
    """A copy of `stack` about ten times larger."""
    doc = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
    p = copy.deepcopy(doc["config"][CONFIG_KEY])
    cloud = p["cloud"]
    accels = [a for a in catalog.offered_on(cloud)]
    p["gpuPools"] = [
        {
            "name": f"pool-{i}",
            "accelerator": accels[i % len(accels)],
            "gpusPerNode": catalog.accelerator(accels[i % len(accels)]).offering(cloud).gpu_counts[0],
            "capacity": "spot" if i % 2 else "on-demand",
            "minNodes": 0,
            "maxNodes": 4,
        }
        for i in range(pools)
    ]
    p["teams"] = [
        {"name": f"team-{i}", "owner": f"lead{i}@example.com", "gpuQuota": {accels[i % len(accels)]: 8}}
        for i in range(teams)
    ]
    p["buckets"] = [{"name": f"data-{i}"} for i in range(buckets)]
    p["repositories"] = [{"name": "training"}, {"name": "serving"}] + [{"name": f"repo-{i}"} for i in range(repos)]
    doc["config"][CONFIG_KEY] = p
    return doc


def cold_runs(path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "infra.cli",
                "plan",
                "--stack-file",
                str(path),
                "--format",
                "json",
                "-o",
                "/dev/null",
            ],
            cwd=ROOT,
            check=True,
        )
        times.append(time.perf_counter() - start)
    return times


def warm_synthesis(path: Path, name: str, runs: int) -> tuple[int, float, list[str]]:
    """Resources, best in-process synthesis time, and the SDK modules the stack's resources come from."""
    from infra.synth import synthesize

    spec, config = load_stack_file(path)
    syn = synthesize(name, spec, config)  # first run loads the SDK modules the stack uses
    best = float("inf")
    for _ in range(max(1, runs // 2)):
        start = time.perf_counter()
        syn = synthesize(name, spec, config)
        best = min(best, time.perf_counter() - start)
    modules = sorted(
        {_sdk_class(r.type) for r in syn.custom_resources if r.type.split(":")[0] in ("aws", "gcp") and "/" in r.type}
    )
    return len(syn.resources), best, modules


def _sdk_class(token: str) -> str:
    """aws:ec2/routeTableAssociation:RouteTableAssociation -> pulumi_aws.ec2:RouteTableAssociation"""
    package, path, cls = token.split(":")
    return f"pulumi_{package}.{path.split('/')[0]}:{cls}"


def import_floor(modules: list[str], runs: int) -> float:
    """Best cold time of a process that only imports the CLI, the runtime and those SDK modules."""
    code = "import importlib, infra.cli, infra.synth, infra.program, pulumi_kubernetes\n" + "".join(
        f"getattr(importlib.import_module('{m.split(':')[0]}'), '{m.split(':')[1]}')\n" for m in modules
    )
    times = []
    for _ in range(max(3, runs // 2)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stacks", nargs="*", default=None)
    args = parser.parse_args()

    stacks = args.stacks or [
        s for s in ("aws-dev", "aws-prod", "gcp-dev", "gcp-prod") if (STACKS_DIR / f"Pulumi.{s}.yaml").exists()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Path]] = [(s, STACKS_DIR / f"Pulumi.{s}.yaml") for s in stacks]
        for base in ("aws-prod", "gcp-prod"):
            if base in stacks:
                path = Path(tmp) / f"Pulumi.{base}-x10.yaml"
                path.write_text(yaml.safe_dump(scaled(base)))
                cases.append((f"{base}-x10", path))

        header = (
            f"{'stack':<14}{'resources':>10}{'cold best s':>13}{'cold median s':>15}"
            f"{'of it imports s':>17}{'warm synth s':>14}{'ms/resource':>13}"
        )
        print(f"mlplat plan benchmark: {args.runs} cold runs per stack, Python {sys.version.split()[0]}")
        print(header)
        print("-" * len(header))
        for name, path in cases:
            cold = cold_runs(path, args.runs)
            count, warm, modules = warm_synthesis(path, name, args.runs)
            floor = import_floor(modules, args.runs)
            print(
                f"{name:<14}{count:>10}{min(cold):>13.2f}{statistics.median(cold):>15.2f}{floor:>17.2f}"
                f"{warm:>14.3f}{1000 * warm / count:>13.2f}"
            )


if __name__ == "__main__":
    main()
