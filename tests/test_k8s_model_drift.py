"""Scheduled drift checks (components/k8s/model_drift.py) and the Pushgateway (components/k8s/monitoring.py):
the CronJob runs the detector on the model's own request log with a read-only identity, pushes where the
alerts look, and the alerts fire on drift with enough rows only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.k8s import model_deployment, model_drift, monitoring, scheduled
from infra.synth import Synthesis
from tests import promtool
from tests.conftest import synth_stack
from tests.k8s_schema import is_kubernetes, manifest, validate
from workloads.monitoring import drift as detector

MODEL, TEAM = "credit-approval", "research"
STACKS = ["aws-prod", "gcp-prod"]
RELEASE = "kubernetes:helm.sh/v3:Release"
ALERTS = {"ModelFeatureDrift", "ModelPredictionDrift", "ModelDriftCheckStale"}


def objects(syn: Synthesis, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]


def named(syn: Synthesis, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(syn, kind) if o["metadata"]["name"] == name]
    return found


def drift_objects(syn: Synthesis) -> list[dict[str, Any]]:
    """Every Kubernetes object of the drift check and the Pushgateway."""
    return [
        manifest(r)
        for r in syn.resources
        if is_kubernetes(r) and ("-drift" in r.name or r.name.endswith("pushgateway-ingress"))
    ]


def model_spec(stack: str = "aws-prod") -> Any:
    return next(m for m in synth_stack(stack).spec.model_deployments if m.name == MODEL)


def groups(stack: str = "aws-prod") -> list[dict[str, Any]]:
    return named(synth_stack(stack), "PrometheusRule", f"{MODEL}-drift")["spec"]["groups"]


# --- what gets deployed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_drift_object_is_schema_valid(stack: str) -> None:
    syn = synth_stack(stack)
    found = drift_objects(syn)
    kinds = sorted(o["kind"] for o in found)
    assert kinds == ["CronJob", "NetworkPolicy", "NetworkPolicy", "PrometheusRule", "ServiceAccount"]
    for obj in found:
        assert validate(obj, syn.spec.cluster.kubernetes_version) == [], (obj["kind"], obj["metadata"]["name"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_cronjob_runs_the_detector_on_the_models_log_and_pushes_per_model(stack: str) -> None:
    syn, model = synth_stack(stack), model_spec(stack)
    assert model.drift is not None
    cron = named(syn, "CronJob", f"drift-{MODEL}")
    assert cron["metadata"]["namespace"] == TEAM
    spec = cron["spec"]
    assert spec["schedule"] == "0 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    assert spec["jobTemplate"]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"  # the team's quota
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2 and 0 < job["activeDeadlineSeconds"] < 3600  # done before the next run
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == f"drift-{MODEL}" and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == model.drift.image
    logs = "s3://mlp-aws-prod-logs-123456789012" if stack == "aws-prod" else "gs://mlp-gcp-prod-logs-mlp-prod-123456"
    args = container["command"]
    assert args[:4] == ["python", "-m", "workloads.monitoring", "drift"]
    flags = dict(zip(args[4::2], args[5::2], strict=False))
    assert flags["--reference"] == model.drift.reference_uri
    assert flags["--payloads"] == f"{logs}/{model_deployment.LOG_PREFIX}/{TEAM}/{MODEL}/"
    assert flags["--window-hours"] == "24" and flags["--max-psi"] == "0.2" and flags["--min-rows"] == "200"
    assert flags["--push"] == "http://pushgateway.monitoring.svc.cluster.local:9091"
    assert (flags["--namespace"], flags["--model"], flags["--version"]) == (TEAM, MODEL, model.model_version)
    assert {"--no-plot", "--no-fail-on-drift"} <= set(args)
    # restricted: non-root, read-only root (the report goes to an emptyDir), no token, requests and limits
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"} and "memory" in container["resources"]["limits"]
    # the pushed labels are the ones the CLI and the alerts use
    assert model_drift.PUSH_JOB == detector.PUSH_JOB and model_drift.LOG_PREFIX == model_deployment.LOG_PREFIX


def test_the_cronjob_runs_on_the_worker_nodes() -> None:
    syn = synth_stack("aws-prod")
    pod = named(syn, "CronJob", f"drift-{MODEL}")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    isvc = named(syn, "InferenceService", MODEL)["spec"]["predictor"]
    assert pod["nodeSelector"] and pod["nodeSelector"] == isvc["nodeSelector"]  # the CPU replicas' worker nodes
    assert "tolerations" not in pod


def test_the_aws_identity_reads_exactly_the_log_and_reference_prefixes() -> None:
    syn = synth_stack("aws-prod")
    policy = json.loads(syn.one("aws:iam/rolePolicy:RolePolicy", f"wi-{TEAM}-drift-{MODEL}-access").inputs["policy"])
    s3 = [s for s in policy["Statement"] if any(a.startswith("s3:") for a in s["Action"])]
    actions = {a for s in s3 for a in s["Action"]}
    assert actions <= {
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }
    objects_ = sorted(r for s in s3 if "s3:GetObject" in s["Action"] for r in s["Resource"])
    assert objects_ == [
        "arn:aws:s3:::mlp-aws-prod-datasets-123456789012/teams/research/credit/reference/*",
        f"arn:aws:s3:::mlp-aws-prod-logs-123456789012/inference/{TEAM}/{MODEL}/*",
    ]
    prefixes = sorted(
        p for s in s3 if "s3:ListBucket" in s["Action"] for p in s["Condition"]["StringLike"]["s3:prefix"]
    )
    assert f"inference/{TEAM}/{MODEL}/*" in prefixes and "teams/research/credit/reference/*" in prefixes
    sa = named(syn, "ServiceAccount", f"drift-{MODEL}")
    assert sa["metadata"]["namespace"] == TEAM and "eks.amazonaws.com/role-arn" in sa["metadata"]["annotations"]


def test_the_gcp_identity_reads_exactly_the_log_and_reference_prefixes() -> None:
    syn = synth_stack("gcp-prod")
    members = [r.inputs for r in syn.of_type("gcp:storage/bucketIAMMember:BucketIAMMember") if "-drift-" in r.name]
    assert {m["role"] for m in members} == {"roles/storage.objectViewer"}
    assert sorted((m["bucket"], m["condition"]["description"]) for m in members) == [
        ("mlp-gcp-prod-datasets-mlp-prod-123456", "only objects under teams/research/credit/reference/"),
        ("mlp-gcp-prod-logs-mlp-prod-123456", f"only objects under inference/{TEAM}/{MODEL}/"),
    ]
    wi = [r.inputs for r in syn.of_type("gcp:serviceaccount/iAMMember:IAMMember") if "-drift-" in r.name]
    assert [m["member"] for m in wi] == [f"serviceAccount:mlp-prod-123456.svc.id.goog[{TEAM}/drift-{MODEL}]"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_job_may_reach_the_pushgateway_and_the_pushgateway_admits_it(stack: str) -> None:
    syn = synth_stack(stack)
    egress = named(syn, "NetworkPolicy", f"allow-drift-{MODEL}-pushgateway")
    assert egress["metadata"]["namespace"] == TEAM
    pod_labels = named(syn, "CronJob", f"drift-{MODEL}")["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    assert egress["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (rule,) = egress["spec"]["egress"]
    assert rule["ports"] == [{"port": 9091, "protocol": "TCP"}]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert rule["to"][0]["podSelector"]["matchLabels"] == monitoring.PUSHGATEWAY_POD_LABELS

    ingress = named(syn, "NetworkPolicy", "allow-pushgateway")
    assert ingress["metadata"]["namespace"] == "monitoring"
    assert ingress["spec"]["podSelector"]["matchLabels"] == monitoring.PUSHGATEWAY_POD_LABELS
    (rule,) = ingress["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9091, "protocol": "TCP"}]
    sources = {
        (
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            json.dumps(peer["podSelector"]["matchLabels"]),
        )
        for peer in rule["from"]
    }
    assert (TEAM, json.dumps({"app.kubernetes.io/component": "model-drift"})) in sources
    assert ("monitoring", json.dumps({"app.kubernetes.io/name": "prometheus"})) in sources
    assert pod_labels["app.kubernetes.io/component"] == "model-drift"


@pytest.mark.parametrize("stack", STACKS)
def test_the_pushgateway_is_pinned_restricted_and_scraped_with_its_pushed_labels(stack: str) -> None:
    syn = synth_stack(stack)
    rel = syn.one(RELEASE, "pushgateway").inputs
    assert rel["chart"] == "prometheus-pushgateway" and rel["version"] == monitoring.PUSHGATEWAY_CHART.version
    assert rel["namespace"] == "monitoring"
    values = rel["values"]
    assert values["image"]["repository"] == "quay.io/prometheus/pushgateway"
    assert values["image"]["tag"] == "v1.11.3"  # chart 3.6.1's appVersion
    # honorLabels: the grouping key's namespace/model survive the scrape (not exported_namespace)
    assert values["serviceMonitor"]["enabled"] and values["serviceMonitor"]["honorLabels"] is True
    assert values["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["runAsNonRoot"] and values["automountServiceAccountToken"] is False
    assert values["fullnameOverride"] == "pushgateway"


def test_no_pushgateway_without_a_drift_check() -> None:
    syn = synth_stack("aws-dev")
    assert all(m.drift is None for m in syn.spec.model_deployments)
    assert [r for r in syn.of_type(RELEASE) if r.name == "pushgateway"] == []
    assert drift_objects(syn) == []


# --- the alerts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_rule_names_the_model_and_selects_the_pushed_group(stack: str) -> None:
    rule = named(synth_stack(stack), "PrometheusRule", f"{MODEL}-drift")
    assert rule["metadata"]["namespace"] == TEAM
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == ALERTS
    for alert in alerts.values():
        assert {k: alert["labels"][k] for k in ("team", "model", "namespace")} == {
            "team": TEAM,
            "model": MODEL,
            "namespace": TEAM,
        }
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description"} <= set(alert["annotations"])
        assert f'job="ml-platform-drift", namespace="{TEAM}", model="{MODEL}"' in alert["expr"]
    for name in ("ModelFeatureDrift", "ModelPredictionDrift"):
        assert ">= 200" in alerts[name]["expr"] and 'window="current"' in alerts[name]["expr"]
    stale = alerts["ModelDriftCheckStale"]["expr"]
    assert "> 10800" in stale and "[3h]" in stale  # three hourly periods


def test_stale_after_three_schedule_periods() -> None:
    assert scheduled.period_seconds("0 * * * *") == 3600
    assert scheduled.period_seconds("*/20 * * * *") == 1200
    assert scheduled.period_seconds("@daily") == 86400
    assert scheduled.period_seconds("0 6 * * 1-5") == 3 * 86400  # Friday to Monday
    assert scheduled.duration(3 * 3600) == "3h" and scheduled.duration(3 * 1200) == "1h"


def test_rules_check_with_promtool(tmp_path: Path) -> None:
    assert "SUCCESS: 3 rules found" in promtool.check_rules(tmp_path, groups())


def _pushed(psi: float, rows: int, *, prediction_psi: float = 0.01, pushes: int = 5, hours: int = 8) -> list[dict]:
    """The series Prometheus scrapes from the Pushgateway (honorLabels) for `hours`, every 30 s, after hourly
    pushes at 0h, 1h, ... (`pushes` of them): the gauges keep their last value (the Pushgateway serves it
    until the next push), push_time_seconds is the time of the last push."""
    group = f'job="ml-platform-drift", namespace="{TEAM}", model="{MODEL}", version="7"'
    samples = hours * 120
    series = [
        {"series": f'ml_platform_feature_drift_psi{{{group}, feature="income"}}', "values": f"{psi}x{samples}"},
        {"series": f'ml_platform_feature_drift_psi{{{group}, feature="debt"}}', "values": f"0.02x{samples}"},
        {"series": f"ml_platform_prediction_drift_psi{{{group}}}", "values": f"{prediction_psi}x{samples}"},
        {"series": f'ml_platform_drift_rows{{{group}, window="current"}}', "values": f"{rows}x{samples}"},
        {"series": f'ml_platform_drift_rows{{{group}, window="reference"}}', "values": f"4000x{samples}"},
    ]
    steps = [f"{3600 * h}x119" for h in range(pushes - 1)]  # `ax n`: n + 1 samples of a
    steps.append(f"{3600 * (pushes - 1)}x{samples - 120 * (pushes - 1)}")
    key = f'job="ml-platform-drift", namespace="{TEAM}", model="{MODEL}"'
    series.append({"series": f"push_time_seconds{{{key}}}", "values": " ".join(steps)})
    return series


def _expected(alertname: str, value: float = 0.0, **extra: str) -> list[dict[str, Any]]:
    """The alert as promtool renders it: the rule's labels and the series', annotations with the templates
    filled in (`$labels.feature`, `$value`)."""
    rule = next(r for g in groups() for r in g["rules"] if r.get("alert") == alertname)
    labels = {**rule["labels"], "alertname": alertname, **extra}
    annotations = {
        k: v.replace("{{ $labels.feature }}", extra.get("feature", "")).replace(
            '{{ $value | printf "%.2f" }}', f"{value:.2f}"
        )
        for k, v in rule["annotations"].items()
    }
    return [{"exp_labels": labels, "exp_annotations": annotations}]


def test_feature_drift_fires_with_enough_rows_only(tmp_path: Path) -> None:
    group = {"job": "ml-platform-drift", "version": "7"}
    fired = _expected("ModelFeatureDrift", 0.3, feature="income", **group)
    predicted = _expected("ModelPredictionDrift", 0.4, **group)
    promtool.run_rule_tests(
        tmp_path,
        groups(),
        [
            (_pushed(psi=0.3, rows=500), "3h", "ModelFeatureDrift", fired),  # drifted, 500 rows: for 2h, fires
            (_pushed(psi=0.3, rows=500), "90m", "ModelFeatureDrift", []),  # not yet for 2h
            (_pushed(psi=0.3, rows=50), "3h", "ModelFeatureDrift", []),  # 50 rows: noise, quiet
            (_pushed(psi=0.1, rows=500), "3h", "ModelFeatureDrift", []),  # under maxPsi
            (_pushed(psi=0.1, rows=500, prediction_psi=0.4), "3h", "ModelPredictionDrift", predicted),
            (_pushed(psi=0.1, rows=50, prediction_psi=0.4), "3h", "ModelPredictionDrift", []),
            (_pushed(psi=0.3, rows=500), "3h", "ModelDriftCheckStale", []),  # pushing every hour: not stale
        ],
    )


def test_a_check_that_stops_pushing_is_reported_stale(tmp_path: Path) -> None:
    stale = _expected("ModelDriftCheckStale", job="ml-platform-drift")
    # the last push at 2h, the Pushgateway still serving it: stale after 5h (three periods) and 10 minutes
    promtool.run_rule_tests(
        tmp_path,
        groups(),
        [
            (_pushed(psi=0.01, rows=500, pushes=3), "4h", "ModelDriftCheckStale", []),
            (_pushed(psi=0.01, rows=500, pushes=3), "5h5m", "ModelDriftCheckStale", []),
            (_pushed(psi=0.01, rows=500, pushes=3), "5h15m", "ModelDriftCheckStale", stale),
            # never pushed (or the group lost with the Pushgateway pod): reported all the same
            ([{"series": "up", "values": "1x960"}], "3h15m", "ModelDriftCheckStale", stale),
        ],
    )
