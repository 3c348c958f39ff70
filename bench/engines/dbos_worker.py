"""DBOS Transact (``dbos``, pinned by bench/run.py), in ``bench/.venvs/dbos``.

    bench/.venvs/dbos/bin/python bench/engines/dbos_worker.py --store sqlite-full \
        --variant success --runs 100 --db /tmp/dbos.sqlite

DBOS has no YAML and no saga: the same saga is a ``@DBOS.workflow`` calling four
``@DBOS.step``s, each running the same step body, and on an exception the compensation steps of
the steps that completed, most recent first; then the exception is raised again, so the
workflow ends in DBOS's failed status (``ERROR``), its "failed, rolled back". Its system
database holds the durable state: SQLite for the SQLite rows, Postgres for the Postgres rows.
It has no in-memory mode.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import sqlalchemy
from dbos import DBOS, DBOSConfig
from workloads.payment import steps_noprint as steps
from workloads.payment.models import PaymentState

SQLITE_COMMITS = harness.SQLiteCommits()
PAIRS = [
    (steps.create_order, steps.cancel_order),
    (steps.charge_payment, steps.refund_payment),
    (steps.reserve_inventory, steps.release_inventory),
    (steps.create_shipment, steps.cancel_shipment),
]


def as_step(body: Callable[..., dict[str, Any]]) -> Callable[[PaymentState], dict[str, Any]]:
    """A DBOS step running a tutorial step body; its returned dict is the recorded output."""

    @DBOS.step(name=body.__name__)
    def step(state: PaymentState) -> dict[str, Any]:
        return body(state, None)

    return step


STEPS = [(as_step(forward), as_step(compensate)) for forward, compensate in PAIRS]


@DBOS.workflow(name="PaymentProcessing")
def payment_saga(initial: dict[str, Any]) -> dict[str, Any]:
    state = PaymentState(**initial)
    undo: list[Callable[[PaymentState], dict[str, Any]]] = []
    try:
        for forward, compensate in STEPS:
            for key, value in forward(state).items():
                setattr(state, key, value)
            undo.append(compensate)
    except Exception:
        for compensate in reversed(undo):
            for key, value in compensate(state).items():
                setattr(state, key, value)
        raise
    return state.model_dump()


def sqlite_pragmas(synchronous: str) -> None:
    """DBOS opens SQLite with the default rollback journal and synchronous setting: put every
    connection in WAL mode with the row's ``synchronous`` (and count its commits)."""

    @sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA journal_mode = WAL")
        dbapi_conn.execute(f"PRAGMA synchronous = {synchronous}")
        SQLITE_COMMITS.attach(dbapi_conn)


def launch(args: Any) -> None:
    url = f"sqlite:///{args.db}" if args.store.startswith("sqlite") else args.db
    config: DBOSConfig = {"name": "bench", "system_database_url": url, "log_level": "ERROR"}
    if args.concurrency > 1:
        config["sys_db_pool_size"] = args.concurrency  # default 20: one connection per thread
    DBOS(config=config)
    DBOS.launch()


def main() -> None:
    args = harness.parse_args(__doc__ or "")
    if args.store == "memory":
        raise SystemExit("DBOS has no in-memory mode")
    failing = harness.set_variant(args.variant) == "rollback"

    def one() -> None:
        try:
            result = payment_saga(harness.INITIAL)
        except Exception as exc:
            assert failing and str(exc) == "Carrier API unavailable", exc
        else:
            assert not failing and result["shipment_created"], result

    if args.store.startswith("sqlite"):
        sqlite_pragmas(harness.sqlite_sync(args.store))
    launch(args)
    one()  # warm-up
    if args.store == "postgres":
        DBOS.destroy()
        before = harness.pg_counters(args.db)
        launch(args)
    SQLITE_COMMITS.count = 0

    elapsed, latencies = harness.drive_threads(one, args.runs, args.concurrency)

    commits: float | None = SQLITE_COMMITS.count / args.runs
    DBOS.destroy()
    extra: dict[str, Any] = {}
    if args.store == "postgres":
        extra = harness.pg_per_workflow(before, harness.pg_counters(args.db), args.runs)
        commits = extra.pop("commits")
    harness.emit(args.runs, elapsed, latencies, commits, **extra)


if __name__ == "__main__":
    with harness.quiet():
        main()
