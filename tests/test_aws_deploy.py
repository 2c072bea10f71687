"""What a real `pulumi up` of the AWS foundation needs that the mocks would accept anyway: the deploy audit's
AWS findings (shared/reference/deploy-audit.md, A1-A22), one or more tests each, asserting the resource,
the value or the ordering the cloud's API requires. Every test here failed on the code before the fix."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pulumi
import pytest
from botocore.exceptions import ClientError

from infra import synth
from infra.config import ConfigError, parse_platform
from infra.mocks import ACCOUNT_ID, PlatformMocks, _hex
from infra.synth import ResourceRecord, Synthesis

from .conftest import raw_platform, synth_platform
from .iam_lint import lint_identity_policy, lint_resource_policy

CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KEY = "aws:kms/key:Key"
SLR = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admins"
CI_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-ci"
# The resources that hold data and are `protect`ed in prod (components.context.PlatformContext.stateful).
DATA_TYPES = {
    BUCKET,
    KEY,
    CLUSTER,
    "aws:rds/instance:Instance",
    "aws:ecr/repository:Repository",
    "aws:elasticache/replicationGroup:ReplicationGroup",
}


def error_of(platform: dict[str, Any], stack: str = "aws-dev") -> str:
    with pytest.raises(ConfigError) as exc:
        parse_platform(platform, f"stacks/Pulumi.{stack}.yaml")
    return str(exc.value)


def urn_of(syn: Synthesis, token: str, name: str) -> str:
    return syn.one(token, name).urn


def depends_on(record: ResourceRecord, other: ResourceRecord) -> bool:
    return other.urn in record.dependencies


def api_rules(syn: Synthesis) -> list[dict[str, Any]]:
    """Ingress rules on the EKS cluster security group (the mocks derive its id from the cluster's name)."""
    cluster_sg = f"sg-{_hex(syn.one(CLUSTER).name + 'cluster', 17)}"
    return [r.inputs for r in syn.of_type(INGRESS) if r.inputs["securityGroupId"] == cluster_sg]


def statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    return doc["Statement"]


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> type[PlatformMocks]:
    """PlatformMocks with per-test account facts (zone ids, caller, missing roles), restored afterwards."""
    monkeypatch.setattr(PlatformMocks, "zone_ids", {})
    monkeypatch.setattr(PlatformMocks, "missing_roles", set())
    monkeypatch.setattr(PlatformMocks, "caller_arn", PlatformMocks.caller_arn)
    return PlatformMocks


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The engine's RegisterResource requests by URN (aliases, retainOnDelete: what the plan does not record)."""
    seen: dict[str, Any] = {}
    original = synth._RecordingMonitor.RegisterResource

    def register(self: Any, request: Any) -> Any:
        response = original(self, request)
        seen[response.urn] = request
        return response

    monkeypatch.setattr(synth._RecordingMonitor, "RegisterResource", register)
    return seen


@pytest.fixture(scope="module")
def dev() -> Synthesis:
    return synth_platform(raw_platform("aws-dev"), "aws-dev")


@pytest.fixture(scope="module")
def prod() -> Synthesis:
    return synth_platform(raw_platform("aws-prod"), "aws-prod")


# -- A1: the private endpoint is reachable from the network ------------------------------------------------


def test_private_endpoint_admits_https_from_the_vpc_by_default(prod):
    """EKS user guide, "Cluster API server endpoint": with private access, the cluster security group must
    admit 443 from where kubectl (the deploy runner) runs; by default that is the whole VPC."""
    (rule,) = api_rules(prod)
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["cidrIpv4"] == "10.60.0.0/16"
    assert "Kubernetes API" in rule["description"]


def test_private_access_cidrs_get_one_rule_each_named_by_cidr(prod):
    """Listing the VPC's CIDR explicitly keeps the default's rule (same name): a renamed twin would be
    created before the old one is deleted, and EC2 refuses a duplicate rule."""
    p = raw_platform("aws-prod")
    p["cluster"]["privateAccessCidrs"] = ["10.60.0.0/16", "10.200.0.0/20"]
    syn = synth_platform(p, "aws-prod")
    rules = {r["cidrIpv4"]: r for r in api_rules(syn)}
    assert set(rules) == {"10.60.0.0/16", "10.200.0.0/20"}
    assert all(r["fromPort"] == r["toPort"] == 443 and r["description"].endswith(c) for c, r in rules.items())
    names = {r.name for r in syn.of_type(INGRESS)} - {r.name for r in prod.of_type(INGRESS)}
    assert names == {"mlp-aws-eks-api-10-200-0-0-20"}


def test_private_access_defaults_to_an_existing_vpc_cidr():
    p = raw_platform("aws-dev")
    p["network"] = {"existingVpcId": "vpc-0abc", "existingPrivateSubnetIds": ["subnet-a", "subnet-b"]}
    syn = synth_platform(p)
    (rule,) = api_rules(syn)
    assert rule["cidrIpv4"] == "10.20.0.0/16"  # the mocked getVpc's cidrBlock


def test_private_access_cidrs_are_checked():
    p = raw_platform("aws-prod")
    p["cluster"]["privateAccessCidrs"] = ["0.0.0.0/0"]
    assert "platform.cluster.privateAccessCidrs" in error_of(p, "aws-prod")
    p["cluster"]["privateAccessCidrs"] = ["10.60.0.0/16", "10.60.0.0/16"]
    assert "platform.cluster.privateAccessCidrs[1]: '10.60.0.0/16' is listed twice" in error_of(p, "aws-prod")
    g = raw_platform("gcp-dev")
    g["cluster"]["privateAccessCidrs"] = ["10.0.0.0/16"]
    assert "platform.cluster.privateAccessCidrs: is an AWS setting" in error_of(g, "gcp-dev")


# -- A2 / A11: service-linked roles before what names them -----------------------------------------------


def test_ebs_key_policy_names_the_autoscaling_role_read_from_the_account(dev, requests):
    """Default: the role is an account prerequisite. The key's policy takes the ARN IAM returns, the key
    says what it presumes (a tag), and the stack creates no ServiceLinkedRole."""
    key = dev.one(KEY, "mlp-aws-kms-ebs")
    principals = {json.dumps(s.get("Principal")) for s in statements(key.inputs["policy"])}
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert json.dumps({"AWS": role}) in principals
    assert key.inputs["tags"]["ml-platform/account-prerequisites"] == "AWSServiceRoleForAutoScaling"
    assert not dev.of_type(SLR)


def test_missing_autoscaling_role_is_a_one_line_error_before_anything_is_created(mocked):
    mocked.missing_roles = {"AWSServiceRoleForAutoScaling"}
    with pytest.raises(pulumi.RunError) as exc:
        synth_platform(raw_platform("aws-dev"), "aws-dev")
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("stacks/Pulumi.aws-dev.yaml: platform.account.createServiceLinkedRoles: ")
    assert "AWSServiceRoleForAutoScaling" in message
    assert "aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com" in message


def test_created_service_linked_role_comes_before_the_ebs_key_and_outlives_the_stack(requests):
    p = raw_platform("aws-dev")
    p["account"] = {"createServiceLinkedRoles": True}
    syn = synth_platform(p, "aws-dev")
    (role,) = syn.of_type(SLR)
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com"
    key = syn.one(KEY, "mlp-aws-kms-ebs")
    assert depends_on(key, role)
    principals = [s["Principal"] for s in statements(key.inputs["policy"]) if s.get("Sid", "").startswith("AutoScal")]
    assert principals and all(p["AWS"].endswith("/AWSServiceRoleForAutoScaling") for p in principals)
    assert "ml-platform/account-prerequisites" not in key.inputs["tags"]
    assert requests[role.urn].retainOnDelete  # account-wide: `pulumi destroy` leaves it to the account


def test_karpenter_spot_needs_the_ec2_spot_role(mocked):
    """Karpenter's spot launches (CreateFleet) fail with ServiceLinkedRoleCreationNotPermitted without
    AWSServiceRoleForEC2Spot (Karpenter getting started, "add-spot-role")."""
    p = raw_platform("aws-dev")
    p.setdefault("services", {})["autoscaling"] = {"gpuProvisioner": "karpenter"}
    mocked.missing_roles = {"AWSServiceRoleForEC2Spot"}
    with pytest.raises(pulumi.RunError, match=r"--aws-service-name spot\.amazonaws\.com"):
        synth_platform(p, "aws-dev")
    mocked.missing_roles = set()
    p["account"] = {"createServiceLinkedRoles": True}
    syn = synth_platform(p, "aws-dev")
    roles = {r.inputs["awsServiceName"]: r for r in syn.of_type(SLR)}
    assert set(roles) == {"autoscaling.amazonaws.com", "spot.amazonaws.com"}
    controller = syn.one("aws:iam/role:Role", "mlp-aws-autoscaling-controller")
    assert depends_on(controller, roles["spot.amazonaws.com"])


def test_account_section_is_aws_only():
    g = raw_platform("gcp-dev")
    g["account"] = {"createServiceLinkedRoles": True}
    assert "platform.account.createServiceLinkedRoles: is an AWS setting" in error_of(g, "gcp-dev")


# -- A3: zones EKS refuses ---------------------------------------------------------------------------------


def private_zones(syn: Synthesis) -> set[str]:
    return {
        s.inputs["availabilityZone"]
        for s in syn.of_type("aws:ec2/subnet:Subnet")
        if "kubernetes.io/role/internal-elb" in s.inputs["tags"]
    }


def test_zones_skip_the_zone_ids_eks_refuses(mocked):
    """eksctl pkg/az zoneIDsToAvoid: use1-az3, usw1-az2, cac1-az3 (UnsupportedAvailabilityZoneException)."""
    mocked.zone_ids = {"us-east-1": ["use1-az1", "use1-az3", "use1-az2", "use1-az4"]}
    syn = synth_platform(raw_platform("aws-prod"), "aws-prod")
    assert private_zones(syn) == {"us-east-1a", "us-east-1c", "us-east-1d"}


def test_too_few_zones_eks_supports_is_a_one_line_error(mocked):
    mocked.zone_ids = {"us-east-1": ["use1-az1", "use1-az3", "use1-az2", "use1-az4"]}
    p = raw_platform("aws-prod")
    p["network"]["azCount"] = 4
    with pytest.raises(pulumi.RunError) as exc:
        synth_platform(p, "aws-prod")
    assert str(exc.value) == (
        "stacks/Pulumi.aws-prod.yaml: platform.network.azCount: us-east-1 has 3 availability zones EKS supports "
        "(EKS does not support us-east-1b (use1-az3)); azCount asks for 4"
    )


def test_existing_subnet_in_a_refused_zone_is_an_error(mocked):
    ids = ["use1-az1", "use1-az2", "use1-az4", "use1-az5"]
    ids[int(_hex("subnet-b", 4), 16) % 4] = "use1-az3"  # where the mocked getSubnet puts subnet-b
    mocked.zone_ids = {"us-east-1": ids}
    p = raw_platform("aws-prod")
    p["network"] = {"existingVpcId": "vpc-0abc", "existingPrivateSubnetIds": ["subnet-a", "subnet-b"]}
    h100 = p["gpuPools"][0]
    h100.update(capacity="on-demand", zones=[])
    del h100["reservationId"]
    with pytest.raises(pulumi.RunError, match=r"existingPrivateSubnetIds\[1\]: subnet-b is in .* \(use1-az3\)"):
        synth_platform(p, "aws-prod")


# -- A4 / A21: who is cluster-admin, and when the Kubernetes provider can use it ---------------------------


def test_deployer_listed_as_admin_gets_exactly_one_access_entry(mocked):
    """The cluster-creator bootstrap entry and an access entry for the same principal collide (409
    ResourceInUseException): the bootstrap is never used, the deployer gets one managed entry."""
    mocked.caller_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/platform-admins/ci-run-42"
    syn = synth_platform(raw_platform("aws-dev"), "aws-dev")
    cluster = syn.one(CLUSTER)
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    principals = [e.inputs["principalArn"] for e in syn.of_type(ACCESS_ENTRY) if e.inputs["type"] == "STANDARD"]
    assert principals == [ADMIN_ROLE]


def test_deployer_not_listed_gets_its_own_entry_unless_creator_admin_is_off(dev):
    principals = sorted(e.inputs["principalArn"] for e in dev.of_type(ACCESS_ENTRY))
    assert principals == [ADMIN_ROLE, f"arn:aws:iam::{ACCOUNT_ID}:role/platform-deployer"]
    p = raw_platform("aws-dev")
    p["cluster"]["creatorAdmin"] = False
    syn = synth_platform(p, "aws-dev")
    assert [e.inputs["principalArn"] for e in syn.of_type(ACCESS_ENTRY)] == [ADMIN_ROLE]


def test_a_cluster_without_any_admin_is_refused():
    p = raw_platform("aws-prod")
    p["cluster"]["adminPrincipals"] = []
    assert "platform.cluster.creatorAdmin: with creatorAdmin off, list adminPrincipals" in error_of(p, "aws-prod")


def test_creator_admin_changes_never_replace_the_cluster(prod):
    """bootstrap_cluster_creator_admin_permissions is ForceNew in the provider: a cluster created with the
    old bootstrap must not be replaced when the program stops using it."""
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in prod.one(CLUSTER).ignore_changes


def test_kubernetes_provider_waits_for_every_admin_association(dev, prod):
    for syn in (dev, prod):
        provider = syn.one("pulumi:providers:kubernetes")
        associations = syn.of_type(ASSOCIATION)
        assert associations and all(depends_on(provider, a) for a in associations)
        for a in associations:  # the association needs its entry
            entry = syn.one(ACCESS_ENTRY, a.name)
            assert depends_on(a, entry)


# -- A5 / A8 / A19: buckets --------------------------------------------------------------------------------


def test_access_logging_waits_for_the_target_bucket_policy(dev):
    (target_policy,) = [p for p in dev.of_type(BUCKET_POLICY) if "logging.s3.amazonaws.com" in p.inputs["policy"]]
    loggings = dev.of_type(BUCKET_LOGGING)
    assert len(loggings) == 4 and all(depends_on(lg, target_policy) for lg in loggings)


def test_inference_payloads_land_under_the_platform_key(dev):
    """The logs bucket (the inference logger's, components/k8s/model_deployment.py) is SSE-KMS with the
    storage key; only S3's own access logs go to the SSE-S3 bucket."""
    logs = dev.outputs["buckets"]["logs"]
    sse = {r.name: r.inputs["rules"][0]["applyServerSideEncryptionByDefault"] for r in dev.of_type(SSE)}
    bucket_names = {r.name: r.inputs["bucket"] for r in dev.of_type(BUCKET)}
    by_bucket = {bucket_names[name]: rule for name, rule in sse.items()}
    assert by_bucket[logs]["sseAlgorithm"] == "aws:kms" and by_bucket[logs]["kmsMasterKeyId"].startswith("arn:aws:kms")
    (plain,) = [b for b, rule in by_bucket.items() if rule["sseAlgorithm"] == "AES256"]
    assert plain not in dev.outputs["buckets"].values()
    target = {lg.inputs["targetBucket"] for lg in dev.of_type(BUCKET_LOGGING)}
    assert target == {plain}


def test_the_access_log_bucket_name_is_reserved():
    p = raw_platform("aws-dev")
    p["buckets"] = [{"name": "s3-access"}]
    assert "platform.buckets[0].name: 's3-access' is the S3 access-log bucket's" in error_of(p)


def test_log_delivery_is_limited_to_each_platform_bucket_and_its_prefix(dev):
    (policy,) = [p for p in dev.of_type(BUCKET_POLICY) if "logging.s3.amazonaws.com" in p.inputs["policy"]]
    delivery = [s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Allow"]
    assert lint_resource_policy(json.loads(policy.inputs["policy"])) == []
    sources = dict(dev.outputs["buckets"])
    assert len(delivery) == len(sources)
    for key, name in sources.items():
        (stmt,) = [s for s in delivery if s["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{name}"]
        assert stmt["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
        assert stmt["Resource"].endswith(f"/s3-access/{key}/*")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_api() -> Iterator[Any]:
    """A real S3 API (moto's server on loopback) whose PutBucketLogging checks the target's grant."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


def test_buckets_apply_against_the_s3_api_in_the_most_eager_order(dev, s3_api):
    """Replay the buckets, their policies and logging configurations as the engine may: each as soon as its
    recorded dependencies are done, logging first. S3 rejects a logging configuration whose target does
    not grant the logging service yet (InvalidTargetBucketForLogging)."""
    replayed = [r for r in dev.resources if r.type in (BUCKET, BUCKET_POLICY, BUCKET_LOGGING)]
    urns = {r.urn for r in replayed}
    done: set[str] = set()
    order = {BUCKET_LOGGING: 0, BUCKET: 1, BUCKET_POLICY: 2}
    while len(done) < len(replayed):
        ready = [r for r in replayed if r.urn not in done and all(d in done for d in r.dependencies if d in urns)]
        assert ready, "a dependency cycle"
        r = min(ready, key=lambda r: order[r.type])
        name = r.inputs["bucket"]
        try:
            if r.type == BUCKET:
                s3_api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
            elif r.type == BUCKET_POLICY:
                # moto's logging check reads every statement's Principal as a mapping and fails (500) on
                # the TLS-only denials' "*": only the allows are sent, the grant is what S3 checks
                policy = json.loads(r.inputs["policy"])
                policy["Statement"] = [s for s in policy["Statement"] if s["Effect"] == "Allow"] or policy["Statement"]
                s3_api.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
            else:
                status = {"TargetBucket": r.inputs["targetBucket"], "TargetPrefix": r.inputs["targetPrefix"]}
                s3_api.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": status})
        except ClientError as exc:
            pytest.fail(f"{r.type} {r.name}: {exc}")
        done.add(r.urn)
    logged = [b for b in (r.inputs["bucket"] for r in replayed if r.type == BUCKET_LOGGING)]
    assert all("LoggingEnabled" in s3_api.get_bucket_logging(Bucket=b) for b in logged)


# -- A6 / A7: NetworkPolicies enforced, metrics for HPAs --------------------------------------------------


def addons(syn: Synthesis) -> dict[str, ResourceRecord]:
    return {a.inputs["addonName"]: a for a in syn.of_type(ADDON)}


def test_vpc_cni_enforces_network_policies(dev, prod):
    """EKS user guide: the VPC CNI add-on's `enableNetworkPolicy` (a string, off by default)."""
    for syn in (dev, prod):
        cni = addons(syn)["vpc-cni"].inputs
        assert json.loads(cni["configurationValues"])["enableNetworkPolicy"] == "true"


def test_metrics_server_runs_on_the_system_nodes(dev, prod):
    for syn in (dev, prod):
        server = addons(syn)["metrics-server"]
        system = next(r for r in syn.of_type(NODE_GROUP) if r.inputs["labels"] == {"ml-platform/role": "system"})
        assert depends_on(server, system)  # a Deployment: it needs a node
        tolerations = json.loads(server.inputs["configurationValues"])["tolerations"]
        assert {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"} in tolerations


# -- A9: protect only what holds data; entries by principal ------------------------------------------------


def test_only_data_bearing_resources_are_protected(prod):
    """`protect` is inherited from the parent (pulumi SDK resource.py): children of the protected cluster,
    keys, buckets and repositories must say protect=False, or removing an admin, an add-on or a bucket
    setting fails on a protected resource."""
    protected = [r for r in prod.resources if r.protect]
    assert {BUCKET, KEY, CLUSTER} <= {r.type for r in protected}
    assert [f"{r.type} {r.name}" for r in protected if r.type not in DATA_TYPES] == []


def test_removing_an_admin_leaves_the_other_entries_alone(requests):
    p = raw_platform("aws-prod")
    both = synth_platform(p, "aws-prod")
    p["cluster"]["adminPrincipals"] = [CI_ROLE]
    one = synth_platform(p, "aws-prod")
    names = {e.inputs["principalArn"]: e.name for e in both.of_type(ACCESS_ENTRY)}
    (ci,) = one.of_type(ACCESS_ENTRY)
    assert ci.name == names[CI_ROLE] and not ci.protect
    assert not one.one(ASSOCIATION, ci.name).protect
    # entries named by list position before: the first update moves them to their new names
    aliases = [a.spec.name for a in requests[ci.urn].aliases]
    assert aliases == ["mlp-aws-eks-admin-0"]


# -- A10: no fabric label without the fabric ---------------------------------------------------------------


def test_no_efa_claim_without_efa(prod):
    p = raw_platform("aws-prod")
    p["gpuPools"][0]["labels"] = {"ml-platform/fabric": "efa"}
    assert (
        "platform.gpuPools[0].labels.ml-platform/fabric: claims a GPU fabric the AWS foundation does not build, EFA"
        in error_of(p, "aws-prod")
    )
    assert all("ml-platform/fabric" not in r.inputs.get("labels", {}) for r in prod.of_type(NODE_GROUP))


# -- A11: Karpenter's controller policy of the pinned release ----------------------------------------------

# karpenter-provider-aws@v1.14.1 (the pin), website/content/en/docs/getting-started/getting-started-with-
# karpenter/cloudformation.yaml (the same file as v1.14/ and preview/ on main at 2026-08-23):
# every action of the controller policies, less instance-profile management (the stack creates the profile)
# and arc-zonal-shift:GetManagedResource (called only with --enable-zonal-shift, off by default and here).
UPSTREAM_ACTIONS = {
    "ec2:RunInstances",
    "ec2:CreateFleet",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
    "ec2:DeleteLaunchTemplate",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
    "ssm:GetParameter",
    "pricing:GetProducts",
    "iam:ListInstanceProfiles",
    "iam:GetInstanceProfile",
    "iam:PassRole",
    "eks:DescribeCluster",
    "sqs:DeleteMessage",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
}
UPSTREAM_RULES = {
    "AWS Health Event",
    "EC2 Spot Instance Interruption Warning",
    "EC2 Instance Rebalance Recommendation",
    "EC2 Instance State-change Notification",
    "EC2 Capacity Reservation Instance Interruption Warning",
}


@pytest.fixture(scope="module")
def karpenter() -> Synthesis:
    p = raw_platform("aws-prod")
    p.setdefault("services", {})["autoscaling"] = {"gpuProvisioner": "karpenter"}
    return synth_platform(p, "aws-prod")


def test_karpenter_controller_policy_matches_the_pinned_release(karpenter):
    policy = karpenter.one(ROLE_POLICY, "mlp-aws-autoscaling-controller-access").inputs["policy"]
    # (parliament's RESOURCE_MISMATCH on the launch statements is expected: tests/test_k8s_autoscaling.py)
    assert [f for f in lint_identity_policy(json.loads(policy)) if not f.startswith("RESOURCE_MISMATCH")] == []
    allowed = {a for s in statements(policy) for a in s["Action"]}
    assert (
        allowed
        - {"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"}
        - {"kms:CreateGrant"}
        == UPSTREAM_ACTIONS
    )
    launch = next(s for s in statements(policy) if s["Sid"] == "AllowScopedEC2InstanceAccessActions")
    assert "arn:aws:ec2:us-east-1:*:placement-group/*" in launch["Resource"]
    ssm = next(s for s in statements(policy) if s["Sid"] == "AllowSSMReadActions")
    assert ssm["Resource"] == ["arn:aws:ssm:us-east-1:*:parameter/aws/service/*"]  # upstream: "::" (same match)


def test_karpenter_interruption_queue_gets_all_five_upstream_events(karpenter):
    rules = karpenter.of_type("aws:cloudwatch/eventRule:EventRule")
    assert {json.loads(r.inputs["eventPattern"])["detail-type"][0] for r in rules} == UPSTREAM_RULES
    queue_policy = karpenter.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"]
    send = next(s for s in statements(queue_policy) if s["Sid"] == "EventBridgeRulesSend")
    rule_arns = {f"arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/{r.inputs['name']}" for r in rules}
    assert set(send["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_arns


# -- A12 / A13 / A20: IAM the services need ----------------------------------------------------------------


def inline_policy(syn: Synthesis, name: str) -> list[dict[str, Any]]:
    return statements(syn.one(ROLE_POLICY, name).inputs["policy"])


def test_cluster_role_may_use_the_secrets_key_before_the_cluster_exists(prod):
    (stmt,) = inline_policy(prod, "mlp-aws-eks-cluster-secrets-key")
    assert set(stmt["Action"]) == {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ListGrants"}
    cluster = prod.one(CLUSTER)
    assert stmt["Resource"] == [cluster.inputs["encryptionConfig"]["provider"]["keyArn"]]
    assert depends_on(cluster, prod.one(ROLE_POLICY, "mlp-aws-eks-cluster-secrets-key"))


def test_flow_log_role_can_find_its_log_group(dev):
    actions = {a for s in inline_policy(dev, "mlp-aws-network-flow-logs") for a in s["Action"]}
    assert {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:DescribeLogGroups"} <= actions


def test_ebs_csi_grants_only_for_aws_resources(dev):
    grants = [s for s in inline_policy(dev, "mlp-aws-eks-ebs-csi-access") if "kms:CreateGrant" in s["Action"]]
    assert grants and all(s["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}} for s in grants)


# -- A14 / A17: values the APIs reject ---------------------------------------------------------------------


@pytest.mark.parametrize(("section", "key"), [("cluster", "logRetentionDays"), ("network", "flowLogRetentionDays")])
def test_log_retention_must_be_a_cloudwatch_period(section, key):
    p = raw_platform("aws-dev")
    p.setdefault(section, {})[key] = 100
    assert f"platform.{section}.{key}: 100 is not a CloudWatch Logs retention period (1, 3, 5," in error_of(p)
    p[section][key] = 400
    parse_platform(p, "stacks/Pulumi.aws-dev.yaml")


def test_kubernetes_version_out_of_eks_standard_support_is_refused():
    p = raw_platform("aws-dev")
    p["cluster"]["kubernetesVersion"] = "1.34"
    assert "platform.cluster.kubernetesVersion: '1.34' is not in standard support on aws" in error_of(p)


# -- A15: name lengths -------------------------------------------------------------------------------------


def test_long_stack_names_fit_node_group_and_bucket_name_limits():
    p = raw_platform("aws-dev")
    p["gpuPools"][0]["name"] = "l4-inference-batched"  # 20 characters, the longest pool name
    p["teams"][0]["gpuQuota"] = {"nvidia-l4": 2}
    p["trainingJobs"][0]["pool"] = "l4-inference-batched"
    syn = synth_platform(p, "a-rather-long-stack-name-for-a-region")
    prefixes = [r.inputs["nodeGroupNamePrefix"] for r in syn.of_type(NODE_GROUP)]
    assert len(prefixes) == 3 and all(len(x) <= 37 for x in prefixes)  # 63 - the 26-character suffix
    assert any(x.endswith("-l4-inference-batched-") for x in prefixes)
    for bucket in syn.of_type(BUCKET):
        name = bucket.inputs["bucket"]
        assert len(name) <= 63 and name.endswith(f"-{ACCOUNT_ID}") and "--" not in name
    database = syn.one("aws:rds/instance:Instance").inputs["identifierPrefix"]
    assert len(database) <= 63 - 26 and "--" not in database


# -- day 2 (issue 17 section 3) ----------------------------------------------------------------------------


def test_node_groups_follow_a_kubernetes_upgrade():
    """EKS does not upgrade managed node groups with the control plane: each names the cluster's version,
    so changing cluster.kubernetesVersion rolls the nodes after the cluster (kubelet skew stays in range)."""
    p = raw_platform("aws-dev")
    p["cluster"]["kubernetesVersion"] = "1.36"
    syn = synth_platform(p, "aws-dev")
    groups = syn.of_type(NODE_GROUP)
    assert len(groups) == 3 and all(g.inputs["version"] == "1.36" for g in groups)
    cluster = syn.one(CLUSTER)
    assert all(depends_on(g, cluster) for g in groups)


# -- A16: partitions ---------------------------------------------------------------------------------------


def test_access_policy_arn_follows_the_partition():
    p = raw_platform("aws-dev")
    p["region"] = "cn-north-1"
    p["governance"]["allowedRegions"] = ["cn-north-1"]
    p["gpuPools"][0]["zones"] = []
    for model in p.get("modelDeployments", []):
        model["governance"]["dataResidency"] = ["cn-north-1"]
    syn = synth_platform(p, "aws-dev")
    arns = {a.inputs["policyArn"] for a in syn.of_type(ASSOCIATION)}
    assert arns == {"arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}
    endpoint = syn.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs["serviceName"]
    assert endpoint == "cn.com.amazonaws.cn-north-1.s3"
