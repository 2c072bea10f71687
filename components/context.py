"""What every component needs to know about the environment it is built in.

One `PlatformContext` per stack: the validated spec, the stack name, the tagging convention and the
environment-aware resource options (prod protects stateful resources). Components take it instead
of re-deriving names and tags, so every resource carries the same labels the policy packs read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from infra.config import PlatformSpec

TAG_STACK = "ml-platform/stack"
REQUIRED_TAGS = (TAG_STACK, "environment", "team", "owner", "cost-center")


@dataclass(frozen=True)
class PlatformContext:
    spec: PlatformSpec
    stack: str

    @property
    def prod(self) -> bool:
        return self.spec.is_prod

    @property
    def prefix(self) -> str:
        """Physical-name prefix, unique per stack: `mlp-aws-dev`."""
        return f"{self.spec.name}-{self.stack}"[:40].rstrip("-")

    def tags(self, team: str = "platform", **extra: str) -> dict[str, str]:
        """Cloud tags for a resource: the convention keys, the stack's extra tags, then `extra`."""
        gov = self.spec.governance
        tags = {
            TAG_STACK: self.stack,
            "environment": self.spec.environment.value,
            "team": team,
            "owner": gov.owner,
            "cost-center": gov.cost_center,
            "data-classification": gov.data_classification,
        }
        tags.update(self.spec.tags)
        tags.update(extra)
        return tags

    def labels(self, team: str = "platform", **extra: str) -> dict[str, str]:
        """The same convention as GCP labels: lowercase keys/values, no '/', at most 63 characters."""
        return {_label(k): _label(v) for k, v in self.tags(team, **extra).items()}

    def stateful(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Options for data-bearing resources: `protect` in prod so a stray `destroy` cannot drop them."""
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=self.prod))


def _label(value: str) -> str:
    value = re.sub(r"[^a-z0-9_-]", "_", value.lower().replace("ml-platform/", "ml-platform_"))
    return value[:63]
