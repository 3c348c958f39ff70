"""The ``ruvon`` command line: ``db migrate``, ``list`` and ``recover`` (more to come)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer

from ruvon.errors import RuvonError

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
AppDir = Annotated[str, typer.Option("--app-dir", help="Directory to import step functions from")]


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
    from ruvon.runtime.status import WorkflowStatus

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
    app_dir: AppDir = ".",
    limit: Annotated[int, typer.Option(help="At most this many workflows")] = 1000,
) -> None:
    """Continue workflows whose runner died (their lease expired)."""
    sys.path.insert(0, os.path.abspath(app_dir))
    from ruvon.builder import WorkflowBuilder

    async def main() -> list[str]:
        store = _store(db)
        ids = await WorkflowBuilder(persistence_provider=store).recover(limit=limit)
        await store.close()
        return ids

    ids = _run(main)
    for workflow_id in ids:
        typer.echo(f"recovered {workflow_id}")
    typer.echo(f"{len(ids)} workflow(s) recovered")


def main() -> None:
    """Console-script entry point."""
    app()
