"""Entry point the Pulumi CLI runs: `pulumi preview --policy-pack policy/deploy`.

It only builds the PolicyPack (which starts the analyzer server and blocks); the rules live in
importable modules so `mlplat check` and the tests evaluate the very same policy objects.
"""

import sys
from pathlib import Path

_PACK_DIR = Path(__file__).resolve().parent
# The CLI runs this directory as a script: put the repository root (for `policy.*`) on the path,
# and take the pack directory itself off it so its module names cannot shadow installed packages.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _PACK_DIR]
sys.path.insert(0, str(_PACK_DIR.parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy.deploy import DESCRIPTION, PACK, POLICIES  # noqa: E402

PolicyPack(
    name=PACK,
    policies=list(POLICIES),
    enforcement_level=EnforcementLevel.MANDATORY,
    description=DESCRIPTION,
)
