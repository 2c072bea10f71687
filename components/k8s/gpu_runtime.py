"""`GpuRuntime`: what makes GPU nodes usable and observable, in the `gpu-system` namespace.

What runs depends on the cloud and `services.gpuRuntime.mode`:

* **GKE** (`gpu-operator` is a config error there): GKE installs the NVIDIA driver (node pool
  `gpu_driver_installation_config`) and runs its own device plugin (`nvidia-gpu-device-plugin` in
  kube-system); time-sharing and MIG partitions are node pool settings (components/gcp/gpu_pool.py).
  A second device plugin would fight over `nvidia.com/gpu`, so the platform installs only the DCGM
  exporter, wired to GKE's layout: the driver libraries from `/home/kubernetes/bin/nvidia`, GPUs
  named by device name (GKE's plugin allocates `nvidia0`, not UUIDs), privileged (COS has no NVIDIA
  container runtime, so only a privileged container can open the GPU device nodes). GKE's managed
  DCGM metrics (monitoring component `DCGM`) must stay off: two DCGM host engines cannot both hold
  the profiling counters.
* **device-plugin** (EKS default): NVIDIA's k8s-device-plugin chart with GPU feature discovery (GFD
  labels nodes with product, memory, MIG capability) and the node-feature-discovery subchart GFD
  needs, plus our DCGM exporter DaemonSet. The EKS NVIDIA AMIs (AL2023) carry the driver and the
  NVIDIA container toolkit, registered as containerd's default runtime. Bottlerocket NVIDIA nodes run
  NVIDIA's device plugin as a host service (sharing through `settings.kubelet-device-plugins`), so the
  chart's daemonsets skip Bottlerocket pools.
* **gpu-operator**: NVIDIA's GPU Operator with `driver` and `toolkit` off (the node image carries
  both; CDI off so the device plugin hands devices to the image's runtime as the plain plugin does),
  its device plugin, GFD, the MIG manager when a pool has a MIG profile, and its DCGM exporter fed
  with the platform's metric list. The MIG manager evicts the operator's own GPU clients during a
  re-partition, which is why this mode keeps the operator's exporter rather than ours.

Per-pool GPU sharing (AWS; GKE shares in the node pool): the device plugin's ConfigMap holds one
config per time-sliced pool (key = pool name) and a `default` (whole GPUs); the plugin's
config-manager picks the config named by the node label `nvidia.com/device-plugin.config`. MIG pools
get the operator's single strategy and the node label `nvidia.com/mig.config: all-<profile>` (the
operator's default mig-parted config defines `all-<profile>` for A100/H100/H200). Both labels are on
the node from boot: the foundation sets them with the pool's other labels
(`components.foundation.sharing_node_labels`).

The DCGM metric list (`DCGM_METRICS`) is the platform's contract with dashboards and alerts: the
profiling counters (SM active, tensor pipe, DRAM active) rather than `DCGM_FI_DEV_GPU_UTIL`, which
only says a kernel was running and reads 100% for a GPU starved by its input pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.foundation import LABEL_ACCELERATOR, LABEL_POOL
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext
from infra.config import GpuPoolSpec, PlatformSpec

if TYPE_CHECKING:
    from components.k8s.monitoring import Monitoring

RuntimeKind = Literal["gke", "device-plugin", "gpu-operator"]

# NVIDIA k8s-device-plugin v0.20.0 (2026-08; NVIDIA/k8s-device-plugin releases, the version GPU Operator
# v26.7.0 ships). GFD is the same image; node-feature-discovery v0.19.0 is the subchart's release.
DEVICE_PLUGIN_CHART = Chart("nvidia-device-plugin", "0.20.0", "https://nvidia.github.io/k8s-device-plugin")
DEVICE_PLUGIN_IMAGE = Image("nvcr.io/nvidia/k8s-device-plugin", "v0.20.0")
NFD_IMAGE = Image("registry.k8s.io/nfd/node-feature-discovery", "v0.19.0")
# GPU Operator v26.7.0 (2026-08-21; release notes: device plugin v0.20.0, DCGM exporter 4.6.0-4.8.3,
# MIG manager v0.15.0, NFD v0.19.0).
GPU_OPERATOR_CHART = Chart("gpu-operator", "v26.7.0", "https://helm.ngc.nvidia.com/nvidia")
GPU_OPERATOR_IMAGE = Image("nvcr.io/nvidia/gpu-operator", "v26.7.0")
MIG_MANAGER_IMAGE = Image("nvcr.io/nvidia/cloud-native/k8s-mig-manager", "v0.15.0")
# DCGM 4.6.0 / exporter 4.8.3; distroless is the only image NVIDIA publishes since 4.5.3-4.8.2.
DCGM_EXPORTER_IMAGE = Image("nvcr.io/nvidia/k8s/dcgm-exporter", "4.6.0-4.8.3-distroless")

SHARING_CONFIGMAP = "gpu-sharing-config"
DEFAULT_SHARING_CONFIG = "default"
DCGM_CONFIGMAP = "dcgm-metrics"
# The GPU Operator mounts only this key of the ConfigMap `dcgmExporter.config.name` names, at
# /etc/dcgm-exporter/dcgm-metrics.csv, and points DCGM_EXPORTER_COLLECTORS at it (gpu-operator v26.7.0
# controllers/object_controls.go: MetricsConfigFileName, MetricsConfigMountPath); the platform's own
# exporter reads the same key, so one ConfigMap serves both modes.
DCGM_METRICS_FILE = "dcgm-metrics.csv"
DCGM_CONFIG_DIR = "/etc/dcgm-exporter"
DCGM_PORT = 9400
DCGM_NAME = "dcgm-exporter"
OPERATOR_DCGM_NAME = "nvidia-dcgm-exporter"  # the operator's DaemonSet/Service name and `app` label
OPERATOR_DCGM_PORT = "gpu-metrics"  # the port name of the operator's exporter Service
CRITICAL_PRIORITY = "system-node-critical"
GKE_DRIVER_DIR = "/home/kubernetes/bin/nvidia"


# --- the DCGM metric list ------------------------------------------------------------------------------


class DcgmMetric(NamedTuple):
    name: str
    kind: Literal["gauge", "counter"]
    help: str


DCGM_METRICS: tuple[DcgmMetric, ...] = (
    # Profiling (DCP) counters: what the SMs, tensor cores and memory actually do, as ratios 0..1.
    DcgmMetric("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active"),
    DcgmMetric("DCGM_FI_PROF_SM_ACTIVE", "gauge", "Ratio of cycles an SM has at least one warp assigned"),
    DcgmMetric("DCGM_FI_PROF_SM_OCCUPANCY", "gauge", "Ratio of resident warps to the maximum per SM"),
    DcgmMetric("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active"),
    DcgmMetric("DCGM_FI_PROF_PIPE_FP16_ACTIVE", "gauge", "Ratio of cycles the FP16 pipe is active"),
    DcgmMetric("DCGM_FI_PROF_PIPE_FP32_ACTIVE", "gauge", "Ratio of cycles the FP32 pipe is active"),
    DcgmMetric("DCGM_FI_PROF_PIPE_FP64_ACTIVE", "gauge", "Ratio of cycles the FP64 pipe is active"),
    DcgmMetric("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is busy"),
    DcgmMetric("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "PCIe transmit rate, bytes per second"),
    DcgmMetric("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "PCIe receive rate, bytes per second"),
    DcgmMetric("DCGM_FI_PROF_NVLINK_TX_BYTES", "gauge", "NVLink transmit rate, bytes per second"),
    DcgmMetric("DCGM_FI_PROF_NVLINK_RX_BYTES", "gauge", "NVLink receive rate, bytes per second"),
    # Memory, power, temperature, clocks.
    DcgmMetric("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (MiB)"),
    DcgmMetric("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (MiB)"),
    DcgmMetric("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (W)"),
    DcgmMetric("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Energy consumed since boot (mJ)"),
    DcgmMetric("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (C)"),
    DcgmMetric("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (C)"),
    DcgmMetric("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock (MHz)"),
    DcgmMetric("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock (MHz)"),
    # Health.
    DcgmMetric("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered"),
    DcgmMetric("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Volatile double-bit ECC errors"),
    DcgmMetric("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped for uncorrectable errors"),
    DcgmMetric("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether row remapping has failed"),
    DcgmMetric("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "PCIe retries"),
    DcgmMetric("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "NVLink bandwidth counter, all lanes"),
)
DCGM_METRIC_NAMES: frozenset[str] = frozenset(m.name for m in DCGM_METRICS)
PROFILING_METRICS = ("DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE")


def dcgm_metrics_csv() -> str:
    """The exporter's collectors file: `field, type, help` per line."""
    lines = ["# ml-platform GPU metrics (components/k8s/gpu_runtime.py DCGM_METRICS)"]
    lines += [f"{m.name}, {m.kind}, {m.help}." for m in DCGM_METRICS]
    return "\n".join(lines) + "\n"


