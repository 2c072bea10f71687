"""The security pack: AWS, GCP and Kubernetes rules (see README.md for the list)."""

from policy.rule import assemble
from policy.security import aws, gcp, kubernetes

PACK = "ml-platform-security"
DESCRIPTION = "Security baseline for ml-platform stacks: AWS, GCP and Kubernetes (checkov / CIS mapped)."
RULES = [*aws.RULES, *gcp.RULES, *kubernetes.RULES]
POLICIES = assemble(PACK, RULES)
