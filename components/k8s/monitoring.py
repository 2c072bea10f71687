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

The node exporter reads host metrics through host namespaces and hostPath, so it runs in a
namespace of its own at the "privileged" Pod Security level; everything else runs "restricted".
On managed control planes (EKS, GKE) the unscrapeable components (controller-manager, scheduler,
etcd, kube-proxy) and their default alerts are off. Volumes use `monitoring.storageClass` or the
cluster's default StorageClass.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext
from components.k8s.gpu_runtime import critical_pod_quota

# kube-prometheus-stack 88.5.3 (prometheus-community/helm-charts@kube-prometheus-stack-88.5.3:
# charts/kube-prometheus-stack), the version tests/charts packages and renders (re-pinned from 91.5.2, which
# had no upstream tag to test): Prometheus Operator v0.93.1 (appVersion), subcharts kube-state-metrics 8.4.0,
# prometheus-node-exporter 4.56.1, grafana 12.11.1. Every image is pinned here, and each is the chart's own
# default at that version (its values.yaml, or the appVersion where the tag is left empty; tests/
# test_k8s_chart_images.py renders both ways): a chart bump shows which pins must follow.
CHART = Chart("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
OPERATOR_IMAGE = Image("quay.io/prometheus-operator/prometheus-operator", "v0.93.1")
RELOADER_IMAGE = Image("quay.io/prometheus-operator/prometheus-config-reloader", "v0.93.1")
# the chart's certgen since kube-prometheus-stack 80.2.2 (helm-charts #6406), not ingress-nginx's
WEBHOOK_CERTGEN_IMAGE = Image("ghcr.io/jkroepke/kube-webhook-certgen", "1.8.7")
PROMETHEUS_IMAGE = Image("quay.io/prometheus/prometheus", "v3.14.0-distroless")
ALERTMANAGER_IMAGE = Image("quay.io/prometheus/alertmanager", "v0.34.0")
GRAFANA_IMAGE = Image("docker.io/grafana/grafana", "13.2.0")  # grafana chart 12.11.1's appVersion
GRAFANA_SIDECAR_IMAGE = Image("quay.io/kiwigrid/k8s-sidecar", "2.10.1")
KSM_IMAGE = Image("registry.k8s.io/kube-state-metrics/kube-state-metrics", "v2.20.0")  # chart 8.4.0's appVersion
# node-exporter chart 4.56.1's appVersion; kube-prometheus-stack sets `image.distroless`, so the chart
# renders the tag with `-distroless` appended
NODE_EXPORTER_IMAGE = Image("quay.io/prometheus/node-exporter", "v1.12.1")

RELEASE = "kube-prometheus-stack"
FULLNAME = "kps"
GRAFANA_SECRET = "grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"
# The node exporter reads the host (host PID/network namespaces, hostPath): it gets a namespace of its
# own at the "privileged" level, so Prometheus, Alertmanager and Grafana stay "restricted".
NS_NODE_EXPORTER = "node-exporter"

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
KUEUE_ADMITTED_TOTAL = "kueue_admitted_workloads_total"


def _image(image: Image) -> dict[str, str]:
    """The chart's image triple: registry, repository, tag."""
    registry, _, repository = image.repository.partition("/")
    return {"registry": registry, "repository": repository, "tag": image.tag}


def _volume(size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def chart_values(svc: ServicesContext) -> dict[str, Any]:
    mon, prod = svc.spec.monitoring, svc.ctx.prod
    gke = svc.ctx.spec.cloud == "gcp"
    # prod replicas spread over zones where the system pool allows, without blocking on a small pool
    spread = {"podAntiAffinity": "soft", "podAntiAffinityTopologyKey": "topology.kubernetes.io/zone"} if prod else {}
    restricted = base.restricted_values()
    system = base.system_tolerations()
    select_all = {
        f"{kind}SelectorNilUsesHelmValues": False for kind in ("serviceMonitor", "podMonitor", "rule", "probe")
    }
    small = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    prometheus_replicas, alertmanager_replicas = (2, 3) if prod else (1, 1)
    return {
        "fullnameOverride": FULLNAME,
        "crds": {"enabled": True},
        # EKS and GKE run the control plane: controller-manager, scheduler and etcd cannot be scraped, and
        # kube-proxy (EKS: bound to localhost; GKE Dataplane V2: absent) neither. Left on, their default
        # alerts (KubeSchedulerDown, etcdMembersDown...) fire forever and teach people to ignore alerts.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "coreDns": {"enabled": not gke},  # GKE runs kube-dns (dnsmasq metrics), EKS CoreDNS
        "kubeDns": {"enabled": gke},
        # the default rules of the components turned off above (and of Windows, not monitored) are
        # rendered only for enabled components: no `defaultRules.rules` switches are needed
        "defaultRules": {"create": True},
        "prometheusOperator": {
            "image": _image(OPERATOR_IMAGE),
            "prometheusConfigReloader": {"image": _image(RELOADER_IMAGE)},
            "tolerations": system,
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "securityContext": restricted["podSecurityContext"],
            "containerSecurityContext": restricted["securityContext"],
            # the admission webhook rejects a PrometheusRule with invalid PromQL at apply time
            "admissionWebhooks": {
                "patch": {
                    "image": _image(WEBHOOK_CERTGEN_IMAGE),
                    "tolerations": system,
                    # both hook Jobs (create the certificate, patch the webhook) take these
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                }
            },
        },
        "prometheus": {
            "podDisruptionBudget": base.pdb_values(prometheus_replicas, prod),
            "prometheusSpec": {
                **select_all,
                "image": _image(PROMETHEUS_IMAGE),
                "replicas": prometheus_replicas,
                **spread,
                "externalLabels": {"cluster": svc.ctx.prefix},
                "retention": f"{mon.retention_days}d",
                # delete old blocks before the volume fills: a full disk stops ingestion altogether
                "retentionSize": f"{int(mon.storage_gb * 0.9)}GB",
                "storageSpec": _volume(f"{mon.storage_gb}Gi", mon.storage_class),
                "resources": {
                    "requests": {"cpu": "500m", "memory": "2Gi" if prod else "1Gi"},
                    "limits": {"memory": "8Gi" if prod else "4Gi"},
                },
                "tolerations": system,
                "securityContext": {**restricted["podSecurityContext"], "runAsUser": 1000, "fsGroup": 2000},
            },
        },
        "alertmanager": {
            "podDisruptionBudget": base.pdb_values(alertmanager_replicas, prod),
            "alertmanagerSpec": {
                "image": _image(ALERTMANAGER_IMAGE),
                "replicas": alertmanager_replicas,  # a gossip cluster: silences and dedup survive a lost node
                **spread,
                "storage": _volume("2Gi", mon.storage_class),
                "resources": small,
                "tolerations": system,
                "securityContext": {**restricted["podSecurityContext"], "runAsUser": 1000, "fsGroup": 2000},
            },
        },
        "grafana": {
            "image": _image(GRAFANA_IMAGE),
            "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "image": _image(GRAFANA_SIDECAR_IMAGE),
                # each sidecar container (dashboards, datasources) takes these
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                    "folderAnnotation": "grafana_folder",
                    "provider": {"foldersFromFilesStructure": True},
                },
            },
            "grafana.ini": {
                "analytics": {"reporting_enabled": False, "check_for_updates": False},
                "users": {"allow_sign_up": False},
                "auth.anonymous": {"enabled": False},
            },
            "tolerations": system,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "persistence": {"enabled": False},  # dashboards are code (ConfigMaps), not clicks
        },
        "kube-state-metrics": {
            "image": _image(KSM_IMAGE),
            "tolerations": system,
            "resources": small,
            # kube_node_labels carries the pool and accelerator: capacity and cost per pool in PromQL
            "metricLabelsAllowlist": ["nodes=[ml-platform/pool,ml-platform/accelerator,ml-platform/capacity]"],
        },
        # on every node, GPU nodes included: node metrics are what explain a slow data loader
        "prometheus-node-exporter": {
            "namespaceOverride": NS_NODE_EXPORTER,
            "image": _image(NODE_EXPORTER_IMAGE),
            "tolerations": [{"operator": "Exists"}],
            "priorityClassName": "system-node-critical",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            # it reads the host's /proc and /sys as nobody (the chart's runAsUser 65534): no capability,
            # no setuid, the runtime's seccomp profile (merged into the chart's own contexts)
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        },
    }


