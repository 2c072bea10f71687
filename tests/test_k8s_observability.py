"""GPU runtime (device plugin / GPU Operator, DCGM exporter, sharing) and the monitoring stack."""

from __future__ import annotations

import json
import re
from typing import Any

import promql_parser
import pytest
import yaml

from components.k8s import gpu_runtime, monitoring
from infra.config import ConfigError, parse_platform
from infra.synth import Synthesis
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.k8s_schema import is_kubernetes, manifest, validate

RELEASE = "kubernetes:helm.sh/v3:Release"


def objects(syn: Synthesis, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]


def named(syn: Synthesis, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(syn, kind) if o["metadata"]["name"] == name]
    return found


def release(syn: Synthesis, name: str) -> dict[str, Any]:
    return syn.one(RELEASE, name).inputs


# --- DCGM exporter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-prod", "gcp-prod"])
def test_dcgm_exports_profiling_metrics_from_gpu_nodes_only(stack: str) -> None:
    syn = synth_stack(stack)
    csv = named(syn, "ConfigMap", "dcgm-metrics")["data"][gpu_runtime.DCGM_METRICS_FILE]
    fields = [line.split(",")[0] for line in csv.splitlines()]
    for metric in gpu_runtime.PROFILING_METRICS:
        assert metric in fields
    assert "DCGM_FI_DEV_GPU_UTIL" not in fields  # the coarse counter says nothing about SM or tensor work
    ds = named(syn, "DaemonSet", "dcgm-exporter")["spec"]["template"]["spec"]
    term = ds["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "ml-platform/accelerator", "operator": "Exists"}]
    assert ds["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    container = ds["containers"][0]
    if stack == "gcp-prod":
        # COS has no NVIDIA container runtime: a pod that requests no GPU opens the device nodes only
        # when privileged (Google's DCGM example does the same)
        assert container["securityContext"]["privileged"] is True
    else:
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
        assert container["securityContext"]["privileged"] is False
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DCGM_EXPORTER_INTERVAL"] == str(syn.spec.services.gpu_runtime.dcgm_interval_ms)
    assert env["DCGM_EXPORTER_KUBERNETES"] == "true"  # pod attribution for the idle-GPU alert
    assert container["image"] == gpu_runtime.DCGM_EXPORTER_IMAGE.ref
    assert ("LD_LIBRARY_PATH" in env) == (stack == "gcp-prod")  # GKE's host driver path


def test_service_monitor_scrapes_dcgm_after_the_operator_exists(aws_prod: Synthesis) -> None:
    sm = named(aws_prod, "ServiceMonitor", "dcgm-exporter")
    svc = named(aws_prod, "Service", "dcgm-exporter")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["spec"]["selector"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"] == "metrics"
    record = next(
        r for r in aws_prod.resources if r.type.endswith(":ServiceMonitor") and r.name.endswith("dcgm-servicemonitor")
    )
    assert aws_prod.one(RELEASE, monitoring.RELEASE).urn in record.dependencies


# --- device plugin, operator, sharing ----------------------------------------------------------------------


def test_eks_runs_the_device_plugin_with_gpu_feature_discovery(aws_prod: Synthesis) -> None:
    values = release(aws_prod, "nvidia-device-plugin")["values"]
    assert values["gfd"]["enabled"] is True
    assert values["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert values["config"]["default"] == "default"
    assert not [r for r in aws_prod.of_type(RELEASE) if r.name == "gpu-operator"]


def test_gke_installs_only_dcgm() -> None:
    syn = synth_stack("gcp-prod")
    assert {r.name for r in syn.of_type(RELEASE)}.isdisjoint({"nvidia-device-plugin", "gpu-operator"})


def _node_group_labels(syn: Synthesis, pool: str) -> dict[str, str]:
    (labels,) = [
        r.inputs["labels"]
        for r in syn.of_type("aws:eks/nodeGroup:NodeGroup")
        if r.inputs.get("labels", {}).get("ml-platform/pool") == pool
    ]
    return labels


def test_time_slicing_gets_a_per_pool_config_and_node_label() -> None:
    platform = raw_platform("aws-dev")
    platform["gpuPools"][0]["sharing"] = {"timeSlicingReplicas": 4}
    syn = synth_platform(platform, "aws-dev")
    config_map = release(syn, "nvidia-device-plugin")["values"]["config"]["map"]
    sliced = yaml.safe_load(config_map["l4"])
    assert sliced["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert "sharing" not in yaml.safe_load(config_map["default"])
    assert _node_group_labels(syn, "l4")["nvidia.com/device-plugin.config"] == "l4"


def test_mig_pools_use_the_operator_mig_manager() -> None:
    platform = raw_platform("aws-prod")
    platform["services"] = {"gpuRuntime": {"mode": "gpu-operator"}}
    platform["gpuPools"][0]["sharing"] = {"migProfile": "3g.40gb"}
    syn = synth_platform(platform, "aws-prod")
    values = release(syn, "gpu-operator")["values"]
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    assert values["migManager"]["enabled"] is True and values["mig"]["strategy"] == "single"
    assert _node_group_labels(syn, "h100-train")["nvidia.com/mig.config"] == "all-3g.40gb"
    assert "nvidia.com/mig.config" not in _node_group_labels(syn, "l4-serve")
    assert not [r for r in syn.of_type(RELEASE) if r.name == "nvidia-device-plugin"]


def test_gpu_operator_on_gke_is_a_config_error() -> None:
    platform = raw_platform("gcp-dev")
    platform["services"] = {"gpuRuntime": {"mode": "gpu-operator"}}
    with pytest.raises(ConfigError, match=r"platform\.services\.gpuRuntime\.mode: GKE installs"):
        parse_platform(platform, "stacks/Pulumi.gcp-dev.yaml")


# --- monitoring stack -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "replicas", "retention"), [("aws-dev", 1, "7d"), ("aws-prod", 2, "30d")])
def test_prometheus_follows_the_environment_and_selects_everything(stack: str, replicas: int, retention: str) -> None:
    spec = release(synth_stack(stack), monitoring.RELEASE)["values"]["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == replicas and spec["retention"] == retention
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_grafana_admin_password_is_generated_in_the_cluster(aws_prod: Synthesis) -> None:
    grafana = release(aws_prod, monitoring.RELEASE)["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == monitoring.GRAFANA_SECRET
    assert "adminPassword" not in grafana
    secret = named(aws_prod, "ExternalSecret", monitoring.GRAFANA_SECRET)
    assert secret["metadata"]["namespace"] == "monitoring"
    generators = {g["metadata"]["name"] for g in objects(aws_prod, "Password")}
    assert f"{monitoring.GRAFANA_SECRET}-admin-password" in generators


def _exprs(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in ([v] if k == "expr" else _exprs(v))]
    if isinstance(value, list):
        return [e for v in value for e in _exprs(v)]
    return []


def test_dashboards_parse_and_use_real_metrics(aws_prod: Synthesis) -> None:
    known = {m for m, _, _ in gpu_runtime.DCGM_METRICS} | {
        monitoring.KUEUE_PENDING,
        monitoring.KUEUE_ADMITTED_ACTIVE,
        monitoring.KUEUE_USAGE,
        monitoring.KUEUE_NOMINAL,
        monitoring.KUEUE_WAIT,
    }
    maps = [
        m
        for m in objects(aws_prod, "ConfigMap")
        if m["metadata"]["labels"].get("grafana_dashboard") == "1"
        and not m["metadata"]["name"].startswith("dashboard-model-")  # per model: tests/test_k8s_model_slo.py
    ]
    assert {m["metadata"]["name"] for m in maps} == {"dashboard-gpus", "dashboard-kueue"}
    for cm in maps:
        (body,) = cm["data"].values()
        dashboard = json.loads(body)
        exprs = _exprs(dashboard["panels"])
        assert len(exprs) >= 4
        for expr in exprs:
            promql_parser.parse(expr)  # raises on a syntax error
            used = set(re.findall(r"\b(DCGM_FI_[A-Z_]+|kueue_[a-z_]+)\b", expr))
            assert used and used <= known, expr


def test_alert_rules_are_valid_promql_with_thresholds_from_the_stack() -> None:
    platform = raw_platform("aws-dev")
    platform["services"] = {"monitoring": {"gpuIdleMinutes": 45, "pendingMinutes": 90}}
    syn = synth_platform(platform, "aws-dev")
    rule = named(syn, "PrometheusRule", "ml-platform")
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(rules) == {"GpuXidError", "GpuAllocatedButIdle", "KueueWorkloadsPendingTooLong"}
    assert rules["GpuAllocatedButIdle"]["for"] == "45m"
    assert rules["KueueWorkloadsPendingTooLong"]["for"] == "90m"
    assert "DCGM_FI_DEV_XID_ERRORS" in rules["GpuXidError"]["expr"]
    for r in rules.values():
        promql_parser.parse(r["expr"])
        assert r["labels"]["severity"] in {"warning", "critical"} and r["annotations"]["summary"]
    assert validate(rule, syn.spec.cluster.kubernetes_version) == []


def test_monitoring_off_removes_every_monitor_and_rule() -> None:
    platform = raw_platform("aws-dev")
    platform["services"] = {"monitoring": {"enabled": False}}
    syn = synth_platform(platform, "aws-dev")
    assert not objects(syn, "ServiceMonitor") and not objects(syn, "PrometheusRule")
    assert not [r for r in syn.of_type(RELEASE) if r.name == monitoring.RELEASE]
    assert release(syn, "kueue")["values"]["enablePrometheus"] is False
    assert objects(syn, "DaemonSet")  # DCGM still runs: its metrics can be scraped by another Prometheus
