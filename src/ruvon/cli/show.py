"""``ruvon show`` and ``ruvon logs``: one workflow, as the store has it."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ruvon.cli.app import workflow_command
from ruvon.cli.common import (
    DEFAULT_DB,
    MAX_ROWS,
    AppDirOption,
    ConfigDirOption,
    DbOption,
    JsonOption,
    import_from,
    known_id,
    make_builder,
    opened_store,
    print_json,
    run,
    usage,
)
from ruvon.cli.listing import row_json
from ruvon.cli.progress import console
from ruvon.cli.render import (
    STATUS_STYLES,
    duration,
    how_to_continue,
    iso,
    json_text,
    printable,
    scope_text,
)
from ruvon.errors import RuvonError

if TYPE_CHECKING:
    from ruvon.models import CompensationRecord, StepRecord
    from ruvon.providers.persistence import PersistenceProvider

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The workflow id")]


async def gather(
    store: PersistenceProvider,
    workflow_id: str,
    config_dir: Path | None,
    *,
    logs: bool,
    metrics: bool,
) -> dict[str, Any]:
    """Everything ``show`` prints, as JSON-ready data."""
    record = await store.load_workflow(workflow_id)
    out = row_json(record)
    out["state"] = json.loads(record.state)
    out["waiting_for"] = None
    out["next"] = None
    try:  # what it waits for needs the definition compiled: its functions must import here
        wf = await make_builder(config_dir, store).load_workflow(workflow_id)
        out["waiting_for"] = wf.waiting_for
        out["current_step_name"] = wf.current_step_name
        out["next"] = how_to_continue(wf)
    except RuvonError as exc:
        out["note"] = f"its definition does not load here ({exc}); what it waits for is unknown"
    out["steps"] = [_step_json(r) for r in await store.step_history(workflow_id)]
    out["compensations"] = [_comp_json(e) for e in await store.compensation_journal(workflow_id)]
    out["status_changes"] = [{**a, "at": iso(a["at"])} for a in await store.audit_log(workflow_id)]
    if logs:
        out["logs"] = [{**e, "at": iso(e["at"])} for e in await store.execution_logs(workflow_id)]
    if metrics:
        out["metrics"] = [{"name": n, "value": v} for n, v in await store.metrics(workflow_id)]
    return out


def _step_json(r: StepRecord) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "scope": r.scope,
        "step_name": r.step_name,
        "attempt": r.attempt,
        "status": r.status.value,
        "started_at": iso(r.started_at),
        "ended_at": iso(r.ended_at),
        "duration_ms": r.duration_ms,
        "error": r.error.to_dict() if r.error else None,
    }


def _comp_json(e: CompensationRecord) -> dict[str, Any]:
    return {
        "sequence": e.sequence,
        "scope": e.scope,
        "step_name": e.step_name,
        "function": e.function,
        "status": e.status.value,
        "attempts": e.attempts,
        "started_at": iso(e.started_at),
        "ended_at": iso(e.ended_at),
        "duration_ms": e.duration_ms,
        "detail": e.detail,
        "decided_by": e.decided_by,
        "error": e.error.to_dict() if e.error else None,
    }


@workflow_command("show")
def show(
    workflow_id: IdArgument,
    state_only: Annotated[
        bool, typer.Option("--state", help="Print only the state, as JSON")
    ] = False,
    logs: Annotated[bool, typer.Option("--logs", help="Also the execution log")] = False,
    metrics: Annotated[bool, typer.Option("--metrics", help="Also the metrics")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also status changes and tracebacks")
    ] = False,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Show one workflow: status, current step, state, step timeline, compensations, error,
    and what it waits for."""
    import_from(app_dir)

    async def main() -> dict[str, Any]:
        known_id(workflow_id)  # before the database: an id no store can hold is not found
        async with opened_store(db, migrate=False) as store:
            return await gather(store, workflow_id, config_dir, logs=logs, metrics=metrics)

    data = run(main)
    if state_only:
        print_json(data["state"])
    elif as_json:
        print_json(data)
    else:
        _print(data, verbose)


def _name(value: object) -> str:
    """An id, a type, a step name, as one line safe to print."""
    return printable(value, newlines=False)


