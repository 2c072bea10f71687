"""The ModelDeployment component: a governed KServe InferenceService in a team namespace.

What a platform engineer relies on: the model is served by the platform runtime from its versioned
URI as the team's read-only identity, its pods land where they can run, a canary takes exactly its
share, every request is logged to the logs bucket (append-only), only the gateway and Prometheus
reach the pods, the alerts load in Prometheus, and the responsible-AI pack reads what the stack
declared — so a model that fails its fairness threshold or skips approval is caught at preview.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s import model_deployment as md
from infra.config import ConfigError, parse_platform
from infra.synth import Synthesis
from policy import runner
from policy.responsible_ai import rules as rai
from tests import system
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.k8s_schema import is_kubernetes, manifest, validate


def objects(syn: Synthesis, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    found = [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]
    return [o for o in found if namespace is None or o["metadata"].get("namespace") == namespace]


def isvc(syn: Synthesis, name: str = "credit-approval") -> dict[str, Any]:
    (found,) = [o for o in objects(syn, "InferenceService") if o["metadata"]["name"] == name]
    return found


def component_objects(syn: Synthesis, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r.type, manifest(r)) for r in syn.resources if is_kubernetes(r) and r.name.startswith(prefix)]


@pytest.fixture(scope="module", params=["aws-dev", "gcp-dev"])
def dev(request: pytest.FixtureRequest) -> Synthesis:
    return synth_stack(request.param)


def variant(stack: str, **changes: Any) -> Synthesis:
    """The stack's sample model with `changes` merged into its first modelDeployments entry."""
    platform = raw_platform(stack)
    model = platform["modelDeployments"][0]
    for key, value in changes.items():
        if value is None:
            model.pop(key, None)
        elif isinstance(value, dict) and isinstance(model.get(key), dict):
            model[key] = {**model[key], **value}
        else:
            model[key] = value
    return synth_platform(platform, f"{stack}-variant")


# --- what gets deployed ---------------------------------------------------------------------------------


def test_every_object_of_the_component_is_schema_valid(dev: Synthesis) -> None:
    found = component_objects(dev, "model-research-credit-approval")
    assert {t.rsplit(":", 1)[-1] for t, _ in found} == {
        "InferenceService",
        "NetworkPolicy",
        "PodMonitor",
        "PrometheusRule",
        "ConfigMap",  # the model's Grafana dashboard (tests/test_k8s_model_slo.py)
    }
    for _, obj in found:
        assert validate(obj, dev.spec.cluster.kubernetes_version) == [], obj["metadata"]


def test_model_is_served_by_the_platform_runtime_from_its_versioned_uri(dev: Synthesis) -> None:
    obj = isvc(dev)
    cfg = dev.spec.model_deployments[0]
    assert obj["metadata"]["namespace"] == "research"
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = obj["spec"]["predictor"]
    assert predictor["model"] == {
        "name": "kserve-container",  # the runtime's container (required on a canary by KServe's CRD)
        "modelFormat": {"name": "mlplatform", "version": "1"},
        "runtime": "ml-platform",
        "protocolVersion": "v2",
        "storageUri": cfg.storage_uri,
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
    }
    # the team's inference identity, restricted pods, the serving priority (above training)
    assert predictor["serviceAccountName"] == "inference"
    assert predictor["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert predictor["priorityClassName"] == "ml-serving"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 4)
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)
    assert predictor["labels"] == {"ml-platform/model-version": "3"}
    # a CPU model runs on the untainted worker nodes and never tolerates the GPU taint
    assert predictor["nodeSelector"] == {"ml-platform/role": "worker"}
    assert "tolerations" not in predictor