def scrape_interval(dcgm_interval_ms: int) -> str:
    """Scrape no faster than the exporter collects (and not under 15 s)."""
    return f"{max(15, math.ceil(dcgm_interval_ms / 1000))}s"


# --- what runs where ------------------------------------------------------------------------------------


def runtime_kind(spec: PlatformSpec) -> RuntimeKind:
    if spec.cloud == "gcp":
        return "gke"
    return spec.services.gpu_runtime.mode


def _bottlerocket(pool: GpuPoolSpec) -> bool:
    return pool.node_image == "bottlerocket"


def _uses_mig(spec: PlatformSpec) -> bool:
    return any(p.sharing and p.sharing.mig_profile and not _bottlerocket(p) for p in spec.gpu_pools)


def plugin_config(replicas: int | None, mig_strategy: str) -> str:
    """One device-plugin config file. Time-sliced GPUs fail requests for more than one replica: two
    replicas of the same GPU are not two GPUs, and a job asking for 2 must not silently share one."""
    config: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": mig_strategy}}
    if replicas:
        config["sharing"] = {
            "timeSlicing": {
                "renameByDefault": False,
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": base.GPU_RESOURCE, "replicas": replicas}],
            }
        }
    return yaml.safe_dump(config, sort_keys=False)


def sharing_configs(spec: PlatformSpec) -> dict[str, str]:
    """Device-plugin configs, one per time-sliced pool (named after the pool, which the node label
    `nvidia.com/device-plugin.config` names) and `default` (whole GPUs) for every other node."""
    mig = "single" if _uses_mig(spec) and runtime_kind(spec) == "gpu-operator" else "none"
    sliced = {
        p.name: plugin_config(p.sharing.time_slicing_replicas, mig)
        for p in spec.gpu_pools
        if p.sharing and p.sharing.time_slicing_replicas and not _bottlerocket(p)
    }
    return {DEFAULT_SHARING_CONFIG: plugin_config(None, mig), **sliced}


