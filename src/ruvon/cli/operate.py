"""Steering one workflow: ``resume``, ``approve``, ``reject``, ``retry``, ``cancel``."""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ruvon.cli.app import workflow_command
from ruvon.cli.common import (
    DEFAULT_DB,
    AppDirOption,
    ConfigDirOption,
    DbOption,
    ExitCode,
    JsonOption,
    exit_for,
    import_from,
    json_object,
    known_id,
    make_builder,
    opened_store,
    print_json,
    run,
    text_option,
    usage,
)
from ruvon.cli.progress import Progress
from ruvon.cli.render import outcome, summary
from ruvon.status import WorkflowStatus as S

if TYPE_CHECKING:
    from ruvon.workflow import Workflow

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The workflow id")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who decides [default: the user running ruvon]")
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in the journal)")]


def operate(
    workflow_id: str,
    db: str,
    config_dir: Path | None,
    app_dir: Path,
    as_json: bool,
    action: Callable[[Workflow], Awaitable[Any]],
) -> dict[str, Any]:
    """Load the workflow, apply ``action`` with live progress, print how it stands."""
    import_from(app_dir)

    async def main() -> dict[str, Any]:
        known_id(workflow_id)  # before the database: an id no store can hold is not found
        async with opened_store(db) as store:
            builder = make_builder(
                config_dir, store, workflow_observer=None if as_json else Progress()
            )
            wf = await builder.load_workflow(workflow_id)
            await action(wf)
            if wf.cancel_requested and not as_json:
                typer.echo("cancellation requested: the runner advancing it stops at its next step")
            elif not as_json:
                for line in outcome(wf):
                    typer.echo(line)
            return summary(wf)

    result = run(main)
    if as_json:
        print_json(result)
    return result


@workflow_command("resume")
def resume(
    workflow_id: IdArgument,
    user_input: Annotated[
        str | None,
        typer.Option("--input", "-i", help="The input: a JSON object, or @FILE"),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Read the input (JSON) from this file")
    ] = None,
    go: Annotated[
        bool,
        typer.Option(
            "--run/--step",
            "--auto/--no-auto",
            help="Go on until it finishes or waits again. --step: stop where one "
            "next_step() call stops, after the step and the steps automate_next: true "
            "chains to it",
        ),
    ] = True,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Continue a workflow: one that waits for input (PAUSED, WAITING_HUMAN,
    WAITING_CHILD_HUMAN_INPUT) with --input, or an ACTIVE one no runner is advancing (started
    without --run, or stopped between steps).

    --step runs what one next_step() call of a program runs: that step and, as long as the
    step just run has automate_next: true (its definition says the next one follows at once),
    the step after it; then the workflow stays ACTIVE at the next step (unless it waits,
    failed or finished), and 'ruvon resume ID' goes on from there."""

    async def action(wf: Workflow) -> None:
        data = json_object(user_input, input_file, "--input")
        if wf.status is S.ACTIVE:
            if data is not None:
                raise usage(f"workflow '{wf.id}' is ACTIVE, not waiting for input", "drop --input")
            await (wf.run() if go else wf.next_step())
            return
        await wf.resume(data or {})
        if go:
            await wf.run()

    result = operate(workflow_id, db, config_dir, app_dir, as_json, action)
    exit_for(result["status"])


def _decide(
    approve: bool, by: str | None, reason: str | None
) -> Callable[[Workflow], Awaitable[Any]]:
    decided_by = by or getpass.getuser()

    async def action(wf: Workflow) -> None:
        text_option(by, "--by")
        text_option(reason, "--reason")
        if approve:
            await wf.approve_compensation(decided_by=decided_by, reason=reason)
        else:
            await wf.reject_compensation(decided_by=decided_by, reason=reason)

    return action


@workflow_command("approve")
def approve(
    workflow_id: IdArgument,
    by: ByOption = None,
    reason: ReasonOption = None,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Approve the compensation a WAITING_COMPENSATION_APPROVAL workflow waits on; the unwind
    goes on."""
    result = operate(workflow_id, db, config_dir, app_dir, as_json, _decide(True, by, reason))
    _unwound(result["status"])


@workflow_command("reject")
def reject(
    workflow_id: IdArgument,
    by: ByOption = None,
    reason: ReasonOption = None,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Reject it: the step stays as it is (recorded with who and why); the unwind goes on with
    the other compensations."""
    operate(workflow_id, db, config_dir, app_dir, as_json, _decide(False, by, reason))


@workflow_command("retry")
def retry(
    workflow_id: IdArgument,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Run a failed workflow again: the failed step (FAILED, FAILED_CHILD_WORKFLOW), or the
    failed compensations (COMPENSATION_FAILED)."""

    async def action(wf: Workflow) -> None:
        await wf.retry()

    result = operate(workflow_id, db, config_dir, app_dir, as_json, action)
    exit_for(result["status"])


@workflow_command("cancel")
def cancel(
    workflow_id: IdArgument,
    reason: ReasonOption = None,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Cancel a workflow; in saga mode its completed steps are compensated first."""

    async def action(wf: Workflow) -> None:
        await wf.cancel(text_option(reason, "--reason") or "cancelled from the command line")

    result = operate(workflow_id, db, config_dir, app_dir, as_json, action)
    _unwound(result["status"])


def _unwound(status: str) -> None:
    """After an operation whose normal end is an unwind (approve, cancel): exit 1 only when a
    compensation failed."""
    if status == S.COMPENSATION_FAILED:
        raise typer.Exit(ExitCode.FAILED)