def test_prod_keeps_replicas_in_every_zone_and_serves_the_approved_version() -> None:
    prod = synth_stack("aws-prod")
    predictor = isvc(prod)["spec"]["predictor"]
    assert predictor["minReplicas"] == 3
    ann = isvc(prod)["metadata"]["annotations"]
    assert ann[rai.ANN_MODEL_STAGE] == "approved"
    assert ann[rai.ANN_APPROVAL].startswith("mlflow:credit-approval/7@champion")
    # the default without an explicit minReplicas: 2 in prod
    platform = raw_platform("aws-prod")
    platform["modelDeployments"][0].pop("minReplicas")
    assert parse_platform(platform, "x").model_deployments[0].min_replicas == 2


def test_canary_takes_its_share_with_the_same_pods_and_no_autoscaling_fields(dev: Synthesis) -> None:
    spec = isvc(dev)["spec"]
    (canary,) = spec["canary"]
    cfg = dev.spec.model_deployments[0].canary
    assert cfg is not None
    assert canary["trafficPercent"] == 10
    predictor = canary["predictor"]
    assert predictor["name"] == "v4"
    assert predictor["model"]["storageUri"] == cfg.storage_uri != spec["predictor"]["model"]["storageUri"]
    assert predictor["labels"] == {"ml-platform/model-version": "4"}
    # KServe refuses autoscaling fields on a canary: replicas follow trafficPercent
    assert not {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget"} & set(predictor)
    for key in ("serviceAccountName", "securityContext", "priorityClassName", "logger", "timeout"):
        assert predictor[key] == spec["predictor"][key], key
    assert isvc(dev)["metadata"]["annotations"][md.ANN_CANARY_VERSION] == "4"


def test_promotion_names_the_stable_predictor_and_drops_the_canary() -> None:
    promoted = variant(
        "aws-dev",
        predictorName="v4",
        storageUri="s3://mlp-aws-dev-models-123456789012/teams/research/credit-approval/runs/20261121-8d41e07/model",
        modelVersion="4",
        canary=None,
    )
    spec = isvc(promoted)["spec"]
    assert spec["predictor"]["name"] == "v4" and "canary" not in spec
    (rule,) = [o for o in objects(promoted, "PrometheusRule", "research") if o["metadata"]["name"].endswith("-model")]
    rules = rule["spec"]["groups"][0]["rules"]
    unavailable = next(r for r in rules if r["alert"] == "ModelUnavailable")
    assert 'deployment=~"credit-approval-v4-predictor"' in unavailable["expr"]


def test_gpu_model_is_pinned_to_its_pool_and_gets_whole_gpus() -> None:
    syn = variant("aws-dev", resources={"cpu": "4", "memory": "16Gi", "gpus": 1, "pool": "l4"})
    predictor = isvc(syn)["spec"]["predictor"]
    assert predictor["nodeSelector"] == {"ml-platform/pool": "l4"}
    assert predictor["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    res = predictor["model"]["resources"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "1"
    assert isvc(syn)["spec"]["canary"][0]["predictor"]["nodeSelector"] == {"ml-platform/pool": "l4"}


def test_custom_image_carries_the_model_uri_and_runs_hardened() -> None:
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlp-aws-dev/serving:credit-1.2.0"
    syn = variant("aws-dev", image=image, canary=None)
    predictor = isvc(syn)["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert "model" not in predictor
    assert container["image"] == image
    assert {"name": "STORAGE_URI", "value": syn.spec.model_deployments[0].storage_uri} in container["env"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # its metrics are not the platform server's: no PodMonitor, no model alerts, and no claim of monitoring
    assert not objects(syn, "PodMonitor", "research")
    assert md.ANN_MONITORING not in isvc(syn)["metadata"]["annotations"]


# --- request logging ------------------------------------------------------------------------------------


def test_requests_are_logged_to_the_logs_bucket(dev: Synthesis) -> None:
    logger = isvc(dev)["spec"]["predictor"]["logger"]
    scheme = "s3" if dev.spec.cloud == "aws" else "gs"
    logs = next(r for r in dev.resources if r.name.endswith("-logs") and "Bucket" in r.type.rsplit(":", 1)[-1])
    bucket = logs.inputs.get("bucket") or logs.inputs.get("name")
    assert logger["url"] == f"{scheme}://{bucket}/inference"
    assert logger["mode"] == "all"
    assert logger["storage"]["parameters"] == {"type": "s3" if scheme == "s3" else "gcs", "format": "json"}
    assert logger["storage"]["serviceAccountName"] == "inference"
    assert "ml-platform/model-version" in logger["metadataAnnotations"]
    # the retention the pack checks is the logs bucket's real expiry
    days = next(b.expiration_days for b in dev.spec.buckets if b.name == "logs")
    assert isvc(dev)["metadata"]["annotations"][md.ANN_LOG_RETENTION_DAYS] == str(days) == "365"


def test_low_risk_models_log_only_when_asked() -> None:
    quiet = variant("aws-dev", governance={"riskTier": "limited"})
    assert "logger" not in isvc(quiet)["spec"]["predictor"]
    assert md.ANN_LOG_RETENTION_DAYS not in isvc(quiet)["metadata"]["annotations"]
    loud = variant("aws-dev", governance={"riskTier": "limited"}, requestLogging=True)
    assert isvc(loud)["spec"]["predictor"]["logger"]["mode"] == "all"


def _role_policy(syn: Synthesis, sa: str) -> dict[str, Any]:
    return json.loads(syn.one("aws:iam/rolePolicy:RolePolicy", f"wi-research-{sa}-access").inputs["policy"])


def test_inference_identity_reads_its_models_and_only_appends_its_logs(aws_dev: Synthesis) -> None:
    policy = _role_policy(aws_dev, "inference")
    by_action: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action.setdefault(action, set()).update(statement["Resource"])
    logs = "arn:aws:s3:::mlp-aws-dev-logs-123456789012/inference/research/*"
    models = "arn:aws:s3:::mlp-aws-dev-models-123456789012/teams/research/*"
    assert by_action["s3:PutObject"] == {logs}
    assert by_action["s3:GetObject"] == {models}
    assert "s3:DeleteObject" not in by_action
    # no listing of the logs either: the identity cannot even see what it wrote
    assert "arn:aws:s3:::mlp-aws-dev-logs-123456789012" not in by_action["s3:ListBucket"]


def test_gcp_inference_identity_appends_logs_as_object_creator() -> None:
    syn = synth_stack("gcp-dev")
    grants = [
        r.inputs
        for r in syn.resources
        if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember" and "research-inference" in r.name
    ]
    roles = {(g["bucket"], g["role"]) for g in grants}
    assert ("mlp-gcp-dev-logs-mlp-dev-123456", "roles/storage.objectCreator") in roles
    assert ("mlp-gcp-dev-models-mlp-dev-123456", "roles/storage.objectViewer") in roles
    creator = next(g for g in grants if g["role"] == "roles/storage.objectCreator")
    assert "inference/research/" in creator["condition"]["expression"]


# --- network and monitoring -----------------------------------------------------------------------------


def test_only_the_gateway_and_prometheus_reach_the_model_pods(dev: Synthesis) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in objects(dev, "NetworkPolicy", "research")}
    assert "allow-inference-ingress" not in policies  # the namespace no longer admits the gateway everywhere
    spec = policies["allow-serving-credit-approval"]
    assert spec["podSelector"] == {"matchLabels": {"serving.kserve.io/inferenceservice": "credit-approval"}}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]}
    assert sources == {"envoy-gateway-system", "monitoring"}
    assert {p["port"] for p in rule["ports"]} == {8080, 9081}  # the model server and KServe's logger agent


def test_model_server_is_scraped_per_version(dev: Synthesis) -> None:
    (monitor,) = objects(dev, "PodMonitor", "research")
    assert monitor["spec"]["selector"] == {"matchLabels": {"serving.kserve.io/inferenceservice": "credit-approval"}}
    assert monitor["spec"]["podTargetLabels"] == ["ml-platform/model-version"]
    assert monitor["spec"]["podMetricsEndpoints"][0]["portNumber"] == 8080
    assert isvc(dev)["metadata"]["annotations"][md.ANN_MONITORING] == "prometheusrule/research/credit-approval-model"


def test_model_alert_rules_load_in_prometheus(tmp_path: Path) -> None:
    import promql_parser

    (rule,) = [
        o
        for o in objects(synth_stack("aws-dev"), "PrometheusRule", "research")
        if o["metadata"]["name"].endswith("-model")
    ]
    groups = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in groups[0]["rules"]}
    assert set(alerts) == {"ModelUnavailable", "ModelErrorRatioHigh", "ModelLatencyHigh"}
    for alert in alerts.values():
        promql_parser.parse(alert["expr"])
        assert alert["labels"]["model"] == "credit-approval" and alert["labels"]["team"] == "research"
    # the stable and the canary Deployment, by exact name
    assert 'deployment=~"credit-approval-predictor|credit-approval-v4-predictor"' in alerts["ModelUnavailable"]["expr"]
    assert 'code=~"5.."' in alerts["ModelErrorRatioHigh"]["expr"]
    promtool = system.require("promtool")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_endpoint_is_exported() -> None:
    syn = synth_stack("aws-dev")
    assert syn.outputs["modelEndpoints"] == {
        "research/credit-approval": "http://credit-approval-research.inference.internal"
    }


