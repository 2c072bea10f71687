"""``python -m workloads.serving --model_name NAME --model_dir URI [options]``.

Every option can also come from the environment: ``--max_batch_size`` from ``MODEL_SERVER_MAX_BATCH_SIZE``
and so on (a flag wins over the variable). KServe's runtime passes ``--model_name``, ``--model_dir`` and
``--http_port``, and sets ``PROTOCOL=v2``.

Exit status: 0 after a graceful shutdown; 1 unexpected failure; 2 bad flags; 3 the model directory
holds no usable artifact; 4 the model directory cannot be read (missing, unreachable, no credentials).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from workloads.serving import logs
from workloads.serving.errors import ServingError, UsageError
from workloads.serving.payload import FORMATS, MODES, LoggerConfig
from workloads.serving.shadow import ShadowConfig

ENV_PREFIX = "MODEL_SERVER_"
log = logging.getLogger("workloads.serving")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(text)
    return value


def _rate(text: str) -> float:
    """A sampling fraction that cannot be 0 (0 < r <= 1)."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise ValueError(text)
    return value


def _tolerance(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return value


# (flag, type, default, help); the environment variable is MODEL_SERVER_<FLAG upper-cased>.
OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("model_name", str, None, "name the model is served under (required)"),
    (
        "model_dir",
        str,
        None,
        "training run output or its model/ directory: local path, file://, s3://, gs:// (required)",
    ),
    (
        "model_version",
        str,
        None,
        "version to report (default: the registry version in the model card, else the "
        "first 12 hex digits of model.pt2's sha256)",
    ),
    ("http_port", _port, 8080, "HTTP port (default 8080)"),
    ("host", str, "0.0.0.0", "address to listen on (default 0.0.0.0)"),
    ("max_batch_size", _positive_int, 32, "most rows merged into one model forward (default 32)"),
    ("max_batch_wait_ms", _non_negative, 2.0, "longest wait for more requests while some are arriving (default 2)"),
    ("max_body_bytes", _positive_int, 4 << 20, "largest request body; larger ones get 413 (default 4 MiB)"),
    ("torch_threads", _positive_int, 1, "intra-op threads of the model forward (default 1)"),
    (
        "forward_thread",
        str,
        "auto",
        "run the forward in a worker thread: auto (when a full batch takes over 1 ms), always, never (default auto)",
    ),
    ("drain_seconds", _non_negative, 0.0, "after SIGTERM, keep accepting connections this long (default 0)"),
    ("grace_seconds", _non_negative, 25.0, "after SIGTERM, longest wait for requests in flight (default 25)"),
    ("keep_alive_seconds", _positive_int, 75, "idle keep-alive connection timeout (default 75)"),
    ("access_log_sample_rate", _fraction, 0.0, "fraction of requests written to the access log (default 0)"),
    ("log_level", str, "info", "debug, info, warning or error (default info)"),
    ("logger_url", str, None, "send request/response CloudEvents to this URL (payload logging; off by default)"),
    ("logger_mode", str, "all", f"which payloads to log: {', '.join(MODES)} (default all)"),
    ("logger_sample_rate", _fraction, 1.0, "fraction of inferences logged (default 1)"),
    (
        "logger_format",
        str,
        "binary",
        f"CloudEvents HTTP content mode: {', '.join(FORMATS)} (default binary, as KServe)",
    ),
    ("logger_queue_size", _positive_int, 1000, "events waiting to be sent; more are dropped (default 1000)"),
    ("logger_source", str, None, "ce-source of the events (default http://localhost:PORT/)"),
    (
        "shadow_url",
        str,
        None,
        "mirror sampled inferences to this OIP v2 infer URL of a shadow model and compare (off by default)",
    ),
    ("shadow_sample_rate", _rate, 1.0, "fraction of answered inferences mirrored, 0 < r <= 1 (default 1)"),
    (
        "shadow_tolerance",
        _tolerance,
        0.0,
        "outputs of one value per row agree within this absolute difference (default 0; argmax otherwise)",
    ),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


def parse_args(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> argparse.Namespace:
    env = os.environ if environ is None else environ
    parser = _Parser(
        prog="python -m workloads.serving",
        description="OIP v2 model server for the training workload's inference artifact.",
        epilog=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, _, _, text in OPTIONS:
        names = [f"--{flag}"] + ([f"--{flag.replace('_', '-')}"] if "_" in flag else [])
        parser.add_argument(*names, dest=flag, default=None, metavar=flag.upper(), help=text)
    args = parser.parse_args(argv)
    for flag, convert, default, _ in OPTIONS:
        raw = getattr(args, flag)
        origin = f"--{flag}"
        if raw is None and f"{ENV_PREFIX}{flag.upper()}" in env:
            raw, origin = env[f"{ENV_PREFIX}{flag.upper()}"], f"{ENV_PREFIX}{flag.upper()}"
        if raw is None:
            setattr(args, flag, default)
            continue
        try:
            setattr(args, flag, convert(raw))
        except ValueError:
            raise UsageError(f"{origin}: invalid value {raw!r}") from None
    for flag in ("model_name", "model_dir"):
        if not getattr(args, flag):
            raise UsageError(f"--{flag} is required (or {ENV_PREFIX}{flag.upper()})")
    if args.forward_thread not in ("auto", "always", "never"):
        raise UsageError(f"--forward_thread: {args.forward_thread!r} is not one of auto, always, never")
    if args.logger_mode not in MODES:
        raise UsageError(f"--logger_mode: {args.logger_mode!r} is not one of {', '.join(MODES)}")
    if args.logger_format not in FORMATS:
        raise UsageError(f"--logger_format: {args.logger_format!r} is not one of {', '.join(FORMATS)}")
    if args.logger_url and not args.logger_url.startswith(("http://", "https://")):
        raise UsageError(f"--logger_url: {args.logger_url!r} is not an http(s) URL")
    if args.shadow_url and not args.shadow_url.startswith(("http://", "https://")):
        raise UsageError(f"--shadow_url: {args.shadow_url!r} is not an http(s) URL")
    if args.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise UsageError(f"--log_level: {args.log_level!r} is not one of debug, info, warning, error")
    if "/" in args.model_name or not args.model_name.strip():
        raise UsageError(f"--model_name: {args.model_name!r} is not a valid model name")
    protocol = env.get("PROTOCOL", "v2")
    if protocol != "v2":
        raise UsageError(f"PROTOCOL={protocol}: this server speaks the Open Inference Protocol v2 only")
    return args


def logger_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> LoggerConfig | None:
    if not args.logger_url:
        return None
    env = os.environ if environ is None else environ
    return LoggerConfig(
        url=args.logger_url,
        mode=args.logger_mode,
        sample_rate=args.logger_sample_rate,
        format=args.logger_format,
        source=args.logger_source or f"http://localhost:{args.http_port}/",
        # KServe sets these in its pods; the service name defaults to the model name
        service_name=env.get("INFERENCE_SERVICE_NAME") or env.get("K_SERVICE") or args.model_name,
        namespace=env.get("POD_NAMESPACE", ""),
        endpoint=env.get("INFERENCE_SERVICE_ENDPOINT", ""),
        queue_size=args.logger_queue_size,
    )


def shadow_config(args: argparse.Namespace) -> ShadowConfig | None:
    if not args.shadow_url:
        return None
    return ShadowConfig(url=args.shadow_url, sample_rate=args.shadow_sample_rate, tolerance=args.shadow_tolerance)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        logs.setup(args.log_level)
        from workloads.serving.artifact import fetch

        artifact = fetch(args.model_dir)  # storage errors come before torch is even imported
        import torch

        logs.adopt("torch")
        torch.set_num_threads(args.torch_threads)
        torch.set_num_interop_threads(1)

        from workloads.serving.model import build
        from workloads.serving.server import ModelServer, ServerOptions

        model = build(artifact, args.model_name, args.model_version)
        options = ServerOptions(
            host=args.host,
            port=args.http_port,
            max_batch_size=args.max_batch_size,
            max_batch_wait_ms=args.max_batch_wait_ms,
            max_body_bytes=args.max_body_bytes,
            drain_seconds=args.drain_seconds,
            grace_seconds=args.grace_seconds,
            keep_alive_seconds=args.keep_alive_seconds,
            access_log_sample_rate=args.access_log_sample_rate,
            forward_thread=args.forward_thread,
            logger=logger_config(args),
            shadow=shadow_config(args),
        )
        ModelServer(model, options).run()
    except ServingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the port is taken, say
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