def gpu_affinity(exclude_pools: Sequence[str] = ()) -> dict[str, Any]:
    """Node affinity (Helm values form): only nodes of the platform's GPU pools."""
    expressions: list[dict[str, Any]] = [{"key": LABEL_ACCELERATOR, "operator": "Exists"}]
    if exclude_pools:
        expressions.append({"key": LABEL_POOL, "operator": "NotIn", "values": sorted(exclude_pools)})
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}
        }
    }


def _nfd_values() -> dict[str, Any]:
    """node-feature-discovery: master and gc on the system pool, workers only on GPU nodes."""
    return {
        "image": {"repository": NFD_IMAGE.repository, "tag": NFD_IMAGE.tag},
        "master": {"tolerations": base.system_tolerations()},
        "gc": {"tolerations": base.system_tolerations()},
        "worker": {"tolerations": base.gpu_tolerations(), "affinity": gpu_affinity()},
    }


def device_plugin_values(spec: PlatformSpec, sharing: Mapping[str, str]) -> dict[str, Any]:
    bottlerocket = [p.name for p in spec.gpu_pools if _bottlerocket(p)]
    values: dict[str, Any] = {
        "image": {"repository": DEVICE_PLUGIN_IMAGE.repository, "tag": DEVICE_PLUGIN_IMAGE.tag},
        # device plugin and GFD: only GPU nodes of pools whose image does not bring its own plugin
        "affinity": gpu_affinity(bottlerocket),
        "tolerations": base.gpu_tolerations(),
        "priorityClassName": CRITICAL_PRIORITY,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "migStrategy": "none",
        # the plugin's default (the configs above set none): said here because with a config map and no
        # value the chart assumes volume-mount device lists and adds CAP_SYS_ADMIN to the plugin and its
        # sidecar (_helpers.tpl deviceListStrategyIncludesVolumeMount); with it, both drop ALL
        "deviceListStrategy": "envvar",
        "failOnInitError": True,
        # the chart renders the configs into a ConfigMap; its config-manager sidecar switches a node to
        # the config its `nvidia.com/device-plugin.config` label names
        "config": {"map": dict(sharing), "default": DEFAULT_SHARING_CONFIG},
        "gfd": {"enabled": True},
        "nfd": {"enabled": True, **_nfd_values()},
    }
    return values


