"""The sample feature repository: the credit-approval features of the tabular sample as Feast objects.

Built by a function of the offline-store location rather than as module constants, because that
location differs per cluster (``s3://<datasets>/features/<project>/applicants/`` on AWS, ``gs://...``
on GCP) and per test (a local directory, a moto S3 bucket).
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float32, String

from workloads.training.synthetic import FEATURES

ENTITY = "applicant"
JOIN_KEY = "applicant_id"
FEATURE_VIEW = "applicant_features"
SOURCE = "applicants"
MODEL_SERVICE = "credit_approval_v1"
FAIRNESS_SERVICE = "credit_approval_fairness"
SENSITIVE = "group"
PROXY = "postcode_score"
TIMESTAMP = "event_timestamp"
CREATED = "created"
# How far back a training row or an online read may look for an applicant's features: older values
# are treated as missing (null) rather than silently reused.
TTL = timedelta(days=365)

FeastObject = Entity | FileSource | FeatureView | FeatureService

_DESCRIPTIONS = {
    "income": "standardised income",
    "debt": "standardised outstanding debt",
    "tenure": "standardised length of employment",
    "utilisation": "standardised credit utilisation",
    "history": "standardised repayment history score",
    "savings": "standardised savings",
    "postcode_score": "a score derived from the postcode (correlated with `group`: a proxy)",
}


def source(path: str, s3_endpoint: str | None = None) -> FileSource:
    """The offline-store table: a directory of Parquet files, one per ingest (see `frames.SOURCE_SCHEMA`).

    `s3_endpoint` is for S3-compatible stores other than AWS (MinIO, moto); it is recorded in the
    registry with the source, so leave it unset for AWS S3 and GCS.
    """
    return FileSource(
        name=SOURCE,
        path=path,
        file_format=ParquetFormat(),
        timestamp_field=TIMESTAMP,
        created_timestamp_column=CREATED,
        s3_endpoint_override=s3_endpoint or None,
        description="Applicant features of the credit-approval sample: observed (event_timestamp), ingested (created)",
        tags={"dataset": "credit-approval-sample"},
    )


def definitions(source_path: str, s3_endpoint: str | None = None) -> list[FeastObject]:
    """Every object of the repository, ready for `FeatureStore.apply`."""
    applicant = Entity(
        name=ENTITY,
        join_keys=[JOIN_KEY],
        value_type=ValueType.INT64,
        description="A credit applicant",
    )
    fields = [Field(name=name, dtype=Float32, description=_DESCRIPTIONS[name]) for name in FEATURES]
    for f in fields:
        if f.name == PROXY:
            f.tags = {"proxy-for": SENSITIVE}
    sensitive = Field(
        name=SENSITIVE,
        dtype=String,
        description="the sensitive attribute (a/b): for fairness evaluation only, never a model input",
        tags={"sensitive": "true", "purpose": "fairness-evaluation"},
    )
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[applicant],
        ttl=TTL,
        schema=[*fields, sensitive],
        source=source(source_path, s3_endpoint),
        online=True,
        description="Per-applicant features of the credit-approval sample",
        tags={"contains-sensitive": "true"},
    )
    # The model is trained and served on the seven numeric features only: `group` is a protected
    # attribute, so using it as an input would be direct discrimination. It stays in the feature view
    # (materialized online too, for monitoring live decisions by group) and is served by a separate
    # service that training uses to evaluate the fairness gates (demographic parity, equalized odds),
    # which need the attribute beside each prediction.
    model = FeatureService(
        name=MODEL_SERVICE,
        features=[cast(FeatureView, view[list(FEATURES)])],  # a projection: these features of the view
        description="The credit-approval model's inputs (v1)",
        tags={"model": "credit-approval"},
    )
    fairness = FeatureService(
        name=FAIRNESS_SERVICE,
        features=[cast(FeatureView, view[[*FEATURES, SENSITIVE]])],
        description="The model's inputs plus the sensitive attribute, for training sets and fairness evaluation",
        tags={"model": "credit-approval", "contains-sensitive": "true"},
    )
    return [applicant, view, model, fairness]