# --- governance: what the responsible-AI pack reads -------------------------------------------------------


def test_governance_annotations_follow_the_stack(dev: Synthesis) -> None:
    ann = isvc(dev)["metadata"]["annotations"]
    cfg = dev.spec.model_deployments[0]
    gov = cfg.governance
    assert gov.fairness is not None
    expected = {
        rai.ANN_OWNER: "research-lead@example.com",
        rai.ANN_CONTACT: "research-lead@example.com",
        rai.ANN_RISK_TIER: "high",
        rai.ANN_INTENDED_USE: gov.intended_use,
        rai.ANN_MODEL_VERSION: "3",
        rai.ANN_MODEL_STAGE: "candidate",
        rai.ANN_DATASET: gov.dataset_uri,
        rai.ANN_DATASET_VERSION: gov.dataset_version,
        rai.ANN_CODE_VERSION: "3f9c2ab",
        rai.ANN_FAIRNESS_METRIC: "demographic_parity_difference",
        rai.ANN_FAIRNESS_VALUE: "0.042",
        rai.ANN_FAIRNESS_THRESHOLD: "0.1",
        rai.ANN_DATA_RESIDENCY: dev.spec.region,
        # the model card sits next to model/, where training writes it
        rai.ANN_MODEL_CARD: cfg.storage_uri.removesuffix("/model") + "/model_card.json",
    }
    assert {k: ann.get(k) for k in expected} == expected
    assert json.loads(ann[rai.ANN_EVAL_METRICS]) == {"accuracy": 0.912, "log_loss": 0.231, "roc_auc": 0.957}
    assert isvc(dev)["metadata"]["labels"]["ml-platform/risk-tier"] == "high"


