"""The training loop: one process or DDP (gloo on CPU, NCCL on GPU), resumable, interruptible.

`train(cfg)` runs a whole job: set-up, resume from the newest valid checkpoint, the loop (with
checkpoints every N steps and on SIGTERM), evaluation and gates, outputs, registration.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from workloads.training import checks, distributed, registry
from workloads.training.checkpoint import CheckpointManager, model_to_bytes, trainer_to_bytes
from workloads.training.config import TrainConfig, config_dict
from workloads.training.data import (
    TabularBatches,
    TabularData,
    TextBatches,
    TextData,
    load_tabular,
    load_text,
)
from workloads.training.errors import ConfigError, StorageError, TrainingError
from workloads.training.evaluate import Evaluation, evaluate_gpt, evaluate_tabular
from workloads.training.models import build_model, count_parameters
from workloads.training.outputs import (
    TrainingSummary,
    config_sha256,
    finished_card,
    now,
    update_card,
    write_outputs,
)

log = logging.getLogger("workloads.training")

EXIT_INTERRUPTED = 128 + signal.SIGTERM  # 143, what a container killed by SIGTERM reports
STOP_CHECK_EVERY = 10  # steps between agreeing on a SIGTERM across ranks


@dataclass
class RunResult:
    status: str  # "completed" | "interrupted"
    step: int
    evaluation: Evaluation | None = None
    card: dict[str, Any] | None = None
    summary: TrainingSummary | None = None
    registry: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gates_passed(self) -> bool | None:
        """None where this process evaluated nothing (ranks other than 0)."""
        if self.evaluation is not None:
            return self.evaluation.passed
        return bool(self.card["gates"]["passed"]) if self.card else None


def _lr_lambda(cfg: TrainConfig):
    warm, total, schedule = cfg.train.warmup_steps, cfg.train.steps, cfg.train.lr_schedule

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if schedule == "cosine":
            progress = (step - warm) / max(1, total - warm)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


class Trainer:
    def __init__(self, cfg: TrainConfig, env: distributed.DistEnv | None = None) -> None:
        self.cfg = cfg
        self.env = env or distributed.DistEnv()
        self.stop_requested = False
        self.step = 0
        self.resumed_from: int | None = None
        self.checkpoints = CheckpointManager(cfg.checkpoint_uri, cfg.run.keep_checkpoints)
        self.data: TabularData | TextData | None = None
        self.window_rates: list[float] = []  # samples/s of each logging window
        self._started_at = now()

    # ----------------------------------------------------------------------------------------- set-up
    def setup(self) -> None:
        cfg, env = self.cfg, self.env
        device = env.device
        use_bf16 = cfg.train.precision == "bf16" or (cfg.train.precision == "auto" and device.type == "cuda")
        self.precision = "bf16" if use_bf16 else "fp32"
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.run.seed)
        if cfg.model.kind == "tabular":
            data = load_tabular(cfg.data, cfg.run.seed)
            model = build_model(cfg.model, len(data.feature_names))
            x = data.train.x
            model.set_standardisation(x.mean(0), x.std(0))  # type: ignore[operator]
            self.batches: TabularBatches | TextBatches = TabularBatches(
                data.train, cfg.train.batch_size, env.rank, env.world, cfg.run.seed
            )
        else:
            data = load_text(cfg.data, cfg.model)
            model = build_model(cfg.model)
            self.batches = TextBatches(
                data.train, cfg.model.block_size, cfg.train.batch_size, env.rank, env.world, cfg.run.seed
            )
        self.data = data
        self.model = model.to(device)
        self.n_params = count_parameters(self.model)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(cfg))
        self._resume()
        net: nn.Module = self.model
        if env.distributed:
            net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        if cfg.train.compile:
            net = torch.compile(net)  # type: ignore[assignment]
        self.net = net
        self.autocast = (
            (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )

    def _meta(self) -> dict[str, Any]:
        return {
            "world_size": self.env.world,
            "model": config_dict(self.cfg)["model"],
            "global_batch_size": self.cfg.train.batch_size,
            "config_sha256": config_sha256(self.cfg),
            "created_at": now(),
        }

    def _resume(self) -> None:
        env = self.env
        chosen = None
        if env.is_main:
            latest = self.checkpoints.latest()
            chosen = latest.step if latest else None
        chosen = env.broadcast(chosen)
        if chosen is None:
            log.info("no checkpoint under %s: starting at step 0", self.checkpoints.uri)
            return
        ckpt = latest if env.is_main else self.checkpoints.load(chosen)  # type: ignore[possibly-undefined]
        assert ckpt is not None
        if ckpt.manifest.get("model") != config_dict(self.cfg)["model"]:
            raise ConfigError(
                f"run.checkpoint_uri: {ckpt.uri} was written for another model config; use a new checkpoint_uri"
            )
        self.model.load_state_dict({k: v.to(self.env.device) for k, v in ckpt.model_state.items()})
        state = ckpt.trainer_state
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        rng = state.get("rng") or []
        if len(rng) == env.world:
            torch.set_rng_state(rng[env.rank]["cpu"])
            if env.device.type == "cuda" and rng[env.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(rng[env.rank]["cuda"], env.device)
        else:
            torch.manual_seed(self.cfg.run.seed + 7919 * env.rank + self.step)
            log.warning("world size changed (%d -> %d): RNG streams re-seeded", len(rng), env.world)
        self.resumed_from = self.step
        log.info("resumed from checkpoint %s (step %d of %d)", ckpt.uri, self.step, self.cfg.train.steps)

    # ------------------------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, reason: str) -> None:
        env = self.env
        rng = {"cpu": torch.get_rng_state()}
        if env.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(env.device)
        all_rng = env.gather(rng)
        error = None
        if env.is_main:
            try:
                state = {
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "step": self.step,
                    "rng": all_rng,
                }
                uri = self.checkpoints.save(
                    self.step, model_to_bytes(self.model.state_dict()), trainer_to_bytes(state), self._meta()
                )
                log.info("checkpoint (%s) step %d -> %s", reason, self.step, uri)
            except TrainingError as exc:
                error = str(exc)
        error = env.broadcast(error)
        if error:
            raise StorageError(error)

    def request_stop(self, *_: Any) -> None:
        if not self.stop_requested:
            log.warning("SIGTERM received: writing a checkpoint at the next step boundary, then exiting")
        self.stop_requested = True

    # ------------------------------------------------------------------------------------------ loop
    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.cfg.model.kind == "tabular":
            return F.binary_cross_entropy_with_logits(out.float(), y)
        return F.cross_entropy(out.float().view(-1, out.shape[-1]), y.reshape(-1))

    def fit(self) -> bool:
        """Train up to train.steps; False when stopped by SIGTERM (after writing a checkpoint)."""
        cfg, env = self.cfg, self.env
        total, ckpt_every, log_every = cfg.train.steps, cfg.train.checkpoint_every, cfg.train.log_every
        clip = cfg.train.grad_clip
        device, net, opt, sched, batches = env.device, self.net, self.optimizer, self.scheduler, self.batches
        non_blocking = device.type == "cuda"
        per_sample = cfg.model.block_size if cfg.model.kind == "gpt" else 1
        distributed_run = env.distributed
        net.train()
        running = torch.zeros((), device=device)
        window_start, window_steps = time.perf_counter(), 0
        self._loop_start, start_step = time.perf_counter(), self.step
        if env.is_main and self.step < total:
            log.info(
                "training: steps %d..%d, global batch %d, %d process(es) on %s, %s, %s parameters",
                self.step,
                total,
                cfg.train.batch_size,
                env.world,
                device,
                self.precision,
                f"{self.n_params:,}",
            )
        while self.step < total:
            x, y = batches.batch(self.step)
            x, y = x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)
            with self.autocast():
                out = net(x)
            loss = self._loss(out, y)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            running += loss.detach()
            self.step += 1
            window_steps += 1
            step = self.step
            if step % log_every == 0 or step == total:
                elapsed = time.perf_counter() - window_start
                rate = window_steps * cfg.train.batch_size / max(elapsed, 1e-9)
                self.window_rates.append(rate)
                if env.is_main:
                    extra = f" tokens/s {rate * per_sample:,.0f}" if per_sample > 1 else ""
                    log.info(
                        "step %d/%d loss %.4f lr %.2e samples/s %s%s",
                        step,
                        total,
                        running.item() / window_steps,
                        sched.get_last_lr()[0],
                        f"{rate:,.0f}",
                        extra,
                    )
                running.zero_()
                window_start, window_steps = time.perf_counter(), 0
            stop = self.stop_requested
            if distributed_run:
                stop = env.any(stop) if step % STOP_CHECK_EVERY == 0 or step == total else False
            if stop:
                self.save_checkpoint("SIGTERM")
                return False
            if ckpt_every and step % ckpt_every == 0 and step < total:
                self.save_checkpoint("periodic")
        self._loop_seconds = time.perf_counter() - self._loop_start
        self._loop_steps = self.step - start_step
        if self.resumed_from != total:
            self.save_checkpoint("final")
        return True

    def summary(self) -> TrainingSummary:
        steps = getattr(self, "_loop_steps", 0)
        seconds = getattr(self, "_loop_seconds", 0.0)
        return TrainingSummary(
            steps=self.step,
            resumed_from_step=self.resumed_from,
            world_size=self.env.world,
            device=str(self.env.device),
            precision=self.precision,
            compiled=self.cfg.train.compile,
            samples_per_second=steps * self.cfg.train.batch_size / seconds if seconds else 0.0,
            started_at=self._started_at,
            finished_at=now(),
            parameters=self.n_params,
        )

    # ------------------------------------------------------------------------------ evaluate, publish
    def evaluate(self) -> Evaluation:
        cfg, data = self.cfg, self.data
        if isinstance(data, TabularData):
            return evaluate_tabular(self.model, data.eval, cfg.eval, self.env.device)
        assert isinstance(data, TextData)
        return evaluate_gpt(self.model, data.eval, cfg.model.block_size, cfg.eval, self.env.device)

    def finish(self) -> RunResult:
        cfg = self.cfg
        evaluation = self.evaluate()
        for gate in evaluation.gates:
            (log.info if gate.passed else log.warning)("gate %s", gate.describe())
        summary = self.summary()
        data = self.data
        assert data is not None
        features = data.feature_names if isinstance(data, TabularData) else None
        with tempfile.TemporaryDirectory(prefix="mlp-train-out-") as tmp:
            local = Path(tmp)
            card = write_outputs(cfg, self.model, evaluation, summary, data.datasets, features, local)
            log.info("outputs written to %s", cfg.run.output_uri)
            reg = None
            if registry.enabled(cfg):
                reg = registry.register(cfg, card, local)
                card["registry"] = reg
                update_card(cfg, card, local)
                if reg["alias"]:
                    log.info("registered %s version %s, alias %r set", reg["model_name"], reg["version"], reg["alias"])
                else:
                    log.warning(
                        "registered %s version %s WITHOUT alias %r: gates failed",
                        reg["model_name"],
                        reg["version"],
                        cfg.registry.alias,
                    )
        if not evaluation.passed:
            failed = "; ".join(g.describe() for g in evaluation.failed())
            log.warning("gates failed (%s): the model is marked rejected and not promoted", failed)
        return RunResult("completed", self.step, evaluation, card, summary, reg)


def train(cfg: TrainConfig, handle_sigterm: bool = True, preflight: bool = True) -> RunResult:
    """Run a whole training job in this process (one rank of it under torchrun)."""
    env = distributed.setup(cfg.train)
    trainer = Trainer(cfg, env)
    previous = None
    if handle_sigterm:
        previous = signal.signal(signal.SIGTERM, trainer.request_stop)
    try:
        if preflight:
            checks.preflight(cfg, env.is_main)
        done = env.broadcast(finished_card(cfg) if env.is_main else None)
        if done is not None and (done.get("registry") or not registry.enabled(cfg)):
            # A pod restarted after the job finished (a Job retry, a node loss) must not register twice.
            log.info("already finished: %s holds the outputs of this exact config; nothing to do", cfg.run.output_uri)
            return RunResult("completed", int(done["training"]["steps"]), card=done, extra={"already_finished": True})
        trainer.setup()
        if not trainer.fit():
            return RunResult("interrupted", trainer.step)
        if not env.is_main:
            return RunResult("completed", trainer.step)
        return trainer.finish()
    finally:
        if handle_sigterm:
            signal.signal(signal.SIGTERM, previous)
        distributed.teardown(env)
