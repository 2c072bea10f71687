"""The feature platform's hot paths on this machine: ingest, point-in-time training sets, materialization
into a real Redis, and online reads, through the same code the pipeline runs (workloads/features/store.py).

A throwaway Debian `redis-server` (with AUTH, no persistence) is started on loopback; the registry is a
local SQLite file and the offline store a local directory of Parquet files (the cluster uses the SQL
registry on PostgreSQL and s3:// or gs://; those add network time, not compute). For each size N:

* ingest: `write_offline` of N applicants (one Parquet file);
* training set: `training_frame` of N label rows through the fairness service (Feast's point-in-time
  join on Dask), rows/s;
* materialize: `materialize` of the N applicants into Redis, rows/s;
* online: `online_features` for 1 applicant and for a batch of 100, p50/p99 over `--reads` calls.

    python benchmarks/features_bench.py [--rows 10000 100000] [--reads 300]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(root: Path) -> tuple[subprocess.Popen, int, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("error: redis-server is not installed (Debian package redis-server)")
    port, password = free_port(), "bench-auth-token"
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    for _ in range(100):
        try:
            client.ping()
            return proc, port, password
        except redis.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("error: redis-server did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()

    from workloads.features import frames, store
    from workloads.features.repo import FAIRNESS_SERVICE
    from workloads.features.settings import RedisConnection, Settings
    from workloads.training.synthetic import make_tabular

    print(
        f"{'rows':>8} {'ingest s':>9} {'train set rows/s':>17} {'materialize rows/s':>19} "
        f"{'online 1 p50/p99 ms':>20} {'online 100 p50/p99 ms':>22}"
    )
    for rows in args.rows:
        root = Path(tempfile.mkdtemp(prefix="mlp-features-bench-"))
        proc, port, password = start_redis(root)
        try:
            settings = Settings(
                registry=str(root / "registry.db"),
                redis=RedisConnection(host="127.0.0.1", port=port, password=password),
                offline_path=str(root / "offline"),
            )
            fs = store.open_store(settings, repo_path=root)
            store.apply(fs, settings.require_offline_path())
            as_of = datetime.now(UTC) - timedelta(minutes=5)
            tables = frames.sample_tables(make_tabular(rows, seed=1), as_of=as_of)

            t = time.perf_counter()
            store.write_offline(tables.features, settings.require_offline_path())
            ingest = time.perf_counter() - t

            t = time.perf_counter()
            training = store.training_frame(fs, tables.labels, FAIRNESS_SERVICE)
            train_rate = len(training) / (time.perf_counter() - t)

            t = time.perf_counter()
            store.materialize(fs, datetime.now(UTC), start=as_of - timedelta(days=60))
            mat_rate = rows / (time.perf_counter() - t)

            ids = tables.features["applicant_id"].tolist()
            for i in range(10):  # warm-up: the first reads load the registry and open the connection pool
                store.online_features(fs, ids[i : i + 100])
            single, batch = [], []
            for i in range(args.reads):
                t = time.perf_counter()
                store.online_features(fs, [ids[(i * 7919) % rows]])
                single.append((time.perf_counter() - t) * 1000)
                chunk = [ids[(i * 100 + k) % rows] for k in range(100)]
                t = time.perf_counter()
                store.online_features(fs, chunk)
                batch.append((time.perf_counter() - t) * 1000)
            print(
                f"{rows:>8} {ingest:>9.2f} {train_rate:>17,.0f} {mat_rate:>19,.0f} "
                f"{percentile(single, 0.5):>9.2f}/{percentile(single, 0.99):<10.2f} "
                f"{percentile(batch, 0.5):>10.2f}/{percentile(batch, 0.99):<11.2f}"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
