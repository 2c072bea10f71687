"""Strict schema validation of the Kubernetes objects a stack produces, without a cluster.

* Core objects (Namespace, NetworkPolicy, Deployment, ...) are checked with `kubernetes-validate`
  against the OpenAPI schema of the stack's Kubernetes version, strict: an unknown field fails.
* Custom resources (Kueue, Trainer, KServe, Karpenter, Prometheus operator, cert-manager) are checked
  against the CRD schema of the pinned controller version, vendored in `tests/schemas/crds/`:

      {"source": "<upstream CRD file @ version>", "apiVersion": "group/version", "kind": "Kind",
       "schema": <the CRD version's openAPIV3Schema>}

  Embedded core types may be written as `{"$ref": "/api/_definitions.json#/$defs/io.k8s.api.core.v1.PodSpec"}`
  (the definitions of kubernetes-validate), so a pod template inside a TrainingRuntime is checked as
  strictly as a Deployment's. The API server prunes unknown fields of a structural schema silently;
  here every object schema that does not preserve unknown fields is closed, so a misspelt field is an
  error instead of a quietly ignored setting.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
import referencing.jsonschema
from kubernetes_validate import utils as kv_utils

from infra.synth import ResourceRecord as Record

CRD_DIR = Path(__file__).parent / "schemas" / "crds"
DEFINITIONS_URI = "/api/_definitions.json"


def is_kubernetes(record: Record) -> bool:
    return record.custom and record.type.startswith("kubernetes:") and not record.type.startswith("kubernetes:helm")


def manifest(record: Record) -> dict[str, Any]:
    """The object a kubernetes resource record sends to the API server."""
    obj = copy.deepcopy(record.inputs)
    return obj


@cache
def _definitions(version: str) -> dict[str, Any]:
    path = _schema_dir(version) / "_definitions.json"
    return json.loads(path.read_text())


def _schema_dir(version: str) -> Path:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{version}.0-local-strict"
    if not path.exists():
        raise LookupError(f"kubernetes-validate has no schemas for {version}")
    return path


def _strict(schema: Any) -> Any:
    """Close every object schema that does not explicitly keep unknown fields."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict schema of a vendored CRD."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        schema = _strict(doc["schema"])
        props = schema.setdefault("properties", {})
        props["metadata"] = {"$ref": f"{DEFINITIONS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
        props["apiVersion"] = {"type": "string", "enum": [doc["apiVersion"]]}
        props["kind"] = {"type": "string", "enum": [doc["kind"]]}
        schema["additionalProperties"] = False
        out[(doc["apiVersion"], doc["kind"])] = schema
    return out


def _registry(version: str) -> referencing.Registry:
    resource = referencing.Resource.from_contents(
        _definitions(version), default_specification=referencing.jsonschema.DRAFT7
    )
    return referencing.Registry().with_resource(DEFINITIONS_URI, resource)


def validate(obj: dict[str, Any], version: str) -> list[str]:
    """Every schema error of `obj` ("kind/name: path: message"); empty when it is valid."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = (obj.get("metadata") or {}).get("name", "?")
    where = f"{kind}/{name}"
    schema = crd_schemas().get((api_version, kind))
    if schema is None:
        try:
            kv_utils.validate(obj, version, strict=True)
        except kv_utils.SchemaNotFoundError as exc:
            return [f"{where}: no schema for {api_version} {kind} ({exc.message})"]
        except jsonschema.ValidationError as exc:
            return [f"{where}: {'.'.join(str(p) for p in exc.absolute_path)}: {exc.message}"]
        return []
    validator = jsonschema.Draft7Validator(schema, registry=_registry(version))
    return [
        f"{where}: {'.'.join(str(p) for p in err.absolute_path)}: {err.message}"
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]


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
