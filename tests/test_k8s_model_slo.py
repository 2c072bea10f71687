"""SLOs of a model deployment (components/k8s/model_slo.py): burn-rate alerts and a Grafana dashboard.

What an on-call engineer relies on: the rules load in Prometheus, the fast-burn page fires when a model
fails 5% of its requests for an hour at a 99.9% objective and stays quiet at 0.05%, the latency
objective behaves the same on the server's histogram, and the dashboard Grafana loads is well formed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from prometheus_client.utils import floatToGoString

from components.k8s import model_slo
from infra.config import SERVER_LATENCY_BUCKETS_MS, ConfigError, ModelDeploymentSpec, ShadowSpec, parse_platform
from infra.synth import Synthesis
from tests import promtool
from tests.conftest import raw_platform, synth_stack
from tests.k8s_schema import is_kubernetes, manifest, validate
from workloads.serving.metrics import LATENCY_BUCKETS

MODEL, TEAM = "credit-approval", "research"
ALERTS = {
    "ModelAvailabilityBudgetBurnFast",
    "ModelAvailabilityBudgetBurnSlow",
    "ModelLatencyBudgetBurnFast",
    "ModelLatencyBudgetBurnSlow",
}


def objects(syn: Synthesis, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]


def named(syn: Synthesis, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(syn, kind) if o["metadata"]["name"] == name]
    return found


def groups(stack: str = "aws-dev") -> list[dict[str, Any]]:
    return named(synth_stack(stack), "PrometheusRule", f"{MODEL}-slo")["spec"]["groups"]


def model_spec(**slo: Any) -> ModelDeploymentSpec:
    spec = synth_stack("aws-dev").spec.model_deployments[0]
    return spec.model_copy(update={"slo": spec.slo.model_copy(update=slo)})


# --- what gets deployed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-prod"])
def test_rule_and_dashboard_are_schema_valid_and_wired(stack: str) -> None:
    syn = synth_stack(stack)
    rule = named(syn, "PrometheusRule", f"{MODEL}-slo")
    cm = named(syn, "ConfigMap", f"dashboard-model-{TEAM}-{MODEL}")
    for obj in (rule, cm):
        assert validate(obj, syn.spec.cluster.kubernetes_version) == [], obj["metadata"]["name"]
    assert rule["metadata"]["namespace"] == TEAM
    # Grafana's sidecar picks the dashboard up where monitoring.py ships its own
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) == ALERTS
    for alert in alerts.values():
        assert {k: alert["labels"][k] for k in ("model", "namespace", "team")} == {
            "model": MODEL,
            "namespace": TEAM,
            "team": TEAM,
        }
        assert {"summary", "description", "runbook", "dashboard"} <= set(alert["annotations"])
    assert alerts["ModelAvailabilityBudgetBurnFast"]["labels"]["severity"] == "critical"
    assert alerts["ModelLatencyBudgetBurnSlow"]["labels"]["severity"] == "warning"


def test_defaults_recording_windows_and_burn_factors() -> None:
    slo = synth_stack("aws-dev").spec.model_deployments[0].slo
    assert (slo.availability, slo.latency_threshold_ms, slo.latency_target, slo.window) == (0.999, 500, 0.99, "28d")
    rules = [r for g in groups() for r in g["rules"]]
    records = {r["record"] for r in rules if "record" in r}
    for window in (*model_slo.WINDOWS, "28d"):
        assert model_slo.ERROR_RECORD.format(window=window) in records
        assert model_slo.SLOW_RECORD.format(window=window) in records
    fast = next(r for r in rules if r.get("alert") == "ModelAvailabilityBudgetBurnFast")["expr"]
    assert "rate1h" in fast and "rate5m" in fast and "rate6h" in fast and "rate30m" in fast
    assert "(14.4 * 0.001)" in fast and "(6 * 0.001)" in fast
    slow = next(r for r in rules if r.get("alert") == "ModelLatencyBudgetBurnSlow")["expr"]
    assert "rate1d" in slow and "rate2h" in slow and "rate3d" in slow and "(3 * 0.01)" in slow
    # the latency SLI reads the bucket of the threshold, as the Python client writes its bound
    assert 'le="0.5"' in next(r for r in rules if r.get("record", "").endswith("slow_ratio_rate5m"))["expr"]


_BURN = re.compile(
    r"namespace_model:[a-z_:]+_ratio_rate(?P<window>\w+)\{[^}]*\} > \((?P<factor>[\d.]+) \* (?P<budget>[\d.e-]+)\)"
)


def _burn_pairs(expr: str) -> set[tuple[float, str, str, float]]:
    """(factor, long window, short window, budget) of each `(long and short)` pair of a burn-rate alert."""
    promql_parser.parse(expr)  # what Prometheus loads
    pairs = set()
    for term in expr.split(" or "):
        (long_, short) = [m.groupdict() for m in _BURN.finditer(term)]
        assert long_["factor"] == short["factor"] and long_["budget"] == short["budget"], term
        pairs.add((float(long_["factor"]), long_["window"], short["window"], float(long_["budget"])))
    return pairs


def test_burn_rate_alerts_page_at_14_4x_and_6x_and_ticket_at_3x_and_1x() -> None:
    """The SRE workbook's four multi-window alerts (table 5-8), per objective: a page (severity critical)
    at 14.4x over 1h/5m or 6x over 6h/30m, a ticket (severity warning) at 3x over 1d/2h or 1x over 3d/6h."""
    alerts = {r["alert"]: r for g in groups() for r in g["rules"] if "alert" in r}
    assert set(alerts) == ALERTS
    for objective, budget in (("Availability", 0.001), ("Latency", 0.01)):  # 1 - 0.999, 1 - 0.99
        page, ticket = alerts[f"Model{objective}BudgetBurnFast"], alerts[f"Model{objective}BudgetBurnSlow"]
        assert page["labels"]["severity"] == "critical"
        assert _burn_pairs(page["expr"]) == {(14.4, "1h", "5m", budget), (6.0, "6h", "30m", budget)}
        assert ticket["labels"]["severity"] == "warning"
        assert _burn_pairs(ticket["expr"]) == {(3.0, "1d", "2h", budget), (1.0, "3d", "6h", budget)}
        assert "Open a ticket" in ticket["annotations"]["runbook"]


def test_objectives_from_config_reach_the_rules() -> None:
    (main, budget) = model_slo.slo_rules(model_spec(availability=0.99, latency_threshold_ms=250, window="7d"))
    exprs = " ".join(r["expr"] for r in main["rules"])
    assert "(14.4 * 0.01)" in exprs and 'le="0.25"' in exprs
    assert budget["name"].endswith("budget-7d") and budget["rules"][0]["record"].endswith("rate7d")


def test_histogram_bounds_match_the_model_server() -> None:
    assert tuple(b / 1000 for b in SERVER_LATENCY_BUCKETS_MS) == pytest.approx(LATENCY_BUCKETS)
    for bound in LATENCY_BUCKETS:
        assert model_slo.le_value(bound) == floatToGoString(bound)


def test_rules_check_with_promtool(tmp_path: Path) -> None:
    output = promtool.check_rules(tmp_path, groups())
    assert f"SUCCESS: {2 * len(model_slo.WINDOWS) + 4 + 2} rules found" in output


# --- the alerts fire when they should, on synthetic series (promtool test rules) ----------------------------


def _expected(alertname: str) -> list[dict[str, Any]]:
    rule = next(r for g in groups() for r in g["rules"] if r.get("alert") == alertname)
    return [{"exp_labels": {**rule["labels"], "alertname": alertname}, "exp_annotations": rule["annotations"]}]


def _series(per_scrape: dict[tuple[str, str], int]) -> list[dict[str, str]]:
    """Counters growing by `per_scrape` every 30 s for an hour; keys: (metric, extra labels)."""
    sel = f'namespace="{TEAM}", model="{MODEL}", endpoint="infer"'
    return [{"series": f"{name}{{{sel}{extra}}}", "values": f"0+{n}x120"} for (name, extra), n in per_scrape.items()]


def _requests(ok: int, failed: int) -> list[dict[str, str]]:
    metric = model_slo.REQUESTS
    return _series({(metric, ', code="200"'): ok, (metric, ', code="500"'): failed, (metric, ', code="400"'): 7})


def _latency(fast: int, total: int) -> list[dict[str, str]]:
    metric = model_slo.DURATION
    return _series(
        {
            (f"{metric}_bucket", ', le="0.5"'): fast,
            (f"{metric}_bucket", ', le="+Inf"'): total,
            (f"{metric}_count", ""): total,
        }
    )


def _run_unit_test(tmp_path: Path, cases: list[tuple[list[dict[str, str]], str, list[dict[str, Any]]]]) -> None:
    """Each case evaluated after an hour of its series."""
    promtool.run_rule_tests(tmp_path, groups(), [(series, "60m", name, expected) for series, name, expected in cases])


def test_availability_page_fires_at_5_percent_errors_and_not_at_0_05(tmp_path: Path) -> None:
    fast = "ModelAvailabilityBudgetBurnFast"
    # 4xx (the callers' mistakes) never count: 7 per scrape in both cases
    _run_unit_test(
        tmp_path,
        [
            (_requests(ok=950, failed=50), fast, _expected(fast)),  # 5% of 1000: burn 50x a 0.1% budget
            (_requests(ok=19990, failed=10), fast, []),  # 0.05%: burn 0.5x
        ],
    )


def test_latency_page_fires_on_slow_requests_only(tmp_path: Path) -> None:
    fast = "ModelLatencyBudgetBurnFast"
    _run_unit_test(
        tmp_path,
        [
            (_latency(fast=80, total=100), fast, _expected(fast)),  # 20% slower than 500 ms: burn 20x of 1%
            (_latency(fast=995, total=1000), fast, []),  # 0.5%: burn 0.5x
            (_requests(ok=950, failed=50), fast, []),  # errors alone do not page the latency objective
        ],
    )


# --- the dashboard ----------------------------------------------------------------------------------------


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_dashboard_is_valid_grafana_json_with_parsable_queries(stack: str) -> None:
    cm = named(synth_stack(stack), "ConfigMap", f"dashboard-model-{TEAM}-{MODEL}")
    (body,) = cm["data"].values()
    dashboard = json.loads(body)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and len(dashboard["uid"]) <= 40
    for expr in _exprs(dashboard):
        promql_parser.parse(expr)
    titles = " | ".join(p["title"] for p in dashboard["panels"])
    for wanted in ("Request rate by version and code", "Error ratio vs objective", "p50 / p99", "budget", "Burn"):
        assert wanted in titles
    assert any("ml_platform_model_version" in e for e in _exprs(dashboard))  # per served version


def test_shadow_and_drift_panels_where_the_model_has_them() -> None:
    plain = model_slo.dashboard(model_spec(), retention_days=30)
    assert not any("Shadow" in p["title"] or "Drift" in p["title"] for p in plain["panels"])
    prod = synth_stack("aws-prod").spec.model_deployments[0]  # drift on
    shadow = ShadowSpec(storage_uri="s3://b/teams/research/m/v9/model", model_version="9")
    both = model_slo.dashboard(prod.model_copy(update={"shadow": shadow}), retention_days=30)
    shadow_panel, drift_panel = both["panels"][-2:]
    assert shadow_panel["title"].startswith("Shadow v9") and drift_panel["title"].startswith("Drift")
    for panel in (shadow_panel, drift_panel):
        for target in panel["targets"]:
            promql_parser.parse(target["expr"])
    # the live server's comparison counters, and the gauges the drift CronJob pushes, of this model only
    assert 'result="disagree"' in shadow_panel["targets"][0]["expr"]
    assert f'namespace="{TEAM}", model="{MODEL}"' in shadow_panel["targets"][0]["expr"]
    assert drift_panel["targets"][0]["expr"] == (
        f'ml_platform_feature_drift_psi{{job="ml-platform-drift", namespace="{TEAM}", model="{MODEL}"}}'
    )
    assert drift_panel["targets"][2]["expr"] == "vector(0.2)"


def test_budget_panel_covers_what_prometheus_keeps() -> None:
    spec = model_spec()
    kept = model_slo.dashboard(spec, retention_days=7)["panels"][4]
    assert "last 7d of the 28d window" in kept["title"] and "[7d]" in kept["targets"][0]["expr"]
    full = model_slo.dashboard(spec, retention_days=30)["panels"][4]
    assert full["title"].endswith("(28d)") and "error_ratio_rate28d" in full["targets"][0]["expr"]
    long = spec.model_copy(update={"name": "a-rather-long-model-name-for-the-uid"})
    assert len(model_slo.dashboard_uid(long)) <= 40


# --- configuration errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ({"latencyThresholdMs": 300}, "300 ms is not a bound of the model server's latency histogram: use 500"),
        ({"window": "4w"}, "'4w' is not a whole number of days from 7d to 90d"),
        ({"window": "3d"}, "from 7d to 90d"),
        ({"availability": 0.5}, "greater than or equal to 0.9"),
        ({"latencyTarget": 1}, "less than or equal to 0.99999"),
        ({"latencyP99Ms": 500}, "latencyP99Ms"),
    ],
)
def test_config_errors_are_one_line(slo: dict[str, Any], message: str) -> None:
    platform = raw_platform("aws-dev")
    platform["modelDeployments"][0]["slo"] = slo
    with pytest.raises(ConfigError) as err:
        parse_platform(platform, "stacks/Pulumi.aws-dev.yaml")
    text = str(err.value)
    assert "\n" not in text and message in text and "modelDeployments[0].slo" in text, text
