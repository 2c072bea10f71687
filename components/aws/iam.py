"""IAM policy documents, built as data (never string templates) so tests can lint every one."""

from __future__ import annotations

import json
from typing import Any

import pulumi

Statement = dict[str, Any]


def document(*statements: Statement) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: list[str], resources: list[Any], sid: str | None = None, **condition: Any) -> Statement:
    stmt: Statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if sid:
        stmt = {"Sid": sid, **stmt}
    if condition:
        stmt["Condition"] = condition
    return stmt


def service_trust(*services: str) -> str:
    """Trust policy for AWS services (`eks.amazonaws.com`, ...)."""
    return json.dumps(
        document(
            {
                "Effect": "Allow",
                "Principal": {"Service": sorted(services)},
                "Action": ["sts:AssumeRole", "sts:TagSession"]
                if "pods.eks.amazonaws.com" in services
                else "sts:AssumeRole",
            }
        )
    )


def web_identity_trust(
    oidc_provider_arn: pulumi.Input[str], issuer_url: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """IRSA trust: exactly `system:serviceaccount:<namespace>:<service_account>`, audience STS."""

    def build(args: list[str]) -> str:
        arn, issuer = args
        host = issuer.removeprefix("https://")
        return json.dumps(
            document(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{host}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            )
        )

    return pulumi.Output.all(oidc_provider_arn, issuer_url).apply(build)


def to_json(doc: pulumi.Input[dict[str, Any]]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(doc)
