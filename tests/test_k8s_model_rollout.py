"""Progressive delivery in the Kubernetes layer: the shadow InferenceService and the live server's mirror
settings (components/k8s/model_deployment.py), and the rollout analysis CronJob with its permissions and
network (components/k8s/model_rollout.py), as synthesized from the reference stacks and variants of them.

The wiring is checked against the programs it configures: the CronJob's command line parses with the
analysis CLI's own parser, and the live predictor's environment with the model server's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.k8s import model_deployment, model_rollout
from infra.config import ConfigError
from infra.synth import Synthesis
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.k8s_schema import crd_documents, crd_schema, is_kubernetes, manifest, validate
from tests.test_k8s_model_deployment import _rai_violations
from workloads.rollouts import __main__ as rollouts_cli
from workloads.serving import cli as serving_cli

MODEL, TEAM = "credit-approval", "research"
SHADOW = f"{MODEL}-shadow"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlp-aws-dev/pipelines:0.1.0"


def named(syn: Synthesis, kind: str, name: str, namespace: str = TEAM) -> dict[str, Any]:
    (found,) = [
        manifest(r)
        for r in syn.resources
        if is_kubernetes(r)
        and manifest(r).get("kind") == kind
        and manifest(r)["metadata"]["name"] == name
        and manifest(r)["metadata"].get("namespace") == namespace
    ]
    return found


def isvcs(syn: Synthesis) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["metadata"]["name"]: manifest(r)
        for r in syn.resources
        if r.type == "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    }


def dev_variant(**changes: Any) -> Synthesis:
    platform = raw_platform("aws-dev")
    model = platform["modelDeployments"][0]
    for key, value in changes.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value
    return synth_platform(platform, "aws-dev-variant")


SHADOW_SPEC = {
    "storageUri": "s3://mlp-aws-dev-models-123456789012/teams/research/credit-approval/runs/20261121-8d41e07/model",
    "modelVersion": "4",
    "samplePercent": 25,
}


@pytest.fixture(scope="module")
def shadowed() -> Synthesis:
    """aws-dev with its canary turned into a shadow, analysed every 10 minutes (report only)."""
    return dev_variant(canary=None, shadow=SHADOW_SPEC, rollout={"image": IMAGE, "act": False})


# -- shadow mode ------------------------------------------------------------------------------------------


def test_the_shadow_is_its_own_cluster_local_inference_service(shadowed: Synthesis) -> None:
    found = isvcs(shadowed)
    assert set(found) == {MODEL, SHADOW}
    live, shadow = found[MODEL], found[SHADOW]
    for obj in (live, shadow):
        assert validate(obj, "1.34") == []
    # no gateway route: KServe makes none for a cluster-local InferenceService
    assert shadow["metadata"]["labels"][model_deployment.VISIBILITY_LABEL] == "cluster-local"
    assert model_deployment.VISIBILITY_LABEL not in live["metadata"]["labels"]
    predictor = shadow["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == SHADOW_SPEC["storageUri"]
    assert predictor["labels"][model_deployment.VERSION_LABEL] == "4"
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 1
    # the same pods as the live predictor: identity, placement, request logging, security
    for key in ("serviceAccountName", "nodeSelector", "securityContext", "logger", "timeout"):
        assert predictor[key] == live["spec"]["predictor"][key], key
    assert "canary" not in live["spec"]
    assert shadow["metadata"]["annotations"]["ml-platform/canary-model-version"] == "4"


def _property_names(schema: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, name) of every property an OpenAPI schema declares, at any depth."""
    found: list[tuple[str, str]] = []
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            found.append((path, name))
            found += _property_names(sub, f"{path}.{name}")
        for key, sub in schema.items():
            if key != "properties":
                found += _property_names(sub, path)
    elif isinstance(schema, list):
        for sub in schema:
            found += _property_names(sub, path)
    return found


def test_kserve_has_no_mirror_of_its_own() -> None:
    """Why the live model server mirrors: the pinned InferenceService API (v1beta1 of the kserve-crd chart's
    CRD, derived into tests/schemas/crds/ by tests/crd_schemas.py) has no mirror or shadow setting
    anywhere in its spec, and an InferenceService that asks for one is rejected. (The upstream CRD at
    the last commit before v0.21.0 has no property named like that either.)"""
    doc = crd_documents()[("serving.kserve.io", "InferenceService")]
    assert doc["chart"] == "kserve-crd"
    spec = crd_schema("serving.kserve.io/v1beta1", "InferenceService")["properties"]["spec"]
    names = _property_names(spec, "spec")
    assert len(names) > 60 and ("spec", "predictor") in names and ("spec", "canary") in names  # the real schema
    mirrors = [f"{path}.{name}" for path, name in names if "mirror" in name.lower() or "shadow" in name.lower()]
    assert mirrors == []
    syn = synth_stack("aws-dev")
    live = isvcs(syn)[MODEL]
    assert validate(live, syn.spec.cluster.kubernetes_version) == []
    for where in ("spec", "predictor"):
        asking = copy.deepcopy(live)
        target = asking["spec"] if where == "spec" else asking["spec"]["predictor"]
        target["mirror"] = {"url": "http://credit-approval-shadow-predictor.research/v2/models/x/infer"}
        assert any("mirror" in e for e in validate(asking, syn.spec.cluster.kubernetes_version)), where


