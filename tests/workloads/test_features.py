"""The sample feature repository (workloads/features) against real parts: Feast's file offline store over
Parquet (a local directory and a moto S3 bucket), a SQL registry on a real PostgreSQL, and a real
redis-server with AUTH as the online store."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore
from pydantic import SecretStr

from tests import system
from tests.workloads.conftest import (
    LOOPBACK,
    REPO,
    Postgres,
    RedisServer,
    S3Server,
    base_env,
    free_port,
    redis_binary,
    run_redis,
)
from workloads.features import cli, frames, store
from workloads.features.errors import FeatureStoreError, SettingsError
from workloads.features.repo import (
    FAIRNESS_SERVICE,
    FEATURE_VIEW,
    MODEL_SERVICE,
    SENSITIVE,
    definitions,
)
from workloads.features.settings import RedisConnection, Settings
from workloads.training.synthetic import FEATURES, make_tabular

# Feast's file offline store sorts through dask, which trips a pandas deprecation inside dask itself
pytestmark = pytest.mark.filterwarnings("ignore:Downcasting object dtype arrays:FutureWarning")


def ts(text: str) -> pd.Timestamp:
    stamp = pd.Timestamp(text, tz="UTC")
    assert isinstance(stamp, pd.Timestamp)
    return stamp


def feature_rows(rows: list[tuple[int, str, str, float, str]]) -> pd.DataFrame:
    """(applicant_id, event time, created time, income, group): the other features are income + k."""
    out = pd.DataFrame(
        {
            "applicant_id": [r[0] for r in rows],
            "event_timestamp": [ts(r[1]) for r in rows],
            "created": [ts(r[2]) for r in rows],
        }
    )
    for k, name in enumerate(FEATURES):
        out[name] = [r[3] + k for r in rows]
    out[SENSITIVE] = [r[4] for r in rows]
    return out


def latest(features: pd.DataFrame) -> pd.DataFrame:
    """The latest row per applicant (event time, then ingest time)."""
    ordered = features.sort_values(by=["event_timestamp", "created"])
    return ordered.drop_duplicates(subset="applicant_id", keep="last").set_index("applicant_id").sort_index()


@pytest.fixture
def local(tmp_path: Path) -> tuple[FeatureStore, str]:
    """A store on the laptop: file registry, SQLite online store, a local Parquet directory."""
    offline = str(tmp_path / "features" / "ml_platform" / "applicants")
    settings = Settings(
        registry=str(tmp_path / "registry.db"), online_sqlite=str(tmp_path / "online.db"), offline_path=offline
    )
    feature_store = store.open_store(settings, repo_path=tmp_path)
    store.apply(feature_store, offline)
    return feature_store, offline


# -- the repository --------------------------------------------------------------------------------------------


def test_group_is_tagged_sensitive_and_only_the_fairness_service_serves_it() -> None:
    objects = {o.name: o for o in definitions("/tmp/unused")}
    view = objects[FEATURE_VIEW]
    fields = {f.name: f for f in view.schema}  # type: ignore[union-attr]
    assert fields[SENSITIVE].tags["sensitive"] == "true"
    assert fields["postcode_score"].tags == {"proxy-for": SENSITIVE}

    def served(name: str) -> list[str]:
        service = objects[name]
        return [f.name for p in service.feature_view_projections for f in p.features]  # type: ignore[union-attr]

    assert served(MODEL_SERVICE) == FEATURES
    assert served(FAIRNESS_SERVICE) == [*FEATURES, SENSITIVE]


# -- point-in-time correctness ---------------------------------------------------------------------------------


def test_training_rows_never_see_feature_values_from_after_their_label(local: tuple[FeatureStore, str]) -> None:
    feature_store, offline = local
    # first ingest (1 June): what was known then
    store.write_offline(
        feature_rows(
            [
                (1, "2026-06-01", "2026-06-01 01:00", 1.0, "a"),
                (3, "2026-06-01", "2026-06-01 01:00", 3.0, "b"),
                (4, "2025-01-01", "2026-06-01 01:00", 4.0, "a"),  # older than the view's 365-day TTL by June 2026
            ]
        ),
        offline,
    )
    # second ingest (20 June): applicant 1 changed on 15 June, applicant 2 first seen then, and a
    # correction of applicant 3's 1 June value
    store.write_offline(
        feature_rows(
            [
                (1, "2026-06-15", "2026-06-20", 100.0, "a"),
                (2, "2026-06-15", "2026-06-20", 200.0, "b"),
                (3, "2026-06-01", "2026-06-20", 3.5, "b"),
            ]
        ),
        offline,
    )
    assert len(list(Path(offline).glob("*.parquet"))) == 2  # each ingest appends a file: the history accumulates
    label_time = ts("2026-06-10 12:00")
    labels = pd.DataFrame(
        {
            "applicant_id": [4, 1, 2, 3, 1],
            "event_timestamp": [label_time, label_time, label_time, label_time, ts("2026-06-16")],
            "label": [0, 1, 0, 1, 0],
        }
    )

    # what Feast's file offline store itself does: rows whose applicant has no value in
    # [label time - TTL, label time] are dropped, and the 15 June values appear only on the 16 June row
    raw = feature_store.get_historical_features(
        entity_df=labels, features=feature_store.get_feature_service(FAIRNESS_SERVICE)
    ).to_df()
    assert sorted(zip(raw["applicant_id"], raw["income"], strict=True)) == [(1, 1.0), (1, 100.0), (3, 3.5)]
    assert raw.loc[raw["income"] == 100.0, "event_timestamp"].tolist() == [ts("2026-06-16")]

    train = store.training_frame(feature_store, labels, FAIRNESS_SERVICE)

    # one row per label row, in order, with the label column; every service feature is there
    assert list(train["applicant_id"]) == [4, 1, 2, 3, 1]
    assert list(train["label"]) == [0, 1, 0, 1, 0]
    assert list(train.columns) == ["applicant_id", "event_timestamp", "label", *FEATURES, SENSITIVE]
    income = list(train["income"])
    # applicant 1 at the label time: the 1 June value, never the 15 June one; at 16 June: the new one
    assert income[1] == pytest.approx(1.0)
    assert income[4] == pytest.approx(100.0)
    assert 100.0 not in income[:4] and 200.0 not in income
    # applicant 2's features only exist after its label time: Feast keeps the row with nulls
    assert train.loc[2, FEATURES].isna().all() and pd.isna(train.loc[2, SENSITIVE])
    # applicant 4's only value is older than the TTL at the label time: treated as missing
    assert train.loc[0, FEATURES].isna().all()
    # same event time, two ingests: the later ingest (the correction) wins by default ...
    assert income[3] == pytest.approx(3.5)
    assert train.loc[1, "tenure"] == pytest.approx(1.0 + FEATURES.index("tenure"))
    assert train.loc[1, SENSITIVE] == "a"

    # ... and as_ingested gives the value as the store knew it at the label time: the correction
    # (ingested 20 June) is from the future too
    known = store.training_frame(feature_store, labels, FAIRNESS_SERVICE, as_ingested=True)
    assert known.loc[3, "income"] == pytest.approx(3.0)
    assert known.loc[1, "income"] == pytest.approx(1.0)

    # the training CSV the trainer reads: complete rows only, FEATURES, group, label
    csv = frames.training_csv(train)
    parsed = pd.read_csv(io.BytesIO(csv))
    assert list(parsed.columns) == [*FEATURES, SENSITIVE, "label"]
    assert list(parsed["income"]) == pytest.approx([1.0, 3.5, 100.0])
    assert list(parsed["label"]) == [1, 1, 0]
    with pytest.raises(FeatureStoreError, match="fairness service"):
        frames.training_csv(store.training_frame(feature_store, labels))  # the model service has no `group`


def test_the_sample_round_trips_into_a_training_csv_the_trainer_loads(
    local: tuple[FeatureStore, str], tmp_path: Path
) -> None:
    from workloads.training.config import DataSpec
    from workloads.training.data import load_tabular

    feature_store, offline = local
    raw = make_tabular(300, seed=3)
    tables = frames.sample_tables(raw, as_of=datetime(2026, 11, 1, tzinfo=UTC))
    store.write_offline(tables.features, offline)
    # every label comes after its features: each training row has the sample's own values
    assert (tables.labels["event_timestamp"] > tables.features["event_timestamp"]).all()
    train = store.training_frame(feature_store, tables.labels, FAIRNESS_SERVICE)
    source = pd.read_csv(io.BytesIO(raw))
    np.testing.assert_allclose(train[FEATURES].to_numpy(), source[FEATURES].to_numpy(), atol=1e-5)
    assert list(train[SENSITIVE]) == list(source[SENSITIVE]) and list(train["label"]) == list(source["label"])

    path = tmp_path / "train.csv"
    path.write_bytes(frames.training_csv(train))
    data = load_tabular(DataSpec(train_uri=str(path)), seed=0)
    assert data.feature_names == FEATURES and data.sensitive_column == SENSITIVE
    assert len(data.train) + len(data.eval) == 300


# -- the cluster's shape: SQL registry on PostgreSQL, Redis with AUTH, Parquet on S3 ----------------------------


@dataclass
class Cluster:
    settings: Settings
    store: FeatureStore
    offline: str
    redis: RedisServer


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, redis_server: RedisServer, s3: S3Server) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            mp.delenv(key)
        for key, value in s3.env.items():
            mp.setenv(key, value)
        bucket = s3.bucket("datasets")
        # the cluster's form of the registry URL: SQLAlchemy with psycopg 3
        registry = postgres.dsn("feast").replace("postgresql+psycopg2://", "postgresql+psycopg://")
        settings = Settings(
            project="ml_platform",
            registry=registry,
            redis=RedisConnection(
                host=redis_server.host, port=redis_server.port, password=SecretStr(redis_server.password)
            ),
            offline_path=f"s3://{bucket}/features/ml_platform/applicants/",
            s3_endpoint=s3.endpoint,
        )
        feature_store = store.open_store(settings)
        store.apply(feature_store, settings.require_offline_path(), settings.s3_endpoint)
        yield Cluster(settings, feature_store, settings.require_offline_path(), redis_server)


def test_sql_registry_is_shared_by_every_store_instance(cluster: Cluster) -> None:
    other = store.open_store(cluster.settings)  # a second process, as far as the registry is concerned
    views = {v.name: v for v in other.list_feature_views()}
    assert set(views) == {FEATURE_VIEW}
    assert {s.name for s in other.list_feature_services()} == {MODEL_SERVICE, FAIRNESS_SERVICE}
    assert [e.name for e in other.list_entities()] == ["applicant"]
    source: Any = views[FEATURE_VIEW].batch_source
    assert source.path == cluster.offline  # type: ignore[attr-defined]
    assert source.created_timestamp_column == "created"
    # applying again is a no-op, not a conflict
    store.apply(other, cluster.offline, cluster.settings.s3_endpoint)
    assert {v.name for v in cluster.store.list_feature_views()} == {FEATURE_VIEW}


def test_materialize_into_redis_then_online_reads_equal_the_latest_offline_values(
    cluster: Cluster, s3: S3Server
) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import AuthenticationError
    from redis.retry import Retry

    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    first = frames.sample_tables(make_tabular(40, seed=7), as_of=as_of).features
    # a second ingest: applicants 1-10 changed after the first observation
    update = first.loc[first["applicant_id"] <= 10].copy()
    update["event_timestamp"] = pd.Timestamp(as_of) - timedelta(hours=6)
    update["created"] = pd.Timestamp(as_of)
    for name in FEATURES:
        update[name] = update[name] * -2 + 0.25
    update[SENSITIVE] = np.where(update[SENSITIVE] == "a", "b", "a")
    for frame in (first, update):
        uri = store.write_offline(frame, cluster.offline)
        assert uri.startswith("s3://datasets/features/ml_platform/applicants/part-")
    assert len(s3.keys("datasets", "features/ml_platform/applicants/")) == 2

    store.materialize(cluster.store, end=as_of)

    ids = [*range(1, 41), 999]
    online = store.online_features(cluster.store, ids, FAIRNESS_SERVICE)
    expected = latest(pd.concat([first, update]))
    assert list(online["applicant_id"]) == ids
    assert list(online.columns) == ["applicant_id", *FEATURES, SENSITIVE]
    got = online.set_index("applicant_id")
    np.testing.assert_allclose(
        got.loc[range(1, 41), FEATURES].to_numpy(dtype=np.float64),
        expected[FEATURES].to_numpy(dtype=np.float64),
        rtol=1e-6,
    )
    assert list(got.loc[range(1, 41), SENSITIVE]) == list(expected[SENSITIVE])
    assert got.loc[999, FEATURES].isna().all()  # an unknown applicant: nulls, not an error
    # the model's service serves the features but not the sensitive attribute
    model_inputs = store.online_features(cluster.store, [1, 2], MODEL_SERVICE)
    assert list(model_inputs.columns) == ["applicant_id", *FEATURES]
    # a fresh store instance (the feature server) reads the same values through the shared registry
    again = store.online_features(store.open_store(cluster.settings), [1, 11])
    assert again["income"].to_numpy() == pytest.approx(expected.loc[[1, 11], "income"].to_numpy(), rel=1e-6)

    # the data is in the Redis the test started, which refuses clients without the AUTH token
    anonymous = redis.Redis(host=cluster.redis.host, port=cluster.redis.port, retry=Retry(NoBackoff(), 0))
    with anonymous, pytest.raises(AuthenticationError):
        anonymous.dbsize()
    with redis.Redis(host=cluster.redis.host, port=cluster.redis.port, password=cluster.redis.password) as client:
        assert int(client.dbsize()) >= 40  # type: ignore[arg-type]  # a sync client: an int

    # incremental: a value observed after the previous end arrives with the next materialization ...
    later = first.loc[first["applicant_id"] == 20].copy()
    later["event_timestamp"] = pd.Timestamp(as_of) + timedelta(hours=1)
    later["created"] = pd.Timestamp(as_of) + timedelta(hours=2)
    later["income"] = np.float32(42.0)
    # ... one observed before it (late data) does not, unless its window is materialized explicitly
    late = first.loc[first["applicant_id"] == 30].copy()
    late["event_timestamp"] = pd.Timestamp(as_of) - timedelta(hours=1)
    late["created"] = pd.Timestamp(as_of) + timedelta(hours=2)
    late["income"] = np.float32(-42.0)
    store.write_offline(pd.concat([later, late]), cluster.offline)
    store.materialize(cluster.store, end=as_of + timedelta(hours=3))
    incomes = store.online_features(cluster.store, [20, 30]).set_index("applicant_id")["income"]
    assert incomes[20] == pytest.approx(42.0)
    assert incomes[30] == pytest.approx(expected.loc[30, "income"], rel=1e-6)
    store.materialize(cluster.store, end=as_of + timedelta(hours=3), start=as_of - timedelta(days=1))
    incomes = store.online_features(cluster.store, [20, 30]).set_index("applicant_id")["income"]
    assert incomes[30] == pytest.approx(-42.0)


def test_pipeline_steps_reach_the_registry_through_the_registry_server(cluster: Cluster) -> None:
    """The cluster's topology: Feast's registry server (gRPC) in front of the SQL registry; the steps name
    only its address (``FEAST_REGISTRY=host:port``), never the database."""
    for module in ("grpc_health", "grpc_reflection"):  # the server side only: the steps need grpcio alone
        importlib.import_module(module)  # grpcio-health-checking and grpcio-reflection (workloads-test extra)
    from feast import registry_server

    port = free_port()
    server = registry_server.start_server(store.open_store(cluster.settings), port, wait_for_termination=False)
    assert server is not None
    try:
        remote = cluster.settings.model_copy(update={"registry": f"{LOOPBACK}:{port}"})
        step = store.open_store(remote)
        assert {s.name for s in step.list_feature_services()} == {MODEL_SERVICE, FAIRNESS_SERVICE}
        store.apply(step, cluster.offline, cluster.settings.s3_endpoint)  # idempotent through the server too
        as_of = datetime(2026, 1, 1, tzinfo=UTC)
        tables = frames.sample_tables(make_tabular(8, seed=11), as_of=as_of, first_id=5001)
        store.write_offline(tables.features, cluster.offline)
        train = store.training_frame(step, tables.labels, FAIRNESS_SERVICE)
        np.testing.assert_allclose(
            train[FEATURES].to_numpy(dtype=np.float64), tables.features[FEATURES].to_numpy(dtype=np.float64)
        )
        before = len(step.get_feature_view(FEATURE_VIEW).materialization_intervals)
        store.materialize(step, end=as_of, start=as_of - timedelta(days=40))
        # the materialization is recorded in the shared registry, as seen from the database side
        direct = store.open_store(cluster.settings)
        assert len(direct.get_feature_view(FEATURE_VIEW).materialization_intervals) == before + 1
        online = store.online_features(step, [5001, 5008])
        assert online["income"].to_numpy() == pytest.approx(tables.features["income"].to_numpy()[[0, 7]], rel=1e-6)
    finally:
        server.stop(grace=None)


def test_the_cli_with_the_cluster_environment_and_a_wrong_auth_token(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pipeline steps' configuration (environment variables), a one-line error naming what failed."""
    for key in ("FEAST_ONLINE_SQLITE", "REDIS_SSL", "REDIS_CA", "FEAST_REGISTRY_CERT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FEAST_PROJECT", cluster.settings.project)
    monkeypatch.setenv("FEAST_REGISTRY", cluster.settings.registry)
    monkeypatch.setenv("REDIS_HOST", cluster.redis.host)
    monkeypatch.setenv("REDIS_PORT", str(cluster.redis.port))
    monkeypatch.setenv("REDIS_PASSWORD", "not-the-token")
    assert cli.main(["online", "1"]) == 1  # redis-py retries (with backoff) before giving up: a few seconds
    err = capsys.readouterr().err
    assert err == "error: cannot read the online store: invalid username-password pair or user is disabled.\n"
    monkeypatch.setenv("REDIS_PASSWORD", cluster.redis.password)
    assert cli.main(["online", "1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["applicant_id"] == 1


# -- settings and the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "FEAST_REGISTRY: required"),
        ({"FEAST_REGISTRY": "feast-registry.feast.svc:6570"}, "REDIS_HOST: required"),
        ({"FEAST_REGISTRY": "r.db", "REDIS_HOST": "cache", "REDIS_PORT": "http"}, "REDIS_PORT: Input should be"),
        ({"FEAST_REGISTRY": "r.db", "REDIS_HOST": "cache", "REDIS_PORT": "70000"}, "REDIS_PORT: Input should be less"),
        ({"FEAST_REGISTRY": "r.db", "REDIS_HOST": "cache", "REDIS_SSL": "maybe"}, "REDIS_SSL: must be true or false"),
        ({"FEAST_REGISTRY": "r.db", "REDIS_HOST": "cache", "REDIS_PASSWORD": "s3cr,et"}, "REDIS_PASSWORD: must not"),
        ({"FEAST_REGISTRY": "r.db", "FEAST_ONLINE_SQLITE": "o.db", "FEAST_PROJECT": "_x"}, "FEAST_PROJECT: must be"),
    ],
)
def test_settings_errors_name_the_variable_in_one_line(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value) and "s3cr" not in str(info.value)


