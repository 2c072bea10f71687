"""The CPU worker pool: an untainted, hardened, autoscaled node pool where team pods that need no GPU
(CPU-served models, pipeline steps, feature jobs) can run, on both clouds, with the same node labels,
reachable from the Kubernetes layer through `Foundation.worker_node_selector`, and priced in the plan."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components import catalog
from components.context import PlatformContext
from components.foundation import GPU_TAINT_KEY
from components.gcp.cluster import NODE_METADATA
from components.platform import build_foundation
from infra.config import CONFIG_KEY, Capacity, ConfigError, parse_platform
from infra.cost import estimate
from infra.synth import ResourceRecord, Synthesis, synthesize
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.test_k8s_autoscaling import karpenter_stack

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ASG_TAG = "aws:autoscaling/tag:Tag"
NODE_POOL = "gcp:container/nodePool:NodePool"
RELEASE = "kubernetes:helm.sh/v3:Release"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
KARPENTER_POOL = "kubernetes:karpenter.sh/v1:NodePool"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
WORKER = {"ml-platform/role": "worker"}
SRC = "stacks/Pulumi.x.yaml"


def aws_groups(syn: Synthesis) -> dict[str, ResourceRecord]:
    """Managed node groups by role (system, worker) or GPU pool name."""
    return {
        r.inputs["labels"].get("ml-platform/pool") or r.inputs["labels"]["ml-platform/role"]: r
        for r in syn.of_type(NODE_GROUP)
    }


def gke_pools(syn: Synthesis) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in syn.of_type(NODE_POOL)}


def foundation_only(platform: dict[str, Any], stack: str) -> tuple[Synthesis, dict[str, Any]]:
    """The stack's foundation alone (no Kubernetes layer) and what it exposes to the layers above."""
    spec = parse_platform(platform, f"stacks/Pulumi.{stack}.yaml")
    seen: dict[str, Any] = {}

    def program() -> None:
        f = build_foundation(
            f"{spec.name}-{spec.cloud}", PlatformContext(spec=spec, stack=stack), pulumi.ResourceOptions()
        )
        seen["selector"] = f.worker_node_selector

    return synthesize(stack, spec, {CONFIG_KEY: platform}, program=program), seen


def with_workers(stack: str, drop_models: bool = False, **worker_pool: Any) -> dict[str, Any]:
    platform = raw_platform(stack)
    platform["workerPool"] = worker_pool
    if drop_models:
        platform.pop("modelDeployments", None)
    return platform