def test_the_live_server_mirrors_to_the_shadows_predictor_service(shadowed: Synthesis) -> None:
    env = {e["name"]: e["value"] for e in isvcs(shadowed)[MODEL]["spec"]["predictor"]["model"]["env"]}
    # KServe's raw-mode Service of the shadow's predictor, on the shadow's own model name
    assert env["MODEL_SERVER_SHADOW_URL"] == (
        f"http://{SHADOW}-predictor.{TEAM}.svc.cluster.local/v2/models/{SHADOW}/infer"
    )
    args = serving_cli.parse_args(["--model_name", MODEL, "--model_dir", "/mnt/models"], environ=env)
    config = serving_cli.shadow_config(args)
    assert config is not None and config.url == env["MODEL_SERVER_SHADOW_URL"]
    assert config.sample_rate == 0.25 and config.tolerance == 0.0
    # the shadow's own server mirrors nothing
    assert "env" not in isvcs(shadowed)[SHADOW]["spec"]["predictor"]["model"]


def test_prometheus_scrapes_the_shadow_too(shadowed: Synthesis) -> None:
    monitor = named(shadowed, "PodMonitor", f"{MODEL}-model")
    assert monitor["spec"]["selector"] == {
        "matchExpressions": [{"key": model_deployment.ISVC_LABEL, "operator": "In", "values": [MODEL, SHADOW]}]
    }
    # without a shadow, the plain selector
    plain = named(synth_stack("aws-dev"), "PodMonitor", f"{MODEL}-model")
    assert plain["spec"]["selector"] == {"matchLabels": {model_deployment.ISVC_LABEL: MODEL}}


def test_the_shadow_passes_the_responsible_ai_pack(shadowed: Synthesis) -> None:
    # dev: the same rules as the live model (its candidate stage), no new one
    assert set(_rai_violations(shadowed, "dev")) == set(_rai_violations(synth_stack("aws-dev"), "dev"))
    # prod: a shadow next to the approved version breaks no rule
    platform = raw_platform("aws-prod")
    platform["pipelines"] = []  # a pipeline's model takes the pipeline's canaries, not a shadow
    platform["modelDeployments"][0]["shadow"] = {
        **SHADOW_SPEC,
        "storageUri": "s3://mlp-aws-prod-models-123456789012/teams/research/credit-approval/runs/20261121-8d41e07/model",
    }
    syn = synth_platform(platform, "aws-prod-variant")
    assert SHADOW in isvcs(syn) and _rai_violations(syn, "prod") == {}


# -- the rollout analysis ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-prod", "gcp-prod"])
def test_the_pipelines_canary_is_analysed_and_acted_on(stack: str) -> None:
    syn = synth_stack(stack)
    spec = next(m for m in syn.spec.model_deployments if m.name == MODEL)
    assert spec.rollout is not None
    job = named(syn, "CronJob", f"rollout-{MODEL}")
    assert validate(job, "1.34") == []
    assert job["spec"]["schedule"] == spec.rollout.schedule and job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == spec.rollout.image
    assert pod["serviceAccountName"] == f"rollout-{MODEL}"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # the command is what the analysis CLI accepts, with the stack's thresholds and the model's SLO
    cmd = container["command"]
    assert cmd[:4] == ["python", "-m", "workloads.rollouts", "analyze"]
    args = rollouts_cli._parser().parse_args(cmd[3:])
    assert args.prometheus == syn_prometheus_url()
    assert (args.namespace, args.model, args.window, args.min_requests) == (TEAM, MODEL, "30m", 500)
    assert args.latency_threshold_ms == spec.slo.latency_threshold_ms and args.latency_quantile == 0.99
    assert args.steps == (10, 25, 50, 100) and args.max_error_ratio == 0.01
    # the pipeline made the canary: the analysis moves its traffic and rolls it back
    assert args.act and args.owns_canary


def syn_prometheus_url() -> str:
    from components.k8s import monitoring

    return f"http://{monitoring.FULLNAME}-prometheus.monitoring.svc.cluster.local:9090"


def test_the_analysis_may_touch_only_its_models_inference_services() -> None:
    syn = synth_stack("aws-prod")
    role = named(syn, "Role", f"rollout-{MODEL}")
    assert role["rules"] == [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "resourceNames": [MODEL],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "resourceNames": [SHADOW],
            "verbs": ["get"],
        },
    ]
    binding = named(syn, "RoleBinding", f"rollout-{MODEL}")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"rollout-{MODEL}", "namespace": TEAM}]
    sa = named(syn, "ServiceAccount", f"rollout-{MODEL}")
    # no cloud identity: Prometheus and the Kubernetes API only
    assert not any("role-arn" in k or "gcp-service-account" in k for k in sa["metadata"].get("annotations") or {})
    for obj in (role, binding, sa):
        assert validate(obj, "1.34") == []


