"""The AWS feature online store (components/aws/cache.py) under Pulumi mocks: ElastiCache for Valkey in
the private subnets, reachable from the cluster only, TLS required, encrypted at rest with the cache
key, the AUTH token generated once and kept in Secrets Manager, failover in prod, priced in the cost
estimate, and absent when the feature store is off. Inputs are read in engine form (camelCase)."""

from __future__ import annotations

import json
import string
from typing import Any

import pulumi
import pytest

from components.aws import AwsFoundation
from components.aws.cache import replication_group_id
from components.context import PlatformContext
from components.foundation import IdentityAccess
from infra.config import CONFIG_KEY, parse_platform
from infra.cost import estimate
from infra.mocks import _hex, _uuid
from infra.synth import SECRET, Synthesis, synthesize

from .conftest import raw_platform
from .iam_lint import lint_identity_policy, lint_resource_policy

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SUBNET_GROUP = "aws:elasticache/subnetGroup:SubnetGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECRET_TYPE = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _id(token: str, name: str, prefix: str) -> str:
    """The id the mocks give a resource with a typed id prefix (infra/mocks.py)."""
    return f"{prefix}-{_hex(token + name, 17)}"


def _key_arn(syn: Synthesis, purpose: str) -> str:
    return f"arn:aws:kms:{syn.spec.region}:123456789012:key/{_uuid(f'mlp-aws-kms-{purpose}')}"


def _foundation_only(platform: dict[str, Any], stack: str, bind: bool) -> tuple[Synthesis, dict[str, Any]]:
    """The AWS foundation alone (no Kubernetes layer), with what its program saw: the online store's
    token, auth token and secret value, its `OnlineStoreRef`, and (`bind`) a pipeline identity that
    may read the online store's secret (else the database's)."""
    spec = parse_platform(platform, f"stacks/Pulumi.{stack}.yaml")
    seen: dict[str, Any] = {}

    def program() -> None:
        f = AwsFoundation("mlp-aws", PlatformContext(spec=spec, stack=stack))
        seen["online_store"] = f.online_store
        if f.cache is not None:
            c = f.cache
            pulumi.Output.all(c.token.result, c.replication_group.auth_token, c.secret_version.secret_string).apply(
                lambda v: seen.update(token=v[0], auth_token=v[1], secret_string=v[2])
            )
            pulumi.Output.all(c.replication_group.auth_token.is_secret(), c.secret.arn).apply(
                lambda v: seen.update(auth_token_secret=v[0], secret_arn=v[1])
            )
        if f.online_store is not None:
            ref = f.online_store
            pulumi.Output.all(ref.host, ref.port, ref.auth_secret).apply(
                lambda v: seen.update(host=v[0], port=v[1], auth_secret=v[2])
            )
        if bind:
            secret = f.online_store.auth_secret if f.online_store else f.database.password_secret
            f.bind_identity("research", "pipeline", IdentityAccess(secrets=(secret,), registry_pull=False))

    syn = synthesize(stack, spec, {CONFIG_KEY: platform}, program=program)
    return syn, seen


@pytest.fixture(scope="module")
def dev_foundation() -> tuple[Synthesis, dict[str, Any]]:
    return _foundation_only(raw_platform("aws-dev"), "aws-dev", bind=True)


@pytest.fixture(scope="module")
def disabled() -> tuple[Synthesis, dict[str, Any]]:
    platform = raw_platform("aws-dev")
    platform["featureStore"] = {"enabled": False}
    return _foundation_only(platform, "aws-dev", bind=True)


