"""``python -m workloads.features``: see `workloads.features.cli`."""

import sys

from workloads.features.cli import main

sys.exit(main())
