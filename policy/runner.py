"""The offline policy runner behind `mlplat check` (and the policy section of `mlplat plan`).

It does what `pulumi preview --policy-pack` does, without the CLI: each pack's own policy objects
are served by `pulumi_policy`'s analyzer servicer (the object the CLI talks to over gRPC), configured
with `Configure` from the same per-environment config file `--policy-pack-config` reads, and fed
every resource of a synthesized stack as `Analyze` requests (properties as a protobuf `Struct`,
secrets and unknowns in the engine's wire form) and the whole stack as one `AnalyzeStack` request.
Waivers are applied by the rules themselves (see `policy.waivers`) and reported here.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import waivers as waivers_mod
from policy.rule import ResourceRule, Rule, StackRule, config_defaults

POLICY_DIR = Path(__file__).resolve().parent
PACK_MODULES = ("policy.security", "policy.responsible_ai", "policy.deploy")
# The packs that also see the objects a stack's Helm releases install (`mlplat check --render`): the
# security pack, whose Kubernetes rules then police a chart's pods like the platform's own. The other
# packs judge what the program declares (responsible-AI metadata, creation order), not a chart's internals.
RENDERED_PACKS = ("ml-platform-security",)
SECRET = "[secret]"
UNKNOWN = "[unknown]"
LEVELS = {e.value: e for e in EnforcementLevel}
_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.REMEDIATE: "mandatory",
    proto.DISABLED: "disabled",
}
_SEVERITY_NAMES = {
    proto.POLICY_SEVERITY_LOW: "low",
    proto.POLICY_SEVERITY_MEDIUM: "medium",
    proto.POLICY_SEVERITY_HIGH: "high",
    proto.POLICY_SEVERITY_CRITICAL: "critical",
}


class PolicyConfigError(ValueError):
    """A bad pack config or waiver file: one line naming the file."""


@dataclass(frozen=True)
class Pack:
    name: str
    module: str
    directory: Path
    version: str
    policies: Sequence[Rule]

    @property
    def rules(self) -> list[Rule]:
        from policy.rule import META_RULES

        return [r for r in self.policies if r.name not in META_RULES]

    def policy(self, name: str) -> Rule:
        return next(r for r in self.policies if r.name == name)

    def config_file(self, environment: str) -> Path:
        return self.directory / "config" / f"{environment}.json"


def load_packs() -> list[Pack]:
    found = []
    for module_name in PACK_MODULES:
        module = importlib.import_module(module_name)
        directory = Path(module.__file__ or "").resolve().parent
        meta = yaml.safe_load((directory / "PulumiPolicy.yaml").read_text())
        found.append(
            Pack(
                name=module.PACK,
                module=module_name,
                directory=directory,
                version=str(meta.get("version", "0.0.1")),
                policies=module.POLICIES,
            )
        )
    return found


# --- pack config, as `pulumi preview --policy-pack-config FILE` reads it --------------------------------


def read_pack_config(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyConfigError(f"{path}: no such policy pack config file") from None
    except ValueError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PolicyConfigError(f"{path}: expected a JSON object of policy name -> level or settings")
    return doc


def resolve_pack_config(pack: Pack, config: Mapping[str, Any], source: str = "config") -> dict[str, tuple[str, dict]]:
    """Per policy: (enforcement level, properties with schema defaults), as the CLI resolves them."""
    import jsonschema

    names = {r.name for r in pack.policies}
    for key in config:
        if key != "all" and key not in names:
            raise PolicyConfigError(f"{source}: '{key}' is not a policy of {pack.name}")
    default_level = config.get("all")
    if default_level is not None and default_level not in LEVELS:
        raise PolicyConfigError(f"{source}: all: '{default_level}' is not an enforcement level")
    resolved: dict[str, tuple[str, dict]] = {}
    for rule in pack.policies:
        entry = config.get(rule.name)
        level = default_level or (rule.enforcement_level.value if rule.enforcement_level else "advisory")
        properties = config_defaults(rule.config_schema)
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, dict):
            given = dict(entry)
            level = given.pop("enforcementLevel", level)
            if rule.config_schema is None and given:
                raise PolicyConfigError(f"{source}: {rule.name} takes no settings (got {', '.join(given)})")
            if rule.config_schema is not None:
                schema = {
                    "type": "object",
                    "properties": rule.config_schema.properties,
                    "additionalProperties": False,
                }
                try:
                    jsonschema.validate(given, schema)
                except jsonschema.ValidationError as exc:
                    where = ".".join(str(x) for x in exc.absolute_path)
                    raise PolicyConfigError(
                        f"{source}: {rule.name}{'.' + where if where else ''}: {exc.message}"
                    ) from None
            properties.update(given)
        elif entry is not None:
            raise PolicyConfigError(f"{source}: {rule.name}: expected a level or an object")
        if level not in LEVELS:
            raise PolicyConfigError(f"{source}: {rule.name}: '{level}' is not an enforcement level")
        resolved[rule.name] = (level, properties)
    return resolved


def configure_request(resolved: Mapping[str, tuple[str, dict]]) -> proto.ConfigureAnalyzerRequest:
    wire = {
        "advisory": proto.ADVISORY,
        "mandatory": proto.MANDATORY,
        "remediate": proto.REMEDIATE,
        "disabled": proto.DISABLED,
    }
    request = proto.ConfigureAnalyzerRequest()
    for name, (level, properties) in resolved.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = wire[level]
        entry.properties.update(properties)
    return request


# --- resources in engine form ---------------------------------------------------------------------------


def _wire(value: Any) -> Any:
    """A recorded input back in the engine's wire form: secrets and unknowns as the engine sends them."""
    if value == SECRET:
        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": SECRET}
    if value == UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(_wire(props))
    return out


