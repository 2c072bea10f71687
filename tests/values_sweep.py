"""Which Helm values does a chart actually read? The slow, naive answer: mutate each leaf the platform
sets, one at a time, and compare the render with a real Helm (tests/helm.py): a leaf whose mutation
changes nothing is dead (not a key of the chart) or inert (read, but without effect given the other
values).

`test_k8s_rendered_releases.py` proves the same in CI with far fewer renders (tests/values_proof.py:
markers in batches); this tool is its cross-check, one render per leaf (a few minutes per stack):

    .venv/bin/python -m tests.values_sweep aws-prod [release ...]

It prints, per release, the leaves its mutation leaves unchanged, and every leaf on which the sweep
and the proof disagree. A leaf can be legitimately unchanged (a value equal to what a `default` gives
anyway, or one only a running controller reads at runtime); read the chart before removing it.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests import helm

MUTATED = "mutated-by-values-sweep"


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif path:
        yield path, value


def mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 7
    if isinstance(value, str):
        return f"{value}-{MUTATED}"
    if isinstance(value, list):
        return [] if value else [MUTATED]
    return {MUTATED: MUTATED}


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _render(inputs: dict[str, Any], kube: str, apis: frozenset[str]) -> str:
    try:
        return json.dumps(helm.release_objects(inputs, kube_version=kube, api_versions=apis), sort_keys=True)
    except helm.HelmError as exc:
        return f"error: {exc}"


def unchanged_leaves(
    inputs: dict[str, Any], kube: str = "1.35", apis: frozenset[str] = frozenset(), workers: int = 2
) -> list[tuple[str, Any]]:
    """The leaves of a release's values whose mutation leaves its render unchanged, in a cluster that
    serves `apis` (the stack's CRD groups: a ServiceMonitor switch is read only where they exist)."""
    baseline = _render(inputs, kube, apis)
    values = inputs.get("values") or {}

    def same(item: tuple[tuple[str, ...], Any]) -> bool:
        path, value = item
        return _render({**inputs, "values": _set(values, path, mutate(value))}, kube, apis) == baseline

    items = list(leaves(values))
    with ThreadPoolExecutor(workers) as pool:
        flags = list(pool.map(same, items))
    return [(".".join(path), value) for (path, value), flag in zip(items, flags, strict=True) if flag]


def main(argv: list[str]) -> int:
    from tests import k8s_cluster, release_checks, values_proof

    stack, only = argv[0], set(argv[1:])
    syn = k8s_cluster.stack(stack)
    apis = frozenset(k8s_cluster.api_versions(syn))
    proved = {r.name: r for r in release_checks.from_synthesis(stack, syn).releases}
    disagree = 0
    for rel in syn.of_type(k8s_cluster.RELEASE):
        if only and rel.name not in only:
            continue
        found = unchanged_leaves(rel.inputs, syn.spec.cluster.kubernetes_version, apis)
        print(f"{stack} {rel.name}: {len(found)} unchanged")
        for path, value in found:
            print(f"    {path} = {json.dumps(value)[:80]}")
        proof = {values_proof.dotted(p) for p in release_checks.proof(proved[rel.name]).unread}
        for path in sorted(proof ^ {p for p, _ in found}):
            disagree += 1
            side = "the proof" if path in proof else "the sweep"
            print(f"    DISAGREE {path}: only {side} finds it unread")
    print(f"{stack}: the sweep and the proof disagree on {disagree} leaves")
    return 1 if disagree else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]) if sys.argv[1:] else print(__doc__) or 2)
