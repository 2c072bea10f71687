"""`python -m workloads.pipelines <step>`: one step of the continuous-training pipeline (what each pod of
the WorkflowTemplate runs), or `all` to run every step in this process. Settings come from the
environment (workloads/pipelines/config.py). Errors print one line; the exit status tells them apart:
2 settings, 3 a gate stopped the run, 1 anything else that failed."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from workloads.pipelines.workflow import STEPS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.pipelines", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("step", choices=[*STEPS, "all"], help="the step to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    from workloads.features.errors import FeatureStoreError
    from workloads.pipelines import steps
    from workloads.pipelines.config import from_environment
    from workloads.pipelines.errors import PipelineError
    from workloads.training.errors import TrainingError

    try:
        ctx = from_environment()
        if args.step == "all":
            steps.run_all(ctx)
        else:
            started = time.perf_counter()
            steps.STEPS[args.step](ctx)
            logging.getLogger("workloads.pipelines").info(
                "step %s done in %.1f s", args.step, time.perf_counter() - started
            )
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (TrainingError, FeatureStoreError) as exc:
        print(f"error: {args.step}: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1)) or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