def gpu_operator_values(spec: PlatformSpec, sharing: Mapping[str, str]) -> dict[str, Any]:
    mig = _uses_mig(spec)
    interval = spec.services.gpu_runtime.dcgm_interval_ms
    off = {"enabled": False}
    return {
        "operator": {
            "repository": GPU_OPERATOR_IMAGE.repository.rpartition("/")[0],
            "image": GPU_OPERATOR_IMAGE.repository.rpartition("/")[2],
            "version": GPU_OPERATOR_IMAGE.tag,
            "tolerations": base.system_tolerations(),
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        },
        "daemonsets": {"tolerations": base.gpu_tolerations(), "priorityClassName": CRITICAL_PRIORITY},
        # EKS NVIDIA AMIs (AL2023, Bottlerocket) carry the driver and the container toolkit.
        "driver": off,
        "toolkit": off,
        "cdi": off,
        "devicePlugin": {
            "enabled": True,
            "repository": "nvcr.io/nvidia",
            "image": "k8s-device-plugin",
            "version": DEVICE_PLUGIN_IMAGE.tag,
            "config": {
                "create": True,
                "name": SHARING_CONFIGMAP,
                "default": DEFAULT_SHARING_CONFIG,
                "data": dict(sharing),
            },
        },
        "gfd": {
            "enabled": True,
            "repository": "nvcr.io/nvidia",
            "image": "k8s-device-plugin",
            "version": DEVICE_PLUGIN_IMAGE.tag,
        },
        "mig": {"strategy": "single"},
        "migManager": {
            "enabled": mig,
            "repository": MIG_MANAGER_IMAGE.repository.rpartition("/")[0],
            "image": MIG_MANAGER_IMAGE.repository.rpartition("/")[2],
            "version": MIG_MANAGER_IMAGE.tag,
            # nodes without `nvidia.com/mig.config` keep whole GPUs; a re-partition never reboots the node
            "config": {"default": "all-disabled"},
            "env": [{"name": "WITH_REBOOT", "value": "false"}],
        },
        "dcgm": off,  # the exporter embeds its host engine
        "dcgmExporter": {
            "enabled": True,
            "repository": DCGM_EXPORTER_IMAGE.repository.rpartition("/")[0],
            "image": DCGM_EXPORTER_IMAGE.repository.rpartition("/")[2],
            "version": DCGM_EXPORTER_IMAGE.tag,
            # the operator mounts key DCGM_METRICS_FILE of this ConfigMap and sets DCGM_EXPORTER_COLLECTORS
            # to it; an env entry of the same name would override its path (its env is applied last)
            "config": {"name": DCGM_CONFIGMAP},
            "env": [{"name": "DCGM_EXPORTER_INTERVAL", "value": str(interval)}],
            "serviceMonitor": off,  # the platform's typed ServiceMonitor scrapes it
        },
        "nodeStatusExporter": off,
        "gds": off,
        "gdrcopy": off,
        "vgpuManager": off,
        "vgpuDeviceManager": off,
        "vfioManager": off,
        "sandboxDevicePlugin": off,
        "kataManager": off,
        "ccManager": off,
        "nfd": {"enabled": True},
        "node-feature-discovery": _nfd_values(),
    }


