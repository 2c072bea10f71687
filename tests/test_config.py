"""The stack configuration: defaults per environment and every class of user error."""

from __future__ import annotations

import pytest

from infra.config import Capacity, ConfigError, load_stack_file, parse_platform

from .conftest import raw_platform, write_stack

SRC = "stacks/Pulumi.x.yaml"


def error_of(platform: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_platform(platform, SRC)
    text = str(exc.value)
    assert "\n" not in text, "a config error must be one line"
    assert text.startswith(f"{SRC}: ")
    return text


def test_unknown_accelerator_names_the_key_path_and_known_ones():
    p = raw_platform("aws-prod")
    p["gpuPools"][1]["accelerator"] = "nvidia-h1000"
    assert error_of(p) == (
        f"{SRC}: platform.gpuPools[1].accelerator: unknown accelerator 'nvidia-h1000' (known: nvidia-a100-40gb, "
        "nvidia-a100-80gb, nvidia-a10g, nvidia-h100-80gb, nvidia-h200-141gb, nvidia-l4, nvidia-l40s, nvidia-t4)"
    )


def test_accelerator_not_offered_on_the_cloud():
    p = raw_platform("aws-dev")
    p.update(cloud="gcp", region="us-central1", project="my-proj")
    p["governance"]["allowedRegions"] = ["us-central1"]
    p["systemPool"].pop("machineType")
    p["cluster"]["adminPrincipals"] = ["group:admins@example.com"]
    p["gpuPools"][0]["accelerator"] = "nvidia-a10g"
    p["teams"][0]["gpuQuota"] = {"nvidia-a10g": 1}
    text = error_of(p)
    assert "platform.gpuPools[0].accelerator: accelerator 'nvidia-a10g' is not offered on gcp" in text


def test_unknown_key_suggests_the_right_one():
    p = raw_platform("aws-dev")
    p["gpuPools"][0]["maxNode"] = 3
    assert "platform.gpuPools[0].maxNode: unknown key (did you mean 'maxNodes'?)" in error_of(p)


def test_unknown_top_level_key_lists_known_keys():
    p = raw_platform("aws-dev")
    p["zzz"] = 1
    text = error_of(p)
    assert "platform.zzz: unknown key (known: " in text and "gpuPools" in text


def test_wrong_type():
    p = raw_platform("aws-dev")
    p["gpuPools"][0]["maxNodes"] = "many"
    assert "platform.gpuPools[0].maxNodes: input should be a valid integer" in error_of(p)


def test_min_greater_than_max():
    p = raw_platform("aws-dev")
    p["gpuPools"][0].update(minNodes=3, maxNodes=2)
    assert "platform.gpuPools[0].minNodes: minNodes (3) is greater than maxNodes (2)" in error_of(p)


def test_duplicate_names():
    p = raw_platform("aws-prod")
    p["gpuPools"][1]["name"] = p["gpuPools"][0]["name"]
    assert "platform.gpuPools[1].name: duplicate name 'h100-train' (also gpuPools[0])" in error_of(p)


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.0/33", "platform.network.cidr: input is not a valid IPv4 network"),
        ("8.8.0.0/16", "platform.network.cidr: 8.8.0.0/16 is not a private (RFC 1918) range"),
        ("10.0.0.0/24", "platform.network.cidr: 10.0.0.0/24: the VPC needs a /16 to /20 range"),
    ],
)
def test_bad_cidrs(cidr, message):
    p = raw_platform("aws-dev")
    p["network"]["cidr"] = cidr
    assert message in error_of(p)


def test_world_open_api_endpoint_is_refused():
    p = raw_platform("aws-dev")
    p["cluster"]["allowedCidrs"] = ["0.0.0.0/0"]
    assert "platform.cluster.allowedCidrs: 0.0.0.0/0 opens the Kubernetes API" in error_of(p)


