"""One logical spec, two clouds: the layers above the foundation must not be able to tell.

The same pools (accelerator, GPUs per node, taint, node labels, min/max), the same untainted CPU
worker pool behind the same node selector, the same buckets and repositories, a database, and
identity bindings for the same service accounts, through the cloud-neutral `Foundation` interface only.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from components.context import PlatformContext
from components.foundation import BucketAccess, IdentityAccess
from components.platform import MlPlatform
from infra.config import CONFIG_KEY, parse_platform
from infra.synth import Synthesis, synthesize

LOGICAL: dict[str, Any] = {
    "name": "mlp",
    "environment": "staging",
    "network": {"cidr": "10.80.0.0/16", "azCount": 3},
    "cluster": {"kubernetesVersion": "1.35", "endpointAccess": "private"},
    "systemPool": {"minNodes": 2, "maxNodes": 4},
    "workerPool": {"minNodes": 2, "maxNodes": 8, "labels": {"example.com/tier": "batch"}},
    "gpuPools": [
        {"name": "train", "accelerator": "nvidia-a100-80gb", "gpusPerNode": 8, "maxNodes": 2, "purpose": "training"},
        {
            "name": "serve",
            "accelerator": "nvidia-l4",
            "gpusPerNode": 1,
            "minNodes": 1,
            "maxNodes": 6,
            "purpose": "serving",
            "labels": {"example.com/tier": "online"},
        },
        {"name": "spot", "accelerator": "nvidia-h100-80gb", "gpusPerNode": 8, "capacity": "spot", "maxNodes": 2},
    ],
    "buckets": [{"name": "features"}],
    "repositories": [{"name": "training"}, {"name": "serving"}, {"name": "notebooks"}],
    "teams": [{"name": "research", "owner": "lead@example.com", "gpuQuota": {"nvidia-a100-80gb": 16}}],
    "governance": {"costCenter": "cc-1", "owner": "platform@example.com"},
}
CLOUD = {
    "aws": {"cloud": "aws", "region": "us-east-1"},
    "gcp": {"cloud": "gcp", "region": "us-central1", "project": "mlp-staging-123"},
}
BINDINGS = [
    (
        "research",
        "trainer",
        IdentityAccess(
            buckets=(BucketAccess("datasets", "research", "read"), BucketAccess("models", "research", "read-write"))
        ),
    ),
    ("serving", "predictor", IdentityAccess(buckets=(BucketAccess("models", "", "read"),))),
]


def synth_for(cloud: str) -> tuple[Synthesis, dict[str, Any]]:
    platform = {**copy.deepcopy(LOGICAL), **CLOUD[cloud]}
    spec = parse_platform(platform, f"stacks/Pulumi.{cloud}-staging.yaml")
    seen: dict[str, Any] = {}

    def program() -> None:
        f = MlPlatform("mlp", PlatformContext(spec=spec, stack=f"{cloud}-staging")).foundation
        seen["pools"] = f.gpu_pools
        seen["workers"] = f.worker_node_selector
        seen["buckets"] = sorted(f.buckets)
        seen["repositories"] = sorted(f.registry_urls)
        seen["database"] = f.database.database  # the login is per cloud (Foundation.database_login)
        bindings = {f"{ns}/{sa}": f.bind_identity(ns, sa, access) for ns, sa, access in BINDINGS}
        seen["bindings"] = sorted(bindings)
        pulumi.export("annotations", {k: b.annotations for k, b in bindings.items()})
        pulumi.export("databaseHost", f.database.host)
        pulumi.export("registry", f.registry_urls)

    syn = synthesize(f"{cloud}-staging", spec, {CONFIG_KEY: platform}, program=program)
    return syn, seen


@pytest.fixture(scope="module")
def both() -> dict[str, tuple[Synthesis, dict[str, Any]]]:
    return {cloud: synth_for(cloud) for cloud in CLOUD}


def test_same_pools_with_same_accelerator_taint_and_labels(both):
    aws, gcp = both["aws"][1]["pools"], both["gcp"][1]["pools"]
    assert [p.name for p in aws] == [p.name for p in gcp] == ["train", "serve", "spot"]
    for a, g in zip(aws, gcp, strict=True):
        assert (a.accelerator, a.gpus_per_node, a.capacity, a.min_nodes, a.max_nodes) == (
            g.accelerator,
            g.gpus_per_node,
            g.capacity,
            g.min_nodes,
            g.max_nodes,
        )
        assert a.taints == g.taints and a.node_labels == g.node_labels
    assert aws[0].machine_type == "p4de.24xlarge" and gcp[0].machine_type == "a2-ultragpu-8g"


def test_the_graphs_carry_the_same_labels_and_taints(both):
    aws_syn, gcp_syn = both["aws"][0], both["gcp"][0]
    aws_nodes = {
        r.inputs["labels"]["ml-platform/pool"]: r.inputs
        for r in aws_syn.of_type("aws:eks/nodeGroup:NodeGroup")
        if "ml-platform/pool" in r.inputs["labels"]
    }
    gcp_nodes = {
        r.inputs["nodeConfig"]["labels"]["ml-platform/pool"]: r.inputs["nodeConfig"]
        for r in gcp_syn.of_type("gcp:container/nodePool:NodePool")
        if "ml-platform/pool" in r.inputs["nodeConfig"].get("labels", {})
    }
    assert set(aws_nodes) == set(gcp_nodes) == {"train", "serve", "spot"}
    for name in aws_nodes:
        assert aws_nodes[name]["labels"] == gcp_nodes[name]["labels"]
        (a_taint,) = aws_nodes[name]["taints"]
        (g_taint,) = gcp_nodes[name]["taints"]
        assert (a_taint["key"], a_taint["value"], a_taint["effect"]) == (
            g_taint["key"],
            g_taint["value"],
            g_taint["effect"],
        )
    assert gcp_nodes["spot"]["spot"] is True and aws_nodes["spot"]["capacityType"] == "SPOT"


def test_same_worker_pool_behind_the_same_selector(both):
    from components import catalog

    aws_syn, gcp_syn = both["aws"][0], both["gcp"][0]
    assert both["aws"][1]["workers"] == both["gcp"][1]["workers"] == {"ml-platform/role": "worker"}
    (aws,) = [
        r.inputs
        for r in aws_syn.of_type("aws:eks/nodeGroup:NodeGroup")
        if r.inputs["labels"].get("ml-platform/role") == "worker"
    ]
    (gcp,) = [r.inputs for r in gcp_syn.of_type("gcp:container/nodePool:NodePool") if r.inputs["name"] == "workers"]
    labels = {"ml-platform/role": "worker", "ml-platform/capacity": "on-demand", "example.com/tier": "batch"}
    assert aws["labels"] == gcp["nodeConfig"]["labels"] == labels  # staging: on-demand
    assert not aws.get("taints") and not gcp["nodeConfig"].get("taints")
    assert (aws["scalingConfig"]["minSize"], aws["scalingConfig"]["maxSize"]) == (
        gcp["autoscaling"]["totalMinNodeCount"],
        gcp["autoscaling"]["totalMaxNodeCount"],
    )
    assert aws["capacityType"] == "ON_DEMAND" and not gcp["nodeConfig"].get("spot")
    a = catalog.cpu_machine("aws", aws["instanceTypes"][0])
    g = catalog.cpu_machine("gcp", gcp["nodeConfig"]["machineType"])
    assert (a.vcpus, a.memory_gib) == (g.vcpus, g.memory_gib) == (4, 16)


def test_same_buckets_repositories_database_and_bindings(both):
    aws, gcp = both["aws"][1], both["gcp"][1]
    assert aws["buckets"] == gcp["buckets"] == ["artifacts", "datasets", "features", "logs", "models"]
    assert aws["repositories"] == gcp["repositories"] == ["notebooks", "serving", "training"]
    assert aws["database"] == gcp["database"]
    assert aws["bindings"] == gcp["bindings"] == ["research/trainer", "serving/predictor"]
    assert both["aws"][0].outputs["databaseHost"] and both["gcp"][0].outputs["databaseHost"]
    registry = {c: both[c][0].outputs["registry"]["serving"] for c in CLOUD}
    assert registry == {
        "aws": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-aws-staging/serving",
        "gcp": "us-central1-docker.pkg.dev/mlp-staging-123/mlp-gcp-staging-serving/serving",
    }


def test_bindings_give_each_cloud_its_service_account_annotation(both):
    aws = both["aws"][0].outputs["annotations"]
    gcp = both["gcp"][0].outputs["annotations"]
    assert set(aws) == set(gcp)
    for key in aws:
        assert list(aws[key]) == ["eks.amazonaws.com/role-arn"]
        assert list(gcp[key]) == ["iam.gke.io/gcp-service-account"]
        assert gcp[key]["iam.gke.io/gcp-service-account"].endswith("@mlp-staging-123.iam.gserviceaccount.com")
