"""Strict schema validation of the Kubernetes objects a stack produces, without a cluster.

* Core objects (Namespace, NetworkPolicy, Deployment, ...) are checked with `kubernetes-validate`
  against the OpenAPI schema of the stack's Kubernetes version, strict: an unknown field fails.
* Custom resources are checked against the CRD of the packaged chart that installs it, derived by
  `tests/crd_schemas.py` into `tests/schemas/crds/<plural>.<group>.json` (every CRD and every served
  version the charts ship; see there), as the API server checks them on create:
  - defaults (`default`) are applied first, as structural defaulting does;
  - the OpenAPI schema: types, `required`, `enum`, `pattern`, `maxLength`, `format` (byte, date-time,
    ipv4, ipv6), `nullable`, `x-kubernetes-int-or-string`, `x-kubernetes-list-type` set/map uniqueness,
    `x-kubernetes-embedded-resource` (apiVersion and kind required, metadata an ObjectMeta);
  - `metadata` is an ObjectMeta (kubernetes-validate's, strict) plus what the CRD says of the name;
  - the CEL rules (`x-kubernetes-validations`, tests/k8s_cel.py), except transition rules (update only).
  The API server prunes unknown fields of a structural schema silently; here every object schema that
  does not preserve unknown fields is closed, so a misspelt (or pruned) field is an error instead of a
  quietly ignored setting. Embedded core types (a PodSpec in a TrainingRuntime) are inline in the CRDs.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
from kubernetes_validate import utils as kv_utils

from infra.synth import ResourceRecord as Record
from tests import k8s_cel

CRD_DIR = Path(__file__).parent / "schemas" / "crds"
DEFINITIONS_URI = "/api/_definitions.json"
OBJECT_META = f"{DEFINITIONS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def is_kubernetes(record: Record) -> bool:
    return record.custom and record.type.startswith("kubernetes:") and not record.type.startswith("kubernetes:helm")


def manifest(record: Record) -> dict[str, Any]:
    """The object a kubernetes resource record sends to the API server."""
    obj = copy.deepcopy(record.inputs)
    return obj


@cache
def _kube_versions() -> tuple[str, ...]:
    return tuple(kv_utils.all_versions())


def _schema_version(version: str) -> str:
    """The newest schema set of kubernetes-validate not newer than `version` (as kubernetes-validate picks)."""
    wanted = tuple(int(p) for p in kv_utils.major_minor(version.lstrip("v")).split("."))
    fits = [v for v in _kube_versions() if tuple(int(p) for p in v.split(".")[:2]) <= wanted]
    if not fits:
        raise LookupError(f"kubernetes-validate has no schemas for {version}")
    return fits[-1]


def _schema_dir(version: str) -> Path:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return root / f"v{_schema_version(version)}-local-strict"


@cache
def _registry(version: str) -> referencing.Registry[Any]:
    """kubernetes-validate's definitions (ObjectMeta, PodSpec, ...), crawled once: an uncrawled
    registry is crawled again on every lookup."""
    definitions = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    resource = referencing.Resource.from_contents(definitions)
    return referencing.Registry().with_resources([(DEFINITIONS_URI, resource), (definitions["$id"], resource)]).crawl()


@lru_cache(maxsize=512)
def _core_validator(version: str, api_version: str, kind: str) -> Any:
    """kubernetes-validate's strict schema of a core kind, loaded once (it reads the file on every call)."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version) / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


# --- the derived CRDs ----------------------------------------------------------------------------------


@cache
def crd_documents() -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) -> the derived CRD file (tests/schemas/crds/), as stored."""
    out = {}
    for path in sorted(CRD_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        out[(doc["group"], doc["kind"])] = doc
    return out


def inline(schema: Any, defs: Mapping[str, Any]) -> Any:
    """A stored schema with each `{"$ref": "#/$defs/X"}` replaced by X (shared, not copied)."""
    done: dict[str, Any] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in done:
                    done[name] = walk(defs[name])
                return done[name]
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def crd_version(api_version: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(CRD file, version entry) of a custom resource's apiVersion and kind; None when no CRD defines it."""
    group, version = _split(api_version)
    doc = crd_documents().get((group, kind))
    if doc is None:
        return None
    for entry in doc["versions"]:
        if entry["name"] == version:
            return doc, entry
    return doc, {"name": version, "served": False, "storage": False, "schema": None}


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The served version's openAPIV3Schema as the chart ships it (descriptions dropped), refs inlined."""
    found = crd_version(api_version, kind)
    if found is None or found[1]["schema"] is None:
        raise LookupError(f"no served CRD version for {api_version} {kind}")
    doc, entry = found
    return inline(entry["schema"], doc["$defs"])