def test_settings_from_the_cluster_environment() -> None:
    settings = Settings.from_env(
        {
            "FEAST_REGISTRY": "feast-registry.feast.svc:6570",
            "REDIS_HOST": "master.cache.example.internal",
            "REDIS_PORT": "6380",
            "REDIS_PASSWORD": "1234",
            "REDIS_SSL": "true",
            "REDIS_CA": "/etc/ssl/cache-ca.pem",
            "FEAST_OFFLINE_PATH": "s3://datasets/features/ml_platform/applicants/",
        }
    )
    config: Any = store.repo_config(settings.project, settings.registry, settings.redis or "")
    assert config.project == "ml_platform"
    assert config.registry.registry_type == "remote" and config.registry.path == "feast-registry.feast.svc:6570"
    # a numeric password stays a string (Feast JSON-decodes each option); TLS pinned to the given CA
    assert config.online_store.connection_string == (
        'master.cache.example.internal:6380,password="1234",ssl=true,ssl_ca_certs="/etc/ssl/cache-ca.pem",'
        "ssl_check_hostname=false"
    )
    assert config.offline_store.type == "file"
    sql: Any = store.repo_config("p", "postgresql+psycopg://u@db/feast", "o.db")
    assert sql.registry.registry_type == "sql"
    file: Any = store.repo_config("p", "s3://b/registry.db", "o.db")
    assert file.registry.registry_type == "file"
    assert "1234" not in repr(settings) and "1234" not in str(settings.model_dump())  # SecretStr: never printed