def _print(data: dict[str, Any], verbose: bool) -> None:
    out = console()
    status = Text(data["status"], style=STATUS_STYLES.get(data["status"], ""))
    out.print(Text(f"workflow {_name(data['id'])}", style="bold"))
    head: list[tuple[str, str | Text]] = [
        ("type", f"{_name(data['workflow_type'])} {_name(data['workflow_version'])}"),
        ("status", status),
        ("step", _name(data["current_step_name"] or "(past the last step)")),
        ("saga mode", "on" if data["saga_mode"] else "off"),
        ("created", f"{_at(data['created_at'])} UTC, updated {_at(data['updated_at'])} UTC"),
    ]
    if data["parent_id"]:
        head.append(("parent", _name(data["parent_id"])))
    error = data["error"]
    if error:
        where = f"{_name(error['step'])}: " if error.get("step") else ""
        head.append(("error", f"{where}{printable(error['type'])}: {printable(error['message'])}"))
    waits = data["waiting_for"]
    if waits:
        head.append(("waits for", printable(_waits(waits))))
    if data.get("note"):
        head.append(("note", printable(data["note"])))
    if data["next"]:
        head.append(("next", printable(data["next"])))
    for label, value in head:
        out.print(Text.assemble((f"{label:<10} ", "dim"), value))
    out.print(Text("\nstate", style="bold"))
    out.print(Text(json_text(data["state"], indent=2)))
    _timeline(out, data["steps"], verbose)
    _journal(out, data["compensations"], verbose)
    if verbose:
        _changes(out, data["status_changes"])
    if "logs" in data:
        out.print(Text("\nlogs", style="bold"))
        for entry in data["logs"]:
            out.print(Text(_log_line(entry)))
    if "metrics" in data:
        out.print(Text("\nmetrics", style="bold"))
        for metric in data["metrics"]:
            out.print(Text(f"{_name(metric['name'])} = {metric['value']:g}"))


def _at(value: str | None) -> str:
    """An ISO time as ``2026-11-30 11:39:10``."""
    return (value or "")[:19].replace("T", " ")


def _waits(waits: dict[str, Any]) -> str:
    parts = [f"{waits['status']} at {waits.get('step')}"]
    if waits.get("approval"):
        parts.append("an operator's approval of its compensation (ruvon approve / reject)")
    if waits.get("child_workflow_id"):
        parts.append(f"input for the child {waits['child_workflow_id']}")
    schema = waits.get("input_schema")
    if isinstance(schema, dict) and schema.get("properties"):
        required = set(schema.get("required", []))
        fields = [f"{k}{'' if k in required else '?'}" for k in schema["properties"]]
        parts.append(f"input {waits.get('input_model')}: {', '.join(fields)}")
    elif waits.get("status") in ("PAUSED", "WAITING_HUMAN"):
        parts.append("input (any fields)")
    if waits.get("reason"):
        parts.append(f"reason: {waits['reason']}")
    return "; ".join(parts)


def _timeline(out: Any, steps: list[dict[str, Any]], verbose: bool) -> None:
    out.print(Text(f"\nsteps ({len(steps)} attempt(s))", style="bold"))
    if not steps:
        return
    table = Table("#", "step", "attempt", "status", "started (UTC)", "duration", "error")
    for s in steps:
        error = s["error"]
        text = f"{error['type']}: {error['message']}" if error else ""
        if verbose and error and error.get("traceback"):
            text += "\n" + error["traceback"].rstrip()
        table.add_row(
            str(s["seq"]),
            Text(_name(scope_text(s["scope"]))),
            str(s["attempt"]),
            Text(s["status"], style=_STEP_STYLES.get(s["status"], "")),
            _at(s["started_at"]),
            duration(s["duration_ms"]),
            Text(printable(text)),
        )
    out.print(table)


_STEP_STYLES = {"COMPLETED": "green", "FAILED": "red", "SKIPPED": "dim", "RUNNING": "yellow"}
_COMP_STYLES = {"COMPLETED": "magenta", "FAILED": "red", "SKIPPED": "dim", "REJECTED": "yellow"}


