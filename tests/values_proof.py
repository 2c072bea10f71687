"""Which of the Helm values a release sets does its chart read? A proof by render, fast enough for CI.

A leaf of the values (a scalar, an empty map, or a list: one leaf each) is *read* when some change of
it changes what the chart renders. `tests/values_sweep.py` shows that naively, one render per leaf
(about 2,600 renders over the stacks). Here the same fact is shown with far fewer renders:

1. **Markers, in one batch.** Every `true`, non-empty string and integer of 2 or more (and every such
   scalar inside a list leaf) is replaced at once by a unique marker (`zqv12x`, or a number from
   41000 absent from the baseline). One render; a marker found in the output proves its leaf reaches
   the output. Markers keep what templates branch on: truthiness (nothing false, empty or zero is
   marked) and comparisons with 1 (`gt .Values.replicas 1`: 1 is not marked). A batch the chart
   refuses drops the leaves the refusal names (a values schema's paths, the `.Values` of a failing
   template expression such as a `semverCompare` on a tag), else is split in two, until the leaf
   that cannot carry a marker is alone; it goes to step 3.
2. **Dumped maps, in one batch.** A leaf no marker can stand in for (`false`, 0, 1, "", {}) is read
   when its map is dumped whole (`toYaml .Values.securityContext`): each such map gets one extra
   marker key, and a leaf found with its own value beside that key, in the same YAML mapping of the
   output, reaches the output.
3. **One leaf at a time** for the rest (a bool only branched on, a hashed or base64-encoded value, a
   compared string, or a leaf really unread): the leaf is read when the render differs from the
   baseline, or the chart refuses the change (it checks the value). Where the release installs
   CRDs, a leaf still unread is tried once more with them (a value can switch a subchart's `crds/`).

Renders are compared as raw text (sorted values in, deterministic templates out; the baseline is
rendered twice, once per chart, to show the chart is deterministic). Steps 1-3 render without CRDs:
Helm never templates a chart's `crds/` files, so no value reaches into them.

What a batch cannot rule out: it also changes the *strings* other leaves are compared with (`ne
.Values.service.type "ClusterIP"`), so a leaf that only a different string would switch on could be
found read in a batch. `python -m tests.values_sweep` renders leaf by leaf and is the cross-check.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml

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
    by_dump: set[Path] = field(default_factory=set)
    by_mutation: set[Path] = field(default_factory=set)
    unread: list[Path] = field(default_factory=list)
    renders: int = 0

    @property
    def read(self) -> set[Path]:
        return self.by_marker | self.by_dump | self.by_mutation


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
            refused = _refusals(str(exc))
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
    unproven = _dumped_with_their_map(proof, values, render, markers, unproven)

    paths = [proof.leaves[i][0] for i in sorted(unproven)]
    proof.by_mutation = _prove_each(values, render, pool, proof.leaves, paths, baseline)
    proof.renders += len(paths)
    proof.unread = [p for p in paths if p not in proof.by_mutation]
    return proof


def _dumped_with_their_map(
    proof: Proof, values: Mapping[str, Any], render: Render, markers: _Markers, unproven: list[int]
) -> list[int]:
    """Step 1b: a leaf no marker can stand in for (`false`, 0, 1, "", {}) is read when its map is
    dumped whole (`toYaml .Values.securityContext`): give each such map one extra key, a marker; where
    that key shows up in the output, the keys beside it in the same YAML mapping are its siblings, and
    a leaf found there with its own value reaches the output. Returns the indices still unproven."""
    parents: dict[Path, list[int]] = {}
    for i in unproven:
        path, value = proof.leaves[i]
        if len(path) > 1 and (not isinstance(value, list | dict) or not value):
            parents.setdefault(path[:-1], []).append(i)
    while parents:
        keys = {parent: markers.string() for parent in parents}
        trial = copy.deepcopy(dict(values))
        for parent, key in keys.items():
            node = trial
            for part in parent:
                node = node[part]
            node[key] = key
        proof.renders += 1
        try:
            text = render(trial)
        except helm.HelmError as exc:  # a values schema that allows no unknown key: without those maps
            refused = {r for r in _refusals(str(exc))}
            kept = {p: ix for p, ix in parents.items() if (*p, keys[p]) not in refused}
            if len(kept) == len(parents):
                return unproven
            parents = kept
            continue
        lines = text.splitlines()
        proven = set()
        for parent, key in keys.items():
            for j, line in enumerate(lines):
                if line.lstrip(" -").startswith(f"{key}:"):
                    siblings = _mapping_around(lines, j)
                    for i in parents[parent]:
                        path, value = proof.leaves[i]
                        if path[-1] in siblings and _scalar(siblings[path[-1]]) == value:
                            proven.add(i)
        for i in proven:
            proof.by_dump.add(proof.leaves[i][0])
        return [i for i in unproven if i not in proven]
    return unproven


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


_KEY = re.compile(r"^\s*(?:- )?([^\s:#'\"]+|\"[^\"]*\"|'[^']*'):(?: (.*))?$")


def _mapping_around(lines: list[str], at: int) -> dict[str, str]:
    """The keys (and raw values) of the block-style YAML mapping that line `at` is a key of."""

    def item(line: str) -> bool:
        return line.lstrip(" ").startswith("- ")

    def key(line: str) -> tuple[str, str] | None:
        match = _KEY.match(line)
        return (match.group(1).strip("'\""), match.group(2) or "") if match else None

    depth = _indent(lines[at]) + (2 if item(lines[at]) else 0)
    found = dict(filter(None, [key(lines[at])]))
    for step in (-1, 1):
        if step == -1 and item(lines[at]):
            continue  # the first key of a list item: nothing above is its sibling
        j = at + step
        while 0 <= j < len(lines):
            line = lines[j]
            indent = _indent(line) + (2 if item(line) else 0)
            if line.strip() in ("", "---") or indent < depth or (indent == depth and item(line) and step == 1):
                break
            if indent == depth and (pair := key(line)):
                found[pair[0]] = pair[1]
                if item(line):
                    break  # the first key of this list item
            j += step
    return found


def _scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return raw


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


_SCHEMA_AT = re.compile(r"^\s*- at '(/[^']*)': (.*)$", re.M)
_SCHEMA_CHART = re.compile(r"^([\w.-]+):$", re.M)
_VALUES_REF = re.compile(r"\.Values((?:\.[\w-]+)+)")
_TEMPLATE = re.compile(r"template: [\w.-]+/((?:charts/[\w.-]+/)*)templates/")


def _refusals(message: str) -> list[tuple[str, ...]]:
    """The values paths a refusal names. A values schema lists them ("- at '/webhook/replicaCount':
    got string, want number", under the (sub)chart's name: a subchart's paths are also tried under
    its values key); a failing template expression names them (`at <semverCompare ">=1.4.0-0"
    (coalesce .Values.version .Values.image.tag ...)>`), relative to the subchart whose template failed."""
    out: list[tuple[str, ...]] = []
    charts = _SCHEMA_CHART.findall(message)
    for pointer, why in _SCHEMA_AT.findall(message):
        parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p)
        # "additional properties 'x' not allowed": the refused path is the new key, not its map
        named = re.findall(r"'([^']+)'", why) if why.startswith("additional propert") else [""]
        for found in ((*parts, n) if n else parts for n in named):
            if found and why != "validation failed":
                out += [found, *((chart, *found) for chart in charts)]
    template = _TEMPLATE.search(message)
    prefix = tuple(p for p in (template.group(1) if template else "").split("/") if p and p != "charts")
    out += [(*prefix, *ref.strip(".").split(".")) for ref in _VALUES_REF.findall(message)]
    return out


def _covers(refused: tuple[str, ...], path: Path) -> bool:
    """Whether a refused path is this leaf or inside it (a list leaf's element: '/args/0')."""
    return refused[: len(path)] == path


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