# -- network reach ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_cache_lives_in_the_private_subnets_only(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    subnets = syn.of_type("aws:ec2/subnet:Subnet")
    private = {_id(s.type, s.name, "subnet") for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]}
    public = {_id(s.type, s.name, "subnet") for s in subnets if "kubernetes.io/role/elb" in s.inputs["tags"]}
    group = syn.one(SUBNET_GROUP).inputs
    assert set(group["subnetIds"]) == private and not public & set(group["subnetIds"])
    rg = syn.one(GROUP).inputs
    assert rg["subnetGroupName"] == group["name"] == replication_group_id(f"mlp-{stack}")


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_only_the_cluster_security_group_reaches_6379(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    sg = syn.one(SG, "mlp-aws-online-store")
    sg_id = _id(SG, sg.name, "sg")
    assert "ingress" not in sg.inputs and "egress" not in sg.inputs  # rules are separate resources
    assert syn.one(GROUP).inputs["securityGroupIds"] == [sg_id]
    rules = [r.inputs for r in syn.of_type(INGRESS) if r.inputs["securityGroupId"] == sg_id]
    cluster = syn.one("aws:eks/cluster:Cluster")
    assert rules == [
        {
            "securityGroupId": sg_id,
            "referencedSecurityGroupId": f"sg-{_hex(cluster.name + 'cluster', 17)}",  # the EKS cluster SG
            "ipProtocol": "tcp",
            "fromPort": 6379,
            "toPort": 6379,
            "description": "Valkey (TLS) from cluster nodes and pods",
            "tags": rules[0]["tags"],
        }
    ]
    legacy = [
        r
        for r in syn.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
        if r.inputs.get("securityGroupId") == sg_id
    ]
    assert legacy == []


# -- encryption and authentication --------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_tls_required_and_encrypted_at_rest_with_the_cache_key(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    rg = syn.one(GROUP).inputs
    assert rg["engine"] == "valkey" and rg["engineVersion"] == "9.1" and rg["clusterMode"] == "disabled"
    assert rg["transitEncryptionEnabled"] is True and rg["transitEncryptionMode"] == "required"
    assert rg["atRestEncryptionEnabled"] is True
    cache_key = _key_arn(syn, "cache")
    assert rg["kmsKeyId"] == cache_key != _key_arn(syn, "database")
    key = syn.one(KEY, "mlp-aws-kms-cache")
    assert key.inputs["enableKeyRotation"] is True and key.protect == (stack == "aws-prod")
    assert lint_resource_policy(json.loads(key.inputs["policy"])) == []
    assert rg["autoMinorVersionUpgrade"] is True and rg["port"] == 6379


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_auth_token_is_a_secret_kept_in_secrets_manager(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    rg = syn.one(GROUP).inputs
    assert rg["authToken"] == SECRET and rg["authTokenUpdateStrategy"] == "ROTATE"
    (password,) = syn.of_type(PASSWORD)
    assert password.inputs["length"] == 64 and password.inputs["special"] is False
    secret = syn.one(SECRET_TYPE, "mlp-aws-online-store").inputs
    assert secret["kmsKeyId"] == _key_arn(syn, "cache")
    assert secret["namePrefix"] == f"mlp-{stack}/online-store-"
    (version,) = syn.of_type(SECRET_VERSION)
    assert version.inputs["secretString"] == SECRET and version.inputs["secretId"].startswith(
        f"arn:aws:secretsmanager:{syn.spec.region}:123456789012:secret:mlp-{stack}/online-store-"
    )


def test_the_generated_token_is_the_auth_token_and_the_secret_value(dev_foundation):
    _, seen = dev_foundation
    token = seen["token"]
    assert len(token) == 64 and set(token) <= set(string.ascii_letters + string.digits)
    assert seen["auth_token"] == token and seen["auth_token_secret"] is True
    assert json.loads(seen["secret_string"]) == {"password": token}


def test_online_store_ref(dev_foundation):
    _, seen = dev_foundation
    ref = seen["online_store"]
    assert ref.tls is True and ref.auth_secret_property == "password" and ref.ca_certificate is None
    assert seen["host"].startswith("master.mlp-aws-dev-features.") and seen["host"].endswith(
        ".usw2.cache.amazonaws.com"
    )
    assert seen["port"] == 6379
    assert seen["auth_secret"] == seen["secret_arn"]
    assert seen["auth_secret"].startswith("arn:aws:secretsmanager:us-west-2:123456789012:secret:mlp-aws-dev/")


# -- environments -------------------------------------------------------------------------------------


def test_prod_fails_over_across_zones_and_dev_is_one_node(aws_dev, aws_prod):
    prod, dev = aws_prod.one(GROUP), aws_dev.one(GROUP)
    assert prod.inputs["numCacheClusters"] == 2 and prod.inputs["nodeType"] == "cache.r7g.large"
    assert prod.inputs["automaticFailoverEnabled"] is True and prod.inputs["multiAzEnabled"] is True
    assert prod.inputs["snapshotRetentionLimit"] == 7 and prod.inputs["applyImmediately"] is False
    assert prod.inputs["finalSnapshotIdentifier"] == "mlp-aws-prod-features-final" and prod.protect
    assert dev.inputs["numCacheClusters"] == 1 and dev.inputs["nodeType"] == "cache.t4g.small"
    assert dev.inputs["automaticFailoverEnabled"] is False and dev.inputs["multiAzEnabled"] is False
    assert dev.inputs["snapshotRetentionLimit"] == 1 and dev.inputs["applyImmediately"] is True
    assert "finalSnapshotIdentifier" not in dev.inputs and not dev.protect


def _minutes(window: str) -> set[int]:
    """Minutes of the week a window covers: `sun:04:30-sun:05:30`, or `03:00-04:00` every day."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    def parse(point: str, day: int) -> int:
        *d, h, m = point.split(":")
        return (days.index(d[0]) if d else day) * 1440 + int(h) * 60 + int(m)

    start, end = window.split("-")
    daily = start.count(":") == 1
    covered: set[int] = set()
    for day in range(7) if daily else [0]:
        a, b = parse(start, day), parse(end, day)
        covered |= {t % 10080 for t in range(a, b if b > a else b + (1440 if daily else 10080))}
    return covered


def test_maintenance_and_snapshot_windows_do_not_overlap_the_database(aws_prod):
    db, rg = aws_prod.one("aws:rds/instance:Instance").inputs, aws_prod.one(GROUP).inputs
    windows = {
        "db backup": db["backupWindow"],
        "db maintenance": db["maintenanceWindow"],
        "cache snapshot": rg["snapshotWindow"],
        "cache maintenance": rg["maintenanceWindow"],
    }
    covered = {name: _minutes(w) for name, w in windows.items()}
    names = list(covered)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not covered[a] & covered[b], f"{a} overlaps {b}"
    assert all(len(c) >= 60 for c in covered.values())


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_slow_and_engine_logs_go_to_an_encrypted_log_group(stack, aws_dev, aws_prod):
    syn = {"aws-dev": aws_dev, "aws-prod": aws_prod}[stack]
    group = syn.one(LOG_GROUP, "mlp-aws-online-store").inputs
    assert group["name"] == f"/aws/elasticache/mlp-{stack}/online-store"
    assert group["kmsKeyId"] == _key_arn(syn, "logs")
    assert group["retentionInDays"] == syn.spec.cluster.log_retention_days
    deliveries = syn.one(GROUP).inputs["logDeliveryConfigurations"]
    assert sorted(d["logType"] for d in deliveries) == ["engine-log", "slow-log"]
    assert all(d["destination"] == group["name"] and d["destinationType"] == "cloudwatch-logs" for d in deliveries)


# -- feature store off --------------------------------------------------------------------------------


def test_feature_store_off_creates_no_cache(disabled):
    syn, seen = disabled
    assert seen["online_store"] is None
    for token in (GROUP, SUBNET_GROUP, SECRET_TYPE, SECRET_VERSION, PASSWORD):
        assert syn.of_type(token) == [], token
    assert [r for r in syn.of_type(SG) if r.name == "mlp-aws-online-store"] == []
    assert len(syn.of_type(KEY)) == 6 and not [k for k in syn.of_type(KEY) if k.name.endswith("-cache")]
    assert "online-store" not in {i.kind for i in estimate(syn).items}


# -- cost ---------------------------------------------------------------------------------------------


def test_cost_estimate_prices_every_cache_node(aws_dev, aws_prod):
    (prod,) = [i for i in estimate(aws_prod).items if i.kind == "online-store"]
    (dev,) = [i for i in estimate(aws_dev).items if i.kind == "online-store"]
    assert prod.hourly_min == prod.hourly_max == pytest.approx(2 * 0.1752)
    assert "cache.r7g.large x 2" in prod.detail and "multi-AZ" in prod.detail
    assert dev.hourly_min == pytest.approx(0.0256) and "cache.t4g.small x 1" in dev.detail


# -- workload identity --------------------------------------------------------------------------------


def _policy(syn: Synthesis) -> dict[str, Any]:
    (policy,) = [
        json.loads(p.inputs["policy"]) for p in syn.of_type(ROLE_POLICY) if p.name == "wi-research-pipeline-access"
    ]
    assert lint_identity_policy(policy) == []
    return {s["Sid"]: s for s in policy["Statement"]}


def test_an_identity_granted_the_cache_secret_can_decrypt_exactly_it(dev_foundation):
    syn, seen = dev_foundation
    stmts = _policy(syn)
    secret = seen["secret_arn"]
    assert stmts["ReadSecrets"]["Resource"] == [secret]
    decrypt = stmts["SecretKeyThroughSecretsManager"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert _key_arn(syn, "cache") in decrypt["Resource"]
    assert decrypt["Condition"]["StringEquals"] == {
        "kms:ViaService": "secretsmanager.us-west-2.amazonaws.com",
        "kms:EncryptionContext:SecretARN": [secret],
    }


def test_without_the_cache_the_secret_key_is_the_database_key_only(disabled):
    syn, _ = disabled
    assert _policy(syn)["SecretKeyThroughSecretsManager"]["Resource"] == [_key_arn(syn, "database")]


def test_replication_group_id_follows_elasticache_naming():
    for prefix in ("mlp-aws-dev", "a" * 40, "platform-with-a-long-name-aws-prod-euro", "x" * 30 + "-y"):
        rid = replication_group_id(prefix)
        assert len(rid) <= 40 and rid[0].isalpha() and "--" not in rid and not rid.endswith("-")
        assert rid == rid.lower() and rid.endswith("-features")
