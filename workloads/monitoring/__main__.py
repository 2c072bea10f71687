"""`python -m workloads.monitoring drift`: drift of logged inference payloads against the training reference.

    python -m workloads.monitoring drift --reference s3://DATASETS/train.csv \\
        --payloads s3://LOGS/inference/NS/MODEL/predictor/ --out report/ --model credit --version 3

Writes report.md (the table), drift.png (histograms) and metrics.prom (Prometheus text) to --out (a
directory or fsspec URI) and prints the verdict. Exit status: 0 no drift (or too few rows to tell),
4 drift detected, 2 bad input (one line on stderr), 3 the Pushgateway unreachable or refusing (one line),
1 anything else.

The scheduled job (components/k8s/model_drift.py, one CronJob per model) adds:

    --window-hours 24   only payload files modified in the last 24 hours (object modification time: S3
                        LastModified, GCS updated, local mtime); none there is insufficient data, not an error
    --push http://pushgateway.monitoring.svc.cluster.local:9091 --namespace TEAM
                        the gauges replace the group job=ml-platform-drift/namespace=TEAM/model=MODEL
    --no-fail-on-drift  exit 0 on drift: the alert rules on the pushed gauges report it, not a failed Job
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PUSH, EXIT_DRIFT = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workloads.monitoring", description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drift", help="compare logged payloads with the training reference")
    d.add_argument("--reference", required=True, help="the training data (CSV or .parquet; path or fsspec URI)")
    d.add_argument("--payloads", required=True, help="payload log file, directory/prefix or glob (path or URI)")
    d.add_argument("--out", default=".", help="where report.md, drift.png and metrics.prom go (default .)")
    d.add_argument("--model", default="model", help="model name (metric label; default 'model')")
    d.add_argument("--version", default="unknown", help="model version (metric label)")
    d.add_argument("--features", help="comma-separated feature names, in input-tensor order (default: the sample's)")
    d.add_argument(
        "--prediction-column",
        default="prediction",
        help="reference column of the reference model's predictions, for prediction drift (default prediction)",
    )
    d.add_argument(
        "--psi-threshold",
        "--max-psi",
        dest="psi_threshold",
        type=float,
        default=0.2,
        help="PSI above which a feature drifts (default 0.2)",
    )
    d.add_argument("--min-rows", type=int, default=200, help="fewest current rows to judge drift (default 200)")
    d.add_argument("--no-plot", action="store_true", help="skip drift.png")
    d.add_argument(
        "--window-hours",
        type=float,
        help="only payload files modified in the last N hours; none there is insufficient data (default: all)",
    )
    d.add_argument("--push", metavar="URL", help="push the gauges to this Pushgateway (job ml-platform-drift)")
    d.add_argument("--namespace", help="the model's namespace: the push's grouping key (required with --push)")
    d.add_argument(
        "--no-fail-on-drift", action="store_true", help="exit 0 on drift (the pushed gauges and their alerts tell)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)

    from workloads.monitoring import drift
    from workloads.training import storage
    from workloads.training.errors import StorageError
    from workloads.training.synthetic import FEATURES

    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else FEATURES
    try:
        if args.psi_threshold <= 0 or args.min_rows < 1:
            raise drift.DriftError("--psi-threshold must be > 0 and --min-rows >= 1")
        if args.window_hours is not None and args.window_hours <= 0:
            raise drift.DriftError("--window-hours must be > 0")
        if args.push and not args.namespace:
            raise drift.DriftError("--push needs --namespace (the model's namespace, the push's grouping key)")
        windowed = args.window_hours is not None
        since = None if args.window_hours is None else time.time() - args.window_hours * 3600
        reference = drift.read_table(args.reference)
        current = drift.read_payloads(args.payloads, features, since, empty_ok=windowed)
        # predictions in the payloads are compared with the reference model's, when the reference has them
        if drift.PREDICTION in current.columns and args.prediction_column in reference.columns:
            current = current.rename(columns={drift.PREDICTION: args.prediction_column})
        report = drift.detect(
            reference,
            current,
            features,
            prediction_column=args.prediction_column,
            psi_threshold=args.psi_threshold,
            min_rows=args.min_rows,
        )
        storage.write_bytes(storage.join(args.out, "report.md"), drift.to_markdown(report).encode())
        storage.write_bytes(
            storage.join(args.out, "metrics.prom"), drift.to_prometheus(report, args.model, args.version).encode()
        )
        if not args.no_plot:
            png = io.BytesIO()
            plot_current = current.rename(columns={args.prediction_column: drift.PREDICTION})
            plot_reference = reference.rename(columns={args.prediction_column: drift.PREDICTION})
            drift.plot(report, plot_reference, plot_current, png)
            storage.write_bytes(storage.join(args.out, "drift.png"), png.getvalue())
    except (drift.DriftError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    skipped = current.attrs.get("skipped", 0)
    note = f"; skipped {skipped} malformed record(s)" if skipped else ""
    if windowed:
        note += f"; window {args.window_hours:g}h"
    if args.push:
        try:
            drift.push(report, args.push, namespace=args.namespace, model=args.model, version=args.version)
        except drift.DriftPushError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_PUSH
        note += f"; pushed to {args.push}"
    print(f"{report.status}: {report.summary()}{note}; report in {args.out}")
    return EXIT_DRIFT if report.drifted and not args.no_fail_on_drift else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
