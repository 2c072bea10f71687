"""Scheduled drift checks of a model deployment: a CronJob, its identity and network, and the alerts.

For every model with `modelDeployments[].drift` (monitoring on, the platform runtime, request logging on;
infra/config.py `_check_delivery`), in the team namespace:

* a ServiceAccount `drift-<model>` bound (`Foundation.bind_identity`) to read only the model's request log
  (`<logs bucket>/inference/<team>/<model>/`, where KServe's logger writes: model_deployment.py) and the
  folder of the training reference in the datasets bucket; nothing else, nothing written;
* a CronJob `drift-<model>` (`drift.schedule`) running `python -m workloads.monitoring drift` from
  `drift.image` (the pipeline image): the payloads logged in the last `windowHours` against the reference,
  the gauges pushed to the Pushgateway of components/k8s/monitoring.py (job `ml-platform-drift`, grouping
  key namespace + model, so models never overwrite each other). Drift is reported by the alerts on the
  pushed gauges, not by a failed Job (`--no-fail-on-drift`); a Job fails on bad input or an unreachable
  gateway only, and then no push happens, which `ModelDriftCheckStale` reports. Its Jobs go through the
  team's Kueue LocalQueue (CPU and memory count against the team's quota), on the worker nodes;
* a NetworkPolicy letting the CronJob's pods reach the Pushgateway (DNS and HTTPS to the object store are
  allowed in every team namespace: components/k8s/tenancy.py);
* a PrometheusRule `<model>-drift`: `ModelFeatureDrift` (one alert per feature with PSI above `maxPsi`),
  `ModelPredictionDrift` (PSI of the predicted probabilities), both only with at least `minRows` rows in
  the current window (fewer rows are noise: workloads/monitoring/drift.py), and `ModelDriftCheckStale` (no
  push for three schedule periods: the check itself stopped working).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import BucketAccess, IdentityAccess
from components.k8s import base, scheduled
from components.k8s.base import ServicesContext
from components.k8s.monitoring import DRIFT_COMPONENT, PUSHGATEWAY_POD_LABELS, PUSHGATEWAY_PORT
from components.k8s.scheduled import duration, period_seconds
from infra.config import DriftMonitorSpec, ModelDeploymentSpec, TeamSpec

MONITORING_API = "monitoring.coreos.com/v1"
LOG_PREFIX = "inference"  # model_deployment.py LOG_PREFIX (imported there: model_deployment imports this module)
PUSH_JOB = "ml-platform-drift"  # workloads/monitoring/drift.py PUSH_JOB
OUT_DIR = "/tmp/drift"  # report.md and metrics.prom of the last run (an emptyDir: the root is read-only)
LABEL_MODEL = "ml-platform/model"
FEATURE_DRIFT_FOR = "2h"  # two hourly checks in a row (the default schedule): one odd window does not page
STALE_PERIODS = 3  # no push for this many schedule periods: the check is broken


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// or gs:// object URI."""
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def reference_prefix(drift: DriftMonitorSpec) -> str:
    """The folder of the reference object in the datasets bucket (the identity reads that folder only)."""
    key = split_uri(drift.reference_uri)[1]
    return key.rsplit("/", 1)[0] + "/" if "/" in key else key


def log_prefix(model: ModelDeploymentSpec) -> str:
    return f"{LOG_PREFIX}/{model.team}/{model.name}/"


def access(model: ModelDeploymentSpec, svc: ServicesContext) -> IdentityAccess:
    assert model.drift is not None
    wanted = (
        BucketAccess(bucket="logs", prefix=log_prefix(model), mode="read"),
        BucketAccess(bucket="datasets", prefix=reference_prefix(model.drift), mode="read"),
    )
    missing = [a.bucket for a in wanted if a.bucket not in svc.foundation.buckets]
    if missing:
        raise pulumi.RunError(f"drift of '{model.name}': the foundation has no bucket {', '.join(missing)}")
    return IdentityAccess(buckets=wanted, registry_pull=True)