@dataclass(frozen=True)
class Resource:
    """A resource as the runner hands it to the analyzer (from a synthesis or a test)."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    parent: str | None = None
    provider: Resource | None = None
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # False for component resources: the engine sends them to stack rules (with their parent and
    # dependencies, which order their children) but they carry no cloud properties
    custom: bool = True


def resource(type_: str, props: Mapping[str, Any], name: str = "subject", **extra: Any) -> Resource:
    """A stand-alone resource (tests, examples): URN in the engine's format."""
    urn = extra.pop("urn", f"urn:pulumi:test::ml-platform::{type_}::{name}")
    return Resource(type=type_, name=name, urn=urn, inputs=props, **extra)


def from_synthesis(syn: Any) -> list[Resource]:
    """The resources of a `infra.synth.Synthesis` as the engine sends them to analyzers: every one but the
    providers (which come with each resource instead); components marked `custom=False`."""
    providers: dict[str, Resource] = {}
    for r in syn.resources:
        if r.type.startswith("pulumi:providers:"):
            providers[r.name] = Resource(type=r.type, name=r.name, urn=r.urn, inputs=r.inputs)
    out = []
    for r in syn.resources:
        if r.type.startswith("pulumi:providers:"):
            continue
        out.append(
            Resource(
                type=r.type,
                name=r.name,
                urn=r.urn,
                inputs=r.inputs,
                parent=r.parent,
                provider=providers.get(r.provider or ""),
                protect=r.protect,
                dependencies=r.dependencies,
                property_dependencies=r.property_dependencies,
                custom=r.custom,
            )
        )
    return out


def _options(r: Resource) -> proto.AnalyzerResourceOptions:
    return proto.AnalyzerResourceOptions(protect=r.protect, parent=r.parent or "")


def _provider(r: Resource) -> proto.AnalyzerProviderResource | None:
    if r.provider is None:
        return None
    prov = r.provider
    return proto.AnalyzerProviderResource(type=prov.type, properties=struct(prov.inputs), urn=prov.urn, name=prov.name)


