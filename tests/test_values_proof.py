"""tests/values_proof.py on a stand-in chart (a Python function in place of `helm template`), so each
path of the proof is shown without Helm: markers found in a batch, a bool flipped, a refused batch
bisected, a values-schema refusal, a hashed value, a subchart's CRDs, and a key nothing reads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests import helm, values_proof
from tests.values_proof import leaves, prove


def chart(values: Mapping[str, Any]) -> str:
    """A chart: prints the image, replicas, service type and tolerations, dumps the securityContext
    map, hashes its config, has a PDB only when enabled, and prints `service.port` only for a
    NodePort service."""
    image = values.get("image") or {}
    out = [f"image: {image.get('repository')}:{image.get('tag')}", f"replicas: {values.get('replicas', 1)}"]
    config = json.dumps(values.get("config") or {}, sort_keys=True)
    out.append(f"checksum: {hashlib.sha256(config.encode()).hexdigest()}")
    out += [f"- toleration: {t}" for t in values.get("tolerations") or []]
    if (values.get("pdb") or {}).get("enabled"):
        out.append(f"pdb minAvailable: {values['pdb'].get('minAvailable', 1)}")
    out.append("securityContext:")  # toYaml of the whole map
    out += [f"  {k}: {json.dumps(v)}" for k, v in sorted((values.get("securityContext") or {}).items())]
    service = values.get("service") or {}
    out.append(f"type: {service.get('type', 'ClusterIP')}")
    if service.get("type") == "NodePort":
        out.append(f"nodePort: {service.get('port')}")
    return "\n".join(out)


VALUES = {
    "image": {"repository": "quay.io/x/app", "tag": "v1.2"},
    "replicas": 3,
    "config": {"level": "info"},
    "tolerations": ["CriticalAddonsOnly"],
    "pdb": {"enabled": True, "minAvailable": 1},
    "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1000},
    "service": {"type": "ClusterIP", "port": 8080},
    "typo": {"enabeld": True},
}


def test_leaves_are_scalars_empty_maps_and_whole_lists() -> None:
    found = dict(leaves({"a": {"b": 1, "c": []}, "d": {}, "e": [{"f": 1}]}))
    assert found == {("a", "b"): 1, ("a", "c"): [], ("d",): {}, ("e",): [{"f": 1}]}


def test_the_proof_finds_what_the_chart_reads_and_what_it_does_not() -> None:
    proof = prove(VALUES, chart)
    # service.port is read only for a NodePort service; `typo` is not a key at all
    assert {values_proof.dotted(p) for p in proof.unread} == {"service.port", "typo.enabeld"}
    # printed: one render for all of them
    assert {values_proof.dotted(p) for p in proof.by_marker} == {
        "image.repository",
        "image.tag",
        "replicas",
        "tolerations",
        "service.type",
        "securityContext.runAsUser",
    }
    # false cannot be marked, but its map is dumped: an extra key in it shows up beside it
    assert {values_proof.dotted(p) for p in proof.by_dump} == {"securityContext.allowPrivilegeEscalation"}
    # hashed (config), an `if` on a bool (its truthy marker is not printed), 1 (never marked): one render each
    assert {values_proof.dotted(p) for p in proof.by_mutation} == {"config.level", "pdb.enabled", "pdb.minAvailable"}
    assert proof.renders == 2 + 1 + 1 + 5  # the baseline twice, the two batches, five leaves one at a time


def test_a_refused_batch_is_bisected_to_the_leaf_that_cannot_carry_a_marker() -> None:
    def semver(values: Mapping[str, Any]) -> str:
        if not str(values["image"]["tag"]).startswith("v"):  # a `semverCompare` on the tag
            raise helm.HelmError("x", "image.tag: not a version")
        return chart(values)

    proof = prove(VALUES, semver)
    assert ("image", "tag") in proof.by_mutation  # "v1.2-mutated...": still a version, printed
    assert ("image", "repository") in proof.by_marker
    assert {values_proof.dotted(p) for p in proof.unread} == {"service.port", "typo.enabeld"}


def test_a_values_schema_names_the_refused_paths() -> None:
    message = (
        "values don't meet the specifications of the schema(s) in the following chart(s):\n"
        "cert-manager:\n- at '': validation failed\n  - at '/webhook/replicaCount': got string, want number\n"
    )
    assert values_proof._refusals(message) == [("webhook", "replicaCount"), ("cert-manager", "webhook", "replicaCount")]
    template = (
        "Error: template: kube-prometheus-stack/charts/prometheus-node-exporter/templates/daemonset.yaml:107:19: "
        'executing "..." at <semverCompare ">=1.4.0-0" (coalesce .Values.version .Values.image.tag .Chart.AppVersion)>'
    )
    assert values_proof._refusals(template) == [
        ("prometheus-node-exporter", "version"),
        ("prometheus-node-exporter", "image", "tag"),
    ]
    extra = "x:\n- at '/crds': additional properties 'zqv9x' not allowed"
    assert values_proof._refusals(extra) == [("crds", "zqv9x"), ("x", "crds", "zqv9x")]
    calls: list[Mapping[str, Any]] = []

    def schema(values: Mapping[str, Any]) -> str:
        calls.append(values)
        if values["pdb"]["enabled"] is not True and not isinstance(values["pdb"]["enabled"], bool):
            raise helm.HelmError("x", "values don't meet ...:\nx:\n- at '/pdb/enabled': got string, want boolean")
        return chart(values)

    proof = prove(VALUES, schema, check_determinism=False)
    assert ("pdb", "enabled") in proof.by_mutation
    assert {values_proof.dotted(p) for p in proof.unread} == {"service.port", "typo.enabeld"}
    # baseline, the refused batch, the batch without pdb.enabled, the dump batch, 5 mutations
    assert len(calls) == 1 + 2 + 1 + 5


def test_a_value_that_switches_crds_is_read_when_the_release_installs_them() -> None:
    def with_crds(values: Mapping[str, Any]) -> str:
        crds = "kind: CustomResourceDefinition" if values["crds"]["enabled"] else ""
        return chart(values) + crds

    values = {**VALUES, "crds": {"enabled": True}}
    assert ("crds", "enabled") in prove(values, chart).unread
    assert ("crds", "enabled") in prove(values, chart, with_crds=with_crds).by_mutation


def test_a_chart_that_renders_differently_each_time_is_refused() -> None:
    count = iter(range(100))
    with pytest.raises(values_proof.NotDeterministicError):
        prove(VALUES, lambda v: f"{chart(v)}\nserial: {next(count)}")


def test_markers_keep_what_templates_branch_on() -> None:
    markers = values_proof._Markers(baseline="zqv1x 41001")
    found: list[str] = []
    marked = markers.mark({"a": "x", "b": True, "c": False, "d": 0, "e": 1, "f": 2, "g": "", "h": 1.5}, found)
    assert marked == {"a": "zqv2x", "b": "zqv3x", "c": False, "d": 0, "e": 1, "f": 41002, "g": "", "h": 1.5}
    assert found == ["zqv2x", "zqv3x", "41002"]  # markers already in the baseline are skipped
    assert values_proof._present("41002", "port: 41002\n") and not values_proof._present("41002", "sha: a41002b")


def test_the_mapping_around_a_key_is_its_block_in_the_yaml() -> None:
    text = """spec:
  containers:
  - name: c
    securityContext:
      allowPrivilegeEscalation: false
      capabilities:
        drop:
        - ALL
      zqv5x: zqv5x
  - name: d
    zqv6x: zqv6x
  - zqv7x: zqv7x
    readOnly: true
"""
    lines = text.splitlines()
    at = {line.strip().lstrip("- ").split(":")[0]: i for i, line in enumerate(lines)}
    assert values_proof._mapping_around(lines, at["zqv5x"]) == {
        "allowPrivilegeEscalation": "false",
        "capabilities": "",
        "zqv5x": "zqv5x",
    }
    assert values_proof._mapping_around(lines, at["zqv6x"]) == {"name": "d", "zqv6x": "zqv6x"}
    assert values_proof._mapping_around(lines, at["zqv7x"]) == {"zqv7x": "zqv7x", "readOnly": "true"}