# --- Kubernetes objects ---------------------------------------------------------------------------------


def critical_pod_quota(
    name: str, ns: str, svc: ServicesContext, opts: pulumi.ResourceOptions, *, component: str
) -> k8s.core.v1.ResourceQuota:
    """Admit `system-node-critical` pods outside kube-system. GKE refuses them in a namespace without a
    quota scoped to those priority classes ("insufficient quota to match these scopes"); elsewhere it
    is a harmless cap on how many such pods the namespace may hold."""
    return k8s.core.v1.ResourceQuota(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name="critical-pods", namespace=ns, labels=svc.labels(component)),
        spec=k8s.core.v1.ResourceQuotaSpecArgs(
            hard={"pods": "1000"},
            scope_selector=k8s.core.v1.ScopeSelectorArgs(
                match_expressions=[
                    k8s.core.v1.ScopedResourceSelectorRequirementArgs(
                        scope_name="PriorityClass",
                        operator="In",
                        values=["system-node-critical", "system-cluster-critical"],
                    )
                ]
            ),
        ),
        opts=opts,
    )


def _gpu_node_affinity_args() -> k8s.core.v1.AffinityArgs:
    return k8s.core.v1.AffinityArgs(
        node_affinity=k8s.core.v1.NodeAffinityArgs(
            required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                node_selector_terms=[
                    k8s.core.v1.NodeSelectorTermArgs(
                        match_expressions=[
                            k8s.core.v1.NodeSelectorRequirementArgs(key=LABEL_ACCELERATOR, operator="Exists")
                        ]
                    )
                ]
            )
        )
    )


