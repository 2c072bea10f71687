"""What shadow mirroring costs the live model server (workloads/serving/shadow.py), on loopback.

The tabular sample (as in serve_bench.py) served by ``python -m workloads.serving`` four ways, measured
with serve_bench's client (aiohttp, keep-alive, one row per request, N requests from C workers, the
median of --rounds rounds):

(a) no shadow;
(b) mirroring every request to a shadow server of the same model (a second process on this machine:
    on a small machine it takes CPU from the live server, as a shadow pod on the same node would);
(c) mirroring to a shadow that is down (connection refused: the mirror's error path on every request);
(d) mirroring 10% of the requests (``--shadow_sample_rate 0.1``).

After each configuration the live server's shadow counters are read from /metrics: compared, agreed,
errors and drops (a full queue, or a pause after a connection failure, drops rather than delays), and its
CPU time per request (process_cpu_seconds_total over every request sent): the live side's own cost of
mirroring, which the shadow process sharing this machine's cores does not blur.

    python benchmarks/shadow_bench.py [--rounds 3] [--requests 4000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import MODEL_NAME, ROOT, Server, bodies, free_port, measure, train_sample

SHADOW_NAME = "credit-shadow"


def counters(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for metric, result, value in re.findall(
        r'^model_server_shadow_(requests|predictions)_total\{[^}]*result="(\w+)"[^}]*\} (\S+)$', text, re.M
    ):
        out[f"{metric}:{result}"] = float(value)
    cpu = re.search(r"^process_cpu_seconds_total (\S+)$", text, re.M)
    out["cpu"] = float(cpu[1]) if cpu else float("nan")
    return out


def serve(name: str, run_dir: Path, logs: Path, *extra: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "workloads.serving", "--model_name", MODEL_NAME, "--model_dir", str(run_dir)]
    return Server(name, [*cmd, "--http_port", str(port), *extra], port, logs / f"{name}.log")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="shadow-bench-") as tmp:
        root = Path(tmp)
        run_dir = train_sample(root)
        payloads = bodies(512, 7)
        port = free_port()
        shadow_cmd = [sys.executable, "-m", "workloads.serving", "--model_name", SHADOW_NAME]
        shadow = Server(
            "shadow", [*shadow_cmd, "--model_dir", str(run_dir), "--http_port", str(port)], port, root / "s.log"
        )
        shadow_url = f"http://127.0.0.1:{port}/v2/models/{SHADOW_NAME}/infer"
        down_url = f"http://127.0.0.1:{free_port()}/v2/models/{SHADOW_NAME}/infer"
        configs = [
            ("no shadow", []),
            ("mirror 100% to a live shadow", ["--shadow_url", shadow_url]),
            ("mirror 100% to a shadow that is down", ["--shadow_url", down_url]),
            ("mirror 10% to a live shadow", ["--shadow_url", shadow_url, "--shadow_sample_rate", "0.1"]),
        ]
        rows = []
        try:
            for name, extra in configs:
                live = serve(name.replace(" ", "-").replace("%", ""), run_dir, root, *extra)
                try:
                    before = counters(live.port)["cpu"]
                    result = measure(live.url, payloads, args.requests, args.concurrency, args.rounds)
                    result["counts"] = counters(live.port)  # type: ignore[assignment]
                    sent = max(200, args.requests // 10) + args.rounds * args.requests
                    result["cpu_us"] = (result["counts"]["cpu"] - before) / sent * 1e6  # type: ignore[index]
                finally:
                    live.stop()
                rows.append((name, result))
        finally:
            shadow.stop()

    print(f"\nshadow mirroring, {args.requests} requests x {args.rounds} rounds at concurrency {args.concurrency}")
    print("(counters: all rounds and the warm-up)\n")
    print("| live server | req/s | p50 ms | p99 ms | live CPU µs/req | mirrored ok | errors | dropped | agreeing |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        c: dict[str, float] = r["counts"]  # type: ignore[assignment]
        compared = c.get("predictions:agree", 0) + c.get("predictions:disagree", 0)
        agree = f"{c.get('predictions:agree', 0) / compared:.1%}" if compared else "-"
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us']:.0f} "
            f"| {c.get('requests:ok', 0):.0f} "
            f"| {c.get('requests:error', 0):.0f} | {c.get('requests:dropped', 0):.0f} | {agree} |"
        )
    print(f"\nmachine: {len(__import__('os').sched_getaffinity(0))} CPUs; repository {ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
