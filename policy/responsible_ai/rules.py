"""Responsible-AI rules: governance of models, training jobs, registries and data stores.

Every rule maps to a NIST AI RMF 1.0 subcategory and an EU AI Act article (`nist_ai_rmf`), and reads
resource *inputs* only, so it decides at `pulumi preview`.

What the rules look at
----------------------
* model deployments: KServe `InferenceService` (and `LLMInferenceService`), the model at
  `spec.predictor.model.storageUri` (or `storageUri`, `storageUris[]`, a legacy framework block, the
  `STORAGE_URI` of a custom container, a container image);
* training jobs: Kubeflow Trainer `TrainJob`, Kubeflow `PyTorchJob`-style jobs, and `batch/v1` Jobs
  labelled `app.kubernetes.io/component: training` (what `ServicesContext.labels("training")` sets);
* the model registry: workloads labelled `app.kubernetes.io/component: model-registry` (MLflow) and
  the `models` bucket;
* data stores: buckets, databases, container registries, clusters, caches, file systems, log groups
  and replication destinations;
* training pipelines: Argo `WorkflowTemplate`, `ClusterWorkflowTemplate`, `CronWorkflow` and `Workflow`
  objects that train or register a model (they carry `ml-platform/registered-model` or
  `ml-platform/pipeline`).

The governance annotation schema
--------------------------------
Set as `metadata.annotations` (a label of the same key is read too where the value is a valid label
value, e.g. the risk tier) on model deployments and training jobs. The TrainingJob component
(components/k8s/training.py) sets the lineage keys; the ModelDeployment component sets the rest. A
training pipeline carries its lineage keys on itself and on the workflows it starts
(`spec.workflowMetadata.annotations`), and each of its step templates `ml-platform/pipeline-step`
(workloads/pipelines/workflow.py renders them).

=====================================  ==========================================================
key                                    value
=====================================  ==========================================================
ml-platform/owner                      accountable owner, an email address
ml-platform/contact                    who answers for the model in operation (email, on-call alias)
ml-platform/risk-tier                  minimal | limited | high | prohibited (EU AI Act Art. 6 and
                                       Annex III; the model card's `risk_tier` values verbatim;
                                       `unacceptable` is read as `prohibited`)
ml-platform/intended-use               the intended purpose, one sentence (model card
                                       `intended_use.primary`)
ml-platform/model-card                 URI of model_card.json (s3://, gs://, mlflow-artifacts:/, https://)
ml-platform/approval                   the approval reference: a ticket, or the registry approval
                                       (e.g. `mlflow:credit-approval/7@champion`)
ml-platform/dataset                    URI of the training data
ml-platform/dataset-version            dataset version or content hash (`sha256:...`)
ml-platform/code-version               git commit (or immutable tag) of the training code
ml-platform/model-version              registry version of the served model
ml-platform/model-stage                candidate | approved | archived | rejected (the model card's
                                       `status` plus the registry's lifecycle; the key
                                       `ml-platform/model-status` is read as an alias)
ml-platform/eval-metrics               the evaluation: a JSON object (metrics.json) or its URI
ml-platform/fairness-metric            the fairness metric name (e.g. demographic_parity_difference)
ml-platform/fairness-value             its measured value (a number)
ml-platform/fairness-threshold         the bound it must meet (a number)
ml-platform/fairness-op                `<=` (default: the value may not exceed the threshold) or `>=`
ml-platform/inference-log-retention-days  how long the inference logs are kept (days)
ml-platform/inference-log-sampling     fraction of requests logged, 0 < s <= 1 (default 1)
ml-platform/monitoring                 the drift / SLO monitoring of the model (a PrometheusRule, a
                                       dashboard or monitor URI); `false`/`none` means none
ml-platform/data-residency             regions the model's data may live in, comma-separated
ml-platform/registered-model           the registry model a pipeline's runs register versions of
ml-platform/pipeline                   the pipeline (`<namespace>/<name>`) an Argo object belongs to
ml-platform/pipeline-step              the step a pipeline template runs (ingest, train, register, ...)
=====================================  ==========================================================

Inference logging itself is the KServe logger of the predictor, `spec.predictor.logger`
(`url` to the logs bucket or an in-cluster log collector, `mode` all or request).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy.policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from policy import props as p
from policy.rule import CRITICAL, HIGH, MEDIUM, ResourceRule, Rule, Stack, StackRule, Target, nist_ai_rmf

# --- the governance annotation schema -------------------------------------------------------------------

ANN_OWNER = "ml-platform/owner"
ANN_CONTACT = "ml-platform/contact"
ANN_RISK_TIER = "ml-platform/risk-tier"
ANN_INTENDED_USE = "ml-platform/intended-use"
ANN_MODEL_CARD = "ml-platform/model-card"
ANN_APPROVAL = "ml-platform/approval"
ANN_DATASET = "ml-platform/dataset"
ANN_DATASET_VERSION = "ml-platform/dataset-version"
ANN_CODE_VERSION = "ml-platform/code-version"
ANN_MODEL_VERSION = "ml-platform/model-version"
ANN_MODEL_STAGE = "ml-platform/model-stage"
ANN_MODEL_STATUS = "ml-platform/model-status"  # alias of ANN_MODEL_STAGE
ANN_EVAL_METRICS = "ml-platform/eval-metrics"
ANN_FAIRNESS_METRIC = "ml-platform/fairness-metric"
ANN_FAIRNESS_VALUE = "ml-platform/fairness-value"
ANN_FAIRNESS_THRESHOLD = "ml-platform/fairness-threshold"
ANN_FAIRNESS_OP = "ml-platform/fairness-op"
ANN_LOG_RETENTION_DAYS = "ml-platform/inference-log-retention-days"
ANN_LOG_SAMPLING = "ml-platform/inference-log-sampling"
ANN_MONITORING = "ml-platform/monitoring"
ANN_DATA_RESIDENCY = "ml-platform/data-residency"
ANN_REGISTERED_MODEL = "ml-platform/registered-model"
ANN_PIPELINE = "ml-platform/pipeline"
ANN_PIPELINE_STEP = "ml-platform/pipeline-step"

RISK_TIERS = ("minimal", "limited", "high", "prohibited")
TIER_ALIASES = {"unacceptable": "prohibited"}  # the Act's "unacceptable risk" practices (Art. 5)
HIGH_RISK = "high"
PROHIBITED = "prohibited"
MODEL_STAGES = ("candidate", "approved", "archived", "rejected")
RETIRED_STAGES = ("archived", "rejected")
FAIRNESS_OPS = ("<=", ">=")
# values that say "nothing here"
_PLACEHOLDERS = frozenset({"", "-", "?", "tbd", "todo", "n/a", "na", "none", "null", "unknown", "changeme"})
# names that move: not a version of anything
_MOVING_VERSIONS = frozenset({"latest", "main", "master", "head", "dev", "develop", "trunk", "current", "stable"})
_NEGATIVE = frozenset({"false", "no", "off", "none", "disabled", "0"})

LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_POOL = "ml-platform/pool"
LABEL_ACCELERATOR = "ml-platform/accelerator"
GPU = "nvidia.com/gpu"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*:/{0,2}\S+$")

# --- what is what ---------------------------------------------------------------------------------------

MODEL_KINDS = ("InferenceService", "LLMInferenceService")
TRAINING_KINDS = {
    "trainer.kubeflow.org": ("TrainJob",),
    "kubeflow.org": ("PyTorchJob", "TFJob", "MPIJob", "JAXJob", "XGBoostJob", "PaddleJob"),
}
REGISTRY_COMPONENT = "model-registry"
TRAINING_COMPONENT = "training"


def _is_model_type(resource_type: str) -> bool:
    return p.is_k8s(resource_type, *MODEL_KINDS) and p.k8s_group(resource_type) == "serving.kserve.io"


def _is_training_type(resource_type: str) -> bool:
    kind = p.k8s_kind(resource_type)
    if kind is None:
        return False
    group = p.k8s_group(resource_type)
    return kind in TRAINING_KINDS.get(group, ()) or (group == "batch" and kind == "Job")


def _is_training(resource_type: str, props: Any) -> bool:
    """A training job: a Trainer/Kubeflow job, or a batch Job labelled as training."""
    if not _is_training_type(resource_type):
        return False
    if p.k8s_group(resource_type) == "batch":
        return p.labels(props).get(LABEL_COMPONENT) == TRAINING_COMPONENT
    return True


def _is_registry(resource_type: str, props: Any) -> bool:
    return p.is_k8s(resource_type, "Deployment", "StatefulSet") and (
        p.labels(props).get(LABEL_COMPONENT) == REGISTRY_COMPONENT
    )


def _who(t: Target) -> str:
    meta = p.metadata(t.props)
    name = meta.get("name") or t.name
    ns = meta.get("namespace")
    return f"{t.kind} {ns}/{name}" if ns else f"{t.kind} {name}"


def _gov(props: Any, key: str) -> str:
    """A governance value: the annotation, else the label of the same key ('' when absent)."""
    value = p.annotations(props).get(key)
    if value is None:
        value = p.labels(props).get(key)
    return (value or "").strip()


def _missing(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDERS


def _tier(props: Any) -> str | None:
    """The normalized risk tier, the raw value when it is not a tier, or None when absent."""
    raw = _gov(props, ANN_RISK_TIER)
    if not raw:
        return None
    value = TIER_ALIASES.get(raw.lower(), raw.lower())
    return value if value in RISK_TIERS else raw


def _high(props: Any) -> bool:
    return _tier(props) == HIGH_RISK


def _stage(props: Any) -> str:
    return (_gov(props, ANN_MODEL_STAGE) or _gov(props, ANN_MODEL_STATUS)).lower()


def _known(read: Callable[[], Any]) -> Any:
    """`read()`, or None where it touches a value unknown at preview (computed by the provider)."""
    try:
        return read()
    except UnknownValueError:
        return None


def _sget(obj: Any, *path: str | int) -> Any:
    return _known(lambda: p.get(obj, *path))


# --- model sources (R8) ---------------------------------------------------------------------------------

_LEGACY_PREDICTORS = (
    "sklearn",
    "xgboost",
    "lightgbm",
    "pytorch",
    "tensorflow",
    "onnx",
    "triton",
    "pmml",
    "paddle",
    "huggingface",
)


def model_sources(props: Any) -> list[tuple[str, str]]:
    """(path, URI or image) of every model artifact and predictor image a deployment loads."""
    found: list[tuple[str, str]] = []
    spec = p.get(props, "spec")
    uri = p.get(spec, "model", "uri")  # LLMInferenceService
    if isinstance(uri, str):
        found.append(("spec.model.uri", uri))
    parts = [(f"spec.{c}", c, p.get(spec, c)) for c in ("predictor", "transformer", "explainer")]
    # raw-mode canaries (KServe >= 0.20): each serves its own model next to the stable predictor
    parts += [
        (f"spec.canary[{i}].predictor", "predictor", p.get(c, "predictor"))
        for i, c in enumerate(p.items(spec, "canary"))
    ]
    for base, component, part in parts:
        if not p.is_map(part):
            continue
        for key in ("model", *_LEGACY_PREDICTORS):
            value = p.get(part, key, "storageUri")
            if isinstance(value, str):
                found.append((f"{base}.{key}.storageUri", value))
        if isinstance(p.get(part, "storageUri"), str):
            found.append((f"{base}.storageUri", p.get(part, "storageUri")))
        for i, entry in enumerate(p.items(part, "storageUris")):
            if isinstance(p.get(entry, "uri"), str):
                found.append((f"{base}.storageUris[{i}].uri", p.get(entry, "uri")))
        for i, container in enumerate(p.items(part, "containers")):
            for env in p.items(container, "env"):
                if p.get(env, "name") == "STORAGE_URI" and isinstance(p.get(env, "value"), str):
                    found.append((f"{base}.containers[{i}].env.STORAGE_URI", p.get(env, "value")))
            if component == "predictor" and isinstance(p.get(container, "image"), str):
                found.append((f"{base}.containers[{i}].image", p.get(container, "image")))
        if component == "predictor" and isinstance(p.get(part, "model", "image"), str):
            found.append((f"{base}.model.image", p.get(part, "model", "image")))
    return found


DEFAULT_MODEL_SOURCES = [
    "s3://*-models*",  # the platform's models buckets (the MLflow artifact store)
    "gs://*-models*",
    "oci://*.dkr.ecr.*.amazonaws.com/*",  # model-car images in the platform's registries
    "oci://*-docker.pkg.dev/*",
    "*.dkr.ecr.*.amazonaws.com/*",  # predictor images in the platform's registries
    "*-docker.pkg.dev/*",
]


def _approved_sources(t: Target) -> Iterable[str]:
    allowed = [p.glob(g) for g in p.as_strings(t.config.get("allowedModelSources"))]
    for path, source in model_sources(t.props):
        if not any(g.match(source) for g in allowed):
            yield (
                f"{_who(t)} loads '{source}' ({path}), which matches none of allowedModelSources: "
                "models come from the platform's models bucket or registries"
            )


# --- ownership and classification (R1, R2) --------------------------------------------------------------


def _owner_contact(t: Target) -> Iterable[str]:
    if not (_is_model_type(t.type) or _is_training(t.type, t.props) or _is_registry(t.type, t.props)):
        return
    owner = _gov(t.props, ANN_OWNER)
    if _missing(owner):
        yield f"{_who(t)} has no {ANN_OWNER} annotation: nobody is accountable for it"
    elif not _EMAIL.match(owner):
        yield f"{_who(t)}: {ANN_OWNER} '{owner}' is not an email address"
    if _missing(_gov(t.props, ANN_CONTACT)):
        yield f"{_who(t)} has no {ANN_CONTACT} annotation: nobody to reach about it in operation"


def _risk_tier_valid(t: Target) -> Iterable[str]:
    if not (_is_model_type(t.type) or _is_training(t.type, t.props)):
        return
    tier = _tier(t.props)
    if tier is None:
        yield f"{_who(t)} has no {ANN_RISK_TIER}: classify it ({' | '.join(RISK_TIERS)}) before it runs"
    elif tier not in RISK_TIERS:
        yield f"{_who(t)}: {ANN_RISK_TIER} '{tier}' is not one of {', '.join(RISK_TIERS)}"


def _prohibited(t: Target) -> Iterable[str]:
    if not (_is_model_type(t.type) or _is_training(t.type, t.props)):
        return
    if _tier(t.props) == PROHIBITED:
        raw = _gov(t.props, ANN_RISK_TIER)
        yield f"{_who(t)} is risk tier '{raw}': a prohibited AI practice may not be trained or deployed"


# --- documentation (R3) ---------------------------------------------------------------------------------


def _intended_use(t: Target) -> Iterable[str]:
    if not _high(t.props):
        return
    if _missing(_gov(t.props, ANN_INTENDED_USE)):
        yield f"{_who(t)} is high risk and has no {ANN_INTENDED_USE}: state what it is for (and not for)"


def _model_card(t: Target) -> Iterable[str]:
    if not _high(t.props):
        return
    card = _gov(t.props, ANN_MODEL_CARD)
    if _missing(card):
        yield f"{_who(t)} is high risk and has no {ANN_MODEL_CARD}: link its model card"
    elif not _URI.match(card):
        yield f"{_who(t)}: {ANN_MODEL_CARD} '{card}' is not a URI"


# --- approval, versions, lifecycle (R5, R17) --------------------------------------------------------------


def _approval(t: Target) -> Iterable[str]:
    if _missing(_gov(t.props, ANN_APPROVAL)):
        yield f"{_who(t)} has no {ANN_APPROVAL} reference: a person approves a model version before production"
    stage = _stage(t.props)
    if stage and stage != "approved" and stage not in RETIRED_STAGES:
        yield f"{_who(t)} is at model stage '{stage}', not 'approved'"


def _retired(t: Target) -> Iterable[str]:
    stage = _stage(t.props)
    if not stage:
        return
    if stage in RETIRED_STAGES:
        yield f"{_who(t)} serves a model version in stage '{stage}': retired or rejected versions are not served"
    elif stage not in MODEL_STAGES:
        yield f"{_who(t)}: {ANN_MODEL_STAGE} '{stage}' is not one of {', '.join(MODEL_STAGES)}"


def _mutable_source(source: str) -> str | None:
    """Why a model URI does not pin one artifact (None when it does)."""
    if source.startswith("oci://"):
        _, _, tag, digest = p.image_reference(source[len("oci://") :])
        if digest is None and (tag is None or tag.lower() in _MOVING_VERSIONS):
            return f"oci reference without a digest or with the moving tag '{tag or '(none)'}'"
        return None
    if source.startswith("models:") and "@" in source:
        return "a registry alias moves"
    if "://" in source or source.startswith(("mlflow-artifacts:", "models:")):
        segments = [s.lower() for s in re.split(r"[/@]", source.split(":", 1)[1]) if s]
        moving = [s for s in segments if s in _MOVING_VERSIONS]
        if moving:
            return f"path segment '{moving[0]}' moves"
    return None


def _version_pinned(t: Target) -> Iterable[str]:
    if _missing(_gov(t.props, ANN_MODEL_VERSION)):
        yield f"{_who(t)} has no {ANN_MODEL_VERSION}: which model answered a request could not be told"
    for path, source in model_sources(t.props):
        if path.endswith(".image"):
            continue  # image tags are the security pack's
        why = _mutable_source(source)
        if why:
            yield f"{_who(t)} loads '{source}' ({path}): {why}; point at one immutable version"


# --- lineage (R6) ---------------------------------------------------------------------------------------


def _env(props: Any) -> dict[str, str]:
    """The trainer environment of a TrainJob (name -> literal value)."""
    return {
        str(p.get(e, "name")): str(p.get(e, "value"))
        for e in p.items(props, "spec", "trainer", "env")
        if isinstance(p.get(e, "value"), str)
    }


_MISSING_WHY = {
    ANN_DATASET: ": which data trained the model is unknown",
    ANN_DATASET_VERSION: " (a version or a sha256 of the data)",
    ANN_CODE_VERSION: " (the commit of the training code)",
    ANN_OWNER: ": nobody is accountable for it",
    ANN_RISK_TIER: f": classify it ({' | '.join(RISK_TIERS)}) before it runs",
    ANN_REGISTERED_MODEL: ": which registered model its runs produce is unknown",
}


# key -> (the value is unusable, why)
_INVALID: dict[str, tuple[Callable[[str], bool], str]] = {
    ANN_DATASET: (lambda v: not _URI.match(v), "is not a URI"),
    ANN_DATASET_VERSION: (lambda v: v.lower() in _MOVING_VERSIONS, "moves; give a version or a content hash"),
    ANN_CODE_VERSION: (lambda v: v.lower() in _MOVING_VERSIONS, "is a branch, not a version; give a commit"),
    ANN_OWNER: (lambda v: not _EMAIL.match(v), "is not an email address"),
    ANN_RISK_TIER: (
        lambda v: TIER_ALIASES.get(v.lower(), v.lower()) not in RISK_TIERS,
        f"is not one of {', '.join(RISK_TIERS)}",
    ),
}


def _lineage_value(who: str, key: str, value: str) -> str | None:
    """Why a lineage value is missing or unusable (None when it is fine)."""
    if _missing(value):
        return f"{who} has no {key}{_MISSING_WHY.get(key, '')}"
    invalid, why = _INVALID.get(key, (lambda v: False, ""))
    return f"{who}: {key} '{value}' {why}" if invalid(value) else None


def _lineage(t: Target) -> Iterable[str]:
    training = _is_training(t.type, t.props)
    if not (training or (_is_model_type(t.type) and _high(t.props))):
        return
    for key in (ANN_DATASET, ANN_DATASET_VERSION, ANN_CODE_VERSION):
        problem = _lineage_value(_who(t), key, _gov(t.props, key))
        if problem:
            yield problem
    if training and p.k8s_kind(t.type) == "TrainJob":
        env = _env(t.props)
        for key, var in ((ANN_DATASET, "DATASET_URI"), (ANN_DATASET_VERSION, "DATASET_VERSION")):
            declared = _gov(t.props, key)
            if var in env and declared and env[var] != declared:
                yield f"{_who(t)}: {key} '{declared}' differs from the trainer's {var} '{env[var]}'"


# --- training pipelines (R6, R13) ---------------------------------------------------------------------------

PIPELINE_MARKERS = (ANN_REGISTERED_MODEL, ANN_PIPELINE)  # an Argo object that trains or registers a model
# what a pipeline records on itself and on every workflow it starts (the dataset version is only known
# per run: each run writes it into its own records)
PIPELINE_LINEAGE = (ANN_DATASET, ANN_CODE_VERSION, ANN_OWNER, ANN_RISK_TIER, ANN_REGISTERED_MODEL)
_ORCHESTRATION_TEMPLATES = ("steps", "dag", "suspend")  # templates that only sequence the steps


def _is_pipeline_type(resource_type: str) -> bool:
    return p.is_k8s(resource_type, *p.ARGO_KINDS) and p.k8s_group(resource_type) == p.ARGO_GROUP


def _meta_values(meta: Any) -> dict[str, str]:
    """The governance values of a metadata block: its labels, overridden by its annotations."""
    values = {str(k): str(v).strip() for k, v in p.mapping(meta, "labels").items()}
    values.update({str(k): str(v).strip() for k, v in p.mapping(meta, "annotations").items()})
    return values


def _workflow_spec(r: PolicyResource) -> tuple[str, Any]:
    """(path, workflow spec): a CronWorkflow's is `spec.workflowSpec`."""
    return p.argo_workflow_spec(_rtype(r), r.props)


