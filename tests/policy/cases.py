"""Rule-by-rule test cases, evaluated through pulumi_policy's analyzer (policy.runner.evaluate).

Each rule test module defines `CASES: list[Case]` and parametrizes `check_case` over them;
tests/policy/test_pack_coverage.py asserts that every rule of both packs has at least one violating
and one compliant case across those tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy import runner
from policy.rule import Rule


def rule(name: str) -> Rule:
    """A policy of either pack by id."""
    for pack in runner.load_packs():
        for policy in pack.policies:
            if policy.name == name:
                return policy
    raise LookupError(f"no policy '{name}' in the packs")


def provider(cloud: str, region: str) -> runner.Resource:
    return runner.resource(f"pulumi:providers:{cloud}", {"region": region}, name=f"{cloud}-provider")


@dataclass(frozen=True)
class Case:
    """One resource (or a whole stack for stack rules) and whether `policy` must flag it."""

    policy: str
    id: str
    violates: bool
    type: str = ""
    props: Mapping[str, Any] = field(default_factory=dict)
    stack: Sequence[runner.Resource] = ()
    config: Mapping[str, Any] | None = None
    region: str | None = None  # the provider region (AWS resources carry none of their own)
    contains: str | None = None  # a violation message must contain this text

    def resources(self) -> list[runner.Resource]:
        if self.stack:
            return list(self.stack)
        prov = None
        if self.region:
            prov = provider(self.type.split(":", 1)[0], self.region)
        return [runner.resource(self.type, self.props, name=self.id, provider=prov)]

    @property
    def param_id(self) -> str:
        return f"{self.policy}:{self.id}:{'violates' if self.violates else 'complies'}"


def check_case(case: Case) -> None:
    found = runner.evaluate(rule(case.policy), case.resources(), config=case.config)
    real = [v for v in found if not v.message.startswith("can't run policy")]
    assert len(real) == len(found), f"{case.param_id}: the rule read an unknown value: {found[0].message}"
    if case.violates:
        assert real, f"{case.param_id}: expected a violation of {case.policy}, got none"
        if case.contains:
            assert any(case.contains in v.message for v in real), [v.message for v in real]
    else:
        assert not real, f"{case.param_id}: expected no violation, got {[v.message for v in real]}"
