"""SQLite store faults injected for real: a full database or disk, a write of a transition that
fails, a COMMIT or a ROLLBACK that fails.

What must hold: the caller sees one ``PersistenceError`` naming the real cause (never a
secondary error raised while cleaning up, such as "cannot rollback - no transaction is
active"); a failed transition leaves none of its rows (workflow row, step attempts, journal,
audit, metrics agree); the store keeps working once the fault is gone.

How the faults are made:

- ``PRAGMA max_page_count`` on the store's connection: SQLite answers SQLITE_FULL to the
  statement that needs a new page. Deterministic, any user.
- a small tmpfs filled to its last byte (needs root to mount; skipped otherwise): SQLITE_FULL
  comes from COMMIT, when the WAL is written, and SQLite has by then rolled the transaction back
  itself. That is how today's "cannot rollback" hid "database or disk is full".
- a trigger that ``RAISE(ABORT)``s the insert of one part of a transition.
- :class:`FaultyDriver`, a wrapper of the store's ``sqlite3`` connection that fails the next
  COMMIT the way a full disk does (rolled back by SQLite, then SQLITE_FULL: the tmpfs test
  checks that this is what the real driver does) or the next ROLLBACK. It runs on every
  machine, where the tmpfs tests may be skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import time
import traceback
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from contract_helpers import record, transition

from engine_steps import S
from engine_support import builder, st
from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import (
    CompensationRecord,
    CompensationStatus,
    StepContext,
    StepRecord,
    StepStatus,
)
from ruvon.providers.persistence import Transition, WorkflowRecord
from ruvon.runtime.status import WorkflowStatus

PARTS = ("ruvon_step_attempts", "ruvon_compensations", "ruvon_audit", "ruvon_metrics", "ruvon_logs")
BIG = 50_000  # characters: a value that needs new pages (overflow pages of 4 KiB each)


GROWN: list[str] = []  # the workflow id of each run of ``grow``


def grow(state: S, context: StepContext) -> dict[str, Any]:
    """A step whose result, and the state it leaves, need new pages in the database."""
    GROWN.append(context.workflow_id)
    return {"note": "x" * BIG, "n": state.n + 1}


# --- reading what is committed, on a connection of its own --------------------------------------


def committed(path: Path, wid: str) -> dict[str, Any]:
    """The workflow's row and how many rows of each kind it has, as another process sees them."""
    with closing(sqlite3.connect(path)) as db:
        row = db.execute(
            "SELECT version, status, current_step, length(state) FROM ruvon_workflows WHERE id = ?",
            (wid,),
        ).fetchone()
        counts = {
            t: db.execute(f"SELECT count(*) FROM {t} WHERE workflow_id = ?", (wid,)).fetchone()[0]
            for t in PARTS
        }
    return {"row": row, **counts}


def execute(path: Path, sql: str) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute(sql)
        db.commit()


def full_transition(row: WorkflowRecord, *, state: dict[str, Any] | None = None) -> Transition:
    """A transition with every part: status change (audit), a step attempt, a journal entry,
    metrics."""
    now = time.time()
    return transition(
        row,
        status=WorkflowStatus.COMPLETED,
        state=state,
        steps=[
            StepRecord(
                seq=0,
                step_name="A",
                step_index=0,
                attempt=1,
                status=StepStatus.COMPLETED,
                started_at=now,
                ended_at=now,
                result={"n": 2},
            )
        ],
        compensations=[
            CompensationRecord(
                sequence=0,
                forward_seq=0,
                step_name="A",
                step_index=0,
                function="x.undo",
                status=CompensationStatus.SKIPPED,
                started_at=now,
            )
        ],
        metrics=(("workflow_duration_ms", 1.0),),
    )


def full_text(exc: BaseException) -> str:
    """The message, the causes and the contexts, as a user's traceback shows them."""
    return "".join(traceback.format_exception(exc))


def assert_names_disk_full(exc: BaseException, path: Path) -> None:
    message = str(exc)
    assert str(path) in message and "database or disk is full" in message, message
    assert isinstance(exc.__cause__, sqlite3.OperationalError), repr(exc.__cause__)
    assert "cannot rollback" not in full_text(exc)


# --- fault 1: max_page_count --------------------------------------------------------------------


@contextmanager
def database_full(store: SQLitePersistenceProvider) -> Iterator[None]:
    """Make the store's database full: no page beyond those it has (restored on exit)."""
    db = store._db
    assert db is not None, "open the store first"
    limit = db.execute("PRAGMA max_page_count").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA max_page_count = {limit}")