def _started_metadata(r: PolicyResource) -> tuple[str, dict[str, str]]:
    """(where, values) of the metadata the workflows an object starts get: `spec.workflowMetadata`, and for
    a CronWorkflow also its own `spec.workflowMetadata` (the started Workflow's object metadata)."""
    base, spec = _workflow_spec(r)
    values = _meta_values(p.get(spec, "workflowMetadata"))
    if base != "spec":
        values = {**values, **_meta_values(p.get(r.props, "spec", "workflowMetadata"))}
    return f"{base}.workflowMetadata.annotations", values


def _referenced_template(
    r: PolicyResource, templates: Mapping[tuple[str, str | None, str], PolicyResource]
) -> tuple[str, PolicyResource | None] | None:
    """(what it names, the template when it is in the stack) of a `workflowTemplateRef`; None without one."""
    ref = p.get(_workflow_spec(r)[1], "workflowTemplateRef")
    name = p.get(ref, "name")
    if not name:
        return None
    if p.truthy(p.get(ref, "clusterScope")):
        return f"ClusterWorkflowTemplate {name}", templates.get(("ClusterWorkflowTemplate", None, str(name)))
    ns = p.get(r.props, "metadata", "namespace")
    return f"WorkflowTemplate {ns}/{name}", templates.get(("WorkflowTemplate", ns, str(name)))


