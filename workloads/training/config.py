"""The training configuration: a YAML/JSON file plus command-line overrides, validated by pydantic.

Every field carries a description: the command line (`python -m workloads.training --help`) is
generated from this model, so the help text documents every option. Errors come back as one line
naming the file and the key path (``train.yaml: train.steps: Input should be greater than 0``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workloads.training.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSpec(_Section):
    name: str = Field(
        default="tabular-demo", description="Run name; also the registered model name unless registry.model_name"
    )
    output_uri: str = Field(
        description="Where outputs go (fsspec URI: a local path, s3://bucket/prefix, gs://bucket/prefix)"
    )
    checkpoint_uri: str | None = Field(
        default=None,
        description="Where checkpoints go; default OUTPUT_URI/checkpoints. A restart resumes from the latest",
    )
    seed: int = Field(default=0, ge=0, description="Seed for initialisation, data order and the eval split")
    keep_checkpoints: int = Field(default=2, ge=1, description="How many checkpoints to keep (older ones are deleted)")


class ModelSpec(_Section):
    kind: Literal["tabular", "gpt"] = Field(
        default="tabular", description="tabular: binary classifier; gpt: byte-level LM"
    )
    hidden: list[int] = Field(default=[64, 64], description="(tabular) hidden layer widths, comma separated")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Dropout probability")
    block_size: int = Field(default=64, ge=2, description="(gpt) context length in bytes")
    n_layer: int = Field(default=2, ge=1, description="(gpt) transformer blocks")
    n_head: int = Field(default=4, ge=1, description="(gpt) attention heads")
    n_embd: int = Field(default=64, ge=8, description="(gpt) embedding width; a multiple of n_head")

    @model_validator(mode="after")
    def _shape(self) -> ModelSpec:
        if self.kind == "gpt" and self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.kind == "tabular" and (not self.hidden or min(self.hidden) < 1):
            raise ValueError("hidden must list at least one positive width")
        return self


class DataSpec(_Section):
    train_uri: str = Field(description="Training data: CSV with a header (tabular) or a text file (gpt)")
    eval_uri: str | None = Field(
        default=None, description="Evaluation data; default: a seeded split of the training data"
    )
    eval_fraction: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="Share held out for evaluation when no eval_uri"
    )
    label_column: str = Field(default="label", description="(tabular) the 0/1 label column")
    sensitive_column: str | None = Field(
        default="group", description="(tabular) the sensitive attribute, for the fairness metrics; 'none' to skip them"
    )
    feature_columns: list[str] | None = Field(
        default=None,
        description="(tabular) feature columns; default: every other column. The sensitive one is never a feature",
    )


class TrainSpec(_Section):
    steps: int = Field(default=1000, ge=1, description="Optimizer steps")
    batch_size: int = Field(default=256, ge=1, description="Global batch size (split evenly across processes)")
    lr: float = Field(default=3e-3, gt=0.0, description="Peak learning rate (AdamW)")
    weight_decay: float = Field(default=0.0, ge=0.0, description="AdamW weight decay")
    lr_schedule: Literal["constant", "cosine"] = Field(
        default="constant", description="Learning-rate schedule after warm-up"
    )
    warmup_steps: int = Field(default=0, ge=0, description="Linear warm-up steps")
    grad_clip: float = Field(default=0.0, ge=0.0, description="Clip the gradient norm to this value; 0 = off")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: cuda when available, else cpu")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="auto: bf16 autocast on GPU, fp32 on CPU"
    )
    compile: bool = Field(default=False, description="Compile the model with torch.compile")
    checkpoint_every: int = Field(
        default=500, ge=0, description="Checkpoint every N steps (0: only at the end and on SIGTERM)"
    )
    log_every: int = Field(default=100, ge=1, description="Log step, loss and throughput every N steps")
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads per process; default: cores / local processes"
    )


class EvalSpec(_Section):
    batch_size: int = Field(default=4096, ge=1, description="Evaluation batch size")
    min_accuracy: float | None = Field(
        default=0.8, ge=0.0, le=1.0, description="(tabular) gate: lowest accepted accuracy"
    )
    max_demographic_parity_difference: float | None = Field(
        default=0.1, ge=0.0, le=1.0, description="(tabular) gate: largest accepted gap in selection rate between groups"
    )
    max_equalized_odds_difference: float | None = Field(
        default=0.1, ge=0.0, le=1.0, description="(tabular) gate: largest accepted gap in TPR or FPR between groups"
    )
    max_val_loss: float | None = Field(
        default=None, gt=0.0, description="(gpt) gate: highest accepted eval loss (nats/byte)"
    )
    fail_on_gate: bool = Field(
        default=False, description="Exit with status 3 when a gate fails (default: 0, not promoted)"
    )


class RegistrySpec(_Section):
    mode: Literal["auto", "always", "never"] = Field(
        default="auto", description="Register in MLflow: auto = when MLFLOW_TRACKING_URI is set"
    )
    model_name: str | None = Field(default=None, description="Registered model name; default: run.name")
    alias: str = Field(default="candidate", description="Alias set on the new version only when every gate passes")
    experiment: str = Field(default="training", description="MLflow experiment for the run")


class CardSpec(_Section):
    owner: str = Field(description="Owning team (model card, registry tag ai.owner)")
    contact: str | None = Field(default=None, description="Contact address of the owner")
    intended_use: str = Field(description="What the model is for")
    out_of_scope: list[str] = Field(default=[], description="Uses the model is not meant for")
    risk_tier: Literal["minimal", "limited", "high", "prohibited"] = Field(
        description="EU AI Act risk tier; 'prohibited' is refused"
    )
    limitations: list[str] = Field(default=[], description="Known limitations")
    description: str = Field(default="", description="Free-text description")

    @model_validator(mode="after")
    def _not_prohibited(self) -> CardSpec:
        if self.risk_tier == "prohibited":
            raise ValueError("risk tier 'prohibited': such a model may not be trained or registered")
        return self


class TrainConfig(_Section):
    run: RunSpec
    model: ModelSpec = ModelSpec()
    data: DataSpec
    train: TrainSpec = TrainSpec()
    eval: EvalSpec = EvalSpec()
    registry: RegistrySpec = RegistrySpec()
    card: CardSpec

    @property
    def checkpoint_uri(self) -> str:
        return self.run.checkpoint_uri or self.run.output_uri.rstrip("/") + "/checkpoints"

    @property
    def model_name(self) -> str:
        return self.registry.model_name or self.run.name


SECTIONS: dict[str, type[BaseModel]] = {
    name: info.annotation  # type: ignore[misc]
    for name, info in TrainConfig.model_fields.items()
}


def _format_error(source: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: {path}: {msg}{more}"


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        detail = str(exc).splitlines()[0]
        raise ConfigError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {detail}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: the config must be a mapping of sections (run, model, data, ...)")
    return doc


def apply_overrides(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys (``train.steps``) in a copy of the config mapping."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        current = out.get(section)
        if current is None:
            current = {}
        elif not isinstance(current, dict):
            raise ConfigError(f"{section}: must be a mapping")
        out[section] = {**current, key: value}
    return out


def parse_config(doc: dict[str, Any], source: str = "config") -> TrainConfig:
    try:
        return TrainConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    doc = read_config_file(path) if path is not None else {}
    doc = apply_overrides(doc, overrides or {})
    return parse_config(doc, str(path) if path is not None else "command line")


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")
