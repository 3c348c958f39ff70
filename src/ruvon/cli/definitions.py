"""``ruvon validate`` and ``ruvon graph``: the definitions, without running anything."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ruvon.cli.app import app
from ruvon.cli.common import (
    DEFAULT_DB,
    AppDirOption,
    ConfigDirOption,
    DbOption,
    ExitCode,
    JsonOption,
    abort,
    import_from,
    make_builder,
    print_json,
    run,
    usage,
)
from ruvon.cli.render import printable
from ruvon.errors import DefinitionError


def _where(config_dir: Path | None) -> Path:
    return config_dir or Path(os.environ.get("RUVON_CONFIG_DIR") or "config")


def _problem(exc: DefinitionError) -> dict[str, object]:
    return {
        "file": exc.file,
        "line": exc.line,
        "workflow_type": exc.workflow_type,
        "step": exc.step,
        "key": exc.key,
        "message": exc.detail,
        "text": str(exc),
    }


@app.command("validate")
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A definition file, a registry file or a directory [default: ./config]"
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Check workflow definitions: every problem at once, each with its file and line."""
    from ruvon.definition.problems import check_path

    import_from(app_dir)
    target = path or _where(config_dir)
    if not target.exists():
        abort(
            usage(
                f"'{target}' does not exist",
                "give the definitions' directory or file, or set --config-dir",
            )
        )
    report = check_path(target)
    if as_json:
        print_json(
            {
                "ok": not report.problems,
                "files": report.files,
                "definitions": [
                    {"workflow_type": t, "workflow_version": v, "file": f}
                    for t, v, f in report.definitions
                ],
                "problems": [_problem(p) for p in report.problems],
            }
        )
    elif report.problems:
        for problem in report.problems:
            line = printable(" ".join(str(problem).split()))
            typer.secho(line, fg=typer.colors.RED, err=True)
        bad = len({p.file for p in report.problems})
        typer.echo(
            f"{len(report.problems)} problem(s) in {bad} of {len(report.files)} file(s)", err=True
        )
    else:
        typer.echo(printable(f"ok: {len(report.definitions)} definition(s) in {target}"))
        for workflow_type, version, file in report.definitions:
            typer.echo(printable(f"  {workflow_type} {version} ({file})"))
    if report.problems:
        raise typer.Exit(ExitCode.FAILED)


@app.command("graph")
def graph(
    workflow_type: Annotated[str, typer.Argument(metavar="TYPE", help="The workflow type")],
    workflow_version: Annotated[
        str | None, typer.Option("--workflow-version", help="A version [default: the highest]")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Wrap the chart in a ```mermaid block")
    ] = False,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Print a workflow type as a Mermaid flowchart; compensations are dashed back-edges."""
    from ruvon.definition.mermaid import flowchart
    from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

    import_from(app_dir)

    async def main() -> tuple[str, str, str]:
        builder = make_builder(config_dir, InMemoryPersistenceProvider())
        definition = builder.get_definition(workflow_type, workflow_version)
        return definition.workflow_type, definition.workflow_version, flowchart(definition.spec)

    found_type, version, chart = run(main)
    if as_json:
        print_json({"workflow_type": found_type, "workflow_version": version, "mermaid": chart})
    elif markdown:
        typer.echo(f"```mermaid\n{chart}```")
    else:
        typer.echo(chart, nl=False)
