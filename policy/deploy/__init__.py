"""The deploy-readiness pack: what the cloud enforces at create time and the mocks cannot see.

    ordering.py     what must exist first: service agents, Workload Identity pools, log targets' grants,
                    roles a key policy names, enabled APIs
    companions.py   settings that only work with another resource: Binary Authorization and its policy,
                    NetworkPolicy and an enforcing CNI, HPAs and metrics-server, webhooks and the
                    control plane's firewall, the API endpoint and the deploy runner
    values.py       values the API rejects or has removed, name limits, retention sets, placeholders

Rules read the dependency graph the engine hands stack policies (`PolicyResource.dependencies`,
`property_dependencies`, `parent`), so they run the same under `pulumi preview --policy-pack
policy/deploy` and `mlplat check`.
"""

from policy.deploy import companions, ordering, values
from policy.rule import assemble

PACK = "ml-platform-deploy"
DESCRIPTION = "Deploy readiness for ml-platform stacks: creation-time ordering, companions and values the APIs enforce."
RULES = [*ordering.RULES, *companions.RULES, *values.RULES]
POLICIES = assemble(PACK, RULES)
