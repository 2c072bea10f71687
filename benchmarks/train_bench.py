"""Throughput of the sample trainer (workloads.training).

1. The trainer against a bare PyTorch loop on the same model, data, batch size and optimizer, on
   this machine (CPU unless a GPU is visible): samples/s of each and the ratio (goal >= 0.95x).
   Both sides run the same number of steps, alternately, several rounds; the median round of each
   counts, and the ratio is that of the medians (the best rounds are printed too, to show the noise).
2. The GPT sample's tokens/s and model FLOPs utilisation (MFU): training FLOPs per token
   (6 N + 12 L H Q T, the PaLM estimate) x tokens/s / the device's peak dense bf16 FLOP/s.
   On a GPU: a GPT-2 small sized model (124M parameters, context 1024) in bf16 with torch.compile
   (goal >= 40 % MFU on an H100). On CPU: a small model, and the script says it ran on CPU; there
   is no well-defined CPU peak, so MFU is printed only with --peak-tflops.

    python benchmarks/train_bench.py [--rounds 5] [--steps 200] [--gpt-steps 30] [--peak-tflops X]
"""

from __future__ import annotations

import argparse
import atexit
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812

from benchmarks.machine import describe  # noqa: E402
from workloads.training import distributed  # noqa: E402
from workloads.training.config import parse_config  # noqa: E402
from workloads.training.models import gpt_flops_per_token  # noqa: E402
from workloads.training.synthetic import make_tabular, make_text  # noqa: E402
from workloads.training.trainer import Trainer  # noqa: E402

_TMP = tempfile.mkdtemp(prefix="train-bench-")
atexit.register(shutil.rmtree, _TMP, True)

# Peak dense bf16 tensor FLOP/s by device name (vendor data sheets, without sparsity).
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
}


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():  # most specific first
        if key in name:
            return value
    return None


def config(kind: str, data: Path, steps: int, log_every: int = 10**9, **model: Any) -> Any:
    batch = model.pop("batch_size")
    doc = {
        "run": {"name": f"bench-{kind}", "output_uri": tempfile.mkdtemp(dir=_TMP), "seed": 0},
        "model": {"kind": kind, **model},
        "data": {"train_uri": str(data)},
        "train": {"steps": steps, "batch_size": batch, "lr": 1e-3, "checkpoint_every": 0, "log_every": log_every},
        "registry": {"mode": "never"},
        "card": {"owner": "bench", "intended_use": "benchmark", "risk_tier": "minimal"},
    }
    if kind == "gpt":
        doc["train"]["compile"] = model.pop("compile", False)
        doc["model"] = {"kind": kind, **model}
    return parse_config(doc)


def fresh(cfg: Any) -> Any:
    """The same config with a new, empty output location (so no run resumes from another's checkpoint)."""
    return cfg.model_copy(update={"run": cfg.run.model_copy(update={"output_uri": tempfile.mkdtemp(dir=_TMP)})})


def trainer_rate(cfg: Any, env: distributed.DistEnv) -> float:
    """Samples/s of Trainer.fit (the loop only; no periodic checkpoints)."""
    cfg = fresh(cfg)
    trainer = Trainer(cfg, env)
    trainer.setup()
    start = time.perf_counter()
    steps_before = trainer.step
    # fit() ends with the final checkpoint; time the loop the way the trainer reports it.
    trainer.fit()
    summary = trainer.summary()
    wall = time.perf_counter() - start
    assert trainer.step - steps_before == cfg.train.steps
    return summary.samples_per_second or cfg.train.steps * cfg.train.batch_size / wall


