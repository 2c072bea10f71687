"""Reports of a policy check: a table for people, JSON for tools, SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from policy.runner import Pack, StackReport, Violation

TOOL = "mlplat check"
INFO_URI = "https://github.com/ml-platform/ml-platform/tree/main/policy"
LEVELS = ("mandatory", "advisory", "waived")
_SARIF_LEVEL = {"mandatory": "error", "advisory": "warning", "waived": "note"}
# GitHub code scanning ranks security results by this number (0-10)
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "unspecified": "5.0"}


def summary(reports: Sequence[StackReport]) -> dict[str, Any]:
    counts = Counter(v.level for r in reports for v in r.violations)
    return {
        "stacks": len(reports),
        "resources": sum(r.resources for r in reports),
        "evaluations": sum(r.evaluations for r in reports),
        "mandatory": counts["mandatory"],
        "advisory": counts["advisory"],
        "waived": counts["waived"],
        "passed": not any(r.failed for r in reports),
        "seconds": round(sum(r.seconds for r in reports), 3),
    }


def to_json(reports: Sequence[StackReport], packs: Sequence[Pack]) -> str:
    doc = {
        "packs": [{"name": p.name, "version": p.version, "rules": len(p.rules)} for p in packs],
        "stacks": [
            {
                "stack": r.stack,
                "environment": r.environment,
                "resources": r.resources,
                "rendered": r.rendered,
                "evaluations": r.evaluations,
                "config": r.config_files,
                "mandatory": r.count("mandatory"),
                "advisory": r.count("advisory"),
                "waived": r.count("waived"),
                "passed": not r.failed,
            }
            for r in reports
        ],
        "violations": [{"stack": r.stack, **v.to_json()} for r in reports for v in r.violations],
        "summary": summary(reports),
    }
    return json.dumps(doc, indent=2) + "\n"


def _rule_id(pack: str, policy: str) -> str:
    return f"{pack}/{policy}"


def to_sarif(reports: Sequence[StackReport], packs: Sequence[Pack], stack_files: dict[str, str]) -> str:
    """SARIF 2.1.0: one run, one rule per policy of both packs, one result per violation.

    Each result points at the stack file it came from (code-scanning UIs need a file) and names the
    resource's URN as its logical location; waived results carry an external suppression.
    """
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for pack in packs:
        for policy in pack.policies:
            rule_id = _rule_id(pack.name, policy.name)
            index[rule_id] = len(rules)
            severity = policy.severity.value if policy.severity else "unspecified"
            level = policy.enforcement_level.value if policy.enforcement_level else "advisory"
            fw = policy.framework
            rules.append(
                {
                    "id": rule_id,
                    "name": policy.name,
                    "shortDescription": {"text": policy.description},
                    "fullDescription": {"text": policy.description},
                    "help": {"text": f"Remediation: {policy.remediation_steps or 'see the rule description'}"},
                    "helpUri": f"{INFO_URI}/{pack.directory.name}",
                    "defaultConfiguration": {
                        "level": _SARIF_LEVEL["mandatory" if level == "mandatory" else "advisory"]
                    },
                    "properties": {
                        "pack": pack.name,
                        "severity": severity,
                        "security-severity": _SECURITY_SEVERITY[severity],
                        "precision": "high",
                        "tags": list(policy.tags or []),
                        "compliance": {
                            "framework": fw.name if fw else None,
                            "reference": fw.reference if fw else None,
                            "specification": fw.specification if fw else None,
                        },
                    },
                }
            )
    results = []
    for report in reports:
        for v in report.violations:
            results.append(_sarif_result(report, v, index, stack_files.get(report.stack, "")))
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "informationUri": INFO_URI,
                        "semanticVersion": packs[0].version if packs else "0.0.0",
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"mlplat-check/{'+'.join(r.stack for r in reports)}/"},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _sarif_result(report: StackReport, v: Violation, index: dict[str, int], stack_file: str) -> dict[str, Any]:
    rule_id = _rule_id(v.pack, v.policy)
    fingerprint = hashlib.sha256(f"{report.stack}|{rule_id}|{v.urn}|{v.message}".encode()).hexdigest()
    subject = v.urn or f"stack {report.stack}"
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "level": _SARIF_LEVEL[v.level],
        "message": {"text": f"[{report.stack}] {v.name or subject}: {v.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": stack_file or f"stacks/Pulumi.{report.stack}.yaml"},
                    "region": {"startLine": 1},
                },
                "logicalLocations": [{"fullyQualifiedName": subject, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"mlplatViolation/v1": fingerprint},
        "properties": {"stack": report.stack, "environment": report.environment, "type": v.type},
    }
    if rule_id in index:
        result["ruleIndex"] = index[rule_id]
    if v.level == "waived":
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": v.waiver or ""}]
    return result


def print_table(reports: Sequence[StackReport], console: Console, verbose: bool = False) -> None:
    """Per stack: its counts, then each mandatory, waived (and, with `verbose`, advisory) violation."""
    overview = Table(title="Policy check", title_justify="left")
    for col in ("stack", "env", "resources", "evaluations", "mandatory", "advisory", "waived", "result"):
        overview.add_column(col, justify="right" if col in ("resources", "evaluations") else "left")
    for r in reports:
        overview.add_row(
            r.stack,
            r.environment,
            str(r.resources),
            str(r.evaluations),
            str(r.count("mandatory")),
            str(r.count("advisory")),
            str(r.count("waived")),
            "[red]FAIL[/red]" if r.failed else "[green]pass[/green]",
        )
    console.print(overview)
    shown = [(r, v) for r in reports for v in r.violations if verbose or v.level != "advisory"]
    if shown:
        detail = Table(show_lines=False)
        for col in ("stack", "level", "policy", "resource", "message"):
            detail.add_column(col, overflow="fold")
        for r, v in shown:
            message = v.message if v.level != "waived" else f"{v.message} ({v.waiver})"
            detail.add_row(r.stack, v.level, f"{v.policy}", f"{v.name or '(stack)'}\n[dim]{v.type}[/dim]", message)
        console.print(detail)
    hidden = sum(1 for r in reports for v in r.violations if v.level == "advisory") if not verbose else 0
    total = summary(reports)
    tail = f" ({hidden} advisory not shown: --verbose)" if hidden else ""
    rendered = sum(r.rendered for r in reports)
    of_charts = f" ({rendered} of them rendered from Helm releases)" if rendered else ""
    console.print(
        f"{total['mandatory']} mandatory, {total['advisory']} advisory, {total['waived']} waived over "
        f"{total['resources']} resources{of_charts} and {total['evaluations']} resource x rule evaluations{tail}"
    )


def rule_rows(packs: Sequence[Pack]) -> list[dict[str, str]]:
    rows = []
    for pack in packs:
        for policy in pack.rules:
            fw = policy.framework
            ref = f"{fw.reference}" + (f" ({fw.specification})" if fw and fw.specification else "") if fw else ""
            rows.append(
                {
                    "pack": pack.name,
                    "id": policy.name,
                    "severity": policy.severity.value if policy.severity else "",
                    "level": policy.enforcement_level.value if policy.enforcement_level else "advisory",
                    "prod_only": "yes" if "prod-only" in (policy.tags or []) else "",
                    "compliance": ref,
                    "description": policy.description,
                }
            )
    return rows


def rules_markdown(packs: Sequence[Pack]) -> str:
    """The rule tables of policy/README.md (tests keep the README in step with the packs)."""
    out = []
    for pack in packs:
        out.append(f"### {pack.name} ({len(pack.rules)} rules)\n")
        out.append("| id | severity | default | prod-only | compliance | checks |")
        out.append("|---|---|---|---|---|---|")
        for row in rule_rows([pack]):
            cells = [row["id"], row["severity"], row["level"], row["prod_only"], row["compliance"], row["description"]]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out)