def test_public_endpoint_needs_cidrs():
    p = raw_platform("aws-dev")
    p["cluster"]["allowedCidrs"] = []
    assert "platform.cluster.allowedCidrs: a public endpoint must be limited to CIDRs" in error_of(p)


def test_gpu_count_not_offered():
    p = raw_platform("aws-dev")
    p["gpuPools"][0]["gpusPerNode"] = 3
    text = error_of(p)
    assert "platform.gpuPools[0].gpusPerNode:" in text and "1, 4, 8" in text


def test_reserved_capacity_needs_a_reservation():
    p = raw_platform("aws-prod")
    del p["gpuPools"][0]["reservationId"]
    assert "platform.gpuPools[0].reservationId: capacity 'reserved' needs the reservation id" in error_of(p)
    p = raw_platform("aws-prod")
    p["gpuPools"][0]["reservationId"] = "my-reservation"
    assert "is not an EC2 capacity reservation id" in error_of(p)


def test_region_outside_allowed_regions():
    p = raw_platform("aws-dev")
    p["governance"]["allowedRegions"] = ["eu-west-1"]
    assert "platform.region: 'us-west-2' is not in governance.allowedRegions (eu-west-1)" in error_of(p)


def test_team_quota_for_an_accelerator_without_pool():
    p = raw_platform("aws-dev")
    p["teams"][0]["gpuQuota"] = {"nvidia-h100-80gb": 8}
    assert "platform.teams[0].gpuQuota.nvidia-h100-80gb: no GPU pool in this stack" in error_of(p)


def test_unsupported_kubernetes_version():
    p = raw_platform("aws-dev")
    p["cluster"]["kubernetesVersion"] = "1.29"
    assert "platform.cluster.kubernetesVersion: '1.29' is not in standard support on aws" in error_of(p)


def test_missing_required_key():
    p = raw_platform("aws-dev")
    del p["governance"]["costCenter"]
    assert "platform.governance.costCenter: required key is missing" in error_of(p)


def test_several_errors_are_counted_on_the_one_line():
    p = raw_platform("aws-dev")
    p["gpuPools"][0].update(minNodes=3, maxNodes=2)
    p["cluster"]["kubernetesVersion"] = "1.20"
    assert "(and 1 more)" in error_of(p)


def test_dev_defaults():
    p = raw_platform("aws-dev")
    for key in ("nat", "azCount"):
        p["network"].pop(key, None)
    p["gpuPools"][0].pop("capacity")
    spec = parse_platform(p, SRC)
    assert spec.network.nat == "single" and spec.network.az_count == 2
    assert spec.network.interface_endpoints is False
    assert spec.gpu_pools[0].capacity is Capacity.spot
    assert spec.cluster.endpoint_access == "public-and-private"
    assert spec.database.multi_az is False and spec.database.backup_retention_days == 7
    assert [b.name for b in spec.buckets] == ["datasets", "artifacts", "models", "logs"]
    assert spec.bucket("logs").expiration_days == 365


def test_prod_defaults():
    p = raw_platform("aws-prod")
    for key in ("nat", "azCount", "interfaceEndpoints"):
        p["network"].pop(key, None)
    p["cluster"].pop("endpointAccess")
    p["gpuPools"][1].pop("capacity")
    spec = parse_platform(p, SRC)
    assert spec.network.nat == "per-az" and spec.network.az_count == 3
    assert spec.network.interface_endpoints is True
    assert spec.cluster.endpoint_access == "private"
    assert spec.gpu_pools[1].capacity is Capacity.on_demand
    assert spec.database.multi_az is True and spec.database.backup_retention_days == 14
    assert spec.bucket("models").noncurrent_version_days == 180  # the stack's own value wins


def test_stack_file_errors(tmp_path):
    missing = tmp_path / "Pulumi.none.yaml"
    with pytest.raises(ConfigError, match="no such stack file"):
        load_stack_file(missing)
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"line \d+: invalid YAML"):
        load_stack_file(bad)
    empty = write_stack(tmp_path, raw_platform("aws-dev"), "empty")
    empty.write_text("config: {}\n")
    with pytest.raises(ConfigError, match="missing the 'ml-platform:platform' key"):
        load_stack_file(empty)