def _rai_violations(syn: Synthesis, environment: str) -> dict[str, list[str]]:
    report = runner.check_resources(
        syn.stack,
        environment,
        [r for r in runner.from_synthesis(syn) if r.type.startswith("kubernetes:")],
        packs=[p for p in runner.load_packs() if p.name == "ml-platform-responsible-ai"],
    )
    found: dict[str, list[str]] = {}
    for v in report.violations:
        found.setdefault(v.policy, []).append(v.message)
    return found


def test_reference_models_pass_the_responsible_ai_pack() -> None:
    assert _rai_violations(synth_stack("aws-prod"), "prod") == {}
    dev = _rai_violations(synth_stack("aws-dev"), "dev")
    assert set(dev) == {"rai-approval-before-prod"}  # a candidate in dev: advisory there, mandatory in prod


def test_pack_catches_an_unfair_unlogged_unapproved_model() -> None:
    platform = raw_platform("aws-prod")
    model = platform["modelDeployments"][0]
    model["governance"]["fairness"]["value"] = 0.18
    model["governance"].pop("approval")
    model["modelStage"] = "candidate"
    model["governance"]["riskTier"] = "limited"  # then nothing forces the logger...
    model["requestLogging"] = False
    model.pop("drift")  # drift checks read the request log
    syn = synth_platform(platform, "aws-prod")
    found = _rai_violations(syn, "prod")
    assert "rai-approval-before-prod" in found
    # ...and a limited-risk model is not held to the high-risk fairness and logging rules
    assert "rai-fairness-within-threshold" not in found
    model["governance"]["riskTier"] = "high"
    model.pop("requestLogging")
    found = _rai_violations(synth_platform(platform, "aws-prod"), "prod")
    assert any("0.18 exceeds its threshold 0.1" in m for m in found["rai-fairness-within-threshold"])


