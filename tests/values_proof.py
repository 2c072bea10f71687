"""Which of the Helm values a release sets does its chart read? A proof by render, fast enough for CI.

A leaf of the values (a scalar, an empty map, or a list: one leaf each) is *read* when some change of
it changes what the chart renders. `tests/values_sweep.py` shows that naively, one render per leaf
(about 2,600 renders over the stacks). Here the same fact is shown with far fewer renders:

1. **Markers, in batches.** Every non-empty string and non-zero integer leaf (and every such scalar
   inside a list leaf) is replaced at once by a unique marker of its own type (`zqv12x`, or a
   number absent from the baseline). One render; a marker found in the output proves its leaf
   reaches the output. Markers keep the truthiness of what they replace (nothing empty or zero is
   marked, no bool is), so `if`/`with`/`default` branch as before. A batch the chart refuses (a
   `fail` guard, a values schema, a `semverCompare` on a tag) is split in two until the leaf that
   cannot carry a marker is alone; that leaf goes to step 2.
2. **One leaf at a time** for the rest: bools (flipped), empty values, floats, leaves whose marker was
   not found (hashed, base64-encoded, only compared, or really unread). The leaf is read when the
   render differs from the baseline, or the chart refuses the change (it checks the value).

Renders are compared as raw text (sorted values in, deterministic templates out; the baseline is
rendered twice to show the chart is deterministic). CRDs are left out of these renders: Helm never
templates a chart's `crds/` files, so no value reaches them.

What a marker cannot rule out: a batch also changes the *strings* other leaves are compared with
(`eq .Values.service.type "ClusterIP"`), so a leaf that only a different string would switch on
could be found "read" in a batch. `python -m tests.values_sweep` renders leaf by leaf and is the
cross-check (it agreed on every stack when this was written).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests import helm

Path = tuple[str, ...]
Render = Callable[[Mapping[str, Any]], str]  # the chart's output for these values; raises helm.HelmError

MUTATED = "mutated-by-values-proof"


def leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """(path, value) of every leaf: a scalar, an empty map, or a list (one leaf, whatever it holds)."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaves(child, (*path, str(key)))
    elif path:
        yield path, value


def mutate(value: Any) -> Any:
    """A different value of the same kind (a bool flipped, a list emptied or filled)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 7
    if isinstance(value, str):
        return f"{value}-{MUTATED}" if value else MUTATED
    if isinstance(value, list):
        return [] if value else [MUTATED]
    if isinstance(value, dict):
        return {MUTATED: MUTATED}
    return MUTATED  # null


def set_path(values: Mapping[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(values))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _markable(value: Any) -> bool:
    """Whether a marker can stand in for (part of) `value` without changing how templates branch on it:
    `true` becomes a (truthy) string marker, a non-empty string another one, an integer of 2 or more
    one of 41000 and up (replica counts compare with 1); `false`, 0, 1, "" and floats cannot be marked."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value != ""
    if isinstance(value, int):
        return value >= 2
    if isinstance(value, list):
        return any(_markable(v) for v in value)
    if isinstance(value, dict):
        return any(_markable(v) for v in value.values())
    return False


class _Markers:
    """Unique markers absent from the baseline text: strings `zqv<n>x`, integers from 41000 up
    (under 10^6: Helm prints larger numbers from its float64 values as 1.2e+06)."""

    def __init__(self, baseline: str) -> None:
        self.baseline = baseline
        self.serial = 0
        self.number = 41000
        self.numbers_in_baseline = set(re.findall(r"\d+", baseline))

    def string(self) -> str:
        while True:
            self.serial += 1
            marker = f"zqv{self.serial}x"
            if marker not in self.baseline:
                return marker

    def integer(self) -> int:
        while True:
            self.number += 1
            if str(self.number) not in self.numbers_in_baseline:
                return self.number

    def mark(self, value: Any, found: list[str]) -> Any:
        """`value` with each non-empty string and non-zero integer replaced by a marker (appended to `found`)."""
        if not _markable(value):
            return value
        if isinstance(value, bool | str):
            found.append(self.string())
            return found[-1]
        if isinstance(value, int):
            number = self.integer()
            found.append(str(number))
            return number
        if isinstance(value, list):
            return [self.mark(v, found) for v in value]
        return {k: self.mark(v, found) for k, v in value.items()}


def _present(marker: str, text: str) -> bool:
    if marker.isdigit():  # a number on its own, not a run of digits inside a hash or a longer number
        return re.search(rf"(?<![\w.]){marker}(?![\w.])", text) is not None
    return marker in text


@dataclass
class Proof:
    """What the renders showed for one release's values."""

    leaves: list[tuple[Path, Any]]
    by_marker: set[Path] = field(default_factory=set)
    by_mutation: set[Path] = field(default_factory=set)
    unread: list[Path] = field(default_factory=list)
    renders: int = 0

    @property
    def read(self) -> set[Path]:
        return self.by_marker | self.by_mutation


