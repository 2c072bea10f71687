"""Wall time of `mlplat demo` (the local end-to-end demo of README.md), step by step.

Runs the demo --runs times as a user would (`python -m infra.cli demo --format json`, a fresh work
directory each time) and prints, for each step the demo times (local S3, MLflow start-up, training with
registration, the model server's start, the requests, ...) and for the whole run, the median and the
range over the runs, with the machine it ran on. Other processes sharing the cores slow every step: the
load average at the start is printed with the machine.

    python benchmarks/demo_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402


def run_once(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "GOOGLE_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "demo", "--format", "json", "--workdir", str(workdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"mlplat demo failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="demo runs (default 3)")
    args = parser.parse_args()
    print(describe())
    steps: dict[str, list[float]] = {}
    titles: dict[str, str] = {}
    totals: list[float] = []
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        for i in range(args.runs):
            summary = run_once(Path(tmp) / f"run-{i}")
            totals.append(summary["elapsed_seconds"])
            for t in summary["timings"]:
                steps.setdefault(t["step"], []).append(t["seconds"])
                titles[t["step"]] = t.get("title", t["step"])
    print(f"\nmlplat demo, {args.runs} runs: median seconds (min-max)")
    for step, values in steps.items():
        print(f"  {titles[step][:60]:<60} {statistics.median(values):6.1f}  ({min(values):.1f}-{max(values):.1f})")
    print(f"  {'total':<60} {statistics.median(totals):6.1f}  ({min(totals):.1f}-{max(totals):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