async def test_a_full_database_fails_a_transition_whole_and_takes_it_once_space_is_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        row = record()
        await store.create_workflow(row)
        before = committed(path, row.id)
        big = full_transition(row, state={"blob": "x" * BIG})
        with database_full(store):
            with pytest.raises(PersistenceError) as info:
                await store.commit(big)
            assert_names_disk_full(info.value, path)
            assert "is full" in str(info.value)
            assert committed(path, row.id) == before
            assert (await store.load_workflow(row.id)).version == row.version
        await store.commit(big)  # the same transition, now that there is room
        after = committed(path, row.id)
        assert after["row"][:2] == (row.version + 1, "COMPLETED")
        assert after["ruvon_step_attempts"] == after["ruvon_compensations"] == 1
        assert after["ruvon_audit"] == 2 and after["ruvon_metrics"] == 1
    finally:
        await store.close()


async def test_a_full_database_writes_no_part_of_a_new_workflow_or_a_log_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        existing = record()
        await store.create_workflow(existing)
        fresh = record(state={"blob": "x" * BIG})
        with database_full(store):
            with pytest.raises(PersistenceError) as info:
                await store.create_workflow(fresh)
            assert_names_disk_full(info.value, path)
            with pytest.raises(PersistenceError) as info:
                await store.log_execution(existing.id, "INFO", "y" * BIG)
            assert_names_disk_full(info.value, path)
        assert committed(path, fresh.id)["row"] is None
        assert committed(path, fresh.id)["ruvon_audit"] == 0
        assert committed(path, existing.id)["ruvon_logs"] == 0
        await store.create_workflow(fresh)
        await store.log_execution(existing.id, "INFO", "y" * BIG)
        assert committed(path, fresh.id)["ruvon_audit"] == 1
        assert committed(path, existing.id)["ruvon_logs"] == 1
    finally:
        await store.close()


# --- fault 2: one part of a transition can not be written ---------------------------------------