def _pipeline_problems(
    r: PolicyResource, templates: Mapping[tuple[str, str | None, str], PolicyResource]
) -> Iterable[str]:
    kind = p.k8s_kind(_rtype(r)) or ""
    meta = p.metadata(r.props)
    ns, name = meta.get("namespace"), meta.get("name") or r.name
    who = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
    own = _meta_values(meta)
    where, started = _started_metadata(r)
    seen = [own, started]
    ref = _referenced_template(r, templates)
    if ref is not None:
        shown, template = ref
        if template is None:
            where = f"{where}; {shown}, which it starts, is not in this stack"
        else:
            where = f"{where} or {shown}'s spec.workflowMetadata.annotations"
            started = {**_started_metadata(template)[1], **started}
            seen += [started, _meta_values(p.metadata(template.props))]
    if not any(marker in values for values in seen for marker in PIPELINE_MARKERS):
        return
    checks = [(f"{who} (metadata.annotations)", own)]
    if kind != "Workflow":  # a Workflow's own metadata is its run's
        checks.append((f"every workflow {who} starts ({where})", started))
    for label, values in checks:
        if all(_missing(values.get(key, "")) for key in PIPELINE_LINEAGE):
            yield f"{label} has none of the lineage annotations {', '.join(PIPELINE_LINEAGE)}"
            continue
        for key in PIPELINE_LINEAGE:
            problem = _lineage_value(label, key, values.get(key, ""))
            if problem:
                yield problem
    base, spec = _workflow_spec(r)
    for i, template in enumerate(p.items(spec, "templates")):
        if any(p.get(template, k) is not None for k in _ORCHESTRATION_TEMPLATES):
            continue
        if _missing(_meta_values(p.get(template, "metadata")).get(ANN_PIPELINE_STEP, "")):
            yield (
                f"{who}: template '{p.get(template, 'name') or i}' ({base}.templates[{i}]) has no "
                f"{ANN_PIPELINE_STEP} annotation: its pods and records cannot be traced to a pipeline step"
            )


def _pipeline_lineage(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """Argo objects that train or register a model (a marker annotation or label on the object, on the
    workflows it starts, or on the template a CronWorkflow references) carry `PIPELINE_LINEAGE` in their
    metadata and in the metadata of the workflows they start, and every step template (all but steps, dag
    and suspend templates) names its step. A CronWorkflow that starts a WorkflowTemplate by
    `workflowTemplateRef` may leave the started workflows' keys to that template's `spec.workflowMetadata`
    (Argo merges the two, the CronWorkflow's values first). An object whose metadata is unknown at preview
    is skipped."""
    objects = [r for r in stack.resources if _is_pipeline_type(_rtype(r))]
    templates: dict[tuple[str, str | None, str], PolicyResource] = {}
    for r in objects:
        kind = p.k8s_kind(_rtype(r))
        if kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
            meta = _known(lambda r=r: p.metadata(r.props)) or {}
            ns = meta.get("namespace") if kind == "WorkflowTemplate" else None
            if meta.get("name"):
                templates[(str(kind), ns, str(meta["name"]))] = r
    for r in objects:
        try:
            problems = list(_pipeline_problems(r, templates))
        except UnknownValueError:
            continue
        for problem in problems:
            yield problem, r.urn


# --- operation: logging, monitoring, evaluation (R9, R10, R16) --------------------------------------------

DEFAULT_LOG_SINKS = [
    "s3://*-logs*",  # the platform's logs bucket
    "gs://*-logs*",
    "http://*.svc.cluster.local*",  # an in-cluster log collector
    "https://*.svc.cluster.local*",
]


def _inference_logging(t: Target) -> Iterable[str]:
    if not _high(t.props):
        return
    logger = p.get(t.props, "spec", "predictor", "logger")
    if not p.is_map(logger):
        yield f"{_who(t)} is high risk and its predictor has no logger (spec.predictor.logger): requests go unrecorded"
    else:
        url = str(p.get(logger, "url") or "")
        sinks = [p.glob(g) for g in p.as_strings(t.config.get("allowedSinks"))]
        if not url:
            yield f"{_who(t)}: spec.predictor.logger has no url"
        elif not any(g.match(url) for g in sinks):
            yield f"{_who(t)}: the inference logger sends to '{url}', which matches none of allowedSinks"
        mode = str(p.get(logger, "mode") or "all")
        modes = p.as_strings(t.config.get("allowedModes"))
        if mode not in modes:
            yield f"{_who(t)}: logger mode '{mode}' records too little (allowed: {', '.join(modes)})"
    minimum = p.number(t.config.get("minRetentionDays"), 180.0) or 0.0
    raw = _gov(t.props, ANN_LOG_RETENTION_DAYS)
    days = p.number(raw)
    if not raw:
        yield f"{_who(t)} has no {ANN_LOG_RETENTION_DAYS}: say how long its inference logs are kept"
    elif days is None or not math.isfinite(days):
        yield f"{_who(t)}: {ANN_LOG_RETENTION_DAYS} '{raw}' is not a number of days"
    elif days < minimum:
        yield f"{_who(t)} keeps inference logs {days:g} days, less than the {minimum:g} required"
    sampling_raw = _gov(t.props, ANN_LOG_SAMPLING)
    if sampling_raw:
        sampling = p.number(sampling_raw)
        if sampling is None or not 0.0 < sampling <= 1.0:
            yield f"{_who(t)}: {ANN_LOG_SAMPLING} '{sampling_raw}' is not a fraction in (0, 1]"


def _monitoring(t: Target) -> Iterable[str]:
    if not _high(t.props):
        return
    value = _gov(t.props, ANN_MONITORING)
    if _missing(value) or value.lower() in _NEGATIVE:
        yield (f"{_who(t)} is high risk and has no {ANN_MONITORING}: configure drift/SLO monitoring and name it")


def _eval_doc(raw: str) -> Mapping[str, Any] | None:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _numbers(doc: Any) -> int:
    if isinstance(doc, bool):
        return 0
    if isinstance(doc, int | float):
        return 1
    if isinstance(doc, dict):
        return sum(_numbers(v) for v in doc.values())
    if isinstance(doc, list):
        return sum(_numbers(v) for v in doc)
    return 0


def _eval_evidence(t: Target) -> Iterable[str]:
    if not _high(t.props):
        return
    raw = _gov(t.props, ANN_EVAL_METRICS)
    if _missing(raw):
        yield f"{_who(t)} is high risk and has no {ANN_EVAL_METRICS}: attach its evaluation (JSON or a URI)"
        return
    doc = _eval_doc(raw)
    if doc is None:
        if not _URI.match(raw):
            yield f"{_who(t)}: {ANN_EVAL_METRICS} is neither a JSON object nor a URI"
        return
    if not _numbers(doc.get("metrics", doc)):
        yield f"{_who(t)}: {ANN_EVAL_METRICS} carries no metric value"
    gates = doc.get("gates")
    passed = gates.get("passed") if isinstance(gates, dict) else doc.get("passed")
    if passed is False:
        failed = [
            str(c.get("name"))
            for c in (gates.get("checks", []) if isinstance(gates, dict) else [])
            if isinstance(c, dict) and c.get("passed") is False
        ]
        which = f" ({', '.join(failed)})" if failed else ""
        yield f"{_who(t)}: its evaluation failed its gates{which}"


def _fairness(t: Target) -> Iterable[str]:
    if not _high(t.props):
        return
    metric = _gov(t.props, ANN_FAIRNESS_METRIC)
    raw_value, raw_threshold = _gov(t.props, ANN_FAIRNESS_VALUE), _gov(t.props, ANN_FAIRNESS_THRESHOLD)
    if _missing(metric):
        yield f"{_who(t)} is high risk and has no {ANN_FAIRNESS_METRIC}: examine it for bias and record the result"
        return
    value, threshold = p.number(raw_value), p.number(raw_threshold)
    if value is None or not math.isfinite(value):
        yield f"{_who(t)}: {ANN_FAIRNESS_VALUE} '{raw_value}' is not a number"
    if threshold is None or not math.isfinite(threshold):
        yield f"{_who(t)}: {ANN_FAIRNESS_THRESHOLD} '{raw_threshold}' is not a number"
    op = _gov(t.props, ANN_FAIRNESS_OP) or "<="
    if op not in FAIRNESS_OPS:
        yield f"{_who(t)}: {ANN_FAIRNESS_OP} '{op}' is not one of {', '.join(FAIRNESS_OPS)}"
        return
    if value is None or threshold is None or not (math.isfinite(value) and math.isfinite(threshold)):
        return
    if (op == "<=" and value > threshold) or (op == ">=" and value < threshold):
        word = "exceeds" if op == "<=" else "falls below"
        yield f"{_who(t)}: fairness {metric} {value:g} {word} its threshold {threshold:g}"


# --- stack helpers ----------------------------------------------------------------------------------------


def _rtype(r: PolicyResource) -> str:
    return r.resource_type


def _region_of(r: PolicyResource) -> str | None:
    own = _sget(r.props, "region") or _sget(r.props, "location")
    if isinstance(own, str) and own:
        return own
    prov = _sget(r.provider.props, "region") if r.provider is not None else None
    return prov if isinstance(prov, str) and prov else None


_GCP_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_AWS_ZONE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d+)[a-z]$")


