"""The continuous-training pipeline end to end, in-process, on real parts: moto S3 (the datasets,
artifacts and models buckets), a PostgreSQL-backed MLflow server, the Feast repository with its SQL
registry on PostgreSQL and a real redis-server (with AUTH) as the online store, the real trainer, and an
HTTP server playing the Kubernetes API for the rollout (the official client talks to it).

The rollout's target is the InferenceService the platform itself renders for aws-prod's model
deployment: after the run it has the new version as a canary and still validates against KServe's CRD.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from tests.conftest import synth_stack
from tests.k8s_schema import manifest, validate
from tests.workloads.conftest import MlflowServer, Postgres, RedisServer, S3Server
from tests.workloads.kube import KubeApi
from workloads.pipelines import steps
from workloads.pipelines.config import Gates, PipelineSettings, RunContext
from workloads.pipelines.errors import GateFailedError
from workloads.pipelines.workflow import STEPS
from workloads.training.synthetic import make_tabular

NAMESPACE, MODEL = "research", "credit-approval"
BUCKETS = {"datasets": "ct-datasets", "artifacts": "ct-artifacts", "models": "ct-models"}
TRAIN_STEPS = 250


@pytest.fixture(scope="module")
def rendered_isvc() -> dict[str, Any]:
    """The InferenceService the platform renders for aws-prod's credit-approval (stable v7, no canary)."""
    syn = synth_stack("aws-prod")
    (found,) = [
        manifest(r)
        for r in syn.resources
        if r.type == "kubernetes:serving.kserve.io/v1beta1:InferenceService" and r.inputs["metadata"]["name"] == MODEL
    ]
    assert "canary" not in found["spec"]
    return found


@pytest.fixture
def kube(rendered_isvc: dict[str, Any]) -> Iterator[KubeApi]:
    api = KubeApi(copy.deepcopy(rendered_isvc))
    try:
        yield api
    finally:
        api.close()


# -- the services and the run ----------------------------------------------------------------------------


