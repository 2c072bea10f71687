"""`mlplat demo`: the model lifecycle end to end on one machine, offline, in about a minute on 2 cores.

1. a local S3 (moto's server, on 127.0.0.1) with the platform's buckets: datasets, artifacts, models, logs;
2. a local MLflow tracking server and model registry (``mlflow server``: sqlite in the work directory,
   artifacts proxied to the S3 artifacts bucket);
3. synthetic credit data (``workloads.training.synthetic``) into the datasets bucket;
4. the tabular sample trained on CPU by the real trainer (``python -m workloads.training --config
   workloads/training/configs/tabular.yaml``, fewer steps), with outputs and checkpoints in the models
   bucket; the trainer evaluates the quality and fairness gates and registers the model in MLflow;
5. the alias resolved in MLflow (alias -> version -> the model card its tags name -> the artifact);
6. that artifact served by the platform's model server (``python -m workloads.serving``), with
   payload logging (CloudEvents) to a small collector that writes the records to the logs bucket;
7. held-out rows sent as Open Inference Protocol v2 requests over HTTP, and the answers compared with
   the exported model's own output in this process;
8. the predictions, the model card, where everything lives, and the time of each step.

Every child process runs in its own process group and is stopped on success, failure, Ctrl-C and
SIGTERM; child logs are in ``WORKDIR/logs``. ``main()`` is what ``mlplat demo`` calls.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workloads.demo.services import DemoError

__all__ = ["DemoError", "main"]


def main(
    workdir: Path | None = None,
    keep_serving: bool = False,
    fmt: str = "table",
    rows: int = 5,
    steps: int = 300,
    payload_logging: bool = True,
) -> int:
    """Run the demo and render it (``fmt``: table or json on stdout; progress on stderr).
    Returns the exit status: 0, 1 when a step failed, 2 for a usage problem, 130 when interrupted.
    Failures are one line on stderr (after the tail of a failed child's log), never a traceback."""
    from rich.console import Console

    from workloads.demo import lifecycle, report

    err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
    out = Console(width=None if sys.stdout.isatty() else 160)

    def render(summary: dict) -> None:
        if fmt == "json":
            sys.stdout.write(report.to_json(summary))
            sys.stdout.flush()
        else:
            report.print_table(summary, out)

    options = lifecycle.DemoOptions(
        workdir=workdir, keep_serving=keep_serving, rows=rows, steps=steps, payload_logging=payload_logging
    )
    try:
        lifecycle.run(options, err, render)
    except DemoError as exc:
        if exc.log_tail:
            err.print("\n".join(f"  | {line}" for line in exc.log_tail.splitlines()), style="dim", markup=False)
        print(f"mlplat demo: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, lifecycle.Terminated) else "interrupted"
        print(f"mlplat demo: {how}; every service it started is stopped", file=sys.stderr)
        return 143 if how == "terminated" else 130
    except Exception as exc:  # a bug: still one line (the services are stopped by then), with where to look
        text = " ".join(str(exc).split())[:300]
        print(f"mlplat demo: unexpected {type(exc).__name__}: {text} (child logs: WORKDIR/logs)", file=sys.stderr)
        return 1
    return 0
