"""Node autoscaling: cluster-autoscaler for managed node groups (the default), Karpenter NodePools in their
place (`services.autoscaling.gpuProvisioner: karpenter`), nothing on GKE. The AWS side (IAM, interruption
queue, discovery tags) and the Kubernetes side (charts, NodePools, EC2NodeClasses) are checked together,
in engine form, as `pulumi up` would send them."""

from __future__ import annotations

import ast
import json
from functools import cache
from typing import Any

import pytest

from components.aws.cluster import NODE_POLICIES
from components.aws.karpenter import IMAGE_ALIASES, INTERRUPTION_EVENTS
from components.context import REQUIRED_TAGS
from components.foundation import gpu_node_labels
from components.k8s import autoscaling, base, training
from infra.config import SUPPORTED_KUBERNETES_VERSIONS, ConfigError, parse_platform
from infra.mocks import _hex
from infra.synth import ResourceRecord, Synthesis
from tests.conftest import raw_platform, synth_platform, synth_stack
from tests.iam_lint import lint_identity_policy, lint_resource_policy
from tests.k8s_schema import is_kubernetes, manifest, validate
from tests.test_aws_foundation import _taggable

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ACCOUNT = "123456789012"
AWS_STACKS = ["aws-dev", "aws-prod"]


@cache
def karpenter_stack(stack: str, **changes: Any) -> Synthesis:
    """A reference stack with Karpenter provisioning the GPU pools (`changes`: pool 0 fields)."""
    platform = raw_platform(stack)
    platform.setdefault("services", {})["autoscaling"] = {"gpuProvisioner": "karpenter"}
    platform["gpuPools"][0].update({k: dict(v) if isinstance(v, tuple) else v for k, v in changes.items()})
    return synth_platform(platform, stack)


def objects(syn: Synthesis, token: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: manifest(r) for r in syn.of_type(token)}


def gpu_node_groups(syn: Synthesis) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["labels"]["ml-platform/pool"]: r.inputs
        for r in syn.of_type(NODE_GROUP)
        if "ml-platform/pool" in r.inputs.get("labels", {})
    }


def autoscaling_records(syn: Synthesis) -> list[ResourceRecord]:
    """Everything under the NodeAutoscaling component (none: the component is not there either)."""
    return [r for c in syn.of_type("ml-platform:k8s:NodeAutoscaling") for r in syn.descendants(c.urn)]


