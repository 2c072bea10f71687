"""Latency and throughput of the sample model server (workloads.serving) on loopback.

Three ways to serve the tabular sample (the training workload's exported ``model.pt2``, hidden
layers 64-64 as in ``workloads/training/configs/tabular.yaml``), measured with the same client:

(a) our server: ``python -m workloads.serving`` with its defaults (micro-batching, 1 torch thread),
    and two ablations: without batching (``--max_batch_size 1``) and with the forward in a worker
    thread (``--forward_thread always``; the default runs a sub-millisecond forward inline);
(b) a plain KServe model server: ``kserve.Model`` + ``kserve.ModelServer`` (0.21.0) whose ``predict``
    runs the same ``model.pt2`` on each request, without batching - what a user writes by default;
(c) the bare forward in this process: ``module(x)`` under ``torch.inference_mode`` (no HTTP).

The client is aiohttp on uvloop with a keep-alive connection pool as large as the concurrency;
each request is one row (7 features) in OIP v2 JSON. After a warm-up, N requests are sent by C
concurrent workers; p50/p99 are per-request latencies, req/s is N / wall time. Each configuration
runs `--rounds` times and the round with the median throughput is printed.

KServe cannot share the project's virtual environment (kserve 0.21.0 moves protobuf 5 -> 6 and
pandas 3 -> 2), so the baseline runs in a venv of its own, by default ``.venv/kserve-baseline``:

    python3.11 -m venv .venv/kserve-baseline
    .venv/kserve-baseline/bin/pip install kserve==0.21.0 torch==2.13.0 \
        --extra-index-url https://download.pytorch.org/whl/cpu

Without it (or with --kserve-python pointing nowhere) the KServe rows are skipped with a message.

    python benchmarks/serve_bench.py [--rounds 3] [--requests 4000] [--kserve-python PATH] [--no-ablations]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KSERVE_PYTHON = ROOT / ".venv" / "kserve-baseline" / "bin" / "python"
MODEL_NAME = "credit"


# -- the KServe baseline server (runs in the kserve venv: python serve_bench.py kserve-server ...) ---


def kserve_server(argv: list[str]) -> None:
    """A plain KServe predictor for the same artifact: load model.pt2, run it per request."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--model_name", required=True)
    args, _ = parser.parse_known_args(argv)  # kserve reads --http_port / --grpc_port from sys.argv itself

    import kserve  # pyright: ignore[reportMissingImports] - lives in the kserve venv
    import torch
    from kserve import InferOutput, InferRequest, InferResponse  # pyright: ignore[reportMissingImports]

    class TorchExportModel(kserve.Model):
        def __init__(self, name: str, model_dir: str) -> None:
            super().__init__(name)
            self.model_dir = model_dir
            self.module: Any = None
            self.load()

        def load(self) -> bool:
            self.module = torch.export.load(os.path.join(self.model_dir, "model.pt2")).module()
            self.ready = True
            return self.ready

        def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
            x = torch.from_numpy(payload.inputs[0].as_numpy())
            with torch.inference_mode():
                y = self.module(x).numpy()
            out = InferOutput(name="probability", shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=False)
            return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id)

    kserve.ModelServer().start([TorchExportModel(args.model_name, args.model_dir)])


# -- setup ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_sample(root: Path) -> Path:
    """The tabular sample's architecture, trained briefly; returns the run's output directory."""
    sys.path.insert(0, str(ROOT))
    from workloads.training.config import parse_config
    from workloads.training.synthetic import make_tabular
    from workloads.training.trainer import train

    (root / "train.csv").write_bytes(make_tabular(4000, seed=0))
    cfg = parse_config(
        {
            "run": {"name": "serve-bench", "output_uri": str(root / "run"), "seed": 0},
            "model": {"kind": "tabular", "hidden": [64, 64]},
            "data": {"train_uri": str(root / "train.csv")},
            "train": {"steps": 200, "batch_size": 128, "lr": 0.003, "checkpoint_every": 0, "log_every": 10**9},
            "eval": {"min_accuracy": None},
            "registry": {"mode": "never"},
            "card": {"owner": "bench", "intended_use": "benchmark", "risk_tier": "minimal"},
        }
    )
    train(cfg)
    return root / "run"


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        url = f"http://127.0.0.1:{port}/v2/health/ready"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} did not become ready:\n{log.read_text()[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/models/{MODEL_NAME}/infer"

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# -- the client -----------------------------------------------------------------------------------


def bodies(n: int, features: int) -> list[bytes]:
    rng = random.Random(0)
    return [
        json.dumps(
            {
                "id": str(i),
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, features],
                        "datatype": "FP32",
                        "data": [round(rng.gauss(0, 2), 4) for _ in range(features)],
                    }
                ],
            }
        ).encode()
        for i in range(n)
    ]


