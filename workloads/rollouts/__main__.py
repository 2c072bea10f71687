"""`python -m workloads.rollouts analyze`: one analysis of a model deployment's candidate.

    python -m workloads.rollouts analyze --prometheus http://PROMETHEUS:9090 --namespace research \\
        --model credit-approval --window 15m --latency-threshold-ms 500 [--act --owns-canary]

Prints the decision with its evidence as one JSON line on stdout (the decision log; also written to
--out), and a one-line summary on stderr. Exit status: 0 a decision was made (promote, hold, rollback
or none: read the log), 2 a bad flag, 1 Prometheus or the Kubernetes API failed (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from workloads.rollouts.errors import RolloutError, UsageError

EXIT_OK = 0
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h)$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction from 0 to 1")
    return value


def _duration(text: str) -> str:
    if not _DURATION.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a Prometheus range such as 30s, 15m or 1h")
    return text


def _steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of percentages") from None
    if not steps or list(steps) != sorted(set(steps)) or steps[0] < 1 or steps[-1] != 100:
        raise argparse.ArgumentTypeError(f"'{text}' is not a rising list of percentages ending at 100")
    return steps


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m workloads.rollouts", description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("analyze", help="decide promote, hold or rollback for a model's candidate")
    a.add_argument("--prometheus", required=True, help="Prometheus base URL")
    a.add_argument("--namespace", required=True, help="the team namespace of the InferenceService")
    a.add_argument("--model", required=True, help="the InferenceService (its shadow is <model>-shadow)")
    a.add_argument("--window", type=_duration, default="15m", help="range of the evidence (default 15m)")
    a.add_argument("--min-requests", type=int, default=200, help="fewer candidate requests: hold (default 200)")
    a.add_argument("--max-error-ratio", type=_fraction, default=0.01, help="5xx share above: rollback")
    a.add_argument("--latency-threshold-ms", type=float, default=500.0, help="the SLO's latency threshold")
    a.add_argument("--latency-quantile", type=_fraction, default=0.99, help="the SLO's latency target (0.99)")
    a.add_argument("--max-disagreement", type=_fraction, default=0.05, help="shadow disagreement above: hold")
    a.add_argument("--steps", type=_steps, default=(10, 25, 50, 100), help="canary traffic steps, e.g. 10,25,50,100")
    a.add_argument("--act", action="store_true", help="patch what automation owns (default: report only)")
    a.add_argument("--owns-canary", action="store_true", help="the canary is the pipeline's (delegated)")
    a.add_argument("--out", type=Path, help="also write the decision (JSON) to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from workloads.rollouts.analysis import Thresholds, analyze
    from workloads.rollouts.inferenceservice import KubernetesApi
    from workloads.rollouts.prometheus import Prometheus

    try:
        args = _parser().parse_args(argv)
        t = Thresholds(
            window=args.window,
            min_requests=args.min_requests,
            max_error_ratio=args.max_error_ratio,
            latency_threshold_s=args.latency_threshold_ms / 1000.0,
            latency_quantile=args.latency_quantile,
            max_disagreement=args.max_disagreement,
            steps=args.steps,
        )
        try:
            api = KubernetesApi()
        except Exception as exc:  # no in-cluster credentials
            raise RolloutError(f"no Kubernetes credentials: {str(exc).splitlines()[0]}") from None
        decision = analyze(
            Prometheus(args.prometheus), api, args.namespace, args.model, t, act=args.act, owns_canary=args.owns_canary
        )
    except RolloutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    record = decision.record(args.namespace, args.model, t)
    line = json.dumps(record, sort_keys=True)
    print(line, flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    cand = decision.candidate
    what = f"{cand.kind} v{cand.version}" if cand else "no candidate"
    done = "applied" if decision.applied else (f"to do: {decision.change}" if decision.change else "nothing to change")
    print(
        f"{args.namespace}/{args.model} {what}: {decision.action} ({'; '.join(decision.reasons)}); {done}",
        file=sys.stderr,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
