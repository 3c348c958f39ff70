"""The SQLite floor: the plain saga plus K raw ``sqlite3`` commits per workflow, main venv.

    .venv/bin/python bench/engines/floor_sqlite.py --store sqlite-full --variant success \
        --runs 300 --commits 5 --db /tmp/floor.db

K (``--commits``) is the number of commits our engine makes per workflow on this variant.
Each commit is one small UPDATE of the workflow's state (its JSON) in autocommit mode, on one
connection to a WAL file with the row's ``synchronous``: what any durable engine must at least
pay for K transitions.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from plain_worker import plain_saga


def main() -> None:
    args = harness.parse_args(__doc__ or "")
    assert args.store.startswith("sqlite") and args.commits > 0, args
    failing = harness.set_variant(args.variant) == "rollback"
    db = sqlite3.connect(args.db, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {harness.sqlite_sync(args.store)}")
    db.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, step INTEGER, state TEXT)")
    db.execute("INSERT INTO floor VALUES (1, 0, '{}')")

    def one() -> None:
        state = plain_saga()
        assert state.shipment_created != failing, state
        for step in range(args.commits):
            db.execute(
                "UPDATE floor SET step = ?, state = ? WHERE id = 1",
                (step, state.model_dump_json()),
            )

    one()  # warm-up
    commits = harness.SQLiteCommits()
    commits.attach(db)
    elapsed, latencies = harness.drive_threads(one, args.runs, 1)
    db.close()
    harness.emit(args.runs, elapsed, latencies, commits.count / args.runs)


if __name__ == "__main__":
    main()
