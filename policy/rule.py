"""The shape of every rule in the packs.

A rule is a real `pulumi_policy` policy object (`ResourceRule` / `StackRule` subclass the SDK's
`ResourceValidationPolicy` / `StackValidationPolicy`), so the Pulumi CLI, the offline runner and the
tests all evaluate the very same objects through the SDK's analyzer. Each rule carries:

- a stable id (`name`, kebab-case, never reused), a description and a one-line remediation;
- a severity and a default enforcement level (per-environment config files override the level);
- its compliance mapping as `PolicyComplianceFramework` (checkov / CIS ids for security; NIST AI RMF
  function and EU AI Act article for responsible AI) plus the same ids as tags for search;
- the resource types it reads, and a check that yields one message per problem;
- optional config (a JSON-schema fragment with defaults), read as `target.config`.

Checks read resource *inputs* only (what the program sends), so they decide at preview time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyResource

from policy import props as p
from policy import waivers

ADVISORY = EnforcementLevel.ADVISORY
MANDATORY = EnforcementLevel.MANDATORY
LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

# --- compliance mappings ------------------------------------------------------------------------------


def checkov(*ids: str, cis: str | None = None) -> PolicyComplianceFramework:
    """checkov / trivy ids (`CKV_AWS_39`, `AVD-AWS-0040`), with the CIS benchmark control when there is one."""
    return PolicyComplianceFramework(name="checkov", version="3", reference=", ".join(ids), specification=cis)


def kubernetes_baseline(*ids: str, cis: str | None = None) -> PolicyComplianceFramework:
    """Kubernetes controls: checkov CKV_K8S ids, Pod Security Standards, Kyverno / Gatekeeper policies."""
    return PolicyComplianceFramework(name="checkov", version="3", reference=", ".join(ids), specification=cis)


def ml_platform(reference: str, specification: str | None = None) -> PolicyComplianceFramework:
    """A control of this project with no public id (GPU scheduling, cost guardrails)."""
    return PolicyComplianceFramework(name="ml-platform", version="1", reference=reference, specification=specification)


def nist_ai_rmf(*subcategories: str, eu_ai_act: str) -> PolicyComplianceFramework:
    """NIST AI RMF 1.0 subcategories (`GOVERN 1.4`) and the EU AI Act article (`Art. 12`)."""
    return PolicyComplianceFramework(
        name="NIST AI RMF", version="1.0", reference=", ".join(subcategories), specification=f"EU AI Act {eu_ai_act}"
    )


def mapping_tags(framework: PolicyComplianceFramework | None) -> list[str]:
    if framework is None:
        return []
    refs = [r.strip() for r in (framework.reference or "").split(",") if r.strip()]
    tags = [f"{framework.name}:{r}" for r in refs]
    if framework.specification:
        tags.append(framework.specification)
    return tags


# --- what a check sees ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One resource as a check reads it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    config: Mapping[str, Any]
    provider: Mapping[str, Any]

    def get(self, *path: str | int, default: Any = None) -> Any:
        return p.get(self.props, *path, default=default)

    @property
    def kind(self) -> str | None:
        return p.k8s_kind(self.type)

    @property
    def region(self) -> str | None:
        """The region a cloud resource lives in: its own `region`/`location`, else its provider's."""
        own = p.get(self.props, "region") or p.get(self.props, "location")
        if isinstance(own, str) and own:
            return own
        prov = p.get(self.provider, "region")
        return prov if isinstance(prov, str) and prov else None


ResourceCheck = Callable[[Target], Iterable[str]]


@dataclass(frozen=True)
class Stack:
    """Every resource of the stack, for rules that look across resources."""

    resources: Sequence[PolicyResource]
    config: Mapping[str, Any]

    def of_type(self, *types: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type in types]

    def where(self, predicate: Callable[[PolicyResource], bool]) -> list[PolicyResource]:
        return [r for r in self.resources if predicate(r)]


StackCheck = Callable[[Stack], Iterable[tuple[str, str | None]]]


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    if not config:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()})


