"""The GCP online store of the feature platform (components/gcp/cache.py): Memorystore for Redis on
private services access only, AUTH and TLS on, encrypted with its own key, HA with persistence in prod,
its AUTH string copied into a Secret Manager secret that exactly the bound identities may read, and
priced in the cost estimate."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.context import REQUIRED_TAGS, _label
from components.foundation import IdentityAccess
from components.gcp import GcpFoundation
from components.gcp.cache import ca_bundle, instance_name
from infra.config import CONFIG_KEY, ConfigError, parse_platform
from infra.cost import estimate, memorystore_hourly
from infra.mocks import GCP_PROJECT_NUMBER
from infra.program import run
from infra.synth import Synthesis, synthesize

from .conftest import raw_platform, synth_platform, synth_stack

REDIS = "gcp:redis/instance:Instance"
SECRET = "gcp:secretmanager/secret:Secret"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
PSA = "gcp:servicenetworking/connection:Connection"
STORE = "ml-platform:gcp:OnlineStore"
REDIS_AGENT = f"serviceAccount:service-{GCP_PROJECT_NUMBER}@cloud-redis.iam.gserviceaccount.com"
NAMESPACE, ACCOUNT = "features-test", "reader"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_gcp")


def _with_reader() -> None:
    """The platform, plus one identity bound to read the online store's AUTH secret, and what a test
    needs to see of the `OnlineStoreRef` and of the secret's value."""
    f = run().foundation
    assert isinstance(f, GcpFoundation) and f.cache is not None
    store, cache = f.online_store, f.cache
    assert store is not None
    binding = f.bind_identity(NAMESPACE, ACCOUNT, IdentityAccess(secrets=(store.auth_secret,), registry_pull=False))
    same = pulumi.Output.all(cache.instance.auth_string, cache.version.secret_data).apply(
        lambda v: bool(v[0]) and v[0] == v[1]
    )
    pulumi.export("versionHoldsAuthString", pulumi.Output.unsecret(same))
    pulumi.export("authStringIsSecret", cache.version.secret_data.is_secret())
    pulumi.export(
        "store",
        {
            "host": store.host,
            "port": store.port,
            "authSecret": store.auth_secret,
            "property": store.auth_secret_property,
            "tls": store.tls,
            "ca": store.ca_certificate,
            "remoteRef": f.secret_remote_ref(store.auth_secret),
        },
    )
    pulumi.export("readerPrincipal", binding.principal)


@pytest.fixture(scope="module")
def dev() -> Synthesis:
    platform = raw_platform("gcp-dev")
    spec = parse_platform(platform, "stacks/Pulumi.gcp-dev.yaml")
    return synthesize("gcp-dev", spec, {CONFIG_KEY: platform}, program=_with_reader)


@pytest.fixture(scope="module")
def prod() -> Synthesis:
    return synth_stack("gcp-prod")


@pytest.fixture(scope="module", params=["dev", "prod"])
def syn(request: pytest.FixtureRequest) -> Synthesis:
    return request.getfixturevalue(request.param)


def _cache_key(syn: Synthesis) -> Any:
    return syn.one(KEY, f"{syn.spec.name}-gcp-kms-cache")


# --- network, authentication, encryption ----------------------------------------------------------


