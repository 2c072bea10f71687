"""What workloads/README.md says about registration in MLflow ("### Registration in MLflow", the model
card's `registry` field, "a run restarted after it finished ... exits without training or registering
again"), against the real MLflow server of the session fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.workloads.conftest import MlflowServer
from tests.workloads.helpers import cli, cli_env, tabular_config, write_config
from tests.workloads.test_readme_training import names_outside_parentheses, section, table
from workloads.training.synthetic import make_tabular

MODEL = "readme-registry"


def test_the_trainer_registers_through_the_tracking_server_alone(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The training process gets MLFLOW_TRACKING_URI and nothing else: no S3 endpoint or credentials, so the
    artifacts can only reach the artifact store through the tracking server's proxy."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    (tmp_path / "train.csv").write_bytes(make_tabular(6000, seed=21))
    doc = tabular_config(
        str(tmp_path / "out"),
        str(tmp_path / "train.csv"),
        run={"name": MODEL},
        train={"checkpoint_every": 0},
        registry={"mode": "auto"},
    )
    config = str(write_config(tmp_path / "c.yaml", doc))
    env = cli_env(
        {
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            "AWS_CONFIG_FILE": str(tmp_path / "absent"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "absent"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    proc = cli(["--config", config], env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    card = json.loads((tmp_path / "out" / "model_card.json").read_text())
    assert card["status"] == "candidate"
    assert set(card["registry"]) == names_outside_parentheses(table("### Model card")["registry"]) - {"null"}
    client = MlflowClient(mlflow_server.url)
    version = client.get_model_version(MODEL, card["registry"]["version"])
    assert client.get_registered_model(MODEL).aliases == {"candidate": version.version}

    # Every tag the README lists is on the version.
    text = section("### Registration in MLflow")
    listed = {t for t in re.findall(r"`([^`]+)`", text) if t.startswith(("ai.", "fairness.", "metric."))}
    assert "metric.<name>" in listed
    expected = (listed - {"metric.<name>"}) | {f"metric.{name}" for name in card["metrics"]}
    assert expected <= set(version.tags), sorted(expected - set(version.tags))

    # One MLflow run: the config as params, the metrics, the outputs as proxied artifacts.
    run = client.get_run(version.run_id)
    assert run.data.params["train.steps"] == "300" and run.data.params["model.kind"] == "tabular"
    assert run.data.metrics["accuracy"] == card["metrics"]["accuracy"]
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert version.source == f"{run.info.artifact_uri}/model"
    copy = Path(
        download_artifacts(
            run_id=version.run_id,
            artifact_path="model_card.json",
            tracking_uri=mlflow_server.url,
            dst_path=str(tmp_path / "dl"),
        )
    )
    assert json.loads(copy.read_text())["registry"] is None  # written before registration

    # The same job restarted after it finished (a Job retry): no training, no second version.
    again = cli(["--config", config], env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already finished" in again.stderr
    versions = client.search_model_versions(f"name='{MODEL}'")
    assert [v.version for v in versions] == [version.version]
