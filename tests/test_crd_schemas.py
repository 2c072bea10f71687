"""The CRD schemas under tests/schemas/crds/ are the pinned charts' own (tests/crd_schemas.py derives
them), they are what the custom resources of every stack are checked against, and their CEL rules run."""

from __future__ import annotations

import copy
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import components.k8s
from components.k8s.base import Chart
from tests import crd_schemas, helm, k8s_cel
from tests import k8s_cluster as kc
from tests.conftest import STACK_NAMES
from tests.k8s_schema import (
    FORMATS,
    CRDValidator,
    _registry,
    _strict,
    crd_documents,
    crd_schema,
    crd_version,
    go_regex,
    inline,
    is_kubernetes,
    manifest,
    validate,
)

VERSION = "1.35"


@cache
def generated() -> dict[Path, str]:
    helm.require_helm()
    return crd_schemas.generate()


@cache
def collected() -> dict[str, crd_schemas.Found]:
    helm.require_helm()
    return crd_schemas.collect()


def chart_pins() -> dict[str, str]:
    """chart name -> the version the code installs (every `Chart` constant of components/k8s)."""
    pins: dict[str, str] = {}
    for info in pkgutil.iter_modules(components.k8s.__path__):
        module = importlib.import_module(f"components.k8s.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Chart):
                pins[helm.chart_name(value.name)] = value.version
    return pins


# --- the files are the generator's output, from the pinned charts --------------------------------------


def test_committed_schemas_are_the_generators_output() -> None:
    """A chart bump (a new tgz in tests/charts) without `python -m tests.crd_schemas --write` fails here."""
    assert crd_schemas.stale(generated()) == []


def test_every_schema_comes_from_the_chart_version_the_code_pins() -> None:
    """Each CRD file names the chart it was derived from: the version the code installs (its `Chart`
    constant) and the sha256 charts.yaml lists for that package. Goes red when a pin moves and the
    package and schemas do not follow."""
    pins, packaged = chart_pins(), helm.packaged_charts()
    wrong = []
    for doc in crd_documents().values():
        chart = doc["chart"]
        if pins.get(chart) != doc["chartVersion"]:
            wrong.append(f"{doc['crd']}: from {chart} {doc['chartVersion']}, the code pins {pins.get(chart)}")
        if packaged[chart]["sha256"] != doc["sha256"] or packaged[chart]["version"] != doc["chartVersion"]:
            wrong.append(f"{doc['crd']}: {chart} {doc['chartVersion']} is not the packaged tgz")
    assert wrong == []


def test_every_crd_of_every_source_chart_and_every_version_is_kept() -> None:
    found = collected()
    docs = {doc["crd"]: doc for doc in crd_documents().values()}
    assert set(docs) == set(found) and len(docs) >= 100
    for name, item in found.items():
        versions = item.crd["spec"]["versions"]
        stored = docs[name]["versions"]
        assert [(v["name"], v["served"], v["storage"]) for v in stored] == [
            (v["name"], bool(v.get("served")), bool(v.get("storage"))) for v in versions
        ]
        for kept, original in zip(stored, versions, strict=True):
            if kept["served"]:  # the schema as shipped, less the descriptions; shared parts put back
                schema = inline(kept["schema"], docs[name]["$defs"])
                assert schema == crd_schemas.strip(original["schema"]["openAPIV3Schema"]), (name, kept["name"])


def test_only_descriptions_are_dropped() -> None:
    schema = {
        "type": "object",
        "description": "prose",
        "properties": {"description": {"type": "string", "description": "x", "maxLength": 5}},
        "default": {"description": "a default keeps its keys"},
        "x-kubernetes-validations": [{"rule": "self.description != ''", "message": "m"}],
    }
    assert crd_schemas.strip(schema) == {
        "type": "object",
        "properties": {"description": {"type": "string", "maxLength": 5}},
        "default": {"description": "a default keeps its keys"},
        "x-kubernetes-validations": [{"rule": "self.description != ''", "message": "m"}],
    }


def test_the_copies_not_installed_are_the_same_crds() -> None:
    """Where another chart ships a CRD too, the one the platform installs is the source, and the
    other copy (installed with skipCrds, or in another GPU mode) is the same CRD: nothing is lost."""
    found = collected()
    others = [
        ("karpenter", {"settings": {"clusterName": "c"}}, True),  # autoscaling.py: skip_crds=True
        ("nvidia-device-plugin", {"nfd": {"enabled": True}}, True),  # device-plugin mode: NFD's CRDs
        ("gateway-helm", {}, True),  # serving.py: skip_crds=True; Envoy Gateway's own CRDs
    ]
    compared = 0
    for chart, values, crds in others:
        for crd in helm.render(chart, values, namespace="x", include_crds=crds):
            name = crd["metadata"]["name"]
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            if chart == "gateway-helm" and crd["spec"]["group"].startswith("gateway.networking."):
                continue  # gateway-helm's Gateway API CRDs are the experimental channel: never installed
            assert crd["spec"] == found[name].crd["spec"], (chart, name)
            compared += 1
    assert compared == 5 + 3 + 8  # Karpenter's, NFD's, Envoy Gateway's


# --- the CRD sources are what was recorded -------------------------------------------------------------


def test_check_prints_one_line_and_fails_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    for path, text in generated().items():
        (crd_dir / path.name if path.parent == crd_schemas.CRD_DIR else tmp_path / path.name).write_text(text)
    monkeypatch.setattr(crd_schemas, "CRD_DIR", crd_dir)
    monkeypatch.setattr(crd_schemas, "CEL_FILE", tmp_path / "cel.json")
    assert crd_schemas.main(["--check"]) == 0
    (crd_dir / "nodepools.karpenter.sh.json").write_text("{}\n")
    (crd_dir / "old.example.com.json").write_text("{}\n")
    capsys.readouterr()
    assert crd_schemas.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "changed: nodepools.karpenter.sh.json" in err and "extra: old.example.com.json" in err
    assert "python -m tests.crd_schemas --write" in err


def test_argo_full_crds_are_the_packed_upstream_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crds = crd_schemas.argo_crds()
    assert sorted(c["metadata"]["name"] for c in crds) == sorted(
        f"{f.removeprefix('argoproj.io_').removesuffix('.yaml')}.argoproj.io" for f in crd_schemas.ARGO_FULL_CRD_BLOBS
    )
    monkeypatch.setitem(crd_schemas.ARGO_FULL_CRDS, "sha256", "0" * 64)
    with pytest.raises(crd_schemas.SourceError, match="sha256"):
        crd_schemas.argo_crds()


# --- every custom resource of every stack has a derived schema and is valid ----------------------------


@pytest.mark.parametrize("stack", [*STACK_NAMES, kc.GPU_OPERATOR_STACK])
def test_every_kubernetes_object_of_every_stack_is_valid_against_the_pinned_schemas(stack: str) -> None:
    """Core objects against kubernetes-validate at the stack's Kubernetes version, custom resources
    against the CRD (schema, defaults, CEL rules) of the chart that installs it."""
    syn = kc.stack(stack)
    version = syn.spec.cluster.kubernetes_version
    objs = [manifest(r) for r in syn.resources if is_kubernetes(r)]
    custom = [o for o in objs if crd_version(o["apiVersion"], o["kind"]) is not None]
    assert len(custom) > 10
    # every other object is one kubernetes-validate knows at that version: validate() says "no schema" if not
    assert [e for o in objs for e in validate(o, version)] == []


# --- the CEL rules run --------------------------------------------------------------------------------


def _cr(stack: str, kind: str) -> dict[str, Any]:
    syn = kc.stack(stack)
    return next(manifest(r) for r in syn.resources if is_kubernetes(r) and r.type.endswith(f":{kind}"))


def test_cel_karpenter_node_class_takes_a_role_or_an_instance_profile() -> None:
    good = _cr(kc.GPU_OPERATOR_STACK, "EC2NodeClass")
    assert "instanceProfile" in good["spec"] and validate(good, VERSION) == []
    both = copy.deepcopy(good)
    both["spec"]["role"] = "KarpenterNodeRole-mlp"
    neither = copy.deepcopy(good)
    del neither["spec"]["instanceProfile"]
    message = "EC2NodeClass/gpu-h100-train: spec: must specify exactly one of ['role', 'instanceProfile']"
    assert validate(both, VERSION) == [message] and validate(neither, VERSION) == [message]


def test_cel_karpenter_node_pool_labels_stay_off_restricted_domains() -> None:
    """A rule with the Kubernetes library's `find` (karpenter.sh_nodepools.yaml)."""
    good = _cr(kc.GPU_OPERATOR_STACK, "NodePool")
    assert validate(good, VERSION) == []
    bad = copy.deepcopy(good)
    bad["spec"]["template"].setdefault("metadata", {})["labels"] = {"karpenter.sh/pool": "x"}
    assert any('label domain "karpenter.sh" is restricted' in e for e in validate(bad, VERSION))


def test_cel_gateway_listeners_are_unique_and_tls_goes_with_https() -> None:
    good = _cr("aws-prod", "Gateway")
    assert validate(good, VERSION) == []
    twice = copy.deepcopy(good)
    twice["spec"]["listeners"].append(copy.deepcopy(twice["spec"]["listeners"][0]))
    errors = validate(twice, VERSION)
    assert any("Listener name must be unique within the Gateway" in e for e in errors)
    assert any("Duplicate value" in e for e in errors)  # x-kubernetes-list-type: map on `name`
    http_tls = copy.deepcopy(good)
    http_tls["spec"]["listeners"][0]["tls"] = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}
    assert any(
        "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']" in e for e in validate(http_tls, VERSION)
    )