def test_the_cli_registers_materializes_and_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    offline = str(tmp_path / "applicants")
    for key in ("REDIS_HOST", "FEAST_PROJECT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FEAST_REGISTRY", str(tmp_path / "registry.db"))
    monkeypatch.setenv("FEAST_ONLINE_SQLITE", str(tmp_path / "online.db"))
    monkeypatch.setenv("FEAST_OFFLINE_PATH", offline)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["apply"]) == 0
    tables = frames.sample_tables(make_tabular(20), as_of=datetime(2026, 11, 1, tzinfo=UTC))
    store.write_offline(tables.features, offline)
    assert cli.main(["materialize", "--end", "2026-11-01T00:00:00Z"]) == 0
    capsys.readouterr()
    assert cli.main(["online", "3", "999"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["applicant_id"] for line in lines] == [3, 999]
    assert lines[0]["income"] == pytest.approx(float(tables.features.loc[2, "income"]), rel=1e-6)
    assert lines[1]["income"] is None and SENSITIVE not in lines[0]
    assert cli.main(["online", "3", "--service", "no_such_service"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot get feature service 'no_such_service': ")


def test_the_cli_reports_bad_settings_in_one_line_with_status_2() -> None:
    env = {k: v for k, v in base_env().items() if not k.startswith(("FEAST_", "REDIS_"))}
    env["FEAST_REGISTRY"] = "feast-registry.feast.svc:6570"
    env["REDIS_HOST"] = "cache"
    env["REDIS_SSL"] = "yes please"
    proc = subprocess.run(
        [sys.executable, "-m", "workloads.features", "online", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: REDIS_SSL: must be true or false\n"


# -- TLS, as on the managed caches --------------------------------------------------------------------


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, Path, Path]]:
    """Debian's redis-server serving only TLS with AUTH, its certificate signed by a private CA for an
    address that is not the one clients dial (like Memorystore's per-instance CA: clients reach it by IP)."""

    redis_binary()
    system.require("openssl")
    root = tmp_path_factory.mktemp("redis-tls")
    ca, other = root / "ca.pem", root / "other-ca.pem"
    for name, path in (("ca", ca), ("other-ca", other)):
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN=test-{name}",
            "-keyout",
            str(root / f"{name}.key"),
            "-out",
            str(path),
        )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=10.0.0.9",
        "-keyout",
        str(root / "server.key"),
        "-out",
        str(root / "server.csr"),
    )
    _openssl(
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        str(root / "server.csr"),
        "-CA",
        str(ca),
        "-CAkey",
        str(root / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(root / "server.pem"),
    )
    port, password = free_port(), "tls-auth-token"
    tls = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(root / "server.pem")]
    tls += ["--tls-key-file", str(root / "server.key"), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
    with run_redis(root, password, *tls, port=port, ssl=True, ssl_ca_certs=str(ca), ssl_check_hostname=False):
        yield port, password, ca, other


def test_materialize_and_read_over_tls_with_the_caches_own_ca(
    tls_redis: tuple[int, str, Path, Path], tmp_path: Path
) -> None:
    port, password, ca, other = tls_redis
    env = {
        "FEAST_REGISTRY": str(tmp_path / "registry.db"),
        "FEAST_OFFLINE_PATH": str(tmp_path / "offline"),
        "REDIS_HOST": LOOPBACK,
        "REDIS_PORT": str(port),
        "REDIS_PASSWORD": password,
        "REDIS_SSL": "true",
        "REDIS_CA": str(ca),
    }
    settings = Settings.from_env(env)
    fs = store.open_store(settings, repo_path=tmp_path)
    store.apply(fs, settings.require_offline_path())
    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    features = frames.sample_tables(make_tabular(20, seed=3), as_of=as_of).features
    store.write_offline(features, settings.require_offline_path())
    store.materialize(fs, end=as_of)
    online = store.online_features(fs, [1, 20], MODEL_SERVICE).set_index("applicant_id")
    expected = features.set_index("applicant_id")
    assert online.loc[[1, 20], "income"].to_numpy() == pytest.approx(expected.loc[[1, 20], "income"].to_numpy())

    # a server whose certificate another CA signed is refused, in one line
    wrong = store.open_store(Settings.from_env({**env, "REDIS_CA": str(other)}), repo_path=tmp_path)
    with pytest.raises(FeatureStoreError, match="certificate verify failed") as err:
        store.online_features(wrong, [1])
    assert "\n" not in str(err.value) and password not in str(err.value)
