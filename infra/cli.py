"""`mlplat`: offline tools for a platform stack (no Pulumi CLI, credentials or network needed).

    mlplat plan --stack aws-dev                 # resource tree, counts by type, cost estimate
    mlplat plan --stack aws-prod --format json  # the machine-readable plan (a stable contract)
    mlplat catalog --cloud gcp                  # accelerators, machine types and list prices
    mlplat new-stack team-dev --from aws-dev    # fork a stack file
    mlplat demo                                 # local end-to-end demo: train, register, serve (the demo extra)
    mlplat check --all --format sarif -o policy.sarif   # both policy packs over every stack
    mlplat check --program ../other-project --stack-file ../other-project/Pulumi.dev.yaml
    mlplat check --stack aws-prod --render --charts tests/charts   # and over every chart's rendered objects
    mlplat render --stack aws-prod --charts tests/charts --output manifests/   # what `pulumi up` applies

Exit status: 0 on success, 2 on a usage or configuration error (one line on stderr); `check` exits
1 when any mandatory policy violation remains.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pulumi
import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import TyperException

from components import catalog
from infra import config as cfg

if TYPE_CHECKING:
    from policy.runner import StackReport

app = typer.Typer(
    name="mlplat",
    help="Offline tools for ml-platform stacks: plan, check, render, policies, catalog, new-stack, demo.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(StrEnum):
    table = "table"
    json = "json"


class CheckFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


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
    report = _policy_report(syn)

    if fmt is Format.json:
        text = plan_json(syn, cost, report)
        if output:
            output.write_text(text)
        else:
            sys.stdout.write(text)
        return
    if output:
        with output.open("w") as fh:
            plan_table(syn, cost, Console(file=fh, width=160, no_color=True, force_terminal=False), report)
    else:
        plan_table(syn, cost, _console(), report)


@app.command()
def render(
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="stack name: stacks/Pulumi.<NAME>.yaml")] = None,
    stack_file: Annotated[Path | None, typer.Option("--stack-file", help="path to a stack file")] = None,
    charts: Annotated[
        Path | None,
        typer.Option("--charts", help="directory of packaged charts (NAME-VERSION.tgz); default: Helm's repositories"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write platform.yaml and <release>.yaml here instead of stdout"),
    ] = None,
) -> None:
    """Write the manifests `pulumi up` would apply: every Helm release rendered by Helm at its pinned chart
    version with the stack's values, and the platform's own Kubernetes objects."""
    from infra import manifests

    name, path = _resolve_stack(stack, stack_file)
    if charts is not None and not charts.is_dir():
        raise UserError(f"--charts {charts}: no such directory")
    _require_helm()
    syn = _synthesize(name, path)
    try:
        rendering = manifests.render_stack(syn, charts)
    except manifests.ManifestError as exc:
        raise UserError(exc.one_line()) from None
    if output is None:
        sys.stdout.write(manifests.stream(rendering))
        typer.echo(_render_summary(rendering), err=True)
        return
    written = manifests.write(rendering, output)
    table = Table(title=f"{name}: manifests in {output}", title_justify="left")
    for col in ("file", "objects", "what"):
        table.add_column(col, justify="right" if col == "objects" else "left")
    for w in written:
        table.add_row(w.file.name, str(w.objects), w.what)
    console = _console()
    console.print(table)
    console.print(_render_summary(rendering))


def _render_summary(rendering: Any) -> str:
    objects = len(rendering.platform) + sum(len(r.documents) for r in rendering.releases)
    return (
        f"{objects} objects: {len(rendering.platform)} of the platform's own, {len(rendering.releases)} Helm "
        f"releases (charts from {rendering.charts}; Helm {rendering.helm_version}, Kubernetes "
        f"{rendering.kube_version}) in {rendering.seconds:.1f}s"
    )


def _synthesize(name: str, path: Path) -> Any:
    from infra.synth import synthesize

    spec, config = cfg.load_stack_file(path)
    try:
        return synthesize(name, spec, config)
    except pulumi.RunError as exc:
        raise UserError(f"{cfg.display_path(path)}: {exc}") from None


def _policy_report(syn: Any, environment: str | None = None, **kwargs: Any) -> StackReport:
    """Both packs over a synthesized stack; bad pack config or waivers become one-line user errors."""
    from policy import runner, waivers

    try:
        if environment is None:
            return runner.check_synthesis(syn, **kwargs)
        kwargs.setdefault("lookups", getattr(syn, "lookups", None))
        return runner.check_resources(getattr(syn, "stack", "stack"), environment, runner.from_synthesis(syn), **kwargs)
    except (runner.PolicyConfigError, waivers.WaiverError) as exc:
        raise UserError(str(exc)) from None


def _pack_configs(values: list[str]) -> dict[str, Path]:
    from policy import runner

    names = {p.name: p.name for p in runner.load_packs()}
    names.update({p.directory.name: p.name for p in runner.load_packs()})
    out: dict[str, Path] = {}
    for value in values:
        pack, sep, file = value.partition("=")
        if not sep or pack not in names:
            raise UserError(f"--policy-pack-config takes PACK=FILE with PACK one of {', '.join(sorted(names))}")
        out[names[pack]] = Path(file)
    return out


@app.command()
def check(
    stacks: Annotated[
        list[str] | None, typer.Option("--stack", "-s", help="stack name (repeatable): stacks/Pulumi.<NAME>.yaml")
    ] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="every stack under stacks/")] = False,
    program: Annotated[
        Path | None, typer.Option("--program", help="any Pulumi Python program directory, run under the same mocks")
    ] = None,
    stack_file: Annotated[
        Path | None, typer.Option("--stack-file", help="a platform stack file, or with --program its stack config")
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option("--environment", "-e", help="enforcement profile (dev, staging, prod); default: the stack's"),
    ] = None,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="table, json or sarif")] = CheckFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")] = None,
    waivers_file: Annotated[
        Path | None, typer.Option("--waivers", help="waiver file (default: policy/waivers.yaml)")
    ] = None,
    pack_config: Annotated[
        list[str] | None,
        typer.Option("--policy-pack-config", help="PACK=FILE: replace a pack's per-environment config (repeatable)"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list advisory violations too")] = False,
    deploy: Annotated[
        bool,
        typer.Option(
            "--deploy",
            help="the stack is about to be deployed: deploy gates (example values left in the stack) block too",
        ),
    ] = False,
    render_charts: Annotated[
        bool,
        typer.Option(
            "--render",
            help="the security pack's Kubernetes rules also check every Helm release's rendered objects (Helm)",
        ),
    ] = False,
    charts: Annotated[
        Path | None,
        typer.Option("--charts", help="with --render: directory of packaged charts (NAME-VERSION.tgz)"),
    ] = None,
) -> None:
    """Evaluate the security, responsible-AI and deploy-readiness packs offline; exit 1 on any mandatory
    violation."""
    from infra.synth import ProgramError, synthesize, synthesize_program
    from policy import report as render
    from policy import runner, waivers

    modes = sum([bool(stacks), all_stacks, program is not None, stack_file is not None and program is None])
    if modes != 1:
        raise UserError("give one of --stack NAME (repeatable), --all, --stack-file FILE or --program DIR")
    if environment is not None and environment not in ("dev", "staging", "prod"):
        raise UserError(f"--environment must be dev, staging or prod (got '{environment}')")
    if charts is not None and not render_charts:
        raise UserError("--charts goes with --render")
    if render_charts and program is not None:
        raise UserError("--render renders a platform stack's Helm releases: use it with --stack, --all or --stack-file")
    if charts is not None and not charts.is_dir():
        raise UserError(f"--charts {charts}: no such directory")
    if render_charts:
        _require_helm()
    try:
        waiver_set = waivers.load(waivers_file)
    except waivers.WaiverError as exc:
        raise UserError(str(exc)) from None
    options = {"waivers": waiver_set, "config_files": _pack_configs(pack_config or []), "deploying": deploy}
    packs = runner.load_packs()
    reports = []
    stack_files: dict[str, str] = {}
    if program is not None:
        config: dict = {}
        name = "offline"
        if stack_file is not None:
            config, name = _program_config(stack_file)
            stack_files[name] = cfg.display_path(stack_file)
        try:
            syn = synthesize_program(program, name, config)
        except ProgramError as exc:
            raise UserError(str(exc)) from None
        except Exception as exc:  # the program's own error: one line, as `pulumi preview` would fail
            raise UserError(f"{program}: the program failed: {_one_line(exc)}") from None
        reports.append(_policy_report(syn, environment or _program_environment(config), **options))
    else:
        targets: list[tuple[str, Path]] = []
        if stack_file is not None:
            targets.append(_resolve_stack(None, stack_file))
        else:
            names = cfg.available_stacks() if all_stacks else list(stacks or [])
            targets.extend(_resolve_stack(n, None) for n in names)
        for name, path in targets:
            spec, config = cfg.load_stack_file(path)
            try:
                syn = synthesize(name, spec, config)
            except pulumi.RunError as exc:
                raise UserError(f"{cfg.display_path(path)}: {exc}") from None
            stack_files[name] = cfg.display_path(path)
            rendered = _rendered_resources(syn, charts) if render_charts else []
            reports.append(_policy_report(syn, environment, **options, rendered=rendered))

    if fmt is CheckFormat.table:
        if output:
            with output.open("w") as fh:
                render.print_table(reports, Console(file=fh, width=160, no_color=True), verbose)
        else:
            render.print_table(reports, _console(), verbose)
    else:
        text = (
            render.to_json(reports, packs) if fmt is CheckFormat.json else render.to_sarif(reports, packs, stack_files)
        )
        if output:
            output.write_text(text)
        else:
            sys.stdout.write(text)
    if any(r.failed for r in reports):
        raise typer.Exit(1)


def _require_helm() -> None:
    from infra import manifests

    try:
        manifests.require_helm()
    except manifests.ManifestError as exc:
        raise UserError(exc.one_line()) from None


def _rendered_resources(syn: Any, charts: Path | None) -> list[Any]:
    """The objects every Helm release of the stack installs, as policy resources under their release."""
    from infra import manifests

    try:
        return manifests.policy_resources(syn, manifests.render_stack(syn, charts))
    except manifests.ManifestError as exc:
        raise UserError(exc.one_line()) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _program_config(path: Path) -> tuple[dict, str]:
    import yaml

    if not path.is_file():
        raise UserError(f"{path}: no such stack file")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise UserError(f"{path}: not valid YAML") from None
    config = doc.get("config") if isinstance(doc, dict) else None
    if config is not None and not isinstance(config, dict):
        raise UserError(f"{path}: 'config' must be a mapping")
    return dict(config or {}), _stack_name(path)


def _program_environment(config: dict) -> str:
    """A program's enforcement profile: its `environment` config if it has one, else prod (strictest)."""
    for key, value in config.items():
        if key.split(":")[-1] == "environment" and value in ("dev", "staging", "prod"):
            return str(value)
    return "prod"


class RulesFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command("policies")
def list_policies(
    fmt: Annotated[RulesFormat, typer.Option("--format", "-f", help="table, json or markdown")] = RulesFormat.table,
) -> None:
    """List the rules of both policy packs: id, severity, default level, compliance mapping."""
    import json

    from policy import report as render
    from policy import runner

    packs = runner.load_packs()
    if fmt is RulesFormat.json:
        sys.stdout.write(json.dumps(render.rule_rows(packs), indent=2) + "\n")
        return
    if fmt is RulesFormat.markdown:
        sys.stdout.write(render.rules_markdown(packs))
        return
    table = Table(title="Policy rules", title_justify="left")
    for col in ("pack", "id", "severity", "default", "prod-only", "compliance"):
        table.add_column(col, overflow="fold")
    for row in render.rule_rows(packs):
        table.add_row(
            row["pack"].removeprefix("ml-platform-"),
            row["id"],
            row["severity"],
            row["level"],
            row["prod_only"],
            row["compliance"],
        )
    _console().print(table)


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


@app.command("demo")
def demo(
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="where the sqlite db, child logs and data copies go (default: a new temp dir)"),
    ] = None,
    keep_serving: Annotated[
        bool, typer.Option("--keep-serving", help="leave S3, MLflow and the model server up until Ctrl-C")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table for people, json for tools")] = Format.table,
    rows: Annotated[int, typer.Option("--rows", min=1, max=50, help="held-out rows to send, one request each")] = 5,
    steps: Annotated[int, typer.Option("--steps", min=1, help="training steps (300 passes every gate)")] = 300,
) -> None:
    """Local end-to-end demo: S3 (moto), MLflow, train, register, serve, infer; needs the demo extra."""
    from workloads.demo import main as run_demo

    code = run_demo(workdir=workdir, keep_serving=keep_serving, fmt=fmt.value, rows=rows, steps=steps)
    if code:
        raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 (one return per kind of outcome)
    """Console entry point: one-line errors and exit status 2 for anything the user can fix."""
    try:
        code = app(args=argv, prog_name="mlplat", standalone_mode=False)
        if isinstance(code, int):  # `typer.Exit(n)` comes back as a return value outside standalone mode
            return code
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
