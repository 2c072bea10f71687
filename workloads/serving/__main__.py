"""``python -m workloads.serving``: see `workloads.serving.cli`."""

import sys

from workloads.serving.cli import main

sys.exit(main())