def analyze_request(r: Resource) -> proto.AnalyzeRequest:
    request = proto.AnalyzeRequest(
        type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name, options=_options(r)
    )
    provider = _provider(r)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def stack_request(
    resources: Iterable[Resource], with_properties: Callable[[str], bool] | None = None
) -> proto.AnalyzeStackRequest:
    """An AnalyzeStack request; `with_properties(type)` False: that resource goes without its properties
    (for a graph rule that reads only its edges)."""
    request = proto.AnalyzeStackRequest()
    for r in resources:
        item = request.resources.add()
        item.type, item.urn, item.name = r.type, r.urn, r.name
        if with_properties is None or with_properties(r.type):
            item.properties.CopyFrom(struct(r.inputs))
        item.options.CopyFrom(_options(r))
        item.parent = r.parent or ""
        item.dependencies.extend(r.dependencies)
        for key, urns in r.property_dependencies.items():
            item.propertyDependencies[key].urns.extend(urns)
        provider = _provider(r)
        if provider is not None:
            item.provider.CopyFrom(provider)
    return request


# --- results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    pack: str
    policy: str
    level: str  # mandatory | advisory | waived
    severity: str
    urn: str
    type: str
    name: str
    message: str
    remediation: str = ""
    compliance: str = ""
    waiver: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "pack": self.pack,
            "policy": self.policy,
            "level": self.level,
            "severity": self.severity,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "message": self.message,
            "remediation": self.remediation,
            "compliance": self.compliance,
        }
        if self.waiver:
            out["waiver"] = self.waiver
        return out


@dataclass
class StackReport:
    stack: str
    environment: str
    resources: int
    evaluations: int
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0
    config_files: dict[str, str] = field(default_factory=dict)
    rendered: int = 0  # of `resources`: objects rendered from the stack's Helm releases (--render)

    def count(self, level: str) -> int:
        return sum(1 for v in self.violations if v.level == level)

    @property
    def failed(self) -> bool:
        return self.count("mandatory") > 0


def _compliance(rule: Rule | None) -> str:
    if rule is None or rule.framework is None:
        return ""
    fw = rule.framework
    spec = f"; {fw.specification}" if fw.specification else ""
    return f"{fw.name}: {fw.reference}{spec}"


