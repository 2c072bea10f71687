"""Service-level objectives of a model deployment: burn-rate alerts and a Grafana dashboard.

For every model the platform runtime serves (it has the PodMonitor of components/k8s/model_deployment.py),
`modelDeployments[].slo` becomes:

* a PrometheusRule `<model>-slo` in the team namespace: recording rules for the model's error ratio (5xx
  answers of `/infer`) and slow-request ratio (slower than `latencyThresholdMs`, read from the histogram
  bucket of that bound) over 5m, 30m, 1h, 2h, 6h, 1d and 3d, summed over all served versions (stable and
  canary), and the multi-window, multi-burn-rate alerts of the Google SRE workbook (chapter 5, "Alerting on
  SLOs"): a page (`severity: critical`) when the budget burns 14.4x over 1h and 5m, or 6x over 6h and 30m; a
  ticket (`severity: warning`) at 3x over 1d and 2h, or 1x over 3d and 6h. The factors are the workbook's
  for a 30-day period (2% of the budget in an hour pages); they are kept for any `window`.
* a ConfigMap in the monitoring namespace labelled for Grafana's dashboard sidecar: request rate by version
  and code, error and slow ratios against the objective, p50/p99 latency by version, the error budget left
  and the burn rates. The budget is computed over the SLO window or, where Prometheus keeps less
  (`monitoring.retentionDays`), over what it keeps; the panel title says which.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import base
from components.k8s.monitoring import dashboard_json
from infra.config import ModelDeploymentSpec

API = "monitoring.coreos.com/v1"
DASHBOARD_LABEL = "grafana_dashboard"  # components/k8s/monitoring.py: the sidecar's label
DASHBOARD_FOLDER = "ML models"
REQUESTS = "model_server_requests_total"  # workloads/serving/metrics.py
DURATION = "model_server_request_duration_seconds"
VERSION_LABEL = "ml_platform_model_version"  # the PodMonitor's podTargetLabels `ml-platform/model-version`
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ERROR_RECORD = "namespace_model:model_server_requests:error_ratio_rate{window}"
SLOW_RECORD = "namespace_model:model_server_request_duration:slow_ratio_rate{window}"
BUDGET_INTERVAL = "5m"  # the SLO-window ratios (weeks of samples) are recorded less often

# (severity, for, [(burn factor, long window, short window)]): Google SRE workbook, table 5-8
# the steps, inline: the repository publishes no runbook site an URL could point to
RUNBOOK = {
    "critical": "1. Open the model's dashboard (annotation `dashboard`): which version, which code. 2. A canary "
    "taking the errors: set its trafficPercent to 0 (or delete `canary`) and apply. 3. All versions: check the "
    "predictor pods (kubectl -n <team> get pods -l serving.kserve.io/inferenceservice=<model>) for restarts, "
    "OOM kills and pending replicas; raise maxReplicas if saturated. 4. Roll back to the previous modelVersion "
    "if the stable version changed recently.",
    "warning": "A slow burn: the budget runs out before the window ends. Open a ticket for the owning team; "
    "compare versions on the model's dashboard and the trend of the burn rates; fix capacity (maxReplicas, "
    "scaleTarget) or the version before the page fires.",
}
BURN_ALERTS = (
    ("critical", "2m", "Fast", ((14.4, "1h", "5m"), (6, "6h", "30m"))),
    ("warning", "15m", "Slow", ((3, "1d", "2h"), (1, "3d", "6h"))),
)


def le_value(seconds: float) -> str:
    """A bucket bound as the `le` label the Python client writes (and Prometheus 3 normalizes to): 0.5, 1.0."""
    return repr(float(seconds))


def selector(model: ModelDeploymentSpec) -> str:
    return f'namespace="{model.team}", model="{model.name}", endpoint="infer"'


def _sli_exprs(model: ModelDeploymentSpec, window: str) -> tuple[str, str]:
    sel, by = selector(model), "sum by (namespace, model)"
    total = f"{by} (rate({REQUESTS}{{{sel}}}[{window}]))"
    errors = f'{by} (rate({REQUESTS}{{{sel}, code=~"5.."}}[{window}])) / {total}'
    le = le_value(model.slo.latency_threshold_ms / 1000)
    fast = f'{by} (rate({DURATION}_bucket{{{sel}, le="{le}"}}[{window}]))'
    slow = f"1 - {fast} / {by} (rate({DURATION}_count{{{sel}}}[{window}]))"
    return errors, slow


def _burn(record: str, model: ModelDeploymentSpec, factor: float, budget: float, window: str) -> str:
    series = record.format(window=window) + f'{{namespace="{model.team}", model="{model.name}"}}'
    # max by: drops the recorded name, so the `or` of the two window pairs yields one series per model
    return f"max by (namespace, model) ({series} > ({factor:g} * {budget:.6g}))"


def slo_rules(model: ModelDeploymentSpec) -> list[dict[str, Any]]:
    """The rule groups of the model's PrometheusRule `<model>-slo`."""
    slo, where = model.slo, f"{model.team}/{model.name}"
    records: list[dict[str, Any]] = []
    for window in WINDOWS:
        errors, slow = _sli_exprs(model, window)
        records.append({"record": ERROR_RECORD.format(window=window), "expr": errors})
        records.append({"record": SLOW_RECORD.format(window=window), "expr": slow})
    objectives = {
        "availability": (
            ERROR_RECORD,
            1 - slo.availability,
            f"{slo.availability:.5g} of inference requests answered without a 5xx",
            "5xx answers from the model server: read its logs; a canary taking traffic is the first suspect, "
            "then the replicas' restarts (OOM) and the storage initializer.",
        ),
        "latency": (
            SLOW_RECORD,
            1 - slo.latency_target,
            f"{slo.latency_target:.5g} of inference requests faster than {slo.latency_threshold_ms:g} ms",
            "Replicas are saturated (raise maxReplicas or lower scaleTarget), a batch forward got slower (a new "
            "model version, CPU throttling) or requests wait in the batching queue.",
        ),
    }
    alerts: list[dict[str, Any]] = []
    for name, (record, budget, objective, hint) in objectives.items():
        for severity, hold, speed, pairs in BURN_ALERTS:
            expr = " or ".join(
                f"({_burn(record, model, f, budget, long)} and {_burn(record, model, f, budget, short)})"
                for f, long, short in pairs
            )
            burns = ", ".join(f"{f:g}x over {long} and {short}" for f, long, short in pairs)
            alerts.append(
                {
                    "alert": f"Model{name.capitalize()}BudgetBurn{speed}",
                    "expr": expr,
                    "for": hold,
                    "labels": {
                        "severity": severity,
                        "slo": name,
                        "team": model.team,
                        "namespace": model.team,
                        "model": model.name,
                    },
                    "annotations": {
                        "summary": f"{where}: the {name} error budget burns too fast ({speed.lower()} burn)",
                        "description": f"Objective: {objective} over {slo.window}; the budget burns at {burns} "
                        f"(any pair). {hint}",
                        "runbook": RUNBOOK[severity],
                        "dashboard": f"/d/{dashboard_uid(model)}",
                    },
                }
            )
    days = slo.window_days
    budget_records = [
        {"record": ERROR_RECORD.format(window=slo.window), "expr": _sli_exprs(model, slo.window)[0]},
        {"record": SLOW_RECORD.format(window=slo.window), "expr": _sli_exprs(model, slo.window)[1]},
    ]
    group = f"ml-platform.slo.{model.team}.{model.name}"
    return [
        {"name": group, "rules": records + alerts},
        {"name": f"{group}.budget-{days}d", "interval": BUDGET_INTERVAL, "rules": budget_records},
    ]


