"""TrainingPipeline: the stack's `pipelines[]` as Argo WorkflowTemplate + CronWorkflow in the team namespace.

What a platform engineer relies on: the objects are valid for the pinned Argo Workflows, every step runs
the pipeline image as the team's `pipeline` identity on the right nodes with a restricted context, the
settings the steps read point at the team's own prefixes (which that identity may write), no secret is
in the manifests, lineage is on everything, and the model deployment leaves its canary to the pipeline.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra.config import ConfigError, parse_platform
from infra.synth import Synthesis
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.k8s_schema import is_kubernetes, manifest, validate
from workloads.pipelines.config import PipelineSettings
from workloads.pipelines.workflow import ANN_PIPELINE_STEP, STEPS

LINEAGE = (
    "ml-platform/owner",
    "ml-platform/risk-tier",
    "ml-platform/dataset",
    "ml-platform/reference-dataset",
    "ml-platform/code-version",
    "ml-platform/registered-model",
    "ml-platform/pipeline",
)


def objects(syn: Synthesis, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]


def template(syn: Synthesis) -> dict[str, Any]:
    (found,) = objects(syn, "WorkflowTemplate")
    return found


def steps_of(wt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in wt["spec"]["templates"] if "container" in t}


def env(step: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in step["container"]["env"]}


@pytest.fixture(scope="module", params=["aws-prod", "gcp-prod"])
def prod(request: pytest.FixtureRequest) -> Synthesis:
    return synth_stack(request.param)


def test_objects_are_valid_for_the_pinned_argo_and_kubernetes(prod: Synthesis) -> None:
    version = prod.spec.cluster.kubernetes_version
    found = objects(prod, "WorkflowTemplate") + objects(prod, "CronWorkflow") + objects(prod, "ConfigMap")
    assert {o["kind"] for o in found} >= {"WorkflowTemplate", "CronWorkflow"}
    for obj in found:
        assert validate(obj, version) == [], obj["metadata"]["name"]


def test_the_dag_runs_every_step_in_order_in_the_team_namespace(prod: Synthesis) -> None:
    wt = template(prod)
    assert wt["metadata"]["namespace"] == "research" and wt["metadata"]["name"] == "credit-approval-ct"
    (dag,) = [t for t in wt["spec"]["templates"] if "dag" in t]
    tasks = dag["dag"]["tasks"]
    assert [t["name"] for t in tasks] == list(STEPS)
    assert [t.get("depends") for t in tasks] == [None, *STEPS[:-1]]
    for name, step in steps_of(wt).items():
        assert step["container"]["command"] == ["python", "-m", "workloads.pipelines", name]
        assert step["container"]["image"] == prod.spec.pipelines[0].image
        # Kubernetes' failures are retried, a failed gate (the step's own exit) is not
        assert step["retryStrategy"]["retryPolicy"] == "OnError"


def test_pods_run_restricted_as_the_pipeline_identity_on_the_worker_pool(prod: Synthesis) -> None:
    spec = template(prod)["spec"]
    assert spec["serviceAccountName"] == "pipeline"
    assert (
        spec["securityContext"]["runAsNonRoot"]
        and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    for step in steps_of(template(prod)).values():
        ctx = step["container"]["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert (
            step["container"]["resources"]["limits"]["memory"] == step["container"]["resources"]["requests"]["memory"]
        )
        assert step["nodeSelector"] == {"ml-platform/role": "worker"}
        assert "tolerations" not in step


def test_the_settings_point_at_the_team_prefixes_the_pipeline_identity_may_write(prod: Synthesis) -> None:
    steps = steps_of(template(prod))
    values = {json.dumps(env(s)["PIPELINE_SETTINGS"]) for s in steps.values()}
    assert len(values) == 1  # every step reads the same settings
    settings = PipelineSettings.model_validate_json(env(steps["ingest"])["PIPELINE_SETTINGS"])
    scheme = "s3" if prod.spec.cloud == "aws" else "gs"
    assert (
        settings.runs_uri.startswith(f"{scheme}://")
        and "/teams/research/pipelines/credit-approval-ct" in settings.runs_uri
    )
    assert "-artifacts-" in settings.runs_uri
    assert settings.models_uri.endswith("/teams/research/credit-approval") and "-models-" in settings.models_uri
    assert settings.offline_path.endswith("/features/ml_platform/applicants") and "-datasets-" in settings.offline_path
    assert settings.model_deployment == "credit-approval" and settings.namespace == "research"
    assert settings.gates.min_accuracy == prod.spec.pipelines[0].gates.min_accuracy
    assert settings.train_overrides == {"train.device": "cpu"}


def test_services_are_the_platforms_and_no_secret_is_in_the_manifests(prod: Synthesis) -> None:
    steps = steps_of(template(prod))
    values = env(steps["materialize"])
    assert values["MLFLOW_TRACKING_URI"].startswith("http://mlflow.")
    assert values["FEAST_REGISTRY"].startswith("feast-registry.feast.svc")
    assert values["REDIS_SSL"] == "true" and values["REDIS_HOST"] and values["REDIS_PORT"].isdigit()
    # the AUTH token only through the team's synced Secret, only for the steps that talk to the cache
    assert values["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "online-store", "key": "password"}}
    for name, step in steps.items():
        assert ("REDIS_PASSWORD" in env(step)) == (name in ("materialize", "train"))
        # only the register step talks to MLflow, as the team's user when its Secret exists
        assert ("MLFLOW_TRACKING_PASSWORD" in env(step)) == (name == "register")
    assert env(steps["register"])["MLFLOW_TRACKING_PASSWORD"] == {
        "secretKeyRef": {"name": "mlflow-credentials", "key": "password", "optional": True}
    }
    text = json.dumps(objects(prod, "WorkflowTemplate") + objects(prod, "CronWorkflow")).lower()
    assert "password=" not in text and "secretaccesskey" not in text


def test_lineage_is_on_the_template_the_schedule_and_every_workflow_they_start(prod: Synthesis) -> None:
    wt = template(prod)
    (cron,) = objects(prod, "CronWorkflow")
    for where in (
        wt["metadata"]["annotations"],
        wt["spec"]["workflowMetadata"]["annotations"],
        cron["metadata"]["annotations"],
        cron["spec"]["workflowSpec"]["workflowMetadata"]["annotations"],
    ):
        assert all(where.get(key) for key in LINEAGE), where
        assert where["ml-platform/dataset"] == prod.spec.pipelines[0].source_uri
        assert where["ml-platform/risk-tier"] == "high"
    for template_ in wt["spec"]["templates"]:
        assert template_["metadata"]["annotations"][ANN_PIPELINE_STEP]
    assert cron["spec"]["schedules"] == ["0 3 * * 1"] and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"] == {"name": "credit-approval-ct"}


def test_the_pipeline_owns_the_canary_of_its_model(prod: Synthesis) -> None:
    (isvc,) = [r for r in prod.resources if r.type.endswith(":InferenceService")]
    assert "spec.canary" in isvc.ignore_changes
    # models without a pipeline keep their canary under the stack's control
    dev = synth_stack("aws-dev")
    (dev_isvc,) = [r for r in dev.resources if r.type.endswith(":InferenceService")]
    assert dev_isvc.ignore_changes == ()


def test_the_cache_ca_is_mounted_where_the_cloud_has_its_own(prod: Synthesis) -> None:
    steps = steps_of(template(prod))
    mounted = {n for n, s in steps.items() if any(v["name"].endswith("online-store-ca") for v in s.get("volumes", []))}
    if prod.spec.cloud == "gcp":  # Memorystore's per-instance CA
        assert mounted == {"materialize", "train"}
        assert env(steps["train"])["REDIS_CA"] == "/etc/ml-platform/online-store/ca.pem"
        (ca,) = [
            o
            for o in objects(prod, "ConfigMap")
            if o["metadata"]["name"] == "credit-approval-ct-online-store-ca"
            and o["metadata"]["namespace"] == "research"
        ]
        assert "BEGIN CERTIFICATE" in ca["data"]["ca.pem"]
    else:  # ElastiCache's certificate is publicly trusted
        assert mounted == set() and "REDIS_CA" not in env(steps["train"])


def pipeline_variant(stack: str, **changes: Any) -> dict[str, Any]:
    platform = raw_platform(stack)
    platform["pipelines"][0].update(changes)
    return platform


def test_a_gpu_pool_puts_only_the_train_step_on_gpus() -> None:
    syn = synth_platform(pipeline_variant("aws-prod", pool="l4-serve"))
    steps = steps_of(template(syn))
    train = steps["train"]
    assert train["nodeSelector"] == {"ml-platform/pool": "l4-serve"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in train["tolerations"] or any(
        t["key"] == "nvidia.com/gpu" for t in train["tolerations"]
    )
    assert train["container"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    settings = PipelineSettings.model_validate_json(env(train)["PIPELINE_SETTINGS"])
    assert settings.train_overrides == {"train.device": "cuda"}
    for name, step in steps.items():
        if name != "train":
            assert step["nodeSelector"] == {"ml-platform/role": "worker"}
            assert "nvidia.com/gpu" not in step["container"]["resources"].get("limits", {})


def test_without_a_schedule_there_is_only_the_template() -> None:
    syn = synth_platform(pipeline_variant("gcp-prod", schedule=None))
    assert len(objects(syn, "WorkflowTemplate")) == 1 and objects(syn, "CronWorkflow") == []


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"model": "fraud"}, "pipelines[0].model", "no model deployment 'fraud'"),
        ({"sourceUri": "s3://elsewhere/teams/recsys/x.csv"}, "pipelines[0].sourceUri", "outside teams/research/"),
        ({"referenceUri": "gs://b/teams/research/r.csv"}, "pipelines[0].referenceUri", "not a s3:// URI"),
        ({"pool": "a100"}, "pipelines[0].pool", "no GPU pool 'a100'"),
        ({"schedule": "every monday"}, "pipelines[0].schedule", "not a cron schedule"),
        ({"image": "repo/pipelines:latest"}, "pipelines[0].image", "not pinned"),
    ],
)
def test_stack_file_mistakes_get_one_line_errors(change: dict[str, Any], path: str, message: str) -> None:
    platform = pipeline_variant("aws-prod", **change)
    with pytest.raises(ConfigError) as err:
        parse_platform(platform, "stack.yaml")
    assert path in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_a_model_with_a_static_canary_cannot_also_be_rolled_out_by_a_pipeline() -> None:
    platform = raw_platform("aws-dev")
    prod = raw_platform("aws-prod")
    pipe = copy.deepcopy(prod["pipelines"][0])
    pipe["image"] = pipe["image"].replace("aws-prod", "aws-dev")
    for key in ("sourceUri", "referenceUri"):
        pipe[key] = pipe[key].replace("aws-prod", "aws-dev")
    platform["pipelines"] = [pipe]
    with pytest.raises(ConfigError, match=r"pipelines\[0\]\.model: 'credit-approval' declares a canary"):
        parse_platform(platform, "stack.yaml")