@pytest.fixture
def services(
    s3_env: S3Server,
    mlflow_server: MlflowServer,
    postgres: Postgres,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> S3Server:
    for bucket in BUCKETS.values():
        s3_env.bucket(bucket)
    env = {
        **mlflow_server.env,
        "FEAST_PROJECT": "ml_platform",
        "FEAST_REGISTRY": postgres.dsn("feast_registry"),
        "FEAST_OFFLINE_PATH": offline_path(),
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "REDIS_PASSWORD": redis_server.password,
        "REDIS_SSL": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return s3_env


def offline_path() -> str:
    return f"s3://{BUCKETS['datasets']}/features/ml_platform/applicants"


def put_csv(s3: S3Server, key: str, data: bytes) -> str:
    s3.client().put_object(Bucket=BUCKETS["datasets"], Key=key, Body=data)
    return f"s3://{BUCKETS['datasets']}/{key}"


def context(s3: S3Server, run_id: str, source: bytes, **gates: Any) -> RunContext:
    reference = put_csv(s3, "teams/research/credit/reference/credit-v3.csv", make_tabular(4000, seed=0))
    settings = PipelineSettings(
        team=NAMESPACE,
        pipeline="credit-approval-ct",
        runs_uri=f"s3://{BUCKETS['artifacts']}/teams/research/pipelines/credit-approval-ct",
        models_uri=f"s3://{BUCKETS['models']}/teams/research/{MODEL}",
        offline_path=offline_path(),
        registered_model=MODEL,
        model_deployment=MODEL,
        namespace=NAMESPACE,
        canary_percent=10,
        gates=Gates(**gates),
        train_overrides={"train.steps": TRAIN_STEPS, "train.device": "cpu", "train.checkpoint_every": 0},
        code_version="3f9c2ab",
    )
    source_uri = put_csv(s3, f"teams/research/credit/incoming/{run_id}.csv", source)
    return RunContext(settings, run_id, source_uri, reference)


def registered_versions(mlflow_server: MlflowServer) -> list[Any]:
    from mlflow import MlflowClient

    return MlflowClient(mlflow_server.url).search_model_versions(f"name='{MODEL}'")


def test_the_steps_of_the_template_are_the_steps_the_code_runs() -> None:
    assert tuple(steps.STEPS) == STEPS


def test_a_healthy_run_registers_the_version_and_rolls_it_out_as_a_canary(
    services: S3Server, mlflow_server: MlflowServer, kube: KubeApi
) -> None:
    ctx = context(services, "ct-healthy", make_tabular(1500, seed=11))
    before = {v.version for v in registered_versions(mlflow_server)}

    records = steps.run_all(ctx, kube.client())

    assert list(records) == list(STEPS)
    assert records["validate"]["passed"] and records["evaluate"]["passed"]
    assert records["materialize"]["feature_views"] == ["applicant_features"]
    assert records["train"]["rows"] == 1500 and records["train"]["steps"] == TRAIN_STEPS
    # the training CSV came out of the feature store: every row has its features, the label and the group
    train = pd.read_csv(io.BytesIO(services.client().get_object(**_key(records["train"]["train_uri"]))["Body"].read()))
    assert len(train) == 1500 and {"income", "group", "label"} <= set(train.columns) and not train.isna().any().any()

    reg = records["register"]
    assert reg["gates_passed"] and reg["alias"] == "candidate"
    (new,) = [v for v in registered_versions(mlflow_server) if v.version not in before]
    assert new.version == reg["version"]
    from mlflow import MlflowClient

    assert MlflowClient(mlflow_server.url).get_model_version_by_alias(MODEL, "candidate").version == new.version
    # the version's card carries the run's lineage and every gate
    card = json.loads(services.client().get_object(**_key(f"{ctx.model_output_uri}/model_card.json"))["Body"].read())
    assert card["pipeline"]["run_id"] == "ct-healthy" and card["pipeline"]["source_uri"] == ctx.source_uri
    assert {g["name"] for g in card["gates"]["checks"]} >= {"data_validation", "pipeline.accuracy"}

    # the rollout: one GET, one merge patch; the InferenceService now has the canary and is still valid
    assert [(m, ct.split(";")[0]) for m, _, ct in kube.requests] == [
        ("GET", ""),
        ("PATCH", "application/merge-patch+json"),
    ]
    isvc = kube.isvc
    (canary,) = isvc["spec"]["canary"]
    assert canary["trafficPercent"] == 10
    assert canary["predictor"]["name"] == f"v{new.version}"
    assert canary["predictor"]["model"]["storageUri"] == f"{ctx.model_output_uri}/model"
    assert not {"minReplicas", "maxReplicas", "scaleMetric"} & set(canary["predictor"])
    assert canary["predictor"]["serviceAccountName"] == isvc["spec"]["predictor"]["serviceAccountName"]
    assert isvc["spec"]["predictor"]["model"]["storageUri"].endswith("20261118-3f9c2ab/model")  # stable untouched
    assert isvc["metadata"]["annotations"]["ml-platform/canary-model-version"] == new.version
    assert validate(isvc, "1.33") == []


def test_a_shifted_batch_stops_the_run_at_validation(
    services: S3Server, mlflow_server: MlflowServer, kube: KubeApi
) -> None:
    shifted = pd.read_csv(io.BytesIO(make_tabular(1500, seed=12)))
    shifted["income"] = shifted["income"] + 1.0  # a new population: incomes one standard deviation higher
    ctx = context(services, "ct-shifted", shifted.to_csv(index=False).encode())
    before = len(registered_versions(mlflow_server))

    with pytest.raises(GateFailedError, match=r"psi income"):
        steps.run_all(ctx, kube.client())

    record = ctx.read("validate")
    assert not record["passed"]
    assert [c["column"] for c in record["checks"] if not c["passed"]] == ["income"]
    keys = services.keys(BUCKETS["artifacts"], "teams/research/pipelines/credit-approval-ct/ct-shifted/")
    assert not any(k.endswith(("train.json", "register.json", "rollout.json")) for k in keys)
    assert len(registered_versions(mlflow_server)) == before and kube.requests == []


def test_an_unfair_model_stops_the_run_at_evaluation_and_is_never_served(
    services: S3Server, mlflow_server: MlflowServer, kube: KubeApi
) -> None:
    # historically biased decisions: group b's labels shifted down, the model learns the proxy feature
    ctx = context(services, "ct-biased", make_tabular(1500, seed=13, bias=3.0), max_psi=1.0)
    before = len(registered_versions(mlflow_server))

    with pytest.raises(GateFailedError, match=r"demographic_parity_difference"):
        steps.run_all(ctx, kube.client())

    assert not ctx.read("evaluate")["passed"]
    assert len(registered_versions(mlflow_server)) == before and kube.requests == []
    # register run by hand after the failed gate (an operator retrying the step): a version for the
    # audit trail, but no alias, and the rollout refuses to serve it
    reg = steps.register(ctx)
    assert not reg["gates_passed"] and reg["alias"] is None
    assert steps.rollout(ctx, kube.client())["rolled_out"] is False
    assert kube.requests == []


def _key(uri: str) -> dict[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return {"Bucket": bucket, "Key": key}


# -- the step command each pod runs ----------------------------------------------------------------------


def test_the_step_command_exits_2_on_missing_settings_and_3_on_a_failed_gate(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workloads.pipelines.__main__ import main

    for key in ("PIPELINE_SETTINGS", "PIPELINE_RUN_ID", "PIPELINE_SOURCE_URI", "PIPELINE_REFERENCE_URI"):
        monkeypatch.delenv(key, raising=False)
    assert main(["ingest"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: PIPELINE_SETTINGS, PIPELINE_RUN_ID, PIPELINE_SOURCE_URI, PIPELINE_REFERENCE_URI not set "
        "(the WorkflowTemplate sets them)"
    ]
    monkeypatch.setenv("PIPELINE_SETTINGS", '{"team": "research"}')
    for key in ("PIPELINE_RUN_ID", "PIPELINE_SOURCE_URI", "PIPELINE_REFERENCE_URI"):
        monkeypatch.setenv(key, "x")
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: PIPELINE_SETTINGS: pipeline: Field required") and "\n" not in err

    # local files: ingest, then a batch from another population fails validation with status 3
    shifted = pd.read_csv(io.BytesIO(make_tabular(600, seed=5)))
    shifted["debt"] = shifted["debt"] * 3
    (tmp_path / "batch.csv").write_bytes(shifted.to_csv(index=False).encode())
    (tmp_path / "reference.csv").write_bytes(make_tabular(2000, seed=0))
    settings = PipelineSettings(
        team=NAMESPACE,
        pipeline="ct",
        runs_uri=str(tmp_path / "runs"),
        models_uri=str(tmp_path / "models"),
        offline_path=str(tmp_path / "offline"),
        registered_model=MODEL,
        model_deployment=MODEL,
        namespace=NAMESPACE,
    )
    monkeypatch.setenv("PIPELINE_SETTINGS", settings.model_dump_json())
    monkeypatch.setenv("PIPELINE_RUN_ID", "run-1")
    monkeypatch.setenv("PIPELINE_SOURCE_URI", str(tmp_path / "batch.csv"))
    monkeypatch.setenv("PIPELINE_REFERENCE_URI", str(tmp_path / "reference.csv"))
    assert main(["ingest"]) == 0
    assert main(["validate"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: data validation failed: ") and "debt" in err[-1]
    assert json.loads((tmp_path / "runs" / "run-1" / "validate.json").read_text())["passed"] is False
