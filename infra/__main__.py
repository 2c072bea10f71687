"""Entry point for the Pulumi CLI (Pulumi.yaml: `main: infra/`)."""

import sys
from pathlib import Path

# `pulumi install` installs the project into .venv; this also lets a plain checkout run.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import run

run()
