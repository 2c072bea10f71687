"""The tabular sample as feature-store tables, and training CSVs from training sets.

The sample (`workloads.training.synthetic.make_tabular`: the FEATURES, `group`, `label`) has no ids or
times, so `sample_tables` gives each row an applicant id and a history: the features were observed at
`event_timestamp`, the decision (the label) was made `label_delay` later, and everything was ingested
(`created`) at `as_of`. The feature table goes to the offline store (`store.write_offline`), the label
table is the entity frame of `store.training_frame`, and `training_csv` turns the resulting training set
into the CSV the trainer reads (``FEATURES..., group, label``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from workloads.features.errors import FeatureStoreError
from workloads.features.repo import CREATED, JOIN_KEY, SENSITIVE, TIMESTAMP
from workloads.training.synthetic import FEATURES

LABEL = "label"
_log = logging.getLogger(__name__)

# The schema of every Parquet file in the offline store: one schema for all ingests, so the files of a
# directory read as one table (Float32 like the feature view; microsecond UTC timestamps).
SOURCE_SCHEMA = pa.schema(
    [
        pa.field(JOIN_KEY, pa.int64(), nullable=False),
        pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(CREATED, pa.timestamp("us", tz="UTC"), nullable=False),
        *(pa.field(name, pa.float32()) for name in FEATURES),
        pa.field(SENSITIVE, pa.string()),
    ]
)


@dataclass(frozen=True)
class SampleTables:
    features: pd.DataFrame  # applicant_id, event_timestamp, created, FEATURES..., group
    labels: pd.DataFrame  # applicant_id, event_timestamp (of the decision), label


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def read_sample(data: bytes | pd.DataFrame) -> pd.DataFrame:
    """The tabular sample (CSV bytes or a frame) with its columns checked."""
    if isinstance(data, bytes | bytearray):
        try:
            frame = pd.read_csv(io.BytesIO(data), dtype={SENSITIVE: str})
        except (ValueError, pd.errors.ParserError) as exc:
            raise FeatureStoreError(f"the tabular sample is not a CSV file ({str(exc).splitlines()[0]})") from None
    else:
        frame = data
    missing = [c for c in [*FEATURES, SENSITIVE, LABEL] if c not in frame.columns]
    if missing:
        raise FeatureStoreError(f"the tabular sample has no column {', '.join(missing)}")
    return frame


def sample_tables(
    data: bytes | pd.DataFrame,
    *,
    as_of: datetime,
    first_id: int = 1,
    label_delay: timedelta = timedelta(days=1),
    spread: timedelta = timedelta(days=30),
) -> SampleTables:
    """The feature table and the label table of the tabular sample.

    Row `i` is applicant ``first_id + i``; its features were observed at evenly spaced times over the
    `spread` before ``as_of - label_delay``, its label was decided `label_delay` after its features,
    and every feature row was ingested (`created`) at `as_of`. Deterministic: the same input and
    arguments give the same tables.
    """
    frame = read_sample(data)
    n = len(frame)
    if n == 0:
        raise FeatureStoreError("the tabular sample has no rows")
    end = _utc(as_of) - label_delay
    offsets = pd.to_timedelta([spread * (n - 1 - i) / max(n - 1, 1) for i in range(n)])
    observed = end - offsets
    ids = pd.Series(range(first_id, first_id + n), dtype="int64")
    features = pd.DataFrame({JOIN_KEY: ids, TIMESTAMP: observed, CREATED: _utc(as_of)})
    for name in FEATURES:
        try:
            features[name] = np.asarray(frame[name], dtype=np.float32)
        except ValueError:
            raise FeatureStoreError(f"the tabular sample's column {name!r} is not numeric") from None
    features[SENSITIVE] = frame[SENSITIVE].astype(str).to_numpy()
    labels = pd.DataFrame(
        {JOIN_KEY: ids, TIMESTAMP: observed + label_delay, LABEL: frame[LABEL].astype("int64").to_numpy()}
    )
    return SampleTables(features, labels)


def source_table(frame: pd.DataFrame) -> pa.Table:
    """`frame` as an Arrow table of `SOURCE_SCHEMA` (timestamps converted to UTC, extra columns dropped)."""
    missing = [name for name in SOURCE_SCHEMA.names if name not in frame.columns]
    if missing:
        raise FeatureStoreError(f"the feature table has no column {', '.join(missing)}")
    columns: list[str] = list(SOURCE_SCHEMA.names)
    out = frame.loc[:, columns].copy()
    for column in (TIMESTAMP, CREATED):
        out[column] = pd.to_datetime(out[column], utc=True)
    if out[[JOIN_KEY, TIMESTAMP, CREATED]].isna().to_numpy().any():
        raise FeatureStoreError(f"the feature table has empty {JOIN_KEY}, {TIMESTAMP} or {CREATED} values")
    try:
        return pa.Table.from_pandas(out, schema=SOURCE_SCHEMA, preserve_index=False, safe=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FeatureStoreError(f"the feature table does not fit the offline-store schema: {exc}") from None


def training_csv(frame: pd.DataFrame) -> bytes:
    """The training set as the CSV the trainer reads: ``FEATURES..., group, label``.

    Rows without a feature value (features first observed after the label's time, or older than the
    feature view's TTL) are dropped, with a warning giving their number.
    """
    columns = [*FEATURES, SENSITIVE, LABEL]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FeatureStoreError(
            f"the training set has no column {', '.join(missing)} (retrieve it through the fairness service)"
        )
    complete = frame[columns].dropna()
    dropped = len(frame) - len(complete)
    if dropped:
        _log.warning("dropped %d of %d training rows without feature values at their label time", dropped, len(frame))
    if complete.empty:
        raise FeatureStoreError("no training row has feature values at its label time")
    out = complete.copy()
    out[LABEL] = out[LABEL].astype("int64")
    return out.to_csv(index=False, float_format="%.6g").encode()