@pytest.mark.parametrize(
    "table", ["ruvon_step_attempts", "ruvon_compensations", "ruvon_audit", "ruvon_metrics"]
)
async def test_a_part_of_a_transition_that_fails_undoes_the_whole_transition(
    tmp_path: Path, table: str
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        row = record()
        await store.create_workflow(row)
        before = committed(path, row.id)
        execute(
            path,
            f"CREATE TRIGGER fault BEFORE INSERT ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'injected fault on {table}'); END",
        )
        with pytest.raises(PersistenceError) as info:
            await store.commit(full_transition(row))
        assert f"injected fault on {table}" in str(info.value) and str(path) in str(info.value)
        assert committed(path, row.id) == before  # the row's UPDATE went first; it is undone
        assert (await store.load_workflow(row.id)).version == row.version
        execute(path, "DROP TRIGGER fault")
        await store.commit(full_transition(row))
        assert committed(path, row.id)["row"][:2] == (row.version + 1, "COMPLETED")
    finally:
        await store.close()


# --- fault 3: COMMIT or ROLLBACK fails at the driver --------------------------------------------


class FaultyDriver:
    """The store's ``sqlite3`` connection, with one-shot faults a test arms.

    ``full_commit``: the next COMMIT fails as on a full disk. SQLite has then already rolled
    the transaction back (see ``test_sqlite_itself_rolls_back_when_commit_finds_the_disk_full``),
    so this rolls back and raises SQLITE_FULL. ``broken_rollback``: the next ROLLBACK fails and
    leaves the transaction open.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.full_commit = False
        self.broken_rollback = False

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.full_commit:
            self.full_commit = False
            self._db.execute("ROLLBACK")
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode = 13  # type: ignore[attr-defined]
            error.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
            raise error
        if sql == "ROLLBACK" and self.broken_rollback:
            self.broken_rollback = False
            raise sqlite3.OperationalError("disk I/O error")
        return self._db.execute(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> list[FaultyDriver]:
    """Every SQLite store opened in the test talks to its file through a :class:`FaultyDriver`."""
    drivers: list[FaultyDriver] = []
    connect = SQLitePersistenceProvider._connect

    def wrapped(self: SQLitePersistenceProvider) -> Any:
        drivers.append(FaultyDriver(connect(self)))
        return drivers[-1]

    monkeypatch.setattr(SQLitePersistenceProvider, "_connect", wrapped)
    return drivers


async def test_a_commit_the_disk_refused_is_reported_as_disk_full_not_as_a_failed_rollback(
    tmp_path: Path, faulty: list[FaultyDriver]
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        row = record()
        await store.create_workflow(row)
        before = committed(path, row.id)
        faulty[0].full_commit = True
        with pytest.raises(PersistenceError) as info:
            await store.commit(full_transition(row))
        assert_names_disk_full(info.value, path)
        assert committed(path, row.id) == before
        await store.commit(full_transition(row))  # the store goes on
        assert committed(path, row.id)["row"][:2] == (row.version + 1, "COMPLETED")
    finally:
        await store.close()


async def test_a_failed_rollback_neither_hides_the_error_nor_leaves_the_write_visible(
    tmp_path: Path, faulty: list[FaultyDriver], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        row = record()
        await store.create_workflow(row)
        before = committed(path, row.id)
        execute(
            path,
            "CREATE TRIGGER fault BEFORE INSERT ON ruvon_audit "
            "BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END",
        )
        faulty[0].broken_rollback = True
        with (
            caplog.at_level(logging.WARNING, logger="ruvon"),
            pytest.raises(PersistenceError) as info,
        ):
            await store.commit(full_transition(row))
        assert "injected audit fault" in str(info.value)
        assert "disk I/O error" not in str(info.value)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("rollback" in w and "disk I/O error" in w for w in warnings), warnings
        # the transaction the failed ROLLBACK left open is neither read nor built upon
        assert (await store.load_workflow(row.id)).version == row.version
        assert committed(path, row.id) == before
        execute(path, "DROP TRIGGER fault")
        await store.commit(full_transition(row))
        assert committed(path, row.id)["row"][:2] == (row.version + 1, "COMPLETED")
    finally:
        await store.close()


async def test_a_lease_renewal_the_database_refuses_is_a_persistence_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        row = record(lease_owner="runner-1", lease_expires_at=time.time() + 30)
        await store.create_workflow(row)
        execute(
            path,
            "CREATE TRIGGER fault BEFORE UPDATE ON ruvon_workflows "
            "BEGIN SELECT RAISE(ABORT, 'injected update fault'); END",
        )
        lease = [(row.id, "runner-1", time.time() + 60)]
        with pytest.raises(PersistenceError) as info:  # on the lease keeper's thread
            await asyncio.to_thread(store.renew_leases_blocking, lease)
        assert "injected update fault" in str(info.value) and str(path) in str(info.value)
        execute(path, "DROP TRIGGER fault")
        assert await asyncio.to_thread(store.renew_leases_blocking, lease) == {row.id}
    finally:
        await store.close()


# --- fault 4: a real full disk (a small tmpfs; root only) ---------------------------------------


class TinyDisk:
    """A tmpfs of a few hundred KiB; :meth:`fill` takes its last byte, :meth:`free` gives the
    space back."""

    def __init__(self, mount: Path) -> None:
        self.mount = mount
        self.filler = mount / "filler"

    def fill(self) -> None:
        with self.filler.open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
        assert os.statvfs(self.mount).f_bavail == 0

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[TinyDisk]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); the FaultyDriver tests still run")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"can not mount a tmpfs (needs CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield TinyDisk(mount)
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def test_sqlite_itself_rolls_back_when_commit_finds_the_disk_full(tiny_disk: TinyDisk) -> None:
    """The driver behaviour FaultyDriver's ``full_commit`` copies, checked on a real disk."""
    with closing(sqlite3.connect(tiny_disk.mount / "raw.db", isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x TEXT)")
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", ("x" * BIG,))
        tiny_disk.fill()
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            db.execute("COMMIT")
        assert not db.in_transaction  # hence "cannot rollback" from a ROLLBACK now
        tiny_disk.free()
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0


async def test_a_full_disk_fails_a_step_whole_and_a_reloaded_workflow_goes_on(
    tiny_disk: TinyDisk,
) -> None:
    path = tiny_disk.mount / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    try:
        b = builder(
            st("A", "test_sqlite_faults.grow", automate_next=False),
            st("B"),
            persistence_provider=store,
            # long enough that the creator's lease is still its own (no claim to write) when
            # the step runs; short enough to wait for its end below
            lease_seconds=2.0,
            # saga mode from the YAML: no "started" commit before the first step (which the
            # full disk would refuse before the step runs)
            saga=True,
        )
        wf = await b.create_workflow("T")
        before = committed(path, wf.id)
        tiny_disk.fill()
        with pytest.raises(PersistenceError) as info:
            await wf.next_step()
        assert [wf.id] == GROWN  # the step ran: its commit is what the disk refused
        assert_names_disk_full(info.value, path)
        assert committed(path, wf.id) == before  # no step attempt, no state, no version
        tiny_disk.free()

        # the store works again; a runner that reloads the workflow (once the first one's lease
        # has run out) continues from the last committed transition
        expires = (await store.load_workflow(wf.id)).lease_expires_at or 0.0
        await asyncio.sleep(max(0.0, expires - time.time() + 0.05))
        again = await b.load_workflow(wf.id)
        await again.next_step()
        await again.next_step()
        assert again.status == WorkflowStatus.COMPLETED and again.state.note == "x" * BIG
        assert [wf.id, wf.id] == GROWN  # at least once: the lost run of A runs again
        after = committed(path, wf.id)
        assert after["row"][1:3] == ("COMPLETED", 2)
        assert after["ruvon_step_attempts"] == 2 and after["ruvon_audit"] == 2
        history = await store.step_history(wf.id)
        assert [(h.step_name, h.status) for h in history] == [
            ("A", StepStatus.COMPLETED),
            ("B", StepStatus.COMPLETED),
        ]
    finally:
        await store.close()
