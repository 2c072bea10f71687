"""Derive `tests/schemas/crds/` from the CRDs the packaged charts in `tests/charts/` ship.

    .venv/bin/python -m tests.crd_schemas --write   # regenerate after a chart changes
    .venv/bin/python -m tests.crd_schemas --check   # exit 1, one line, when the files are stale

Every CRD of every source below is rendered by the real Helm (`tests/helm.py`) with the values that
turn its CRDs on, and every version of it is kept with its `openAPIV3Schema` as the chart ships it
(`pattern`, `maxLength`, `format`, enums, `required`, defaults, `x-kubernetes-*` markers and the CEL
rules in `x-kubernetes-validations`) except for one thing: the `description` of every schema node is
dropped (several MB of prose, not validation). A version the CRD does not serve keeps its flags, no schema.

One JSON file per CRD, `<plural>.<group>.json`, one line per version and per shared subschema, so a
chart bump's diff reads field by field:

    {"crd": "nodepools.karpenter.sh", "group": "karpenter.sh", "kind": "NodePool", "scope": "Cluster",
     "chart": "karpenter-crd", "chartVersion": "1.14.1", "sha256": "<the chart tgz's>", "from": "...",
     "versions": [{"name": "v1", "served": true, "storage": true, "schema": {...}}],
     "$defs": {"v1.spec.template": {...}}}

A subschema that occurs more than once in a CRD (Argo's and KServe's CRDs repeat the Container schema
dozens of times) is stored once under `$defs` and referenced as `{"$ref": "#/$defs/<first path>"}`;
`tests/k8s_schema.py` puts it back. Mechanical and lossless: 5.0 MB of schemas are stored in 2.1 MB.

Where two packaged charts ship the same CRD, the one the platform installs is the source:
* Gateway API: gateway-crds-helm with `crds.gatewayAPI.channel: standard` (serving.py installs it, and
  gateway-helm with `skipCrds`; gateway-helm's own crds/ are the experimental channel). On GKE the
  platform leaves the Gateway API CRDs to GKE (`gateway_api_crds_managed`): GKE's version may differ.
* Envoy Gateway's CRDs: gateway-crds-helm (identical to gateway-helm's crds/).
* Karpenter: karpenter-crd (autoscaling.py installs it, and karpenter with `skipCrds`; identical files).
* Node Feature Discovery v0.19.0: gpu-operator's subchart (identical to nvidia-device-plugin's; the
  platform installs one or the other, with `nfd.enabled`).
Argo Workflows (argo-workflows chart 1.x): the chart ships only minimal CRDs (spec preserved as is); with
`crds.full: true` (the default the platform keeps) its hook Job applies the full CRDs from the chart's
tag on GitHub, `files/crds/full/` (excluded from the package by its .helmignore). Those files, packed
as `tests/charts/argo-workflows-<version>.crds-full.tar.xz`, are the source (`ARGO_FULL_CRDS`).

The generator also writes `tests/schemas/cel.json`: how many CEL rules are evaluated on create and how
many are transition rules (update only), and every rule the evaluator cannot run, with the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import manifests
from tests import helm

SCHEMAS = Path(__file__).resolve().parent / "schemas"
CRD_DIR = SCHEMAS / "crds"
CEL_FILE = SCHEMAS / "cel.json"
# a subschema this long (compact JSON) or longer that occurs twice is stored once, under $defs
SHARED_MIN_CHARS = 600


@dataclass(frozen=True)
class Source:
    """A chart, rendered with `values` (and with its crds/ directory where `include_crds`)."""

    chart: str
    values: Mapping[str, Any] = field(default_factory=dict)
    include_crds: bool = False


SOURCES = (
    Source("cert-manager", {"crds": {"enabled": True}}),
    Source("external-secrets", {"installCRDs": True}),
    Source(
        "gateway-crds-helm",
        {"crds": {"gatewayAPI": {"enabled": True, "channel": "standard"}, "envoyGateway": {"enabled": True}}},
    ),
    Source("karpenter-crd"),
    Source("kserve-crd"),
    Source("kube-prometheus-stack", {"crds": {"enabled": True}}, include_crds=True),  # the crds subchart
    Source("kueue"),
    # the trainer's own CRDs (templates), JobSet's and LeaderWorkerSet's (subcharts' crds/ directories)
    Source(
        "kubeflow-trainer",
        {"crds": {"enabled": True}, "jobset": {"install": True}, "dataCache": {"enabled": True}},
        include_crds=True,
    ),
    # ClusterPolicy, NVIDIADriver, ... (crds/), and NFD's: NodeFeature* (crds/), NodeResourceTopology (templates)
    Source(
        "gpu-operator",
        {
            "nfd": {"enabled": True},
            "node-feature-discovery": {"topologyUpdater": {"enable": True, "createCRDs": True}},
        },
        include_crds=True,
    ),
)

# argo-workflows 1.x: the full CRDs its hook Job applies, from argoproj/argo-helm at the chart's tag
ARGO_FULL_CRDS = {
    "chart": "argo-workflows",
    "version": "1.0.18",
    "file": "argo-workflows-1.0.18.crds-full.tar.xz",
    "sha256": "de1ea58e9585ec713c4769a4b0ac1e71b460d6654730c72b7722c5d8e9482c95",
    "source": "github.com/argoproj/argo-helm@argo-workflows-1.0.18:charts/argo-workflows/files/crds/full"
    " (4f4cc4f960), the 8 files as a tar (sorted, mtime 0) compressed with xz -9",
}
# each file's git blob id at that tag (`git ls-tree`): the packed files are upstream's, byte for byte
ARGO_FULL_CRD_BLOBS = {
    "argoproj.io_clusterworkflowtemplates.yaml": "310413023063405017fdaddb5da245cbbf1df24c",
    "argoproj.io_cronworkflows.yaml": "fae444cbab4418be7d115a9ec18ac776bebdda7f",
    "argoproj.io_workflowartifactgctasks.yaml": "b3cff41286ea744607ab0b08ca57c1162ba86d9c",
    "argoproj.io_workfloweventbindings.yaml": "634beb6cb0c0b4cd7c5a48d9634dfbebb9ceb422",
    "argoproj.io_workflows.yaml": "487d6b1ca30d218d007275f8f9cf698c42c66807",
    "argoproj.io_workflowtaskresults.yaml": "3c98fa2a7c946874a927aa2cb075b31b2527516d",
    "argoproj.io_workflowtasksets.yaml": "50bdf11ee9f42352c4976cc811b7b7f12ab2bc58",
    "argoproj.io_workflowtemplates.yaml": "a56574db00e68b28a757f4bbf176711dc3810abc",
}


class SourceError(RuntimeError):
    """A source is missing or not what was recorded."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- reading the CRDs ----------------------------------------------------------------------------------


