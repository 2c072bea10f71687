"""How fast do the policy packs check the reference stacks?

Three figures:
- `mlplat check --all` as a user runs it: wall time of the real command in a fresh process (Python
  start-up, SDK imports and the synthesis of every stack included), best of N runs;
- the checking alone: both packs over the four already-synthesized stacks through pulumi_policy's
  analyzer servicer (Configure, one Analyze per resource per pack, one AnalyzeStack per pack), best
  of N, with resource x rule evaluations per second (an evaluation = one resource rule applied to one
  resource of a type it reads, or one resource handed to a stack rule that reads its type);
- the same per stack.

    python benchmarks/policy_bench.py [--runs 5]

Goal (issue "Policy packs"): all reference stacks checked in under 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import config as cfg  # noqa: E402
from infra.synth import synthesize  # noqa: E402
from policy import runner  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    stacks = cfg.available_stacks()

    walls = []
    for _ in range(max(2, args.runs // 2)):
        t = time.perf_counter()
        proc = subprocess.run(
            [str(ROOT / ".venv/bin/mlplat"), "check", "--all", "--format", "json"],
            capture_output=True,
            cwd=ROOT,
            check=False,
        )
        walls.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"mlplat check failed: {proc.stderr.decode()[-500:]}")

    syntheses = []
    for name in stacks:
        spec, config = cfg.load_stack_file(cfg.stack_file(name))
        syntheses.append(synthesize(name, spec, config))
    packs = runner.load_packs()
    runner.check_synthesis(syntheses[0], packs=packs)  # warm: imports, first Configure

    per_stack: dict[str, float] = {}
    totals = []
    evaluations = resources = 0
    for _ in range(args.runs):
        t_all = time.perf_counter()
        evaluations = resources = 0
        for syn in syntheses:
            t = time.perf_counter()
            report = runner.check_synthesis(syn, packs=packs)
            dt = time.perf_counter() - t
            per_stack[syn.stack] = min(per_stack.get(syn.stack, dt), dt)
            evaluations += report.evaluations
            resources += report.resources
        totals.append(time.perf_counter() - t_all)

    rules = sum(len(p.rules) for p in packs)
    print(f"packs: {', '.join(f'{p.name} ({len(p.rules)} rules)' for p in packs)}; {rules} rules in all")
    print(f"{'stack':<10} {'resources':>9} {'check ms':>9}")
    for syn in syntheses:
        print(f"{syn.stack:<10} {len(runner.from_synthesis(syn)):>9} {per_stack[syn.stack] * 1000:>9.0f}")
    best = min(totals)
    print(
        f"checking all {len(syntheses)} stacks: best {best:.2f} s of {args.runs} "
        f"({resources} resources, {evaluations} resource x rule evaluations, {evaluations / best:,.0f} evaluations/s)"
    )
    print(f"`mlplat check --all` in a fresh process (synthesis of every stack included): best {min(walls):.2f} s")


if __name__ == "__main__":
    main()
