"""Offline synthesis: run the real Pulumi program under mocks and record the resource graph.

No Pulumi CLI, cloud credentials or network: `pulumi.runtime.set_mocks` with `PlatformMocks`
answers every registration and lookup, and a recording monitor keeps what the engine would have
received for each resource: URN, type token, name, parent URN, custom or component, provider,
resource options (protect, ignoreChanges) and the inputs in engine form (camelCase keys, secrets
redacted). `mlplat plan`, the cost estimator, the policy runner and the tests all read this graph.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import PROJECT, PlatformSpec, engine_config
from infra.mocks import PlatformMocks

SECRET = "[secret]"
UNKNOWN = "[unknown]"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class ResourceRecord:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    provider: str | None = None
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    # What the engine orders this resource after (the RegisterResource request's `dependencies`): the
    # explicit `depends_on` plus every resource whose outputs flow into an input, components expanded to
    # their custom children. `property_dependencies` says which input each of the latter feeds.
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The explicit `depends_on` part: dependencies that feed no input."""
        feeding = {urn for urns in self.property_dependencies.values() for urn in urns}
        return tuple(urn for urn in self.dependencies if urn not in feeding)

    @property
    def all_dependencies(self) -> tuple[str, ...]:
        """Everything created before this resource: its dependencies and its parent (the engine
        registers a child only once its parent exists)."""
        extra = (self.parent,) if self.parent and self.parent not in self.dependencies else ()
        return (*self.dependencies, *extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "options": {
                "protect": self.protect,
                "ignoreChanges": list(self.ignore_changes),
                "provider": self.provider,
                "dependsOn": list(self.depends_on),
            },
            "dependencies": {
                "all": list(self.all_dependencies),
                "dependsOn": list(self.depends_on),
                "properties": {key: list(urns) for key, urns in sorted(self.property_dependencies.items())},
                "parent": self.parent,
            },
        }