def command(model: ModelDeploymentSpec, logs_uri: str, pushgateway_url: str) -> list[str]:
    """The CronJob's command line (`logs_uri`: the logs bucket, s3://name or gs://name)."""
    drift = model.drift
    assert drift is not None
    return [
        "python",
        "-m",
        "workloads.monitoring",
        "drift",
        "--reference",
        drift.reference_uri,
        "--payloads",
        f"{logs_uri}/{log_prefix(model)}",
        "--window-hours",
        str(drift.window_hours),
        "--max-psi",
        f"{drift.max_psi:g}",
        "--min-rows",
        str(drift.min_rows),
        "--push",
        pushgateway_url,
        "--namespace",
        model.team,
        "--model",
        model.name,
        "--version",
        model.model_version,
        "--out",
        OUT_DIR,
        "--no-plot",
        "--no-fail-on-drift",
    ]


def drift_rules(model: ModelDeploymentSpec) -> list[dict[str, Any]]:
    """The rule group of the model's PrometheusRule `<model>-drift`, on the gauges the CronJob pushes (with the
    Pushgateway scraped with honorLabels, they keep the grouping key's namespace and model)."""
    drift = model.drift
    assert drift is not None
    sel = f'job="{PUSH_JOB}", namespace="{model.team}", model="{model.name}"'
    enough = (
        f'on (namespace, model) (max by (namespace, model) (ml_platform_drift_rows{{{sel}, window="current"}}) '
        f">= {drift.min_rows})"
    )
    period = period_seconds(drift.schedule)
    stale = duration(STALE_PERIODS * period)
    where = f"{model.team}/{model.name}"
    labels = {"team": model.team, "namespace": model.team, "model": model.name}
    window = f"the last {drift.window_hours}h of logged requests"
    job = f"kubectl -n {model.team} get jobs -l {LABEL_MODEL}={model.name},{base.LABEL_COMPONENT}={DRIFT_COMPONENT}"
    return [
        {
            "name": f"ml-platform.drift.{model.team}.{model.name}",
            "rules": [
                {
                    "alert": "ModelFeatureDrift",
                    # one alert per drifted feature (the `feature` label); max over them is what crosses maxPsi
                    "expr": f"ml_platform_feature_drift_psi{{{sel}}} > {drift.max_psi:g} and {enough}",
                    "for": FEATURE_DRIFT_FOR,
                    "labels": {"severity": "warning", **labels},
                    "annotations": {
                        "summary": f"{where}: input feature {{{{ $labels.feature }}}} drifted from the training data "
                        f'(PSI {{{{ $value | printf "%.2f" }}}} > {drift.max_psi:g})',
                        "description": f"Over {window}, the distribution of {{{{ $labels.feature }}}} moved away from "
                        f"the training reference ({drift.reference_uri}). The model sees inputs unlike those it "
                        "learned from: check the upstream data (a unit, an encoding, a new source), then retrain on "
                        "recent data. The CronJob's report: " + job + ".",
                    },
                },
                {
                    "alert": "ModelPredictionDrift",
                    "expr": f"ml_platform_prediction_drift_psi{{{sel}}} > {drift.max_psi:g} and {enough}",
                    "for": FEATURE_DRIFT_FOR,
                    "labels": {"severity": "warning", **labels},
                    "annotations": {
                        "summary": f"{where}: the predicted probabilities drifted from the reference model's "
                        f'(PSI {{{{ $value | printf "%.2f" }}}} > {drift.max_psi:g})',
                        "description": f"Over {window}, the model's predictions are distributed unlike the reference "
                        "predictions: its behaviour moved, with or without input drift (no labels needed). Compare "
                        "with ModelFeatureDrift and the served version; a recent version change is the first suspect.",
                    },
                },
                {
                    "alert": "ModelDriftCheckStale",
                    # the last push is old (the Job fails: bad input, denied storage, gateway unreachable), or
                    # the group is missing altogether (never pushed, or lost with a new Pushgateway pod)
                    "expr": f"(time() - max by (job, namespace, model) (push_time_seconds{{{sel}}}) > "
                    f"{STALE_PERIODS * period}) or absent_over_time(push_time_seconds{{{sel}}}[{stale}])",
                    "for": "10m",
                    "labels": {"severity": "warning", **labels},
                    "annotations": {
                        "summary": f"{where}: the drift check has not reported for {stale}",
                        "description": f"The CronJob drift-{model.name} ({drift.schedule}) pushed no result for "
                        f"{STALE_PERIODS} schedule periods: drift of this model is not being watched. Look at the "
                        f"failed Jobs' logs ({job}): the reference or the request log unreadable, or the "
                        "Pushgateway unreachable.",
                    },
                },
            ],
        }
    ]


