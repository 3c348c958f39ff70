"""``ruvon start`` and ``ruvon run``: create a workflow, and drive it with live progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ruvon.cli.app import app, workflow_command
from ruvon.cli.common import (
    DEFAULT_DB,
    AppDirOption,
    ConfigDirOption,
    DbOption,
    JsonOption,
    exit_for,
    import_from,
    json_object,
    make_builder,
    opened_store,
    print_json,
    run,
    text_option,
    usage,
)
from ruvon.cli.progress import Progress
from ruvon.cli.render import outcome, printable, summary

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.workflow import Workflow

DataOption = Annotated[
    str | None,
    typer.Option(
        "--data", "-d", help="Initial data: a JSON object, or @FILE to read it from a file"
    ),
]
DataFileOption = Annotated[
    Path | None, typer.Option("--data-file", help="Read the initial data (JSON) from this file")
]
SagaOption = Annotated[
    bool,
    typer.Option("--saga", help="Turn saga mode on (compensate completed steps on failure)"),
]


async def drive(wf: Workflow, as_json: bool) -> None:
    """Advance ``wf`` until it finishes or waits, then say how it stands."""
    await wf.run()
    if not as_json:
        for line in outcome(wf):
            typer.echo(line)


async def _start(
    builder: WorkflowBuilder,
    workflow_type: str,
    data: dict[str, Any] | None,
    *,
    saga: bool,
    go: bool,
    as_json: bool,
    **options: Any,
) -> Workflow:
    wf = await builder.create_workflow(workflow_type, data, **options)
    if saga and not wf.saga_mode:
        wf.enable_saga_mode()
    if not go and (wf.saga_flag_pending or wf.lease_expires_at is not None):
        # the settings written now, and the creator's lease let go before this process exits:
        # 'ruvon resume ID' may drive it at once (a saga workflow's lease would hold it 30 s)
        await wf.commit(wf.status, reason="created", release=True)
    if not as_json:
        typer.echo(wf.id)
    if go:
        await drive(wf, as_json)
    return wf


@workflow_command("start")
def start(
    workflow_type: Annotated[str, typer.Argument(metavar="TYPE", help="The workflow type")],
    data: DataOption = None,
    data_file: DataFileOption = None,
    saga: SagaOption = False,
    go: Annotated[
        bool,
        typer.Option(
            "--run", "--auto", help="Run it now, showing each step, until it finishes or waits"
        ),
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="A second start with this key returns the first"),
    ] = None,
    workflow_version: Annotated[
        str | None, typer.Option("--workflow-version", help="A version [default: the highest]")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only check the type and the data; store nothing")
    ] = False,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Start a workflow and print its id; --run also runs it, with live progress."""
    import_from(app_dir)

    async def main() -> dict[str, Any]:
        initial = json_object(data, data_file, "--data")
        text_option(idempotency_key, "--idempotency-key")
        if dry_run:
            return await _dry_run(config_dir, workflow_type, initial, workflow_version, as_json)
        async with opened_store(db, must_exist=False) as store:
            observer = Progress() if go and not as_json else None
            builder = make_builder(config_dir, store, workflow_observer=observer)
            wf = await _start(
                builder,
                workflow_type,
                initial,
                saga=saga,
                go=go,
                as_json=as_json,
                idempotency_key=idempotency_key,
                workflow_version=workflow_version,
            )
            return summary(wf)

    result = run(main)
    if as_json:
        print_json(result)
    if go:
        exit_for(result["status"])


async def _dry_run(
    config_dir: Path | None,
    workflow_type: str,
    data: dict[str, Any] | None,
    version: str | None,
    as_json: bool,
) -> dict[str, Any]:
    from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

    builder = make_builder(config_dir, InMemoryPersistenceProvider())
    wf = await builder.create_workflow(workflow_type, data, workflow_version=version)
    if not as_json:
        typer.echo(
            printable(
                f"ok: {wf.workflow_type} {wf.workflow_version} would start at "
                f"{wf.current_step_name} (nothing stored)"
            )
        )
    return {**summary(wf), "id": None, "dry_run": True}


@app.command("run")
def run_file(
    file: Annotated[Path, typer.Argument(help="A workflow definition YAML file")],
    data: DataOption = None,
    data_file: DataFileOption = None,
    saga: SagaOption = False,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Run the workflow a YAML file defines, with live progress, until it finishes or waits.

    The types it starts (SUB_WORKFLOW, FIRE_AND_FORGET) are looked up in --config-dir when
    it is given. Exit code 1 when the workflow ends failed or cancelled.
    """
    import_from(app_dir)

    async def main() -> dict[str, Any]:
        if not file.is_file():
            raise usage(f"no definition file '{file}'", "give the path of a workflow YAML file")
        initial = json_object(data, data_file, "--data")
        from ruvon.definition import load_definition_file

        definition = load_definition_file(file)
        async with opened_store(db, must_exist=False) as store:
            builder = make_builder(
                None,
                store,
                workflow_registry=_registry(file, definition.workflow_type, config_dir),
                workflow_observer=None if as_json else Progress(),
            )
            wf = await _start(
                builder,
                definition.workflow_type,
                initial,
                saga=saga,
                go=True,
                as_json=as_json,
                workflow_version=definition.workflow_version,
            )
            return summary(wf)

    result = run(main)
    if as_json:
        print_json(result)
    exit_for(result["status"])


def _registry(file: Path, workflow_type: str, config_dir: Path | None) -> dict[str, Any]:
    """``file``'s definition, plus the highest version of each type in ``config_dir``."""
    entries: dict[str, Any] = {}
    if config_dir is not None:
        from ruvon.definition import discover

        found = discover(config_dir)
        for other in found.types():
            if other != workflow_type:
                entries[other] = found.get(other).source
    entries[workflow_type] = str(file)
    return entries