class GpuRuntime(pulumi.ComponentResource):
    """Device plugin / GPU Operator (per cloud and mode), GPU sharing, the DCGM exporter and its
    ServiceMonitor. `dcgm_selector` is the label selector of the exporter's Service."""

    namespace: str
    kind: RuntimeKind
    release: k8s.helm.v3.Release | None
    dcgm_selector: dict[str, str]
    service_monitor: k8s.apiextensions.CustomResource | None

    def __init__(
        self,
        name: str,
        svc: ServicesContext,
        *,
        monitoring: Monitoring | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-platform:k8s:GpuRuntime", name, None, opts)
        spec = svc.ctx.spec
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = base.NS_GPU
        self.kind = runtime_kind(spec)
        labels = svc.labels("gpu-runtime")

        # privileged: the device plugin writes to the kubelet's device-plugin socket directory, GFD reads
        # PCI and driver state from the host, NFD mounts host paths, and DCGM needs CAP_SYS_ADMIN (GKE: a
        # privileged container) for the profiling counters. Nothing else runs in this namespace.
        ns = base.namespace(base.NS_GPU, svc, "privileged", child, component="gpu-runtime")
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        critical_pod_quota(f"{name}-critical-pods", base.NS_GPU, svc, in_ns, component="gpu-runtime")

        dcgm_config = k8s.core.v1.ConfigMap(
            f"{name}-dcgm-metrics",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_CONFIGMAP, namespace=base.NS_GPU, labels=labels),
            data={DCGM_METRICS_FILE: dcgm_metrics_csv()},
            opts=in_ns,
        )
        sharing = sharing_configs(spec)
        before_release: list[pulumi.Resource] = [ns, dcgm_config]

        self.release = None
        if self.kind == "device-plugin":
            self.release = base.helm_release(
                "nvidia-device-plugin",
                DEVICE_PLUGIN_CHART,
                base.NS_GPU,
                device_plugin_values(spec, sharing),
                pulumi.ResourceOptions(parent=self, depends_on=before_release),
            )
        elif self.kind == "gpu-operator":
            self.release = base.helm_release(
                "gpu-operator",
                GPU_OPERATOR_CHART,
                base.NS_GPU,
                gpu_operator_values(spec, sharing),
                pulumi.ResourceOptions(parent=self, depends_on=before_release),
            )

        if self.kind == "gpu-operator":
            self.dcgm_selector = {"app": OPERATOR_DCGM_NAME}
            port_name = OPERATOR_DCGM_PORT
        else:
            self.dcgm_selector = {base.LABEL_NAME: DCGM_NAME, "app.kubernetes.io/instance": "ml-platform"}
            port_name = "metrics"
            self._dcgm_exporter(name, svc, gke=self.kind == "gke", opts=in_ns)

        self.service_monitor = None
        if monitoring is not None:
            self.service_monitor = base.custom_resource(
                f"{name}-dcgm-servicemonitor",
                "monitoring.coreos.com/v1",
                "ServiceMonitor",
                k8s.meta.v1.ObjectMetaArgs(name=DCGM_NAME, namespace=base.NS_GPU, labels=labels),
                dcgm_service_monitor_spec(self.dcgm_selector, port_name, spec.services.gpu_runtime.dcgm_interval_ms),
                pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[ns, monitoring.release, *([self.release] if self.release is not None else [])],
                ),
            )
            # The exporter answers only Prometheus (it lists which pod holds which GPU).
            base.network_policy(
                f"{name}-dcgm-ingress",
                base.NS_GPU,
                svc,
                in_ns,
                component="gpu-runtime",
                policy_name="dcgm-exporter-from-monitoring",
                pod_labels=self.dcgm_selector,
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[base.peer(monitoring.namespace)], ports=base.ports(DCGM_PORT)
                    )
                ],
            )

        self.register_outputs({"namespace": self.namespace, "kind": self.kind})

    def _dcgm_exporter(self, name: str, svc: ServicesContext, *, gke: bool, opts: pulumi.ResourceOptions) -> None:
        """The exporter DaemonSet, its ServiceAccount and Service (device-plugin mode and GKE)."""
        labels = {**svc.labels("gpu-runtime"), **self.dcgm_selector}
        interval = svc.ctx.spec.services.gpu_runtime.dcgm_interval_ms
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-dcgm",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_NAME, namespace=base.NS_GPU, labels=labels),
            automount_service_account_token=False,  # it reads the kubelet's pod-resources socket, not the API
            opts=opts,
        )
        env = [
            k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_KUBERNETES", value="true"),
            k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_LISTEN", value=f":{DCGM_PORT}"),
            k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_COLLECTORS", value=f"{DCGM_CONFIG_DIR}/{DCGM_METRICS_FILE}"),
            k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_INTERVAL", value=str(interval)),
        ]
        mounts = [
            k8s.core.v1.VolumeMountArgs(
                name="pod-resources", mount_path="/var/lib/kubelet/pod-resources", read_only=True
            ),
            k8s.core.v1.VolumeMountArgs(name="metrics", mount_path=DCGM_CONFIG_DIR, read_only=True),
        ]
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="pod-resources",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path="/var/lib/kubelet/pod-resources", type="Directory"),
            ),
            k8s.core.v1.VolumeArgs(
                name="metrics", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=DCGM_CONFIGMAP)
            ),
        ]
        if gke:
            # COS: the GKE-installed driver libraries, no NVIDIA runtime to inject devices; GKE's device
            # plugin allocates devices by name (nvidia0), so pod attribution must match on names.
            env += [
                k8s.core.v1.EnvVarArgs(name="LD_LIBRARY_PATH", value="/usr/local/nvidia/lib64"),
                k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_KUBERNETES_GPU_ID_TYPE", value="device-name"),
            ]
            mounts.append(k8s.core.v1.VolumeMountArgs(name="nvidia", mount_path="/usr/local/nvidia", read_only=True))
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="nvidia",
                    host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=GKE_DRIVER_DIR, type="Directory"),
                )
            )
            security = k8s.core.v1.SecurityContextArgs(privileged=True, run_as_user=0)
        else:
            # EKS NVIDIA AMIs: the default NVIDIA runtime injects every GPU into a container that asks by
            # environment, without taking one from the scheduler. Profiling counters need CAP_SYS_ADMIN
            # (which rules out allowPrivilegeEscalation: false); every other capability is dropped.
            env += [
                k8s.core.v1.EnvVarArgs(name="NVIDIA_VISIBLE_DEVICES", value="all"),
                k8s.core.v1.EnvVarArgs(name="NVIDIA_DRIVER_CAPABILITIES", value="compute,utility"),
            ]
            security = k8s.core.v1.SecurityContextArgs(
                run_as_user=0,
                run_as_non_root=False,
                privileged=False,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=["SYS_ADMIN"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            )
        probe = k8s.core.v1.HTTPGetActionArgs(path="/health", port=DCGM_PORT)
        k8s.apps.v1.DaemonSet(
            f"{name}-dcgm",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_NAME, namespace=base.NS_GPU, labels=labels),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self.dcgm_selector),
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDaemonSetArgs(max_unavailable="25%"),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=DCGM_NAME,
                        automount_service_account_token=False,
                        priority_class_name=CRITICAL_PRIORITY,
                        affinity=_gpu_node_affinity_args(),
                        tolerations=base.gpu_toleration_args(),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="exporter",
                                image=DCGM_EXPORTER_IMAGE.ref,
                                env=env,
                                ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=DCGM_PORT)],
                                security_context=security,
                                volume_mounts=mounts,
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
                                ),
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=probe, initial_delay_seconds=45, period_seconds=10, failure_threshold=6
                                ),
                                readiness_probe=k8s.core.v1.ProbeArgs(http_get=probe, initial_delay_seconds=30),
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[sa])),
        )
        k8s.core.v1.Service(
            f"{name}-dcgm",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_NAME, namespace=base.NS_GPU, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=self.dcgm_selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="metrics", port=DCGM_PORT, target_port="metrics", protocol="TCP")
                ],
            ),
            opts=opts,
        )