def test_the_analysis_reaches_prometheus_and_the_api_server_only() -> None:
    syn = synth_stack("aws-prod")
    policy = named(syn, "NetworkPolicy", f"allow-rollout-{MODEL}")
    assert validate(policy, "1.34") == []
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": model_rollout.COMPONENT,
        "ml-platform/model": MODEL,
    }
    assert policy["spec"]["policyTypes"] == ["Egress"]
    prometheus, api = policy["spec"]["egress"]
    assert prometheus["ports"] == [{"port": 9090, "protocol": "TCP"}]
    assert prometheus["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert prometheus["to"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert api["ports"] == [{"port": 443, "protocol": "TCP"}]
    # the job's pods carry the labels the policy selects
    job = named(syn, "CronJob", f"rollout-{MODEL}")
    labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_a_stack_declared_canary_is_only_reported_on(shadowed: Synthesis) -> None:
    """Report-only (`act: false`): the Role cannot patch, the command has no --act; a stack's own candidate
    (not a pipeline's) is never owned by the analysis either."""
    job = named(shadowed, "CronJob", f"rollout-{MODEL}")
    cmd = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--act" not in cmd and "--owns-canary" not in cmd
    assert named(shadowed, "Role", f"rollout-{MODEL}")["rules"][0]["verbs"] == ["get"]
    acting = dev_variant(rollout={"image": IMAGE})  # the stack's canary, act: true (the default)
    cmd = named(acting, "CronJob", f"rollout-{MODEL}")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "--act" in cmd["containers"][0]["command"] and "--owns-canary" not in cmd["containers"][0]["command"]
    # nothing it may patch: the stack owns that canary
    assert named(acting, "Role", f"rollout-{MODEL}")["rules"][0]["verbs"] == ["get"]


def test_no_analysis_without_a_rollout_block() -> None:
    syn = synth_stack("aws-dev")
    assert not [r for r in syn.resources if is_kubernetes(r) and r.name.endswith("-rollout")]


# -- config errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "where", "text"),
    [
        ({"shadow": SHADOW_SPEC}, "modelDeployments[0].shadow", "a canary or a shadow, not both"),
        (
            {"canary": None, "shadow": {**SHADOW_SPEC, "storageUri": "SAME"}},
            "modelDeployments[0].shadow.storageUri",
            "serves the stable version",
        ),
        (
            {"canary": None, "shadow": {**SHADOW_SPEC, "storageUri": "s3://other-bucket/teams/platform/m/model"}},
            "modelDeployments[0].shadow.storageUri",
            "outside teams/research/",
        ),
        ({"rollout": {"image": IMAGE, "window": "2m"}}, "modelDeployments[0].rollout.window", "from 5m to 6h"),
        ({"rollout": {"image": IMAGE, "steps": [50, 10]}}, "modelDeployments[0].rollout.steps", "ending at 100"),
        ({"rollout": {"image": "pipelines:latest"}}, "modelDeployments[0].rollout.image", ""),
    ],
)
def test_delivery_config_errors_are_one_line(changes: dict[str, Any], where: str, text: str) -> None:
    platform = raw_platform("aws-dev")
    model = platform["modelDeployments"][0]
    for key, value in changes.items():
        if value is None:
            model.pop(key)
        elif isinstance(value, dict) and value.get("storageUri") == "SAME":
            model[key] = {**value, "storageUri": model["storageUri"]}
        else:
            model[key] = value
    with pytest.raises(ConfigError) as err:
        synth_platform(platform, "aws-dev-bad")
    message = str(err.value)
    assert where in message and text in message and "\n" not in message.strip()


def test_rollout_needs_monitoring() -> None:
    platform = raw_platform("aws-dev")
    platform["modelDeployments"][0]["rollout"] = {"image": IMAGE}
    platform.setdefault("services", {})["monitoring"] = {"enabled": False}
    with pytest.raises(ConfigError, match=r"modelDeployments\[0\]\.rollout: reads Prometheus"):
        synth_platform(platform, "aws-dev-bad")


def test_a_pipelines_model_takes_no_shadow() -> None:
    platform = raw_platform("aws-prod")
    platform["modelDeployments"][0]["shadow"] = {
        **SHADOW_SPEC,
        "storageUri": "s3://mlp-aws-prod-models-123456789012/teams/research/credit-approval/runs/20261121-8d41e07/model",
    }
    with pytest.raises(ConfigError, match=r"pipelines\[0\]\.model: 'credit-approval' has a shadow"):
        synth_platform(platform, "aws-prod-bad")