def create(
    name: str,
    svc: ServicesContext,
    model: ModelDeploymentSpec,
    *,
    team: TeamSpec,
    labels: dict[str, str],
    monitoring: Any,
    opts: pulumi.ResourceOptions,
) -> None:
    """The drift check of `model` in its team namespace (module docstring). `monitoring`: the Monitoring
    component (its `pushgateway_url`); `opts` parents the objects to the model's ModelDeployment."""
    drift = model.drift
    if drift is None:
        return
    url = getattr(monitoring, "pushgateway_url", None)
    if not url:
        raise pulumi.RunError(f"drift of '{model.name}': monitoring has no Pushgateway")
    ns, job_name = team.name, f"drift-{model.name}"
    pod_labels = {
        **svc.labels(DRIFT_COMPONENT, ns),
        LABEL_MODEL: model.name,
    }
    meta_labels = {**labels, **pod_labels}

    # -- identity: read the model's request log and the reference, nothing else ---------------------------
    binding = svc.foundation.bind_identity(ns, job_name, access(model, svc))
    sa = k8s.core.v1.ServiceAccount(
        f"{name}-drift-sa",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=job_name, namespace=ns, labels=meta_labels, annotations=binding.annotations
        ),
        automount_service_account_token=False,  # object storage through workload identity, no Kubernetes API
        opts=opts,
    )

    # -- the CronJob (components/k8s/scheduled.py) ---------------------------------------------------------
    period = period_seconds(drift.schedule)
    logs_uri = svc.foundation.buckets["logs"].uri
    scheduled.team_cron_job(
        f"{name}-drift",
        svc,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=job_name, namespace=ns, labels=meta_labels),
        pod_labels=pod_labels,
        service_account=job_name,
        automount_token=False,  # object storage through workload identity, no Kubernetes API
        container="drift",
        image=drift.image,
        command=logs_uri.apply(lambda uri: command(model, uri, url)),
        schedule=drift.schedule,
        requests={"cpu": "500m", "memory": "1Gi"},
        limits={"cpu": "2", "memory": "2Gi"},
        starting_deadline_seconds=min(600, period),
        # done before the next run is due (at most 6 h)
        active_deadline_seconds=max(300, int(min(period, 6 * 3600) * 0.9)),
        backoff_limit=2,
        successful_jobs_history=1,
        tmp_size="1Gi",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[sa])),
    )

    # -- the network: the job's pods reach the Pushgateway (DNS, HTTPS: tenancy.py) ------------------------
    np = k8s.networking.v1
    base.network_policy(
        f"{name}-drift-egress",
        ns,
        svc,
        opts,
        component=DRIFT_COMPONENT,
        team=ns,
        policy_name=f"allow-drift-{model.name}-pushgateway",
        pod_labels={base.LABEL_COMPONENT: DRIFT_COMPONENT, LABEL_MODEL: model.name},
        egress=[
            np.NetworkPolicyEgressRuleArgs(
                to=[base.peer(base.NS_MONITORING, PUSHGATEWAY_POD_LABELS)], ports=base.ports(PUSHGATEWAY_PORT)
            )
        ],
    )

    # -- the alerts ----------------------------------------------------------------------------------------
    base.custom_resource(
        f"{name}-drift-rules",
        MONITORING_API,
        "PrometheusRule",
        k8s.meta.v1.ObjectMetaArgs(name=f"{model.name}-drift", namespace=ns, labels=labels),
        {"groups": drift_rules(model)},
        opts,
    )