class PackAnalyzer:
    """One pack behind the SDK's analyzer servicer, configured for one environment.

    The servicer deserializes a resource's properties once per policy it holds, so the runner keeps
    one servicer per resource type holding only the pack's rules that read that type (every other
    rule would return at once for it), and one per stack rule fed only the resource types the rule
    declares (`StackRule.types`; the rule sees nothing else under the CLI either). Each servicer
    gets the same `Configure` request, so levels and settings are the pack's.
    """

    def __init__(self, pack: Pack, resolved: Mapping[str, tuple[str, dict]]) -> None:
        self.pack = pack
        self.resolved = resolved
        self.levels = {name: level for name, (level, _) in resolved.items()}
        active = [r for r in pack.policies if self.levels.get(r.name) != "disabled"]
        self.resource_rules = [r for r in active if isinstance(r, ResourceRule)]
        self.stack_rules = [r for r in active if isinstance(r, StackRule)]
        self._by_type: dict[str, _PolicyAnalyzerServicer | None] = {}
        self._stack = [(rule, self._servicer([rule])) for rule in self.stack_rules]
        self.stack_evaluations = 0

    def _servicer(self, policies: Sequence[Rule]) -> _PolicyAnalyzerServicer:
        servicer = _PolicyAnalyzerServicer(
            self.pack.name, self.pack.version, list(policies), EnforcementLevel.ADVISORY, None
        )
        names = {p.name for p in policies}
        servicer.Configure(configure_request({k: v for k, v in self.resolved.items() if k in names}), None)
        return servicer

    def _for_type(self, type_: str) -> _PolicyAnalyzerServicer | None:
        if type_ not in self._by_type:
            rules = [r for r in self.resource_rules if r.applies_to(type_)]
            self._by_type[type_] = self._servicer(rules) if rules else None
        return self._by_type[type_]

    def evaluations(self, type_: str) -> int:
        return sum(1 for rule in self.resource_rules if rule.applies_to(type_))

    def _violations(self, response: proto.AnalyzeResponse, by_urn: Mapping[str, Resource]) -> list[Violation]:
        out = []
        for d in response.diagnostics:
            rule = next((r for r in self.pack.policies if r.name == d.policyName), None)
            subject = by_urn.get(d.urn)
            message = d.message
            if message.startswith(d.description):
                message = message[len(d.description) :].strip() or d.description
            out.append(
                Violation(
                    pack=d.policyPackName,
                    policy=d.policyName,
                    level=_LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
                    severity=_SEVERITY_NAMES.get(d.severity, "unspecified"),
                    urn=d.urn,
                    type=subject.type if subject else "",
                    name=subject.name if subject else "",
                    message=message,
                    remediation=(rule.remediation_steps or "") if rule else "",
                    compliance=_compliance(rule),
                )
            )
        return out

    def analyze(self, r: Resource) -> list[Violation]:
        servicer = self._for_type(r.type)
        if servicer is None:
            return []
        response = servicer.Analyze(analyze_request(r), None)
        return self._violations(response, {r.urn: r, "": r})

    def analyze_stack(self, resources: Sequence[Resource]) -> list[Violation]:
        out: list[Violation] = []
        requests: dict[tuple[bool, tuple[str, ...]], proto.AnalyzeStackRequest] = {}
        by_urn = {r.urn: r for r in resources}
        self.stack_evaluations = 0
        for rule, servicer in self._stack:
            key = (rule.graph, rule.types)
            if key not in requests:
                if rule.graph:  # every resource (the edges), properties only where the rule reads them
                    requests[key] = stack_request(resources, rule.reads if rule.types else None)
                else:
                    requests[key] = stack_request([r for r in resources if rule.reads(r.type)])
            self.stack_evaluations += len(requests[key].resources)
            out.extend(self._violations(servicer.AnalyzeStack(requests[key], None), by_urn))
        return out


def pack_config(pack: Pack, environment: str, override: Path | None = None) -> tuple[dict[str, Any], str]:
    """The config of `pack` for an environment: `override`, else policy/<pack>/config/<env>.json."""
    path = override or pack.config_file(environment)
    if not path.is_file() and override is None:
        return {}, "(pack defaults)"
    return read_pack_config(path), str(path)


def run_facts(
    pack: Pack,
    resolved: Mapping[str, tuple[str, dict]],
    *,
    deploying: bool,
    lookups: Sequence[str] | None,
) -> dict[str, tuple[str, dict]]:
    """The resolved config with what this run knows that a config file cannot say.

    - Deploy gates (`rule.deploy_gate`: e.g. placeholder values) block only a stack that is about to
      be deployed: the CLI's `pulumi preview/up` and `mlplat check --deploy`. Reviewing the reference
      stacks offline, they are reported as advisory.
    - `lookups`: the invoke tokens the program called, where a rule takes them (config property
      `lookups`). The offline synthesis records them; the CLI shows a pack none, so such a rule then
      checks only what resources show.
    """
    out = dict(resolved)
    for rule in pack.policies:
        level, properties = out[rule.name]
        if getattr(rule, "deploy_gate", False) and not deploying and level == "mandatory":
            level = "advisory"
        if lookups is not None and rule.config_schema is not None and "lookups" in rule.config_schema.properties:
            properties = {**properties, "lookups": list(lookups)}
        out[rule.name] = (level, properties)
    return out


