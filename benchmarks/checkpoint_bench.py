"""Checkpoint write/read throughput to S3 (a local moto server) against raw boto3 on the same bytes.

A GPT-sample checkpoint (weights as safetensors + AdamW state, about --mb MB) goes through the
trainer's CheckpointManager (fsspec/s3fs, sha256 manifest, verification on read) and, for the
baseline, through boto3 put_object / get_object of exactly the same byte strings. Serialisation
(state dict -> bytes) is timed separately. MB/s = 10^6 bytes per second; median of --runs.

The absolute figures are those of moto on loopback (a Python server on this machine, sharing its
cores), not of S3: the ratio is the point - what the checkpoint layer costs over a bare client.

    python benchmarks/checkpoint_bench.py [--runs 5] [--mb 120]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import torch  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from benchmarks.machine import describe  # noqa: E402
from workloads.training import storage  # noqa: E402
from workloads.training.checkpoint import (  # noqa: E402
    MANIFEST_FILE,
    MODEL_FILE,
    TRAINER_FILE,
    CheckpointManager,
    model_to_bytes,
    trainer_to_bytes,
)
from workloads.training.models import GPT  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkpoint_state(target_mb: float) -> tuple[dict, dict]:
    """A GPT and its AdamW state after one step, sized to about `target_mb` MB in total."""
    # parameters x 4 bytes x 3 (weights, exp_avg, exp_avg_sq); 12 n_embd^2 per layer
    n_embd = 512
    n_layer = max(1, round(target_mb * 1e6 / 12 / (12 * n_embd * n_embd)))
    model = GPT(block_size=256, n_layer=n_layer, n_head=8, n_embd=n_embd)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 8, dtype=torch.long)).sum().backward()
    opt.step()
    state = {"optimizer": opt.state_dict(), "step": 1, "rng": [{"cpu": torch.get_rng_state()}]}
    return model.state_dict(), state


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--mb", type=float, default=120, help="approximate checkpoint size in MB (default 120)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(describe())

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    try:
        client = boto3.client("s3")
        client.create_bucket(Bucket="ckpt")
        model_state, trainer_state = checkpoint_state(args.mb)

        blobs: dict[str, bytes] = {}

        def serialise() -> None:
            blobs[MODEL_FILE] = model_to_bytes(model_state)
            blobs[TRAINER_FILE] = trainer_to_bytes(trainer_state)

        t_ser = median_time(serialise, args.runs)
        total = sum(len(b) for b in blobs.values())
        mb = total / 1e6

        manager = CheckpointManager("s3://ckpt/run/checkpoints", keep=args.runs + 2)
        steps = iter(range(1, 10_000))
        t_write = median_time(lambda: manager.save(next(steps), blobs[MODEL_FILE], blobs[TRAINER_FILE], {}), args.runs)
        last = max(manager.steps())
        t_read = median_time(lambda: manager.load(last), args.runs)

        def raw_put() -> None:
            for name, data in blobs.items():
                client.put_object(Bucket="ckpt", Key=f"raw/{name}", Body=data)

        def raw_get() -> None:
            for name in blobs:
                client.get_object(Bucket="ckpt", Key=f"raw/{name}")["Body"].read()

        t_put = median_time(raw_put, args.runs)
        t_get = median_time(raw_get, args.runs)

        # Where the read time goes: s3fs alone, with its default concurrent ranged GETs (which pay off
        # on real S3 for large objects, not against one single-process moto server) and single-stream.
        fs, base = storage.filesystem(manager.step_uri(last))

        def s3fs_get(concurrency: int | None) -> None:
            for name in blobs:
                fs.cat_file(f"{base}/{name}", max_concurrency=concurrency)

        t_fs = median_time(lambda: s3fs_get(None), args.runs)
        t_fs1 = median_time(lambda: s3fs_get(1), args.runs)
        t_hash = median_time(lambda: [hashlib.sha256(b).digest() for b in blobs.values()], args.runs)

        print(
            f"checkpoint: {mb:.1f} MB ({len(blobs[MODEL_FILE]) / 1e6:.1f} MB safetensors weights + "
            f"{len(blobs[TRAINER_FILE]) / 1e6:.1f} MB optimizer/RNG state), moto S3 at {endpoint}, "
            f"median of {args.runs}"
        )
        print(f"serialise (state dicts -> bytes)          {mb / t_ser:8.1f} MB/s  ({t_ser * 1e3:.0f} ms)")
        print(f"write  CheckpointManager (+ {MANIFEST_FILE}) {mb / t_write:8.1f} MB/s  ({t_write * 1e3:.0f} ms)")
        print(
            f"write  raw boto3 put_object               {mb / t_put:8.1f} MB/s  ({t_put * 1e3:.0f} ms)"
            f"   -> checkpoint/raw {t_put / t_write:.2f}x"
        )
        print(f"read   CheckpointManager (sha256 + parse)  {mb / t_read:8.1f} MB/s  ({t_read * 1e3:.0f} ms)")
        print(
            f"read   raw boto3 get_object               {mb / t_get:8.1f} MB/s  ({t_get * 1e3:.0f} ms)"
            f"   -> checkpoint/raw {t_get / t_read:.2f}x"
        )
        print(
            f"  of which: s3fs transport, concurrent ranged GETs (default) {mb / t_fs:.1f} MB/s, "
            f"single stream {mb / t_fs1:.1f} MB/s; sha256 verification {mb / t_hash:.0f} MB/s"
        )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
