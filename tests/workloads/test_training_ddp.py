"""DDP: two gloo processes under torchrun give the weights one process gives on the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.workloads.conftest import REPO
from tests.workloads.helpers import cli_env, gpt_config, tabular_config, write_config
from workloads.training.config import parse_config
from workloads.training.synthetic import make_tabular, make_text
from workloads.training.trainer import train


def torchrun(config: Path, log: Path, *overrides: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "workloads.training", "--config", str(config), *overrides]
    return subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.allclose(value, b[key], rtol=0, atol=atol), (key, (value - b[key]).abs().max())


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(make_tabular(3000, seed=7))
    text = tmp_path / "corpus.txt"
    text.write_bytes(make_text(30_000, seed=7))

    def tab(out: str) -> dict:
        # dropout 0: dropout masks differ per rank by design, which is not what this test compares
        return tabular_config(
            str(tmp_path / out), str(data), train={"steps": 150, "batch_size": 64, "threads": 1, "checkpoint_every": 0}
        )

    def gpt(out: str) -> dict:
        return gpt_config(str(tmp_path / out), str(text), train={"steps": 30, "batch_size": 8, "threads": 1})

    log_tab, log_gpt = tmp_path / "ddp-tab.log", tmp_path / "ddp-gpt.log"
    proc = torchrun(write_config(tmp_path / "tab.yaml", tab("ddp-tab")), log_tab)
    train(parse_config(tab("one-tab")))  # the single-process reference, while torchrun runs
    assert proc.wait(180) == 0, log_tab.read_text()
    proc = torchrun(write_config(tmp_path / "gpt.yaml", gpt("ddp-gpt")), log_gpt)
    train(parse_config(gpt("one-gpt")))
    assert proc.wait(180) == 0, log_gpt.read_text()

    log = log_tab.read_text()
    assert "2 process(es) on cpu" in log
    # Summation order differs (gradients averaged across ranks): tabular agrees to 1e-5; in the GPT,
    # Adam turns float noise on near-zero gradients into differences of a few % of one step (lr 3e-3).
    for kind, atol in (("tab", 1e-5), ("gpt", 3e-4)):
        ddp, one = tmp_path / f"ddp-{kind}", tmp_path / f"one-{kind}"
        assert_close(load_file(ddp / "model/model.safetensors"), load_file(one / "model/model.safetensors"), atol)
        card = json.loads((ddp / "model_card.json").read_text())
        assert card["training"]["world_size"] == 2
        assert (
            card["training"]["global_batch_size"]
            == json.loads((one / "model_card.json").read_text())["training"]["global_batch_size"]
        )
