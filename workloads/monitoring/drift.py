"""Drift of the inputs (and predictions) a model sees in production against the data it was trained on.

The rule, per feature (``detect``):

* **PSI decides.** The population stability index over ten quantile bins of the reference measures
  how far the distribution moved, independent of the sample size (by convention < 0.1: no real change,
  0.1-0.2: moderate, > 0.2: a shift worth acting on). A feature drifts when PSI > ``psi_threshold``.
* **KS is the second signal.** The two-sample Kolmogorov-Smirnov test catches what ten bins smooth
  away (a shift inside the tails, a change of shape). Its p-value alone is not a drift signal: with
  tens of thousands of logged rows it falls below any threshold for shifts too small to matter. So KS
  flags a feature only when the p-value is below ``ks_pvalue`` (0.01: the shift is real) *and* the
  statistic (the largest gap between the two CDFs) exceeds ``ks_statistic`` (0.1: it is large enough
  to matter, about the size of a 0.25 sd location shift).
* **Too few rows is not drift.** With fewer than ``min_rows`` current rows (per feature, non-missing)
  both measures are noise (the PSI of two samples of 50 from one distribution is about 0.2); the
  feature, and the report, say ``insufficient_data`` and nothing is flagged.

Prediction drift is the PSI of the predicted probabilities against the reference model's predictions
on the reference data (same thresholds); it needs no labels, so it is the earliest sign that the
model's behaviour moved.

``read_payloads`` turns the platform's payload logs (the CloudEvents the model server sends, as the
logs-bucket collector stores them) into a frame of features and predictions; ``to_markdown``,
``plot`` and ``to_prometheus`` render a report.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from workloads.monitoring.stats import psi

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("workloads.monitoring.drift")

PREDICTION = "prediction"
OK, DRIFT, INSUFFICIENT = "ok", "drift", "insufficient_data"
_PAYLOAD_SUFFIXES = (".json", ".jsonl", ".ndjson")


class DriftError(ValueError):
    """Bad input (unreadable reference or payloads, missing columns): a one-line message."""


class DriftPushError(RuntimeError):
    """The Pushgateway is unreachable or refused the push: a one-line message."""


# -- measures ----------------------------------------------------------------------------------------


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (NaNs dropped); (nan, nan) when a side is empty."""
    from scipy.stats import ks_2samp  # lazily: the pipeline's validation imports `psi` only

    reference = reference[~np.isnan(reference)]
    current = current[~np.isnan(current)]
    if reference.size == 0 or current.size == 0:
        return float("nan"), float("nan")
    result: Any = ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


# -- the report --------------------------------------------------------------------------------------


@dataclass
class FeatureDrift:
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    rows: int  # non-missing current values
    status: str  # ok | drift | insufficient_data
    reasons: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return self.status == DRIFT


@dataclass
class DriftReport:
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    psi_threshold: float
    ks_pvalue: float
    ks_statistic: float
    min_rows: int

    @property
    def status(self) -> str:
        measured = [*self.features, *([self.prediction] if self.prediction else [])]
        if any(f.drifted for f in measured):
            return DRIFT
        if self.current_rows < self.min_rows or any(f.status == INSUFFICIENT for f in measured):
            return INSUFFICIENT
        return OK

    @property
    def drifted(self) -> bool:
        return self.status == DRIFT

    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def summary(self) -> str:
        if self.status == DRIFT:
            names = self.drifted_features() + (["predictions"] if self.prediction and self.prediction.drifted else [])
            return f"drift detected in {', '.join(names)} ({self.current_rows} rows)"
        if self.status == INSUFFICIENT:
            return f"insufficient data: {self.current_rows} rows, at least {self.min_rows} needed"
        return f"no drift ({self.current_rows} rows against {self.reference_rows} reference rows)"