def test_cel_root_rules_see_metadata_name() -> None:
    """trainer.kubeflow.org_trainjobs.yaml: `self.metadata.name.matches(...)` at the root."""
    job = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "churn-1", "namespace": "research"},
        "spec": {"runtimeRef": {"name": "torch"}},
    }
    assert validate(job, VERSION) == []
    job["metadata"]["name"] = "1-churn"
    assert validate(job, VERSION) == ["TrainJob/1-churn: : metadata.name must match RFC 1035 DNS label format"]


def test_cel_escapes_reserved_property_names() -> None:
    """Gateway API's ParentReference rules select `__namespace__` (a CEL keyword as a field name)."""
    assert k8s_cel.escape("namespace") == "__namespace__"
    assert k8s_cel.escape("a-b.c/d__e") == "a__dash__b__dot__c__slash__d__underscores__e"
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "research"},
        "spec": {"parentRefs": [{"name": "inference", "namespace": "envoy-gateway-system"}]},
    }
    assert validate(route, VERSION) == []
    # the same Gateway name in another namespace is another parent: seen only through `__namespace__`
    # (and `p1.group`, `p1.kind` exist only once their defaults are applied)
    route["spec"]["parentRefs"].append({"name": "inference", "namespace": "other"})
    assert validate(route, VERSION) == []
    route["spec"]["parentRefs"].append({"name": "inference", "namespace": "envoy-gateway-system"})
    assert validate(route, VERSION) == [
        "HTTPRoute/r: spec.parentRefs: sectionName must be unique when parentRefs includes 2 or more "
        "references to the same parent"
    ]


