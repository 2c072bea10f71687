"""The AWS foundation under Pulumi mocks: secure defaults, environment differences, GPU pools,
IAM documents and workload identity. Inputs are read in engine form (camelCase), as the Pulumi
engine and the policy packs see them."""

from __future__ import annotations

import importlib
import ipaddress
import json
from typing import Any

import pulumi
import pytest

from components.aws.network import plan_subnets
from components.context import REQUIRED_TAGS, PlatformContext
from components.foundation import BucketAccess, IdentityAccess
from components.platform import MlPlatform
from infra.config import CONFIG_KEY, parse_platform
from infra.mocks import _hex, _uuid
from infra.synth import SECRET, Synthesis, synthesize

from .conftest import raw_platform, synth_platform
from .iam_lint import lint_identity_policy, lint_resource_policy

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def gpu_node_groups(syn: Synthesis) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["labels"]["ml-platform/pool"]: r.inputs
        for r in syn.of_type(NODE_GROUP)
        if "ml-platform/pool" in r.inputs.get("labels", {})
    }


# -- network -------------------------------------------------------------------------------------


@pytest.mark.parametrize("az_count", [2, 3, 4])
@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/18", "192.168.0.0/20"])
def test_subnet_plan_fits_and_never_overlaps(cidr, az_count):
    vpc = ipaddress.IPv4Network(cidr)
    private, public = plan_subnets(vpc, az_count)
    assert len(private) == len(public) == az_count
    every = private + public
    assert all(s.subnet_of(vpc) for s in every)
    assert not any(a.overlaps(b) for i, a in enumerate(every) for b in every[i + 1 :])
    assert min(s.num_addresses for s in private) >= 4 * max(s.num_addresses for s in public)