# --- dashboards ----------------------------------------------------------------------------------------


def timeseries_panel(pid: int, title: str, unit: str, targets: list[tuple[str, str]], x: int, y: int) -> dict[str, Any]:
    """A Grafana time-series panel of PromQL `targets` ((expr, legend) pairs) on the `${datasource}` variable."""
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard_json(
    uid: str, title: str, panels: list[tuple[str, str, list[tuple[str, str]]]], tags: tuple[str, ...] = ("ml-platform",)
) -> dict[str, Any]:
    """A Grafana dashboard of (title, unit, targets) panels, two per row, with a Prometheus data-source
    variable: the platform's dashboards and each model's (model_slo.py)."""
    return {
        "uid": uid,
        "title": title,
        "tags": list(tags),
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": [
            timeseries_panel(i + 1, t, unit, targets, 12 * (i % 2), 8 * (i // 2))
            for i, (t, unit, targets) in enumerate(panels)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """The platform's dashboards: one query per panel, (title, expr, unit, legend)."""
    return dashboard_json(uid, title, [(t, unit, [(expr, legend)]) for t, expr, unit, legend in panels])


def gpu_dashboard() -> dict[str, Any]:
    # `node`, `pool` and `accelerator` come from the DCGM ServiceMonitor's relabelings (gpu_runtime.py);
    # `pod`/`namespace` are the pod that holds the GPU.
    by_gpu = "node, gpu"
    return _dashboard(
        "mlp-gpus",
        "ML platform / GPUs",
        [
            ("SM active (real utilisation)", f"avg by ({by_gpu}) ({SM_ACTIVE})", "percentunit", "{{node}} {{gpu}}"),
            ("Tensor cores active", f"avg by ({by_gpu}) ({TENSOR_ACTIVE})", "percentunit", "{{node}} {{gpu}}"),
            (
                "Memory bandwidth (DRAM active)",
                f"avg by ({by_gpu}) ({DRAM_ACTIVE})",
                "percentunit",
                "{{node}} {{gpu}}",
            ),
            ("Framebuffer used", f"sum by ({by_gpu}) ({FB_USED})", "decmbytes", "{{node}} {{gpu}}"),
            ("Power by pool", f"sum by (pool) ({POWER})", "watt", "{{pool}}"),
            ("SM active by pool", f"avg by (pool) ({SM_ACTIVE})", "percentunit", "{{pool}}"),
            ("XID errors", f"max by ({by_gpu}) ({XID})", "none", "{{node}} {{gpu}}"),
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
                # max over Kueue replicas: in HA only the leader's gauges are meaningful
                f"max by (cluster_queue, status) ({KUEUE_PENDING})",
                "none",
                "{{cluster_queue}} {{status}}",
            ),
            (
                "Admitted active workloads",
                f"max by (cluster_queue) ({KUEUE_ADMITTED_ACTIVE})",
                "none",
                "{{cluster_queue}}",
            ),
            (
                "GPU quota used / nominal",
                f'max by (cluster_queue, flavor) ({KUEUE_USAGE}{{resource="nvidia.com/gpu"}}) / '
                f'max by (cluster_queue, flavor) ({KUEUE_NOMINAL}{{resource="nvidia.com/gpu"}})',
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
                    "expr": f"max by (node, pool, gpu, UUID) (max_over_time({XID}[5m])) > 0",
                    "for": "0m",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "GPU {{ $labels.gpu }} on {{ $labels.node }} ({{ $labels.pool }}) reported XID "
                        "{{ $value }}",
                        "description": "An XID is a driver-reported GPU fault (48: double-bit ECC, 79: fell off the "
                        "bus, 94/95: contained/uncontained ECC). Drain the node and let the autoscaler replace it; "
                        "jobs on it resume from their last checkpoint.",
                    },
                },
                {
                    "alert": "GpuAllocatedButIdle",
                    # 5-minute averages, so one busy scrape does not reset the clock
                    "expr": f'avg by (namespace, pod, node, pool) (avg_over_time({SM_ACTIVE}{{pod!=""}}[5m])) < 0.05',
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
                    # pending work and nothing admitted in the window: stuck, not merely busy
                    "expr": f"max by (cluster_queue) ({KUEUE_PENDING}) > 0 unless on (cluster_queue) "
                    f"sum by (cluster_queue) (increase({KUEUE_ADMITTED_TOTAL}[{mon.pending_minutes}m])) > 0",
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


# --- Pushgateway (drift checks of model deployments push here: components/k8s/model_drift.py) ----------

# prometheus-pushgateway 3.6.1, appVersion v1.11.3 (prometheus-community/helm-charts@prometheus-pushgateway-
# 3.6.1:charts/prometheus-pushgateway/Chart.yaml); the image pinned here, equal to the chart's default.
PUSHGATEWAY_CHART = Chart("prometheus-pushgateway", "3.6.1", "https://prometheus-community.github.io/helm-charts")
PUSHGATEWAY_IMAGE = Image("quay.io/prometheus/pushgateway", "v1.11.3")
PUSHGATEWAY = "pushgateway"  # release and fullname: Service pushgateway.monitoring:9091
PUSHGATEWAY_PORT = 9091
PUSHGATEWAY_POD_LABELS = {"app.kubernetes.io/name": "prometheus-pushgateway", "app.kubernetes.io/instance": PUSHGATEWAY}
DRIFT_COMPONENT = "model-drift"  # the component label of the drift CronJobs' pods (the only pushers admitted)
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}  # the operator's label on Prometheus pods


def needs_pushgateway(svc: ServicesContext) -> bool:
    return any(m.drift is not None for m in svc.ctx.spec.model_deployments)


def pushgateway_values() -> dict[str, Any]:
    restricted = base.restricted_values(uid=65534)
    return {
        "fullnameOverride": PUSHGATEWAY,
        "image": {"registry": "", "repository": PUSHGATEWAY_IMAGE.repository, "tag": PUSHGATEWAY_IMAGE.tag},
        # the groups survive a container restart (not a new pod: the next scheduled push fills them again)
        "extraArgs": ["--persistence.file=/data/pushgateway.data", "--persistence.interval=5m"],
        "automountServiceAccountToken": False,  # it never calls the Kubernetes API
        "securityContext": restricted["podSecurityContext"],
        "containerSecurityContext": restricted["securityContext"],
        "tolerations": base.system_tolerations(),
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "serviceMonitor": {
            "enabled": True,
            "namespace": base.NS_MONITORING,
            "interval": "30s",
            # keep the pushed job/namespace/model labels (the grouping key) instead of the target's: the drift
            # alerts select the model's namespace, not the Pushgateway's
            "honorLabels": True,
        },
    }


def pushgateway(name: str, svc: ServicesContext, opts: pulumi.ResourceOptions) -> str:
    """The Pushgateway release, its ingress policy (the drift jobs of team namespaces and Prometheus, on
    9091, nothing else) and its URL."""
    base.helm_release(PUSHGATEWAY, PUSHGATEWAY_CHART, base.NS_MONITORING, pushgateway_values(), opts)
    np = k8s.networking.v1
    teams = sorted({m.team for m in svc.ctx.spec.model_deployments if m.drift is not None})
    pushers = [base.peer(team, {base.LABEL_COMPONENT: DRIFT_COMPONENT}) for team in teams]
    base.network_policy(
        f"{name}-pushgateway-ingress",
        base.NS_MONITORING,
        svc,
        opts,
        component="monitoring",
        policy_name="allow-pushgateway",
        pod_labels=PUSHGATEWAY_POD_LABELS,
        ingress=[
            np.NetworkPolicyIngressRuleArgs(
                from_=[*pushers, base.peer(base.NS_MONITORING, PROMETHEUS_POD_LABELS)],
                ports=base.ports(PUSHGATEWAY_PORT),
            )
        ],
    )
    return f"http://{PUSHGATEWAY}.{base.NS_MONITORING}.svc.cluster.local:{PUSHGATEWAY_PORT}"


class Monitoring(pulumi.ComponentResource):
    namespace: str
    release: k8s.helm.v3.Release
    prometheus_url: str
    pushgateway_url: str | None  # where a model's drift job pushes (None: no model has `drift`)

    def __init__(self, name: str, svc: ServicesContext, opts: pulumi.ResourceOptions, *, secrets: Any = None) -> None:
        super().__init__("ml-platform:k8s:Monitoring", name, None, opts)
        self.namespace = base.NS_MONITORING
        child = pulumi.ResourceOptions(parent=self)
        ns = base.namespace(base.NS_MONITORING, svc, "restricted", child, component="monitoring")
        # privileged: the node exporter reads the host through host namespaces and hostPath
        node_ns = base.namespace(NS_NODE_EXPORTER, svc, "privileged", child, component="monitoring")
        critical_pod_quota(
            f"{name}-node-exporter-critical-pods",
            NS_NODE_EXPORTER,
            svc,
            pulumi.ResourceOptions(parent=self, depends_on=[node_ns]),
            component="monitoring",
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        deps: list[pulumi.Resource] = [ns, node_ns]
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
                    name=f"dashboard-{key}",
                    namespace=base.NS_MONITORING,
                    labels={**labels, DASHBOARD_LABEL: "1"},
                    annotations={"grafana_folder": "ML platform"},
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
        # the Pushgateway, only where a model deployment checks drift on a schedule
        self.pushgateway_url = (
            pushgateway(name, svc, pulumi.ResourceOptions(parent=self, depends_on=[self.release]))
            if needs_pushgateway(svc)
            else None
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "prometheus_url": self.prometheus_url,
                "pushgateway_url": self.pushgateway_url,
            }
        )
