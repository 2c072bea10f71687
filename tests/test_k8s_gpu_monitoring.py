"""GPU runtime and monitoring beyond the reference stacks (tests/test_k8s_observability.py covers
those): the GPU Operator with MIG and time-slicing, Bottlerocket pools, the DCGM scrape wiring the
idle-GPU alert depends on, pins, Pod Security levels, managed control planes, and the rendered
alert rules checked by `promtool` where it is installed."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s import base, gpu_runtime, monitoring
from infra.synth import Synthesis
from tests import promtool
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.k8s_schema import is_kubernetes, manifest, validate

RELEASE = "kubernetes:helm.sh/v3:Release"


@cache
def device_plugin_variant() -> Synthesis:
    """aws-dev with a time-sliced AL2023 pool, a time-sliced Bottlerocket pool, a slower DCGM interval
    and an explicit StorageClass."""
    platform = raw_platform("aws-dev")
    platform["gpuPools"][0]["sharing"] = {"timeSlicingReplicas": 4}
    platform["gpuPools"].append(
        {
            "name": "l4-br",
            "accelerator": "nvidia-l4",
            "nodeImage": "bottlerocket",
            "maxNodes": 2,
            "sharing": {"timeSlicingReplicas": 2},
        }
    )
    platform["services"] = {"gpuRuntime": {"dcgmIntervalMs": 60000}, "monitoring": {"storageClass": "gp3"}}
    return synth_platform(platform, "aws-dev")


@cache
def operator_variant() -> Synthesis:
    """aws-prod on the GPU Operator: MIG on the H100 pool, time-slicing on the L4 pool."""
    platform = raw_platform("aws-prod")
    platform["services"] = {"gpuRuntime": {"mode": "gpu-operator"}}
    platform["gpuPools"][0]["sharing"] = {"migProfile": "1g.10gb"}
    platform["gpuPools"][1]["sharing"] = {"timeSlicingReplicas": 4}
    return synth_platform(platform, "aws-prod")


def objects(syn: Synthesis, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    out = [manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}")]
    return [o for o in out if namespace is None or o["metadata"].get("namespace") == namespace]


def named(syn: Synthesis, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(syn, kind) if o["metadata"]["name"] == name]
    return found


def values(syn: Synthesis, release: str) -> dict[str, Any]:
    return syn.one(RELEASE, release).inputs["values"]


def _component_records(syn: Synthesis) -> list[Any]:
    roots = [r for r in syn.resources if r.type in ("ml-platform:k8s:GpuRuntime", "ml-platform:k8s:Monitoring")]
    return [d for root in roots for d in syn.descendants(root.urn)]


# --- every object the two components create is valid, in every variant -------------------------------------


@pytest.mark.parametrize("variant", ["aws-dev", "aws-prod", "gcp-prod", "device-plugin", "operator"])
def test_every_object_is_schema_valid(variant: str) -> None:
    syn = {"device-plugin": device_plugin_variant, "operator": operator_variant}.get(variant, lambda: None)()
    syn = syn or synth_stack(variant)
    records = [r for r in _component_records(syn) if is_kubernetes(r)]
    kinds = {r.type.rsplit(":", 1)[1] for r in records}
    assert {"Namespace", "ConfigMap", "ServiceMonitor", "PrometheusRule", "ResourceQuota"} <= kinds
    version = syn.spec.cluster.kubernetes_version
    assert [e for r in records for e in validate(manifest(r), version)] == []


# --- pins ----------------------------------------------------------------------------------------------------


def _images(value: Any) -> list[str]:
    """Every image reference in Helm values, as repository:tag (tag may be empty)."""
    found: list[str] = []
    if isinstance(value, dict):
        if "repository" in value and ("tag" in value or "version" in value or "image" in value):
            name = "/".join(p for p in (value.get("registry"), value["repository"], value.get("image")) if p)
            found.append(f"{name}:{value.get('tag') or value.get('version') or ''}")
        for v in value.values():
            found += _images(v)
    elif isinstance(value, list):
        for v in value:
            found += _images(v)
    return found


def test_charts_and_images_are_pinned_to_the_researched_versions() -> None:
    dp, op, kps = device_plugin_variant(), operator_variant(), synth_stack("aws-prod")
    assert dp.one(RELEASE, "nvidia-device-plugin").inputs["version"] == "0.20.0"
    assert op.one(RELEASE, "gpu-operator").inputs["version"] == "v26.7.0"
    assert op.one(RELEASE, "gpu-operator").inputs["repositoryOpts"]["repo"] == "https://helm.ngc.nvidia.com/nvidia"
    assert kps.one(RELEASE, monitoring.RELEASE).inputs["version"] == "88.5.3"
    images = {
        "device plugin": _images(values(dp, "nvidia-device-plugin")),
        "operator": _images(values(op, "gpu-operator")),
        "monitoring": _images(values(kps, monitoring.RELEASE)),
    }
    for where, refs in images.items():
        assert refs, where
        for ref in refs:
            assert not ref.endswith((":", ":latest")), f"{where}: {ref}"
    assert "nvcr.io/nvidia/k8s-device-plugin:v0.20.0" in images["device plugin"]
    assert "nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless" in images["operator"]
    assert "quay.io/prometheus-operator/prometheus-operator:v0.93.1" in images["monitoring"]
    assert "docker.io/grafana/grafana:13.2.0" in images["monitoring"]
    (ds,) = objects(dp, "DaemonSet", base.NS_GPU)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == gpu_runtime.DCGM_EXPORTER_IMAGE.ref


# --- DCGM ----------------------------------------------------------------------------------------------------


def test_metric_list_is_a_valid_collectors_file() -> None:
    rows = [line for line in gpu_runtime.dcgm_metrics_csv().splitlines() if line and not line.startswith("#")]
    parsed = [tuple(part.strip() for part in row.split(",", 2)) for row in rows]
    assert [p[0] for p in parsed] == [m.name for m in gpu_runtime.DCGM_METRICS]
    assert all(kind in {"gauge", "counter"} and help_ for _, kind, help_ in parsed)
    assert len(gpu_runtime.DCGM_METRIC_NAMES) == len(gpu_runtime.DCGM_METRICS)  # no duplicates
    assert set(gpu_runtime.PROFILING_METRICS) <= gpu_runtime.DCGM_METRIC_NAMES
    assert {"DCGM_FI_PROF_SM_OCCUPANCY", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_XID_ERRORS"} <= (
        gpu_runtime.DCGM_METRIC_NAMES
    )
    assert {"DCGM_FI_PROF_NVLINK_TX_BYTES", "DCGM_FI_PROF_PCIE_RX_BYTES", "DCGM_FI_DEV_FB_FREE"} <= (
        gpu_runtime.DCGM_METRIC_NAMES
    )


def test_scrape_attributes_gpus_to_the_pod_that_holds_them() -> None:
    """The exporter's `pod`/`namespace` labels name the GPU's consumer; the exporter pod's own target
    labels would shadow them (`exported_pod`) and make every idle GPU look held by the exporter."""
    sm = named(synth_stack("aws-prod"), "ServiceMonitor", gpu_runtime.DCGM_NAME)["spec"]
    assert sm["attachMetadata"] == {"node": True}
    (endpoint,) = sm["endpoints"]
    assert endpoint["honorLabels"] is False
    relabel = endpoint["relabelings"]
    assert {"action": "labeldrop", "regex": "pod|namespace|container"} in relabel
    targets = {r.get("targetLabel"): r["sourceLabels"][0] for r in relabel if r["action"] == "replace"}
    assert targets == {
        "node": "__meta_kubernetes_pod_node_name",
        "pool": "__meta_kubernetes_node_label_ml_platform_pool",
        "accelerator": "__meta_kubernetes_node_label_ml_platform_accelerator",
    }


def test_collect_interval_and_scrape_interval_follow_the_stack() -> None:
    syn = device_plugin_variant()
    (ds,) = objects(syn, "DaemonSet", base.NS_GPU)
    env = {e["name"]: e.get("value") for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DCGM_EXPORTER_INTERVAL"] == "60000"
    assert env["DCGM_EXPORTER_COLLECTORS"] == f"{gpu_runtime.DCGM_CONFIG_DIR}/{gpu_runtime.DCGM_METRICS_FILE}"
    assert named(syn, "ServiceMonitor", gpu_runtime.DCGM_NAME)["spec"]["endpoints"][0]["interval"] == "60s"
    assert gpu_runtime.scrape_interval(15000) == "15s" and gpu_runtime.scrape_interval(1000) == "15s"


def test_gke_exporter_reads_the_gke_driver_and_names_gpus_by_device() -> None:
    pod = named(synth_stack("gcp-prod"), "DaemonSet", gpu_runtime.DCGM_NAME)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DCGM_EXPORTER_KUBERNETES_GPU_ID_TYPE"] == "device-name"
    assert "NVIDIA_VISIBLE_DEVICES" not in env  # no NVIDIA runtime on COS to honour it
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host_paths["nvidia"] == gpu_runtime.GKE_DRIVER_DIR


def test_dcgm_answers_only_prometheus() -> None:
    policy = named(synth_stack("aws-prod"), "NetworkPolicy", "dcgm-exporter-from-monitoring")["spec"]
    assert (
        policy["podSelector"]["matchLabels"]
        == named(synth_stack("aws-prod"), "Service", gpu_runtime.DCGM_NAME)["spec"]["selector"]
    )
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert rule["ports"] == [{"port": gpu_runtime.DCGM_PORT, "protocol": "TCP"}]


# --- sharing and node selection ------------------------------------------------------------------------------


def test_time_slicing_fails_multi_gpu_requests_and_skips_bottlerocket() -> None:
    dp = values(device_plugin_variant(), "nvidia-device-plugin")
    configs = {k: yaml.safe_load(v) for k, v in dp["config"]["map"].items()}
    assert set(configs) == {"default", "l4"}  # Bottlerocket time-slices through its own settings
    sliced = configs["l4"]["sharing"]["timeSlicing"]
    assert sliced["failRequestsGreaterThanOne"] is True and sliced["renameByDefault"] is False
    term = dp["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [
        {"key": "ml-platform/accelerator", "operator": "Exists"},
        {"key": "ml-platform/pool", "operator": "NotIn", "values": ["l4-br"]},
    ]
    assert dp["nfd"]["worker"]["affinity"] == gpu_runtime.gpu_affinity()
    assert dp["nfd"]["master"]["tolerations"] == base.system_tolerations()


def test_operator_runs_mig_and_time_slicing_with_the_platform_exporter_config() -> None:
    syn = operator_variant()
    op = values(syn, "gpu-operator")
    assert (op["driver"], op["toolkit"], op["cdi"]) == ({"enabled": False},) * 3
    assert op["migManager"]["enabled"] is True and op["migManager"]["config"]["default"] == "all-disabled"
    data = {k: yaml.safe_load(v) for k, v in op["devicePlugin"]["config"]["data"].items()}
    assert set(data) == {"default", "l4-serve"}
    assert {d["flags"]["migStrategy"] for d in data.values()} == {"single"}
    exporter = op["dcgmExporter"]
    assert exporter["serviceMonitor"] == {"enabled": False}
    cm = named(syn, "ConfigMap", exporter["config"]["name"])
    assert cm["metadata"]["namespace"] == base.NS_GPU
    # the operator mounts the ConfigMap's `dcgm-metrics.csv` and points the exporter at it itself
    assert list(cm["data"]) == ["dcgm-metrics.csv"]
    assert "DCGM_EXPORTER_COLLECTORS" not in {e["name"] for e in exporter["env"]}
    # the operator's exporter is scraped; the platform's own DaemonSet is not deployed beside it
    assert not objects(syn, "DaemonSet", base.NS_GPU)
    sm = named(syn, "ServiceMonitor", gpu_runtime.DCGM_NAME)["spec"]
    assert sm["selector"]["matchLabels"] == {"app": "nvidia-dcgm-exporter"}
    assert sm["endpoints"][0]["port"] == "gpu-metrics"


# --- monitoring stack ----------------------------------------------------------------------------------------


def test_namespaces_run_at_the_strictest_level_that_works() -> None:
    levels = {
        ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in objects(synth_stack("aws-prod"), "Namespace")
    }
    assert levels[base.NS_MONITORING] == "restricted"
    assert levels[monitoring.NS_NODE_EXPORTER] == levels[base.NS_GPU] == "privileged"
    kps = values(synth_stack("aws-prod"), monitoring.RELEASE)
    assert kps["prometheus-node-exporter"]["namespaceOverride"] == monitoring.NS_NODE_EXPORTER
    for ns in (base.NS_GPU, monitoring.NS_NODE_EXPORTER):  # GKE admits node-critical pods only with it
        (quota,) = objects(synth_stack("gcp-prod"), "ResourceQuota", ns)
        (scope,) = quota["spec"]["scopeSelector"]["matchExpressions"]
        assert "system-node-critical" in scope["values"]


@pytest.mark.parametrize("stack", ["aws-prod", "gcp-prod"])
def test_managed_control_planes_are_not_scraped(stack: str) -> None:
    kps = values(synth_stack(stack), monitoring.RELEASE)
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert kps[component] == {"enabled": False}
    assert kps["kubeDns"]["enabled"] is (stack == "gcp-prod")
    assert kps["coreDns"]["enabled"] is (stack == "aws-prod")


def test_volumes_ha_and_storage_class() -> None:
    prod = values(synth_stack("aws-prod"), monitoring.RELEASE)
    assert prod["alertmanager"]["alertmanagerSpec"]["replicas"] == 3
    assert prod["prometheus"]["podDisruptionBudget"]["enabled"] is True
    assert prod["prometheus"]["prometheusSpec"]["retentionSize"] == "45GB"
    assert "storageClassName" not in prod["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    dev = values(device_plugin_variant(), monitoring.RELEASE)
    for volume in (
        dev["prometheus"]["prometheusSpec"]["storageSpec"],
        dev["alertmanager"]["alertmanagerSpec"]["storage"],
    ):
        assert volume["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3"
    assert dev["prometheus"]["podDisruptionBudget"]["enabled"] is False


def test_rules_check_with_promtool(tmp_path: Path) -> None:
    rule = named(synth_stack("aws-prod"), "PrometheusRule", "ml-platform")
    assert "SUCCESS: 3 rules found" in promtool.check_rules(tmp_path, rule["spec"]["groups"])