def test_cel_transition_rules_do_not_run_on_create() -> None:
    rule = {"rule": "self == oldSelf", "message": "immutable"}
    assert k8s_cel.classify(rule) == "transition"
    assert k8s_cel.evaluate(rule, "anything", {"type": "string"}) is None


def test_cel_a_rule_the_evaluator_cannot_run_is_unsupported_not_passed() -> None:
    """A function outside what tests/k8s_cel.py provides does not compile: such a rule is listed in
    tests/schemas/cel.json with the reason (the generator writes it, the first test here pins it)."""
    verdict = k8s_cel.classify({"rule": "isURL(self)", "message": "m"})
    assert "undeclared reference to 'isURL'" in verdict
    report = json.loads(crd_schemas.CEL_FILE.read_text())
    assert report["unsupported"] == []  # every rule of the pinned CRDs runs
    assert report["evaluated"] > 1000 and report["transition"] > 0


# --- the rest of what the API server checks ------------------------------------------------------------


def test_defaults_are_applied_before_the_rules() -> None:
    """NodePool's `disruption` defaults (consolidateAfter: 0s, budgets) exist before its rules run."""
    pool = copy.deepcopy(_cr(kc.GPU_OPERATOR_STACK, "NodePool"))
    pool["spec"].pop("disruption", None)
    assert validate(pool, VERSION) == []