async def load(url: str, payloads: list[bytes], total: int, concurrency: int) -> tuple[list[float], float, int]:
    """(latencies in seconds, wall time, non-200 responses) of `total` requests from `concurrency` workers."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    remaining = total
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(seed: int) -> None:
            nonlocal remaining, errors
            i = seed
            while remaining > 0:
                remaining -= 1
                body = payloads[i % len(payloads)]
                i += concurrency
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, wall, errors


def run_load(url: str, payloads: list[bytes], total: int, concurrency: int) -> tuple[list[float], float, int]:
    try:
        import uvloop

        return uvloop.run(load(url, payloads, total, concurrency))
    except ImportError:
        return asyncio.run(load(url, payloads, total, concurrency))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, payloads: list[bytes], total: int, concurrency: int, rounds: int) -> dict[str, float]:
    run_load(url, payloads, max(200, total // 10), concurrency)  # warm-up: connections, allocator, caches
    results = []
    for _ in range(rounds):
        lat, wall, errors = run_load(url, payloads, total, concurrency)
        results.append(
            {
                "rps": len(lat) / wall,
                "p50": pct(lat, 0.50) * 1000,
                "p99": pct(lat, 0.99) * 1000,
                "errors": errors,
                "n": len(lat),
            }
        )
    results.sort(key=lambda r: r["rps"])
    return results[len(results) // 2]


def bare_forward(model_dir: Path, batch: int, calls: int, rounds: int, threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    module = torch.export.load(str(model_dir / "model.pt2")).module()
    x = torch.randn(batch, 7)
    results = []
    with torch.inference_mode():
        for _ in range(200):
            module(x)
        for _ in range(rounds):
            lat = []
            started = time.perf_counter()
            for _ in range(calls):
                t = time.perf_counter()
                module(x)
                lat.append(time.perf_counter() - t)
            wall = time.perf_counter() - started
            results.append({"rps": calls / wall, "p50": pct(lat, 0.5) * 1000, "p99": pct(lat, 0.99) * 1000})
    results.sort(key=lambda r: r["rps"])
    return results[len(results) // 2]


def batch_totals(port: int) -> tuple[float, float]:
    """(rows forwarded, forwards) so far, from our server's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        for key in ("model_server_batch_size_sum", "model_server_batch_size_count"):
            if line.startswith(key + "{"):
                values[key] = float(line.rsplit(" ", 1)[1])
    return values.get("model_server_batch_size_sum", 0.0), values.get("model_server_batch_size_count", 0.0)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "kserve-server":
        kserve_server(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration; the median is printed")
    parser.add_argument("--requests", type=int, default=4000, help="requests per round (default 4000)")
    parser.add_argument("--kserve-python", default=str(DEFAULT_KSERVE_PYTHON), help="python of the kserve venv")
    parser.add_argument("--model-dir", help="a training run's output directory (default: train one now)")
    parser.add_argument(
        "--no-ablations",
        action="store_true",
        help="skip our server without batching (--max_batch_size 1) and with the forward in a worker thread",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    servers: list[Server] = []
    try:
        run_dir = Path(args.model_dir) if args.model_dir else train_sample(tmp)
        model_dir = run_dir / "model"
        payloads = bodies(512, 7)
        rows: list[tuple[str, int, dict[str, float], str]] = []
        cores = os.cpu_count()
        print(f"{cores} CPU cores; model: tabular 7-64-64-1 ({model_dir / 'model.pt2'}); 1 row per request")

        targets: list[tuple[str, list[str]]] = []
        port = free_port()
        our_cmd = [sys.executable, "-m", "workloads.serving", "--model_name", MODEL_NAME, "--model_dir", str(run_dir)]
        targets.append(("ours (workloads.serving)", [*our_cmd, "--http_port", str(port)]))
        if not args.no_ablations:  # what each design choice is worth
            no_batch = [*our_cmd, "--http_port", str(free_port()), "--max_batch_size", "1"]
            threaded = [*our_cmd, "--http_port", str(free_port()), "--forward_thread", "always"]
            targets += [("ours, no batching", no_batch), ("ours, forward in a thread", threaded)]
        kserve_python = Path(args.kserve_python)
        if kserve_python.exists():
            kport, gport = free_port(), free_port()
            cmd = [str(kserve_python), str(Path(__file__).resolve()), "kserve-server", "--model_dir", str(model_dir)]
            cmd += ["--model_name", MODEL_NAME, "--http_port", str(kport), "--grpc_port", str(gport)]
            targets.append(("plain KServe 0.21.0", cmd))
        else:
            print(f"skipping the KServe baseline: no kserve venv at {kserve_python} (see this script's docstring)")

        for name, cmd in targets:
            port_arg = int(cmd[cmd.index("--http_port") + 1])
            server = Server(name, cmd, port_arg, tmp / f"{len(servers)}.log")
            servers.append(server)
            for concurrency in (1, 16):
                ours = name.startswith("ours")  # every variant of our server reports its batch sizes
                before = batch_totals(port_arg) if ours else (0.0, 0.0)
                result = measure(server.url, payloads, args.requests, concurrency, args.rounds)
                after = batch_totals(port_arg) if ours else (0.0, 1.0)
                forwards = after[1] - before[1]
                extra = f"{(after[0] - before[0]) / forwards:.1f}" if ours and forwards else ""
                rows.append((name, concurrency, result, extra))
                print(f"  measured {name} at concurrency {concurrency}: {result['rps']:,.0f} req/s", flush=True)
            server.stop()

        bare1 = bare_forward(model_dir, 1, args.requests, args.rounds, threads=1)
        bare16 = bare_forward(model_dir, 16, args.requests, args.rounds, threads=1)

        print()
        print(f"| {'server':<26} | conc. | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | errors | mean batch |")
        print(f"|{'-' * 28}|-------|{'-' * 10}|{'-' * 9}|{'-' * 9}|--------|------------|")
        for name, conc, r, extra in rows:
            print(
                f"| {name:<26} | {conc:>5} | {r['rps']:>8,.0f} | {r['p50']:>7.2f} | {r['p99']:>7.2f} | "
                f"{int(r['errors']):>6} | {extra:>10} |"
            )
        for label, r in (("bare forward, batch 1", bare1), ("bare forward, batch 16", bare16)):
            print(
                f"| {label:<26} | {'-':>5} | {r['rps']:>8,.0f} | {r['p50']:>7.3f} | {r['p99']:>7.3f} | {'-':>6} | "
                f"{'-':>10} |"
            )
        print(
            "(mean batch: rows per model forward in our server, warm-up included; bare forward: calls/s and "
            "per-call latency of module(x) in this process, 1 torch thread; batch 16 = 16 rows a call)"
        )
        ours_rows = {c: r for n, c, r, _ in rows if n == "ours (workloads.serving)"}
        kserve_rows = {c: r for n, c, r, _ in rows if n.startswith("plain")}
        if kserve_rows:
            print(
                f"ours / KServe: concurrency 1 {ours_rows[1]['rps'] / kserve_rows[1]['rps']:.2f}x req/s, "
                f"concurrency 16 {ours_rows[16]['rps'] / kserve_rows[16]['rps']:.2f}x req/s"
            )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
