"""The trainer's command line: every option documented, overrides, one-line config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.workloads.helpers import cli, one_line_error, tabular_config, write_config
from workloads.training.cli import main
from workloads.training.config import SECTIONS, load_config
from workloads.training.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[2] / "workloads" / "training" / "configs"


def test_help_documents_every_option() -> None:
    proc = cli(["--help"])
    assert proc.returncode == 0
    help_text = " ".join(proc.stdout.split())
    for section, model in SECTIONS.items():
        for name, info in model.model_fields.items():
            assert f"--{section}.{name}" in help_text
            assert info.description and " ".join(info.description.split()) in help_text, (section, name)
    for word in ("exit status", "MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "torchrun", "143"):
        assert word in help_text


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.yaml")))
def test_sample_configs_are_valid(sample: str) -> None:
    cfg = load_config(SAMPLES / sample)
    assert cfg.card.owner and cfg.card.intended_use


def test_command_line_overrides_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path / "c.yaml", tabular_config("out", "train.csv"))
    argv = ["--config", str(path), "--train.steps", "7", "--model.hidden", "8,4", "--eval.min_accuracy", "none"]
    assert main([*argv, "--train.compile", "true", "--card.limitations", "a,b", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["steps"] == 7
    assert printed["train"]["compile"] is True
    assert printed["model"]["hidden"] == [8, 4]
    assert printed["eval"]["min_accuracy"] is None
    assert printed["card"]["limitations"] == ["a", "b"]
    assert printed["train"]["batch_size"] == 64  # from the file
    assert printed["run"]["checkpoint_uri"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": {"steps": 0}}, "c.yaml: train.steps: Input should be greater than or equal to 1"),
        ({"train": {"stepz": 5}}, "c.yaml: train.stepz: unknown key"),
        ({"model": {"kind": "gpt", "n_embd": 30, "n_head": 4}}, "model: n_embd (30) must be a multiple of n_head (4)"),
        ({"card": {"risk_tier": "prohibited"}}, "card: risk tier 'prohibited': such a model may not be trained"),
        ({"train": {"precision": "fp8"}}, "train.precision: Input should be 'auto', 'fp32' or 'bf16'"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, change: dict, message: str) -> None:
    doc = tabular_config("out", "train.csv")
    for section, values in change.items():
        doc[section] = {**doc[section], **values}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path / "c.yaml", doc))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_required_key(tmp_path: Path) -> None:
    doc = tabular_config("out", "train.csv")
    del doc["card"]["owner"]
    with pytest.raises(ConfigError, match=r"c\.yaml: card\.owner: Field required"):
        load_config(write_config(tmp_path / "c.yaml", doc))


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("run: [unclosed\n")
    assert "not valid YAML" in one_line_error(cli(["--config", str(bad_yaml)]))
    missing = one_line_error(cli(["--config", str(tmp_path / "nope.yaml")]))
    assert "nope.yaml: cannot read the config file" in missing
    good = write_config(tmp_path / "c.yaml", tabular_config(str(tmp_path / "out"), str(tmp_path / "absent.csv")))
    proc = cli(["--config", str(good), "--train.batch_size", "-3"])
    assert proc.returncode == 2
    assert one_line_error(proc) == (f"error: {good}: train.batch_size: Input should be greater than or equal to 1")
    proc = cli(["--config", str(good)])  # valid config, the training data is not there
    assert proc.returncode == 4
    assert one_line_error(proc) == f"error: cannot read {tmp_path / 'absent.csv'}: not found"