def bare_rate(cfg: Any, env: distributed.DistEnv) -> float:
    """The same model, data order, batch and AdamW in a plain loop: what an engineer writes by hand."""
    trainer = Trainer(fresh(cfg), env)  # only to load the identical data and initial model
    trainer.setup()
    model, batches, device = trainer.model, trainer.batches, env.device
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    model.train()
    tabular = cfg.model.kind == "tabular"
    start = time.perf_counter()
    for step in range(cfg.train.steps):
        x, y = batches.batch(step)
        x, y = x.to(device), y.to(device)
        out = model(x)
        if tabular:
            loss = F.binary_cross_entropy_with_logits(out, y)
        else:
            loss = F.cross_entropy(out.view(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return cfg.train.steps * cfg.train.batch_size / (time.perf_counter() - start)


def compare(name: str, cfg: Any, env: distributed.DistEnv, rounds: int) -> None:
    trainer_rate(cfg, env)  # warm-up: allocator, kernels, lazy imports
    bare_rate(cfg, env)
    ours, bare = [], []
    for _ in range(rounds):
        ours.append(trainer_rate(cfg, env))
        bare.append(bare_rate(cfg, env))
    # The medians are the figures; the best rounds show how much other processes on a shared machine moved them.
    tm, bm = statistics.median(ours), statistics.median(bare)
    t, b = max(ours), max(bare)
    print(
        f"{name:<34} trainer {tm:>10,.0f} samples/s   bare loop {bm:>10,.0f} samples/s   ratio {tm / bm:.3f}x "
        f"(medians of {rounds} rounds; best rounds {t:,.0f} / {b:,.0f} = {t / b:.3f}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per comparison (default 5)")
    parser.add_argument("--steps", type=int, default=200, help="steps per run for the comparisons (default 200)")
    parser.add_argument("--gpt-steps", type=int, default=30, help="steps for the GPT throughput run (default 30)")
    parser.add_argument("--peak-tflops", type=float, help="peak FLOP/s (TFLOP/s) to compute MFU against")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's, one per core)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    env = distributed.setup(config("tabular", Path("x"), 1, batch_size=1).train)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = env.device
    on_gpu = device.type == "cuda"
    where = torch.cuda.get_device_name(device) if on_gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(describe(torch.cuda.get_device_name(device) if on_gpu else None))
    print(f"device: {device} - {where}; torch {torch.__version__}")
    if not on_gpu:
        print("running on CPU: no GPU is visible; the GPU figures (bf16, torch.compile, MFU) need one")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "t.csv").write_bytes(make_tabular(20_000, seed=0))
        (root / "c.txt").write_bytes(make_text(400_000, seed=0))

        print("\n1. trainer vs bare PyTorch loop (same model, data, batch, AdamW; checkpoints off)")
        tab = config("tabular", root / "t.csv", args.steps, hidden=[256, 256], batch_size=512)
        compare("tabular MLP 7-256-256-1, batch 512", tab, env, args.rounds)
        small = {"block_size": 128, "n_layer": 4, "n_head": 4, "n_embd": 128, "batch_size": 16}
        gpt_small = config("gpt", root / "c.txt", max(10, args.steps // 10), **small)
        compare("GPT 4x128, context 128, batch 16", gpt_small, env, args.rounds)

        print("\n2. GPT sample: tokens/s and model FLOPs utilisation")
        windows = max(1, args.gpt_steps // 6)
        if on_gpu:
            big = {"block_size": 1024, "n_layer": 12, "n_head": 12, "n_embd": 768, "batch_size": 16}
            gpt = config("gpt", root / "c.txt", args.gpt_steps, windows, compile=True, **big)
        else:
            gpt = config("gpt", root / "c.txt", args.gpt_steps, windows, **dict(small))
        trainer = Trainer(fresh(gpt), env)
        trainer.setup()
        trainer.fit()
        summary = trainer.summary()
        # Steady state: the median logging window after the first (which holds compilation / warm-up).
        rate = statistics.median(trainer.window_rates[1:] or trainer.window_rates)
        tokens_s = rate * gpt.model.block_size
        flops_token = gpt_flops_per_token(gpt.model, trainer.n_params)
        achieved = flops_token * tokens_s
        peak = args.peak_tflops or peak_tflops(device)
        print(
            f"GPT {gpt.model.n_layer}x{gpt.model.n_embd}, context {gpt.model.block_size}, "
            f"{trainer.n_params / 1e6:.1f}M parameters, batch {gpt.train.batch_size}, {summary.precision}"
            f"{', torch.compile' if gpt.train.compile else ''} on {where}"
        )
        print(
            f"  tokens/s {tokens_s:,.0f}   achieved {achieved / 1e12:.3f} TFLOP/s ({flops_token / 1e6:.1f} MFLOP/token)"
        )
        if peak:
            print(f"  MFU {100 * achieved / (peak * 1e12):.1f} % of {peak:g} TFLOP/s peak")
        else:
            print("  MFU: not computed (CPU: no reference peak; pass --peak-tflops to compute one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
