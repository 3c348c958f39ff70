"""The ``ruvon`` command line: ``db migrate``, ``list``, ``recover`` and ``scheduler`` (more to
come)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ruvon.errors import RuvonError

if TYPE_CHECKING:
    from ruvon.recovery import RecoveryReport

app = typer.Typer(help="Ruvon workflow engine", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database commands", no_args_is_help=True)
app.add_typer(db_app, name="db")

T = TypeVar("T")
DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="RUVON_DATABASE_URL",
        help="Database URL: sqlite:///FILE, postgresql://..., memory://",
    ),
]
AppDir = Annotated[
    Path,
    typer.Option(
        "--app-dir",
        help="Directory to import step functions from (must exist)",
        exists=True,
        file_okay=False,
        dir_okay=True,
    ),
]


def _run(main: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except RuvonError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


def _store(url: str) -> Any:
    from ruvon.implementations.persistence import store_from_url

    return store_from_url(url)


@db_app.command("migrate")
def db_migrate(db: DbOption) -> None:
    """Create or upgrade the schema of the database."""

    async def main() -> int:
        store = _store(db)
        await store.initialize()
        version = int(await store.migrate()) if hasattr(store, "migrate") else 0
        await store.close()
        return version

    version = _run(main)
    typer.echo(f"schema is at version {version}")


@app.command("list")
def list_workflows(
    db: DbOption,
    status: Annotated[str | None, typer.Option(help="Only this status")] = None,
    workflow_type: Annotated[str | None, typer.Option("--type", help="Only this type")] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
) -> None:
    """List workflows, newest first."""
    from ruvon.status import WorkflowStatus

    async def main() -> list[Any]:
        store = _store(db)
        rows = await store.list_workflows(
            status=WorkflowStatus(status.upper()) if status else None,
            workflow_type=workflow_type,
            limit=limit,
        )
        await store.close()
        return list(rows)

    rows = _run(main)
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "type", "version", "status", "step", "created")
    for r in rows:
        created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            r.id, r.workflow_type, r.workflow_version, r.status.value, str(r.current_step), created
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    typer.echo(f"{len(rows)} workflow(s)")


@app.command("recover")
def recover(
    db: DbOption,
    app_dir: AppDir = Path("."),
    limit: Annotated[int, typer.Option(min=1, help="At most this many workflows")] = 1000,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Workflows recovered at once (default 10)")
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(min=0.1, help="Lease taken on each workflow recovered, seconds (default 30)"),
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
) -> None:
    """Continue workflows whose runner died (their lease expired).

    A workflow that can not be continued is marked failed and reported; the others go on.
    """
    sys.path.insert(0, os.path.abspath(app_dir))
    from ruvon import recovery
    from ruvon.builder import WorkflowBuilder

    if list_failed:
        _list_failed(db, limit)
        return

    async def announce_then_sleep(seconds: float) -> None:
        typer.echo(f"waiting {seconds:.1f}s for live leases to expire")
        await asyncio.sleep(seconds)

    async def main() -> recovery.RecoveryReport:
        store = _store(db)
        options: dict[str, Any] = {"persistence_provider": store}
        if lease_seconds is not None:
            options["lease_seconds"] = lease_seconds
        try:
            return await recovery.recover_waiting(
                WorkflowBuilder(**options),
                store,
                limit=limit,
                concurrency=concurrency or recovery.DEFAULT_CONCURRENCY,
                include_failed=include_failed,
                wait=wait,
                sleep=announce_then_sleep,
            )
        finally:
            await store.close()

    _print_recovery(_run(main))


def _print_recovery(report: RecoveryReport) -> None:
    """One line per workflow, then the totals; the last line is always ``N workflow(s)
    recovered`` (scripts read it)."""
    for workflow_id in report.continued:
        typer.echo(f"recovered {workflow_id}")
    for workflow_id in report.handed_back:
        typer.echo(f"handed back {workflow_id}: its step waits for user input")
    for workflow_id, reason in report.failed.items():
        typer.echo(f"failed {workflow_id}: {reason}")
    for workflow_id, reason in report.errors.items():
        typer.echo(f"not recovered {workflow_id}: {reason} (a later run tries again)")
    now = time.time()
    for held in report.skipped:
        typer.echo(
            f"skipped {held.workflow_id}: lease held by runner {held.owner} for "
            f"{max(0.0, held.expires_at - now):.1f}s more"
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


def _list_failed(db: str, limit: int) -> None:
    from ruvon.recovery import failed_workflows

    async def main() -> list[tuple[str, str, str]]:
        store = _store(db)
        try:
            failed = await failed_workflows(store, limit=limit)
            rows = []
            for workflow_id, reason in failed.items():
                try:
                    r = await store.load_workflow(workflow_id)
                    where = f"{r.workflow_type} {r.status.value} at step {r.current_step}"
                except RuvonError as exc:
                    where = f"unreadable row: {exc}"
                rows.append((workflow_id, where, reason))
            return rows
        finally:
            await store.close()

    rows = _run(main)
    for workflow_id, where, reason in rows:
        typer.echo(f"{workflow_id} ({where}): {reason}")
    typer.echo(f"{len(rows)} workflow(s) marked failed by recovery")


@app.command("scheduler")
def scheduler(
    db: DbOption,
    app_dir: AppDir = Path("."),
    config_dir: Annotated[
        Path | None,
        typer.Option(
            "--config-dir",
            help="Where the workflow definitions are (default: $RUVON_CONFIG_DIR, else ./config)",
            exists=True,
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between two passes over the schedules")
    ] = 1.0,
    grace: Annotated[
        float,
        typer.Option(min=0, help="Seconds to let started workflows finish when stopped"),
    ] = 10.0,
) -> None:
    """Start workflows on their schedules until SIGTERM or SIGINT.

    Any number of schedulers may share one database: each tick starts one workflow. Only the
    latest of several missed ticks runs.
    """
    sys.path.insert(0, os.path.abspath(app_dir))
    from ruvon.builder import WorkflowBuilder
    from ruvon.scheduler import Scheduler

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ruvon.scheduler").setLevel(logging.INFO)

    async def main() -> str:
        store = _store(db)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        builder = WorkflowBuilder(config_dir=config_dir, persistence_provider=store)
        runner = Scheduler(builder, store, interval=interval, grace=grace)
        try:
            await store.initialize()
            typer.echo(
                f"scheduler {runner.name}: {len(builder.registry.types())} workflow type(s), "
                f"a pass every {interval:g}s"
            )
            await runner.run(stop)
        finally:
            await store.close()
        return runner.name

    typer.echo(f"scheduler {_run(main)} stopped")


def main() -> None:
    """Console-script entry point."""
    app()
