"""Training on CPU in one process: accuracy, outputs, model card, the fairness gate, the GPT sample."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import torch
from safetensors.torch import load_file

from tests.workloads.helpers import gpt_config, list_files, tabular_config, write_config
from workloads.training.cli import EXIT_GATE_FAILED, main
from workloads.training.config import parse_config
from workloads.training.models import GPT, TabularClassifier
from workloads.training.synthetic import make_tabular, make_text
from workloads.training.trainer import train

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "workloads/training/model_card.schema.json").read_text())
# The accuracy the README states for the synthetic tabular task after 300 steps on CPU.
STATED_ACCURACY = 0.85


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    (root / "fair.csv").write_bytes(make_tabular(6000, seed=1))
    (root / "biased.csv").write_bytes(make_tabular(6000, seed=2, bias=3.0))
    (root / "corpus.txt").write_bytes(make_text(60_000, seed=3))
    return root


def validate_card(card: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(card)


def test_tabular_reaches_stated_accuracy_and_writes_every_output(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = parse_config(tabular_config(str(out), str(data_dir / "fair.csv")))
    result = train(cfg)

    assert result.status == "completed" and result.step == 300
    assert result.evaluation is not None
    assert result.evaluation.metrics["accuracy"] >= STATED_ACCURACY
    assert result.gates_passed
    assert list_files(out) == [
        "checkpoints/step-000000200/manifest.json",
        "checkpoints/step-000000200/model.safetensors",
        "checkpoints/step-000000200/trainer.pt",
        "checkpoints/step-000000300/manifest.json",
        "checkpoints/step-000000300/model.safetensors",
        "checkpoints/step-000000300/trainer.pt",
        "metrics.json",
        "model/config.json",
        "model/model.pt2",
        "model/model.safetensors",
        "model_card.json",
    ]  # keep_checkpoints = 2; no temporary files left behind

    card = json.loads((out / "model_card.json").read_text())
    validate_card(card)
    assert card["status"] == "candidate"
    assert card["owner"] == {"team": "team-test", "contact": "test@example.com"}
    assert card["risk_tier"] == "limited"
    [dataset] = card["training_datasets"]
    assert dataset["sha256"] == hashlib.sha256((data_dir / "fair.csv").read_bytes()).hexdigest()
    assert dataset["rows"] == 6000
    assert card["fairness"]["sensitive_attribute"] == "group"
    assert set(card["fairness"]["by_group"]) == {"a", "b"}
    assert "group" not in card["model"]["inputs"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gates"]["passed"] is True
    assert metrics["metrics"]["accuracy"] == result.evaluation.metrics["accuracy"]

    # The weights load into a fresh model; the exported artifact needs no training code and agrees.
    model = TabularClassifier(len(card["model"]["inputs"]), [32, 32])
    model.load_state_dict(load_file(out / "model/model.safetensors"))
    program = torch.export.load(out / "model/model.pt2").module()
    x = torch.randn(5, len(card["model"]["inputs"])) * 2
    assert torch.allclose(program(x), torch.sigmoid(model(x)), atol=1e-6)
    assert program(x[:1]).shape == (1,)


def test_fairness_gate_catches_biased_data(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", tabular_config(str(out), str(data_dir / "biased.csv")))
    # Training itself succeeds; with fail_on_gate the exit status says the gate failed.
    assert main(["--config", str(config), "--eval.fail_on_gate", "true"]) == EXIT_GATE_FAILED

    metrics = json.loads((out / "metrics.json").read_text())
    failed = {c["name"] for c in metrics["gates"]["checks"] if not c["passed"]}
    assert "demographic_parity_difference" in failed
    assert metrics["fairness"]["demographic_parity_difference"] > 0.2
    rates = {g: m["selection_rate"] for g, m in metrics["fairness"]["by_group"].items()}
    assert rates["b"] < rates["a"]  # the model learned the historical bias through the proxy feature
    card = json.loads((out / "model_card.json").read_text())
    validate_card(card)
    assert card["status"] == "rejected"
    assert card["gates"]["passed"] is False and card["fairness"]["passed"] is False


def test_gpt_learns_the_synthetic_grammar(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = parse_config(gpt_config(str(out), str(data_dir / "corpus.txt")))
    result = train(cfg)

    assert result.evaluation is not None
    assert result.evaluation.metrics["val_loss"] < 2.0  # from ln(256) = 5.5 at initialisation
    assert result.gates_passed
    card = json.loads((out / "model_card.json").read_text())
    validate_card(card)
    assert card["fairness"] is None and card["model"]["kind"] == "gpt"

    model = GPT(32, 2, 2, 32)
    model.load_state_dict(load_file(out / "model/model.safetensors"))
    model.eval()
    program = torch.export.load(out / "model/model.pt2").module()
    prompt = torch.tensor([list(b"the cat sees ")])
    assert torch.allclose(program(prompt), model(prompt), atol=1e-5)
    # Greedy continuation stays inside the grammar's alphabet.
    idx = prompt
    for _ in range(12):
        idx = torch.cat([idx, program(idx[:, -32:])[:, -1:].argmax(-1)], dim=1)
    assert set(bytes(idx[0].tolist()).decode(errors="replace")) <= set("abcdefghijklmnopqrstuvwxyz .")