def _normal_region(value: str) -> str:
    value = value.strip().lower()
    for pattern in (_GCP_ZONE, _AWS_ZONE):
        m = pattern.match(value)
        if m:
            return m.group(1)
    return value


def _parent(r: PolicyResource) -> str | None:
    return getattr(r.opts, "parent", None) or None


def _bucket_name(r: PolicyResource) -> str | None:
    for key in ("bucket", "name"):
        value = _sget(r.props, key)
        if isinstance(value, str) and value:
            return value
    return None


_ROLE = re.compile(r"-(models|datasets|artifacts|logs)(?:-|$)")


def _bucket_role(r: PolicyResource) -> str | None:
    """The platform role of a bucket: its `ml-platform/bucket` tag (GCS: `ml-platform_bucket` label),
    else the `-models-` / `-datasets-` / `-artifacts-` / `-logs-` part of its name."""
    tags = p.cloud_tags(r.props)
    role = tags.get("ml-platform/bucket") or tags.get("ml-platform_bucket")
    if role:
        return role
    name = _bucket_name(r) or _sget(r.props, "bucketPrefix") or ""
    m = _ROLE.search(str(name))
    return m.group(1) if m else None


def _companions(stack: Stack, bucket: PolicyResource, companion_type: str) -> list[PolicyResource]:
    """The companion resources (SSE config, logging, lifecycle) of an S3 bucket.

    Paired by the companion's `bucket` input equal to the bucket's `bucket` name (what the reference
    stacks send once ids are known), else, where that input is unknown at preview (`bucket=b.id` on a
    new bucket), by the parent component when that parent holds exactly this one bucket.
    """
    name = _bucket_name(bucket)
    companions = stack.of_type(companion_type)
    by_name = [c for c in companions if name and _sget(c.props, "bucket") == name]
    if by_name:
        return by_name
    parent = _parent(bucket)
    if parent is None:
        return []
    siblings = [b for b in stack.of_type(S3_BUCKET) if _parent(b) == parent]
    if len(siblings) != 1:
        return []
    return [c for c in companions if _parent(c) == parent and _sget(c.props, "bucket") in (None, name)]


S3_BUCKET = "aws:s3/bucket:Bucket"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
S3_REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GCP_LOG_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"


def _k8s_name(r: PolicyResource) -> tuple[str, str]:
    meta = p.metadata(r.props)
    return str(meta.get("namespace") or "default"), str(meta.get("name") or r.name)


def _models(stack: Stack) -> list[PolicyResource]:
    return [r for r in stack.resources if _is_model_type(_rtype(r))]


# --- data residency (R11) ---------------------------------------------------------------------------------

DATA_STORE_TYPES = frozenset(
    {
        S3_BUCKET,
        "aws:s3/bucketV2:BucketV2",
        RDS_INSTANCE,
        RDS_CLUSTER,
        "aws:ecr/repository:Repository",
        EKS_CLUSTER,
        "aws:elasticache/cluster:Cluster",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/serverlessCache:ServerlessCache",
        "aws:memorydb/cluster:Cluster",
        "aws:efs/fileSystem:FileSystem",
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "aws:dynamodb/table:Table",
        "aws:opensearch/domain:Domain",
        LOG_GROUP,
        "aws:sagemaker/featureGroup:FeatureGroup",
        "aws:sagemaker/endpoint:Endpoint",
        GCS_BUCKET,
        CLOUD_SQL,
        "gcp:alloydb/cluster:Cluster",
        "gcp:artifactregistry/repository:Repository",
        GKE_CLUSTER,
        "gcp:redis/instance:Instance",
        "gcp:memorystore/instance:Instance",
        "gcp:filestore/instance:Instance",
        "gcp:bigquery/dataset:Dataset",
        GCP_LOG_BUCKET,
        "gcp:vertex/aiDataset:AiDataset",
        "gcp:vertex/aiEndpoint:AiEndpoint",
        "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
    }
)


def _locations(r: PolicyResource) -> list[str]:
    """Where a data store keeps data; a GCS dual-region lists its two regions."""
    if _rtype(r) == GCS_BUCKET:
        placed = p.as_strings(_sget(r.props, "customPlacementConfig", "dataLocations"))
        if placed:
            return placed
    region = _region_of(r)
    return [region] if region else []


def _replica_regions(stack: Stack, r: PolicyResource) -> Iterable[tuple[str, str | None]]:
    """(what, region) for each replication destination of `r` (region None: unknown)."""
    kind = _rtype(r)
    if kind == S3_REPLICATION:
        buckets = {_bucket_name(b): b for b in stack.of_type(S3_BUCKET, "aws:s3/bucketV2:BucketV2")}
        for rule in p.items(_sget(r.props, "rules")):
            arn = _sget(rule, "destination", "bucket")
            if not isinstance(arn, str):
                continue
            name = arn.rsplit(":", 1)[-1]
            target = buckets.get(name)
            yield f"replication destination bucket '{name}'", _region_of(target) if target is not None else None
    elif kind == "aws:ecr/replicationConfiguration:ReplicationConfiguration":
        for rule in p.items(_sget(r.props, "replicationConfiguration"), "rules"):
            for dest in p.items(rule, "destinations"):
                region = p.get(dest, "region")
                yield "ECR replication destination", str(region) if region else None
    elif kind == "aws:dynamodb/table:Table":
        for replica in p.items(_sget(r.props, "replicas")):
            yield "DynamoDB replica", str(p.get(replica, "regionName") or "") or None


def _display(r: PolicyResource) -> str:
    """`Bucket mlp-aws-prod-models-...`: the type's last part and the physical name where there is one."""
    name = (
        _bucket_name(r)
        or _sget(r.props, "identifier")
        or _sget(r.props, "identifierPrefix")
        or _sget(r.props, "repositoryId")
        or r.name
    )
    return f"{_rtype(r).rsplit(':', 1)[-1]} {name}"


def _residency(stack: Stack) -> Iterable[tuple[str, str | None]]:
    allowed = {_normal_region(x) for x in p.as_strings(stack.config.get("allowedRegions"))}
    if not allowed:
        return  # not configured: the environment's config file names the regions
    shown = ", ".join(sorted(allowed))
    for r in stack.resources:
        kind = _rtype(r)
        if kind in DATA_STORE_TYPES:
            where = _locations(r)
            if not where:
                yield f"{_display(r)}: its region is not set; residency cannot be checked", r.urn
            for loc in where:
                if _normal_region(loc) not in allowed:
                    yield (
                        f"{_display(r)} is in '{loc}', outside the allowed regions ({shown})",
                        r.urn,
                    )
        for what, region in _replica_regions(stack, r):
            if region is None:
                yield f"{r.name}: {what} is not in this stack; its region cannot be checked", r.urn
            elif _normal_region(region) not in allowed:
                yield f"{r.name}: {what} is in '{region}', outside the allowed regions ({shown})", r.urn
        if _is_model_type(kind) or _is_training(kind, r.props):
            declared = _gov(r.props, ANN_DATA_RESIDENCY)
            for loc in (x.strip() for x in declared.split(",") if x.strip()):
                if _normal_region(loc) not in allowed:
                    ns, name = _k8s_name(r)
                    yield (
                        f"{ns}/{name}: {ANN_DATA_RESIDENCY} names '{loc}', outside the allowed regions ({shown})",
                        r.urn,
                    )


# --- record keeping (R13) ---------------------------------------------------------------------------------