def test_reachable_only_through_private_services_access_on_the_platform_vpc(syn: Synthesis) -> None:
    i = syn.one(REDIS)
    assert i.inputs["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert i.inputs["authorizedNetwork"] == f"projects/{syn.spec.project}/global/networks/{syn.spec.name}-{syn.stack}"
    # The database's peering, created first: the instance takes its address from that range.
    connection = syn.one(PSA)
    assert connection.urn in i.dependencies
    assert i.inputs["authorizedNetwork"] == connection.inputs["network"]
    assert "reservedIpRange" not in i.inputs  # Memorystore allocates from the peered range


def test_auth_and_tls_are_on(syn: Synthesis) -> None:
    i = syn.one(REDIS).inputs
    assert i["authEnabled"] is True
    assert i["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert i["redisVersion"] == "REDIS_7_2"


def test_encrypted_with_its_own_key_that_only_the_memorystore_agent_uses(syn: Synthesis) -> None:
    i = syn.one(REDIS)
    key = _cache_key(syn)
    assert i.inputs["customerManagedKey"] == f"{key.inputs['keyRing']}/cryptoKeys/{key.inputs['name']}"
    grants = [g for g in syn.of_type(KEY_IAM) if g.inputs["cryptoKeyId"] == i.inputs["customerManagedKey"]]
    assert [(g.inputs["role"], g.inputs["member"]) for g in grants] == [
        ("roles/cloudkms.cryptoKeyEncrypterDecrypter", REDIS_AGENT)
    ]
    assert grants[0].urn in i.dependencies  # granted before the instance is created
    assert syn.one(KEY_IAM, f"{syn.spec.name}-gcp-kms-database-agent").inputs["member"] != REDIS_AGENT


def test_labels_and_a_weekly_maintenance_window_after_the_database(syn: Synthesis) -> None:
    i = syn.one(REDIS).inputs
    assert all(i["labels"].get(_label(k)) for k in REQUIRED_TAGS)
    (window,) = i["maintenancePolicy"]["weeklyMaintenanceWindows"]
    assert window["day"] == "SUNDAY" and window["startTime"]["hours"] == 5
    db_window = syn.one("gcp:sql/databaseInstance:DatabaseInstance").inputs["settings"]["maintenanceWindow"]
    assert (db_window["day"], db_window["hour"]) == (7, 4)  # Sunday 04:00: the two never overlap


# --- dev vs prod -------------------------------------------------------------------------------------


def test_prod_is_highly_available_persistent_and_protected(prod: Synthesis) -> None:
    i = prod.one(REDIS)
    x = i.inputs
    assert x["tier"] == "STANDARD_HA" and x["readReplicasMode"] == "READ_REPLICAS_ENABLED"
    assert x["replicaCount"] == prod.spec.feature_store.online_store.replicas == 1
    assert x["memorySizeGb"] == 5  # read replicas need at least 5 GB
    assert x["locationId"] != x["alternativeLocationId"]  # failover to another zone
    assert x["persistenceConfig"] == {"persistenceMode": "RDB", "rdbSnapshotPeriod": "ONE_HOUR"}
    assert x["deletionProtection"] is True and i.protect
    assert prod.one(SECRET, "mlp-gcp-online-store-auth").protect


def test_dev_is_a_single_basic_node_without_persistence(dev: Synthesis) -> None:
    i = dev.one(REDIS)
    x = i.inputs
    assert x["tier"] == "BASIC" and x["memorySizeGb"] == 1
    assert "replicaCount" not in x and "readReplicasMode" not in x and "alternativeLocationId" not in x
    assert x["persistenceConfig"] == {"persistenceMode": "DISABLED"}
    # The provider's guard defaults to on: dev must set it off or `pulumi destroy` fails.
    assert x["deletionProtection"] is False and not i.protect


def test_instance_name_fits_memorystore_limits() -> None:
    assert instance_name("mlp-gcp-dev") == "mlp-gcp-dev-features"
    long = instance_name("a" * 38 + "-b")
    assert len(long) <= 40 and long.endswith("-features") and "--" not in long


# --- the AUTH secret ---------------------------------------------------------------------------------


def test_auth_string_is_copied_into_a_regional_cmek_secret(syn: Synthesis) -> None:
    secret = syn.one(SECRET, "mlp-gcp-online-store-auth").inputs
    assert secret["secretId"] == f"{syn.spec.name}-{syn.stack}-online-store-auth"
    (replica,) = secret["replication"]["userManaged"]["replicas"]
    assert replica["location"] == syn.spec.region
    assert replica["customerManagedEncryption"]["kmsKeyName"].endswith(f"{syn.stack}-secrets")
    version = syn.one(VERSION)
    assert version.inputs["secretData"] == "[secret]"  # a Pulumi secret in state, never plain text
    assert version.inputs["secret"] == f"projects/{syn.spec.project}/secrets/{secret['secretId']}"
    assert syn.one(REDIS).urn in version.dependencies


def test_the_secret_version_holds_the_instances_auth_string(dev: Synthesis) -> None:
    assert dev.outputs["versionHoldsAuthString"] is True
    assert dev.outputs["authStringIsSecret"] is True


def test_online_store_ref_names_the_tls_endpoint_ca_and_secret(dev: Synthesis) -> None:
    store = dev.outputs["store"]
    secret_id = dev.one(SECRET, "mlp-gcp-online-store-auth").inputs["secretId"]
    assert store["authSecret"] == f"projects/{dev.spec.project}/secrets/{secret_id}"
    assert store["property"] is None  # the whole value is the AUTH string
    assert store["remoteRef"] == {"key": secret_id}
    assert store["tls"] is True and store["port"] == 6378  # Memorystore's TLS port
    assert store["host"].startswith("172.")
    assert store["ca"].startswith("-----BEGIN CERTIFICATE-----") and store["ca"].endswith("-----END CERTIFICATE-----\n")


def test_ca_bundle_keeps_every_ca_during_a_rotation() -> None:
    class Cert:
        def __init__(self, pem: str) -> None:
            self.cert = pem

    old, new = "-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nNEW\n"
    bundle = ca_bundle([Cert(old + "\n"), Cert(new + "-----END CERTIFICATE-----")])  # type: ignore[list-item]
    assert bundle.count("BEGIN CERTIFICATE") == 2 and bundle.endswith("-----END CERTIFICATE-----\n")


def test_bind_identity_grants_access_to_exactly_the_auth_secret(dev: Synthesis) -> None:
    auth = dev.outputs["store"]["authSecret"]
    grants = [g for g in dev.of_type(SECRET_IAM) if g.name.startswith(f"wi-{NAMESPACE}-{ACCOUNT}-")]
    assert [(g.inputs["secretId"], g.inputs["role"]) for g in grants] == [(auth, "roles/secretmanager.secretAccessor")]
    assert grants[0].inputs["member"] == f"serviceAccount:{dev.outputs['readerPrincipal']}"


# --- variants ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def without_features() -> Synthesis:
    platform = raw_platform("gcp-dev")
    platform["featureStore"] = {"enabled": False}
    return synth_platform(platform, "gcp-dev")


def test_no_feature_store_no_instance_key_or_secret(without_features: Synthesis) -> None:
    s = without_features
    assert not s.of_type(REDIS) and not s.of_type(VERSION) and not s.of_type(STORE)
    assert not [k for k in s.of_type(KEY) if k.inputs["name"].endswith("-cache")]
    assert not s.of_type(SECRET)  # the database has no password secret either (IAM login)
    assert "online-store" not in {i.kind for i in estimate(s).items}


def test_existing_network_uses_the_owners_peering() -> None:
    platform = raw_platform("gcp-dev")
    platform["network"] = {
        "existingVpcId": "projects/shared-vpc-host/global/networks/shared",
        "existingPrivateSubnetIds": ["projects/shared-vpc-host/regions/us-central1/subnetworks/ml"],
    }
    s = synth_platform(platform, "gcp-dev")
    assert not s.of_type(PSA)
    i = s.one(REDIS).inputs
    assert i["authorizedNetwork"] == "projects/shared-vpc-host/global/networks/shared"
    assert i["connectMode"] == "PRIVATE_SERVICE_ACCESS"


# --- cost --------------------------------------------------------------------------------------------


def test_cost_estimate_prices_the_online_store(dev: Synthesis, prod: Synthesis) -> None:
    (d,) = [i for i in estimate(dev).items if i.kind == "online-store"]
    (p,) = [i for i in estimate(prod).items if i.kind == "online-store"]
    assert d.hourly_min == d.hourly_max == pytest.approx(0.049)  # 1 GB Basic, M1
    assert p.hourly_min == pytest.approx(0.27)  # 5 GB x 2 nodes at the M2 rate
    assert "5 GB" in p.detail and "1 replica" in p.detail


def test_memorystore_prices_follow_tier_capacity_and_nodes() -> None:
    assert memorystore_hourly(4, "BASIC", 0, False) == pytest.approx(4 * 0.049)
    assert memorystore_hourly(5, "BASIC", 0, False) == pytest.approx(5 * 0.027)  # M2 is cheaper per GB
    assert memorystore_hourly(5, "STANDARD_HA", 1, False) == pytest.approx(5 * 0.054)
    assert memorystore_hourly(10, "STANDARD_HA", 3, True) == pytest.approx(10 * 0.027 * 4)
    assert memorystore_hourly(300, "BASIC", 0, False) == pytest.approx(300 * 0.016)


# --- config ------------------------------------------------------------------------------------------


def _config_error(stack: str, online_store: dict[str, Any]) -> str:
    platform = raw_platform(stack)
    platform["featureStore"] = {"onlineStore": online_store}
    with pytest.raises(ConfigError) as exc:
        parse_platform(platform, f"stacks/Pulumi.{stack}.yaml")
    return str(exc.value)


def test_config_defaults_per_environment() -> None:
    dev, prod = (parse_platform(raw_platform(s), s).feature_store.online_store for s in ("gcp-dev", "gcp-prod"))
    assert (dev.memory_gb, dev.replicas, dev.node_type) == (1, 0, None)
    assert (prod.memory_gb, prod.replicas, prod.node_type) == (5, 1, None)


@pytest.mark.parametrize(
    ("stack", "online_store", "message"),
    [
        (
            "gcp-dev",
            {"replicas": 1},
            "platform.featureStore.onlineStore.memoryGb: Memorystore read replicas need at least 5 GB",
        ),
        (
            "gcp-prod",
            {"memoryGb": 4},
            "platform.featureStore.onlineStore.memoryGb: Memorystore read replicas need at least 5 GB",
        ),
        ("gcp-dev", {"nodeType": "cache.t4g.small"}, "platform.featureStore.onlineStore.nodeType: is an AWS setting"),
        ("gcp-prod", {"replicas": 0}, "platform.featureStore.onlineStore.replicas: prod keeps a replica"),
        ("gcp-dev", {"memoryGb": 0}, "featureStore.onlineStore.memoryGb"),
        ("gcp-dev", {"replicas": 6}, "featureStore.onlineStore.replicas"),
    ],
)
def test_config_errors_are_one_line(stack: str, online_store: dict[str, Any], message: str) -> None:
    error = _config_error(stack, online_store)
    assert message in error and "\n" not in error
    assert error.startswith(f"stacks/Pulumi.{stack}.yaml: ")