# --- the dashboard ---------------------------------------------------------------------------------------


def dashboard_uid(model: ModelDeploymentSpec) -> str:
    """Grafana uids are at most 40 characters."""
    uid = f"mlp-model-{model.team}-{model.name}"
    digest = hashlib.sha256(f"{model.team}/{model.name}".encode()).hexdigest()
    return uid if len(uid) <= 40 else f"mlp-model-{digest[:24]}"


def dashboard(model: ModelDeploymentSpec, retention_days: int) -> dict[str, Any]:
    """The model's Grafana dashboard (JSON model, schemaVersion 39 as the platform's other dashboards)."""
    slo, sel = model.slo, selector(model)
    only = f'{{namespace="{model.team}", model="{model.name}"}}'
    err_budget, slow_budget = 1 - slo.availability, 1 - slo.latency_target
    days = min(slo.window_days, retention_days)
    span = f"{days}d"
    covered = slo.window if days == slo.window_days else f"last {span} of the {slo.window} window: retention"

    def rec(record: str, window: str) -> str:
        return record.format(window=window) + only

    version = f"v{{{{{VERSION_LABEL}}}}}"  # legend: v3

    def quantile(q: float) -> str:
        return f"histogram_quantile({q}, sum by (le, {VERSION_LABEL}) (rate({DURATION}_bucket{{{sel}}}[5m])))"

    if days == slo.window_days:  # the recorded SLO-window ratios
        err_ratio, slow_ratio = rec(ERROR_RECORD, slo.window), rec(SLOW_RECORD, slo.window)
    else:  # Prometheus keeps less than the window: what it keeps
        err_ratio, slow_ratio = (f"({e})" for e in _sli_exprs(model, span))
    budget = [
        (f"1 - {err_ratio} / {err_budget:.6g}", "availability"),
        (f"1 - {slow_ratio} / {slow_budget:.6g}", "latency"),
    ]
    panels = [
        (
            "Request rate by version and code",
            "reqps",
            [(f"sum by ({VERSION_LABEL}, code) (rate({REQUESTS}{{{sel}}}[5m]))", f"{version} {{{{code}}}}")],
        ),
        (
            f"Error ratio vs objective ({slo.availability:.5g})",
            "percentunit",
            [
                (rec(ERROR_RECORD, "5m"), "5m"),
                (rec(ERROR_RECORD, "1h"), "1h"),
                (f"vector({err_budget:.6g})", "budget (1 - objective)"),
            ],
        ),
        (
            "Latency p50 / p99 by version",
            "s",
            [(quantile(0.5), f"p50 {version}"), (quantile(0.99), f"p99 {version}")],
        ),
        (
            f"Slow ratio (> {slo.latency_threshold_ms:g} ms) vs objective ({slo.latency_target:.5g})",
            "percentunit",
            [
                (rec(SLOW_RECORD, "5m"), "5m"),
                (rec(SLOW_RECORD, "1h"), "1h"),
                (f"vector({slow_budget:.6g})", "budget (1 - objective)"),
            ],
        ),
        (f"Error budget remaining ({covered})", "percentunit", budget),
        (
            "Burn rates (1 = the budget lasts exactly the window)",
            "none",
            [(f"{rec(ERROR_RECORD, w)} / {err_budget:.6g}", f"availability {w}") for w in ("1h", "6h", "1d", "3d")]
            + [(f"{rec(SLOW_RECORD, w)} / {slow_budget:.6g}", f"latency {w}") for w in ("1h", "6h", "1d", "3d")],
        ),
    ]
    panels += _delivery_panels(model)
    return dashboard_json(
        dashboard_uid(model),
        f"ML models / {model.team} / {model.name}",
        panels,
        tags=("ml-platform", "model", model.team),
    )