def test_pruned_fields_are_errors_and_unserved_versions_refused() -> None:
    pool = copy.deepcopy(_cr(kc.GPU_OPERATOR_STACK, "NodePool"))
    pool["spec"]["template"]["spec"]["nodeClassRef"]["nmae"] = "x"
    assert any("'nmae' was unexpected" in e for e in validate(pool, VERSION))
    pool = copy.deepcopy(_cr(kc.GPU_OPERATOR_STACK, "NodePool"))
    pool["apiVersion"] = "karpenter.sh/v1beta1"
    assert validate(pool, VERSION) == [
        f"NodePool/{pool['metadata']['name']}: karpenter.sh/v1beta1 is not served by CRD nodepools.karpenter.sh "
        "(served: v1)"
    ]


def test_patterns_are_go_regexps_and_all_compile() -> None:
    """RE2 takes inline flags mid-pattern (`^((?i)sun|mon)day`, prometheus-operator's time intervals)."""
    assert go_regex("^((?i)sun|mon)day$").search("MONday")
    assert not go_regex("^((?i)sun|mon)day$").search("monDAY")
    for doc in crd_documents().values():
        for version in doc["versions"]:
            if version["served"]:
                for pattern in _patterns(crd_schema(f"{doc['group']}/{version['name']}", doc["kind"])):
                    assert isinstance(go_regex(pattern), re.Pattern)


def _patterns(schema: Any, seen: set[int] | None = None) -> Iterator[str]:
    seen = set() if seen is None else seen
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    if isinstance(schema.get("pattern"), str):
        yield schema["pattern"]
    for sub in (schema.get("properties") or {}).values():
        yield from _patterns(sub, seen)
    for key in ("items", "additionalProperties", "not"):
        yield from _patterns(schema.get(key), seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            yield from _patterns(sub, seen)


def test_structural_markers_are_checked_as_the_api_server_does() -> None:
    """What no pinned CRD combines in one place: embedded resources, nullable, int-or-string,
    list-type set/map uniqueness, byte and date-time formats, boolean exclusive bounds."""
    schema = {
        "type": "object",
        "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {"spec": {}}},
            "note": {"type": "string", "nullable": True},
            "port": {"x-kubernetes-int-or-string": True},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "ports": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "ca": {"type": "string", "format": "byte"},
            "at": {"type": "string", "format": "date-time"},
            "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        },
    }
    validator = CRDValidator(_strict(schema), registry=_registry(VERSION), format_checker=FORMATS)

    def errors(value: dict[str, Any]) -> list[str]:
        return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value))

    good = {
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
        "note": None,
        "port": "http",
        "tags": ["a", "b"],
        "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 1}],
        "ca": "aGVsbG8=",
        "at": "2026-01-01T00:00:00Z",
        "ratio": 0.5,
    }
    assert errors(good) == [] and errors({**good, "port": 8080}) == []
    bad = {
        "template": {"metadata": {"nmae": "p"}, "spec": {}},
        "port": 1.5,
        "tags": ["a", "a"],
        "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}],
        "ca": "not base64!",
        "at": "yesterday",
        "ratio": 0,
        "extra": 1,
    }
    found = errors(bad)
    for expected in (
        ": Additional properties are not allowed ('extra' was unexpected)",
        "template: 'apiVersion' is a required property",
        "template: 'kind' is a required property",
        "template.metadata: Additional properties are not allowed ('nmae' was unexpected)",
        "port: 1.5 is not of type 'integer', 'string'",
        'tags: Duplicate value: "a"',
        'ports: Duplicate value: {"name": "a"}',
        "ca: 'not base64!' is not a 'byte'",
        "at: 'yesterday' is not a 'date-time'",
        "ratio: 0 is less than or equal to the minimum of 0",
    ):
        assert expected in found, (expected, found)