_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _strict(schema: Any, memo: dict[int, Any] | None = None) -> Any:
    """A CRD schema as jsonschema checks it the way the API server does, with pruning made an error."""
    if not isinstance(schema, dict):
        return schema
    memo = {} if memo is None else memo
    if id(schema) in memo:  # a shared subschema (a $def) is converted once
        return memo[id(schema)]
    out = dict(schema)
    memo[id(schema)] = out
    if "properties" in schema:
        out["properties"] = {k: _strict(v, memo) for k, v in schema["properties"].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            out[key] = _strict(schema[key], memo)
    for key in _SUBSCHEMA_LISTS:
        if key in schema:
            out[key] = [_strict(v, memo) for v in schema[key]]
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
        out["type"] = ["integer", "string"]
    if schema.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)  # OpenAPI v3's boolean form as JSON Schema's number form
    if schema.get("x-kubernetes-embedded-resource"):
        props = dict(out.get("properties") or {})
        props.setdefault("apiVersion", {"type": "string", "minLength": 1})
        props.setdefault("kind", {"type": "string", "minLength": 1})
        props["metadata"] = {"$ref": OBJECT_META}
        out["properties"] = props
        out["required"] = sorted({*out.get("required", ()), "apiVersion", "kind"})
    if (
        (out.get("type") == "object" or "properties" in out)
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        # no properties at all: the API server prunes every field (a nested `metadata: {type: object}`)
        out["additionalProperties"] = False
    return out


def _root(api_version: str, kind: str) -> dict[str, Any]:
    raw = crd_schema(api_version, kind)
    schema = _strict({k: v for k, v in raw.items() if k != "properties"})
    props = {k: v for k, v in (raw.get("properties") or {}).items() if k not in ("apiVersion", "kind", "metadata")}
    memo: dict[int, Any] = {}
    schema["properties"] = {k: _strict(v, memo) for k, v in props.items()}
    meta = (raw.get("properties") or {}).get("metadata") or {}
    # the CRD may restrict metadata.name (maxLength, pattern); the rest is ObjectMeta's
    schema["properties"]["metadata"] = {"allOf": [{"$ref": OBJECT_META}, meta]} if meta else {"$ref": OBJECT_META}
    schema["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
    schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
    schema["additionalProperties"] = False
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind"})
    return schema


# --- what the API server adds to the OpenAPI checks ----------------------------------------------------


def apply_defaults(value: Any, schema: Mapping[str, Any] | None) -> None:
    """Structural defaulting, in place (apiextensions-apiserver/pkg/apiserver/schema/defaulting/algorithm.go):
    a missing property (or a null one that is not nullable) gets its default, then every value is defaulted."""
    if not isinstance(schema, Mapping):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, prop in props.items():
            if "default" in prop and (key not in value or (value[key] is None and not prop.get("nullable"))):
                value[key] = copy.deepcopy(prop["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                apply_defaults(item, props[key])
            elif isinstance(extra, Mapping):
                apply_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            apply_defaults(item, schema["items"])


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _typed(instance: Any, schema: Mapping[str, Any]) -> bool:
    """The value has the node's type: the API server runs no CEL rule over a type error."""
    kinds = schema.get("type")
    if not kinds:
        return True
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if isinstance(instance, bool):
        return "boolean" in kinds
    return any(isinstance(instance, _PY_TYPES.get(k, ())) for k in kinds)


def _cel(validator: Any, rules: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[jsonschema.ValidationError]:
    if not _typed(instance, schema):
        return
    root = schema is validator.schema
    for rule in rules:
        message = k8s_cel.evaluate(rule, instance, schema, root=root)
        if message is not None:
            yield jsonschema.ValidationError(message)


def _list_type(
    validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """`set`: no two equal items; `map`: no two items with the same keys (apiserver listtype validation)."""
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: set[str] = set()
    for item in instance:
        if list_type == "map":
            if not isinstance(item, dict):
                continue
            key = json.dumps([item.get(k) for k in keys], sort_keys=True)
        else:
            key = json.dumps(item, sort_keys=True)
        if key in seen:
            what = dict(zip(keys, json.loads(key), strict=True)) if list_type == "map" else item
            yield jsonschema.ValidationError(f"Duplicate value: {json.dumps(what, sort_keys=True)}")
        seen.add(key)


@cache
def go_regex(pattern: str) -> re.Pattern[str]:
    """A Go (RE2) pattern as Python's re: RE2 takes flags such as `(?i)` anywhere, in force to the end
    of the enclosing group; Python only at the start, so they become a scoped group `(?i:...)`."""
    out, closers, depth, i, in_class = [], [], 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif (flags := re.match(r"\(\?[a-zA-Z]+\)", pattern[i:])) and (i > 0 or depth > 0):
            out.append(flags.group(0)[:-1] + ":")
            closers.append(depth)
            i += len(flags.group(0))
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            while closers and closers[-1] == depth:
                out.append(")")
                closers.pop()
            depth -= 1
        out.append(ch)
        i += 1
    out += [")"] * len(closers)
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    if isinstance(instance, str) and not go_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("byte", raises=(binascii.Error, ValueError))
def _byte(value: object) -> bool:
    if isinstance(value, str):
        base64.b64decode(value, validate=True)
    return True


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@FORMATS.checks("ipv4", raises=ValueError)
def _ipv4(value: object) -> bool:
    if isinstance(value, str):
        ipaddress.IPv4Address(value)
    return True


@FORMATS.checks("ipv6", raises=ValueError)
def _ipv6(value: object) -> bool:
    if isinstance(value, str):
        ipaddress.IPv6Address(value)
    return True


CRDValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"x-kubernetes-validations": _cel, "x-kubernetes-list-type": _list_type, "pattern": _pattern},
)


@lru_cache(maxsize=64)
def _validator(api_version: str, kind: str, version: str) -> Any:
    return CRDValidator(_root(api_version, kind), registry=_registry(version), format_checker=FORMATS)


def _path(err: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in err.absolute_path)


def validate(obj: dict[str, Any], version: str) -> list[str]:
    """Every schema error of `obj` ("kind/name: path: message"); empty when it is valid. `version` is
    the cluster's Kubernetes version ("1.35"): core objects are checked against its OpenAPI schema."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = (obj.get("metadata") or {}).get("name", "?")
    where = f"{kind}/{name}"
    found = crd_version(api_version, kind) if "/" in api_version else None
    if found is None:
        core = _core_validator(version, api_version, kind)
        if core is None:
            return [f"{where}: no schema for {api_version} {kind} (Kubernetes {_schema_version(version)}, no CRD)"]
        return _errors(where, core, obj)
    doc, entry = found
    if not entry["served"]:
        served = [v["name"] for v in doc["versions"] if v["served"]]
        return [f"{where}: {api_version} is not served by CRD {doc['crd']} (served: {', '.join(served)})"]
    defaulted = copy.deepcopy(obj)
    meta = defaulted.pop("metadata", None)  # ObjectMeta has no defaults
    apply_defaults(defaulted, crd_schema(api_version, kind))
    if meta is not None:
        defaulted["metadata"] = meta
    return _errors(where, _validator(api_version, kind, version), defaulted)


def _errors(where: str, validator: Any, obj: dict[str, Any]) -> list[str]:
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{where}: {_path(err)}: {err.message}" for err in errors]


def helm_image_tags(values: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, tag) of every image a chart's values set: `{repository|name|image, tag}` maps and
    `image: repo:tag` strings. An empty tag means the image is not pinned."""
    found: list[tuple[str, str]] = []
    if isinstance(values, dict):
        if "tag" in values and ("repository" in values or "name" in values or isinstance(values.get("image"), str)):
            found.append((path, str(values["tag"] or "")))
        for key, value in values.items():
            if key == "image" and isinstance(value, str):
                if "tag" not in values:
                    found.append((f"{path}.image", value.rpartition(":")[2] if ":" in value else ""))
            else:
                found += helm_image_tags(value, f"{path}.{key}")
    elif isinstance(values, list):
        for i, value in enumerate(values):
            found += helm_image_tags(value, f"{path}[{i}]")
    return found