class NotDeterministicError(AssertionError):
    """The chart renders differently from the same values (random certificates, timestamps)."""


def prove(
    values: Mapping[str, Any],
    render: Render,
    *,
    with_crds: Render | None = None,
    workers: int = 1,
    check_determinism: bool = True,
) -> Proof:
    """Render `values` and changes of it; return which leaves are read and which are not. `render`
    leaves CRDs out; `with_crds` (the release's own render, when it installs CRDs) re-checks the
    leaves that change nothing else: a value can switch a subchart, and with it its `crds/`, on or off.
    `check_determinism=False` skips the second baseline render (the chart was shown deterministic)."""
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        proof = _prove(values, render, pool, check_determinism)
        if with_crds is not None and proof.unread:
            again = _prove_each(values, with_crds, pool, proof.leaves, proof.unread)
            proof.renders += len(proof.unread) + 1
            proof.by_mutation |= again
            proof.unread = [p for p in proof.unread if p not in again]
        return proof
    finally:
        if pool is not None:
            pool.shutdown()


def _map(pool: ThreadPoolExecutor | None, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return list(pool.map(fn, items)) if pool is not None else [fn(i) for i in items]


def _prove(values: Mapping[str, Any], render: Render, pool: ThreadPoolExecutor | None, twice: bool) -> Proof:
    proof = Proof(list(leaves(values)))
    baseline, *again = _map(pool, lambda _: render(values), [0, 1] if twice else [0])
    proof.renders += 1 + len(again)
    if again and again[0] != baseline:
        raise NotDeterministicError("the chart renders differently from the same values")
    markers = _Markers(baseline)
    candidates = [i for i, (_, value) in enumerate(proof.leaves) if _markable(value)]
    unproven = [i for i in range(len(proof.leaves)) if i not in set(candidates)]

    def batch(indices: list[int]) -> list[int]:
        """Indices not proven by markers (to be mutated one at a time)."""
        marked: dict[int, list[str]] = {}
        trial = copy.deepcopy(dict(values))
        for i in indices:
            path, value = proof.leaves[i]
            marked[i] = []
            trial = _set_in_place(trial, path, markers.mark(value, marked[i]))
        proof.renders += 1
        try:
            text = render(trial)
        except helm.HelmError as exc:
            if len(indices) == 1:
                return indices
            # a values schema names the paths it refuses: those leaves go one at a time, the rest again
            refused = _schema_refusals(str(exc))
            named = [i for i in indices if any(_covers(r, proof.leaves[i][0]) for r in refused)]
            if named:
                rest = [i for i in indices if i not in named]
                return named + (batch(rest) if rest else [])
            half = len(indices) // 2
            return batch(indices[:half]) + batch(indices[half:])
        missed = []
        for i in indices:
            if any(_present(m, text) for m in marked[i]):
                proof.by_marker.add(proof.leaves[i][0])
            else:
                missed.append(i)
        return missed

    if candidates:
        unproven += batch(candidates)

    paths = [proof.leaves[i][0] for i in sorted(unproven)]
    proof.by_mutation = _prove_each(values, render, pool, proof.leaves, paths, baseline)
    proof.renders += len(paths)
    proof.unread = [p for p in paths if p not in proof.by_mutation]
    return proof


def _prove_each(
    values: Mapping[str, Any],
    render: Render,
    pool: ThreadPoolExecutor | None,
    all_leaves: list[tuple[Path, Any]],
    paths: list[Path],
    baseline: str | None = None,
) -> set[Path]:
    """The leaves among `paths` whose mutation alone changes the render (or makes the chart refuse it)."""
    if baseline is None:
        baseline = render(values)
    value_of = dict(all_leaves)

    def changes(path: Path) -> bool:
        try:
            return render(set_path(values, path, mutate(value_of[path]))) != baseline
        except helm.HelmError:
            return True  # the chart checks this value: it reads it

    return {p for p, flag in zip(paths, _map(pool, changes, paths), strict=True) if flag}


_SCHEMA_AT = re.compile(r"^\s*- at '(/[^']*)'", re.M)


def _schema_refusals(message: str) -> list[tuple[str, ...]]:
    """The values paths a chart's values.schema.json refused, as Helm v4 lists them
    ("- at '/webhook/replicaCount': got string, want number"); a subchart's paths are relative to
    its own values, so they are matched as path suffixes."""
    out = []
    for pointer in _SCHEMA_AT.findall(message):
        parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p)
        if parts:
            out.append(parts)
    return out


def _covers(refused: tuple[str, ...], path: Path) -> bool:
    """Whether a refused schema path is this leaf or inside it (a list leaf's element: '/args/0')."""
    for start in range(len(path)):
        tail = path[start:]
        if refused[: len(tail)] == tail and len(refused) >= len(tail):
            return True
    return False


def _set_in_place(values: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return values


def dotted(path: Path) -> str:
    return ".".join(path)


def canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)