def _delivery_panels(model: ModelDeploymentSpec) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The shadow's comparison (workloads/serving/shadow.py) and the drift gauges (model_drift.py), where the
    model has them."""
    panels: list[tuple[str, str, list[tuple[str, str]]]] = []
    live = f'namespace="{model.team}", model="{model.name}"'
    if model.shadow is not None:
        compared = f"sum(rate(model_server_shadow_predictions_total{{{live}}}[5m]))"
        panels.append(
            (
                f"Shadow v{model.shadow.model_version}: disagreement with the live model",
                "percentunit",
                [
                    (
                        f'sum(rate(model_server_shadow_predictions_total{{{live}, result="disagree"}}[5m])) '
                        f"/ {compared}",
                        "disagreeing predictions",
                    ),
                    (
                        f'sum(rate(model_server_shadow_requests_total{{{live}, result="error"}}[5m])) / '
                        f"sum(rate(model_server_shadow_requests_total{{{live}}}[5m]))",
                        "mirrored requests failed",
                    ),
                    (
                        f'sum(rate(model_server_shadow_requests_total{{{live}, result="dropped"}}[5m])) / '
                        f"sum(rate(model_server_shadow_requests_total{{{live}}}[5m]))",
                        "mirrored requests dropped",
                    ),
                ],
            )
        )
    if model.drift is not None:
        pushed = f'job="ml-platform-drift", {live}'
        panels.append(
            (
                f"Drift vs the training reference (PSI; drifts above {model.drift.max_psi:g})",
                "none",
                [
                    (f"ml_platform_feature_drift_psi{{{pushed}}}", "{{feature}}"),
                    (f"ml_platform_prediction_drift_psi{{{pushed}}}", "prediction"),
                    (f"vector({model.drift.max_psi:g})", "threshold"),
                ],
            )
        )
    return panels


def create(
    name: str,
    svc: base.ServicesContext,
    model: ModelDeploymentSpec,
    *,
    labels: dict[str, str],
    monitoring: Any,
    opts: pulumi.ResourceOptions,
) -> str:
    """The PrometheusRule and the dashboard ConfigMap, children of the ModelDeployment; returns the rule name."""
    rule_name = f"{model.name}-slo"
    base.custom_resource(
        f"{name}-slo-rules",
        API,
        "PrometheusRule",
        k8s.meta.v1.ObjectMetaArgs(name=rule_name, namespace=model.team, labels=labels),
        {"groups": slo_rules(model)},
        opts,
    )
    deps: list[pulumi.Resource] = [monitoring] if isinstance(monitoring, pulumi.Resource) else []
    key = f"model-{model.team}-{model.name}"
    k8s.core.v1.ConfigMap(
        f"{name}-dashboard",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"dashboard-{key}",
            namespace=base.NS_MONITORING,
            labels={**svc.labels("monitoring", model.team), DASHBOARD_LABEL: "1"},
            annotations={"grafana_folder": DASHBOARD_FOLDER},
        ),
        data={f"{key}.json": json.dumps(dashboard(model, svc.spec.monitoring.retention_days or 7), indent=1)},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=deps)),
    )
    return rule_name
