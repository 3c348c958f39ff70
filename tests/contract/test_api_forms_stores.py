"""Store construction and lifecycle as the original Ruvon documentation writes them.

- ``SQLitePersistenceProvider(":memory:")``, ``db_path=``, ``timeout=``, ``check_same_thread=``,
  ``auto_init=`` next to our positional path and ``sqlite:///`` URL forms;
- ``persistence.conn``, the store's live connection used the aiosqlite way
  (``await persistence.conn.executescript(...)``), as the task-manager tutorial does;
- ``initialize()`` / ``close()`` on every store: idempotent, close then initialize works, and
  no store needs them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from contract_backends import Backend

from engine_support import builder, st
from ruvon.errors import PersistenceError, SchemaVersionError
from ruvon.implementations.persistence.sql.queries import latest_version
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus

S = WorkflowStatus

# the table the task-manager tutorial creates on the store's file, verbatim
TUTORIAL_SCHEMA = """
    CREATE TABLE IF NOT EXISTS workflow_executions (
        id TEXT PRIMARY KEY,
        workflow_type TEXT NOT NULL,
        current_step INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        steps_config TEXT NOT NULL DEFAULT '[]',
        state_model_path TEXT NOT NULL,
        created_at TEXT DEFAULT CURRENT_TIMESTAMP,
        updated_at TEXT DEFAULT CURRENT_TIMESTAMP
    );

    CREATE TABLE IF NOT EXISTS workflow_execution_logs (
        log_id INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id TEXT NOT NULL,
        step_name TEXT,
        log_level TEXT NOT NULL,
        message TEXT NOT NULL,
        logged_at TEXT DEFAULT CURRENT_TIMESTAMP
    );
