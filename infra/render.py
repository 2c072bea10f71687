"""Renderers for a synthesized plan: a table for people, JSON for machines.

The JSON document is a contract (later tools and outside checks read it):
`stack`, `cloud`, `environment`, `resources` (each `urn`, `type`, `name`, `parent`, `custom`,
`inputs`, `options`, and `dependencies`: `all` the resources created before it, of them `dependsOn` the
explicit ones, `properties` the input each other one feeds, and `parent`), `lookups` (the invoke tokens
the program called), `outputs`, and `cost` (`currency`, `hourly_min`, `hourly_max`,
`monthly_min`, `monthly_max`, `items` each with `name`, `kind`, `hourly_min`, `hourly_max`), and
`policy` (both packs run over the stack, as `mlplat check` does: `passed`, `mandatory`, `advisory`,
`waived`, `evaluations`, `config` files used, and `violations` each with `pack`, `policy`, `level`,
`severity`, `urn`, `type`, `name`, `message`, `remediation`, `compliance`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.tree import Tree

from infra.cost import HOURS_PER_MONTH, CostEstimate
from infra.synth import STACK_TYPE, Synthesis

if TYPE_CHECKING:
    from policy.runner import StackReport

SCHEMA_VERSION = 1


def policy_document(report: StackReport) -> dict[str, Any]:
    return {
        "passed": not report.failed,
        "mandatory": report.count("mandatory"),
        "advisory": report.count("advisory"),
        "waived": report.count("waived"),
        "evaluations": report.evaluations,
        "config": report.config_files,
        "violations": [v.to_json() for v in report.violations],
    }


def plan_document(syn: Synthesis, cost: CostEstimate, policy: StackReport | None = None) -> dict[str, Any]:
    doc = {
        "schemaVersion": SCHEMA_VERSION,
        "stack": syn.stack,
        "cloud": syn.spec.cloud,
        "environment": syn.spec.environment.value,
        "region": syn.spec.region,
        "resources": [r.to_json() for r in syn.resources],
        "lookups": list(syn.lookups),
        "outputs": syn.outputs,
        "cost": cost.to_json(),
    }
    if policy is not None:
        doc["policy"] = policy_document(policy)
    return doc


def plan_json(syn: Synthesis, cost: CostEstimate, policy: StackReport | None = None) -> str:
    return json.dumps(plan_document(syn, cost, policy), indent=2) + "\n"


def _money(value: float) -> str:
    return f"${value:,.2f}"


def resource_tree(syn: Synthesis) -> Tree:
    """Components as branches (with their resource count), resources as leaves."""
    root_record = next((r for r in syn.resources if r.type == STACK_TYPE), None)
    label = f"[bold]{syn.stack}[/] ({syn.spec.cloud} {syn.spec.region}, {syn.spec.environment.value})"
    tree = Tree(label)

    def add(branch: Tree, parent_urn: str) -> None:
        for child in sorted(syn.children(parent_urn), key=lambda r: (r.custom, r.type, r.name)):
            if child.custom:
                sub = branch.add(
                    f"[dim]{child.type}[/] {child.name}" + (" [yellow](protected)[/]" if child.protect else "")
                )
            else:
                n = sum(1 for r in syn.descendants(child.urn) if r.custom)
                sub = branch.add(f"[bold cyan]{child.type}[/] {child.name} [dim]({n} resources)[/]")
            add(sub, child.urn)

    if root_record is not None:
        add(tree, root_record.urn)
    return tree


def type_table(syn: Synthesis) -> Table:
    table = Table(title="Resources by type", title_justify="left")
    table.add_column("type")
    table.add_column("count", justify="right")
    counts = syn.type_counts()
    for token, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(token, str(n))
    table.add_row("[bold]total[/]", f"[bold]{sum(counts.values())}[/]")
    return table


def cost_table(cost: CostEstimate) -> Table:
    table = Table(
        title=f"Estimated cost ({cost.currency}, list prices)",
        title_justify="left",
        caption=f"monthly = hourly x {HOURS_PER_MONTH:g} h; excludes storage, data transfer and load balancers",
        caption_justify="left",
    )
    for col, justify in (
        ("item", "left"),
        ("kind", "left"),
        ("detail", "left"),
        ("hourly min", "right"),
        ("hourly max", "right"),
        ("monthly min", "right"),
        ("monthly max", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for item in cost.items:
        table.add_row(
            item.name,
            item.kind,
            item.detail,
            _money(item.hourly_min),
            _money(item.hourly_max),
            _money(item.hourly_min * HOURS_PER_MONTH),
            _money(item.hourly_max * HOURS_PER_MONTH),
        )
    table.add_row(
        "[bold]total[/]",
        "",
        "",
        _money(cost.hourly_min),
        _money(cost.hourly_max),
        f"[bold]{_money(cost.hourly_min * HOURS_PER_MONTH)}[/]",
        f"[bold]{_money(cost.hourly_max * HOURS_PER_MONTH)}[/]",
    )
    return table


def policy_table(report: StackReport) -> Table:
    """The packs' verdict on the stack: counts, then each mandatory and waived violation."""
    verdict = "[red]FAIL[/]" if report.failed else "[green]pass[/]"
    table = Table(
        title=(
            f"Policy: {verdict} — {report.count('mandatory')} mandatory, {report.count('advisory')} advisory, "
            f"{report.count('waived')} waived (`mlplat check -s {report.stack} -v` lists all)"
        ),
        title_justify="left",
    )
    for col in ("level", "policy", "resource", "message"):
        table.add_column(col, overflow="fold")
    for v in report.violations:
        if v.level != "advisory":
            table.add_row(
                v.level, v.policy, v.name or "(stack)", v.message if not v.waiver else f"{v.message} ({v.waiver})"
            )
    return table


def plan_table(syn: Synthesis, cost: CostEstimate, console: Console, policy: StackReport | None = None) -> None:
    parts: list[Any] = [resource_tree(syn), "", type_table(syn), "", cost_table(cost)]
    if policy is not None:
        parts += ["", policy_table(policy)]
    console.print(Group(*parts))
