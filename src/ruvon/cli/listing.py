"""``ruvon list``: workflows, newest first, filtered by status, type and age."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ruvon.cli.app import workflow_command
from ruvon.cli.common import (
    DEFAULT_DB,
    MAX_ROWS,
    ConfigDirOption,
    DbOption,
    JsonOption,
    is_utf8,
    opened_store,
    print_json,
    run,
    usage,
)
from ruvon.cli.progress import console
from ruvon.cli.render import STATUS_STYLES, iso, printable, step_name, when
from ruvon.status import WorkflowStatus

if TYPE_CHECKING:
    from ruvon.providers.persistence import WorkflowRecord

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_statuses(values: list[str] | None) -> list[WorkflowStatus]:
    """``--status`` values (repeated, or comma-separated), any case."""
    statuses: list[WorkflowStatus] = []
    for value in values or []:
        for part in value.split(","):
            name = part.strip().upper()
            if not name:
                continue
            try:
                statuses.append(WorkflowStatus(name))
            except ValueError:
                known = ", ".join(s.value for s in WorkflowStatus)
                raise usage(f"unknown status '{part.strip()}'", f"one of {known}") from None
    return list(dict.fromkeys(statuses))


def parse_since(value: str | None, now: float) -> float | None:
    """``--since``: an age (``30m``, ``2h``, ``7d``) or a UTC date or time (``2026-11-30``,
    ``2026-11-30T12:00``) as a POSIX time."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise usage(
            f"--since '{value}' is neither an age nor a date",
            "write an age like 30m, 2h, 7d, or a UTC date like 2026-11-30 or 2026-11-30T12:00",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def row_json(r: WorkflowRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "workflow_type": r.workflow_type,
        "workflow_version": r.workflow_version,
        "status": r.status.value,
        "current_step": r.current_step,
        "current_step_name": step_name(r.definition, r.current_step),
        "saga_mode": r.saga_mode,
        "parent_id": r.parent_id,
        "error": r.error.to_dict() if r.error else None,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


@workflow_command("list")
def list_workflows(
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only these statuses (repeat it, or separate them with commas)"),
    ] = None,
    workflow_type: Annotated[str | None, typer.Option("--type", help="Only this type")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only those created since: an age (30m, 2h, 7d) or a UTC date"),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_ROWS, help="At most this many")
    ] = 20,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also the update time and the error")
    ] = False,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List workflows, newest first."""

    async def main() -> list[WorkflowRecord]:
        statuses = parse_statuses(status)
        after = parse_since(since, time.time())
        rows: list[WorkflowRecord] = []
        async with opened_store(db, migrate=False) as store:
            wanted: list[WorkflowStatus | None] = list(statuses) or [None]
            if workflow_type is not None and not is_utf8(workflow_type):
                wanted = []  # no type is named so: no store could keep the name
            for one in wanted:
                rows += await store.list_workflows(
                    status=one, workflow_type=workflow_type, limit=limit
                )
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        # newest first: the rows created since ``after`` are a prefix of the newest ``limit``
        return [r for r in rows if after is None or r.created_at >= after][:limit]

    rows = run(main)
    if as_json:
        print_json([row_json(r) for r in rows])
        return
    _table(rows, verbose)
    more = f" (the newest {limit}; --limit shows more)" if len(rows) == limit else ""
    typer.echo(f"{len(rows)} workflow(s){more}")


def _table(rows: list[WorkflowRecord], verbose: bool) -> None:
    columns = ["id", "type", "version", "status", "step", "created (UTC)"]
    if verbose:
        columns += ["updated (UTC)", "error"]
    table = Table(*columns)
    for r in rows:
        cells = [
            Text(printable(r.id, newlines=False)),
            Text(printable(r.workflow_type, newlines=False)),
            Text(printable(r.workflow_version, newlines=False)),
            Text(r.status.value, style=STATUS_STYLES.get(r.status, "")),
            Text(printable(step_name(r.definition, r.current_step) or "(end)", newlines=False)),
            Text(when(r.created_at)),
        ]
        if verbose:
            error = f"{r.error.type}: {r.error.message}" if r.error else ""
            cells += [Text(when(r.updated_at)), Text(printable(" ".join(error.split())))]
        table.add_row(*cells)
    console().print(table)