def _measure(
    name: str,
    ref: np.ndarray,
    cur: np.ndarray,
    psi_threshold: float,
    ks_pvalue: float,
    ks_statistic: float,
    min_rows: int,
) -> FeatureDrift:
    rows = int(np.count_nonzero(~np.isnan(cur)))
    value = psi(ref, cur) if rows else float("nan")
    stat, p = ks(ref, cur)
    if rows < min_rows:
        return FeatureDrift(name, value, stat, p, rows, INSUFFICIENT, [f"{rows} rows < {min_rows}"])
    reasons = []
    if value > psi_threshold:
        reasons.append(f"PSI {value:.3f} > {psi_threshold}")
    if p < ks_pvalue and stat > ks_statistic:
        reasons.append(f"KS {stat:.3f} > {ks_statistic} (p={p:.2g})")
    return FeatureDrift(name, value, stat, p, rows, DRIFT if reasons else OK, reasons)


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as floats; anything not a number becomes NaN."""
    return np.asarray(pd.to_numeric(frame[column], errors="coerce"), dtype=float)


def detect(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    prediction_column: str | None = None,
    reference_predictions: np.ndarray | Sequence[float] | None = None,
    psi_threshold: float = 0.2,
    ks_pvalue: float = 0.01,
    min_rows: int = 200,
    ks_statistic: float = 0.1,
) -> DriftReport:
    """Per-feature drift of `current` against `reference` (rule in the module docstring).

    Prediction drift is measured when `prediction_column` names a column of `current` and reference
    predictions are given (`reference_predictions`, else the same column of `reference`)."""
    missing = [f for f in features if f not in reference.columns or f not in current.columns]
    if missing:
        side = "reference" if any(f not in reference.columns for f in missing) else "current data"
        raise DriftError(f"feature(s) {', '.join(missing)} missing from the {side}")
    args = (psi_threshold, ks_pvalue, ks_statistic, min_rows)
    results = [
        _measure(
            f,
            _numbers(reference, f),
            _numbers(current, f),
            *args,
        )
        for f in features
    ]
    prediction = None
    if prediction_column and prediction_column in current.columns:
        if reference_predictions is None and prediction_column in reference.columns:
            reference_predictions = reference[prediction_column].to_numpy(dtype=float)
        if reference_predictions is not None:
            ref_pred = np.asarray(reference_predictions, dtype=float)
            cur_pred = current[prediction_column].to_numpy(dtype=float)
            prediction = _measure(PREDICTION, ref_pred, cur_pred, *args)
    return DriftReport(
        reference_rows=len(reference),
        current_rows=len(current),
        features=results,
        prediction=prediction,
        psi_threshold=psi_threshold,
        ks_pvalue=ks_pvalue,
        ks_statistic=ks_statistic,
        min_rows=min_rows,
    )


# -- reading the payload logs -------------------------------------------------------------------------


def _records(text: str, where: str) -> Iterable[tuple[str, Any]]:
    """JSON documents in `text`: one document (an object or a list of objects), or one per line."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    else:
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                yield f"{where}[{i}]", item
        else:
            yield where, doc
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{where}:{n}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{where}:{n}", DriftError(f"not JSON ({exc.msg}, column {exc.colno})")


def _unwrap(record: Any) -> tuple[str, str | None, dict[str, Any]]:
    """(kind, id, OIP body) of one logged record: the collector's {attributes, data}, a structured-mode
    CloudEvent {specversion, type, id, data}, or a bare OIP v2 request/response body."""
    if not isinstance(record, dict):
        raise DriftError("not a JSON object")
    if isinstance(record.get("attributes"), dict) and "data" in record:
        attrs, data = record["attributes"], record["data"]
    elif "specversion" in record and "data" in record:
        attrs, data = record, record["data"]
    else:
        attrs, data = {}, record
    if not isinstance(data, dict):
        raise DriftError("the payload is not a JSON object")
    ce_type = str(attrs.get("type", ""))
    if ce_type.endswith(".response") or (not ce_type and "outputs" in data and "inputs" not in data):
        kind = "response"
    elif ce_type.endswith(".request") or "inputs" in data:
        kind = "request"
    else:
        raise DriftError("neither an inference request nor a response (no 'inputs' or 'outputs')")
    rid = attrs.get("id") or data.get("id")
    return kind, str(rid) if rid is not None else None, data


