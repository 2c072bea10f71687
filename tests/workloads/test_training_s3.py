"""Data, checkpoints and outputs on S3: a moto server over TCP, found through AWS_ENDPOINT_URL only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.workloads.conftest import S3Server, free_port
from tests.workloads.helpers import cli, cli_env, one_line_error, tabular_config, write_config
from workloads.training.config import parse_config
from workloads.training.synthetic import make_tabular
from workloads.training.trainer import train


def test_train_from_s3_to_s3_and_resume_from_s3(s3: S3Server, s3_env: S3Server, tmp_path: Path) -> None:
    data = make_tabular(3000, seed=11)
    s3.client().put_object(Bucket=s3.bucket("datasets"), Key="credit/train.csv", Body=data)
    s3.bucket("models")
    doc = tabular_config(
        "s3://models/credit/run-1",
        "s3://datasets/credit/train.csv",
        train={"steps": 200, "checkpoint_every": 100},
        eval={"min_accuracy": None},
    )
    proc = cli(["--config", str(write_config(tmp_path / "c.yaml", doc))], env=cli_env(s3.env))
    assert proc.returncode == 0, proc.stderr

    keys = s3.keys("models", "credit/run-1/")
    assert {k.removeprefix("credit/run-1/") for k in keys} == {
        "checkpoints/step-000000100/manifest.json",
        "checkpoints/step-000000100/model.safetensors",
        "checkpoints/step-000000100/trainer.pt",
        "checkpoints/step-000000200/manifest.json",
        "checkpoints/step-000000200/model.safetensors",
        "checkpoints/step-000000200/trainer.pt",
        "metrics.json",
        "model/config.json",
        "model/model.pt2",
        "model/model.safetensors",
        "model_card.json",
    }  # and no write probe left behind
    card = json.loads(s3.client().get_object(Bucket="models", Key="credit/run-1/model_card.json")["Body"].read())
    assert card["training_datasets"][0] == {
        "uri": "s3://datasets/credit/train.csv",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "rows": 3000,
        "role": "train",
    }
    assert card["model"]["artifacts"]["inference"] == "s3://models/credit/run-1/model/model.pt2"

    # The same run, longer: it resumes from the checkpoint on S3 (here in-process, same endpoint).
    longer = parse_config({**doc, "train": {**doc["train"], "steps": 250}})
    result = train(longer)
    assert result.summary is not None and result.summary.resumed_from_step == 200
    assert "credit/run-1/checkpoints/step-000000250/manifest.json" in s3.keys("models", "credit/run-1/")


def test_unreachable_or_missing_storage_is_a_one_line_error(s3: S3Server, tmp_path: Path) -> None:
    doc = tabular_config("s3://models/x", "s3://datasets/credit/train.csv")
    config = str(write_config(tmp_path / "c.yaml", doc))
    dead = {**s3.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    proc = cli(["--config", config], env=cli_env(dead))
    assert proc.returncode == 4
    line = one_line_error(proc)
    assert line.startswith("error: cannot write s3://models/x/.write-probe: Could not connect to the endpoint URL")

    proc = cli(["--config", config, "--run.output_uri", "s3://no-such-bucket/x"], env=cli_env(s3.env))
    assert proc.returncode == 4
    assert one_line_error(proc) == "error: cannot write s3://no-such-bucket/x/.write-probe: not found"