"""


async def _run_saga(store: Any) -> str:
    """A workflow that pauses, resumes, then fails and unwinds: several commits of each kind."""
    b = builder(
        st("A"),
        st("Wait", "engine_steps.pause", comp=None),
        st("B"),
        st("C"),
        saga=True,
        persistence_provider=store,
    )
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    assert wf.status is S.PAUSED
    await wf.next_step(user_input={"note": "go"})
    assert wf.status is S.FAILED_ROLLED_BACK
    loaded = await b.load_workflow(wf.id)
    assert loaded.status is S.FAILED_ROLLED_BACK
    assert loaded.state.log == ["A", "B", "undo:B", "undo:A"]
    return wf.id


# --- SQLite: the documented constructor forms ----------------------------------------------------


async def test_sqlite_memory__runs_a_whole_workflow_on_one_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = SQLitePersistenceProvider(":memory:")
    try:
        wid = await _run_saga(store)
        assert [w.id for w in await store.list_workflows()] == [wid]
        assert len(await store.step_history(wid)) == 4
    finally:
        await store.close()
    assert list(tmp_path.iterdir()) == []  # nothing was written to disk


@pytest.mark.parametrize(
    "form",
    ["positional", "db_path", "url", "db_path_url"],
)
async def test_sqlite_path_forms__name_the_same_file(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    given: dict[str, Any] = {
        "positional": {"args": ("x.db",)},
        "db_path": {"db_path": "x.db"},
        "url": {"args": ("sqlite:///x.db",)},
        "db_path_url": {"db_path": "sqlite:///x.db"},
    }[form]
    args = given.pop("args", ())
    store = SQLitePersistenceProvider(*args, **given)
    wid = await _run_saga(store)
    await store.close()

    assert store.path == "x.db"
    rows = sqlite3.connect(tmp_path / "x.db").execute("SELECT id FROM ruvon_workflows").fetchall()
    assert rows == [(wid,)]


async def test_sqlite_db_path__memory_keyword_runs_a_workflow() -> None:
    store = SQLitePersistenceProvider(db_path=":memory:")
    await store.initialize()
    try:
        await _run_saga(store)
    finally:
        await store.close()
    assert SQLitePersistenceProvider(db_path="sqlite:///:memory:").path == ":memory:"


async def test_sqlite_documented_keywords__reach_the_connection(tmp_path: Path) -> None:
    store = SQLitePersistenceProvider(
        db_path=str(tmp_path / "k.db"), timeout=5.0, check_same_thread=False, auto_init=True
    )
    await store.initialize()
    try:
        assert store.busy_timeout == 5.0
        assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        done: list[Any] = []
        thread = threading.Thread(
            target=lambda: done.append(store.connection.execute("SELECT 1").fetchone()[0])
        )
        thread.start()
        thread.join()
        assert done == [1]  # check_same_thread=False: usable from another thread
    finally:
        await store.close()


async def test_sqlite_check_same_thread__true_is_passed_to_sqlite(tmp_path: Path) -> None:
    store = SQLitePersistenceProvider(tmp_path / "t.db", check_same_thread=True)
    await store.initialize()
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            store.connection.execute("SELECT 1")
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    try:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        await _run_saga(store)  # the store itself only uses it on the event loop's thread
    finally:
        await store.close()
    assert len(errors) == 1 and "thread" in str(errors[0])


def test_sqlite_defaults__keep_our_file_and_timeout() -> None:
    store = SQLitePersistenceProvider()
    assert (store.path, store.busy_timeout, store.check_same_thread, store.auto_init) == (
        "ruvon.db",
        10.0,
        False,
        True,
    )
    assert SQLitePersistenceProvider(busy_timeout=2.5).busy_timeout == 2.5


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"path": "a.db", "db_path": "b.db"}, "path or db_path"),
        ({"busy_timeout": 1.0, "timeout": 2.0}, "busy_timeout or timeout"),
    ],
)
def test_sqlite_two_names_for_one_option__refuses_two_values(
    kwargs: dict[str, Any], names: str
) -> None:
    with pytest.raises(TypeError, match=names):
        SQLitePersistenceProvider(**kwargs)


async def test_sqlite_auto_init_false__refuses_a_database_without_the_schema(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bare.db"
    store = SQLitePersistenceProvider(db_path=str(path), auto_init=False)

    with pytest.raises(PersistenceError, match=r"has no Ruvon schema.*ruvon db migrate"):
        await store.initialize()
    assert store._opened is False  # the connection was closed again
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []  # nothing was created


async def test_sqlite_auto_init_false__uses_a_migrated_database(tmp_path: Path) -> None:
    path = str(tmp_path / "migrated.db")
    first = SQLitePersistenceProvider(path)
    assert await first.migrate() == latest_version()
    await first.close()

    store = SQLitePersistenceProvider(path, auto_init=False)
    try:
        await _run_saga(store)  # first use initializes without migrating
    finally:
        await store.close()


async def test_sqlite_auto_init_false__refuses_an_older_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first = SQLitePersistenceProvider(str(path))
    await first.initialize()
    await first.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE ruvon_schema SET version = 1")
    db.close()

    with pytest.raises(SchemaVersionError, match="has schema version 1") as info:
        await SQLitePersistenceProvider(str(path), auto_init=False).initialize()
    assert (info.value.found, info.value.needed) == (1, latest_version())
    assert isinstance(info.value, PersistenceError)


def test_sqlite_auto_init_false__is_refused_for_memory() -> None:
    with pytest.raises(PersistenceError, match="':memory:' database always starts empty"):
        SQLitePersistenceProvider(":memory:", auto_init=False)


# --- SQLite: persistence.conn, as the task-manager tutorial uses it -----------------------------


async def test_sqlite_conn__runs_the_tutorials_own_sql_on_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    persistence = SQLitePersistenceProvider(db_path=str(path))
    await persistence.initialize()
    try:
        await persistence.conn.executescript(TUTORIAL_SCHEMA)  # verbatim from the tutorial
        wid = await _run_saga(persistence)  # the store still writes after the user's SQL

        cursor = await persistence.conn.execute(
            "SELECT status FROM ruvon_workflows WHERE id = ?", (wid,)
        )
        row = await cursor.fetchone()
        assert row[0] == row["status"] == "FAILED_ROLLED_BACK"

        inserted = await persistence.conn.execute(
            "INSERT INTO workflow_execution_logs (workflow_id, log_level, message) "
            "VALUES (:w, 'INFO', 'mine')",
            {"w": wid},
        )
        assert (inserted.rowcount, inserted.lastrowid) == (1, 1)
        await persistence.conn.commit()  # aiosqlite programs commit; autocommit makes it a no-op
        assert persistence.conn.in_transaction is False
    finally:
        await persistence.close()

    other = sqlite3.connect(path)  # committed, and in the same file as the store's tables
    assert other.execute("SELECT message FROM workflow_execution_logs").fetchall() == [("mine",)]
    assert other.execute("SELECT count(*) FROM ruvon_workflows").fetchone() == (1,)


async def test_sqlite_conn__cursor_forms_of_aiosqlite(tmp_path: Path) -> None:
    persistence = SQLitePersistenceProvider(tmp_path / "c.db")
    await persistence.initialize()
    conn = persistence.conn
    try:
        await conn.execute("CREATE TABLE t (n INTEGER)")
        await conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
        async with conn.execute("SELECT n FROM t ORDER BY n") as cursor:
            seen = [row[0] async for row in cursor]
        assert seen == [1, 2, 3]
        assert [tuple(r) for r in await conn.execute_fetchall("SELECT n FROM t")] == [
            (1,),
            (2,),
            (3,),
        ]
        cursor = await conn.execute("SELECT n FROM t ORDER BY n")
        assert [r[0] for r in await cursor.fetchmany(2)] == [1, 2]
        assert [r[0] for r in await cursor.fetchall()] == [3]
        assert cursor.description[0][0] == "n"
        await cursor.close()
        assert conn.total_changes >= 3
        assert conn.connection is persistence.connection
        assert isinstance(persistence.connection, sqlite3.Connection)
    finally:
        await persistence.close()


async def test_sqlite_conn__statement_runs_when_awaited_not_when_called(tmp_path: Path) -> None:
    persistence = SQLitePersistenceProvider(tmp_path / "lazy.db")
    await persistence.initialize()
    try:
        pending = persistence.conn.execute("CREATE TABLE lazy (n INTEGER)")
        has = "SELECT count(*) FROM sqlite_master WHERE name = 'lazy'"
        assert persistence.connection.execute(has).fetchone()[0] == 0
        await pending
        assert persistence.connection.execute(has).fetchone()[0] == 1
    finally:
        await persistence.close()


async def test_sqlite_conn__before_initialize_and_after_close_says_so(tmp_path: Path) -> None:
    persistence = SQLitePersistenceProvider(tmp_path / "n.db")
    conn = persistence.conn  # taking it is fine; using it needs an open store
    with pytest.raises(PersistenceError, match=r"is not open: await initialize\(\) first"):
        await conn.execute("SELECT 1")
    with pytest.raises(PersistenceError, match="is not open"):
        persistence.connection  # noqa: B018
    await persistence.initialize()
    assert (await (await conn.execute("SELECT 1")).fetchone())[0] == 1
    await persistence.close()
    with pytest.raises(PersistenceError, match="is not open"):
        await conn.execute("SELECT 1")


# --- initialize() / close() on every store --------------------------------------------------------


async def test_lifecycle__initialize_and_close_twice_are_harmless(backend: Backend) -> None:
    store = backend.new_store()
    await store.initialize()
    await store.initialize()
    wid = await _run_saga(store)
    await store.close()
    await store.close()

    await store.initialize()  # close then initialize: the same database again
    try:
        assert (await store.load_workflow(wid)).status is S.FAILED_ROLLED_BACK
        await _run_saga(store)
    finally:
        await store.close()


async def test_lifecycle__a_store_works_without_initialize(backend: Backend) -> None:
    store = backend.new_store()  # neither initialize() nor close() called by the test
    wid = await _run_saga(store)
    assert [w.id for w in await store.list_workflows()] == [wid]


async def test_lifecycle__close_without_initialize_is_harmless(backend: Backend) -> None:
    store = backend.new_store()
    await store.close()
    await _run_saga(store)


async def test_lifecycle__sqlite_memory_reopened_is_empty_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SQLitePersistenceProvider(":memory:")
    await store.initialize()
    await _run_saga(store)
    await store.close()

    with caplog.at_level(logging.WARNING, logger="ruvon"):
        await store.initialize()
    try:
        assert await store.list_workflows() == []
        assert "new, empty database" in caplog.text
        await _run_saga(store)  # and it works as a fresh store
    finally:
        await store.close()