def test_network_dev_single_nat_two_zones(aws_dev):
    subnets = aws_dev.of_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    public = [s for s in subnets if "kubernetes.io/role/elb" in s.inputs["tags"]]
    assert len(private) == len(public) == 2
    assert {s.inputs["availabilityZone"] for s in private} == {"us-west-2a", "us-west-2b"}
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    assert all(s.inputs["tags"]["karpenter.sh/discovery"] == "mlp-aws-dev" for s in private)
    assert len(aws_dev.of_type("aws:ec2/natGateway:NatGateway")) == 1
    routes = [r.inputs for r in aws_dev.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(routes) == 2 and len({r["natGatewayId"] for r in routes}) == 1
    endpoints = aws_dev.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert [e.inputs["vpcEndpointType"] for e in endpoints] == ["Gateway"]


def test_network_prod_nat_per_zone_and_interface_endpoints(aws_prod):
    nats = aws_prod.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    routes = [r.inputs for r in aws_prod.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len({r["natGatewayId"] for r in routes}) == 3
    endpoints = {e.inputs["serviceName"]: e.inputs for e in aws_prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {f"com.amazonaws.us-east-1.{s}" for s in ("s3", "ecr.api", "ecr.dkr", "sts", "logs")}
    s3 = endpoints["com.amazonaws.us-east-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway" and len(s3["routeTableIds"]) == 3
    for name, ep in endpoints.items():
        if not name.endswith(".s3"):
            assert ep["privateDnsEnabled"] is True and len(ep["subnetIds"]) == 3
    ingress = aws_prod.one(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "mlp-aws-network-endpoints-https"
    )
    assert ingress.inputs["fromPort"] == ingress.inputs["toPort"] == 443
    assert ingress.inputs["cidrIpv4"] == "10.60.0.0/16"


def test_default_security_group_has_no_rules_and_flow_logs_are_on(aws_dev):
    sg = aws_dev.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg.inputs.get("ingress", []) == [] and sg.inputs.get("egress", []) == []
    flow = aws_dev.one("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    group = aws_dev.one("aws:cloudwatch/logGroup:LogGroup", "mlp-aws-network-flow-logs")
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:") and group.inputs["retentionInDays"] == 90


def test_bring_your_own_vpc_creates_no_network():
    p = raw_platform("aws-dev")
    p["network"] = {"existingVpcId": "vpc-0abc", "existingPrivateSubnetIds": ["subnet-a", "subnet-b"]}
    syn = synth_platform(p)
    assert not syn.of_type("aws:ec2/vpc:Vpc") and not syn.of_type("aws:ec2/natGateway:NatGateway")
    assert syn.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]


# -- KMS -------------------------------------------------------------------------------------------


def test_kms_keys_rotate_and_have_no_wildcard_principal(aws_prod):
    keys = aws_prod.of_type("aws:kms/key:Key")
    assert len(keys) == 7  # six purposes + the feature online store's (components/aws/cache.py)
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.protect
        policy = json.loads(key.inputs["policy"])
        assert lint_resource_policy(policy) == []
    ebs = json.loads(aws_prod.one("aws:kms/key:Key", "mlp-aws-kms-ebs").inputs["policy"])
    principals = {s["Principal"]["AWS"] for s in ebs["Statement"]}
    assert any(p.endswith("AWSServiceRoleForAutoScaling") for p in principals)
    logs = json.loads(aws_prod.one("aws:kms/key:Key", "mlp-aws-kms-logs").inputs["policy"])
    assert any(s["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"} for s in logs["Statement"])


# -- EKS -------------------------------------------------------------------------------------------


def test_eks_cluster_security_defaults(aws_dev, aws_prod):
    for syn in (aws_dev, aws_prod):
        c = syn.one("aws:eks/cluster:Cluster").inputs
        assert c["version"] == "1.35"
        assert c["encryptionConfig"]["resources"] == ["secrets"]
        assert c["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws:kms:")
        assert set(c["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
        assert c["accessConfig"]["authenticationMode"] == "API"
        assert c["upgradePolicy"] == {"supportType": "STANDARD"}
        assert c["bootstrapSelfManagedAddons"] is False
        assert c["vpcConfig"]["endpointPrivateAccess"] is True
        group = syn.one("aws:cloudwatch/logGroup:LogGroup", "mlp-aws-eks-control-plane").inputs
        assert group["name"] == f"/aws/eks/{c['name']}/cluster" and group["kmsKeyId"]
        addons = {a.inputs["addonName"]: a.inputs for a in syn.of_type("aws:eks/addon:Addon")}
        assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver", "metrics-server"}
        assert addons["vpc-cni"]["serviceAccountRoleArn"].startswith("arn:aws:iam::")
        assert addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"].startswith("arn:aws:iam::")
        oidc = syn.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs
        assert oidc["clientIdLists"] == ["sts.amazonaws.com"] and oidc["url"].startswith("https://oidc.eks.")


def test_eks_endpoint_and_protection_differ_by_environment(aws_dev, aws_prod):
    dev = aws_dev.one("aws:eks/cluster:Cluster")
    assert dev.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert dev.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert dev.inputs["deletionProtection"] is False and not dev.protect
    prod = aws_prod.one("aws:eks/cluster:Cluster")
    assert prod.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in prod.inputs["vpcConfig"]
    assert prod.inputs["deletionProtection"] is True and prod.protect
    assert prod.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    entries = {e.inputs["principalArn"] for e in aws_prod.of_type("aws:eks/accessEntry:AccessEntry")}
    assert entries == {"arn:aws:iam::123456789012:role/platform-admins", "arn:aws:iam::123456789012:role/platform-ci"}
    for assoc in aws_prod.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
        assert assoc.inputs["accessScope"] == {"type": "cluster"}


def test_system_node_group_is_tainted_on_demand(aws_prod):
    system = next(
        r.inputs for r in aws_prod.of_type(NODE_GROUP) if r.inputs["labels"] == {"ml-platform/role": "system"}
    )
    assert system["capacityType"] == "ON_DEMAND" and system["amiType"] == "AL2023_x86_64_STANDARD"
    assert system["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    assert system["scalingConfig"] == {"minSize": 3, "maxSize": 6, "desiredSize": 3}


def test_kubeconfig_uses_exec_auth_and_is_secret(aws_dev):
    assert aws_dev.outputs["kubeconfig"] == SECRET
    provider = aws_dev.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == SECRET  # never in plain text in state or plans

    from components.aws.cluster import kubeconfig

    doc = json.loads(kubeconfig("c", "https://x", "Y2E=", "us-west-2"))
    exec_ = doc["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws" and exec_["args"][:4] == ["eks", "get-token", "--cluster-name", "c"]
    assert "token" not in json.dumps(doc["users"][0]["user"]).replace("get-token", "")


# -- GPU pools -------------------------------------------------------------------------------------


def test_gpu_pool_taint_labels_ami_and_machine(aws_prod):
    pools = gpu_node_groups(aws_prod)
    assert set(pools) == {"h100-train", "l4-serve"}
    h100 = pools["h100-train"]
    assert h100["instanceTypes"] == ["p5.48xlarge"]
    assert h100["amiType"] == "AL2023_x86_64_NVIDIA"
    assert h100["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert h100["labels"] == {
        "ml-platform/pool": "h100-train",
        "ml-platform/accelerator": "nvidia-h100-80gb",
        "ml-platform/capacity": "reserved",
        "ml-platform/purpose": "training",
    }
    assert h100["capacityType"] == "ON_DEMAND"  # reservation targeted through the launch template
    assert h100["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 0}
    assert pools["l4-serve"]["instanceTypes"] == ["g6.xlarge"]
    assert "remoteAccess" not in h100  # no SSH
    assert h100["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"


def test_gpu_pool_desired_size_is_left_to_the_autoscaler(aws_prod):
    for record in aws_prod.of_type(NODE_GROUP):
        assert "scalingConfig.desiredSize" in record.ignore_changes


def test_gpu_launch_template_hardening(aws_prod):
    templates = {r.name: r.inputs for r in aws_prod.of_type(LAUNCH_TEMPLATE)}
    h100 = templates["mlp-aws-gpu-h100-train"]
    meta = h100["metadataOptions"]
    assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] == 1
    (disk,) = h100["blockDeviceMappings"]
    assert disk["deviceName"] == "/dev/xvda"
    assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volumeType"] == "gp3"
    assert disk["ebs"]["volumeSize"] == 500 and disk["ebs"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert "keyName" not in h100
    target = h100["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target == {"capacityReservationId": "cr-0a1b2c3d4e5f67890"}
    assert "capacityReservationSpecification" not in templates["mlp-aws-gpu-l4-serve"]
    for lt in templates.values():
        assert lt["metadataOptions"]["httpTokens"] == "required"


def test_dev_pool_is_spot_from_zero(aws_dev):
    l4 = gpu_node_groups(aws_dev)["l4"]
    assert l4["capacityType"] == "SPOT" and l4["scalingConfig"]["minSize"] == 0
    assert l4["labels"]["ml-platform/capacity"] == "spot"


def test_autoscaler_scale_from_zero_tags_on_the_asg(aws_prod):
    tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
        for t in aws_prod.of_type("aws:autoscaling/tag:Tag")
        if t.name.startswith("mlp-aws-gpu-h100-train")
    }
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags[f"{prefix}/resources/nvidia.com/gpu"] == "8"
    assert tags[f"{prefix}/taint/nvidia.com/gpu"] == "present:NoSchedule"
    assert tags[f"{prefix}/label/ml-platform/accelerator"] == "nvidia-h100-80gb"
    assert all(t.inputs["autoscalingGroupName"].startswith("eks-") for t in aws_prod.of_type("aws:autoscaling/tag:Tag"))


def test_bottlerocket_option_uses_its_ami_and_both_volumes_under_the_ebs_key():
    """Bottlerocket boots from a small OS volume (/dev/xvda) and keeps images and containers on a data
    volume (/dev/xvdb): both are mapped, so neither comes from the AMI's snapshot under another key."""
    p = raw_platform("aws-dev")
    p["gpuPools"][0]["nodeImage"] = "bottlerocket"
    syn = synth_platform(p)
    assert gpu_node_groups(syn)["l4"]["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    lt = syn.one(LAUNCH_TEMPLATE, "mlp-aws-gpu-l4").inputs
    volumes = {m["deviceName"]: m["ebs"] for m in lt["blockDeviceMappings"]}
    assert set(volumes) == {"/dev/xvda", "/dev/xvdb"}
    assert volumes["/dev/xvdb"]["volumeSize"] == 200 and volumes["/dev/xvda"]["volumeSize"] == 4
    ebs_key = syn.one("aws:kms/key:Key", "mlp-aws-kms-ebs")
    key_arn = f"arn:aws:kms:us-west-2:123456789012:key/{_uuid(ebs_key.name)}"
    assert all(v["encrypted"] == "true" and v["kmsKeyId"] == key_arn for v in volumes.values())


# -- buckets ---------------------------------------------------------------------------------------


def _by_bucket(syn: Synthesis, token: str) -> dict[str, dict[str, Any]]:
    return {r.name.removeprefix("mlp-aws-buckets-"): r.inputs for r in syn.of_type(token)}


def test_buckets_secure_defaults(aws_prod):
    buckets = _by_bucket(aws_prod, "aws:s3/bucket:Bucket")
    assert set(buckets) == {"datasets", "artifacts", "models", "logs", "s3-access"}
    for name, pab in _by_bucket(aws_prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").items():
        assert all(
            pab[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        ), name
    for own in _by_bucket(aws_prod, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").values():
        assert own["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    sse = _by_bucket(aws_prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    for name, cfg in sse.items():
        rule = cfg["rules"][0]
        algo = rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
        if name == "s3-access":  # S3 server access logs cannot be delivered to an SSE-KMS bucket
            assert algo == "AES256"
        else:
            assert algo == "aws:kms" and rule["bucketKeyEnabled"] is True
            assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:")
    for ver in _by_bucket(aws_prod, "aws:s3/bucketVersioning:BucketVersioning").values():
        assert ver["versioningConfiguration"]["status"] == "Enabled"
    logging = _by_bucket(aws_prod, "aws:s3/bucketLogging:BucketLogging")
    assert set(logging) == {"datasets", "artifacts", "models", "logs"}
    assert {v["targetBucket"] for v in logging.values()} == {buckets["s3-access"]["bucket"]}
    lifecycle = _by_bucket(aws_prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    models = {r["id"]: r for r in lifecycle["models"]["rules"]}
    assert models["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 180
    assert models["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert {r["id"]: r for r in lifecycle["logs"]["rules"]}["expire-objects"]["expiration"]["days"] == 365


def test_bucket_policies_deny_plain_http(aws_prod):
    for name, inputs in _by_bucket(aws_prod, "aws:s3/bucketPolicy:BucketPolicy").items():
        policy = json.loads(inputs["policy"])
        assert lint_resource_policy(policy) == [], name
        deny = next(s for s in policy["Statement"] if s["Sid"] == "DenyInsecureTransport")
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        if name == "s3-access":
            assert [s["Principal"] for s in allows] == [{"Service": "logging.s3.amazonaws.com"}] * 4
        else:
            assert allows == []


def test_buckets_protected_in_prod_and_disposable_in_dev(aws_dev, aws_prod):
    for r in aws_prod.of_type("aws:s3/bucket:Bucket"):
        assert r.protect and r.inputs["forceDestroy"] is False
    for r in aws_dev.of_type("aws:s3/bucket:Bucket"):
        assert not r.protect and r.inputs["forceDestroy"] is True


# -- registry and database -------------------------------------------------------------------------


def test_ecr_repositories(aws_prod):
    repos = aws_prod.of_type("aws:ecr/repository:Repository")
    assert {r.inputs["name"] for r in repos} == {
        "mlp-aws-prod/training",
        "mlp-aws-prod/serving",
        "mlp-aws-prod/pipelines",
    }
    for r in repos:
        assert r.inputs["imageTagMutability"] == "IMMUTABLE"
        assert r.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert r.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
        assert r.protect
    policies = {
        p.name: json.loads(p.inputs["policy"]) for p in aws_prod.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    }
    serving = policies["mlp-aws-ecr-serving"]["rules"]
    assert serving[1]["selection"]["countNumber"] == 200
    assert serving[0]["selection"]["tagStatus"] == "untagged"


def test_database_private_encrypted_and_environment_aware(aws_dev, aws_prod):
    dev = aws_dev.one("aws:rds/instance:Instance")
    prod = aws_prod.one("aws:rds/instance:Instance")
    for db in (dev.inputs, prod.inputs):
        assert db["publiclyAccessible"] is False and db["storageEncrypted"] is True
        assert db["kmsKeyId"].startswith("arn:aws:kms:")
        assert db["manageMasterUserPassword"] is True and "password" not in db
        assert db["iamDatabaseAuthenticationEnabled"] is True
        assert db["engine"] == "postgres"
    assert dev.inputs["multiAz"] is False and dev.inputs["deletionProtection"] is False
    assert dev.inputs["skipFinalSnapshot"] is True and dev.inputs["backupRetentionPeriod"] == 7
    assert prod.inputs["multiAz"] is True and prod.inputs["deletionProtection"] is True and prod.protect
    assert prod.inputs["skipFinalSnapshot"] is False and prod.inputs["finalSnapshotIdentifier"]
    assert prod.inputs["backupRetentionPeriod"] == 14 and prod.inputs["instanceClass"] == "db.m7g.large"
    params = {p["name"]: p["value"] for p in aws_prod.one("aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]}
    assert params["rds.force_ssl"] == "1"
    rule = aws_prod.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "mlp-aws-db-from-cluster").inputs
    cluster_sg = aws_prod.one("aws:eks/cluster:Cluster")
    assert cluster_sg.name == "mlp-aws-eks"
    assert rule["referencedSecurityGroupId"].startswith("sg-") and "cidrIpv4" not in rule
    assert rule["fromPort"] == rule["toPort"] == 5432


# -- tags and IAM across the whole graph -----------------------------------------------------------


def _taggable(token: str) -> bool:
    if not token.startswith("aws:") or token.startswith("aws:index"):
        return False
    module, cls = token.split(":")[1].split("/", maxsplit=1)[0], token.rsplit(":", 1)[1]
    resource = getattr(importlib.import_module(f"pulumi_aws.{module}"), cls)
    return hasattr(resource, "tags")


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_every_taggable_resource_carries_the_convention_tags(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    checked = 0
    for r in syn.custom_resources:
        if _taggable(r.type):
            checked += 1
            tags = r.inputs.get("tags", {})
            missing = [k for k in REQUIRED_TAGS if k not in tags]
            assert not missing, f"{r.type} {r.name} lacks {missing}"
            assert tags["ml-platform/stack"] == stack and tags["cost-center"]
    assert checked > 40


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_every_iam_document_is_valid_and_least_privilege(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    for role in syn.of_type("aws:iam/role:Role"):
        trust = json.loads(role.inputs["assumeRolePolicy"])
        assert lint_resource_policy(trust) == [], role.name
    inline = syn.of_type("aws:iam/rolePolicy:RolePolicy")
    assert inline
    for policy in inline:
        assert lint_identity_policy(json.loads(policy.inputs["policy"])) == [], policy.name


def test_irsa_roles_trust_exactly_one_service_account(aws_dev):
    roles = {r.name: json.loads(r.inputs["assumeRolePolicy"]) for r in aws_dev.of_type("aws:iam/role:Role")}
    stmt = roles["mlp-aws-eks-ebs-csi"]["Statement"][0]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"]["Federated"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2")
    (cond,) = stmt["Condition"].values()
    subs = {k.rsplit(":", 1)[1]: v for k, v in cond.items()}
    assert subs == {"sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa", "aud": "sts.amazonaws.com"}


# -- workload identity -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identity_stack() -> Synthesis:
    """aws-dev plus three bindings, made through the cloud-neutral `Foundation.bind_identity`."""
    platform = raw_platform("aws-dev")
    spec = parse_platform(platform, "stacks/Pulumi.aws-dev.yaml")
    errors: list[str] = []

    def program() -> None:
        ctx = PlatformContext(spec=spec, stack="aws-dev")
        f = MlPlatform("mlp", ctx).foundation
        f.bind_identity(
            "research",
            "trainer",
            IdentityAccess(
                buckets=(
                    BucketAccess("datasets", "research", "read"),
                    BucketAccess("models", "research/", "read-write"),
                ),
            ),
        )
        f.bind_identity("serving", "predictor", IdentityAccess(buckets=(BucketAccess("models"),), registry_pull=True))
        f.bind_identity("batch", "nothing", IdentityAccess(registry_pull=False))
        try:
            f.bind_identity("x", "y", IdentityAccess(buckets=(BucketAccess("secrets"),)))
        except ValueError as exc:
            errors.append(str(exc))
        binding = f.bind_identity("research", "notebook", IdentityAccess())
        pulumi.export("annotations", binding.annotations)

    syn = synthesize("aws-dev", spec, {CONFIG_KEY: platform}, program=program)
    syn.outputs["errors"] = errors
    return syn


def _role_and_policy(syn: Synthesis, ns: str, sa: str) -> tuple[dict, dict | None]:
    role = syn.one("aws:iam/role:Role", f"wi-{ns}-{sa}")
    policies = [p for p in syn.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == f"wi-{ns}-{sa}-access"]
    return json.loads(role.inputs["assumeRolePolicy"]), (json.loads(policies[0].inputs["policy"]) if policies else None)


def test_bind_identity_trust_is_scoped_to_the_service_account(identity_stack):
    trust, _ = _role_and_policy(identity_stack, "research", "trainer")
    (cond,) = trust["Statement"][0]["Condition"].values()
    assert sorted(cond.values()) == ["sts.amazonaws.com", "system:serviceaccount:research:trainer"]
    arn = identity_stack.outputs["annotations"]["eks.amazonaws.com/role-arn"]
    assert arn.startswith("arn:aws:iam::123456789012:role/wi-research-notebook")
    assert list(identity_stack.outputs["annotations"]) == ["eks.amazonaws.com/role-arn"]


def test_bind_identity_grants_only_the_named_prefixes(identity_stack):
    _, policy = _role_and_policy(identity_stack, "research", "trainer")
    assert policy is not None and lint_identity_policy(policy) == []
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    assert stmts["Objects0"]["Resource"] == ["arn:aws:s3:::mlp-aws-dev-datasets-123456789012/research/*"]
    assert "s3:PutObject" not in stmts["Objects0"]["Action"]  # read
    assert stmts["Objects1"]["Resource"] == ["arn:aws:s3:::mlp-aws-dev-models-123456789012/research/*"]
    assert "s3:PutObject" in stmts["Objects1"]["Action"]  # read-write
    assert stmts["List0"]["Condition"] == {"StringLike": {"s3:prefix": ["research", "research/*"]}}
    assert stmts["StorageKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    }
    assert "kms:GenerateDataKey" in stmts["StorageKeyThroughS3"]["Action"]
    every_resource = [res for s in policy["Statement"] for res in s["Resource"]]
    assert all(
        "datasets" in r or "models" in r or r.startswith(("arn:aws:kms", "arn:aws:ecr")) or r == "*"
        for r in every_resource
    )
    assert [s["Action"] for s in policy["Statement"] if s["Resource"] == ["*"]] == [["ecr:GetAuthorizationToken"]]


def test_bind_identity_whole_bucket_read_and_registry(identity_stack):
    _, policy = _role_and_policy(identity_stack, "serving", "predictor")
    assert policy is not None
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    assert stmts["Objects0"]["Resource"] == ["arn:aws:s3:::mlp-aws-dev-models-123456789012/*"]
    assert "Condition" not in stmts["List0"]
    assert sorted(stmts["PullPlatformImages"]["Resource"]) == [
        "arn:aws:ecr:us-west-2:123456789012:repository/mlp-aws-dev/serving",
        "arn:aws:ecr:us-west-2:123456789012:repository/mlp-aws-dev/training",
    ]
    assert "kms:GenerateDataKey" not in stmts["StorageKeyThroughS3"]["Action"]


def test_bind_identity_without_access_has_no_policy_and_unknown_bucket_fails(identity_stack):
    _, policy = _role_and_policy(identity_stack, "batch", "nothing")
    assert policy is None
    assert identity_stack.outputs["errors"] == [
        "bind_identity: unknown bucket 'secrets' (buckets: datasets, artifacts, models, logs)"
    ]


# -- stack outputs ---------------------------------------------------------------------------------


def test_exports(aws_prod):
    out = aws_prod.outputs
    assert out["clusterName"] == "mlp-aws-prod"
    assert out["buckets"]["models"] == "mlp-aws-prod-models-123456789012"
    assert out["registryUrls"]["training"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-aws-prod/training"
    assert out["databaseEndpoint"].endswith(".us-east-1.rds.amazonaws.com:5432")
    assert out["databaseSecret"].startswith("arn:aws:secretsmanager:us-east-1:")
    assert [p["machineType"] for p in out["gpuPools"]] == ["p5.48xlarge", "g6.xlarge"]


def test_reserved_pool_is_pinned_to_its_zone(aws_prod):
    pools = gpu_node_groups(aws_prod)
    private = {
        s.inputs["availabilityZone"]: s
        for s in aws_prod.of_type("aws:ec2/subnet:Subnet")
        if "kubernetes.io/role/internal-elb" in s.inputs["tags"]
    }
    assert len(pools["h100-train"]["subnetIds"]) == 1
    assert len(pools["l4-serve"]["subnetIds"]) == 3
    # The mocked subnet id is derived from the subnet's type and name, as infra/mocks.py does.
    zone_of = {f"subnet-{_hex(s.type + s.name, 17)}": zone for zone, s in private.items()}
    assert [zone_of[s] for s in pools["h100-train"]["subnetIds"]] == ["us-east-1a"]


def test_pool_zone_not_in_the_network_is_a_clear_error():
    p = raw_platform("aws-dev")
    p["gpuPools"][0]["zones"] = ["us-west-2d"]  # a zone of the region, but the network uses a and b
    with pytest.raises(pulumi.RunError, match=r"gpuPools 'l4': zones us-west-2d are not zones of the network"):
        synth_platform(p)


@pytest.fixture
def unavailable(monkeypatch):
    """Tell the mocked EC2/Compute Engine lookups that a machine type is missing in some zones."""
    from infra.mocks import PlatformMocks

    table: dict[str, set[str]] = {}
    monkeypatch.setattr(PlatformMocks, "unavailable", table)
    return table


def test_pool_uses_only_zones_that_offer_its_machine(unavailable):
    unavailable["g6.xlarge"] = {"us-west-2b"}
    syn = synth_platform(raw_platform("aws-dev"))
    (subnet,) = gpu_node_groups(syn)["l4"]["subnetIds"]
    zone_a = syn.one("aws:ec2/subnet:Subnet", "mlp-aws-network-private-us-west-2a")
    assert subnet == f"subnet-{_hex(zone_a.type + zone_a.name, 17)}"


def test_machine_offered_in_no_zone_is_a_clear_error(unavailable):
    unavailable["g6.xlarge"] = {"us-west-2a", "us-west-2b"}
    with pytest.raises(pulumi.RunError, match=r"gpuPools 'l4': nvidia-l4 \(g6.xlarge\) is not offered in us-west-2a, "):
        synth_platform(raw_platform("aws-dev"))
