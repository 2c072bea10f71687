"""Helpers for the training tests: small configs, data files, running the CLI as a real process."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.workloads.conftest import REPO, base_env

CARD = {
    "owner": "team-test",
    "contact": "test@example.com",
    "intended_use": "Testing the training workload.",
    "risk_tier": "limited",
    "limitations": ["Synthetic data."],
}


def tabular_config(output_uri: str, train_uri: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A small tabular config that trains in about a second on one CPU core."""
    doc: dict[str, Any] = {
        "run": {"name": "tabular-test", "output_uri": output_uri, "seed": 0},
        "model": {"kind": "tabular", "hidden": [32, 32]},
        "data": {"train_uri": train_uri, "eval_fraction": 0.25},
        "train": {
            "steps": 300,
            "batch_size": 64,
            "lr": 0.005,
            "lr_schedule": "cosine",
            "log_every": 100,
            "checkpoint_every": 100,
        },
        "eval": {"min_accuracy": 0.85},
        "registry": {"mode": "never"},
        "card": dict(CARD),
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return copy.deepcopy(doc)


def gpt_config(output_uri: str, train_uri: str, **sections: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run": {"name": "gpt-test", "output_uri": output_uri},
        "model": {"kind": "gpt", "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32},
        "data": {"train_uri": train_uri, "eval_fraction": 0.1},
        "train": {"steps": 150, "batch_size": 16, "lr": 0.003, "warmup_steps": 10, "log_every": 50},
        "eval": {"max_val_loss": 2.0},
        "registry": {"mode": "never"},
        "card": {**CARD, "risk_tier": "minimal"},
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return doc


def train_tabular(root: Path, *, rows: int = 2000, seed: int = 0, steps: int = 100) -> Path:
    """A tabular model trained in-process by the training workload (a second or two on a CPU core) on
    `rows` synthetic rows; returns the run directory (its model/ is the served artifact)."""
    from workloads.training.config import parse_config
    from workloads.training.synthetic import make_tabular
    from workloads.training.trainer import train

    (root / "train.csv").write_bytes(make_tabular(rows, seed=5))
    doc = tabular_config(
        str(root / "run"),
        str(root / "train.csv"),
        run={"seed": seed},
        train={"steps": steps, "checkpoint_every": 0, "log_every": 1000},
        eval={"min_accuracy": None},
    )
    train(parse_config(doc), handle_sigterm=False)
    return root / "run"


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def cli_env(extra: dict[str, str] | None = None, threads: int = 1) -> dict[str, str]:
    env = base_env()
    env["OMP_NUM_THREADS"] = str(threads)
    env.update(extra or {})
    return env


def cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m workloads.training ARGS`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "workloads.training", *args],
        cwd=REPO,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def popen_cli(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    out = log.open("w") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "workloads.training", *args],
        cwd=REPO,
        env=env or cli_env(),
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        text=True,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The error line of a failed run, asserting it is a clean one-liner (no traceback)."""
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def list_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
