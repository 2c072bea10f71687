"""Monitoring: kube-prometheus-stack, GPU and Kueue dashboards, and the platform's alert rules.

* Prometheus (2 replicas in prod) selects ServiceMonitors, PodMonitors and rules from every
  namespace, keeps `retentionDays` on a `storageGb` volume; Alertmanager (3 in prod); Grafana with
  the dashboard sidecar, its admin credentials generated in the cluster by External Secrets (never
  in values or Pulumi state).
* Dashboards (ConfigMaps labelled `grafana_dashboard: "1"`): "GPUs" from the DCGM exporter's
  profiling metrics (SM active, tensor-pipe active, DRAM active, framebuffer, power, XID) and
  "Kueue" (pending and admitted workloads, quota usage per ClusterQueue, admission wait time).
* Alert rules (PrometheusRule): GPU XID errors; GPUs allocated to a pod but idle for
  `gpuIdleMinutes` (cost); Kueue workloads pending for `pendingMinutes`.

The node exporter reads host metrics through host namespaces and hostPath, so the namespace runs
at the "privileged" Pod Security level; every other component of the chart runs restricted.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import base
from components.k8s.base import Chart, ServicesContext

CHART = Chart("kube-prometheus-stack", "88.6.5", "https://prometheus-community.github.io/helm-charts")
RELEASE = "kube-prometheus-stack"
FULLNAME = "kps"
GRAFANA_SECRET = "grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"

# DCGM metrics the dashboards and alerts use (components/k8s/gpu_runtime.py exports them all)
SM_ACTIVE = "DCGM_FI_PROF_SM_ACTIVE"
TENSOR_ACTIVE = "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"
DRAM_ACTIVE = "DCGM_FI_PROF_DRAM_ACTIVE"
FB_USED = "DCGM_FI_DEV_FB_USED"
POWER = "DCGM_FI_DEV_POWER_USAGE"
XID = "DCGM_FI_DEV_XID_ERRORS"
# Kueue metrics (kueue.sigs.k8s.io/docs/reference/metrics)
KUEUE_PENDING = "kueue_pending_workloads"
KUEUE_ADMITTED_ACTIVE = "kueue_admitted_active_workloads"
KUEUE_USAGE = "kueue_cluster_queue_resource_usage"
KUEUE_NOMINAL = "kueue_cluster_queue_nominal_quota"
KUEUE_WAIT = "kueue_admission_wait_time_seconds_bucket"


def chart_values(svc: ServicesContext) -> dict[str, Any]:
    mon, prod = svc.spec.monitoring, svc.ctx.prod
    restricted = base.restricted_values()
    system = base.system_tolerations()
    select_all = {
        f"{kind}SelectorNilUsesHelmValues": False for kind in ("serviceMonitor", "podMonitor", "rule", "probe")
    }
    return {
        "fullnameOverride": FULLNAME,
        "crds": {"enabled": True},
        "prometheusOperator": {
            "tolerations": system,
            "securityContext": restricted["podSecurityContext"],
            "containerSecurityContext": restricted["securityContext"],
            "admissionWebhooks": {"patch": {"tolerations": system}},
        },
        "prometheus": {
            "prometheusSpec": {
                **select_all,
                "replicas": 2 if prod else 1,
                "retention": f"{mon.retention_days}d",
                "retentionSize": f"{int(mon.storage_gb * 0.9)}GB",
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{mon.storage_gb}Gi"}},
                        }
                    }
                },
                "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
                "tolerations": system,
                "securityContext": {**restricted["podSecurityContext"], "runAsUser": 1000, "fsGroup": 2000},
            }
        },
        "alertmanager": {"alertmanagerSpec": {"replicas": 3 if prod else 1, "tolerations": system}},
        "grafana": {
            "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1", "searchNamespace": "ALL"}
            },
            "tolerations": system,
            "persistence": {"enabled": False},  # dashboards are code (ConfigMaps), not clicks
        },
        "kube-state-metrics": {"tolerations": system},
        # on every node, GPU nodes included: node metrics are what explain a slow data loader
        "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]},
    }


# --- dashboards ----------------------------------------------------------------------------------------


def _panel(pid: int, title: str, expr: str, unit: str, x: int, y: int, legend: str) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


def _dashboard(uid: str, title: str, panels: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["ml-platform"],
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": [
            _panel(i + 1, t, expr, unit, 12 * (i % 2), 8 * (i // 2), legend)
            for i, (t, expr, unit, legend) in enumerate(panels)
        ],
    }


def gpu_dashboard() -> dict[str, Any]:
    by_gpu = "Hostname, gpu"
    return _dashboard(
        "mlp-gpus",
        "ML platform / GPUs",
        [
            ("SM active (real utilisation)", f"avg by ({by_gpu}) ({SM_ACTIVE})", "percentunit", "{{Hostname}} {{gpu}}"),
            ("Tensor cores active", f"avg by ({by_gpu}) ({TENSOR_ACTIVE})", "percentunit", "{{Hostname}} {{gpu}}"),
            (
                "Memory bandwidth (DRAM active)",
                f"avg by ({by_gpu}) ({DRAM_ACTIVE})",
                "percentunit",
                "{{Hostname}} {{gpu}}",
            ),
            ("Framebuffer used", f"sum by ({by_gpu}) ({FB_USED})", "decmbytes", "{{Hostname}} {{gpu}}"),
            ("Power", f"sum by (Hostname) ({POWER})", "watt", "{{Hostname}}"),
            ("XID errors", f"max by ({by_gpu}) ({XID})", "none", "{{Hostname}} {{gpu}}"),
            (
                "SM active by pod",
                f'avg by (namespace, pod) ({SM_ACTIVE}{{pod!=""}})',
                "percentunit",
                "{{namespace}}/{{pod}}",
            ),
            ("Idle GPUs held by pods", f'count({SM_ACTIVE}{{pod!=""}} < 0.05) or vector(0)', "none", "idle"),
        ],
    )


def kueue_dashboard() -> dict[str, Any]:
    return _dashboard(
        "mlp-kueue",
        "ML platform / Kueue",
        [
            (
                "Pending workloads",
                f"sum by (cluster_queue, status) ({KUEUE_PENDING})",
                "none",
                "{{cluster_queue}} {{status}}",
            ),
            (
                "Admitted active workloads",
                f"sum by (cluster_queue) ({KUEUE_ADMITTED_ACTIVE})",
                "none",
                "{{cluster_queue}}",
            ),
            (
                "GPU quota used / nominal",
                f'sum by (cluster_queue, flavor) ({KUEUE_USAGE}{{resource="nvidia.com/gpu"}}) / '
                f'sum by (cluster_queue, flavor) ({KUEUE_NOMINAL}{{resource="nvidia.com/gpu"}})',
                "percentunit",
                "{{cluster_queue}} {{flavor}}",
            ),
            (
                "Admission wait p90",
                f"histogram_quantile(0.9, sum by (cluster_queue, le) (rate({KUEUE_WAIT}[15m])))",
                "s",
                "{{cluster_queue}}",
            ),
        ],
    )


DASHBOARDS = {"gpus": gpu_dashboard, "kueue": kueue_dashboard}


# --- alert rules ---------------------------------------------------------------------------------------


def alert_rules(svc: ServicesContext) -> list[dict[str, Any]]:
    mon = svc.spec.monitoring
    return [
        {
            "name": "ml-platform.gpu",
            "rules": [
                {
                    "alert": "GpuXidError",
                    "expr": f"max by (Hostname, gpu) ({XID}) > 0",
                    "for": "0m",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
                        "description": "An XID is a driver-reported GPU fault (48: double-bit ECC, 79: fell off the "
                        "bus, 94/95: contained/uncontained ECC). Drain the node and let the autoscaler replace it; "
                        "jobs on it resume from their last checkpoint.",
                    },
                },
                {
                    "alert": "GpuAllocatedButIdle",
                    "expr": f'avg by (namespace, pod) ({SM_ACTIVE}{{pod!=""}}) < 0.05',
                    "for": f"{mon.gpu_idle_minutes}m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "{{ $labels.namespace }}/{{ $labels.pod }} holds GPUs it does not use",
                        "description": f"SM activity below 5% for {mon.gpu_idle_minutes} minutes while the GPUs are "
                        "allocated: a stuck job, an idle notebook or a data-bound loader. GPUs are the largest cost "
                        "of the platform; free them or fix the input pipeline.",
                    },
                },
            ],
        },
        {
            "name": "ml-platform.kueue",
            "rules": [
                {
                    "alert": "KueueWorkloadsPendingTooLong",
                    "expr": f"sum by (cluster_queue) ({KUEUE_PENDING}) > 0",
                    "for": f"{mon.pending_minutes}m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "{{ $labels.cluster_queue }} has had pending workloads for "
                        f"{mon.pending_minutes} minutes",
                        "description": "Quota is exhausted, the cohort has nothing to lend, or the pool cannot scale "
                        "(capacity, reservation, maxNodes). Check `kubectl get workloads -A` and the pool's events.",
                    },
                }
            ],
        },
    ]


class Monitoring(pulumi.ComponentResource):
    namespace: str
    release: k8s.helm.v3.Release
    prometheus_url: str

    def __init__(self, name: str, svc: ServicesContext, opts: pulumi.ResourceOptions, *, secrets: Any = None) -> None:
        super().__init__("ml-platform:k8s:Monitoring", name, None, opts)
        self.namespace = base.NS_MONITORING
        child = pulumi.ResourceOptions(parent=self)
        # privileged: the node exporter needs host namespaces and hostPath (see the module docstring)
        ns = base.namespace(base.NS_MONITORING, svc, "privileged", child, component="monitoring")
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        deps: list[pulumi.Resource] = [ns]
        if secrets is not None:
            deps.append(
                secrets.generate(
                    f"{name}-grafana-admin",
                    base.NS_MONITORING,
                    GRAFANA_SECRET,
                    ["admin-password"],
                    in_ns,
                    component="monitoring",
                    literals={"admin-user": "admin"},
                )
            )
        self.release = base.helm_release(
            RELEASE, CHART, base.NS_MONITORING, chart_values(svc), pulumi.ResourceOptions(parent=self, depends_on=deps)
        )
        self.prometheus_url = f"http://{FULLNAME}-prometheus.{base.NS_MONITORING}.svc.cluster.local:9090"
        labels = svc.labels("monitoring")
        for key, build in DASHBOARDS.items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{key}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{key}", namespace=base.NS_MONITORING, labels={**labels, DASHBOARD_LABEL: "1"}
                ),
                data={f"{key}.json": json.dumps(build(), indent=1)},
                opts=in_ns,
            )
        base.custom_resource(
            f"{name}-rules",
            "monitoring.coreos.com/v1",
            "PrometheusRule",
            k8s.meta.v1.ObjectMetaArgs(name="ml-platform", namespace=base.NS_MONITORING, labels=labels),
            {"groups": alert_rules(svc)},
            pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.register_outputs({"namespace": self.namespace, "prometheus_url": self.prometheus_url})
