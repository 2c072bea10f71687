"""The responsible-AI pack: governance of models, training jobs, registries and data stores."""

from policy.responsible_ai import rules
from policy.rule import assemble

PACK = "ml-platform-responsible-ai"
DESCRIPTION = "Responsible-AI governance for ml-platform stacks (NIST AI RMF 1.0 and EU AI Act mapped)."
RULES = list(rules.RULES)
POLICIES = assemble(PACK, RULES)