def test_canary_model_is_held_to_the_same_sources() -> None:
    platform = raw_platform("aws-dev")
    platform["modelDeployments"][0]["canary"]["storageUri"] = (
        "s3://mlp-aws-dev-models-123456789012/teams/research/x/latest/model"
    )
    found = _rai_violations(synth_platform(platform, "aws-dev"), "dev")
    assert any("spec.canary[0].predictor.model.storageUri" in m for m in found["rai-model-version-pinned"])


# --- stack file errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"team": "ghosts"}, "modelDeployments[0].team", "no team 'ghosts'"),
        (
            {"storageUri": "s3://mlp-aws-dev-models-123456789012/teams/recsys/m/model"},
            "modelDeployments[0].storageUri",
            "outside teams/research/",
        ),
        ({"storageUri": "gs://bucket/teams/research/m/model"}, "modelDeployments[0].storageUri", "not a s3:// URI"),
        ({"resources": {"gpus": 1}}, "modelDeployments[0].resources.pool", "GPUs come from a GPU pool"),
        ({"resources": {"pool": "l4"}}, "modelDeployments[0].resources.gpus", "asks for its GPUs"),
        ({"resources": {"pool": "l4", "gpus": 4}}, "modelDeployments[0].resources.gpus", "do not fit"),
        ({"resources": {"pool": "a100", "gpus": 1}}, "modelDeployments[0].resources.pool", "no GPU pool 'a100'"),
        ({"resources": {"memory": "2GB"}}, "modelDeployments[0].resources.memory", "not a memory quantity"),
        ({"minReplicas": 5}, "modelDeployments[0].minReplicas", "above maxReplicas"),
        ({"requestLogging": False}, "modelDeployments[0].requestLogging", "high-risk models log"),
        ({"canary": {"name": "v3"}, "predictorName": "v3"}, "modelDeployments[0].canary.name", "stable predictor"),
        ({"image": "registry.example.com/serving"}, "modelDeployments[0].image", "not pinned"),
        ({"governance": {"riskTier": "prohibited"}}, "modelDeployments[0].governance.riskTier", "minimal"),
        ({"services": True}, "modelDeployments[0]", "services.serving enabled"),
    ],
)
def test_stack_file_mistakes_are_one_line_errors(change: dict[str, Any], key: str, message: str) -> None:
    platform = raw_platform("aws-dev")
    model = platform["modelDeployments"][0]
    if change.pop("services", None):
        platform.setdefault("services", {})["serving"] = {"enabled": False}
    for k, value in change.items():
        model[k] = {**model[k], **value} if isinstance(value, dict) and isinstance(model.get(k), dict) else value
    with pytest.raises(ConfigError) as info:
        parse_platform(copy.deepcopy(platform), "stacks/Pulumi.x.yaml")
    text = str(info.value)
    assert "\n" not in text
    assert f"platform.{key}" in text and message in text, text
