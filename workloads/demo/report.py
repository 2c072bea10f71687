"""Rendering the demo's summary: rich tables for people, JSON for tools (the same dict)."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from workloads.demo.services import CREDENTIALS


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2) + "\n"


def _kv_table(title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _predictions(summary: dict[str, Any]) -> Group:
    table = Table(title="Predictions: held-out rows, one OIP v2 request each", title_justify="left", box=box.SIMPLE)
    for col, justify in (
        ("request id", "left"),
        ("group", "left"),
        ("label", "right"),
        ("P(label=1) served", "right"),
        ("direct in-process", "right"),
        ("equal", "center"),
        ("decision", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for p in summary["predictions"]:
        table.add_row(
            str(p["id"]),
            p["group"],
            str(p["label"]),
            f"{p['probability']:.6f}",
            f"{p['direct']:.6f}",
            "[green]yes[/]" if p["equal"] else "[red]NO[/]",
            p["decision"],
        )
    n = len(summary["predictions"])
    verdict = (
        Text(f"All {n} answers equal the model's direct output on the same rows, bit for bit.", style="green")
        if summary["all_equal"]
        else Text("Some answers differ from the model's direct output.", style="bold red")
    )
    return Group(table, verdict)


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _model_card(summary: dict[str, Any]) -> Panel:
    card = summary["model_card"]
    model = summary["model"]
    info = _kv_table()
    arch = card["model"]["architecture"]
    shape = "→".join(str(x) for x in [len(card["model"]["inputs"] or []), *arch.get("hidden", []), 1])
    info.add_row(
        "model",
        f"{card['model']['name']} version {model['version']} (alias '{model['alias']}') · {card['model']['kind']} "
        f"MLP {shape}, {card['model']['parameters']:,} parameters · {card['model']['framework']}",
    )
    status_style = "green" if card["status"] == "candidate" else "red"
    gates = "every gate passed" if card["gates"]["passed"] else "a gate failed"
    info.add_row("status", f"[{status_style}]{card['status']}[/] ({gates}; promotion beyond candidate is a human step)")
    info.add_row("risk tier", f"[bold]{card['risk_tier']}[/] (EU AI Act)")
    info.add_row("intended use", card["intended_use"]["primary"])
    if card["intended_use"]["out_of_scope"]:
        info.add_row("out of scope", " · ".join(card["intended_use"]["out_of_scope"]))
    owner = card["owner"]
    info.add_row("owner", f"{owner['team']} <{owner['contact']}>" if owner.get("contact") else owner["team"])
    info.add_row("metrics", " · ".join(f"{k} {_fmt(v)}" for k, v in card["metrics"].items()))
    fairness = card.get("fairness")
    if fairness:
        t = fairness["thresholds"]
        info.add_row(
            "fairness",
            f"across '{fairness['sensitive_attribute']}' ({fairness['method']}): "
            f"demographic parity difference {fairness['demographic_parity_difference']:.4f} "
            f"(gate ≤ {t['demographic_parity_difference']}) · equalized odds difference "
            f"{fairness['equalized_odds_difference']:.4f} (gate ≤ {t['equalized_odds_difference']})",
        )
    datasets = "; ".join(
        f"{d['role']} {d['uri']} ({d['rows']} rows, sha256 {d['sha256'][:12]}…)" for d in card["training_datasets"]
    )
    code = card["code_version"]
    info.add_row("lineage", f"data: {datasets}")
    info.add_row(
        "",
        f"code: git {code['git_commit'][:12]} · job {code['training_job']} · config sha256 "
        f"{card['training']['config_sha256'][:12]}… · MLflow run {model['run_id']}",
    )
    info.add_row(
        "",
        f"training: {card['training']['steps']} steps, batch {card['training']['global_batch_size']}, "
        f"{card['training']['device']} {card['training']['precision']}, seed {card['training']['seed']}, "
        f"finished {card['training']['finished_at']}",
    )
    if card["limitations"]:
        info.add_row("limitations", " · ".join(card["limitations"]))

    parts: list[Any] = [info]
    if fairness and fairness.get("by_group"):
        groups = Table(title="by group", title_justify="left", box=box.SIMPLE)
        for col in ("group", "count", "selection rate", "TPR", "FPR", "accuracy"):
            groups.add_column(col, justify="left" if col == "group" else "right")
        for name, g in fairness["by_group"].items():
            groups.add_row(
                name,
                f"{g['count']:.0f}",
                _fmt(g["selection_rate"], 3),
                _fmt(g["true_positive_rate"], 3),
                _fmt(g["false_positive_rate"], 3),
                _fmt(g["accuracy"], 3),
            )
        parts.append(groups)
    checks = Table(title="gates", title_justify="left", box=box.SIMPLE)
    for col in ("gate", "value", "rule", "result"):
        checks.add_column(col)
    for c in card["gates"]["checks"]:
        checks.add_row(
            c["name"],
            _fmt(c["value"]),
            f"{c['op']} {c['threshold']}",
            "[green]pass[/]" if c["passed"] else "[red]FAIL[/]",
        )
    parts.append(checks)
    return Panel(Group(*parts), title="Model card", title_align="left", expand=False)


def _locations(summary: dict[str, Any]) -> Table:
    loc = summary["locations"]
    model = summary["model"]
    t = _kv_table("Where everything lives")
    t.add_row("S3 endpoint", f"{loc['s3_endpoint']} (moto; in memory: gone when the demo stops)")
    t.add_row("buckets", " ".join(loc["buckets"].values()))
    t.add_row("training data", loc["train_data"])
    t.add_row("held-out data", loc["heldout_data"])
    t.add_row("checkpoints", "\n".join(loc["checkpoints"]) or "-")
    t.add_row("model artifact", loc["model_artifact"])
    t.add_row("weights", loc["weights"])
    t.add_row("model card", loc["model_card"])
    t.add_row("metrics", loc["metrics"])
    t.add_row("MLflow", f"{loc['mlflow_url']} (artifacts proxied to {loc['mlflow_artifacts']})")
    t.add_row("registered model", f"{model['name']} version {model['version']}, alias '{model['alias']}'")
    t.add_row("version page", loc["mlflow_model_version_url"])
    t.add_row("version source", str(loc["mlflow_source"]))
    t.add_row("model server", loc["server_url"])
    t.add_row("infer", loc["infer_url"])
    if loc.get("inference_logs"):
        objects = loc["inference_log_objects"]
        example = f"\ne.g. {objects[0]}" if objects else ""
        t.add_row("inference logs", f"{loc['inference_logs']} ({len(objects)} CloudEvents records){example}")
    t.add_row("work directory", loc["workdir"])
    t.add_row("process logs", "\n".join(f"{k}: {v}" for k, v in loc["logs"].items()))
    return t


def _timings(summary: dict[str, Any]) -> Table:
    t = Table(title="Timings (wall clock)", title_justify="left", box=box.SIMPLE)
    t.add_column("step")
    t.add_column("started at", justify="right")
    t.add_column("seconds", justify="right")
    for timing in sorted(summary["timings"], key=lambda x: x["started_at"]):
        t.add_row(timing["title"], f"+{timing['started_at']:.1f} s", f"{timing['seconds']:.1f}")
    t.add_row("[bold]total[/]", "", f"[bold]{summary['elapsed_seconds']:.1f}[/]")
    return t


def print_table(summary: dict[str, Any], console: Console) -> None:
    console.print(_predictions(summary))
    console.print(_model_card(summary))
    console.print(_locations(summary))
    loc = summary["locations"]
    if summary.get("serving"):
        console.print("[bold]Try it[/] (in another terminal):", highlight=False)
        console.print(loc["curl"], highlight=False, soft_wrap=True)
        creds = " ".join(f"{k}={v}" for k, v in CREDENTIALS.items())
        console.print(
            f"export AWS_ENDPOINT_URL={loc['s3_endpoint']} {creds} MLFLOW_TRACKING_URI={loc['mlflow_url']}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            "[bold]curl[/] (the servers are stopped now: run `mlplat demo --keep-serving` to try it):", highlight=False
        )
        console.print(loc["curl"], highlight=False, soft_wrap=True)
    if "timings" in summary:
        console.print(_timings(summary))
