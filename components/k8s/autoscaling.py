"""`NodeAutoscaling`: the node autoscalers the cloud's foundation asks for (`Foundation.node_autoscalers`).

* ``cluster-autoscaler`` (EKS managed node groups): the upstream chart in ``kube-system``, its image the
  release for the cluster's Kubernetes minor, on the system nodes. Node groups are auto-discovered by the
  cluster's tags; the least-waste expander picks among the pools a pending pod fits; similar groups are
  balanced; nodes with emptyDir data may go; a GPU node is removed after 10 minutes unneeded. Scale from
  zero works because each GPU group's Auto Scaling group carries the node-template tags (labels, taint,
  GPU count; `components.aws.gpu_pool`; the worker group its labels, `components.aws.worker_pool`) and
  the role may read the node group's metadata.
* ``karpenter`` (EKS without GPU node groups; cluster-autoscaler above still resizes the CPU worker
  pool's node group, and the two never compete: Karpenter's NodePools are all GPU-tainted, no managed
  group has GPUs): the Karpenter CRD chart and the controller chart at the
  same pinned version in their own restricted namespace, on the system nodes, with the interruption queue;
  per GPU pool one `EC2NodeClass` (node image, IMDSv2 with hop limit 1, encrypted gp3 volumes of the
  pool's size, subnets and security groups by discovery tag, the platform's tags, the capacity
  reservation) and one `NodePool` with the same taint and labels as a managed pool, pinned to the pool's
  instance type, capacity type and zones, limited to the pool's maximum, and a disruption policy by
  purpose: serving pools consolidate under-used nodes, training and general pools only empty ones, one
  node at a time (serving: 10% of the pool), and every node is replaced after 30 days (new image).
  Karpenter provisions for pending pods only: a pool's `minNodes` is not kept warm (the serving
  endpoints' minimum replicas keep their nodes).
* nothing where the cloud scales its node pools itself (GKE).

Training pods are protected from voluntary disruption (consolidation, drift, scale-down) by the pod
annotations in `TRAINING_POD_ANNOTATIONS`, which the training components put on every worker: an
interruption notice still reaches them, and they checkpoint.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog
from components.foundation import LABEL_PURPOSE, LABEL_ROLE, NodeAutoscalerRef, NodePoolRef, ProvisionedPool
from components.k8s import base
from components.k8s.base import Chart, Image, ServicesContext

# Karpenter never voluntarily disrupts a node running a pod with this annotation; cluster-autoscaler
# never scales down a node with a pod that is not safe to evict.
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
TRAINING_POD_ANNOTATIONS = {DO_NOT_DISRUPT: "true", SAFE_TO_EVICT: "false"}

# Karpenter v1.14.1 (aws/karpenter-provider-aws@v1.14.1:charts/karpenter, karpenter-crd), the version
# tests/charts packages and renders (re-pinned from 1.15.0, which had no upstream tag to test). The CRD
# chart manages the CRDs on upgrades too (the controller chart installs them only once). The controller
# image is the chart's default at that version, tag and digest (the chart renders `tag@digest`: a tag
# set without its digest would still pull the digest's image).
KARPENTER_VERSION = "1.14.1"
KARPENTER_CHART = Chart("oci://public.ecr.aws/karpenter/karpenter", KARPENTER_VERSION)
KARPENTER_CRD_CHART = Chart("oci://public.ecr.aws/karpenter/karpenter-crd", KARPENTER_VERSION)
KARPENTER_IMAGE = Image(
    "public.ecr.aws/karpenter/controller",
    KARPENTER_VERSION,
    "sha256:723130949e4cab989461ff07d1be4cd781d63515432494641b33c235f300ae23",
)
KARPENTER_API = "karpenter.sh/v1"
NODE_CLASS_API = "karpenter.k8s.aws/v1"
KARPENTER_METRICS_PORT = 8080

# cluster-autoscaler chart 9.59.0 (appVersion 1.35.0); the image follows the cluster's minor version
# (kubernetes/autoscaler releases cluster-autoscaler-1.34.2, -1.35.0, -1.36.0).
CLUSTER_AUTOSCALER_CHART = Chart("cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler")
CLUSTER_AUTOSCALER_REPO = "registry.k8s.io/autoscaling/cluster-autoscaler"
CLUSTER_AUTOSCALER_IMAGES = {
    "1.34": Image(CLUSTER_AUTOSCALER_REPO, "v1.34.2"),
    "1.35": Image(CLUSTER_AUTOSCALER_REPO, "v1.35.0"),
    "1.36": Image(CLUSTER_AUTOSCALER_REPO, "v1.36.0"),
}
SCALE_DOWN_UNNEEDED = "10m"  # a GPU node idle this long goes; its hourly price dwarfs a restart
CONSOLIDATE_AFTER = "10m"
EXPIRE_AFTER = "720h"  # 30 days: nodes pick up new images; do-not-disrupt pods still finish first
# Labels EKS sets per node group: they must not make otherwise identical groups look different.
BALANCING_IGNORED_LABELS = (
    "eks.amazonaws.com/nodegroup",
    "eks.amazonaws.com/nodegroup-image",
    "eks.amazonaws.com/sourceLaunchTemplateId",
    "eks.amazonaws.com/sourceLaunchTemplateVersion",
    "k8s.amazonaws.com/eniConfig",
    "topology.ebs.csi.aws.com/zone",
)


def _system_placement() -> dict[str, Any]:
    return {"nodeSelector": {LABEL_ROLE: "system"}, "tolerations": base.system_tolerations()}


# -- cluster-autoscaler ---------------------------------------------------------------------------------


def cluster_autoscaler_image(kubernetes_version: str) -> Image:
    try:
        return CLUSTER_AUTOSCALER_IMAGES[kubernetes_version]
    except KeyError:
        known = ", ".join(CLUSTER_AUTOSCALER_IMAGES)
        raise pulumi.RunError(
            f"cluster-autoscaler has no pinned image for Kubernetes {kubernetes_version} ({known})"
        ) from None


def cluster_autoscaler_values(svc: ServicesContext, ref: NodeAutoscalerRef) -> dict[str, Any]:
    image = cluster_autoscaler_image(svc.kubernetes_version)
    restricted = base.restricted_values()
    args: dict[str, Any] = {
        "logtostderr": True,
        "stderrthreshold": "info",
        "v": 2,
        "expander": "least-waste",
        "balance-similar-node-groups": True,
        "skip-nodes-with-local-storage": False,
        "scale-down-enabled": True,
        "scale-down-unneeded-time": SCALE_DOWN_UNNEEDED,
        "scale-down-delay-after-add": SCALE_DOWN_UNNEEDED,
        "scale-down-utilization-threshold": 0.5,
        "ignore-daemonsets-utilization": True,  # GPU node daemons (device plugin, DCGM) are not load
        "max-node-provision-time": "15m",  # GPU nodes pull multi-GB images before they are Ready
    }
    # the chart drops everything after the first "_" of a key: repeated flags
    args.update({f"balancing-ignore-label_{i}": label for i, label in enumerate(BALANCING_IGNORED_LABELS, 1)})
    return {
        "cloudProvider": "aws",
        "awsRegion": ref.region,
        "autoDiscovery": {"clusterName": ref.cluster_name},
        "image": {"repository": image.repository, "tag": image.tag},
        "rbac": {"serviceAccount": {"create": True, "name": ref.service_account, "annotations": ref.annotations}},
        "extraArgs": args,
        "replicaCount": 2 if svc.ctx.prod else 1,  # leader election: one active, one standby
        "podDisruptionBudget": {"maxUnavailable": 1},
        "priorityClassName": "system-cluster-critical",
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        "securityContext": restricted["podSecurityContext"],
        "containerSecurityContext": restricted["securityContext"],
        **_system_placement(),
    }


# -- Karpenter ------------------------------------------------------------------------------------------


def karpenter_values(svc: ServicesContext, ref: NodeAutoscalerRef) -> dict[str, Any]:
    return {
        "serviceAccount": {"create": True, "name": ref.service_account, "annotations": ref.annotations},
        "settings": {
            "clusterName": ref.cluster_name,
            "clusterEndpoint": ref.cluster_endpoint,
            "interruptionQueue": ref.interruption_queue,
            # capacity reservations as `karpenter.sh/capacity-type: reserved` (beta, on by default: pinned)
            "featureGates": {"reservedCapacity": True, "spotToSpotConsolidation": False, "nodeRepair": False},
        },
        "controller": {
            "image": {
                "repository": KARPENTER_IMAGE.repository,
                "tag": KARPENTER_IMAGE.tag,
                "digest": KARPENTER_IMAGE.digest,
            },
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
            "metrics": {"port": KARPENTER_METRICS_PORT},
            # the region from config, not from instance metadata (hop limit, network policy)
            "env": [{"name": "AWS_REGION", "value": ref.region}],
        },
        "replicas": 2,  # leader election; the chart's anti-affinity spreads them over the system nodes
        "podSecurityContext": base.restricted_values()["podSecurityContext"],
        "priorityClassName": "system-cluster-critical",
        "logLevel": "info",
        **_system_placement(),
    }


def advertised_gpus(svc: ServicesContext, pool: NodePoolRef) -> int:
    """GPUs a node of `pool` advertises: time-slicing and MIG multiply the physical count."""
    spec = next((p for p in svc.ctx.spec.gpu_pools if p.name == pool.name), None)
    sharing = spec.sharing if spec else None
    factor = 1
    if sharing and sharing.time_slicing_replicas:
        factor = sharing.time_slicing_replicas
    elif sharing and sharing.mig_profile:
        factor = 7 // int(sharing.mig_profile.split("g.", 1)[0])  # 1g: 7 slices, 2g: 3, 3g: 2, 4g/7g: 1
    return pool.gpus_per_node * factor


def _vcpus(pool: NodePoolRef) -> int:
    accel = catalog.accelerator(pool.accelerator)
    machines = [m for o in accel.offerings.values() for m in o.machine_types if m.name == pool.machine_type]
    return machines[0].vcpus


def node_class_spec(
    svc: ServicesContext, ref: NodeAutoscalerRef, pool: NodePoolRef, prov: ProvisionedPool
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "amiSelectorTerms": [{"alias": prov.image_alias}],
        "instanceProfile": ref.instance_profile,
        "subnetSelectorTerms": [{"tags": dict(ref.discovery_tags or {})}],
        "securityGroupSelectorTerms": [{"tags": dict(ref.discovery_tags or {})}],
        "associatePublicIPAddress": False,
        # IMDSv2 only, hop limit 1: pods cannot reach the node role's credentials
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": v.device,
                "ebs": {
                    "volumeSize": f"{v.size_gb}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "kmsKeyID": ref.volume_kms_key,
                    "deleteOnTermination": True,
                    **({"iops": v.iops} if v.iops else {}),
                    **({"throughput": v.throughput_mibps} if v.throughput_mibps else {}),
                },
            }
            for v in prov.volumes
        ],
        "tags": svc.ctx.tags(Name=f"{svc.ctx.prefix}-{pool.name}", **{"ml-platform/pool": pool.name}),
    }
    if prov.reservation_id:
        spec["capacityReservationSelectorTerms"] = [{"id": prov.reservation_id}]
    return spec


def node_pool_spec(svc: ServicesContext, pool: NodePoolRef, prov: ProvisionedPool, node_class: str) -> dict[str, Any]:
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [pool.machine_type]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [prov.capacity_type]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    if prov.zones:
        requirements.append({"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(prov.zones)})
    serving = pool.node_labels.get(LABEL_PURPOSE) == "serving"
    return {
        "template": {
            "metadata": {"labels": dict(pool.node_labels)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
                "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints],
                "requirements": requirements,
                "expireAfter": EXPIRE_AFTER,
            },
        },
        # the pool's maxNodes, counted in what its nodes advertise; the CPU limit bounds the node count
        # whatever the GPU sharing
        "limits": {
            base.GPU_RESOURCE: str(pool.max_nodes * advertised_gpus(svc, pool)),
            "cpu": str(pool.max_nodes * _vcpus(pool)),
        },
        "disruption": {
            # serving replicas move; a training node is only removed once empty
            "consolidationPolicy": "WhenEmptyOrUnderutilized" if serving else "WhenEmpty",
            "consolidateAfter": CONSOLIDATE_AFTER,
            "budgets": [{"nodes": "10%"}] if serving else [{"nodes": "1"}],
        },
    }


class NodeAutoscaling(pulumi.ComponentResource):
    releases: dict[str, k8s.helm.v3.Release]  # by kind: cluster-autoscaler, karpenter
    node_pools: dict[str, k8s.apiextensions.CustomResource]
    node_classes: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, svc: ServicesContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:NodeAutoscaling", name, None, opts)
        self.releases, self.node_pools, self.node_classes = {}, {}, {}
        refs = svc.foundation.node_autoscalers
        for ref in refs:
            if ref.kind == "cluster-autoscaler":
                self.releases[ref.kind] = base.helm_release(
                    "cluster-autoscaler",
                    CLUSTER_AUTOSCALER_CHART,
                    ref.namespace,  # kube-system: the IRSA role trusts kube-system/cluster-autoscaler
                    cluster_autoscaler_values(svc, ref),
                    pulumi.ResourceOptions(parent=self),
                )
            elif ref.kind == "karpenter":
                self.releases[ref.kind] = self._karpenter(name, svc, ref)
        self.register_outputs({"kinds": [ref.kind for ref in refs], "node_pools": list(self.node_pools)})

    def _karpenter(self, name: str, svc: ServicesContext, ref: NodeAutoscalerRef) -> k8s.helm.v3.Release:
        child = pulumi.ResourceOptions(parent=self)
        ns = ref.namespace
        namespace = base.namespace(ns, svc, "restricted", child, component="autoscaling")
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        base.default_deny(f"{name}-default-deny", ns, svc, after_ns, component="autoscaling")
        base.network_policy(
            f"{name}-controller-egress",
            ns,
            svc,
            after_ns,
            component="autoscaling",
            policy_name="karpenter-egress",
            egress=[
                base.dns_egress(),
                # the Kubernetes API and the AWS APIs (EC2, SQS, STS, SSM, pricing, EKS), all HTTPS
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0")
                        )
                    ],
                    ports=base.ports(443),
                ),
            ],
        )
        base.network_policy(
            f"{name}-metrics",
            ns,
            svc,
            after_ns,
            component="autoscaling",
            policy_name="karpenter-metrics",
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[base.peer(base.NS_MONITORING)], ports=base.ports(KARPENTER_METRICS_PORT)
                )
            ],
        )
        crds = base.helm_release("karpenter-crd", KARPENTER_CRD_CHART, ns, {}, after_ns)
        release = base.helm_release(
            "karpenter",
            KARPENTER_CHART,
            ns,
            karpenter_values(svc, ref),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, crds]),
            skip_crds=True,
        )
        # After the controller: on destroy the node pools go first, while it can still drain and
        # terminate their nodes.
        after_controller = pulumi.ResourceOptions(parent=self, depends_on=[crds, release])
        pools = {p.name: p for p in svc.foundation.gpu_pools}
        for prov in ref.pools:
            pool = pools[prov.name]
            meta = k8s.meta.v1.ObjectMetaArgs(
                name=f"gpu-{pool.name}", labels=svc.labels("autoscaling"), annotations=svc.annotations()
            )
            self.node_classes[pool.name] = base.custom_resource(
                f"{name}-nodeclass-{pool.name}",
                NODE_CLASS_API,
                "EC2NodeClass",
                meta,
                node_class_spec(svc, ref, pool, prov),
                after_controller,
            )
            self.node_pools[pool.name] = base.custom_resource(
                f"{name}-nodepool-{pool.name}",
                KARPENTER_API,
                "NodePool",
                meta,
                node_pool_spec(svc, pool, prov, f"gpu-{pool.name}"),
                pulumi.ResourceOptions(parent=self, depends_on=[crds, release, self.node_classes[pool.name]]),
            )
        return release