def _cluster_audit_logs(t: Target) -> Iterable[str]:
    if t.type == EKS_CLUSTER:
        enabled = set(p.as_strings(t.get("enabledClusterLogTypes")))
        wanted = p.as_strings(t.config.get("eksLogTypes"))
        missing = [x for x in wanted if x not in enabled]
        if missing:
            yield f"EKS cluster {t.get('name') or t.name} does not send control-plane logs {', '.join(missing)}"
    elif t.type == GKE_CLUSTER:
        name = t.get("name") or t.name
        if str(t.get("loggingService") or "").lower() == "none":
            yield f"GKE cluster {name} has loggingService 'none': no cluster logs are kept"
        components = t.get("loggingConfig", "enableComponents")
        if components is not None:
            have = set(p.as_strings(components))
            missing = [x for x in p.as_strings(t.config.get("gkeLogComponents")) if x not in have]
            if missing:
                yield f"GKE cluster {name} loggingConfig leaves out {', '.join(missing)}"


def _log_targets(stack: Stack) -> set[str]:
    """Names of the buckets that receive access logs."""
    targets = {str(_sget(x.props, "targetBucket")) for x in stack.of_type(S3_LOGGING)}
    targets |= {str(_sget(b.props, "logging", "logBucket")) for b in stack.of_type(GCS_BUCKET)}
    return {t for t in targets if t and t != "None"}


def _is_log_bucket(r: PolicyResource, targets: set[str]) -> bool:
    return _bucket_role(r) == "logs" or (_bucket_name(r) or "") in targets


def _flags(r: PolicyResource) -> dict[str, str]:
    return {
        str(p.get(f, "name")): str(p.get(f, "value")).lower()
        for f in p.items(_sget(r.props, "settings", "databaseFlags"))
    }


def _parameter_groups(stack: Stack, db: PolicyResource, kinds: Sequence[str], key: str) -> list[PolicyResource]:
    """The parameter groups a database uses: by `parameterGroupName` (name or namePrefix), else by parent."""
    name = _sget(db.props, key)
    groups = stack.of_type(*kinds)
    if isinstance(name, str) and name:
        found = [
            g
            for g in groups
            if _sget(g.props, "name") == name
            or (isinstance(_sget(g.props, "namePrefix"), str) and name.startswith(_sget(g.props, "namePrefix")))
        ]
        if found:
            return found
    parent = _parent(db)
    return [g for g in groups if parent and _parent(g) == parent]


def _parameter(group: PolicyResource, name: str) -> str | None:
    for item in p.items(_sget(group.props, "parameters")):
        if p.get(item, "name") == name:
            return str(p.get(item, "value"))
    return None


def _data_access_logs(stack: Stack) -> Iterable[tuple[str, str | None]]:
    targets = _log_targets(stack)
    for b in stack.of_type(S3_BUCKET):
        if _is_log_bucket(b, targets):
            continue
        inline = _sget(b.props, "logging") or _sget(b.props, "loggings")
        if not inline and not _companions(stack, b, S3_LOGGING):
            yield f"S3 bucket {_bucket_name(b) or b.name} has no access logging (aws.s3.BucketLogging)", b.urn
    for b in stack.of_type(GCS_BUCKET):
        if _is_log_bucket(b, targets):
            continue
        if not _sget(b.props, "logging", "logBucket"):
            yield f"GCS bucket {_bucket_name(b) or b.name} has no access logging (logging.logBucket)", b.urn
    for db in stack.of_type(RDS_INSTANCE, RDS_CLUSTER):
        engine = str(_sget(db.props, "engine") or "").lower()
        exports = set(p.as_strings(_sget(db.props, "enabledCloudwatchLogsExports")))
        ident = _sget(db.props, "identifier") or _sget(db.props, "identifierPrefix") or db.name
        if "postgres" in engine:
            if "postgresql" not in exports:
                yield f"RDS {ident} does not export its postgresql log to CloudWatch", db.urn
            cluster = _rtype(db) == RDS_CLUSTER
            kinds = (RDS_CLUSTER_PARAMS,) if cluster else (RDS_PARAMS,)
            key = "dbClusterParameterGroupName" if cluster else "parameterGroupName"
            groups = _parameter_groups(stack, db, kinds, key)
            if not any(_parameter(g, "log_connections") in ("1", "on", "true") for g in groups):
                yield f"RDS {ident} does not log connections (parameter log_connections = 1)", db.urn
        elif engine and not exports & {"audit", "general"}:
            yield f"RDS {ident} ({engine}) exports neither its audit nor its general log", db.urn
    for db in stack.of_type(CLOUD_SQL):
        version = str(_sget(db.props, "databaseVersion") or "")
        if version.startswith("POSTGRES") and _flags(db).get("log_connections") != "on":
            yield (
                f"Cloud SQL {_sget(db.props, 'name') or db.name} does not log connections (flag log_connections)",
                db.urn,
            )


def _log_retention(stack: Stack) -> Iterable[tuple[str, str | None]]:
    minimum = p.number(stack.config.get("minRetentionDays"), 180.0) or 0.0
    groups = {str(_sget(g.props, "name")): g for g in stack.of_type(LOG_GROUP)}

    def short(days: float) -> bool:
        return 0 < days < minimum  # 0 / unset: never expires

    for cluster in stack.of_type(EKS_CLUSTER):
        name = _sget(cluster.props, "name") or cluster.name
        group = groups.get(f"/aws/eks/{name}/cluster")
        if group is None:
            yield (
                f"EKS cluster {name}: its log group /aws/eks/{name}/cluster is not declared, so its "
                "retention is not set by the stack",
                cluster.urn,
            )
            continue
        days = p.number(_sget(group.props, "retentionInDays"), 0.0) or 0.0
        if short(days):
            yield f"log group /aws/eks/{name}/cluster keeps audit logs {days:g} days (< {minimum:g})", group.urn
    for name, group in groups.items():
        if name.startswith("/aws/rds/"):
            days = p.number(_sget(group.props, "retentionInDays"), 0.0) or 0.0
            if short(days):
                yield f"log group {name} keeps database logs {days:g} days (< {minimum:g})", group.urn
    targets = _log_targets(stack)
    for b in stack.of_type(S3_BUCKET):
        if not _is_log_bucket(b, targets):
            continue
        for lc in _companions(stack, b, S3_LIFECYCLE):
            for rule in p.items(_sget(lc.props, "rules")):
                days = p.number(p.get(rule, "expiration", "days"), 0.0) or 0.0
                if p.get(rule, "status") == "Enabled" and short(days):
                    yield f"S3 log bucket {_bucket_name(b)} expires logs after {days:g} days (< {minimum:g})", lc.urn
    for b in stack.of_type(GCS_BUCKET):
        if not _is_log_bucket(b, targets):
            continue
        for rule in p.items(_sget(b.props, "lifecycleRules")):
            if p.get(rule, "action", "type") != "Delete" or p.get(rule, "condition", "withState") == "ARCHIVED":
                continue
            days = p.number(p.get(rule, "condition", "age"), 0.0) or 0.0
            if short(days):
                yield f"GCS log bucket {_bucket_name(b)} deletes logs after {days:g} days (< {minimum:g})", b.urn
    for bucket in stack.of_type(GCP_LOG_BUCKET):
        days = p.number(_sget(bucket.props, "retentionDays"), 30.0) or 30.0
        if days < minimum:
            yield f"log bucket {_sget(bucket.props, 'bucketId') or bucket.name} keeps logs {days:g} days", bucket.urn


# --- network isolation (R14) --------------------------------------------------------------------------------


def _default_deny(policy: PolicyResource) -> bool:
    spec = _sget(policy.props, "spec")
    selector = p.get(spec, "podSelector")
    selects_all = selector is None or not (p.mapping(selector, "matchLabels") or p.items(selector, "matchExpressions"))
    types = p.as_strings(p.get(spec, "policyTypes"))
    return selects_all and "Ingress" in types and not p.items(spec, "ingress")


def _namespace_default_deny(stack: Stack) -> Iterable[tuple[str, str | None]]:
    denied = {_k8s_name(r)[0] for r in stack.resources if p.is_k8s(_rtype(r), "NetworkPolicy") and _default_deny(r)}
    for model in _models(stack):
        ns, name = _k8s_name(model)
        if ns not in denied:
            yield (
                f"namespace {ns} serves {p.k8s_kind(_rtype(model))} {name} without a default-deny ingress "
                "NetworkPolicy",
                model.urn,
            )


_INTERNAL = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true",),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "networking.gke.io/load-balancer-type": ("internal",),
    "cloud.google.com/load-balancer-type": ("internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
}
_PUBLIC = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internet-facing",),
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("false",),
    "networking.gke.io/load-balancer-type": ("external",),
    "cloud.google.com/load-balancer-type": ("external",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("false",),
}


def _public_marker(annotations: Mapping[str, Any]) -> str | None:
    for key, values in _PUBLIC.items():
        if str(annotations.get(key, "")).lower() in values:
            return f"{key}: {annotations[key]}"
    return None


def _internal_lb(annotations: Mapping[str, Any]) -> bool:
    if _public_marker(annotations):
        return False
    return any(str(annotations.get(k, "")).lower() in v for k, v in _INTERNAL.items())


def _endpoint_internal(stack: Stack) -> Iterable[tuple[str, str | None]]:
    proxies = {
        _k8s_name(r): r
        for r in stack.resources
        if p.is_k8s(_rtype(r), "EnvoyProxy") and p.k8s_group(_rtype(r)) == "gateway.envoyproxy.io"
    }
    for gw in stack.resources:
        if not (p.is_k8s(_rtype(gw), "Gateway") and p.k8s_group(_rtype(gw)) == "gateway.networking.k8s.io"):
            continue
        ns, name = _k8s_name(gw)
        annotations: dict[str, Any] = dict(p.mapping(_sget(gw.props, "spec"), "infrastructure", "annotations"))
        service_type = "LoadBalancer"  # what Envoy Gateway creates unless told otherwise
        ref = p.get(_sget(gw.props, "spec"), "infrastructure", "parametersRef")
        if p.get(ref, "kind") == "EnvoyProxy":
            proxy = proxies.get((ns, str(p.get(ref, "name"))))
            service = p.get(proxy.props, "spec", "provider", "kubernetes", "envoyService") if proxy else None
            annotations.update(p.mapping(service, "annotations"))
            service_type = str(p.get(service, "type") or service_type)
        if service_type == "LoadBalancer" and not _internal_lb(annotations):
            marker = _public_marker(annotations)
            why = f" ({marker})" if marker else " (no internal load-balancer annotation)"
            yield (
                f"Gateway {ns}/{name} gets a public load balancer{why}: model endpoints stay inside the network",
                gw.urn,
            )
    model_namespaces = {_k8s_name(m)[0] for m in _models(stack)}
    for svc in stack.resources:
        if not p.is_k8s(_rtype(svc), "Service") or _k8s_name(svc)[0] not in model_namespaces:
            continue
        if p.get(_sget(svc.props, "spec"), "type") == "LoadBalancer" and not _internal_lb(p.annotations(svc.props)):
            ns, name = _k8s_name(svc)
            yield f"Service {ns}/{name} exposes a model namespace through a public load balancer", svc.urn
    for model in _models(stack):
        marker = _public_marker(p.annotations(model.props))
        if marker:
            ns, name = _k8s_name(model)
            yield f"{p.k8s_kind(_rtype(model))} {ns}/{name} asks for a public load balancer ({marker})", model.urn


