"""What workloads/README.md says about the training workload, checked against the code's behaviour.

Each test names the README passage it backs. The tables (configuration keys, outputs, model card) are
read from the README itself, so a key added to the code but not to the README (or the other way round)
fails here. The quoted laptop commands run as written, from a scratch directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.workloads.conftest import REPO, S3Server, wait_for
from tests.workloads.helpers import cli, cli_env, gpt_config, one_line_error, tabular_config, write_config
from workloads.training import distributed, storage
from workloads.training.checkpoint import MANIFEST_FILE, MODEL_FILE, TRAINER_FILE, CheckpointManager
from workloads.training.cli import EXIT_GATE_FAILED, main
from workloads.training.config import SECTIONS, parse_config
from workloads.training.data import TabularBatches, TabularSplit, TextBatches
from workloads.training.models import GPT
from workloads.training.outputs import code_version
from workloads.training.synthetic import FEATURES, make_tabular, make_text
from workloads.training.trainer import EXIT_INTERRUPTED, STOP_CHECK_EVERY, train

README = (REPO / "workloads" / "README.md").read_text()
SAMPLE = REPO / "workloads" / "training" / "configs" / "tabular.yaml"


def section(title: str) -> str:
    """The README text under a heading (up to the next heading of any level)."""
    start = README.index(title)
    rest = README[start + len(title) :]
    end = re.search(r"^#{1,4} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def table(title: str) -> dict[str, str]:
    """The first Markdown table under `title`: first column (backticks stripped) -> second column."""
    rows = {}
    for line in section(title).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.lstrip().startswith("|") or set(cells[0]) <= {"-"}:
            continue
        rows[cells[0].strip("`")] = cells[1]
    rows.pop(next(iter(rows)))  # the header row
    return rows


def names_outside_parentheses(text: str) -> set[str]:
    """The backticked names of a table cell, leaving out what parentheses explain."""
    while True:
        stripped = re.sub(r"\([^()]*\)", "", text)
        if stripped == text:
            break
        text = stripped
    return set(re.findall(r"`([^`]+)`", text))


# --------------------------------------------------------------------------------- "### Configuration"


def test_the_configuration_table_lists_every_key_and_the_required_ones() -> None:
    rows = table("### Configuration")
    assert list(rows) == list(SECTIONS)
    for name, model in SECTIONS.items():
        assert names_outside_parentheses(rows[name]) == set(model.model_fields), name
        required = set(re.findall(r"`(\w+)` \(required", rows[name]))
        assert required == {k for k, f in model.model_fields.items() if f.is_required()}, name


def test_a_json_config_file_works_like_a_yaml_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tabular_config("out", "train.csv")))
    assert main(["--config", str(path), "--train.steps", "9", "--print-config"]) == 0
    assert "steps: 9" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ "### On a laptop"


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's laptop commands, run as written from a scratch directory (no MLflow: registry auto)."""
    root = tmp_path_factory.mktemp("laptop")
    for args in (
        ["tabular", "--rows", "4000", "--out", "data/train.csv"],
        ["tabular", "--rows", "4000", "--bias", "3", "--out", "data/biased.csv"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "workloads.training.synthetic", *args],
            cwd=root,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    return root


def in_dir(root: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return main(argv)


def test_the_sample_config_trains_passes_its_gates_and_logs_progress(
    laptop: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`python -m workloads.training --config workloads/training/configs/tabular.yaml` on the 4000 rows the
    synthetic command wrote: exit 0, every gate of the sample (accuracy >= 0.85, both fairness gaps <= 0.1)
    passes, a progress line every log_every steps, and without MLFLOW_TRACKING_URI nothing is registered."""
    caplog.set_level(logging.INFO, logger="workloads.training")
    assert in_dir(laptop, ["--config", str(SAMPLE)], monkeypatch) == 0
    out = laptop / "out" / "credit-approval"
    card = json.loads((out / "model_card.json").read_text())
    assert card["status"] == "candidate" and card["registry"] is None
    assert {c["name"] for c in card["gates"]["checks"]} == {
        "accuracy",
        "demographic_parity_difference",
        "equalized_odds_difference",
    }
    assert card["metrics"]["accuracy"] >= 0.85
    progress = [m for m in caplog.messages if m.startswith("step ")]
    assert [m.split()[1] for m in progress] == [f"{s}/600" for s in range(100, 700, 100)]
    assert re.fullmatch(r"step 200/600 loss \d+\.\d{4} lr \d\.\d\de[-+]\d\d samples/s [\d,]+", progress[1])

    # The override example: any key from the command line, here steps and the output location.
    argv = ["--config", str(SAMPLE), "--train.steps", "200", "--run.output_uri", "out/try-2"]
    assert in_dir(laptop, argv, monkeypatch) == 0
    assert json.loads((laptop / "out/try-2/model_card.json").read_text())["training"]["steps"] == 200


def test_biased_labels_fail_the_fairness_gate_exit_0_unless_fail_on_gate(
    laptop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README: "trained on data whose labels were biased against group b (`synthetic tabular --bias 3`), the gap
    exceeds 0.2 and the fairness gate fails"; exit 0 on a failed gate unless eval.fail_on_gate, then 3."""
    argv = ["--config", str(SAMPLE), "--data.train_uri", "data/biased.csv", "--run.output_uri", "out/biased"]
    assert in_dir(laptop, argv, monkeypatch) == 0
    out = laptop / "out" / "biased"
    card = json.loads((out / "model_card.json").read_text())
    assert card["status"] == "rejected" and card["fairness"]["passed"] is False
    assert card["fairness"]["demographic_parity_difference"] > 0.2
    # The same run with fail_on_gate: it resumes from the final checkpoint, evaluates, and exits 3.
    assert in_dir(laptop, [*argv, "--eval.fail_on_gate", "true"], monkeypatch) == EXIT_GATE_FAILED


def test_the_proxy_feature_is_correlated_with_the_group() -> None:
    rows = make_tabular(4000, seed=0).decode().splitlines()
    header = rows[0].split(",")
    proxy, group = header.index("postcode_score"), header.index("group")
    xs = torch.tensor([float(r.split(",")[proxy]) for r in rows[1:]])
    gs = torch.tensor([1.0 if r.split(",")[group] == "b" else 0.0 for r in rows[1:]])
    assert torch.corrcoef(torch.stack([xs, gs]))[0, 1] > 0.6
    assert header[: len(FEATURES)] == FEATURES and header[-2:] == ["group", "label"]


# --------------------------------------------------------------------------- "### Evaluation and gates"


def test_the_fairness_figures_are_the_stated_gaps(laptop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Demographic parity difference = largest gap in selection rate between groups; equalized odds
    difference = the larger of the largest TPR gap and FPR gap; a per-group table; the task metrics."""
    out = laptop / "out" / "biased"
    if not (out / "metrics.json").exists():  # run alone
        test_biased_labels_fail_the_fairness_gate_exit_0_unless_fail_on_gate(laptop, monkeypatch)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "roc_auc", "log_loss", "positive_rate"} <= set(metrics["metrics"])
    fairness = metrics["fairness"]
    groups = fairness["by_group"]
    assert set(groups) == {"a", "b"}
    for row in groups.values():
        assert set(row) == {"count", "selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"}

    def gap(key: str) -> float:
        values = [g[key] for g in groups.values()]
        return max(values) - min(values)

    assert fairness["demographic_parity_difference"] == pytest.approx(gap("selection_rate"))
    assert fairness["equalized_odds_difference"] == pytest.approx(
        max(gap("true_positive_rate"), gap("false_positive_rate"))
    )


def test_the_gpt_logs_tokens_and_reports_loss_perplexity_and_bits_per_byte(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "corpus.txt").write_bytes(make_text(20_000, seed=1))
    doc = gpt_config(
        str(tmp_path / "out"),
        str(tmp_path / "corpus.txt"),
        model={"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16},
        train={"steps": 10, "batch_size": 4, "log_every": 5, "threads": 1},
        eval={"max_val_loss": None},
    )
    caplog.set_level(logging.INFO, logger="workloads.training")
    result = train(parse_config(doc), handle_sigterm=False)
    assert result.evaluation is not None
    m = result.evaluation.metrics
    assert m["perplexity"] == pytest.approx(math.exp(m["val_loss"]))
    assert m["bits_per_byte"] == pytest.approx(m["val_loss"] / math.log(2))
    assert any(re.search(r"^step 10/10 .* samples/s [\d,]+ tokens/s [\d,]+$", msg) for msg in caplog.messages)


def test_the_gpt_is_pre_norm_with_causal_scaled_dot_product_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's "pre-norm blocks, attention through `scaled_dot_product_attention`", byte-level (256 symbols)."""
    from workloads.training import models

    calls: list[bool] = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(kwargs.get("is_causal", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(models.F, "scaled_dot_product_attention", spy)
    model = GPT(block_size=8, n_layer=3, n_head=2, n_embd=16).eval()
    seen: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    block = model.blocks[0]
    for name in ("ln1", "attn", "ln2", "mlp"):
        getattr(block, name).register_forward_hook(lambda _m, i, o, n=name: seen.append((n, i[0], o)))
    logits = model(torch.tensor([list(b"abcdefgh")]))
    assert calls == [True, True, True]
    assert logits.shape == (1, 8, 256)
    assert [n for n, _, _ in seen] == ["ln1", "attn", "ln2", "mlp"]
    (_, _, ln1_out), (_, attn_in, _), (_, _, ln2_out), (_, mlp_in, _) = seen
    assert attn_in is ln1_out and mlp_in is ln2_out  # normalised before each sublayer, not after


# ------------------------------------------------------------------------------- "Seeds are deterministic"


def test_a_steps_global_batch_is_the_same_for_one_or_two_processes_and_after_a_restart() -> None:
    split = TabularSplit(torch.arange(400.0).view(100, 4), torch.zeros(100), torch.zeros(100).numpy())
    one = TabularBatches(split, 20, rank=0, world=1, seed=3)
    halves = [TabularBatches(split, 20, rank=r, world=2, seed=3) for r in (0, 1)]
    text = torch.arange(1000) % 251
    lm_one = TextBatches(text, 8, 6, rank=0, world=1, seed=3)
    lm_halves = [TextBatches(text, 8, 6, rank=r, world=2, seed=3) for r in (0, 1)]
    for step in (0, 4, 5, 17):  # within and across epochs
        assert torch.equal(one.batch(step)[0], torch.cat([h.batch(step)[0] for h in halves]))
        assert torch.equal(lm_one.batch(step)[0], torch.cat([h.batch(step)[0] for h in lm_halves]))
        restarted = TabularBatches(split, 20, rank=0, world=1, seed=3)  # a new process, straight to `step`
        assert torch.equal(restarted.batch(step)[0], one.batch(step)[0])
    assert not torch.equal(one.batch(0)[0], TabularBatches(split, 20, rank=0, world=1, seed=4).batch(0)[0])


def test_threads_default_to_cores_over_local_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    cores = os.cpu_count() or 1
    try:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
        distributed.setup(parse_config(tabular_config("o", "d")).train)
        assert torch.get_num_threads() == max(1, cores // 2)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
        distributed.setup(parse_config(tabular_config("o", "d")).train)
        assert torch.get_num_threads() == cores
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------- "### Checkpoints and spot interruptions"


def test_a_checkpoint_is_weights_then_trainer_state_then_the_manifest_of_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real = storage.write_bytes
    monkeypatch.setattr(
        storage, "write_bytes", lambda uri, data: (order.append(uri.rsplit("/", 1)[1]), real(uri, data))
    )
    manager = CheckpointManager(str(tmp_path / "ckpt"))
    uri = manager.save(1200, b"weights", b"state", {"world_size": 1})
    assert uri.endswith("/step-000001200")
    assert order == [MODEL_FILE, TRAINER_FILE, MANIFEST_FILE]
    manifest = json.loads((tmp_path / "ckpt/step-000001200" / MANIFEST_FILE).read_text())
    assert manifest["files"] == {
        MODEL_FILE: {"sha256": hashlib.sha256(b"weights").hexdigest(), "bytes": 7},
        TRAINER_FILE: {"sha256": hashlib.sha256(b"state").hexdigest(), "bytes": 5},
    }


class _Payload:
    """Pickled into a trainer.pt: unpickling it (without weights_only) would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_trainer_state_is_loaded_with_weights_only_so_a_pickled_object_never_runs(tmp_path: Path) -> None:
    from workloads.training.checkpoint import model_to_bytes

    marker = tmp_path / "code-ran"
    buf = io.BytesIO()
    torch.save({"step": 5, "evil": _Payload(marker)}, buf)
    manager = CheckpointManager(str(tmp_path / "ckpt"))
    manager.save(5, model_to_bytes({"w": torch.zeros(2)}), buf.getvalue(), {})  # hashes match: only the load can refuse
    assert manager.latest() is None  # skipped: "cannot be parsed (UnpicklingError)"
    assert not marker.exists()
    with pytest.raises(ValueError, match="cannot be parsed"):
        manager.load(5)


def test_a_local_write_is_temp_fsync_rename_so_a_failed_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ckpt" / "model.safetensors"
    storage.write_bytes(str(target), b"old")
    synced: list[int] = []
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        synced.append(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(storage.StorageError, match="No space left on device"):
        storage.write_bytes(str(target), b"new bytes")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert synced  # the data was fsynced before the rename would have happened
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["model.safetensors"]


def test_an_object_store_write_is_one_put(s3: S3Server, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below s3fs's multipart threshold (2 x 50 MiB) a file is one PutObject, atomic by S3's semantics."""
    import s3fs

    calls: list[str] = []
    real = s3fs.S3FileSystem._call_s3

    async def spy(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        return await real(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", spy)
    s3.bucket("atomic")
    storage.write_bytes("s3://atomic/ckpt/model.safetensors", b"x" * 1_000_000)
    assert [c for c in calls if "upload" in c.lower() or c == "put_object"] == ["put_object"]


def _workers(config: Path) -> dict[int, int]:
    """rank -> pid of the torchrun workers running `config` (found through /proc: their RANK variable)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(config).encode() not in cmdline or b"torch.distributed.run" in cmdline:
            continue
        for item in environ:
            if item.startswith(b"RANK="):
                found[int(item[5:])] = int(entry.name)
    return found


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="finds torchrun's workers through /proc")
@pytest.mark.parametrize("target", ["rank 1", "torchrun"])
def test_sigterm_under_torchrun_stops_every_rank_at_an_agreed_step_with_one_checkpoint(
    target: str, tmp_path: Path
) -> None:
    """Under torchrun "all ranks agree": a SIGTERM that reaches one worker only (rank 1) makes both stop
    at the next multiple of STOP_CHECK_EVERY steps and write one checkpoint there; the first to exit reports 143.
    A SIGTERM to torchrun itself (what the kubelet signals in a TrainJob's container) reaches every worker,
    which checkpoint the same way; torchrun then exits 1."""
    (tmp_path / "train.csv").write_bytes(make_tabular(2000, seed=5))
    doc = tabular_config(
        str(tmp_path / "out"),
        str(tmp_path / "train.csv"),
        model={"hidden": [16]},
        train={"steps": 10_000_000, "batch_size": 32, "threads": 1, "log_every": 50, "checkpoint_every": 0},
        eval={"min_accuracy": None},
    )
    config = write_config(tmp_path / "c.yaml", doc)
    log = tmp_path / "run.log"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "workloads.training", "--config", str(config)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "step 50/" in log.read_text(), 180, "training started", proc)
        ranks = _workers(config)
        assert set(ranks) == {0, 1}, ranks
        os.kill(ranks[1] if target == "rank 1" else proc.pid, signal.SIGTERM)
        assert proc.wait(120) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert re.search(r"\[rank 1\] WARNING SIGTERM received", text), text
    signalled_rank_0 = re.search(r"\[rank 0\] WARNING SIGTERM received", text)
    assert bool(signalled_rank_0) == (target == "torchrun"), text
    saved = [int(s) for s in re.findall(r"\[rank 0\] INFO checkpoint \(SIGTERM\) step (\d+)", text)]
    assert len(saved) == 1 and saved[0] % STOP_CHECK_EVERY == 0, text
    latest = CheckpointManager(str(tmp_path / "out" / "checkpoints")).latest()
    assert latest is not None and latest.step == saved[0]
    assert len(latest.trainer_state["rng"]) == 2  # the RNG state of every rank
    if target == "rank 1":  # the first worker to exit reports 143 (torchrun then stops the other)
        assert re.search(rf"exitcode\s*: {EXIT_INTERRUPTED} \(pid: ({ranks[0]}|{ranks[1]})\)", text), text
    assert not re.search(r'File ".*workloads/training/', text), text  # no worker traceback


def test_torchrun_gives_its_workers_30_seconds_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a SIGTERM torchrun waits --shutdown-timeout / TORCH_ELASTIC_SHUTDOWN_TIMEOUT seconds (default 30)
    for its workers, then kills them (torch/distributed/run.py, launcher/api.py, elastic/multiprocessing/api.py)."""
    from torch.distributed.launcher.api import LaunchConfig

    monkeypatch.delenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", raising=False)
    assert LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=1).shutdown_timeout == 30
    monkeypatch.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "110")
    assert LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=1).shutdown_timeout == 110
    from torch.distributed.run import get_args_parser

    args = get_args_parser().parse_args(["--shutdown-timeout", "90", "-m", "workloads.training"])
    assert args.shutdown_timeout == 90


# ------------------------------------------------------------------------ "### Data, checkpoints and outputs"


def test_s3_honours_aws_endpoint_url_s3(s3: S3Server) -> None:
    s3.bucket("datasets")
    env = {k: v for k, v in s3.env.items() if k != "AWS_ENDPOINT_URL"}
    env["AWS_ENDPOINT_URL_S3"] = s3.endpoint
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workloads.training.synthetic",
            "tabular",
            "--rows",
            "10",
            "--out",
            "s3://datasets/readme/t.csv",
        ],
        cwd=REPO,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert s3.keys("datasets", "readme/") == ["readme/t.csv"]


def test_missing_training_data_on_s3_is_the_quoted_one_line_error(s3: S3Server, tmp_path: Path) -> None:
    s3.bucket("datasets")
    s3.bucket("models")
    assert "train.csv" not in s3.keys("datasets")
    doc = tabular_config("s3://models/readme-missing-data", "s3://datasets/train.csv")
    proc = cli(["--config", str(write_config(tmp_path / "c.yaml", doc))], env=cli_env(s3.env))
    assert proc.returncode == 4
    assert one_line_error(proc) == "error: cannot read s3://datasets/train.csv: not found"


def test_registry_always_without_a_tracking_uri_is_exit_5(tmp_path: Path) -> None:
    doc = tabular_config(str(tmp_path / "out"), str(tmp_path / "train.csv"), registry={"mode": "always"})
    proc = cli(["--config", str(write_config(tmp_path / "c.yaml", doc))])
    assert proc.returncode == 5
    assert one_line_error(proc) == "error: registry.mode is 'always' but MLFLOW_TRACKING_URI is not set"


# ------------------------------------------------------------------------------------------ "### Outputs"


def test_the_outputs_are_the_files_the_readme_lists(laptop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = laptop / "out" / "try-2"
    if not (out / "model_card.json").exists():
        assert (
            in_dir(
                laptop, ["--config", str(SAMPLE), "--train.steps", "20", "--run.output_uri", "out/try-2"], monkeypatch
            )
            == 0
        )
    listed = set(table("### Outputs"))
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "checkpoints" not in p.parts}
    assert written == listed
    weights = load_file(out / "model/model.safetensors")
    assert {"mean", "std"} <= set(weights)  # the standardisation lives in buffers
    config = json.loads((out / "model/config.json").read_text())
    assert config["model"]["kind"] == "tabular" and config["features"] == FEATURES
    assert config["input"]["shape"] == ["batch", len(config["features"])] and config["output"]["shape"] == ["batch"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"metrics", "fairness", "gates", "training"} <= set(metrics)
    assert {"steps", "resumed_from_step", "world_size", "samples_per_second"} <= set(metrics["training"])


def test_the_model_card_has_every_field_the_readme_lists(laptop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = laptop / "out" / "try-2"
    if not (out / "model_card.json").exists():
        assert (
            in_dir(
                laptop, ["--config", str(SAMPLE), "--train.steps", "20", "--run.output_uri", "out/try-2"], monkeypatch
            )
            == 0
        )
    card = json.loads((out / "model_card.json").read_text())
    rows = table("### Model card")
    assert set(rows) == set(card)
    assert card["schema_version"] == "1.0" and card["model"]["framework"] == f"torch {torch.__version__.split('+')[0]}"
    assert f"`{card['model']['framework']}`" in rows["model"]
    for field, value in card.items():
        names = names_outside_parentheses(rows[field]) - {"null"}
        if not names:  # free-form (metrics, description, ...)
            continue
        if isinstance(value, dict):
            assert names == set(value), field
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            assert all(names == set(item) for item in value), field
    assert card["status"] in {"candidate", "rejected"} and card["risk_tier"] in {"minimal", "limited", "high"}
    assert set(rows["gates"].split("(", 1)[1].replace("`", "").rstrip(")").split(", ")) == set(
        card["gates"]["checks"][0]
    )


def test_the_commit_falls_back_to_git_rev_parse_head(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("ML_PLATFORM_CODE_VERSION", "ML_PLATFORM_IMAGE", "ML_PLATFORM_JOB_ID"):
        monkeypatch.delenv(key, raising=False)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert code_version() == {"git_commit": head.stdout.strip(), "image": "unknown", "training_job": "local"}
    monkeypatch.setenv("ML_PLATFORM_CODE_VERSION", "abc1234")
    assert code_version()["git_commit"] == "abc1234"


# ---------------------------------------------------------------------------------------- "### The image"


def test_the_image_is_the_readmes_base_uid_entrypoint_and_cuda_torch_by_default() -> None:
    text = (REPO / "workloads/training/Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))
    assert f"Base `{args['PYTHON_IMAGE']}`" in README
    # torch from PyPI by default: the CUDA build of the version the workloads extra pins
    assert args["TORCH_INDEX_URL"] == "https://pypi.org/simple"
    locked = (REPO / "workloads/training/requirements.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", locked, flags=re.MULTILINE) and "torch 2.13.0" in README
    assert re.search(r"^USER 10001(:10001)?$", text, flags=re.MULTILINE)
    assert re.search(r"HOME=/tmp", text)  # only /tmp needs to be writable
    assert 'ENTRYPOINT ["python", "-m", "workloads.training"]' in text
    assert "# " in locked.splitlines()[0] and "pip install --dry-run" in locked  # the regenerating command


def test_the_reference_training_jobs_run_torchrun_on_the_module() -> None:
    """The README: "a TrainJob runs `torchrun … -m workloads.training --config …`" (the dev stacks' sample job)."""
    import yaml

    for stack in ("aws-dev", "gcp-dev"):
        doc = yaml.safe_load((REPO / f"stacks/Pulumi.{stack}.yaml").read_text())
        [job] = doc["config"]["ml-platform:platform"]["trainingJobs"]
        assert job["command"] == ["torchrun"]
        args = job["args"]
        assert args[args.index("-m") + 1] == "workloads.training" and "--config" in args


# ------------------------------------------------------------------------------------ the directory table


@pytest.mark.parametrize(
    ("module", "argv", "expected"),
    [
        ("workloads.serving", ["--help"], ["--model_name", "--model_dir"]),
        ("workloads.features", ["--help"], ["apply", "materialize", "online"]),
        (
            "workloads.monitoring",
            ["drift", "--help"],
            ["--reference", "--payloads", "--out", "--window-hours", "--push"],
        ),
        ("workloads.rollouts", ["analyze", "--help"], ["--prometheus", "--namespace", "--model", "--act"]),
    ],
)
def test_the_commands_in_the_directory_table_take_the_quoted_options(
    module: str, argv: list[str], expected: list[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for word in expected:
        assert word in proc.stdout, (module, word)
    row = next(line for line in README.splitlines() if f"python -m {module}" in line)
    for word in expected:
        assert word in row, (module, word)


def test_the_pipeline_steps_in_the_table_are_the_commands_steps() -> None:
    from workloads.pipelines.workflow import STEPS

    row = next(line for line in README.splitlines() if "python -m workloads.pipelines {" in line)
    listed = re.search(r"python -m workloads\.pipelines \{([a-z,]+)\}", row)
    assert listed and listed.group(1).split(",") == [*STEPS, "all"]


def test_stated_wall_clock_is_not_quoted_without_a_benchmark() -> None:
    """Timings in this README come from benchmarks/ and name the machine (issue 17 section 4)."""
    for match in re.finditer(r"about [\d.\u2013-]+ (?:minutes?|seconds?|s)\b", README):
        pytest.fail(f"unbenchmarked timing in workloads/README.md: {match.group(0)!r}")
    bench = section("### Tests and benchmarks")
    assert "2 CPU cores" in bench and "24 GiB" in bench and "Python 3.11" in bench and "no GPU" in bench
    assert "median" in bench
    for script in re.findall(r"python (benchmarks/\w+\.py)", bench):
        assert (REPO / script).exists(), script
