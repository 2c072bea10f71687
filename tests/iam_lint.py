"""IAM document checks that a real provider would only make at apply time (or never).

Identity policies go through parliament (duo-labs' IAM linter, which knows every service's actions
and resource formats). Trust, key and bucket policies are resource policies: parliament can't lint
them whole, so their grammar is checked here and their actions against parliament's action list.
"""

from __future__ import annotations

import json
from typing import Any

from parliament import analyze_policy_string, expand_action

EFFECTS = {"Allow", "Deny"}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def check_grammar(doc: dict[str, Any], resource_policy: bool) -> list[str]:
    problems = []
    if doc.get("Version") != "2012-10-17":
        problems.append("Version must be 2012-10-17")
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        return [*problems, "Statement must be a non-empty list"]
    sids = [s.get("Sid") for s in statements if s.get("Sid")]
    if len(sids) != len(set(sids)):
        problems.append("duplicate Sid")
    for i, st in enumerate(statements):
        if st.get("Effect") not in EFFECTS:
            problems.append(f"Statement[{i}].Effect must be Allow or Deny")
        if "Action" not in st and "NotAction" not in st:
            problems.append(f"Statement[{i}] has no Action")
        if resource_policy and "Principal" not in st:
            problems.append(f"Statement[{i}] of a resource policy has no Principal")
        if not resource_policy and ("Resource" not in st and "NotResource" not in st):
            problems.append(f"Statement[{i}] has no Resource")
        for action in _as_list(st.get("Action", [])):
            if action == "*" or (action.endswith(":*") and st.get("Effect") == "Allow" and action != "kms:*"):
                problems.append(f"Statement[{i}] allows the wildcard action {action}")
            try:
                if not expand_action(action):
                    problems.append(f"unknown action {action}")
            except Exception as exc:  # parliament raises on unknown services/actions
                problems.append(f"unknown action {action}: {exc}")
        principal = st.get("Principal")
        if st.get("Effect") == "Allow" and (
            principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        ):
            problems.append(f"Statement[{i}] allows a wildcard principal")
    return problems


def lint_identity_policy(doc: dict[str, Any]) -> list[str]:
    problems = check_grammar(doc, resource_policy=False)
    findings = analyze_policy_string(json.dumps(doc)).findings
    return problems + [f"{f.issue}: {f.detail}" for f in findings]


def lint_resource_policy(doc: dict[str, Any]) -> list[str]:
    return check_grammar(doc, resource_policy=True)
