"""The feature store in code: Feast's configuration, the sample repository, ingest, training sets,
materialization and online reads.

    settings = Settings.from_env()                      # or Settings(registry=..., redis=...)
    store = open_store(settings)
    apply(store, settings.require_offline_path())       # register the sample repository
    write_offline(tables.features, offline_path)        # ingest: one more Parquet file
    train = training_frame(store, tables.labels, FAIRNESS_SERVICE)   # point-in-time correct
    materialize(store, end=now())                       # offline -> online (incremental)
    online_features(store, [1, 2, 3])                   # what the model server would read

Feast's own errors (unreachable Redis, a refused registry, unreadable Parquet) come back as one-line
`FeatureStoreError`s naming what failed.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import FeatureStore, RepoConfig
from pydantic import ValidationError

from workloads.features import frames
from workloads.features.errors import FeatureStoreError, SettingsError
from workloads.features.repo import (
    CREATED,
    FEATURE_VIEW,
    JOIN_KEY,
    MODEL_SERVICE,
    TIMESTAMP,
    definitions,
)
from workloads.features.settings import RedisConnection, Settings, registry_kind

__all__ = [
    "FeatureStoreError",
    "RedisConnection",
    "Settings",
    "apply",
    "materialize",
    "online_features",
    "open_store",
    "repo_config",
    "training_frame",
    "write_offline",
]

_log = logging.getLogger(__name__)
_ROW = "__row"
# How long a process trusts its cached copy of the registry before reading it again.
REGISTRY_CACHE_SECONDS = 60


def _describe(exc: BaseException) -> str:
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):  # grpc.RpcError (the remote registry): its str() spans lines
        status = code()
        text = f"{getattr(status, 'name', status)}: {details()}"
    else:
        text = str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


@contextlib.contextmanager
def _errors(action: str) -> Iterator[None]:
    try:
        yield
    except FeatureStoreError:
        raise
    except Exception as exc:  # Feast, redis-py, SQLAlchemy, gRPC, fsspec and pyarrow errors alike
        raise FeatureStoreError(f"cannot {action}: {_describe(exc)}") from exc


def _registry(registry: str, cert: str | None) -> dict[str, Any]:
    kind = registry_kind(registry)
    if kind == "remote":
        config: dict[str, Any] = {"registry_type": "remote", "path": registry.removeprefix("grpc://")}
        if cert:
            config.update(cert=cert, is_tls=True)
        return config
    if kind == "sql":
        # pool_pre_ping: a process may hold the engine across a database failover.
        # serve_features_while_materializing: a materialization marks the view MATERIALIZING in the shared
        # registry; readers on it keep serving the last values instead of refusing until it ends.
        return {
            "registry_type": "sql",
            "path": registry,
            "cache_ttl_seconds": REGISTRY_CACHE_SECONDS,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
            "serve_features_while_materializing": True,
        }
    return {"registry_type": "file", "path": registry, "cache_ttl_seconds": REGISTRY_CACHE_SECONDS}


def _forget_listings() -> None:
    """Drop the directory listings that fsspec caches per object-store filesystem instance.

    Feast reads the Parquet directory through its own s3fs/gcsfs instance, which keeps the listing
    of its previous read: without this, a process that ingests and then reads again would miss (or
    fail on) the new file. Separate processes (the pipeline's steps) never share the cache.
    """
    for module, protocol in (("s3fs", "s3"), ("gcsfs", "gs")):
        if module in sys.modules:
            for instance in list(getattr(fsspec.get_filesystem_class(protocol), "_cache", {}).values()):
                instance.invalidate_cache()


def repo_config(
    project: str,
    registry: str,
    online: RedisConnection | str,
    *,
    registry_cert: str | None = None,
    repo_path: str | Path | None = None,
) -> RepoConfig:
    """Feast's configuration, built in code (no feature_store.yaml).

    `registry`: a registry server ``host:port`` (Feast's remote registry, gRPC), a SQL database URL
    (``postgresql+psycopg://...``), or a registry file (a local path, ``s3://``, ``gs://``).
    `online`: a `RedisConnection`, or the path of a SQLite file. The offline store is Feast's file
    store (Dask over Parquet): where the data lies is the source's path, given to `apply`.
    """
    if isinstance(online, RedisConnection):
        online_store: dict[str, Any] = {
            "type": "redis",
            "redis_type": "redis",
            "connection_string": online.connection_string(),
        }
    else:
        online_store = {"type": "sqlite", "path": str(online)}
    try:
        return RepoConfig(
            project=project,
            provider="local",
            registry=_registry(registry, registry_cert),
            online_store=online_store,
            offline_store={"type": "file"},
            entity_key_serialization_version=3,
            repo_path=Path(repo_path) if repo_path else None,
        )
    except ValidationError as exc:  # its text spans lines and repeats the input (a password): location + message
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise SettingsError(f"invalid feature store configuration: {where}: {error['msg']}") from None


def open_store(settings: Settings | None = None, *, repo_path: str | Path | None = None) -> FeatureStore:
    """A `FeatureStore` for `settings` (default: `Settings.from_env()`). Connects lazily."""
    settings = settings or Settings.from_env()
    online: RedisConnection | str
    if settings.redis is not None:
        online = settings.redis
    elif settings.online_sqlite:
        online = settings.online_sqlite
    else:
        raise SettingsError("REDIS_HOST: required (the online store; FEAST_ONLINE_SQLITE=FILE for a local one)")
    config = repo_config(
        settings.project, settings.registry, online, registry_cert=settings.registry_cert, repo_path=repo_path
    )
    with _errors("open the feature store"):
        return FeatureStore(repo_path=str(repo_path) if repo_path else None, config=config)


def apply(store: FeatureStore, source_path: str, s3_endpoint: str | None = None) -> None:
    """Register the sample repository (`repo.definitions`) with its source at `source_path`. Idempotent."""
    with _errors(f"apply the feature repository to project {store.project}"):
        store.apply(list(definitions(source_path, s3_endpoint)))


def write_offline(frame: pd.DataFrame, path: str) -> str:
    """Append `frame` (`frames.SOURCE_SCHEMA` columns) to the offline store at `path`; returns the file's URI.

    Each ingest adds a new Parquet file, so the feature history accumulates: a later value of an
    applicant's feature is a new row (a later `event_timestamp`, or the same one with a later
    `created` for a correction), never an overwrite, and older training sets stay reproducible.
    """
    table = frames.source_table(frame)
    created: datetime = pc.max(table[CREATED]).as_py()  # type: ignore[attr-defined]  # UTC, from SOURCE_SCHEMA
    name = f"part-{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
    uri = path.rstrip("/") + "/" + name
    with _errors(f"write {uri}"):
        fs, root = fsspec.core.url_to_fs(path.rstrip("/"))
        fs.makedirs(root, exist_ok=True)
        target = root + "/" + name
        with fs.open(target, "wb") as out:
            pq.write_table(table, out)
    _forget_listings()
    return uri


def training_frame(
    store: FeatureStore, entity_df: pd.DataFrame, service: str = MODEL_SERVICE, *, as_ingested: bool = False
) -> pd.DataFrame:
    """A point-in-time correct training set: `entity_df` (``applicant_id``, ``event_timestamp`` and any
    other columns, e.g. ``label``) joined with the service's features as of each row's timestamp.

    Each row gets the latest value with ``event_timestamp <= row time`` (and within the feature view's
    TTL; among rows with the same event time, the latest `created` wins). A value observed after the
    row's time never leaks into it; a row with no value by then gets nulls (`frames.training_csv`
    drops those rows). One row per row of `entity_df`, in its order, with its columns first.

    `as_ingested`: also ignore rows ingested (`created`) after the row's time, so a later correction
    of an earlier value does not reach the row either: the value as the store knew it then. Off by
    default because a backfill (like the sample's) is ingested after all its label times.
    """
    missing = [c for c in (JOIN_KEY, TIMESTAMP) if c not in entity_df.columns]
    if missing:
        raise FeatureStoreError(f"the entity frame has no column {', '.join(missing)}")
    entities = entity_df.copy()
    entities[TIMESTAMP] = pd.to_datetime(entities[TIMESTAMP], utc=True)
    entities[_ROW] = range(len(entities))
    with _errors(f"get feature service {service!r}"):
        feature_service = store.get_feature_service(service)
    _forget_listings()
    with _errors(f"retrieve the training set of {service!r}"):
        job = store.get_historical_features(
            entity_df=entities, features=feature_service, filter_by_created_timestamp=as_ingested
        )
        result = job.to_df()
    # Feast's file store drops an entity row whose applicant has values, but none within the TTL before
    # the row's time (and keeps it, with nulls, when the applicant has no values at all): put every row
    # back, with nulls, so the training set has one row per entity row whatever the offline store.
    names = [f.name for projection in feature_service.feature_view_projections for f in projection.features]
    found = result[[_ROW, *names]]
    merged = entities.merge(found, on=_ROW, how="left", validate="one_to_one")
    return merged.sort_values(_ROW).drop(columns=[_ROW]).reset_index(drop=True)


def materialize(store: FeatureStore, end: datetime, start: datetime | None = None) -> None:
    """Load the latest feature values per applicant from the offline store into the online store.

    Without `start`, incremental: from the end of the previous materialization (recorded in the
    registry; the first time, the feature view's TTL before now) to `end`. With `start`, the window ``[start, end)``.
    A value is chosen by its `event_timestamp`, so rows ingested late with an event time before the
    previous materialization's end need an explicit `start` to reach the online store.
    """
    _forget_listings()
    with _errors("materialize into the online store"):
        if start is None:
            store.materialize_incremental(end_date=end, feature_views=[FEATURE_VIEW])
        else:
            store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])


def online_features(store: FeatureStore, applicant_ids: Sequence[int], service: str = MODEL_SERVICE) -> pd.DataFrame:
    """The service's features from the online store, one row per id in order (nulls for unknown ids)."""
    if not applicant_ids:
        raise FeatureStoreError("no applicant ids")
    with _errors(f"get feature service {service!r}"):
        feature_service = store.get_feature_service(service)
    with _errors("read the online store"):
        response = store.get_online_features(
            features=feature_service, entity_rows=[{JOIN_KEY: int(i)} for i in applicant_ids]
        )
        result = response.to_df()
    names = [f.name for projection in feature_service.feature_view_projections for f in projection.features]
    return result.reindex(columns=[JOIN_KEY, *names])