def _journal(out: Any, entries: list[dict[str, Any]], verbose: bool) -> None:
    if not entries:
        out.print(Text("\ncompensations: none", style="bold"))
        return
    out.print(Text(f"\ncompensations ({len(entries)}, in unwind order)", style="bold"))
    table = Table("#", "step", "function", "status", "attempts", "duration", "detail")
    for e in entries:
        detail = e["detail"] or ""
        if e["decided_by"]:
            detail = f"{detail} decided by {e['decided_by']}".strip()
        if e["error"]:
            detail = f"{detail} {e['error']['type']}: {e['error']['message']}".strip()
        table.add_row(
            str(e["sequence"]),
            Text(_name(scope_text(e["scope"]))),
            Text(_name(e["function"] or "")),
            Text(e["status"], style=_COMP_STYLES.get(e["status"], "")),
            str(e["attempts"]),
            duration(e["duration_ms"]) if e["status"] != "SKIPPED" else "",
            Text(printable(detail)),
        )
    out.print(table)


def _changes(out: Any, changes: list[dict[str, Any]]) -> None:
    out.print(Text("\nstatus changes", style="bold"))
    for c in changes:
        reason = f" ({c['reason']})" if c.get("reason") else ""
        at = _at(c["at"])
        line = f"{at}  {c['from_status'] or '-'} → {c['to_status']}{reason}"
        out.print(Text(printable(line)))


# --- logs ---------------------------------------------------------------------------------------


def _log_line(entry: dict[str, Any]) -> str:
    """One entry of the log, safe to print (its message may span lines)."""
    at = _at(entry["at"])
    if entry.get("kind") == "status":
        return printable(f"{at}  STATUS   {entry['message']}")
    step = f"[{_name(entry['step_name'])}] " if entry.get("step_name") else ""
    return printable(f"{at}  {_name(entry['log_level']):<8} {step}{entry['message']}")


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise usage(f"unknown log level '{name}'", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


async def _entries(store: PersistenceProvider, workflow_id: str) -> list[dict[str, Any]]:
    """The execution log and the status changes, oldest first."""
    entries = [{**e, "kind": "log"} for e in await store.execution_logs(workflow_id)]
    for change in await store.audit_log(workflow_id):
        reason = f" ({change['reason']})" if change.get("reason") else ""
        entries.append(
            {
                "kind": "status",
                "at": change["at"],
                "log_level": "INFO",
                "step_name": None,
                "message": f"{change['from_status'] or '-'} → {change['to_status']}{reason}",
            }
        )
    entries.sort(key=lambda e: e["at"])
    return [{**e, "at": iso(e["at"])} for e in entries]


@workflow_command("logs")
def logs(
    workflow_id: IdArgument,
    step: Annotated[str | None, typer.Option(help="Only the lines of this step")] = None,
    level: Annotated[
        str | None, typer.Option(help="Only lines at this level or above (DEBUG ... ERROR)")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_ROWS, help="The last N lines")
    ] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until it finishes")
    ] = False,
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a workflow's execution log and status changes, oldest first."""

    def keep(entry: dict[str, Any]) -> bool:
        if step is not None and entry.get("step_name") != step:
            return False
        return minimum is None or _level(str(entry["log_level"])) >= minimum

    minimum: int | None = None

    async def main() -> list[dict[str, Any]]:
        nonlocal minimum
        minimum = _level(level) if level else None
        known_id(workflow_id)
        async with opened_store(db, migrate=False) as store:
            record = await store.load_workflow(workflow_id)  # an unknown id: not found
            shown = [e for e in await _entries(store, workflow_id) if keep(e)][-limit:]
            if as_json:
                return shown
            for entry in shown:
                typer.echo(_log_line(entry))
            seen = len(await _entries(store, workflow_id))
            while follow and not record.status.is_finished:
                await asyncio.sleep(1.0)
                record = await store.load_workflow(workflow_id)
                fresh = await _entries(store, workflow_id)
                for entry in fresh[seen:]:
                    if keep(entry):
                        typer.echo(_log_line(entry))
                seen = len(fresh)
            return shown

    shown = run(main)
    if as_json:
        print_json(shown)
    elif not shown:
        typer.echo("no log lines", err=True)