def check_resources(
    stack: str,
    environment: str,
    resources: Sequence[Resource],
    *,
    packs: Sequence[Pack] | None = None,
    config_files: Mapping[str, Path] | None = None,
    waivers: waivers_mod.WaiverSet | None = None,
    deploying: bool = False,
    lookups: Sequence[str] | None = None,
    rendered: Sequence[Resource] = (),
) -> StackReport:
    """Evaluate the packs over `resources`; waived violations are reported with level `waived`.

    Resource rules see each custom resource; stack rules see every resource the engine would send
    (components included, with their dependencies). `deploying`: the stack is about to be deployed
    (deploy gates block); `lookups`: the invoke tokens the program called (see `run_facts`).
    `rendered`: the objects the stack's Helm releases install, as resources of their Kubernetes type
    parented to their release (`infra.manifests.policy_resources`); the `RENDERED_PACKS` see them too.
    """
    started = time.perf_counter()
    packs = list(packs or load_packs())
    active = waivers_mod.use(waivers if waivers is not None else waivers_mod.load())
    active.reset()
    custom = [r for r in resources if r.custom]
    report = StackReport(stack=stack, environment=environment, resources=len(custom) + len(rendered), evaluations=0)
    report.rendered = len(rendered)
    for pack in packs:
        config, source = pack_config(pack, environment, (config_files or {}).get(pack.name))
        resolved = run_facts(pack, resolve_pack_config(pack, config, source), deploying=deploying, lookups=lookups)
        analyzer = PackAnalyzer(pack, resolved)
        report.config_files[pack.name] = source
        extra = list(rendered) if pack.name in RENDERED_PACKS else []
        for r in [*custom, *extra]:
            report.violations.extend(analyzer.analyze(r))
            report.evaluations += analyzer.evaluations(r.type)
        report.violations.extend(analyzer.analyze_stack([*resources, *extra]))
        report.evaluations += analyzer.stack_evaluations  # a stack rule reads each resource it is given
    by_urn = {r.urn: r for r in [*resources, *rendered]}
    for applied in active.applied:
        subject = by_urn.get(applied.urn)
        rule = next((x for p in packs if p.name == applied.pack for x in p.policies if x.name == applied.policy), None)
        report.violations.append(
            Violation(
                pack=applied.pack,
                policy=applied.policy,
                level="waived",
                severity=rule.severity.value if rule and rule.severity else "unspecified",
                urn=applied.urn,
                type=subject.type if subject else "",
                name=subject.name if subject else "",
                message=applied.message,
                remediation=(rule.remediation_steps or "") if rule else "",
                compliance=_compliance(rule),
                waiver=applied.waiver.describe(),
            )
        )
    # the advisory `waivers-in-effect` lines repeat the waived entries above: keep one of each
    report.violations = [v for v in report.violations if v.policy != "waivers-in-effect"]
    report.violations.sort(
        key=lambda v: ({"mandatory": 0, "advisory": 1, "waived": 2}[v.level], v.pack, v.policy, v.urn)
    )
    report.seconds = time.perf_counter() - started
    return report


def check_synthesis(syn: Any, **kwargs: Any) -> StackReport:
    kwargs.setdefault("lookups", syn.lookups)
    return check_resources(syn.stack, syn.spec.environment.value, from_synthesis(syn), **kwargs)


def evaluate(
    policy: Rule,
    resources: Resource | Sequence[Resource],
    config: Mapping[str, Any] | None = None,
    level: str | None = None,
) -> list[Violation]:
    """Run one policy of a pack over resources through the analyzer (tests and examples).

    Resource rules see each resource; stack rules see them all at once. `config` is the rule's
    settings as a pack config file would give them.
    """
    items = [resources] if isinstance(resources, Resource) else list(resources)
    pack = next(p for p in load_packs() if any(r is policy for r in p.policies))
    only = Pack(pack.name, pack.module, pack.directory, pack.version, [policy])
    entry: dict[str, Any] = dict(config or {})
    if level:
        entry["enforcementLevel"] = level
    resolved = resolve_pack_config(only, {policy.name: entry} if entry else {}, "test")
    analyzer = PackAnalyzer(only, resolved)
    waivers_mod.use(waivers_mod.WaiverSet())
    out: list[Violation] = []
    if isinstance(policy, ResourceRule):
        for r in items:
            out.extend(analyzer.analyze(r))
    else:
        out.extend(analyzer.analyze_stack(items))
    return out


def today() -> dt.date:
    return dt.date.today()