def dcgm_service_monitor_spec(selector: Mapping[str, str], port: str, dcgm_interval_ms: int) -> dict[str, Any]:
    """Scrape the exporter; label each series with its node, pool and accelerator (from the node's
    platform labels) and keep the exporter's `pod`/`namespace`/`container` (the GPU's consumer) as is:
    the exporter pod's own target labels are dropped so they cannot shadow them."""
    interval = scrape_interval(dcgm_interval_ms)
    node_label = "__meta_kubernetes_node_label_"
    return {
        "selector": {"matchLabels": dict(selector)},
        "namespaceSelector": {"matchNames": [base.NS_GPU]},
        "attachMetadata": {"node": True},
        "endpoints": [
            {
                "port": port,
                "path": "/metrics",
                "interval": interval,
                "scrapeTimeout": "10s",
                "honorLabels": False,
                "relabelings": [
                    {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"},
                    {
                        "action": "replace",
                        "sourceLabels": [node_label + _prom_label(LABEL_POOL)],
                        "targetLabel": "pool",
                    },
                    {
                        "action": "replace",
                        "sourceLabels": [node_label + _prom_label(LABEL_ACCELERATOR)],
                        "targetLabel": "accelerator",
                    },
                    {"action": "labeldrop", "regex": "pod|namespace|container"},
                ],
            }
        ],
    }


def _prom_label(kubernetes_label: str) -> str:
    """A Kubernetes label key as Prometheus service discovery names it (`ml-platform/pool` -> `ml_platform_pool`)."""
    return "".join(c if c.isalnum() else "_" for c in kubernetes_label)
