"""``python -m workloads.features {apply,materialize,online}``: the sample feature repository from the shell.

The settings come from the environment (see `workloads.features.settings`); errors are one line on
stderr (``error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from datetime import UTC, datetime

from workloads.features.errors import FeatureStoreError, SettingsError

EPILOG = """\
exit status:
  0  done    1  the registry or a store failed (unreachable, refused, unreadable data)
  2  missing or invalid settings or arguments

environment:
  FEAST_PROJECT           the Feast project (default ml_platform)
  FEAST_REGISTRY          registry server host:port, postgresql+psycopg:// URL, or registry file (required)
  FEAST_REGISTRY_CERT     CA certificate of a TLS registry server
  REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_SSL, REDIS_CA   the online store (Redis, AUTH, TLS)
  FEAST_ONLINE_SQLITE     a SQLite file as the online store instead of Redis (a laptop)
  FEAST_OFFLINE_PATH      the feature table's Parquet directory, e.g. s3://<datasets>/features/<project>/applicants/
  AWS_ENDPOINT_URL[_S3]   an S3-compatible endpoint for s3:// paths (MinIO, moto)

examples:
  python -m workloads.features apply
  python -m workloads.features materialize                      # incremental, up to now
  python -m workloads.features materialize --start 2026-11-01T00:00:00Z --end 2026-11-24T00:00:00Z
  python -m workloads.features online 17 42
"""


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workloads.features",
        description="The credit-approval sample feature repository (Feast): register, materialize, read.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply", help="register the entity, feature view and feature services")
    apply.add_argument("--source", help="the feature table's directory (default: FEAST_OFFLINE_PATH)")
    mat = sub.add_parser("materialize", help="load the latest feature values into the online store")
    mat.add_argument("--end", type=_timestamp, help="end of the window (ISO 8601; default now)")
    mat.add_argument(
        "--start", type=_timestamp, help="start of the window (default: incremental, from the previous end)"
    )
    online = sub.add_parser("online", help="read applicants' features from the online store (JSON lines)")
    online.add_argument("ids", type=int, nargs="+", metavar="APPLICANT_ID")
    online.add_argument("--service", default=None, help="feature service (default credit_approval_v1)")
    return parser


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _json_value(value.item())  # type: ignore[attr-defined]  # numpy scalars
    return value


def run(args: argparse.Namespace) -> None:
    from workloads.features.settings import Settings

    settings = Settings.from_env()  # before importing Feast (seconds): a bad setting fails at once
    from workloads.features import store
    from workloads.features.repo import MODEL_SERVICE

    if args.command == "apply":
        source = args.source or settings.require_offline_path()
        feature_store = store.open_store(settings)
        store.apply(feature_store, source, settings.s3_endpoint)
        print(f"applied the sample repository to project {settings.project} (source {source})")
    elif args.command == "materialize":
        end = args.end or datetime.now(UTC)
        if args.start is not None and args.start >= end:
            raise SettingsError("--start must be before --end")
        store.materialize(store.open_store(settings), end, args.start)
    else:
        frame = store.online_features(store.open_store(settings), args.ids, args.service or MODEL_SERVICE)
        for record in frame.to_dict(orient="records"):
            print(json.dumps({str(k): _json_value(v) for k, v in record.items()}))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("feast.errors").setLevel(logging.ERROR)  # it logs a warning for each gRPC error it re-raises
    try:
        run(args)
    except FeatureStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
