"""``ruvon recover``: continue the workflows whose runner died."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ruvon.cli.app import app
from ruvon.cli.common import (
    DEFAULT_DB,
    MAX_ROWS,
    MAX_SECONDS,
    AppDirOption,
    ConfigDirOption,
    DbOption,
    JsonOption,
    finite,
    import_from,
    make_builder,
    opened_store,
    print_json,
    run,
)
from ruvon.cli.render import printable, step_name
from ruvon.errors import RuvonError

if TYPE_CHECKING:
    from ruvon.recovery import RecoveryReport


@app.command("recover")
def recover(
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_ROWS, help="At most this many workflows")
    ] = 1000,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="Workflows recovered at once (default 10)"),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            max=MAX_SECONDS,
            callback=finite,
            help="Lease taken on each workflow recovered, seconds (default 30)",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for live leases to expire, then recover those too")
    ] = False,
    include_failed: Annotated[
        bool, typer.Option("--include-failed", help="Also retry workflows marked failed before")
    ] = False,
    list_failed: Annotated[
        bool,
        typer.Option("--list-failed", help="Only list the workflows marked failed, with why"),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Continue workflows whose runner died (their lease expired).

    A workflow that can not be continued is marked failed and reported; the others go on.
    """
    import_from(app_dir)
    from ruvon import recovery

    if list_failed:
        _list_failed(db, limit, as_json)
        return

    async def announce_then_sleep(seconds: float) -> None:
        # on stderr with --json: stdout is the JSON alone
        typer.echo(f"waiting {seconds:.1f}s for live leases to expire", err=as_json)
        await asyncio.sleep(seconds)

    async def main() -> recovery.RecoveryReport:
        async with opened_store(db, must_exist=False) as store:
            options: dict[str, Any] = {}
            if lease_seconds is not None:
                options["lease_seconds"] = lease_seconds
            return await recovery.recover_waiting(
                make_builder(config_dir, store, **options),
                store,
                limit=limit,
                concurrency=concurrency or recovery.DEFAULT_CONCURRENCY,
                include_failed=include_failed,
                wait=wait,
                sleep=announce_then_sleep,
            )

    report = run(main)
    if as_json:
        print_json(_report_json(report))
    else:
        _print_recovery(report)


def _report_json(report: RecoveryReport) -> dict[str, Any]:
    now = time.time()
    return {
        "recovered": report.continued,
        "handed_back": report.handed_back,
        "failed": [{"id": i, "reason": r} for i, r in report.failed.items()],
        "not_recovered": [{"id": i, "reason": r} for i, r in report.errors.items()],
        "skipped": [
            {
                "id": held.workflow_id,
                "lease_owner": held.owner,
                "lease_seconds_left": round(max(0.0, held.expires_at - now), 1),
            }
            for held in report.skipped
        ],
        "waited_seconds": round(report.waited, 1),
    }


def _print_recovery(report: RecoveryReport) -> None:
    """One line per workflow, then the totals; the last line is always ``N workflow(s)
    recovered`` (scripts read it)."""
    for workflow_id in report.continued:
        typer.echo(printable(f"recovered {workflow_id}"))
    for workflow_id in report.handed_back:
        typer.echo(printable(f"handed back {workflow_id}: its step waits for user input"))
    for workflow_id, reason in report.failed.items():
        typer.echo(printable(f"failed {workflow_id}: {reason}"))
    for workflow_id, reason in report.errors.items():
        typer.echo(printable(f"not recovered {workflow_id}: {reason} (a later run tries again)"))
    now = time.time()
    for held in report.skipped:
        typer.echo(
            printable(
                f"skipped {held.workflow_id}: lease held by runner {held.owner} for "
                f"{max(0.0, held.expires_at - now):.1f}s more"
            )
        )
    if report.failed:
        typer.echo(
            f"{len(report.failed)} workflow(s) marked failed: no longer recovered automatically "
            "(list them with --list-failed, retry them with --include-failed)"
        )
    if report.skipped:
        why = (
            "their runners renewed the lease while we waited: they are alive"
            if report.waited
            else "their lease is live (--wait waits for it to expire)"
        )
        typer.echo(f"{len(report.skipped)} workflow(s) skipped: {why}")
    typer.echo(f"{len(report.continued)} workflow(s) recovered")


def _list_failed(db: str, limit: int, as_json: bool) -> None:
    from ruvon.recovery import failed_workflows

    async def main() -> list[dict[str, Any]]:
        async with opened_store(db, migrate=False) as store:
            failed = await failed_workflows(store, limit=limit)
            rows: list[dict[str, Any]] = []
            for workflow_id, reason in failed.items():
                row: dict[str, Any] = {"id": workflow_id}
                try:
                    r = await store.load_workflow(workflow_id)
                    row.update(
                        workflow_type=r.workflow_type,
                        status=r.status.value,
                        current_step=r.current_step,
                        current_step_name=step_name(r.definition, r.current_step),
                    )
                except RuvonError as exc:
                    row["unreadable"] = str(exc)
                rows.append({**row, "reason": reason})
            return rows

    rows = run(main)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        where = (
            f"unreadable row: {row['unreadable']}"
            if "unreadable" in row
            else f"{row['workflow_type']} {row['status']} at step {row['current_step']}"
        )
        typer.echo(printable(f"{row['id']} ({where}): {row['reason']}"))
    typer.echo(f"{len(rows)} workflow(s) marked failed by recovery")
