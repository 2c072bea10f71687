"""The GPU catalog: lookups, error messages, and the facts other components rely on."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from components import catalog
from components.catalog import (
    ACCELERATORS,
    CPU_MACHINES,
    MANAGED_HOURLY,
    NON_GPU_PRICE_SOURCE,
    SPOT_PRICE_FACTOR_IS_ESTIMATE,
    CatalogError,
    accelerator,
    cpu_machine,
    database_hourly,
    machine_for,
    offered_on,
)

REQUIRED = (
    "nvidia-t4",
    "nvidia-a10g",
    "nvidia-l4",
    "nvidia-l40s",
    "nvidia-a100-40gb",
    "nvidia-a100-80gb",
    "nvidia-h100-80gb",
    "nvidia-h200-141gb",
)


def _all_offerings() -> list[tuple[str, str, catalog.Offering]]:
    return [(a.name, cloud, o) for a in ACCELERATORS.values() for cloud, o in a.offerings.items()]


@pytest.mark.parametrize("name", REQUIRED)
def test_every_required_accelerator_resolves(name: str) -> None:
    acc = accelerator(name)
    assert acc.name == name
    assert acc.offerings, name
    for cloud, offering in acc.offerings.items():
        assert offering.cloud == cloud
        for gpus in offering.gpu_counts:
            machine = machine_for(name, cloud, gpus)
            assert machine.gpus == gpus
            assert offering.machine_for(gpus) is machine


def test_unknown_accelerator_lists_known_sorted() -> None:
    with pytest.raises(CatalogError) as err:
        accelerator("nvidia-h1000")
    message = str(err.value)
    assert "unknown accelerator 'nvidia-h1000'" in message
    assert f"(known: {', '.join(sorted(ACCELERATORS))})" in message
    assert "\n" not in message


def test_no_guessing_from_instance_names_or_case() -> None:
    for guess in ("p5.48xlarge", "H100", "NVIDIA-L4", "l4", " nvidia-l4"):
        with pytest.raises(CatalogError):
            accelerator(guess)


def test_not_offered_names_the_cloud_and_its_accelerators() -> None:
    with pytest.raises(CatalogError) as err:
        accelerator("nvidia-a10g").offering("gcp")
    message = str(err.value)
    assert message.startswith("accelerator 'nvidia-a10g' is not offered on gcp (gcp offers: ")
    assert ", ".join(offered_on("gcp")) in message
    with pytest.raises(CatalogError, match="not offered on gcp"):
        machine_for("nvidia-l40s", "gcp", 1)


def test_offered_on_is_sorted_and_correct() -> None:
    aws = offered_on("aws")
    gcp = offered_on("gcp")
    assert aws == sorted(aws)
    assert gcp == sorted(gcp)
    assert set(aws) == set(REQUIRED)
    assert "nvidia-a10g" not in gcp
    assert "nvidia-l40s" not in gcp
    assert {"nvidia-t4", "nvidia-l4", "nvidia-a100-40gb", "nvidia-h100-80gb"} <= set(gcp)


def test_unknown_cloud_is_an_error() -> None:
    with pytest.raises(CatalogError, match=r"unknown cloud 'azure' \(known: aws, gcp\)"):
        offered_on("azure")
    with pytest.raises(CatalogError, match="unknown cloud"):
        accelerator("nvidia-l4").offering("azure")


def test_wrong_gpu_count_lists_valid_counts() -> None:
    with pytest.raises(CatalogError) as err:
        machine_for("nvidia-l4", "aws", 2)
    message = str(err.value)
    assert "nvidia-l4" in message
    assert "valid GPU counts: 1, 4, 8" in message
    with pytest.raises(CatalogError, match="valid GPU counts: 8"):
        accelerator("nvidia-h100-80gb").offering("gcp").machine_for(1)
    for bad in (0, -1, True):
        with pytest.raises(CatalogError):
            machine_for("nvidia-l4", "aws", bad)


def test_prices_positive_and_spot_factor_is_a_fraction() -> None:
    assert SPOT_PRICE_FACTOR_IS_ESTIMATE is True
    for name, cloud, offering in _all_offerings():
        assert 0.0 < offering.spot_price_factor < 1.0, (name, cloud)
        assert offering.price_region and offering.price_source, (name, cloud)
        datetime.date.fromisoformat(offering.price_date)
        for machine in offering.machine_types:
            assert machine.on_demand_usd_hour > 0, machine
            assert machine.vcpus > 0 and machine.memory_gib > 0, machine


def test_offering_shape() -> None:
    for name, cloud, offering in _all_offerings():
        counts = offering.gpu_counts
        assert list(counts) == sorted(set(counts)), (name, cloud)
        assert all(c > 0 for c in counts), (name, cloud)
        if cloud == "aws":
            assert offering.accelerator_type is None
        else:
            assert offering.accelerator_type, name


def test_price_grows_with_gpu_count() -> None:
    for name, cloud, offering in _all_offerings():
        prices = [m.on_demand_usd_hour for m in offering.machine_types]
        assert prices == sorted(prices), (name, cloud)


@pytest.mark.parametrize(
    ("name", "memory_gib", "architecture"),
    [
        ("nvidia-h100-80gb", 80, "hopper"),
        ("nvidia-h200-141gb", 141, "hopper"),
        ("nvidia-a100-40gb", 40, "ampere"),
        ("nvidia-a100-80gb", 80, "ampere"),
        ("nvidia-l4", 24, "ada"),
        ("nvidia-l40s", 48, "ada"),
        ("nvidia-a10g", 24, "ampere"),
        ("nvidia-t4", 16, "turing"),
    ],
)
def test_gpu_memory_and_architecture(name: str, memory_gib: int, architecture: str) -> None:
    acc = accelerator(name)
    assert acc.gpu_memory_gib == memory_gib
    assert acc.architecture == architecture


def test_exact_machine_facts() -> None:
    p5 = machine_for("nvidia-h100-80gb", "aws", 8)
    assert (p5.name, p5.gpus, p5.vcpus, p5.memory_gib) == ("p5.48xlarge", 8, 192, 2048)
    a3 = machine_for("nvidia-h100-80gb", "gcp", 8)
    assert (a3.name, a3.gpus, a3.vcpus, a3.memory_gib) == ("a3-highgpu-8g", 8, 208, 1872)
    g2 = machine_for("nvidia-l4", "gcp", 1)
    assert (g2.name, g2.gpus, g2.vcpus) == ("g2-standard-4", 1, 4)
    assert machine_for("nvidia-t4", "aws", 1).name == "g4dn.xlarge"
    assert machine_for("nvidia-a10g", "aws", 4).name == "g5.12xlarge"
    assert machine_for("nvidia-l40s", "aws", 8).name == "g6e.48xlarge"
    assert machine_for("nvidia-a100-40gb", "aws", 8).name == "p4d.24xlarge"
    assert machine_for("nvidia-a100-80gb", "aws", 8).name == "p4de.24xlarge"
    assert machine_for("nvidia-h200-141gb", "aws", 8).name == "p5en.48xlarge"
    assert machine_for("nvidia-h200-141gb", "gcp", 8).name == "a3-ultragpu-8g"
    assert accelerator("nvidia-a100-40gb").offering("gcp").gpu_counts == (1, 2, 4, 8)
    assert accelerator("nvidia-a100-80gb").offering("gcp").machine_for(4).name == "a2-ultragpu-4g"


def test_gke_accelerator_names() -> None:
    expected = {
        "nvidia-t4": "nvidia-tesla-t4",
        "nvidia-l4": "nvidia-l4",
        "nvidia-a100-40gb": "nvidia-tesla-a100",
        "nvidia-a100-80gb": "nvidia-a100-80gb",
        "nvidia-h100-80gb": "nvidia-h100-80gb",
        "nvidia-h200-141gb": "nvidia-h200-141gb",
    }
    for name, gke in expected.items():
        assert accelerator(name).offering("gcp").accelerator_type == gke


def test_gcp_t4_price_includes_the_attached_gpus() -> None:
    one = machine_for("nvidia-t4", "gcp", 1)
    vm = cpu_machine("gcp", one.name)
    assert one.on_demand_usd_hour > vm.on_demand_usd_hour


def test_cpu_machines() -> None:
    required = {
        "aws": [
            "m6i.large",
            "m6i.xlarge",
            "m6i.2xlarge",
            "m6i.4xlarge",
            "m7i.large",
            "m7i.xlarge",
            "m7i.2xlarge",
            "c6i.xlarge",
            "c6i.2xlarge",
            "t3.large",
            "r6i.xlarge",
        ],
        "gcp": [
            "e2-standard-4",
            "e2-standard-8",
            "n2-standard-4",
            "n2-standard-8",
            "n2-standard-16",
            "n1-standard-4",
            "n1-standard-8",
            "n1-standard-16",
            "c3-standard-4",
            "c3-standard-8",
        ],
    }
    for cloud, names in required.items():
        for name in names:
            machine = cpu_machine(cloud, name)
            assert machine.gpus == 0
            assert machine.on_demand_usd_hour > 0
        assert NON_GPU_PRICE_SOURCE[cloud].region
    assert cpu_machine("aws", "m6i.xlarge").vcpus == 4
    with pytest.raises(CatalogError, match=r"unknown aws CPU machine type 'm9.huge' \(known: "):
        cpu_machine("aws", "m9.huge")
    assert set(CPU_MACHINES) == {"aws", "gcp"}


def test_database_prices() -> None:
    aws_classes = [
        "db.t4g.micro",
        "db.t4g.small",
        "db.t4g.medium",
        "db.t4g.large",
        "db.m6g.large",
        "db.m6g.xlarge",
        "db.m6g.2xlarge",
        "db.m7g.large",
        "db.m7g.xlarge",
        "db.r6g.large",
        "db.r6g.xlarge",
        "db.r6g.2xlarge",
    ]
    gcp_tiers = [
        "db-custom-1-3840",
        "db-custom-2-7680",
        "db-custom-4-15360",
        "db-custom-8-30720",
        "db-custom-16-61440",
    ]
    for cloud, classes in (("aws", aws_classes), ("gcp", gcp_tiers)):
        for klass in classes:
            single = database_hourly(cloud, klass, multi_az=False)
            ha = database_hourly(cloud, klass, multi_az=True)
            assert single > 0
            assert ha == pytest.approx(2 * single, rel=0.01)
    with pytest.raises(CatalogError, match=r"unknown RDS PostgreSQL instance class 'db\.x99\.large'"):
        database_hourly("aws", "db.x99.large", multi_az=False)
    with pytest.raises(CatalogError, match="unknown Cloud SQL tier"):
        database_hourly("gcp", "db-f1-micro", multi_az=False)


def test_managed_hourly() -> None:
    assert MANAGED_HOURLY["aws"]["eks_control_plane"] > 0
    assert MANAGED_HOURLY["aws"]["nat_gateway"] > 0
    assert MANAGED_HOURLY["gcp"]["gke_control_plane"] > 0
    assert MANAGED_HOURLY["gcp"]["cloud_nat_gateway"] > 0
    for items in MANAGED_HOURLY.values():
        assert all(price > 0 for price in items.values())


def test_validation_rejects_a_bad_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    good = accelerator("nvidia-l4")
    aws = good.offerings["aws"]
    bad_counts = dataclasses.replace(aws, machine_types=tuple(reversed(aws.machine_types)))
    broken = dataclasses.replace(good, offerings={**good.offerings, "aws": bad_counts})
    table = tuple(broken if a.name == good.name else a for a in catalog._ACCELERATOR_TABLE)
    monkeypatch.setattr(catalog, "_ACCELERATOR_TABLE", table)
    with pytest.raises(CatalogError, match=r"nvidia-l4 on aws: GPU counts must be unique and ascending"):
        catalog._validate()

    bad_spot = dataclasses.replace(aws, spot_price_factor=1.2)
    broken = dataclasses.replace(good, offerings={**good.offerings, "aws": bad_spot})
    table = tuple(broken if a.name == good.name else a for a in catalog._ACCELERATOR_TABLE)
    monkeypatch.setattr(catalog, "_ACCELERATOR_TABLE", table)
    with pytest.raises(CatalogError, match="spot_price_factor"):
        catalog._validate()