# --- AWS: an EKS managed node group ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_eks_workers_are_an_untainted_autoscaled_node_group_like_the_system_one(stack: str) -> None:
    syn = synth_stack(stack)
    groups = aws_groups(syn)
    workers, system = groups["worker"].inputs, groups["system"].inputs
    dev = syn.spec.environment.value == "dev"
    assert workers["labels"] == {"ml-platform/role": "worker", "ml-platform/capacity": "spot" if dev else "on-demand"}
    assert not workers.get("taints")  # pods without tolerations land here
    assert workers["capacityType"] == ("SPOT" if dev else "ON_DEMAND")
    # spot: same-size siblings from the catalog, so one reclaimed spot pool does not empty the group
    assert workers["instanceTypes"] == (["m7i.xlarge", "m6i.xlarge"] if dev else ["m7i.xlarge"])
    assert workers["scalingConfig"] == (
        {"minSize": 1, "maxSize": 10, "desiredSize": 1} if dev else {"minSize": 2, "maxSize": 10, "desiredSize": 2}
    )
    assert "scalingConfig.desiredSize" in groups["worker"].ignore_changes  # the autoscaler owns the size
    for key in ("amiType", "nodeRoleArn", "subnetIds", "clusterName"):
        assert workers[key] == system[key], key
    assert "remoteAccess" not in workers  # no SSH
    cluster = syn.outputs["clusterName"]
    assert workers["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert workers["tags"][f"k8s.io/cluster-autoscaler/{cluster}"] == "owned"
    assert workers["tags"]["ml-platform/stack"] == stack


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_eks_worker_launch_template_is_hardened(stack: str) -> None:
    syn = synth_stack(stack)
    templates = {r.name: r.inputs for r in syn.of_type(LAUNCH_TEMPLATE)}
    workers, system = templates["mlp-aws-workers"], templates["mlp-aws-eks-system"]
    lt_id = aws_groups(syn)["worker"].inputs["launchTemplate"]["id"]
    assert lt_id.startswith("lt-")
    meta = workers["metadataOptions"]
    # IMDSv2 only and hop limit 1: team pods cannot reach the node role (the system pool keeps 2)
    assert (meta["httpTokens"], meta["httpPutResponseHopLimit"], meta["httpEndpoint"]) == ("required", 1, "enabled")
    (disk,) = workers["blockDeviceMappings"]
    ebs = disk["ebs"]
    assert (disk["deviceName"], ebs["volumeType"], ebs["encrypted"]) == ("/dev/xvda", "gp3", "true")
    assert ebs["volumeSize"] == syn.spec.worker_pool.disk_size_gb == 100
    assert ebs["kmsKeyId"] == system["blockDeviceMappings"][0]["ebs"]["kmsKeyId"]  # the platform's EBS key
    assert ebs["kmsKeyId"].startswith("arn:aws:kms:")
    assert "keyName" not in workers
    assert {t["resourceType"] for t in workers["tagSpecifications"]} == {"instance", "volume", "network-interface"}


def test_eks_workers_scale_from_zero_with_node_template_tags() -> None:
    syn, seen = foundation_only(
        with_workers(
            "aws-dev",
            minNodes=0,
            maxNodes=4,
            capacity="on-demand",
            machineType="m6i.2xlarge",
            diskSizeGb=200,
            labels={"example.com/team": "fraud"},
        ),
        "aws-dev",
    )
    assert seen["selector"] == WORKER
    workers = aws_groups(syn)["worker"].inputs
    assert workers["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 0}
    assert (workers["capacityType"], workers["instanceTypes"]) == ("ON_DEMAND", ["m6i.2xlarge"])
    assert workers["labels"]["example.com/team"] == "fraud"
    tags = {t.inputs["tag"]["key"]: t.inputs for t in syn.of_type(ASG_TAG) if t.name.startswith("mlp-aws-workers-")}
    assert {k: v["tag"]["value"] for k, v in tags.items()} == {
        f"{TEMPLATE}/label/ml-platform/role": "worker",
        f"{TEMPLATE}/label/ml-platform/capacity": "on-demand",
        f"{TEMPLATE}/label/example.com/team": "fraud",
        f"{TEMPLATE}/resources/ephemeral-storage": "200G",
    }
    assert all(v["autoscalingGroupName"] and not v["tag"]["propagateAtLaunch"] for v in tags.values())


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_workers_autoscale_also_when_karpenter_provisions_the_gpus(stack: str) -> None:
    syn = karpenter_stack(stack)
    assert set(aws_groups(syn)) == {"system", "worker"}  # Karpenter replaced only the GPU groups
    (ca,) = [r.inputs for r in syn.of_type(RELEASE) if r.name == "cluster-autoscaler"]
    assert ca["values"]["autoDiscovery"] == {"clusterName": syn.outputs["clusterName"]}
    assert [r for r in syn.of_type(RELEASE) if r.name == "karpenter"]
    # They never compete for a pod: every Karpenter NodePool is GPU-tainted, no managed group has a GPU.
    for pool in syn.of_type(KARPENTER_POOL):
        taints = pool.inputs["spec"]["template"]["spec"]["taints"]
        assert GPU_TAINT_KEY in {t["key"] for t in taints}
    for group in syn.of_type(NODE_GROUP):
        assert all(t in catalog.CPU_MACHINES["aws"] for t in group.inputs["instanceTypes"])


def test_karpenter_without_workers_installs_no_cluster_autoscaler() -> None:
    platform = with_workers("aws-dev", drop_models=True, enabled=False)
    platform["services"] = {"autoscaling": {"gpuProvisioner": "karpenter"}}
    syn = synth_platform(platform, "aws-dev")
    assert set(aws_groups(syn)) == {"system"}
    assert {r.name for r in syn.of_type(RELEASE)} & {"cluster-autoscaler", "karpenter"} == {"karpenter"}


# --- GCP: a GKE node pool -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_gke_workers_are_an_untainted_autoscaled_pool_hardened_like_the_system_one(stack: str) -> None:
    syn = synth_stack(stack)
    pools = gke_pools(syn)
    workers, system = pools["workers"], pools["system"]
    cfg, sys_cfg = workers["nodeConfig"], system["nodeConfig"]
    dev = syn.spec.environment.value == "dev"
    assert cfg["labels"] == {"ml-platform/role": "worker", "ml-platform/capacity": "spot" if dev else "on-demand"}
    assert not cfg.get("taints")
    assert cfg["machineType"] == "n2-standard-4"
    assert bool(cfg.get("spot")) is dev
    for key in (
        "serviceAccount",
        "oauthScopes",
        "shieldedInstanceConfig",
        "workloadMetadataConfig",
        "bootDiskKmsKey",
        "imageType",
        "metadata",
    ):
        assert cfg[key] == sys_cfg[key], key
    assert cfg["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert cfg["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert cfg["metadata"] == NODE_METADATA and cfg["imageType"] == "COS_CONTAINERD"
    assert "cryptoKeys" in cfg["bootDiskKmsKey"]
    assert (cfg["diskSizeGb"], cfg["diskType"]) == (100, "pd-balanced")
    assert workers["nodeLocations"] == system["nodeLocations"]
    assert workers["autoscaling"] == {
        "totalMinNodeCount": 1 if dev else 2,
        "totalMaxNodeCount": 10,
        "locationPolicy": "ANY" if dev else "BALANCED",  # Spot VMs go where capacity is
    }
    assert workers["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert workers["upgradeSettings"]["maxUnavailable"] == 0
    assert cfg["resourceLabels"]["ml-platform_pool"] == "workers"


def test_gke_workers_take_the_stack_settings() -> None:
    syn, seen = foundation_only(
        with_workers(
            "gcp-dev",
            minNodes=0,
            maxNodes=3,
            capacity="on-demand",
            machineType="e2-standard-8",
            diskSizeGb=250,
            labels={"example.com/tier": "batch"},
        ),
        "gcp-dev",
    )
    assert seen["selector"] == WORKER
    workers = gke_pools(syn)["workers"]
    cfg = workers["nodeConfig"]
    assert (cfg["machineType"], cfg["diskSizeGb"], bool(cfg.get("spot"))) == ("e2-standard-8", 250, False)
    assert cfg["labels"] == {
        "ml-platform/role": "worker",
        "ml-platform/capacity": "on-demand",
        "example.com/tier": "batch",
    }
    assert workers["initialNodeCount"] == 0
    assert workers["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 3, "locationPolicy": "BALANCED"}


# --- through the Foundation interface ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod", "gcp-dev", "gcp-prod"])
def test_cpu_models_are_pinned_to_labels_the_worker_nodes_carry(stack: str) -> None:
    """The sample CPU model of each reference stack selects what the worker nodes carry, and only them."""
    syn = synth_stack(stack)
    if syn.spec.cloud == "aws":
        nodes = [(r.inputs["labels"], r.inputs.get("taints") or []) for r in syn.of_type(NODE_GROUP)]
    else:
        nodes = [(p["nodeConfig"]["labels"], p["nodeConfig"].get("taints") or []) for p in gke_pools(syn).values()]
    cpu_models = [
        r.inputs["spec"]["predictor"] for r in syn.of_type(ISVC) if not r.inputs["spec"]["predictor"].get("tolerations")
    ]
    assert cpu_models, "the reference stacks serve a CPU model"
    for predictor in cpu_models:
        assert predictor["nodeSelector"] == WORKER
        fits = [taints for labels, taints in nodes if WORKER.items() <= labels.items()]
        assert fits == [[]]  # exactly one pool, untainted


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev"])
def test_disabled_pool_creates_nothing_and_exposes_no_selector(stack: str) -> None:
    syn, seen = foundation_only(with_workers(stack, drop_models=True, enabled=False), stack)
    assert seen["selector"] is None
    assert not [r for r in syn.resources if "worker" in r.name]
    if stack.startswith("aws"):
        assert set(aws_groups(syn)) == {"system", "l4"}
    else:
        assert set(gke_pools(syn)) == {"system", "l4"}
    assert "workers" not in {i.name for i in estimate(syn).items}


# --- configuration -------------------------------------------------------------------------------------------


def error_of(platform: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_platform(platform, SRC)
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"{SRC}: ")
    return text.removeprefix(f"{SRC}: ")


@pytest.mark.parametrize(
    ("stack", "environment", "machine", "capacity", "min_nodes"),
    [
        ("aws-dev", "dev", "m7i.xlarge", Capacity.spot, 1),
        ("aws-dev", "staging", "m7i.xlarge", Capacity.on_demand, 1),
        ("aws-prod", "prod", "m7i.xlarge", Capacity.on_demand, 2),
        ("gcp-dev", "dev", "n2-standard-4", Capacity.spot, 1),
        ("gcp-prod", "prod", "n2-standard-4", Capacity.on_demand, 2),
    ],
)
def test_defaults(stack: str, environment: str, machine: str, capacity: Capacity, min_nodes: int) -> None:
    platform = raw_platform(stack)
    platform.pop("workerPool", None)
    platform["environment"] = environment
    wp = parse_platform(platform, SRC).worker_pool
    assert (wp.enabled, wp.machine_type, wp.capacity, wp.min_nodes, wp.max_nodes, wp.disk_size_gb) == (
        True,
        machine,
        capacity,
        min_nodes,
        10,
        100,
    )
    assert catalog.cpu_machine(platform["cloud"], machine).vcpus == 4  # priced in the catalog


def test_a_small_max_caps_the_default_min() -> None:
    assert parse_platform(with_workers("aws-prod", maxNodes=1), SRC).worker_pool.min_nodes == 1


@pytest.mark.parametrize(
    ("stack", "worker_pool", "expected"),
    [
        (
            "aws-dev",
            {"minNodes": 5, "maxNodes": 3},
            "platform.workerPool.minNodes: minNodes (5) is greater than maxNodes (3)",
        ),
        (
            "aws-dev",
            {"machineType": "n2-standard-4"},
            "platform.workerPool.machineType: unknown aws CPU machine type 'n2-standard-4'",
        ),
        (
            "gcp-dev",
            {"machineType": "m7i.xlarge"},
            "platform.workerPool.machineType: unknown gcp CPU machine type 'm7i.xlarge'",
        ),
        ("aws-dev", {"capacity": "reserved"}, "platform.workerPool.capacity: capacity reservations are for GPU pools"),
        (
            "aws-dev",
            {"labels": {"ml-platform/role": "batch"}},
            "platform.workerPool.labels.ml-platform/role: is set by",
        ),
        ("aws-dev", {"labels": {"bad key!": "x"}}, "platform.workerPool.labels: 'bad key!' is not a valid Kubernetes"),
        ("aws-dev", {"minNodes": -1}, "platform.workerPool.minNodes: "),
        ("aws-dev", {"maxNodes": 0}, "platform.workerPool.maxNodes: "),
        ("aws-dev", {"machinetype": "m7i.xlarge"}, "platform.workerPool.machinetype: "),
    ],
)
def test_config_errors_are_one_line(stack: str, worker_pool: dict[str, Any], expected: str) -> None:
    platform = raw_platform(stack)
    platform["workerPool"] = worker_pool
    assert error_of(platform).startswith(expected)


def test_a_cpu_model_needs_the_worker_pool_and_must_fit_on_a_worker() -> None:
    assert error_of(with_workers("aws-dev", enabled=False)) == (
        "platform.modelDeployments[0].resources: "
        "a CPU replica runs on the worker pool: enable workerPool or name a pool"
    )
    platform = raw_platform("aws-dev")
    platform["modelDeployments"][0]["resources"] = {"cpu": "6", "memory": "2Gi"}
    assert error_of(platform) == (
        "platform.modelDeployments[0].resources.cpu: 6 CPUs do not fit on one worker (m7i.xlarge: 4)"
    )
    platform["modelDeployments"][0]["resources"] = {"cpu": "3500m", "memory": "20Gi"}
    assert error_of(platform) == (
        "platform.modelDeployments[0].resources.memory: 20Gi does not fit on one worker (m7i.xlarge: 16 GiB)"
    )
    platform["workerPool"] = {"machineType": "m6i.4xlarge"}  # a bigger worker takes it
    assert parse_platform(platform, SRC).worker_pool.machine_type == "m6i.4xlarge"


# --- cost ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod", "gcp-dev", "gcp-prod"])
def test_plan_prices_the_workers_from_min_to_max(stack: str) -> None:
    syn = synth_stack(stack)
    wp = syn.spec.worker_pool
    (item,) = [i for i in estimate(syn).items if i.name == "workers"]
    machine = catalog.cpu_machine(syn.spec.cloud, wp.machine_type or "")
    from infra.cost import CPU_SPOT_FACTOR

    rate = machine.on_demand_usd_hour * (CPU_SPOT_FACTOR if wp.capacity is Capacity.spot else 1.0)
    assert item.kind == "node-pool"
    assert (item.hourly_min, item.hourly_max) == pytest.approx((rate * (wp.min_nodes or 0), rate * wp.max_nodes))
    spot = " spot (est.)" if wp.capacity is Capacity.spot else ""
    assert item.detail == f"{wp.machine_type} x {wp.min_nodes}-{wp.max_nodes}{spot}"


def test_mlplat_plan_shows_the_workers(capsys: pytest.CaptureFixture[str]) -> None:
    from infra import cli

    assert cli.main(["plan", "--stack", "gcp-prod", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    items = {i["name"]: i for i in doc["cost"]["items"]}
    assert items["workers"]["kind"] == "node-pool"
    assert items["workers"]["detail"] == "n2-standard-4 x 2-10"
    assert any(r["type"] == "ml-platform:gcp:WorkerNodePool" for r in doc["resources"])