def _request_rows(data: dict[str, Any], features: Sequence[str]) -> np.ndarray:
    tensors = data.get("inputs")
    if not isinstance(tensors, list) or not tensors or not all(isinstance(t, dict) for t in tensors):
        raise DriftError("'inputs' is not a list of tensors")
    by_name = {t.get("name"): t for t in tensors}
    try:
        if len(tensors) > 1 and all(f in by_name for f in features):  # one tensor per feature
            columns = [np.asarray(by_name[f].get("data"), dtype=float).reshape(-1) for f in features]
            if len({c.size for c in columns}) != 1:
                raise DriftError("the per-feature input tensors differ in length")
            return np.column_stack(columns)
        values = np.asarray(tensors[0].get("data"), dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DriftError(f"input data is not numeric ({exc})") from None
    if values.size == 0 or values.size % len(features):
        raise DriftError(f"input has {values.size} values, not a multiple of the {len(features)} features")
    return values.reshape(-1, len(features))


def _response_values(data: dict[str, Any]) -> np.ndarray:
    outputs = data.get("outputs")
    if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
        raise DriftError("'outputs' is not a list of tensors")
    tensor = outputs[0]
    try:
        values = np.asarray(tensor.get("data"), dtype=float)
    except (TypeError, ValueError) as exc:
        raise DriftError(f"output data is not numeric ({exc})") from None
    shape = tensor.get("shape")
    rows = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) and shape[0] > 0 else None
    values = values.reshape(rows or -1, -1) if values.size else values.reshape(0, 1)
    return values[:, -1]  # one probability per row (the positive class's, when there are two columns)


