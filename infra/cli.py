"""`mlplat`: offline tools for a platform stack (no Pulumi CLI, credentials or network needed).

    mlplat plan --stack aws-dev                 # resource tree, counts by type, cost estimate
    mlplat plan --stack aws-prod --format json  # the machine-readable plan (a stable contract)
    mlplat catalog --cloud gcp                  # accelerators, machine types and list prices
    mlplat new-stack team-dev --from aws-dev    # fork a stack file

Exit status: 0 on success, 2 on a usage or configuration error (one line on stderr).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pulumi
import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import TyperException

from components import catalog
from infra import config as cfg

app = typer.Typer(
    name="mlplat",
    help="Offline tools for ml-platform stacks: plan, catalog, new-stack.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(StrEnum):
    table = "table"
    json = "json"


class UserError(Exception):
    """An error the user can fix: printed as one line, exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message if message.startswith(("stacks/", "/")) else f"mlplat: {message}")


def _console() -> Console:
    """Full width on a terminal; 160 columns when piped, so nothing is cut."""
    return Console(width=None if sys.stdout.isatty() else 160)


def _stack_name(path: Path) -> str:
    match = re.fullmatch(r"Pulumi\.(.+)\.yaml", path.name)
    return match.group(1) if match else path.stem


def _resolve_stack(stack: str | None, stack_file: Path | None) -> tuple[str, Path]:
    if (stack is None) == (stack_file is None):
        raise UserError("give exactly one of --stack NAME or --stack-file PATH")
    if stack is not None:
        return stack, cfg.stack_file(stack)
    assert stack_file is not None
    return _stack_name(stack_file), stack_file


@app.command()
def plan(
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="stack name: stacks/Pulumi.<NAME>.yaml")] = None,
    stack_file: Annotated[Path | None, typer.Option("--stack-file", help="path to a stack file")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table for people, json for tools")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")] = None,
) -> None:
    """Synthesize a stack offline and show what `pulumi up` would create, with its cost."""
    from infra.cost import estimate
    from infra.render import plan_json, plan_table
    from infra.synth import synthesize

    name, path = _resolve_stack(stack, stack_file)
    spec, config = cfg.load_stack_file(path)
    try:
        syn = synthesize(name, spec, config)
    except pulumi.RunError as exc:
        raise UserError(f"{cfg.display_path(path)}: {exc}") from None
    cost = estimate(syn)

    if fmt is Format.json:
        text = plan_json(syn, cost)
        if output:
            output.write_text(text)
        else:
            sys.stdout.write(text)
        return
    if output:
        with output.open("w") as fh:
            plan_table(syn, cost, Console(file=fh, width=160, no_color=True, force_terminal=False))
    else:
        plan_table(syn, cost, _console())


@app.command("catalog")
def show_catalog(
    cloud: Annotated[str | None, typer.Option("--cloud", help="aws or gcp (default: both)")] = None,
) -> None:
    """List the GPU catalog: accelerators, machine types per GPU count, and list prices."""
    clouds = [cloud] if cloud else list(catalog.CLOUDS)
    for c in clouds:
        if c not in catalog.CLOUDS:
            raise UserError(f"unknown cloud '{c}' (known: {', '.join(catalog.CLOUDS)})")
    table = Table(title="GPU catalog (on-demand list prices, USD/hour)", title_justify="left")
    for col in (
        "accelerator",
        "memory",
        "cloud",
        "machine",
        "GPUs",
        "vCPUs",
        "memory GiB",
        "USD/h",
        "spot x (est.)",
        "price as of",
    ):
        table.add_column(col)
    for accel in catalog.ACCELERATORS.values():
        for c in clouds:
            offering = accel.offerings.get(c)
            if offering is None:
                continue
            for m in offering.machine_types:
                table.add_row(
                    accel.name,
                    f"{accel.gpu_memory_gib} GiB",
                    c,
                    m.name,
                    str(m.gpus),
                    str(m.vcpus),
                    f"{m.memory_gib:g}",
                    f"{m.on_demand_usd_hour:,.2f}",
                    f"{offering.spot_price_factor:.2f}",
                    f"{offering.price_region} {offering.price_date}",
                )
    _console().print(table)


@app.command("new-stack")
def new_stack(
    name: Annotated[str, typer.Argument(help="new stack name, e.g. team-dev")],
    source: Annotated[str, typer.Option("--from", help="stack to copy")] = "aws-dev",
) -> None:
    """Fork a stack file: copy stacks/Pulumi.<from>.yaml to stacks/Pulumi.<name>.yaml."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", name):
        raise UserError(f"'{name}' is not a valid stack name (lowercase letters, digits, '-')")
    src, dst = cfg.stack_file(source), cfg.stack_file(name)
    if not src.is_file():
        raise UserError(f"no stack '{source}' to copy (stacks: {', '.join(cfg.available_stacks())})")
    if dst.exists():
        raise UserError(f"{cfg.display_path(dst)} already exists")
    today = dt.date.today().isoformat()
    dst.write_text(f"# Forked from {src.name} on {today}: edit, then `mlplat plan --stack {name}`.\n" + src.read_text())
    cfg.load_stack_file(dst)  # the copy must validate as it stands
    typer.echo(f"wrote {cfg.display_path(dst)}")
    typer.echo(
        f"next: edit it, `mlplat plan --stack {name}`, then `pulumi stack init {name}` and `pulumi up -s {name}`"
    )


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors and exit status 2 for anything the user can fix."""
    try:
        app(args=argv, prog_name="mlplat", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except TyperException as exc:  # bad option, missing argument, ...
        print(f"mlplat: {exc.format_message()}", file=sys.stderr)
        return 2
    except (cfg.ConfigError, UserError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except typer.Abort:
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
