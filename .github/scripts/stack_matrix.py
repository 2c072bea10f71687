#!/usr/bin/env python3
"""Which stacks CI may preview or deploy: those listed in $ML_PLATFORM_STACKS with credentials.

ML_PLATFORM_STACKS is a JSON object (a repository variable) of stack name -> OIDC settings and runner:
  AWS: {"awsRoleArn": "arn:aws:iam::<account>:role/<role>", "runsOn": ["self-hosted", "mlp-aws-prod"]}
  GCP: {"gcpWorkloadIdentityProvider": "projects/<n>/locations/global/workloadIdentityPools/<p>/providers/<id>",
        "gcpServiceAccount": "<name>@<project>.iam.gserviceaccount.com"}
`runsOn` (a runner label or a list of labels) is where `pulumi up` runs: it must reach the cluster's API.
An EKS endpoint admits only the stack's `cluster.allowedCidrs` (public) and `cluster.privateAccessCidrs`
(private, 443 on the cluster security group), and GitHub-hosted runners have no fixed address, so an AWS
stack names a runner those admit (self-hosted or CodeBuild-hosted in the VPC, or one with a static egress
IP). A GKE cluster is reached through its DNS-based endpoint, gated by IAM, so GCP stacks default to
GitHub's `ubuntu-24.04`.
Cloud, region and environment come from the stack file (stacks/Pulumi.<stack>.yaml). Prints GitHub
step outputs: `matrix` (JSON list) and `any`, or with --by-stage `dev`/`prod` lists (staging
deploys with prod, after dev) and `any_dev`/`any_prod`. Standard library only (runs before set-up).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

STACKS = Path(__file__).resolve().parents[2] / "stacks"
_AWS_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_GCP_PROVIDER = re.compile(r"^projects/\d+/locations/global/workloadIdentityPools/[\w-]+/providers/[\w-]+$")
_GCP_SA = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com$")
_LABEL = re.compile(r"^[A-Za-z0-9][\w.:-]{0,99}$")
HOSTED_RUNNER = "ubuntu-24.04"


def runner(stack: str, cloud: str, value: object) -> str | list[str]:
    """The `runs-on` of a stack's deploy job (see the module docstring)."""
    if value is None:
        if cloud == "aws":
            raise SystemExit(
                f"ML_PLATFORM_STACKS.{stack}.runsOn: name a runner the EKS endpoint admits (inside the VPC, or "
                "with an egress IP in cluster.allowedCidrs); GitHub-hosted runners have no fixed address"
            )
        return HOSTED_RUNNER
    labels = [value] if isinstance(value, str) else value
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and _LABEL.match(x) for x in labels):
        raise SystemExit(f"ML_PLATFORM_STACKS.{stack}.runsOn: '{value}' is not a runner label or a list of labels")
    return labels[0] if len(labels) == 1 else labels


def _scalar(text: str, key: str) -> str | None:
    """`key: value` from the stack file (the first occurrence; stack files are YAML we write)."""
    match = re.search(rf"^\s*{re.escape(key)}:\s*\"?([A-Za-z0-9._-]+)\"?\s*(#.*)?$", text, re.MULTILINE)
    return match.group(1) if match else None


def entries(raw: str) -> list[dict[str, object]]:
    try:
        configured = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise SystemExit(f"ML_PLATFORM_STACKS is not valid JSON: {exc}") from None
    if not isinstance(configured, dict):
        raise SystemExit("ML_PLATFORM_STACKS must be a JSON object of stack name -> credentials")
    out = []
    for stack, raw_creds in sorted(configured.items()):
        path = STACKS / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            raise SystemExit(f"ML_PLATFORM_STACKS: no stack file {path.name} for '{stack}'")
        text = path.read_text()
        cloud, region, environment = _scalar(text, "cloud"), _scalar(text, "region"), _scalar(text, "environment")
        if cloud not in ("aws", "gcp") or not region or environment not in ("dev", "staging", "prod"):
            raise SystemExit(f"{path.name}: cannot read cloud/region/environment")
        creds = raw_creds if isinstance(raw_creds, dict) else {}
        item: dict[str, object] = {"stack": stack, "cloud": cloud, "region": region, "environment": environment}
        if cloud == "aws":
            role = str(creds.get("awsRoleArn", ""))
            if not _AWS_ROLE.match(role):
                raise SystemExit(f"ML_PLATFORM_STACKS.{stack}.awsRoleArn: '{role}' is not an IAM role ARN")
            item["awsRoleArn"] = role
        else:
            provider = str(creds.get("gcpWorkloadIdentityProvider", ""))
            account = str(creds.get("gcpServiceAccount", ""))
            if not _GCP_PROVIDER.match(provider):
                raise SystemExit(f"ML_PLATFORM_STACKS.{stack}.gcpWorkloadIdentityProvider: '{provider}' is not valid")
            if not _GCP_SA.match(account):
                raise SystemExit(f"ML_PLATFORM_STACKS.{stack}.gcpServiceAccount: '{account}' is not a service account")
            item["gcpWorkloadIdentityProvider"], item["gcpServiceAccount"] = provider, account
        item["runsOn"] = runner(stack, cloud, creds.get("runsOn"))
        out.append(item)
    return out


def main(argv: list[str]) -> int:
    items = entries(os.environ.get("ML_PLATFORM_STACKS", ""))
    if "--by-stage" in argv:
        dev = [i for i in items if i["environment"] == "dev"]
        prod = [i for i in items if i["environment"] != "dev"]
        print(f"dev={json.dumps(dev)}")
        print(f"prod={json.dumps(prod)}")
        print(f"any_dev={'true' if dev else 'false'}")
        print(f"any_prod={'true' if prod else 'false'}")
    else:
        print(f"matrix={json.dumps(items)}")
        print(f"any={'true' if items else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