@dataclass
class Synthesis:
    """The recorded resource graph of one stack."""

    stack: str
    spec: PlatformSpec
    resources: list[ResourceRecord]
    outputs: dict[str, Any] = field(default_factory=dict)
    # The lookup (invoke) tokens the program called: what the engine runs before any resource that reads
    # their results (e.g. `gcp:storage/getProjectServiceAccount:getProjectServiceAccount`, which creates
    # the Cloud Storage service agent).
    lookups: tuple[str, ...] = ()

    def of_type(self, token: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str | None = None) -> ResourceRecord:
        found = [r for r in self.of_type(token) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {token}{f' named {name}' if name else ''}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> ResourceRecord:
        return self._index[urn]

    def children(self, urn: str) -> list[ResourceRecord]:
        if getattr(self, "_children", None) is None:
            index: dict[str, list[ResourceRecord]] = {}
            for r in self.resources:
                if r.parent:
                    index.setdefault(r.parent, []).append(r)
            self._children = index
        return self._children.get(urn, [])

    def descendants(self, urn: str) -> Iterator[ResourceRecord]:
        for child in self.children(urn):
            yield child
            yield from self.descendants(child.urn)

    def ancestors(self, record: ResourceRecord) -> Iterator[ResourceRecord]:
        while record.parent and record.parent in self._index:
            record = self._index[record.parent]
            yield record

    def type_counts(self) -> Counter[str]:
        return Counter(r.type for r in self.resources if r.type != STACK_TYPE)

    @property
    def custom_resources(self) -> list[ResourceRecord]:
        return [r for r in self.resources if r.custom]

    @property
    def _index(self) -> dict[str, ResourceRecord]:
        if getattr(self, "_by_urn", None) is None:
            self._by_urn = {r.urn: r for r in self.resources}
        return self._by_urn


def _engine_value(value: Any) -> Any:
    """Inputs as the engine sees them, with secrets redacted and unknowns marked."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, Mapping):
        return {k: _engine_value(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list | tuple):
        return [_engine_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine sends every number as a float
    return value


class _RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, keeping what each RegisterResource request carried."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[ResourceRecord] = []
        self.lookups: set[str] = set()
        self._lock = threading.Lock()

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        with self._lock:
            self.lookups.add(request.tok)
        return super().Invoke(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        inputs = _engine_value(rpc.deserialize_properties(request.object))
        record = ResourceRecord(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=inputs,
            provider=request.provider.split("::")[-2] if request.provider else None,
            protect=bool(request.protect),
            ignore_changes=tuple(request.ignoreChanges),
            dependencies=tuple(sorted(request.dependencies)),
            property_dependencies={
                key: tuple(sorted(deps.urns)) for key, deps in request.propertyDependencies.items() if deps.urns
            },
        )
        with self._lock:
            self.records.append(record)
        return response


_LOCK = threading.Lock()


def _resolve_export(value: Any) -> Any:
    """A stack output's value (secrets redacted), as `pulumi stack output --json` would show it."""
    output = pulumi.Output.from_input(value)
    if _sync_await(output.is_secret()):
        return SECRET
    return _engine_value(_sync_await(output.future()))


def synthesize(
    stack: str,
    spec: PlatformSpec,
    config: Mapping[str, Any],
    program: Callable[[], object] | None = None,
) -> Synthesis:
    """Run `program` (default: the platform program) for `stack` under mocks; return its graph.

    `config` is the stack file's `config:` mapping. The Pulumi runtime is process-global, so
    syntheses are serialized.
    """
    if program is None:
        from infra.program import run

        program = run
    resources, outputs, lookups = record(stack, PROJECT, spec.region, spec.project, config, program)
    return Synthesis(stack=stack, spec=spec, resources=resources, outputs=outputs, lookups=lookups)


def record(
    stack: str,
    project: str,
    region: str,
    gcp_project: str | None,
    config: Mapping[str, Any],
    program: Callable[[], object],
) -> tuple[list[ResourceRecord], dict[str, Any], tuple[str, ...]]:
    """Run any Pulumi Python program under the platform's mocks; return its resources, outputs and the
    lookups it called."""
    with _LOCK:
        _ensure_event_loop()
        mocks = PlatformMocks(region=region, project=gcp_project, account_id=_pinned_account(config))
        monitor = _RecordingMonitor(mocks)
        settings.ROOT.set(None)  # a fresh root Stack resource for this stack
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
        pulumi.runtime.set_all_config(engine_config(config, project))

        def body() -> None:
            program()

        _sync_await(run_pulumi_func(body))
        root = settings.get_root_resource()
        exports = getattr(root, "outputs", {}) or {}
        outputs = {name: _resolve_export(value) for name, value in exports.items()}
        resources = sorted(monitor.records, key=lambda r: r.urn)
    return resources, outputs, tuple(sorted(monitor.lookups))


def _pinned_account(config: Mapping[str, Any]) -> str | None:
    """The AWS account the stack pins (`aws:allowedAccountIds`, a list or its JSON), if any: the provider
    refuses to run against another, so the offline graph may use it for the ARNs it invents."""
    value = config.get("aws:allowedAccountIds")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if isinstance(value, list) and value and str(value[0]).isdigit():
        return str(value[0])
    return None


def _ensure_event_loop() -> None:
    """Pulumi's runtime runs on the thread's current event loop; an `asyncio.run()` earlier in the process
    (an HTTP client, a test of the model server) leaves none set behind it."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)


@dataclass(frozen=True)
class ProgramSynthesis:
    """The recorded graph of any Pulumi Python program (`mlplat check --program DIR`)."""

    stack: str
    project: str
    resources: list[ResourceRecord]
    outputs: dict[str, Any]
    config: dict[str, Any]
    lookups: tuple[str, ...] = ()


class ProgramError(Exception):
    """A program directory that cannot be run: one line, names the directory."""


def synthesize_program(directory: Path, stack: str, config: Mapping[str, Any]) -> ProgramSynthesis:
    """Run the Pulumi Python program in `directory` (its Pulumi.yaml, `main`) under the mocks.

    The program runs as the Python language host runs it: its main directory first on `sys.path`,
    as the working directory, `__main__.py` executed as `__main__`. Region and GCP project come from
    the stack config (`aws:region` / `gcp:region`, `gcp:project`).
    """
    import os
    import runpy
    import sys

    import yaml

    project_file = directory / "Pulumi.yaml"
    if not project_file.is_file():
        raise ProgramError(f"{directory}: no Pulumi.yaml (not a Pulumi project directory)")
    try:
        meta = yaml.safe_load(project_file.read_text()) or {}
    except yaml.YAMLError:
        raise ProgramError(f"{project_file}: not valid YAML") from None
    runtime = meta.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(f"{project_file}: runtime is '{runtime_name}'; only Python programs run offline")
    name = str(meta.get("name") or directory.name)
    main_dir = (directory / str(meta.get("main") or ".")).resolve()
    entry = main_dir / "__main__.py" if main_dir.is_dir() else main_dir
    if not entry.is_file():
        raise ProgramError(f"{directory}: no {entry.name} to run (Pulumi.yaml main: {meta.get('main', '.')})")
    region = str(config.get("aws:region") or config.get("gcp:region") or "us-east-1")
    gcp_project = config.get("gcp:project")

    def program() -> None:
        saved_path, saved_cwd = list(sys.path), os.getcwd()
        sys.path.insert(0, str(entry.parent))
        os.chdir(entry.parent)
        try:
            runpy.run_path(str(entry), run_name="__main__")
        finally:
            sys.path[:] = saved_path
            os.chdir(saved_cwd)

    resources, outputs, lookups = record(
        stack, name, region, str(gcp_project) if gcp_project else None, config, program
    )
    return ProgramSynthesis(
        stack=stack, project=name, resources=resources, outputs=outputs, config=dict(config), lookups=lookups
    )
