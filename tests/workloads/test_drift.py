"""The drift detector (workloads/monitoring): it flags shifted inputs and predictions, stays quiet on a fresh
sample of the training distribution, reads the payload logs the model server's logger produces, and its
report, metrics and CLI say so in forms people and Prometheus read."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from workloads.monitoring import drift
from workloads.monitoring.__main__ import main as cli
from workloads.training.synthetic import FEATURES, make_tabular


def table(rows: int, seed: int) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(make_tabular(rows, seed=seed)))


def predict(frame: pd.DataFrame, offset: float = 0.0) -> np.ndarray:
    """A stand-in for the model: a logistic score of the features the label depends on."""
    logit = 2.0 * frame["income"] - 1.5 * frame["debt"] + 0.8 * frame["history"] + offset
    return (1 / (1 + np.exp(-logit))).to_numpy(dtype=float)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    ref = table(4000, seed=0)
    ref["prediction"] = predict(ref)
    return ref


# -- the detector ------------------------------------------------------------------------------------


def test_a_shifted_feature_is_flagged_and_named(reference: pd.DataFrame) -> None:
    current = table(2000, seed=21)
    current["income"] = current["income"] + 0.8  # incomes 0.8 sd higher
    report = drift.detect(reference, current, FEATURES)
    assert report.status == drift.DRIFT and report.drifted
    assert report.drifted_features() == ["income"]
    income = report.features[0]
    assert income.psi > 0.2 and income.ks_statistic > 0.1 and income.ks_pvalue < 1e-6
    assert "income" in report.summary()


def test_a_small_but_real_shift_is_caught_by_ks_while_psi_stays_under_its_threshold(reference: pd.DataFrame) -> None:
    current = table(2000, seed=22)
    current["debt"] = current["debt"] + 0.3
    debt = drift.detect(reference, current, FEATURES).features[1]
    assert debt.psi < 0.2 and debt.drifted and debt.reasons[0].startswith("KS")


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_fresh_sample_of_the_same_distribution_raises_no_alarm(reference: pd.DataFrame, seed: int) -> None:
    report = drift.detect(reference, table(2000, seed=seed), FEATURES)
    assert report.status == drift.OK, report.summary()
    assert max(f.psi for f in report.features) < 0.05


def test_too_few_rows_is_insufficient_data_not_a_false_alarm(reference: pd.DataFrame) -> None:
    current = table(60, seed=3)
    current["income"] = current["income"] + 0.8  # even a real shift is not judged on 60 rows
    report = drift.detect(reference, current, FEATURES, min_rows=200)
    assert report.status == drift.INSUFFICIENT and not report.drifted
    assert all(f.status == drift.INSUFFICIENT for f in report.features)
    assert "insufficient data" in report.summary()


def test_prediction_drift_is_flagged_when_predictions_shift_on_unchanged_inputs(reference: pd.DataFrame) -> None:
    current = table(2000, seed=4)
    current["prediction"] = predict(current)
    same = drift.detect(reference, current, FEATURES, prediction_column="prediction")
    assert same.prediction is not None and same.status == drift.OK
    current["prediction"] = predict(current, offset=1.5)  # the model behaves differently
    moved = drift.detect(reference, current, FEATURES, prediction_column="prediction")
    assert moved.prediction is not None and moved.prediction.drifted
    assert moved.drifted_features() == [] and moved.status == drift.DRIFT
    # reference predictions may also be given separately
    bare = reference.drop(columns=["prediction"])
    given = drift.detect(bare, current, FEATURES, "prediction", reference_predictions=predict(bare))
    assert given.prediction is not None and given.prediction.drifted


def test_a_missing_feature_is_a_one_line_error(reference: pd.DataFrame) -> None:
    with pytest.raises(drift.DriftError, match=r"^feature\(s\) income missing from the current data$"):
        drift.detect(reference, table(300, seed=5).drop(columns=["income"]), FEATURES)


def test_psi_is_the_pipeline_validation_gate_measure() -> None:
    from workloads.pipelines import validation

    assert validation.psi is drift.psi
    rng = np.random.default_rng(0)
    a = rng.standard_normal(5000)
    assert drift.psi(a, a.copy()) == pytest.approx(0.0, abs=1e-12)
    assert drift.psi(a, a + 1.0) > 0.5
    assert drift.psi(a, np.array([np.nan])) == float("inf")


# -- payload logs in the format the serving workload produces ---------------------------------------


class _Bucket:
    """The logs bucket, as a directory: what LogCollector.store puts under s3://logs/... lands in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self.root / uri.removeprefix("s3://")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def log_payloads(root: Path, frame: pd.DataFrame, batch: int = 1, structured_every: int = 0) -> Path:
    """Serve `frame` through the real payload path: the request bodies a client sends, the server's own
    response encoder, the PayloadLogger's CloudEvent attributes (binary mode headers, or structured-mode
    events) and the demo's logs-bucket collector, which writes one JSON file per event."""
    from workloads.demo.services import LogCollector
    from workloads.serving.metrics import Metrics
    from workloads.serving.model import Dim, LoadedModel, TensorSpec, encode_infer_response
    from workloads.serving.payload import REQUEST_TYPE, RESPONSE_TYPE, LoggerConfig, PayloadLogger, _Record

    spec_in = TensorSpec("features", "FP32", np.float32, (Dim(None), Dim(len(FEATURES))))
    spec_out = TensorSpec("probability", "FP32", np.float32, (Dim(None), Dim(1)))
    model = LoadedModel("credit", "3", "tabular", None, spec_in, spec_out, FEATURES, "mem://", "", None)
    logger = PayloadLogger(
        LoggerConfig(url="http://collector/", service_name="credit", namespace="team-a"), Metrics("credit")
    )
    collector: Any = LogCollector(_Bucket(root), "s3://logs/inference")  # type: ignore[arg-type]
    try:
        values = frame[FEATURES].to_numpy(dtype=np.float32)
        for n, start in enumerate(range(0, len(frame), batch)):
            rows = values[start : start + batch]
            rid = f"req-{n}"
            request = json.dumps(
                {"inputs": [{"name": "features", "datatype": "FP32", "shape": list(rows.shape), "data": rows.tolist()}]}
            ).encode()
            response = encode_infer_response(model, rid, predict(frame.iloc[start : start + batch]).reshape(-1, 1))
            record = _Record(rid, request, response, "2026-11-24T00:00:00Z")
            for ce_type, body in ((REQUEST_TYPE, request), (RESPONSE_TYPE, response)):
                attrs = logger._attributes(record, ce_type)
                if structured_every and n % structured_every == 0:
                    event = {**attrs, "datacontenttype": "application/json", "data": json.loads(body)}
                    collector.store({"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode())
                else:
                    headers = {f"ce-{k}": v for k, v in attrs.items()} | {"content-type": "application/json"}
                    collector.store(headers, body)
    finally:
        collector.stop()
    return root / "logs" / "inference" / "team-a" / "credit" / "predictor"


def test_logged_payloads_read_back_as_the_features_and_predictions_that_were_served(tmp_path: Path) -> None:
    frame = table(40, seed=6)
    where = log_payloads(tmp_path, frame, batch=3, structured_every=4)
    assert len(list(where.glob("*-request.json"))) == 14 and len(list(where.glob("*-response.json"))) == 14
    read = drift.read_payloads(str(where))
    assert list(read.columns) == [*FEATURES, "prediction"] and len(read) == 40
    # files are read in name order (req-0, req-1, req-10, ...): compare as sets of rows
    got = read.sort_values("income").reset_index(drop=True)
    want = frame[FEATURES].astype(np.float32).astype(float).assign(prediction=predict(frame))
    want = want.sort_values("income").reset_index(drop=True)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-6)
    assert read.attrs["skipped"] == 0


def test_malformed_records_are_counted_and_skipped_and_nothing_readable_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    where = log_payloads(tmp_path, table(5, seed=7))
    (where / "broken-request.json").write_text('{"attributes": {"type": "org.kubeflow.serving.inference.req')
    lines = where.parent / "extra.jsonl"
    good = {"id": "x1", "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 7], "data": [0.5] * 7}]}
    short = {"id": "x2", "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    lines.write_text("\n".join([json.dumps(good), "not json", json.dumps(short), json.dumps(["x"])]) + "\n")
    read = drift.read_payloads([str(where), str(lines)])
    assert len(read) == 6  # five logged + the good line; predictions only where a response was logged
    assert read["prediction"].notna().sum() == 5
    assert read.attrs["skipped"] == 4
    errors = read.attrs["errors"]
    assert any("broken-request.json:1: not JSON (Unterminated string" in e for e in errors)
    assert any(e.endswith("extra.jsonl:3: input has 3 values, not a multiple of the 7 features") for e in errors)
    assert all("\n" not in e for e in errors)
    assert "skipped 4 malformed payload record(s)" in caplog.text

    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text("nope\n{}\n")
    with pytest.raises(
        drift.DriftError, match=r"^no readable inference requests in .*bad\.jsonl \(first: .*:1: not JSON"
    ):
        drift.read_payloads(str(only_bad))
    with pytest.raises(drift.DriftError, match=r"not found"):
        drift.read_payloads(str(tmp_path / "nowhere"))


# -- the report and the metrics ----------------------------------------------------------------------


def _shifted_report(reference: pd.DataFrame) -> tuple[drift.DriftReport, pd.DataFrame]:
    current = table(1000, seed=8)
    current["income"] = current["income"] + 0.8
    current["prediction"] = predict(current)
    return drift.detect(reference, current, FEATURES, prediction_column="prediction"), current


def test_the_markdown_table_has_a_row_per_feature_and_the_predictions(reference: pd.DataFrame) -> None:
    report, _ = _shifted_report(reference)
    text = drift.to_markdown(report)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]
    assert rows[0] == ["feature", "PSI", "KS stat", "p-value", "drifted"]
    body = {r[0]: r for r in rows[2:]}
    assert list(body) == [*FEATURES, "predictions"]
    assert body["income"][4] == "**yes**" and float(body["income"][1]) > 0.2
    assert body["debt"][4] == "no" and float(body["debt"][1]) < 0.1
    assert "**Status: drift**" in text


def test_the_metrics_parse_as_prometheus_text(reference: pd.DataFrame) -> None:
    report, _ = _shifted_report(reference)
    families = {f.name: f for f in text_string_to_metric_families(drift.to_prometheus(report, "credit", "3"))}
    psi = {s.labels["feature"]: s.value for s in families["ml_platform_feature_drift_psi"].samples}
    assert set(psi) == set(FEATURES) and psi["income"] == pytest.approx(report.features[0].psi)
    assert all(
        s.labels["model"] == "credit" and s.labels["version"] == "3" for s in families["ml_platform_drift_rows"].samples
    )
    ks = families["ml_platform_feature_drift_ks_statistic"].samples
    assert len(ks) == len(FEATURES)
    windows = {s.labels["window"]: s.value for s in families["ml_platform_drift_rows"].samples}
    assert windows == {"reference": 4000, "current": 1000}
    assert report.prediction is not None
    assert families["ml_platform_prediction_drift_psi"].samples[0].value == pytest.approx(report.prediction.psi)


def test_the_plot_is_a_png(reference: pd.DataFrame, tmp_path: Path) -> None:
    report, current = _shifted_report(reference)
    drift.plot(report, reference, current, tmp_path / "drift.png")
    assert (tmp_path / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the CLI -----------------------------------------------------------------------------------------


def test_the_cli_writes_the_report_and_exits_0_without_drift_and_4_with_it(
    tmp_path: Path, reference: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    ref_csv = tmp_path / "train.csv"
    reference.to_csv(ref_csv, index=False)
    calm = log_payloads(tmp_path / "calm", table(300, seed=9), batch=50)
    assert cli(["drift", "--reference", str(ref_csv), "--payloads", str(calm), "--out", str(tmp_path / "r0")]) == 0
    assert capsys.readouterr().out.startswith("ok: no drift (300 rows")
    assert {p.name for p in (tmp_path / "r0").iterdir()} == {"report.md", "drift.png", "metrics.prom"}

    shifted = table(300, seed=10)
    shifted["income"] = shifted["income"] + 0.8
    moved = log_payloads(tmp_path / "moved", shifted, batch=50)
    out = tmp_path / "r1"
    args = ["drift", "--reference", str(ref_csv), "--payloads", str(moved), "--out", str(out), "--model", "credit"]
    assert cli([*args, "--version", "3"]) == 4
    assert "drift detected in income" in capsys.readouterr().out
    assert "| income |" in (out / "report.md").read_text()
    names = {f.name for f in text_string_to_metric_families((out / "metrics.prom").read_text())}
    assert "ml_platform_prediction_drift_psi" in names


def test_the_cli_reports_bad_input_in_one_line_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref_csv = tmp_path / "train.csv"
    ref_csv.write_bytes(make_tabular(300, seed=0))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.jsonl").write_text("garbage\n")
    for payloads in (tmp_path / "logs", tmp_path / "missing"):
        assert cli(["drift", "--reference", str(ref_csv), "--payloads", str(payloads), "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert cli(["drift", "--reference", str(tmp_path / "nope.csv"), "--payloads", str(tmp_path / "logs")]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {tmp_path / 'nope.csv'}: not found")


# -- the scheduled job: a window of recent payloads, pushed to a Pushgateway --------------------------


class _Pushgateway:
    """A Pushgateway-compatible HTTP endpoint on loopback: it records every push (method, path, body) and
    answers as the Pushgateway does (200 to PUT/POST under /metrics/job/..., 400 elsewhere)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        pushes: list[tuple[str, str, str]] = []
        self.pushes = pushes

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                pushes.append((self.command, self.path, body))
                ok = self.path.startswith("/metrics/job/")
                self.send_response(200 if ok else 400)
                self.end_headers()

            def do_PUT(self) -> None:
                self._record()

            def do_POST(self) -> None:
                self._record()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def pushgateway() -> Any:
    gateway = _Pushgateway()
    yield gateway
    gateway.close()


def _group(path: str) -> dict[str, str]:
    parts = path.removeprefix("/metrics/").split("/")
    return dict(zip(parts[::2], parts[1::2], strict=True))


def _age(directory: Path, hours: float) -> None:
    """Set every payload file's modification time `hours` into the past."""
    import os
    import time

    when = time.time() - hours * 3600
    for path in directory.rglob("*.json"):
        os.utime(path, (when, when))


def test_the_window_keeps_only_payloads_modified_in_the_last_hours(tmp_path: Path) -> None:
    import time

    old = table(300, seed=11)
    old["income"] = old["income"] + 0.8
    where = log_payloads(tmp_path / "logs", old, batch=50)  # six requests, six responses: 300 shifted rows
    _age(where, hours=30)
    log_payloads(tmp_path / "fresh", table(120, seed=12), batch=40)  # three requests from the last minutes
    for src in (tmp_path / "fresh").rglob("*.json"):
        (where / f"fresh-{src.name}").write_bytes(src.read_bytes())
    assert len(drift.read_payloads(str(where))) == 420
    recent = drift.read_payloads(str(where), since=time.time() - 24 * 3600)
    assert len(recent) == 120 and bool(recent["prediction"].notna().all())
    # nothing in the window, or nothing logged yet: zero rows when asked for (the scheduled job), else an error
    nothing = drift.read_payloads(str(where), since=time.time() + 60, empty_ok=True)
    assert len(nothing) == 0 and list(nothing.columns) == FEATURES
    assert len(drift.read_payloads(str(tmp_path / "not-yet"), empty_ok=True)) == 0
    with pytest.raises(drift.DriftError, match=r"^no payload files .* modified in the window under "):
        drift.read_payloads(str(where), since=time.time() + 60)


def test_object_modification_times_of_each_storage_backend() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert drift.modified_at({"mtime": when.timestamp()}) == when.timestamp()  # local
    assert drift.modified_at({"LastModified": when}) == when.timestamp()  # s3fs
    assert drift.modified_at({"updated": "2026-11-24T12:00:00.000Z"}) == when.timestamp()  # gcsfs
    assert drift.modified_at({"name": "x", "size": 3}) is None


def test_the_cli_pushes_one_group_per_model_to_the_pushgateway(
    tmp_path: Path, reference: pd.DataFrame, pushgateway: _Pushgateway, capsys: pytest.CaptureFixture[str]
) -> None:
    ref_csv = tmp_path / "train.csv"
    reference.to_csv(ref_csv, index=False)
    shifted = table(300, seed=13)
    shifted["income"] = shifted["income"] + 0.8
    where = log_payloads(tmp_path / "logs", shifted, batch=50)
    args = ["drift", "--reference", str(ref_csv), "--payloads", str(where), "--out", str(tmp_path / "out")]
    job = [*args, "--no-plot", "--window-hours", "24", "--push", pushgateway.url, "--namespace", "team-a"]
    # drift, reported through the gauges: the scheduled job does not fail on it
    assert cli([*job, "--model", "credit", "--version", "3", "--max-psi", "0.2", "--no-fail-on-drift"]) == 0
    assert "drift detected in income" in capsys.readouterr().out
    assert cli([*job, "--model", "fraud", "--version", "1"]) == 4  # without the flag: exit 4, pushed all the same
    assert "; pushed to " in capsys.readouterr().out
    (method, path, body), (_, other, _) = pushgateway.pushes
    assert method == "PUT"  # replaces the group: a version no longer served leaves no stale series
    # the grouping key, as label/value pairs after /metrics (the client sorts them; order means nothing)
    assert _group(path) == {"job": "ml-platform-drift", "namespace": "team-a", "model": "credit"}
    assert _group(other) == {"job": "ml-platform-drift", "namespace": "team-a", "model": "fraud"}
    families = {f.name: f for f in text_string_to_metric_families(body)}
    psi = {s.labels["feature"]: s.value for s in families["ml_platform_feature_drift_psi"].samples}
    assert psi["income"] > 0.2 and psi["debt"] < 0.1
    rows = {s.labels["window"]: s.value for s in families["ml_platform_drift_rows"].samples}
    assert rows == {"reference": 4000, "current": 300}
    assert {(s.labels["model"], s.labels["version"]) for s in families["ml_platform_drift_rows"].samples} == {
        ("credit", "3")
    }
    assert 'ml_platform_drift_rows{model="credit",version="3",window="current"} 300.0' in body

    # a window with nothing logged is insufficient data: rows 0 are pushed, the check itself succeeded
    _age(where, hours=48)
    assert cli([*job, "--model", "credit"]) == 0
    assert capsys.readouterr().out.startswith("insufficient_data: insufficient data: 0 rows")
    rows = {
        s.labels["window"]: s.value
        for f in text_string_to_metric_families(pushgateway.pushes[-1][2])
        if f.name == "ml_platform_drift_rows"
        for s in f.samples
    }
    assert rows["current"] == 0


def test_an_unreachable_pushgateway_is_one_line_and_exit_3(
    tmp_path: Path, reference: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.workloads.conftest import free_port

    ref_csv = tmp_path / "train.csv"
    reference.to_csv(ref_csv, index=False)
    where = log_payloads(tmp_path / "logs", table(250, seed=14), batch=50)
    gateway = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["drift", "--reference", str(ref_csv), "--payloads", str(where), "--out", str(tmp_path), "--no-plot"]
    assert cli([*args, "--push", gateway, "--namespace", "team-a", "--model", "credit"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot push the metrics to {gateway}: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert cli([*args, "--push", gateway]) == 2
    assert capsys.readouterr().err.startswith("error: --push needs --namespace")


@pytest.fixture()
def real_pushgateway(tmp_path: Path) -> Any:
    """Debian's prometheus-pushgateway on a free loopback port; a one-line failure when the binary is absent."""
    import subprocess
    import urllib.request

    from tests import system
    from tests.workloads.conftest import LOOPBACK, free_port, wait_for

    binary = system.require("prometheus-pushgateway")
    url = f"http://{LOOPBACK}:{free_port()}"
    log = (tmp_path / "pushgateway.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--web.listen-address={url.removeprefix('http://')}"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=1).status == 200, 15, "pushgateway", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_real_pushgateway_keeps_one_group_per_model_with_its_push_time(
    tmp_path: Path, reference: pd.DataFrame, real_pushgateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """What Prometheus scrapes (honorLabels) after the pushes: the gauges with the grouping key's job,
    namespace and model, push_time_seconds per group (the stale alert), a new version replacing the old."""
    import urllib.request

    ref_csv = tmp_path / "train.csv"
    reference.to_csv(ref_csv, index=False)
    where = log_payloads(tmp_path / "logs", table(250, seed=15), batch=50)
    job = ["drift", "--reference", str(ref_csv), "--payloads", str(where), "--out", str(tmp_path / "o"), "--no-plot"]
    job += ["--window-hours", "24", "--push", real_pushgateway, "--namespace", "team-a"]
    assert cli([*job, "--model", "credit", "--version", "3"]) == 0
    assert cli([*job, "--model", "fraud", "--version", "1"]) == 0
    assert cli([*job, "--model", "credit", "--version", "4"]) == 0  # the next version replaces the group
    capsys.readouterr()
    with urllib.request.urlopen(f"{real_pushgateway}/metrics", timeout=5) as response:
        scraped = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    rows = {
        (s.labels["job"], s.labels["namespace"], s.labels["model"], s.labels["version"]): s.value
        for s in families["ml_platform_drift_rows"].samples
        if s.labels["window"] == "current"
    }
    assert rows == {
        ("ml-platform-drift", "team-a", "credit", "4"): 250,
        ("ml-platform-drift", "team-a", "fraud", "1"): 250,
    }
    pushed = {
        (s.labels["job"], s.labels["namespace"], s.labels["model"])
        for s in families["push_time_seconds"].samples
        if s.value > 0
    }
    assert pushed == {("ml-platform-drift", "team-a", "credit"), ("ml-platform-drift", "team-a", "fraud")}
    assert all(s.labels["feature"] in FEATURES for s in families["ml_platform_feature_drift_psi"].samples)
