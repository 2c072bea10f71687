"""``python -m workloads.training``: see `workloads.training.cli`."""

import sys

from workloads.training.cli import main

sys.exit(main())