def modified_at(info: dict[str, Any]) -> float | None:
    """An fsspec entry's modification time (epoch seconds): local ``mtime``, S3 ``LastModified``, GCS
    ``updated`` (gcsfs also gives ``mtime``); None when the backend reports none."""
    for key in ("mtime", "LastModified", "updated", "last_modified", "modified"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def _payload_files(
    source: str | Path | Sequence[str | Path], since: float | None = None, *, missing_ok: bool = False
) -> list[str]:
    """The payload files under `source`; with `since` (epoch seconds) only those modified at or after it.
    `missing_ok`: a prefix that does not exist (nothing logged yet) or holds no file in the window gives
    an empty list instead of a DriftError."""
    from workloads.training import storage
    from workloads.training.errors import StorageError

    sources = [source] if isinstance(source, str | Path) else list(source)
    files: list[str] = []
    for item in sources:
        uri = str(item)
        try:
            fs, path = storage.filesystem(uri)
            protocol = uri.split("://", 1)[0] + "://" if "://" in uri else ""
            if any(c in path for c in "*?["):
                found: dict[str, Any] = cast(dict[str, Any], fs.glob(path, detail=True))
            elif fs.isdir(path):
                entries = cast(dict[str, Any], fs.find(path, detail=True))
                found = {p: i for p, i in entries.items() if str(p).endswith(_PAYLOAD_SUFFIXES)}
            elif fs.exists(path):
                found = {path: fs.info(path) if since is not None else {}}
            elif missing_ok:
                found = {}
            else:
                raise DriftError(f"payloads {uri}: not found")
        except StorageError as exc:
            raise DriftError(str(exc)) from None
        except (OSError, ValueError) as exc:
            if isinstance(exc, DriftError):
                raise
            raise DriftError(
                f"payloads {uri}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        if since is not None:
            recent = []
            for name, info in found.items():
                when = modified_at(info)
                if when is None:
                    raise DriftError(f"payloads {uri}: the storage reports no modification time for {name}")
                if when >= since:
                    recent.append(name)
            names = sorted(map(str, recent))
        else:
            names = sorted(map(str, found))
        files += [p if protocol == "" or p.startswith(protocol) else protocol + p for p in names]
    if not files and not missing_ok:
        window = " modified in the window" if since is not None else ""
        raise DriftError(
            f"no payload files ({', '.join(_PAYLOAD_SUFFIXES)}){window} under {', '.join(map(str, sources))}"
        )
    return files


def read_payloads(
    source: str | Path | Sequence[str | Path],
    features: Sequence[str] | None = None,
    since: float | None = None,
    *,
    empty_ok: bool = False,
) -> pd.DataFrame:
    """The logged inference payloads under `source` (a file, a directory/prefix, a glob, any fsspec URI,
    or a list of them) as one row per inferred example: the `features` (in the order of the request's
    input tensor), and ``prediction`` where the response with the same inference id was logged.

    `since` (epoch seconds) keeps only files whose object modification time is at or after it (the
    scheduled job's window). `empty_ok`: no file at all (nothing logged in the window, or the prefix not
    there yet) gives an empty frame (zero rows: insufficient data) instead of a DriftError.

    Files hold one record each (``<id>-request.json`` as the logs-bucket collector writes them) or one
    record per line. Malformed records are counted and skipped (``frame.attrs["skipped"]``, the first
    messages in ``frame.attrs["errors"]``, one warning); no readable request at all is a DriftError.
    """
    from workloads.training import storage
    from workloads.training.errors import StorageError
    from workloads.training.synthetic import FEATURES

    features = list(features or FEATURES)
    requests: list[tuple[str | None, np.ndarray]] = []
    responses: dict[str, np.ndarray] = {}
    errors: list[str] = []
    files = _payload_files(source, since, missing_ok=empty_ok)
    if not files:
        frame = pd.DataFrame(columns=pd.Index(features), dtype=float)
        frame.attrs["skipped"], frame.attrs["errors"] = 0, []
        return frame
    for uri in files:
        try:
            text = storage.read_bytes(uri).decode("utf-8", errors="replace")
        except StorageError as exc:
            raise DriftError(str(exc)) from None
        for where, record in _records(text, uri):
            try:
                if isinstance(record, DriftError):
                    raise record
                kind, rid, data = _unwrap(record)
                if kind == "request":
                    requests.append((rid, _request_rows(data, features)))
                elif rid is not None:
                    responses[rid] = _response_values(data)
            except DriftError as exc:
                errors.append(f"{where}: {exc}")
    if not requests:
        first = f" (first: {errors[0]})" if errors else ""
        raise DriftError(f"no readable inference requests in {source}{first}")
    blocks, matched = [], 0
    for rid, rows in requests:
        block = pd.DataFrame(rows, columns=pd.Index(features))
        pred = responses.get(rid) if rid is not None else None
        if pred is not None and pred.size == len(block):
            block[PREDICTION], matched = pred, matched + 1
        else:
            block[PREDICTION] = np.nan
        blocks.append(block)
    frame = pd.concat(blocks, ignore_index=True)
    if not matched:
        frame = frame.drop(columns=PREDICTION)
    frame.attrs["skipped"] = len(errors)
    frame.attrs["errors"] = errors[:5]
    if errors:
        log.warning("skipped %d malformed payload record(s); first: %s", len(errors), errors[0])
    return frame


def read_table(uri: str) -> pd.DataFrame:
    """A reference dataset (CSV, or Parquet by its suffix) from a path or fsspec URI."""
    from workloads.training import storage
    from workloads.training.errors import StorageError

    try:
        data = storage.read_bytes(uri)
    except StorageError as exc:
        raise DriftError(str(exc)) from None
    try:
        if uri.endswith(".parquet"):
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # pandas raises parser, unicode and arrow errors alike
        raise DriftError(
            f"cannot parse {uri}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


# -- rendering -------------------------------------------------------------------------------------


def _num(value: float, digits: int = 4) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.2e}"


def to_markdown(report: DriftReport, title: str = "Drift report") -> str:
    """A Markdown page: the verdict, the thresholds, and a table of every feature (and the predictions)."""
    lines = [
        f"# {title}",
        "",
        f"**Status: {report.status}** — {report.summary()}",
        "",
        f"Rows: {report.current_rows} current, {report.reference_rows} reference. "
        f"Drifted when PSI > {report.psi_threshold}, or KS p-value < {report.ks_pvalue} with statistic "
        f"> {report.ks_statistic}; at least {report.min_rows} rows needed.",
        "",
        "| feature | PSI | KS stat | p-value | drifted |",
        "|---|---:|---:|---:|---|",
    ]
    rows = [*report.features, *([report.prediction] if report.prediction else [])]
    for f in rows:
        verdict = {DRIFT: "**yes**", OK: "no", INSUFFICIENT: "insufficient data"}[f.status]
        name = "predictions" if f is report.prediction else f.feature
        lines.append(f"| {name} | {_num(f.psi)} | {_num(f.ks_statistic)} | {_num(f.ks_pvalue, 3)} | {verdict} |")
    if report.prediction is None:
        lines += ["", "Prediction drift: not measured (no predictions logged, or no reference predictions)."]
    return "\n".join(lines) + "\n"


def plot(report: DriftReport, reference: pd.DataFrame, current: pd.DataFrame, path: str | Path | io.BytesIO) -> None:
    """A PNG of per-feature histograms (reference and current overlaid, shared bins), titled with the PSI;
    drifted features in red. `reference`/`current` are the frames given to `detect`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [*report.features, *([report.prediction] if report.prediction else [])]
    cols = min(4, len(panels)) or 1
    nrows = math.ceil(len(panels) / cols) or 1
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
    try:
        for ax, f in zip(axes.flat, panels, strict=False):
            column = PREDICTION if f is report.prediction else f.feature
            ref = _numbers(reference, column)
            ref = ref[~np.isnan(ref)]
            cur = _numbers(current, column) if column in current.columns else np.array([])
            cur = cur[~np.isnan(cur)]
            both = np.concatenate([ref, cur])
            if both.size:
                edges = np.histogram_bin_edges(both, bins=30)
                ax.hist(ref, bins=edges, density=True, alpha=0.5, label="reference", color="tab:blue")
                if cur.size:
                    ax.hist(cur, bins=edges, density=True, alpha=0.5, label="current", color="tab:orange")
            ax.set_title(f"{column}  PSI {_num(f.psi, 3)}", color="tab:red" if f.drifted else "black", fontsize=10)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
        fig.suptitle(f"{report.status}: {report.summary()}", fontsize=11)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=80)
    finally:
        plt.close(fig)


def registry(report: DriftReport, model: str, version: str) -> CollectorRegistry:
    """The report as Prometheus gauges in a registry of their own (what `to_prometheus` renders and the
    scheduled job pushes to the Pushgateway, issue 9); the drift alerts are written against them:

    * ``ml_platform_feature_drift_psi{model,version,feature}``
    * ``ml_platform_feature_drift_ks_statistic{model,version,feature}``
    * ``ml_platform_prediction_drift_psi{model,version}`` (only when prediction drift was measured)
    * ``ml_platform_drift_rows{model,version,window}``: rows in the ``reference`` and ``current`` windows
      (an alert on drift should require enough current rows; ``insufficient_data`` shows here).
    """
    from prometheus_client import CollectorRegistry, Gauge

    metrics = CollectorRegistry()
    labels = ["model", "version"]
    feature_psi = Gauge(
        "ml_platform_feature_drift_psi",
        "Population stability index of a feature against the training reference",
        [*labels, "feature"],
        registry=metrics,
    )
    feature_ks = Gauge(
        "ml_platform_feature_drift_ks_statistic",
        "Two-sample Kolmogorov-Smirnov statistic of a feature against the training reference",
        [*labels, "feature"],
        registry=metrics,
    )
    rows = Gauge("ml_platform_drift_rows", "Rows in the drift windows", [*labels, "window"], registry=metrics)
    for f in report.features:
        feature_psi.labels(model, version, f.feature).set(f.psi)
        feature_ks.labels(model, version, f.feature).set(f.ks_statistic)
    rows.labels(model, version, "reference").set(report.reference_rows)
    rows.labels(model, version, "current").set(report.current_rows)
    if report.prediction is not None:
        prediction = Gauge(
            "ml_platform_prediction_drift_psi",
            "Population stability index of the predicted probabilities against the reference predictions",
            labels,
            registry=metrics,
        )
        prediction.labels(model, version).set(report.prediction.psi)
    return metrics


def to_prometheus(report: DriftReport, model: str, version: str) -> str:
    """The report as Prometheus text exposition (the gauges of `registry`)."""
    from prometheus_client import generate_latest

    return generate_latest(registry(report, model, version)).decode()


PUSH_JOB = "ml-platform-drift"  # the Pushgateway job; components/k8s/model_drift.py alerts select it


def push(report: DriftReport, gateway: str, *, namespace: str, model: str, version: str, timeout: float = 30) -> None:
    """Replace the group `job=ml-platform-drift, namespace=<namespace>, model=<model>` of the Pushgateway at
    `gateway` with the report's gauges (HTTP PUT: a version no longer served leaves no stale series; other
    models' groups are untouched). Raises DriftPushError (one line) when the gateway is unreachable or refuses."""
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(
            gateway,
            job=PUSH_JOB,
            registry=registry(report, model, version),
            grouping_key={"namespace": namespace, "model": model},
            timeout=timeout,
        )
    except OSError as exc:  # urllib's URLError/HTTPError, socket timeouts, refused connections
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        code = getattr(exc, "code", None)
        detail = f"HTTP {code} {reason}" if code else str(reason)
        raise DriftPushError(f"cannot push the metrics to {gateway}: {detail.splitlines()[0]}") from None