def test_provider_region_must_match(tmp_path):
    path = write_stack(tmp_path, raw_platform("aws-dev"), extra={"aws:region": "eu-west-1"})
    with pytest.raises(ConfigError, match=r"aws:region: 'eu-west-1' differs from platform\.region 'us-west-2'"):
        load_stack_file(path)


def gcp_platform() -> dict:
    return raw_platform("gcp-prod")


def test_zone_outside_the_region():
    p = raw_platform("aws-prod")
    p["gpuPools"][0]["zones"] = ["us-west-2a"]
    assert "platform.gpuPools[0].zones[0]: 'us-west-2a' is not a zone of us-east-1" in error_of(p)
    g = gcp_platform()
    g["gpuPools"][0]["zones"] = ["us-east1-b"]
    assert "platform.gpuPools[0].zones[0]: 'us-east1-b' is not a zone of us-central1" in error_of(g)


def test_reserved_pool_needs_its_single_zone():
    for p, example in ((raw_platform("aws-prod"), "us-east-1a"), (gcp_platform(), "us-central1-a")):
        p["gpuPools"][0].pop("zones")
        assert (
            "platform.gpuPools[0].zones: a capacity reservation lives in one zone: give that zone, "
            f"e.g. zones: [{example}]" in error_of(p)
        )


def test_gcp_reservation_name_format():
    g = gcp_platform()
    g["gpuPools"][0]["reservationId"] = "cr-0a1b2c3d4e5f67890_X"
    assert (
        "platform.gpuPools[0].reservationId: 'cr-0a1b2c3d4e5f67890_X' is not a Compute Engine reservation"
        in error_of(g)
    )


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("network", "nat", "single"), ("network", "interfaceEndpoints", True), ("cluster", "creatorAdmin", False)],
)
def test_aws_only_keys_are_refused_on_gcp(section, key, value):
    g = gcp_platform()
    g[section][key] = value
    assert f"platform.{section}.{key}: is an AWS setting; GCP stacks do not take it" in error_of(g)


def test_gcp_admins_are_members_not_arns():
    g = gcp_platform()
    g["cluster"]["adminPrincipals"] = ["arn:aws:iam::123456789012:role/platform-admins"]
    assert (
        "platform.cluster.adminPrincipals[0]: 'arn:aws:iam::123456789012:role/platform-admins' is not a GCP member"
        in error_of(g)
    )


def test_gcp_stack_needs_a_project():
    g = gcp_platform()
    del g["project"]
    assert "platform.project: a GCP stack needs the project id" in error_of(g)


def test_owners_must_be_email_addresses():
    p = raw_platform("aws-dev")
    p["teams"][0]["owner"] = "research lead"
    assert "platform.teams[0].owner: 'research lead' is not an email address" in error_of(p)


def test_secondary_ranges_are_gcp_only_and_need_the_existing_network():
    p = raw_platform("aws-dev")
    p["network"] = {"existingVpcId": "vpc-1", "existingPrivateSubnetIds": ["a", "b"], "existingPodsRange": "pods"}
    assert "platform.network.existingPodsRange: is a GCP setting" in error_of(p)
    g = gcp_platform()
    g["network"]["existingServicesRange"] = "svc"
    assert "platform.network.existingVpcId: secondary range names were given without the existing network" in error_of(
        g
    )


def test_pool_zones_need_a_network_the_stack_creates_on_aws():
    p = raw_platform("aws-prod")
    p["network"] = {"existingVpcId": "vpc-1", "existingPrivateSubnetIds": ["subnet-a", "subnet-b"]}
    assert "platform.gpuPools[0].zones: an existing VPC's subnets are used as given" in error_of(p)