def chart_crds(source: Source) -> list[dict[str, Any]]:
    objs = helm.render(source.chart, source.values, namespace="crds", include_crds=source.include_crds)
    return [o for o in objs if o.get("kind") == "CustomResourceDefinition"]


def argo_crds() -> list[dict[str, Any]]:
    entry = helm.packaged_charts().get(ARGO_FULL_CRDS["chart"])
    if entry is None or entry["version"] != ARGO_FULL_CRDS["version"]:
        found = entry and entry["version"]
        raise SourceError(
            f"argo-workflows {found} is packaged, the full CRDs are those of {ARGO_FULL_CRDS['version']}: "
            f"pack the new tag's files/crds/full into tests/charts and update ARGO_FULL_CRDS"
        )
    path = helm.CHARTS_DIR / ARGO_FULL_CRDS["file"]
    data = path.read_bytes()
    if (got := _sha256(data)) != ARGO_FULL_CRDS["sha256"]:
        raise SourceError(f"{path.name}: sha256 {got}, expected {ARGO_FULL_CRDS['sha256']}")
    out, blobs = [], {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            handle = tar.extractfile(member)
            if handle is not None:
                text = handle.read()
                blobs[member.name] = hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()
                (doc,) = manifests.parse(text.decode())  # one CRD per file
                out.append(doc)
    if blobs != ARGO_FULL_CRD_BLOBS:
        raise SourceError(f"{path.name}: its files are not argo-helm's at the tag (git blob ids differ)")
    return out


@dataclass(frozen=True)
class Found:
    chart: str
    version: str
    sha256: str
    origin: str
    crd: dict[str, Any]


def collect() -> dict[str, Found]:
    """CRD name -> the CRD and where it comes from; a CRD shipped by two sources is an error."""
    charts = helm.packaged_charts()
    out: dict[str, Found] = {}

    def add(chart: str, origin: str, crds: list[dict[str, Any]]) -> None:
        for crd in crds:
            name = crd["metadata"]["name"]
            if name in out:
                raise SourceError(f"CRD {name} comes from {out[name].chart} and {chart}: keep the one installed")
            entry = charts[chart]
            out[name] = Found(chart, entry["version"], entry["sha256"], origin, crd)

    for source in SOURCES:
        how = f"{helm.chart_path(source.chart).name}, helm template"
        how += " --include-crds" if source.include_crds else ""
        add(source.chart, f"{how}, values {json.dumps(source.values, sort_keys=True)}", chart_crds(source))
    argo = f"{ARGO_FULL_CRDS['file']} (sha256 {ARGO_FULL_CRDS['sha256']}): {ARGO_FULL_CRDS['source']}"
    add(ARGO_FULL_CRDS["chart"], argo, argo_crds())
    return dict(sorted(out.items()))


# --- what is kept --------------------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "additionalItems")


def strip(schema: Any) -> Any:
    """The schema without the `description` of any node (a property named `description` stays)."""
    if isinstance(schema, list):  # `items` as a list of schemas
        return [strip(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in _SCHEMA_MAPS:
            out[key] = {name: strip(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_ONE:
            out[key] = [strip(s) for s in value] if isinstance(value, list) else strip(value)
        else:
            out[key] = value  # keywords and literal values (enum, default, x-kubernetes-*) as they are
    return out


def _children(schema: Any, path: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(schema, dict):
        return
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{path}.{name.replace('/', '_').replace('~', '_')}", sub
    if isinstance(schema.get("additionalProperties"), dict):
        yield f"{path}.*", schema["additionalProperties"]
    if isinstance(schema.get("items"), dict):
        yield f"{path}[]", schema["items"]
    for key in _SCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or ()):
            yield f"{path}|{key}{i}", sub
    if isinstance(schema.get("not"), dict):
        yield f"{path}|not", schema["not"]


def _replace_children(schema: dict[str, Any], fn: Any, path: str) -> dict[str, Any]:
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {
            n: fn(s, f"{path}.{n.replace('/', '_').replace('~', '_')}") for n, s in schema["properties"].items()
        }
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = fn(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        out["items"] = fn(schema["items"], f"{path}[]")
    for key in _SCHEMA_LISTS:
        if key in schema:
            out[key] = [fn(s, f"{path}|{key}{i}") for i, s in enumerate(schema[key])]
    if isinstance(schema.get("not"), dict):
        out["not"] = fn(schema["not"], f"{path}|not")
    return out


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def share(versions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Store each large subschema that occurs more than once under `$defs`, named by its first path."""
    counts: Counter[str] = Counter()

    def count(schema: Any, path: str) -> None:
        if len(text := _canon(schema)) >= SHARED_MIN_CHARS:
            counts[text] += 1
        for sub_path, sub in _children(schema, path):
            count(sub, sub_path)

    for v in versions:
        if v["schema"] is not None:
            count(v["schema"], v["name"])
    names: dict[str, str] = {}
    defs: dict[str, Any] = {}

    def rewrite(schema: Any, path: str, is_def: bool = False) -> Any:
        if not isinstance(schema, dict):
            return schema
        text = _canon(schema)
        if not is_def and counts[text] > 1:
            if text not in names:
                names[text] = path
                defs[path] = rewrite(schema, path, is_def=True)
            return {"$ref": f"#/$defs/{names[text]}"}
        return _replace_children(schema, rewrite, path)

    out = [{**v, "schema": rewrite(v["schema"], v["name"])} if v["schema"] is not None else v for v in versions]
    # a def used once (it only repeated inside another def) goes back in place
    while True:
        uses = Counter(_refs([out, defs]))
        once = {name for name in defs if uses[name] == 1}
        if not once:
            break
        inline = {name: defs.pop(name) for name in once}
        out, defs = _put_back(out, inline), {k: _put_back(v, inline) for k, v in defs.items()}
    return out, dict(sorted(defs.items()))


def _put_back(value: Any, inline: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref", "")
        if len(value) == 1 and ref.removeprefix("#/$defs/") in inline:
            return _put_back(inline[ref.removeprefix("#/$defs/")], inline)
        return {k: _put_back(v, inline) for k, v in value.items()}
    if isinstance(value, list):
        return [_put_back(v, inline) for v in value]
    return value


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$ref"), str):
            yield value["$ref"].removeprefix("#/$defs/")
        else:
            for v in value.values():
                yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


def document(found: Found) -> dict[str, Any]:
    crd = found.crd
    spec = crd["spec"]
    versions = []
    for v in spec["versions"]:
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        served = bool(v.get("served"))
        versions.append(
            {
                "name": v["name"],
                "served": served,
                "storage": bool(v.get("storage")),
                "schema": strip(schema) if served and schema is not None else None,
            }
        )
    versions, defs = share(versions)
    return {
        "crd": crd["metadata"]["name"],
        "group": spec["group"],
        "kind": spec["names"]["kind"],
        "scope": spec["scope"],
        "chart": found.chart,
        "chartVersion": found.version,
        "sha256": found.sha256,
        "from": found.origin,
        "versions": versions,
        "$defs": defs,
    }


def dumps(doc: Mapping[str, Any]) -> str:
    """JSON, one line per header field, per version and per shared subschema."""

    def one(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def version(entry: Mapping[str, Any]) -> str:  # the flags first, then the (long) schema
        flags = ", ".join(f"{one(k)}: {one(v)}" for k, v in entry.items() if k != "schema")
        return f"  {{{flags}, {one('schema')}: {one(entry['schema'])}}}"

    head = [f" {one(k)}: {one(v)}" for k, v in doc.items() if k not in ("versions", "$defs")]
    versions = ",\n".join(version(v) for v in doc["versions"])
    defs = ",\n".join(f"  {one(k)}: {one(v)}" for k, v in doc["$defs"].items())
    body = [*head, f' "versions": [\n{versions}\n ]', f' "$defs": {{\n{defs}\n }}' if defs else ' "$defs": {}']
    return "{\n" + ",\n".join(body) + "\n}\n"


def cel_report(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of the CEL rules of every served version, and each rule the evaluator cannot run."""
    from tests import k8s_cel
    from tests.k8s_schema import inline

    counts: Counter[str] = Counter()
    unsupported = []
    for doc in docs.values():
        for version in doc["versions"]:
            if version["schema"] is None:
                continue
            for path, rule in k8s_cel.rules(inline(version["schema"], doc["$defs"])):
                verdict = k8s_cel.classify(rule)
                counts[verdict if verdict in ("evaluated", "transition") else "unsupported"] += 1
                if verdict not in ("evaluated", "transition"):
                    where = f"{doc['crd']} {version['name']} {path or '.'}"
                    unsupported.append({"where": where, "rule": rule["rule"], "reason": verdict})
    return {
        "evaluator": "cel-expr-python, strings extension, Kubernetes find/findAll/isIP (tests/k8s_cel.py)",
        "evaluated": counts["evaluated"],
        "transition": counts["transition"],
        "unsupported": unsupported,
    }


def generate() -> dict[Path, str]:
    """Every file under tests/schemas/crds/ and tests/schemas/cel.json, as text."""
    docs = {name: document(found) for name, found in collect().items()}
    files = {CRD_DIR / f"{name}.json": dumps(doc) for name, doc in docs.items()}
    files[CEL_FILE] = json.dumps(cel_report(docs), indent=1, ensure_ascii=False) + "\n"
    return files


def stale(files: Mapping[Path, str]) -> list[str]:
    """`changed: X`, `missing: X`, `extra: X` for every file that differs from `files`."""
    out = []
    on_disk = set(CRD_DIR.glob("*.json"))
    for path, text in files.items():
        if not path.exists():
            out.append(f"missing: {path.name}")
        elif path.read_text() != text:
            out.append(f"changed: {path.name}")
    out += [f"extra: {p.name}" for p in sorted(on_disk - set(files))]
    return out


def write(files: Mapping[Path, str]) -> None:
    CRD_DIR.mkdir(parents=True, exist_ok=True)
    for path in set(CRD_DIR.glob("*.json")) - set(files):
        path.unlink()
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crd_schemas", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate tests/schemas/crds/ and cel.json")
    mode.add_argument("--check", action="store_true", help="exit 1 when the committed files are stale")
    args = parser.parse_args(argv)
    if helm.helm_binary() is None:
        print(helm.MISSING, file=sys.stderr)
        return 1
    start = time.monotonic()
    try:
        files = generate()
    except (SourceError, helm.HelmError, OSError) as exc:
        print(f"crd_schemas: {exc}", file=sys.stderr)
        return 1
    took = time.monotonic() - start
    if args.check:
        diffs = stale(files)
        if diffs:
            shown = ", ".join(diffs[:3]) + (f" and {len(diffs) - 3} more" if len(diffs) > 3 else "")
            print(
                f"tests/schemas is stale ({shown}): run .venv/bin/python -m tests.crd_schemas --write",
                file=sys.stderr,
            )
            return 1
        print(f"tests/schemas: {len(files) - 1} CRD files up to date ({took:.1f}s)")
        return 0
    write(files)
    cel = json.loads(files[CEL_FILE])
    print(
        f"tests/schemas: {len(files) - 1} CRDs; CEL rules: {cel['evaluated']} evaluated, {cel['transition']} "
        f"transition (update only), {len(cel['unsupported'])} unsupported ({took:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
