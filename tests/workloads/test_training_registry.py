"""Registration against a real MLflow server on a real PostgreSQL, artifacts in the moto S3."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import torch

from tests.workloads.conftest import MlflowServer, S3Server, free_port
from tests.workloads.helpers import tabular_config, write_config
from workloads.training.cli import main
from workloads.training.config import parse_config
from workloads.training.synthetic import make_tabular
from workloads.training.trainer import train

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "workloads/training/model_card.schema.json").read_text())
MODEL = "credit-scoring"


@pytest.fixture
def registry_env(mlflow_server: MlflowServer, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for key, value in mlflow_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ML_PLATFORM_CODE_VERSION", "0123abcd")
    monkeypatch.setenv("ML_PLATFORM_IMAGE", "registry.example/training:1.0.0")
    monkeypatch.setenv("ML_PLATFORM_JOB_ID", "team-credit/credit-scoring-7")
    return s3_env


def run(s3: S3Server, name: str, bias: float) -> tuple[dict, bytes]:
    data = make_tabular(6000, seed=21, bias=bias)
    s3.client().put_object(Bucket=s3.bucket("datasets"), Key=f"{name}.csv", Body=data)
    s3.bucket("models")
    doc = tabular_config(
        f"s3://models/{name}",
        f"s3://datasets/{name}.csv",
        run={"name": MODEL},
        train={"checkpoint_every": 0},
        registry={"mode": "always", "alias": "candidate"},
    )
    result = train(parse_config(doc))
    assert result.card is not None
    return result.card, data


def test_versions_carry_lineage_and_only_a_passing_one_gets_the_alias(
    registry_env: S3Server, mlflow_server: MlflowServer
) -> None:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    s3 = registry_env
    card, data = run(s3, "fair", bias=0.0)
    client = MlflowClient(mlflow_server.url)
    assert card["registry"]["model_name"] == MODEL and card["registry"]["alias"] == "candidate"
    good = client.get_model_version_by_alias(MODEL, "candidate")
    assert good.version == card["registry"]["version"]
    tags = good.tags
    assert tags["ai.owner"] == "team-test"
    assert tags["ai.contact"] == "test@example.com"
    assert tags["ai.risk-tier"] == "limited"
    assert tags["ai.intended-use"] == "Testing the training workload."
    assert tags["ai.model-card-uri"] == "s3://models/fair/model_card.json"
    assert tags["ai.training-dataset-uri"] == "s3://datasets/fair.csv"
    assert tags["ai.dataset-version"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert tags["ai.code-version"] == "0123abcd"
    assert tags["ai.image"] == "registry.example/training:1.0.0"
    assert tags["ai.training-job"] == "team-credit/credit-scoring-7"
    assert tags["ai.gates"] == "passed" and tags["ai.status"] == "candidate"
    assert json.loads(tags["ai.limitations"]) == ["Synthetic data."]
    assert float(tags["metric.accuracy"]) >= 0.85
    assert float(tags["fairness.demographic_parity_difference"]) <= 0.1

    # The card in the output location records the registry entry and still matches its schema.
    stored = json.loads(s3.client().get_object(Bucket="models", Key="fair/model_card.json")["Body"].read())
    jsonschema.validate(stored, SCHEMA)
    assert stored["registry"]["version"] == good.version and stored["code_version"]["git_commit"] == "0123abcd"

    # The version's files went through the tracking server into the moto bucket, and load back.
    keys = s3.keys("mlflow-artifacts")
    assert any(k.endswith(f"{good.run_id}/artifacts/model/model.pt2") for k in keys), keys
    assert any(k.endswith(f"{good.run_id}/artifacts/model_card.json") for k in keys)
    local = Path(download_artifacts(f"models:/{MODEL}@candidate"))
    program = torch.export.load(local / "model.pt2").module()
    assert program(torch.zeros(3, 7)).shape == (3,)

    # A run on biased data registers a version marked failed; the alias stays where it was.
    biased_card, _ = run(s3, "biased", bias=3.0)
    assert biased_card["status"] == "rejected" and biased_card["registry"]["alias"] is None
    bad = client.get_model_version(MODEL, biased_card["registry"]["version"])
    assert int(bad.version) == int(good.version) + 1
    assert bad.tags["ai.gates"] == "failed" and bad.tags["ai.status"] == "rejected"
    assert "demographic_parity_difference" in bad.tags["ai.gates.failed"]
    assert client.get_model_version_by_alias(MODEL, "candidate").version == good.version
    assert client.get_registered_model(MODEL).aliases == {"candidate": good.version}


def test_unreachable_registry_fails_before_training(
    s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    doc = tabular_config(str(tmp_path / "out"), str(tmp_path / "train.csv"), registry={"mode": "auto"})
    assert main(["--config", str(write_config(tmp_path / "c.yaml", doc))]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: cannot reach MLflow at {dead}: ")
    assert not (tmp_path / "out" / "checkpoints").exists()
