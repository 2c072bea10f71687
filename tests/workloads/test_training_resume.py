"""Checkpoints: SIGKILL and restart resumes and matches an uninterrupted run; SIGTERM checkpoints
before exiting; partial or corrupt checkpoints are skipped, never loaded."""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.workloads.conftest import wait_for
from tests.workloads.helpers import popen_cli, tabular_config, write_config
from workloads.training.checkpoint import CheckpointManager
from workloads.training.config import parse_config
from workloads.training.synthetic import make_tabular
from workloads.training.trainer import EXIT_INTERRUPTED, train


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.csv"
    path.write_bytes(make_tabular(2000, seed=5))
    return path


def small(out: Path, train_csv: Path, steps: int, keep: int = 2, **train_values: object) -> dict:
    """One thread, tiny model: the same arithmetic in every process, so results are comparable."""
    return tabular_config(
        str(out),
        str(train_csv),
        run={"keep_checkpoints": keep},
        model={"hidden": [16]},
        train={"steps": steps, "batch_size": 32, "threads": 1, "log_every": 500, **train_values},
        eval={"min_accuracy": None},
    )


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.allclose(value, b[key], atol=atol, rtol=0), key


def test_sigkill_then_restart_resumes_and_matches_an_uninterrupted_run(train_csv: Path, tmp_path: Path) -> None:
    steps = 1000
    out = tmp_path / "killed"
    config = write_config(tmp_path / "c.yaml", small(out, train_csv, steps, checkpoint_every=50))
    first = popen_cli(["--config", str(config)], log=tmp_path / "first.log")
    marker = out / "checkpoints" / "step-000000050" / "manifest.json"
    wait_for(marker.exists, 60, "first checkpoint", first)
    first.send_signal(signal.SIGKILL)  # no handler runs: like a node that vanished
    assert first.wait(30) == -signal.SIGKILL
    assert not (out / "model").exists()
    killed_at = max(CheckpointManager(str(out / "checkpoints")).steps())
    assert 50 <= killed_at < steps

    second = popen_cli(["--config", str(config)], log=tmp_path / "second.log")
    reference = tmp_path / "reference"  # computed while the restarted run runs (one thread each)
    train(parse_config(small(reference, train_csv, steps, checkpoint_every=0)))
    assert second.wait(120) == 0, (tmp_path / "second.log").read_text()
    log = (tmp_path / "second.log").read_text()
    resumed = re.search(r"resumed from checkpoint \S+ \(step (\d+) of 1000\)", log)
    assert resumed, log
    assert 50 <= int(resumed.group(1)) <= killed_at  # the newest complete one
    assert f"step {steps}/{steps}" in log
    assert_same_weights(weights(out), weights(reference), atol=1e-6)


def test_sigterm_writes_a_checkpoint_before_exit(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", small(out, train_csv, 1_000_000, checkpoint_every=0, log_every=50))
    log = tmp_path / "run.log"
    proc = popen_cli(["--config", str(config)], log=log)
    wait_for(lambda: "step 50/" in log.read_text(), 60, "training started", proc)
    proc.send_signal(signal.SIGTERM)  # what the kubelet sends on a spot interruption notice
    assert proc.wait(60) == EXIT_INTERRUPTED
    text = log.read_text()
    assert "SIGTERM received" in text and "Traceback" not in text
    saved = re.search(r"checkpoint \(SIGTERM\) step (\d+)", text)
    assert saved, text
    latest = CheckpointManager(str(out / "checkpoints")).latest()
    assert latest is not None and latest.step == int(saved.group(1)) >= 50
    assert latest.trainer_state["step"] == latest.step


def test_partial_and_corrupt_checkpoints_are_skipped(
    train_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    train(parse_config(small(out, train_csv, 300, checkpoint_every=100, keep=3)))
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step-000000100", "step-000000200", "step-000000300"]
    # 300: a flipped byte in the weights; 200: the writer died before the manifest.
    blob = bytearray((ckpts / "step-000000300" / "model.safetensors").read_bytes())
    blob[-10] ^= 0xFF
    (ckpts / "step-000000300" / "model.safetensors").write_bytes(bytes(blob))
    (ckpts / "step-000000200" / "manifest.json").unlink()

    caplog.set_level(logging.INFO, logger="workloads.training")
    result = train(parse_config(small(out, train_csv, 320, checkpoint_every=100, keep=3)))
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "skipping checkpoint" in m and "step-000000300: model.safetensors does not match its manifest hash" in m
        for m in messages
    )
    assert any("step-000000200: incomplete (no manifest" in m for m in messages)
    assert result.summary is not None and result.summary.resumed_from_step == 100


def test_a_finished_run_restarted_does_nothing(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = train(parse_config(small(out, train_csv, 20)))
    card_before = (out / "model_card.json").read_bytes()
    again = train(parse_config(small(out, train_csv, 20)))  # e.g. the pod restarted after finishing
    assert again.extra == {"already_finished": True} and again.card == first.card
    assert (out / "model_card.json").read_bytes() == card_before
    longer = train(parse_config(small(out, train_csv, 30)))  # another config: it resumes and trains on
    assert longer.summary is not None and longer.summary.resumed_from_step == 20


def test_a_checkpoint_of_another_model_is_refused(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(parse_config(small(out, train_csv, 20)))
    changed = small(out, train_csv, 40)
    changed["model"]["hidden"] = [8]
    with pytest.raises(Exception, match="was written for another model config"):
        train(parse_config(changed))


def test_writes_are_atomic(tmp_path: Path) -> None:
    from workloads.training import storage

    target = tmp_path / "a" / "b.bin"
    storage.write_bytes(str(target), b"x" * 1000)
    storage.write_bytes(str(target), b"y" * 10)
    assert target.read_bytes() == b"y" * 10
    assert [p.name for p in target.parent.iterdir()] == ["b.bin"]  # no temporary left behind