# --- customer-managed keys (R15) ------------------------------------------------------------------------------


def _cmk(stack: Stack) -> Iterable[tuple[str, str | None]]:
    roles = set(p.as_strings(stack.config.get("bucketRoles")))
    for b in stack.of_type(S3_BUCKET):
        role = _bucket_role(b)
        if role not in roles:
            continue
        label = f"S3 {role} bucket {_bucket_name(b) or b.name}"
        configs = _companions(stack, b, S3_SSE)
        if not configs:
            yield f"{label} has no SSE configuration: S3 falls back to AWS-managed SSE-S3 keys", b.urn
            continue
        for sse in configs:
            for rule in p.items(_sget(sse.props, "rules")) or [None]:
                default = p.get(rule, "applyServerSideEncryptionByDefault")
                algorithm = str(p.get(default, "sseAlgorithm") or "")
                if not algorithm.startswith("aws:kms"):
                    yield f"{label} is encrypted with '{algorithm or 'nothing'}', not a KMS customer key", sse.urn
                elif not p.get(default, "kmsMasterKeyId"):
                    yield f"{label} uses aws:kms without kmsMasterKeyId: that is the AWS-managed aws/s3 key", sse.urn
    for b in stack.of_type(GCS_BUCKET):
        role = _bucket_role(b)
        if role in roles and not _sget(b.props, "encryption", "defaultKmsKeyName"):
            yield f"GCS {role} bucket {_bucket_name(b) or b.name} has no encryption.defaultKmsKeyName", b.urn
    for db in stack.of_type(RDS_INSTANCE, RDS_CLUSTER):
        ident = _sget(db.props, "identifier") or _sget(db.props, "identifierPrefix") or db.name
        if not _sget(db.props, "kmsKeyId"):
            yield f"RDS {ident} is not encrypted with a customer key (kmsKeyId)", db.urn
    for db in stack.of_type(CLOUD_SQL):
        if not _sget(db.props, "encryptionKeyName"):
            yield f"Cloud SQL {_sget(db.props, 'name') or db.name} has no encryptionKeyName (CMEK)", db.urn


# --- GPU budget -------------------------------------------------------------------------------------------

# (GPUs, vCPUs) per machine type. AWS instance types map to GPUs one to one; on GCP only the
# accelerator-optimized families bundle their GPUs (N1 takes guestAccelerators).
_LOCAL_MACHINES: dict[str, tuple[int, int]] = {
    "g4dn.xlarge": (1, 4),
    "g4dn.12xlarge": (4, 48),
    "g5.xlarge": (1, 4),
    "g5.12xlarge": (4, 48),
    "g5.48xlarge": (8, 192),
    "g6.xlarge": (1, 4),
    "g6.12xlarge": (4, 48),
    "g6.48xlarge": (8, 192),
    "g6e.xlarge": (1, 4),
    "g6e.12xlarge": (4, 48),
    "g6e.48xlarge": (8, 192),
    "p4d.24xlarge": (8, 96),
    "p4de.24xlarge": (8, 96),
    "p5.4xlarge": (1, 16),
    "p5.48xlarge": (8, 192),
    "p5e.48xlarge": (8, 192),
    "p5en.48xlarge": (8, 192),
}
_BUNDLED_GCP = re.compile(r"^(a2|a3|a4|g2|g4)-")


def _machine_table() -> dict[str, tuple[int, int]]:
    table = dict(_LOCAL_MACHINES)
    try:  # the project's catalog (standard library only) knows every machine the platform offers
        from components import catalog
    except ImportError:  # the pack copied on its own
        return table
    for accelerator in catalog.ACCELERATORS.values():
        for cloud, offering in accelerator.offerings.items():
            for m in offering.machine_types:
                if cloud == "aws" or _BUNDLED_GCP.match(m.name):
                    table[m.name] = (m.gpus, m.vcpus)
    for machines in catalog.CPU_MACHINES.values():
        for name, m in machines.items():
            table.setdefault(name, (0, m.vcpus))
    return table


MACHINES = _machine_table()


SHARING_LABELS = ("nvidia.com/device-plugin.config", "nvidia.com/mig.config")  # components/foundation.py


def _shared(labels: Mapping[str, Any]) -> bool:
    """Time-sliced or MIG nodes advertise more GPUs than they hold."""
    return any(key in labels for key in SHARING_LABELS)


class _Pool:
    def __init__(self, resource: PolicyResource, name: str, gpus: int | None, shared: bool, why: str) -> None:
        self.resource, self.name, self.gpus, self.shared, self.why = resource, name, gpus, shared, why


def _gpus_of(machine: str, extra: Mapping[str, Any]) -> tuple[int, int] | None:
    if machine in extra:
        return int(p.number(extra[machine], 0.0) or 0), 0
    return MACHINES.get(machine)


def _eks_pool(r: PolicyResource, extra: Mapping[str, Any]) -> _Pool | None:
    labels = p.mapping(_sget(r.props, "labels"))
    name = str(labels.get(LABEL_POOL) or r.name)
    types = p.as_strings(_sget(r.props, "instanceTypes"))
    maximum = int(p.number(_sget(r.props, "scalingConfig", "maxSize"), 0.0) or 0)
    counts = [_gpus_of(t, extra) for t in types]
    gpu_hint = "NVIDIA" in str(_sget(r.props, "amiType") or "").upper() or LABEL_ACCELERATOR in labels
    if any(c is None for c in counts) and gpu_hint:
        unknown = [t for t, c in zip(types, counts, strict=True) if c is None]
        return _Pool(r, name, None, False, f"instance type {', '.join(unknown)}")
    per_node = max((c[0] for c in counts if c is not None), default=0)
    return _Pool(r, name, per_node * maximum, _shared(labels), f"{maximum} nodes x {per_node} GPUs")


def _gke_pool(r: PolicyResource) -> _Pool | None:
    config = _sget(r.props, "nodeConfig")
    labels = p.mapping(config, "labels")
    name = str(labels.get(LABEL_POOL) or _sget(r.props, "name") or r.name)
    accelerators = p.items(config, "guestAccelerators")
    per_node = sum(int(p.number(p.get(a, "count"), 0.0) or 0) for a in accelerators)
    if not accelerators:
        machine = str(p.get(config, "machineType") or "")
        per_node = MACHINES.get(machine, (0, 0))[0] if _BUNDLED_GCP.match(machine) else 0
    shared = any(p.get(a, "gpuSharingConfig") or p.get(a, "gpuPartitionSize") for a in accelerators)
    zones = len(p.items(_sget(r.props, "nodeLocations")))
    if not zones:
        location = str(_sget(r.props, "location") or "")
        zones = 1 if _GCP_ZONE.match(location) else 3  # a regional pool spans three zones by default
    scaling = _sget(r.props, "autoscaling")
    if p.get(scaling, "totalMaxNodeCount") is not None:
        nodes = int(p.number(p.get(scaling, "totalMaxNodeCount"), 0.0) or 0)
        how = f"{nodes} nodes"
    elif p.get(scaling, "maxNodeCount") is not None:
        per_zone = int(p.number(p.get(scaling, "maxNodeCount"), 0.0) or 0)
        nodes, how = per_zone * zones, f"{per_zone} nodes x {zones} zones"
    else:
        per_zone = int(p.number(_sget(r.props, "nodeCount") or _sget(r.props, "initialNodeCount"), 0.0) or 0)
        nodes, how = per_zone * zones, f"{per_zone} nodes x {zones} zones"
    return _Pool(r, name, nodes * per_node, shared, f"{how} x {per_node} GPUs")


