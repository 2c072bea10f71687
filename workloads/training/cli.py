"""``python -m workloads.training --config FILE [--section.key VALUE ...]``

The options are generated from the config model (`config.py`), so ``--help`` lists every key with
its description and default. A command-line value overrides the file's.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import types
import typing
from typing import Any, Literal, get_args, get_origin

import yaml

from workloads.training import checks
from workloads.training.config import SECTIONS, config_dict, load_config
from workloads.training.errors import TrainingError

EXIT_GATE_FAILED = 3

EPILOG = """\
exit status:
  0  finished (also when a gate failed, unless --eval.fail_on_gate true: the model is then not promoted)
  1  unexpected failure    2  bad config or data    3  a gate failed with --eval.fail_on_gate true
  4  storage unreachable or not writable    5  model registry unreachable or refused
  143  stopped by SIGTERM after writing a checkpoint (a restart resumes from it)

environment:
  MLFLOW_TRACKING_URI        register the model in this MLflow (registry.mode auto)
  AWS_ENDPOINT_URL[_S3]      S3-compatible endpoint for s3:// URIs (MinIO, moto, ...); usual AWS credential chain
  GOOGLE_APPLICATION_CREDENTIALS / workload identity   for gs:// URIs
  ML_PLATFORM_CODE_VERSION, ML_PLATFORM_IMAGE, ML_PLATFORM_JOB_ID   lineage recorded in the model card
  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT   set by torchrun: DDP (gloo on CPU, NCCL on GPU)

examples:
  python -m workloads.training --config workloads/training/configs/tabular.yaml
  python -m workloads.training --config tabular.yaml --train.steps 200 --run.output_uri s3://models/run1
  torchrun --nproc-per-node 2 -m workloads.training --config workloads/training/configs/gpt.yaml
"""


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without None, whether None is allowed)."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def _converter(annotation: Any, optional: bool):
    is_list = get_origin(annotation) is list

    def convert(text: str) -> Any:
        if optional and text.lower() in ("none", "null"):
            return None
        if is_list:
            return [] if text == "" else [part.strip() for part in text.split(",")]
        return text

    return convert


def _metavar(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "{" + ",".join(str(a) for a in get_args(annotation)) + "}"
    if get_origin(annotation) is list:
        return "A,B,..."
    if annotation is bool:
        return "{true,false}"
    return getattr(annotation, "__name__", "VALUE").upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workloads.training",
        usage="%(prog)s [-h] [--config FILE] [--print-config] [--SECTION.KEY VALUE ...]",
        description="Train a sample model (tabular classifier or byte-level GPT), evaluate it with task and "
        "fairness gates, write weights, an inference artifact, metrics and a model card, and register it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON config file (sections below)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    for section, model in SECTIONS.items():
        group = parser.add_argument_group(f"{section}")
        for name, info in model.model_fields.items():
            annotation, optional = _unwrap(info.annotation)
            default = "required" if info.is_required() else f"default: {info.default!r}"
            help_text = f"{info.description} ({default})".replace("%", "%%")
            group.add_argument(
                f"--{section}.{name}",
                dest=f"{section}.{name}",
                metavar=_metavar(annotation),
                type=_converter(annotation, optional),
                default=argparse.SUPPRESS,  # only the options given on the command line override the file
                help=help_text,
            )
    return parser


def _setup_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    prefix = f"[rank {rank}] " if world > 1 else ""
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s {prefix}%(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "s3fs", "aiobotocore", "urllib3", "mlflow", "alembic", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    overrides = {k: v for k, v in vars(args).items() if "." in k}
    try:
        cfg = load_config(args.config, overrides)
        if args.print_config:
            print(yaml.safe_dump(config_dict(cfg), sort_keys=False), end="")
            return 0
        checks.preflight(cfg, is_main=int(os.environ.get("RANK", "0")) == 0)  # before torch loads
        from workloads.training.trainer import EXIT_INTERRUPTED, train

        result = train(cfg, preflight=False)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    if result.gates_passed is False and cfg.eval.fail_on_gate:
        return EXIT_GATE_FAILED
    return 0