def trust_subject(role: ResourceRecord) -> str:
    (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    (cond,) = stmt["Condition"].values()
    return next(v for k, v in cond.items() if k.endswith(":sub"))


def inline_policy(syn: Synthesis, role_name: str) -> dict[str, Any]:
    return json.loads(syn.one(ROLE_POLICY, f"{role_name}-access").inputs["policy"])


# --- cluster-autoscaler (managed node groups) --------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_groups_are_scaled_by_a_pinned_cluster_autoscaler(stack: str) -> None:
    syn = synth_stack(stack)
    rel = syn.one(RELEASE, "cluster-autoscaler").inputs
    assert (rel["chart"], rel["version"]) == ("cluster-autoscaler", "9.59.0")
    assert rel["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
    assert rel["namespace"] == "kube-system"
    values = rel["values"]
    assert values["image"] == {"repository": "registry.k8s.io/autoscaling/cluster-autoscaler", "tag": "v1.35.0"}
    assert values["autoDiscovery"] == {"clusterName": syn.outputs["clusterName"]}
    assert values["awsRegion"] == syn.spec.region
    args = values["extraArgs"]
    assert args["expander"] == "least-waste" and args["balance-similar-node-groups"] is True
    assert args["skip-nodes-with-local-storage"] is False
    assert args["scale-down-unneeded-time"] == "10m"
    assert "balancing-ignore-label_1" in args  # EKS's per-group labels do not split similar groups
    assert values["nodeSelector"] == {"ml-platform/role": "system"}
    assert values["tolerations"] == base.system_tolerations()
    assert values["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert values["replicaCount"] == (2 if syn.spec.is_prod else 1)
    sa = values["rbac"]["serviceAccount"]
    assert sa["name"] == "cluster-autoscaler"
    role = syn.one(ROLE, "mlp-aws-autoscaling-cluster-autoscaler")
    assert trust_subject(role) == "system:serviceaccount:kube-system:cluster-autoscaler"
    assert sa["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        f"arn:aws:iam::{ACCOUNT}:role/mlp-aws-autoscaling-cluster-autoscaler"
    )
    assert not syn.of_type(NODE_POOL) and not [r for r in syn.of_type(RELEASE) if r.name.startswith("karpenter")]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cluster_autoscaler_may_resize_only_this_clusters_node_groups(stack: str) -> None:
    syn = synth_stack(stack)
    cluster = syn.outputs["clusterName"]
    policy = inline_policy(syn, "mlp-aws-autoscaling-cluster-autoscaler")
    assert lint_identity_policy(policy) == []
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    resize = stmts["ResizeOwnedGroups"]
    assert resize["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    owned = resize["Condition"]["StringEquals"]
    assert owned == {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
    }
    # the GPU node groups carry exactly these discovery tags (EKS copies them to the groups)
    for pool in gpu_node_groups(syn).values():
        tags = {f"aws:ResourceTag/{k}": v for k, v in pool["tags"].items()}
        assert owned.items() <= tags.items()
    for sid, stmt in stmts.items():
        if stmt["Resource"] == ["*"]:
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in stmt["Action"]), sid
    assert stmts["NodegroupTemplates"]["Resource"] == [f"arn:aws:eks:{syn.spec.region}:{ACCOUNT}:nodegroup/{cluster}/*"]


def test_gpu_groups_scale_from_zero_with_node_template_tags(aws_prod: Synthesis) -> None:
    tags: dict[str, dict[str, str]] = {}
    for t in aws_prod.of_type("aws:autoscaling/tag:Tag"):
        pool = t.name.removeprefix("mlp-aws-gpu-").rsplit("-ca-", 1)[0]
        tags.setdefault(pool, {})[t.inputs["tag"]["key"]] = t.inputs["tag"]["value"]
    template = "k8s.io/cluster-autoscaler/node-template"
    for pool in aws_prod.spec.gpu_pools:
        got = tags[pool.name]
        assert got[f"{template}/resources/nvidia.com/gpu"] == str(pool.gpus_per_node)
        assert got[f"{template}/taint/nvidia.com/gpu"] == "present:NoSchedule"
        assert {k.removeprefix(f"{template}/label/"): v for k, v in got.items() if "/label/" in k} == gpu_node_labels(
            pool
        )


def test_cluster_autoscaler_image_follows_every_supported_kubernetes_minor() -> None:
    for version in SUPPORTED_KUBERNETES_VERSIONS["aws"]:
        assert autoscaling.cluster_autoscaler_image(version).tag.startswith(f"v{version}.")
    with pytest.raises(Exception, match=r"no pinned image for Kubernetes 1\.30"):
        autoscaling.cluster_autoscaler_image("1.30")


def test_autoscaling_off_keeps_the_node_groups_and_installs_nothing() -> None:
    platform = raw_platform("aws-dev")
    platform["services"] = {"autoscaling": {"enabled": False, "gpuProvisioner": "karpenter"}}
    syn = synth_platform(platform, "aws-dev")
    assert set(gpu_node_groups(syn)) == {"l4"}  # a disabled Karpenter does not take the pools away
    assert not syn.of_type("ml-platform:aws:Karpenter")
    assert not [r for r in syn.of_type(ROLE) if "autoscal" in r.name]
    assert autoscaling_records(syn) == []


# --- Karpenter: the AWS side ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_karpenter_replaces_the_gpu_node_groups(stack: str) -> None:
    syn, managed = karpenter_stack(stack), synth_stack(stack)
    assert gpu_node_groups(syn) == {}
    # the system and CPU worker pools stay managed node groups, resized by cluster-autoscaler
    roles = sorted(r.inputs["labels"]["ml-platform/role"] for r in syn.of_type(NODE_GROUP))
    assert roles == ["system", "worker"]
    assert not [t for t in syn.of_type("aws:autoscaling/tag:Tag") if "-gpu-" in t.name]
    assert not [r for r in syn.of_type("aws:ec2/launchTemplate:LaunchTemplate") if "gpu" in r.name]
    assert [r.name for r in syn.of_type(RELEASE) if r.name == "cluster-autoscaler"] == ["cluster-autoscaler"]
    # what schedulers (Kueue flavors, training jobs) see of the pools is the same
    assert syn.outputs["gpuPools"] == managed.outputs["gpuPools"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_interruption_queue_receives_the_five_event_kinds(stack: str) -> None:
    syn = karpenter_stack(stack)
    cluster, region = syn.outputs["clusterName"], syn.spec.region
    queue = syn.one("aws:sqs/queue:Queue").inputs
    assert queue["name"] == cluster and queue["sqsManagedSseEnabled"] is True
    assert queue["messageRetentionSeconds"] == 300
    queue_arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{cluster}"
    rules = {
        r.inputs["name"]: json.loads(r.inputs["eventPattern"])
        for r in syn.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    assert sorted(rules.values(), key=json.dumps) == sorted(INTERRUPTION_EVENTS.values(), key=json.dumps)
    detail_types = {p["detail-type"][0] for p in rules.values()}
    assert detail_types == {
        "AWS Health Event",
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "EC2 Capacity Reservation Instance Interruption Warning",
    }
    targets = syn.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert sorted(t.inputs["rule"] for t in targets) == sorted(rules)
    assert {t.inputs["arn"] for t in targets} == {queue_arn}
    policy = json.loads(syn.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])
    assert lint_resource_policy(policy) == []
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    events = stmts["EventBridgeRulesSend"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"} and events["Resource"] == queue_arn
    assert events["Condition"]["ArnEquals"]["aws:SourceArn"] == sorted(
        f"arn:aws:events:{region}:{ACCOUNT}:rule/{name}" for name in rules
    )
    assert stmts["SqsSends"]["Principal"] == {"Service": "sqs.amazonaws.com"}
    assert stmts["DenyHTTP"]["Effect"] == "Deny"
    assert stmts["DenyHTTP"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    karpenter = syn.one(RELEASE, "karpenter").inputs["values"]
    assert karpenter["settings"]["interruptionQueue"] == cluster


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_karpenter_controller_policy_is_scoped_to_the_cluster(stack: str) -> None:
    syn = karpenter_stack(stack)
    cluster, region = syn.outputs["clusterName"], syn.spec.region
    role = syn.one(ROLE, "mlp-aws-autoscaling-controller")
    assert trust_subject(role) == "system:serviceaccount:karpenter:karpenter"
    policy = inline_policy(syn, "mlp-aws-autoscaling-controller")
    # parliament lints statement by statement and wants every resource type RunInstances/CreateFleet can
    # touch in each one; the upstream policy splits them on purpose (request-tag conditions only hold for
    # the resources being created), so that finding, and only that one, is expected.
    findings = lint_identity_policy(policy)
    unexpected = [f for f in findings if not f.startswith("RESOURCE_MISMATCH")]
    assert unexpected == []
    for f in findings:
        actions = {d["action"] for d in ast.literal_eval(f.split(": ", 1)[1])}
        assert actions <= {"ec2:RunInstances", "ec2:CreateFleet"}, f
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    owned = f"kubernetes.io/cluster/{cluster}"
    for sid in ("AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging"):
        assert stmts[sid]["Condition"]["StringEquals"][f"aws:RequestTag/{owned}"] == "owned"
        assert stmts[sid]["Condition"]["StringEquals"]["aws:RequestTag/eks:eks-cluster-name"] == cluster
        assert stmts[sid]["Condition"]["StringLike"] == {"aws:RequestTag/karpenter.sh/nodepool": "*"}
    for sid in ("AllowScopedEC2LaunchTemplateAccessActions", "AllowScopedResourceTagging", "AllowScopedDeletion"):
        assert stmts[sid]["Condition"]["StringEquals"][f"aws:ResourceTag/{owned}"] == "owned"
        assert stmts[sid]["Condition"]["StringLike"] == {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    assert stmts["AllowScopedDeletion"]["Action"] == ["ec2:DeleteLaunchTemplate", "ec2:TerminateInstances"]
    unconditioned = set()
    for sid, stmt in stmts.items():
        mutating = [a for a in stmt["Action"] if not a.split(":")[1].startswith(("Describe", "Get", "List"))]
        assert not (mutating and stmt["Resource"] == ["*"]), sid
        if mutating and "Condition" not in stmt:
            unconditioned.add(sid)
    # launching references existing images, snapshots, subnets and security groups; the queue is one ARN
    assert unconditioned == {"AllowScopedEC2InstanceAccessActions", "AllowInterruptionQueueActions"}
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not {
        a
        for a in actions
        if a.startswith("iam:") and a not in ("iam:PassRole", "iam:GetInstanceProfile", "iam:ListInstanceProfiles")
    }
    node_role_arn = syn.one("aws:eks/accessEntry:AccessEntry", "mlp-aws-autoscaling-node").inputs["principalArn"]
    assert stmts["AllowPassingInstanceRole"]["Resource"] == [node_role_arn]
    assert stmts["AllowPassingInstanceRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
    }
    assert stmts["AllowInterruptionQueueActions"]["Resource"] == [f"arn:aws:sqs:{region}:{ACCOUNT}:{cluster}"]
    assert stmts["AllowRegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": region}}
    assert stmts["AllowAPIServerEndpointDiscovery"]["Resource"] == [f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{cluster}"]
    ebs_key = objects(syn, NODE_CLASS)[f"gpu-{syn.spec.gpu_pools[0].name}"]["spec"]["blockDeviceMappings"][0]["ebs"]
    assert stmts["NodeVolumeKeyThroughEC2"]["Resource"] == [ebs_key["kmsKeyID"]]
    assert stmts["NodeVolumeKeyGrantsThroughEC2"]["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_karpenter_nodes_join_with_their_own_role_and_profile(stack: str) -> None:
    syn = karpenter_stack(stack)
    node_role = syn.one(ROLE, "mlp-aws-autoscaling-node")
    (stmt,) = json.loads(node_role.inputs["assumeRolePolicy"])["Statement"]
    assert stmt["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[1]
        for r in syn.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("mlp-aws-autoscaling-node-")
    }
    assert attached == set(NODE_POLICIES)  # the VPC CNI has its own IRSA role
    entry = syn.one("aws:eks/accessEntry:AccessEntry", "mlp-aws-autoscaling-node").inputs
    assert entry["type"] == "EC2_LINUX" and entry["clusterName"] == syn.outputs["clusterName"]
    profile = syn.one("aws:iam/instanceProfile:InstanceProfile").inputs
    assert {c["spec"]["instanceProfile"] for c in objects(syn, NODE_CLASS).values()} == {profile["name"]}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_subnets_and_the_cluster_security_group_carry_the_discovery_tag(stack: str) -> None:
    syn = karpenter_stack(stack)
    discovery = {"karpenter.sh/discovery": syn.outputs["clusterName"]}
    private = [s for s in syn.of_type("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    assert private and all(discovery.items() <= s.inputs["tags"].items() for s in private)
    (tag,) = syn.of_type("aws:ec2/tag:Tag")
    assert {tag.inputs["key"]: tag.inputs["value"]} == discovery
    # the security group EKS made for the cluster (managed node group nodes join with it too)
    assert tag.inputs["resourceId"] == f"sg-{_hex('mlp-aws-eks' + 'cluster', 17)}"
    for node_class in objects(syn, NODE_CLASS).values():
        assert node_class["spec"]["subnetSelectorTerms"] == [{"tags": discovery}]
        assert node_class["spec"]["securityGroupSelectorTerms"] == [{"tags": discovery}]


def test_an_existing_vpc_gets_its_subnets_tagged_and_no_zone_pinning() -> None:
    platform = raw_platform("aws-dev")
    platform["network"] = {"existingVpcId": "vpc-0abc", "existingPrivateSubnetIds": ["subnet-a1", "subnet-b2"]}
    platform["services"] = {"autoscaling": {"gpuProvisioner": "karpenter"}}
    syn = synth_platform(platform, "aws-dev")
    tagged = {t.inputs["resourceId"]: t.inputs["value"] for t in syn.of_type("aws:ec2/tag:Tag")}
    assert {k: v for k, v in tagged.items() if k.startswith("subnet-")} == {
        "subnet-a1": "mlp-aws-dev",
        "subnet-b2": "mlp-aws-dev",
    }
    (pool,) = objects(syn, NODE_POOL).values()
    keys = [r["key"] for r in pool["spec"]["template"]["spec"]["requirements"]]
    assert "topology.kubernetes.io/zone" not in keys


# --- Karpenter: the Kubernetes side ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_karpenter_charts_are_pinned_and_wired_to_the_account(stack: str) -> None:
    syn = karpenter_stack(stack)
    crd, ctl = syn.one(RELEASE, "karpenter-crd"), syn.one(RELEASE, "karpenter")
    assert crd.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter-crd"
    assert ctl.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert crd.inputs["version"] == ctl.inputs["version"] == autoscaling.KARPENTER_VERSION == "1.14.1"
    assert ctl.inputs["skipCrds"] is True and crd.urn in ctl.dependencies
    assert crd.inputs["namespace"] == ctl.inputs["namespace"] == base.NS_KARPENTER
    values = ctl.inputs["values"]
    settings = values["settings"]
    assert settings["clusterName"] == syn.outputs["clusterName"]
    assert settings["clusterEndpoint"].startswith("https://") and settings["clusterEndpoint"].endswith(
        ".eks.amazonaws.com"
    )
    assert settings["featureGates"]["reservedCapacity"] is True
    assert values["controller"]["image"] == {
        "repository": "public.ecr.aws/karpenter/controller",
        "tag": "1.14.1",
        "digest": "sha256:723130949e4cab989461ff07d1be4cd781d63515432494641b33c235f300ae23",  # the chart's, at 1.14.1
    }
    assert values["serviceAccount"]["name"] == "karpenter"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        f"arn:aws:iam::{ACCOUNT}:role/mlp-aws-autoscaling-controller"
    )
    assert values["nodeSelector"] == {"ml-platform/role": "system"}  # never on a node it manages
    assert values["tolerations"] == base.system_tolerations()
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (ns,) = [o for o in objects(syn, "kubernetes:core/v1:Namespace").values() if o["metadata"]["name"] == "karpenter"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = objects(syn, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert {"default-deny", "karpenter-egress", "karpenter-metrics"} <= set(policies)
    # on destroy, node pools go before the controller that drains their nodes
    for pool in syn.of_type(NODE_POOL):
        assert ctl.urn in pool.dependencies and crd.urn in pool.dependencies


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_pools_match_the_gpu_pools(stack: str) -> None:
    syn, managed = karpenter_stack(stack), gpu_node_groups(synth_stack(stack))
    pools = objects(syn, NODE_POOL)
    expected_zones = {
        "aws-dev": {"l4": ["us-west-2a", "us-west-2b"]},
        "aws-prod": {"h100-train": ["us-east-1a"], "l4-serve": ["us-east-1a", "us-east-1b", "us-east-1c"]},
    }[stack]
    capacity = {"spot": "spot", "on-demand": "on-demand", "reserved": "reserved"}
    assert set(pools) == {f"gpu-{p.name}" for p in syn.spec.gpu_pools}
    for spec in syn.spec.gpu_pools:
        pool = pools[f"gpu-{spec.name}"]["spec"]
        template = pool["template"]
        labels = template["metadata"]["labels"]
        assert labels == gpu_node_labels(spec) == managed[spec.name]["labels"]  # same as a managed pool
        assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
        req = {r["key"]: r["values"] for r in template["spec"]["requirements"]}
        assert req["node.kubernetes.io/instance-type"] == managed[spec.name]["instanceTypes"]
        assert req["karpenter.sh/capacity-type"] == [capacity[str(spec.capacity)]]
        assert req["topology.kubernetes.io/zone"] == expected_zones[spec.name]
        assert template["spec"]["nodeClassRef"] == {
            "group": "karpenter.k8s.aws",
            "kind": "EC2NodeClass",
            "name": f"gpu-{spec.name}",
        }
        assert template["spec"]["expireAfter"] == "720h"
        assert pool["limits"]["nvidia.com/gpu"] == str(spec.max_nodes * spec.gpus_per_node)
        disruption = pool["disruption"]
        assert disruption["consolidateAfter"] == "10m"
        if spec.purpose == "serving":
            assert disruption["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
            assert disruption["budgets"] == [{"nodes": "10%"}]
        else:  # a training node is removed only once its pods are gone, one node at a time
            assert disruption["consolidationPolicy"] == "WhenEmpty"
            assert disruption["budgets"] == [{"nodes": "1"}]
    if stack == "aws-prod":
        h100 = pools["gpu-h100-train"]["spec"]["limits"]
        assert h100 == {"nvidia.com/gpu": "32", "cpu": str(4 * 192)}  # 4 x p5.48xlarge


def test_gpu_sharing_scales_the_gpu_limit() -> None:
    syn = karpenter_stack("aws-dev", sharing=(("timeSlicingReplicas", 4),))
    (pool,) = objects(syn, NODE_POOL).values()
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": "8", "cpu": "8"}  # 2 x g6.xlarge, 4 shares per GPU


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_classes_are_hardened_and_encrypted(stack: str) -> None:
    syn = karpenter_stack(stack)
    managed = {r.name: r.inputs for r in synth_stack(stack).of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    classes = objects(syn, NODE_CLASS)
    for spec in syn.spec.gpu_pools:
        nc = classes[f"gpu-{spec.name}"]["spec"]
        assert nc["amiSelectorTerms"] == [{"alias": IMAGE_ALIASES["al2023"]}]
        assert "@latest" not in nc["amiSelectorTerms"][0]["alias"]
        assert nc["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        }
        (disk,) = nc["blockDeviceMappings"]
        lt_disk = managed[f"mlp-aws-gpu-{spec.name}"]["blockDeviceMappings"][0]
        assert disk["deviceName"] == lt_disk["deviceName"] == "/dev/xvda"
        assert disk["ebs"]["volumeSize"] == f"{spec.disk_size_gb}Gi"
        assert disk["ebs"]["encrypted"] is True and disk["ebs"]["volumeType"] == "gp3"
        assert disk["ebs"]["kmsKeyID"] == lt_disk["ebs"]["kmsKeyId"]  # the platform's EBS key
        assert nc["associatePublicIPAddress"] is False
        assert nc["tags"]["ml-platform/stack"] == stack and nc["tags"]["ml-platform/pool"] == spec.name
        assert nc["tags"]["cost-center"] == syn.spec.governance.cost_center
        reservation = nc.get("capacityReservationSelectorTerms")
        assert reservation == ([{"id": spec.reservation_id}] if spec.reservation_id else None)


def test_bottlerocket_pool_gets_its_image_and_an_os_plus_data_volume() -> None:
    syn = karpenter_stack("aws-dev", nodeImage="bottlerocket")
    (nc,) = objects(syn, NODE_CLASS).values()
    assert nc["spec"]["amiSelectorTerms"] == [{"alias": IMAGE_ALIASES["bottlerocket"]}]
    disks = [
        (d["deviceName"], d["ebs"]["volumeSize"], d["ebs"]["encrypted"]) for d in nc["spec"]["blockDeviceMappings"]
    ]
    assert disks == [("/dev/xvda", "4Gi", True), ("/dev/xvdb", "200Gi", True)]


# --- every object, every cloud -----------------------------------------------------------------------------


@pytest.mark.parametrize("karpenter", [False, True], ids=["node-groups", "karpenter"])
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_autoscaling_object_is_schema_valid(stack: str, karpenter: bool) -> None:
    syn = karpenter_stack(stack) if karpenter else synth_stack(stack)
    records = [r for r in autoscaling_records(syn) if is_kubernetes(r)]
    assert len(records) == (4 + 2 * len(syn.spec.gpu_pools) if karpenter else 0)
    assert [e for r in records for e in validate(manifest(r), syn.spec.cluster.kubernetes_version)] == []


def test_the_vendored_karpenter_schemas_reject_misspelt_fields() -> None:
    syn = karpenter_stack("aws-dev")
    pool, node_class = objects(syn, NODE_POOL)["gpu-l4"], objects(syn, NODE_CLASS)["gpu-l4"]
    pool["spec"]["disruption"]["consolidationPolicy"] = "WhenUnderutilized"  # the v1beta1 value
    assert any("WhenUnderutilized" in e for e in validate(pool, "1.35"))
    node_class["spec"]["metadataOptions"]["httpPutResponseHopLimt"] = 1
    assert any("httpPutResponseHopLimt" in e for e in validate(node_class, "1.35"))


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_gke_scales_its_own_node_pools(stack: str) -> None:
    syn = synth_stack(stack)
    syn.one("ml-platform:k8s:NodeAutoscaling")  # enabled, and empty
    assert autoscaling_records(syn) == []
    names = {r.name for r in syn.of_type(RELEASE)}
    assert not names & {"cluster-autoscaler", "karpenter", "karpenter-crd"}


def test_karpenter_on_gcp_is_a_one_line_config_error() -> None:
    platform = raw_platform("gcp-dev")
    platform["services"] = {"autoscaling": {"gpuProvisioner": "karpenter"}}
    with pytest.raises(ConfigError) as err:
        parse_platform(platform, "stacks/Pulumi.gcp-dev.yaml")
    assert str(err.value) == (
        "stacks/Pulumi.gcp-dev.yaml: platform.services.autoscaling.gpuProvisioner: "
        "Karpenter is for AWS; GKE node pools scale with GKE's autoscaler"
    )


def test_training_jobs_carry_the_annotations_that_block_voluntary_disruption() -> None:
    assert autoscaling.TRAINING_POD_ANNOTATIONS == {
        "karpenter.sh/do-not-disrupt": "true",
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
    }
    assert training.DO_NOT_DISRUPT == autoscaling.TRAINING_POD_ANNOTATIONS


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_karpenter_account_resources_carry_the_convention_tags(stack: str) -> None:
    syn = karpenter_stack(stack)
    records = list(syn.descendants(syn.one("ml-platform:aws:Karpenter").urn))
    taggable = [r for r in records if r.custom and _taggable(r.type)]
    assert {r.type for r in taggable} >= {ROLE, "aws:sqs/queue:Queue", "aws:cloudwatch/eventRule:EventRule"}
    for r in taggable:
        tags = r.inputs.get("tags", {})
        assert all(k in tags for k in REQUIRED_TAGS), f"{r.type} {r.name}"
        assert tags["ml-platform/stack"] == stack


def test_plan_prices_karpenter_pools_from_zero_to_max() -> None:
    from infra.cost import estimate

    node_groups = {i.name: i for i in estimate(synth_stack("aws-prod")).items if i.kind == "gpu-pool"}
    karpenter = {i.name: i for i in estimate(karpenter_stack("aws-prod")).items if i.kind == "gpu-pool"}
    assert set(karpenter) == set(node_groups) == {"h100-train", "l4-serve"}
    for name, item in karpenter.items():
        assert item.hourly_min == 0  # Karpenter keeps no warm nodes
        assert item.hourly_max == pytest.approx(node_groups[name].hourly_max)