def _karpenter_pool(r: PolicyResource, extra: Mapping[str, Any]) -> _Pool | None:
    spec = _sget(r.props, "spec")
    template = p.get(spec, "template")
    labels = p.mapping(template, "metadata", "labels")
    name = str(labels.get(LABEL_POOL) or _k8s_name(r)[1])
    limits = p.mapping(spec, "limits")
    requirements = p.items(template, "spec", "requirements")
    types: list[str] = []
    for req in requirements:
        if p.get(req, "key") == "node.kubernetes.io/instance-type" and p.get(req, "operator") == "In":
            types += p.as_strings(p.get(req, "values"))
    machines = [m for m in (_gpus_of(t, extra) for t in types) if m is not None]
    gpu_hint = (
        LABEL_ACCELERATOR in labels
        or any(p.get(x, "key") == GPU for x in p.items(template, "spec", "taints"))
        or any(str(p.get(req, "key") or "").startswith("karpenter.k8s.aws/instance-gpu") for req in requirements)
        or any(m[0] for m in machines)
    )
    if not gpu_hint:
        return None
    bounds: list[tuple[int, str]] = []
    if GPU in limits:
        bounds.append((int(p.number(limits[GPU], 0.0) or 0), f"limits {GPU} {limits[GPU]}"))
    cpu = p.number(limits.get("cpu"))
    if cpu is not None and machines and len(machines) == len(types) and min(m[1] for m in machines) > 0:
        nodes = int(cpu // min(m[1] for m in machines))
        per_node = max(m[0] for m in machines)
        bounds.append((nodes * per_node, f"cpu limit {cpu:g} -> {nodes} nodes x {per_node} GPUs"))
    if not bounds:
        return _Pool(r, name, None, _shared(labels), f"no {GPU} limit")
    gpus, why = min(bounds)
    return _Pool(r, name, gpus, _shared(labels), why)


def _pools(stack: Stack, extra: Mapping[str, Any]) -> list[_Pool]:
    pools: list[_Pool | None] = []
    for r in stack.resources:
        kind = _rtype(r)
        if kind == EKS_NODE_GROUP:
            pools.append(_eks_pool(r, extra))
        elif kind == GKE_NODE_POOL:
            pools.append(_gke_pool(r))
        elif p.is_k8s(kind, "NodePool") and p.k8s_group(kind) == "karpenter.sh":
            pools.append(_karpenter_pool(r, extra))
    return [x for x in pools if x is not None]


def _find_pool_selector(obj: Any) -> str | None:
    """The `ml-platform/pool` a job pins its pods to (any nodeSelector in its spec)."""
    if p.is_map(obj):
        selector = p.get(obj, "nodeSelector")
        if p.is_map(selector) and isinstance(p.get(selector, LABEL_POOL), str):
            return p.get(selector, LABEL_POOL)
        for key in obj:
            found = _find_pool_selector(obj[key])
            if found:
                return found
    elif p.is_list(obj):
        for item in obj:
            found = _find_pool_selector(item)
            if found:
                return found
    return None


def job_gpus(resource_type: str, props: Any) -> int:
    """GPUs a training job asks for at once (all nodes / replicas)."""
    kind = p.k8s_kind(resource_type)
    if kind == "TrainJob":
        trainer = p.get(props, "spec", "trainer")
        per_node = max(
            p.number(p.get(trainer, "resourcesPerNode", "limits", GPU), 0.0) or 0.0,
            p.number(p.get(trainer, "resourcesPerNode", "requests", GPU), 0.0) or 0.0,
        )
        return int(per_node * (p.number(p.get(trainer, "numNodes"), 1.0) or 1.0))
    if kind == "Job":
        pods = p.number(p.get(props, "spec", "parallelism"), 1.0) or 1.0
        per_pod = sum(
            max(p.gpu_limit(c), p.gpu_request(c))
            for _, pod in p.pod_specs(resource_type, props)
            for _, c in p.containers(pod)
        )
        return int(pods * per_pod)
    total = 0.0
    for key, replicas in p.mapping(props, "spec").items():  # pytorchReplicaSpecs, tfReplicaSpecs, ...
        if not key.endswith("ReplicaSpecs") or not p.is_map(replicas):
            continue
        for replica in p.mapping(replicas).values():
            if not p.is_map(replica):
                continue
            count = p.number(p.get(replica, "replicas"), 1.0) or 1.0
            pod = p.get(replica, "template", "spec")
            total += count * sum(max(p.gpu_limit(c), p.gpu_request(c)) for _, c in p.containers(pod))
    return int(total)


def _gpu_budget(stack: Stack) -> Iterable[tuple[str, str | None]]:
    per_pool = p.number(stack.config.get("maxGpusPerPool"), 64.0) or 0.0
    per_env = p.number(stack.config.get("maxGpusPerEnvironment"), 256.0) or 0.0
    extra = p.mapping(stack.config, "gpusPerInstanceType")
    pools = _pools(stack, extra)
    total = 0
    for pool in pools:
        if pool.gpus is None:
            yield (
                f"GPU pool {pool.name}: cannot bound its GPUs ({pool.why}); set a limit or add the machine "
                "to gpusPerInstanceType",
                pool.resource.urn,
            )
            continue
        total += pool.gpus
        if pool.gpus > per_pool:
            yield (
                f"GPU pool {pool.name} can grow to {pool.gpus} GPUs ({pool.why}), over maxGpusPerPool {per_pool:g}",
                (pool.resource.urn),
            )
    if total > per_env:
        names = ", ".join(f"{x.name} {x.gpus}" for x in pools if x.gpus)
        yield f"the GPU pools can grow to {total} GPUs ({names}), over maxGpusPerEnvironment {per_env:g}", None
    by_name = {x.name: x for x in pools}
    for r in stack.resources:
        if not _is_training(_rtype(r), r.props):
            continue
        gpus = job_gpus(_rtype(r), r.props)
        ns, name = _k8s_name(r)
        if gpus > per_pool:
            yield f"training job {ns}/{name} asks for {gpus} GPUs, over maxGpusPerPool {per_pool:g}", r.urn
        pool = by_name.get(_find_pool_selector(_sget(r.props, "spec")) or "")
        if pool is not None and pool.gpus is not None and not pool.shared and gpus > pool.gpus:
            yield (
                f"training job {ns}/{name} asks for {gpus} GPUs; pool {pool.name} has at most {pool.gpus} "
                f"({pool.why}): it can never start",
                r.urn,
            )


# --- the rules ---------------------------------------------------------------------------------------------


def _models_and_training(resource_type: str) -> bool:
    return _is_model_type(resource_type) or _is_training_type(resource_type)


def _governed(resource_type: str) -> bool:
    return _models_and_training(resource_type) or p.is_k8s(resource_type, "Deployment", "StatefulSet")


def _string_list(default: list[str], description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": description}


RULES: list[Rule] = [
    ResourceRule(
        name="rai-owner-contact",
        description="Models, training jobs and the model registry name an accountable owner and a contact.",
        remediation=f"Set the {ANN_OWNER} (an email) and {ANN_CONTACT} annotations (the platform sets them from "
        "the team's owner and contact).",
        severity=MEDIUM,
        framework=nist_ai_rmf("GOVERN 2.1", "GOVERN 1.6", eu_ai_act="Art. 13"),
        types=_governed,
        check=_owner_contact,
        tags=["governance", "owner"],
    ),
    ResourceRule(
        name="rai-risk-tier-valid",
        description="Models and training jobs carry an EU AI Act risk tier: minimal, limited, high or prohibited.",
        remediation=f"Set {ANN_RISK_TIER} to the model card's risk_tier (minimal | limited | high).",
        severity=HIGH,
        framework=nist_ai_rmf("GOVERN 1.3", "MAP 1.5", eu_ai_act="Art. 6"),
        types=_models_and_training,
        check=_risk_tier_valid,
        tags=["governance", "risk-tier"],
    ),
    ResourceRule(
        name="rai-prohibited-practice-denied",
        description="A model or training job classified 'prohibited' is never trained or deployed, in any environment.",
        remediation="Remove the model or job: a prohibited AI practice cannot be waived into production.",
        severity=CRITICAL,
        framework=nist_ai_rmf("MANAGE 1.1", "GOVERN 1.1", eu_ai_act="Art. 5"),
        types=_models_and_training,
        check=_prohibited,
        tags=["governance", "risk-tier", "always-mandatory"],
    ),
    ResourceRule(
        name="rai-intended-use-documented",
        description="High-risk models state their intended use.",
        remediation=f"Set {ANN_INTENDED_USE} from the model card's intended_use.primary.",
        severity=MEDIUM,
        framework=nist_ai_rmf("MAP 1.1", "MAP 3.3", eu_ai_act="Art. 13"),
        types=_is_model_type,
        check=_intended_use,
        tags=["documentation", "high-risk"],
    ),
    ResourceRule(
        name="rai-model-card-linked",
        description="High-risk models link their model card (technical documentation).",
        remediation=f"Set {ANN_MODEL_CARD} to the URI of the model_card.json written next to the model.",
        severity=MEDIUM,
        framework=nist_ai_rmf("MAP 2.2", "GOVERN 4.2", eu_ai_act="Art. 11"),
        types=_is_model_type,
        check=_model_card,
        tags=["documentation", "high-risk"],
    ),
    ResourceRule(
        name="rai-approval-before-prod",
        description="A production model deployment references its human approval and serves an approved version.",
        remediation=f"Approve the version in the registry (alias or ticket) and set {ANN_APPROVAL} and "
        f"{ANN_MODEL_STAGE}: approved.",
        severity=HIGH,
        framework=nist_ai_rmf("MANAGE 1.1", "GOVERN 2.1", eu_ai_act="Art. 14"),
        types=_is_model_type,
        check=_approval,
        tags=["lifecycle", "prod-only"],
    ),
    ResourceRule(
        name="rai-training-data-lineage",
        description="Training jobs, and high-risk models, record the dataset URI, its version or hash, and the "
        "code version.",
        remediation=f"Set {ANN_DATASET}, {ANN_DATASET_VERSION} and {ANN_CODE_VERSION} (TrainingJobSpec datasetUri, "
        "datasetVersion, codeVersion).",
        severity=HIGH,
        framework=nist_ai_rmf("MAP 2.3", "MEASURE 2.9", eu_ai_act="Art. 10"),
        types=_models_and_training,
        check=_lineage,
        tags=["lineage", "data-governance"],
    ),
    StackRule(
        name="rai-pipeline-lineage",
        types=("kubernetes:argoproj.io/",),
        description="Pipelines that train or register a model record the dataset, code version, owner, risk tier "
        "and registered model on themselves and on every workflow they start, and name each step.",
        remediation=f"Deploy pipelines with TrainingPipeline (pipelines[] in the stack file), or set {ANN_DATASET}, "
        f"{ANN_CODE_VERSION}, {ANN_OWNER}, {ANN_RISK_TIER}, {ANN_REGISTERED_MODEL} in metadata and "
        f"spec.workflowMetadata annotations and {ANN_PIPELINE_STEP} on each template.",
        severity=HIGH,
        framework=nist_ai_rmf("MAP 2.3", "MEASURE 2.9", "GOVERN 1.6", eu_ai_act="Art. 12"),
        check=_pipeline_lineage,
        tags=["lineage", "record-keeping", "pipelines"],
    ),
    ResourceRule(
        name="rai-approved-model-sources",
        description="Model deployments load models only from the platform's models buckets and registries.",
        remediation="Register the model in the platform's MLflow (models bucket) or push the model image to the "
        "platform registry; extend allowedModelSources only after review.",
        severity=HIGH,
        framework=nist_ai_rmf("MAP 4.1", "MANAGE 3.2", eu_ai_act="Art. 15"),
        types=_is_model_type,
        check=_approved_sources,
        tags=["supply-chain"],
        config={
            "allowedModelSources": _string_list(
                DEFAULT_MODEL_SOURCES, "glob patterns of allowed storage URIs and predictor images"
            )
        },
    ),
    ResourceRule(
        name="rai-model-version-pinned",
        description="Model deployments name the registry version they serve and load one immutable artifact.",
        remediation=f"Set {ANN_MODEL_VERSION} and point storageUri at a versioned path or an oci:// digest, "
        "never 'latest'.",
        severity=MEDIUM,
        framework=nist_ai_rmf("GOVERN 1.6", "MEASURE 2.9", eu_ai_act="Art. 12"),
        types=_is_model_type,
        check=_version_pinned,
        tags=["lineage", "lifecycle"],
    ),
    ResourceRule(
        name="rai-no-retired-model-served",
        description="No deployment serves a model version that is archived or rejected.",
        remediation=f"Roll back to an approved version, or fix {ANN_MODEL_STAGE} if the registry says otherwise.",
        severity=CRITICAL,
        framework=nist_ai_rmf("MANAGE 2.4", "GOVERN 1.7", eu_ai_act="Art. 9"),
        types=_is_model_type,
        check=_retired,
        tags=["lifecycle"],
    ),
    ResourceRule(
        name="rai-inference-logging",
        description="High-risk models log their requests (KServe logger to the logs sink) and keep the logs long "
        "enough.",
        remediation=f"Set spec.predictor.logger (url: the logs bucket or collector, mode: all) and "
        f"{ANN_LOG_RETENTION_DAYS} >= minRetentionDays.",
        severity=HIGH,
        framework=nist_ai_rmf("MANAGE 4.1", "MEASURE 2.8", eu_ai_act="Art. 12"),
        types=_is_model_type,
        check=_inference_logging,
        tags=["record-keeping", "high-risk"],
        config={
            "minRetentionDays": {
                "type": "integer",
                "minimum": 1,
                "default": 180,
                "description": "days inference logs are kept (EU AI Act Art. 19/26: at least six months)",
            },
            "allowedSinks": _string_list(DEFAULT_LOG_SINKS, "glob patterns of allowed logger URLs"),
            "allowedModes": _string_list(["all", "request"], "KServe logger modes that record the inputs"),
        },
    ),
    ResourceRule(
        name="rai-monitoring-configured",
        description="High-risk models have drift / SLO monitoring configured.",
        remediation=f"Configure the model's drift and SLO alerts and name them in {ANN_MONITORING}.",
        severity=MEDIUM,
        framework=nist_ai_rmf("MEASURE 2.4", "MANAGE 4.1", eu_ai_act="Art. 72"),
        types=_is_model_type,
        check=_monitoring,
        tags=["monitoring", "high-risk"],
    ),
    ResourceRule(
        name="rai-eval-evidence",
        description="High-risk models carry their evaluation metrics, and their evaluation gates passed.",
        remediation=f"Set {ANN_EVAL_METRICS} to the run's metrics.json (or its URI); deploy only versions whose "
        "gates passed.",
        severity=HIGH,
        framework=nist_ai_rmf("MEASURE 2.3", "MEASURE 2.5", eu_ai_act="Art. 15"),
        types=_is_model_type,
        check=_eval_evidence,
        tags=["evaluation", "high-risk"],
    ),
    ResourceRule(
        name="rai-fairness-within-threshold",
        description="High-risk models record a fairness metric, and its value is within its threshold.",
        remediation=f"Set {ANN_FAIRNESS_METRIC}, {ANN_FAIRNESS_VALUE} and {ANN_FAIRNESS_THRESHOLD} from the model "
        "card; retrain or mitigate a model that fails its threshold.",
        severity=HIGH,
        framework=nist_ai_rmf("MEASURE 2.11", eu_ai_act="Art. 10"),
        types=_is_model_type,
        check=_fairness,
        tags=["fairness", "high-risk"],
    ),
    StackRule(
        name="rai-data-residency",
        description="Every data-bearing resource, replication destination and declared model data residency is "
        "in the allowed regions.",
        remediation="Create the resource in an allowed region, or add the region to allowedRegions after a "
        "legal review.",
        severity=HIGH,
        framework=nist_ai_rmf("GOVERN 1.1", "MAP 4.1", eu_ai_act="Art. 10"),
        check=_residency,
        tags=["data-governance", "residency"],
        config={
            "allowedRegions": _string_list(
                [], "regions (or multi-region names) data may live in; empty: the rule is not configured"
            )
        },
    ),
    ResourceRule(
        name="rai-cluster-audit-logs",
        description="Clusters that train and serve models keep their control-plane audit logs.",
        remediation="EKS: enabledClusterLogTypes with api, audit, authenticator; GKE: loggingConfig with "
        "SYSTEM_COMPONENTS (loggingService not 'none').",
        severity=HIGH,
        framework=nist_ai_rmf("MEASURE 2.8", eu_ai_act="Art. 12"),
        types=[EKS_CLUSTER, GKE_CLUSTER],
        check=_cluster_audit_logs,
        tags=["record-keeping"],
        config={
            "eksLogTypes": _string_list(["api", "audit", "authenticator"], "EKS control-plane log types required"),
            "gkeLogComponents": _string_list(["SYSTEM_COMPONENTS"], "GKE logging components required"),
        },
    ),
    StackRule(
        name="rai-data-access-logs",
        types=("aws:", "gcp:"),
        description="Model and data buckets log object access, and the model-registry database logs connections.",
        remediation="Add aws.s3.BucketLogging / GCS logging.logBucket to the logs bucket; RDS: export the "
        "postgresql log with log_connections = 1; Cloud SQL: flag log_connections on.",
        severity=MEDIUM,
        framework=nist_ai_rmf("MEASURE 2.8", "GOVERN 1.5", eu_ai_act="Art. 12"),
        check=_data_access_logs,
        tags=["record-keeping"],
    ),
    StackRule(
        name="rai-audit-log-retention",
        types=("aws:", "gcp:"),
        description="Audit and access logs are kept at least minRetentionDays (six months by default).",
        remediation="Declare the EKS cluster log group with retentionInDays >= minRetentionDays; expire the logs "
        "bucket's objects no sooner.",
        severity=MEDIUM,
        framework=nist_ai_rmf("MEASURE 2.8", "GOVERN 1.5", eu_ai_act="Art. 19"),
        check=_log_retention,
        tags=["record-keeping", "prod-only"],
        config={
            "minRetentionDays": {
                "type": "integer",
                "minimum": 1,
                "default": 180,
                "description": "days audit logs are kept (EU AI Act Art. 19/26: at least six months)",
            }
        },
    ),
    StackRule(
        name="rai-model-namespace-default-deny",
        types=("kubernetes:",),
        description="Every namespace that serves a model has a default-deny ingress NetworkPolicy.",
        remediation="Serve models in team namespaces (components/k8s/tenancy.py adds default-deny) or add a "
        "NetworkPolicy with an empty podSelector and policyTypes [Ingress].",
        severity=HIGH,
        framework=nist_ai_rmf("MEASURE 2.7", eu_ai_act="Art. 15"),
        check=_namespace_default_deny,
        tags=["network", "isolation"],
    ),
    StackRule(
        name="rai-model-endpoint-internal",
        types=("kubernetes:",),
        description="Model endpoints are not exposed through a public load balancer (gateway and model namespaces).",
        remediation="Keep services.serving.internalLoadBalancer true; publish a model only through a reviewed API "
        "gateway, with a waiver.",
        severity=HIGH,
        framework=nist_ai_rmf("MEASURE 2.7", "MANAGE 2.4", eu_ai_act="Art. 15"),
        check=_endpoint_internal,
        tags=["network", "isolation", "prod-only"],
    ),
    StackRule(
        name="rai-cmk-model-data-stores",
        types=("aws:", "gcp:"),
        description="Model, dataset and artifact buckets and the model-registry database use customer-managed keys.",
        remediation="S3: SSE aws:kms with the platform's storage key; GCS: encryption.defaultKmsKeyName; "
        "RDS kmsKeyId; Cloud SQL encryptionKeyName.",
        severity=HIGH,
        framework=nist_ai_rmf("MEASURE 2.7", "MEASURE 2.10", eu_ai_act="Art. 15"),
        check=_cmk,
        tags=["encryption", "prod-only"],
        config={
            "bucketRoles": _string_list(
                ["models", "datasets", "artifacts"], "bucket roles (ml-platform/bucket tag) that need a CMK"
            )
        },
    ),
    StackRule(
        name="rai-gpu-budget",
        types=("aws:", "gcp:", "kubernetes:"),
        description="GPU pools, the environment and each training job stay within the GPU budget.",
        remediation="Lower the pool's maxNodes (Karpenter: its nvidia.com/gpu limit) or the job's size, or raise "
        "the budget after review.",
        severity=MEDIUM,
        framework=nist_ai_rmf("MANAGE 2.1", "MEASURE 2.12", eu_ai_act="Art. 53"),
        check=_gpu_budget,
        tags=["gpu", "budget"],
        config={
            "maxGpusPerPool": {
                "type": "integer",
                "minimum": 1,
                "default": 64,
                "description": "GPUs one pool may reach",
            },
            "maxGpusPerEnvironment": {
                "type": "integer",
                "minimum": 1,
                "default": 256,
                "description": "GPUs all pools of the environment may reach together",
            },
            "gpusPerInstanceType": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "default": {},
                "description": "GPUs per node of machine types the catalog does not know",
            },
        },
    ),
]

# the rules that must stay mandatory in every environment, whatever the config files say
ALWAYS_MANDATORY = ("rai-prohibited-practice-denied",)