def config_defaults(schema: PolicyConfigSchema | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {k: v["default"] for k, v in schema.properties.items() if "default" in v}


def _merged_config(schema: PolicyConfigSchema | None, given: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = config_defaults(schema)
    if given:
        merged.update({k: p.plain(v) for k, v in given.items()})
    return merged


class _Rule:
    pack: str = ""
    # A deploy gate blocks only a stack that is about to be deployed (`pulumi preview/up`, `mlplat check
    # --deploy`); reviewing example stacks offline it reports as advisory (policy.runner.run_facts).
    deploy_gate: bool = False

    def _report(self, report: ReportViolation, message: str, urn: str) -> None:
        name: str = self.name  # type: ignore[attr-defined]
        active = waivers.active()
        waiver = active.find(self.pack, name, urn)
        if waiver is not None:
            active.record(waivers.Applied(self.pack, name, urn, message, waiver))
            return
        report(message, urn)


class ResourceRule(_Rule, ResourceValidationPolicy):
    """A rule over single resources of the given types."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        remediation: str,
        severity: Severity,
        framework: PolicyComplianceFramework,
        types: Iterable[str] | Callable[[str], bool],
        check: ResourceCheck,
        enforcement: EnforcementLevel = MANDATORY,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        tags: Iterable[str] = (),
        url: str | None = None,
        deploy_gate: bool = False,
    ) -> None:
        super().__init__(
            name=name,
            description=description,
            enforcement_level=enforcement,
            config_schema=_schema(config),
            severity=severity,
            framework=framework,
            tags=[*tags, *mapping_tags(framework)],
            remediation_steps=remediation,
            url=url,
        )
        self.deploy_gate = deploy_gate
        if callable(types):
            self.applies_to: Callable[[str], bool] = types
            self.types: tuple[str, ...] = ()
        else:
            self.types = tuple(types)
            wanted = frozenset(self.types)
            self.applies_to = wanted.__contains__
        self.check = check

    def validate(self, args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not self.applies_to(args.resource_type):
            return None
        provider = args.provider.props if args.provider is not None else {}
        target = Target(
            type=args.resource_type,
            name=args.name,
            urn=args.urn,
            props=args.props,
            config=_merged_config(self.config_schema, args.get_config()),
            provider=provider,
        )
        for message in self.check(target):
            self._report(report_violation, message, args.urn)
        return None


class StackRule(_Rule, StackValidationPolicy):
    """A rule over the whole stack (quotas per namespace, budgets, cross-resource wiring).

    `types` names the resource types the check reads (type tokens, or prefixes ending in ":" or "/"
    such as "kubernetes:"): the check then sees only those, under the CLI and offline alike, which
    lets the offline runner send it only those. Empty: every resource.

    `graph=True`: the check walks the dependency graph (an ordering edge may pass through a resource of
    any type), so it sees every resource; `types` then names the resources whose *properties* it reads,
    and the offline runner sends the others with their type, name, parent and edges only.
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        remediation: str,
        severity: Severity,
        framework: PolicyComplianceFramework,
        check: StackCheck,
        enforcement: EnforcementLevel = MANDATORY,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        tags: Iterable[str] = (),
        url: str | None = None,
        types: Iterable[str] = (),
        deploy_gate: bool = False,
        graph: bool = False,
    ) -> None:
        super().__init__(
            name=name,
            description=description,
            enforcement_level=enforcement,
            config_schema=_schema(config),
            severity=severity,
            framework=framework,
            tags=[*tags, *mapping_tags(framework)],
            remediation_steps=remediation,
            url=url,
        )
        self.deploy_gate = deploy_gate
        self.graph = graph
        self.check = check
        self.types: tuple[str, ...] = tuple(types)
        exact = frozenset(t for t in self.types if not t.endswith((":", "/")))
        prefixes = tuple(t for t in self.types if t.endswith((":", "/")))
        self._exact, self._prefixes = exact, prefixes

    def reads(self, resource_type: str) -> bool:
        if not self.types:
            return True
        return resource_type in self._exact or (bool(self._prefixes) and resource_type.startswith(self._prefixes))

    def validate(self, args: StackValidationArgs, report_violation: ReportViolation) -> None:
        filtered = self.types and not self.graph
        resources = [r for r in args.resources if self.reads(r.resource_type)] if filtered else args.resources
        stack = Stack(resources=resources, config=_merged_config(self.config_schema, args.get_config()))
        for message, urn in self.check(stack):
            if urn:
                self._report(report_violation, message, urn)
            else:
                report_violation(message, None)


Rule = ResourceRule | StackRule


# --- packs ----------------------------------------------------------------------------------------------


def _waiver_rules(pack: str, rule_names: Sequence[str]) -> list[StackRule]:
    def valid(stack: Stack) -> Iterable[tuple[str, str | None]]:
        active = waivers.active()
        for w in active.for_pack(pack, rule_names):
            if w.policy not in rule_names:
                yield f"{active.source}: waiver for unknown rule '{w.policy}' (pack {pack})", None
            elif w.expired(active.today):
                yield (
                    f"{active.source}: the waiver of '{w.policy}' for '{w.resource}' expired on "
                    f"{w.expires.isoformat()} ({w.reason})",
                    None,
                )

    def in_effect(stack: Stack) -> Iterable[tuple[str, str | None]]:
        for applied in list(waivers.active().applied):
            if applied.pack == pack:
                yield f"'{applied.policy}' {applied.waiver.describe()} — {applied.message}", None

    return [
        StackRule(
            name="waivers-valid",
            description="Every waiver names a rule of this pack and has not expired.",
            remediation="Fix the rule id, renew the waiver with a new review, or fix the resource and drop the waiver.",
            severity=HIGH,
            framework=ml_platform("MLP-GOV-01", "exceptions are explicit, reviewed and expire"),
            check=valid,
            types=("pulumi:pulumi:Stack",),
        ),
        StackRule(
            name="waivers-in-effect",
            description="Lists the violations that a waiver suppressed in this run.",
            remediation="Review each waiver before it expires.",
            severity=LOW,
            framework=ml_platform("MLP-GOV-02", "waived violations stay visible in every report"),
            check=in_effect,
            enforcement=ADVISORY,
            types=("pulumi:pulumi:Stack",),
        ),
    ]


META_RULES = ("waivers-valid", "waivers-in-effect")


def assemble(pack: str, rules: Sequence[Rule]) -> list[Rule]:
    """The policies of one pack: its rules plus the waiver rules, each stamped with the pack name."""
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"pack {pack}: duplicate rule ids {', '.join(duplicates)}")
    policies: list[Rule] = [*rules, *_waiver_rules(pack, names)]
    for rule in policies:
        rule.pack = pack
    return policies
