"""Store failures a user meets: a database that can not be reached, opened or written, a row
that can not be read, a URL that can not be understood. Each is a ``PersistenceError`` whose
message names the database (file or URL, password hidden) or the workflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from contract_backends import Backend
from contract_helpers import record

from engine_support import builder, st
from ruvon.builder import WorkflowBuilder
from ruvon.errors import PersistenceError
from ruvon.implementations.persistence import store_from_url
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider, parse_sqlite_url
from ruvon.providers.persistence import PersistenceProvider

# --- PostgreSQL that can not be reached ---------------------------------------------------------


def _full_text(exc: BaseException) -> str:
    """The message, the causes and the traceback as a user would see them."""
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize(
    ("password", "redacted_netloc"),
    [
        ("s3cr3t-Passw0rd", "ruvon:***@127.0.0.1:1"),
        ("p%40ss:w0rd", "ruvon:***@127.0.0.1:1"),  # an encoded '@' and a ':' inside
    ],
)
async def test_unreachable_postgres_names_the_url_with_the_password_hidden(
    password: str, redacted_netloc: str
) -> None:
    url = f"postgresql://ruvon:{password}@127.0.0.1:1/ruvon_db"
    store = store_from_url(url)
    assert isinstance(store, PostgresPersistenceProvider)
    for operation in (store.initialize, lambda: store.load_workflow("some-id")):
        with pytest.raises(PersistenceError) as info:
            await operation()
        message = str(info.value)
        assert "can not connect" in message
        assert f"postgresql://{redacted_netloc}/ruvon_db" in message
        assert password not in _full_text(info.value)
        assert "p@ss" not in _full_text(info.value)
    await store.close()


async def test_a_password_given_as_query_parameter_is_hidden_too() -> None:
    store = store_from_url("postgresql://ruvon@127.0.0.1:1/ruvon_db?password=s3cr3t-Passw0rd")
    with pytest.raises(PersistenceError) as info:
        await store.initialize()
    assert "s3cr3t-Passw0rd" not in str(info.value)


# --- SQLite files that can not be opened or written ---------------------------------------------


async def test_sqlite_file_in_a_missing_directory_can_not_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    with pytest.raises(PersistenceError) as info:
        await store.initialize()
    assert "can not be opened" in str(info.value) and str(path) in str(info.value)
    assert not path.parent.exists()


@contextmanager
def read_only(path: Path) -> Iterator[str]:
    """Make ``path`` (a file or a directory) read-only for this process; yield how.

    Not root: ``chmod``. As root (the usual container) ``chmod`` does not stop writes, so the
    immutable attribute is used instead: ``chattr +i`` works as root on ext2/3/4, xfs and btrfs
    when the process has CAP_LINUX_IMMUTABLE (checked in this environment: ext4 in a container,
    works). Where it can not be set, the test is skipped with the reason.
    """
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield "chmod"
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root (chmod does not stop root) and chattr is not installed")
    proc = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(
            "running as root (chmod does not stop root) and 'chattr +i' failed: "
            f"{proc.stderr.strip()} (needs CAP_LINUX_IMMUTABLE and ext2/3/4, xfs or btrfs)"
        )
    try:
        yield "chattr +i"
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


async def test_sqlite_file_in_a_read_only_directory_can_not_be_opened(tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    path = directory / "ruvon.db"
    with read_only(directory):
        store = SQLitePersistenceProvider(path)
        with pytest.raises(PersistenceError) as info:
            await store.initialize()
    assert "can not be opened" in str(info.value) and str(path) in str(info.value)
    assert not path.exists()


async def test_a_read_only_sqlite_file_is_reported_as_not_writable(tmp_path: Path) -> None:
    path = tmp_path / "ruvon.db"
    setup = SQLitePersistenceProvider(path)
    existing = record()
    await setup.create_workflow(existing)
    await setup.close()

    with read_only(path) as how:
        store = SQLitePersistenceProvider(path)
        try:
            with pytest.raises(PersistenceError) as info:
                await store.create_workflow(record())
            assert "is not writable" in str(info.value) and str(path) in str(info.value)
            if how == "chattr +i":  # the file is still readable (checked where it is testable)
                assert (await store.load_workflow(existing.id)).id == existing.id
        finally:
            await store.close()


async def test_a_read_only_empty_sqlite_file_can_not_get_a_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with read_only(path):
        store = SQLitePersistenceProvider(path)
        try:
            with pytest.raises(PersistenceError) as info:
                await store.initialize()
        finally:
            await store.close()
    assert str(path) in str(info.value)
    assert "not writable" in str(info.value) or "can not be opened" in str(info.value)


# --- rows that can not be read ------------------------------------------------------------------


async def _workflow(sql_store: PersistenceProvider) -> tuple[WorkflowBuilder, str]:
    b = builder(st("A", automate_next=False), st("B"), persistence_provider=sql_store)
    wf = await b.create_workflow("T")
    await wf.next_step()  # one step attempt with a result
    return b, wf.id


async def test_garbage_state_json_names_the_workflow(tmp_path: Path) -> None:
    """SQLite only: PostgreSQL's JSONB column refuses invalid JSON (checked below)."""
    store = SQLitePersistenceProvider(tmp_path / "ruvon.db")
    b, wid = await _workflow(store)
    raw = Backend("sqlite", str(tmp_path / "ruvon.db"))
    await raw.sql("UPDATE ruvon_workflows SET state = '{not json' WHERE id = ?", wid)
    with pytest.raises(PersistenceError) as info:
        await b.load_workflow(wid)
    assert f"workflow '{wid}'" in str(info.value)
    await store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("_sql_store_spec", ["postgres"], indirect=True)
async def test_postgres_refuses_to_store_invalid_json(sql_backend: Backend) -> None:
    """Why the garbage-JSON tests are SQLite only: a JSONB column never holds invalid JSON."""
    import asyncpg

    store = sql_backend.new_store()
    _, wid = await _workflow(store)
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await sql_backend.sql("UPDATE ruvon_workflows SET state = '{not json' WHERE id = $1", wid)


@pytest.mark.parametrize(
    "state",
    ['{"n": "not a number"}', "[1, 2]", '{"amount": -3}', '"text"', "null"],
    ids=["wrong-type", "array", "constraint", "string", "null"],
)
async def test_state_json_that_does_not_fit_the_model_names_the_workflow(
    sql_backend: Backend, state: str
) -> None:
    store = sql_backend.new_store()
    b, wid = await _workflow(store)
    param = "?" if sql_backend.name == "sqlite" else "$2"
    first = "?" if sql_backend.name == "sqlite" else "$1"
    await sql_backend.sql(
        f"UPDATE ruvon_workflows SET state = {first} WHERE id = {param}", state, wid
    )
    with pytest.raises(PersistenceError) as info:
        await b.load_workflow(wid)
    message = str(info.value)
    assert f"workflow '{wid}'" in message and "does not fit" in message


@pytest.mark.parametrize(
    ("table", "column", "key"),
    [
        ("ruvon_workflows", "metadata", "id"),
        ("ruvon_workflows", "error", "id"),
        ("ruvon_definitions", "snapshot", None),
        ("ruvon_step_attempts", "result", "workflow_id"),
    ],
)
async def test_garbage_in_other_json_columns_names_the_workflow(
    tmp_path: Path, table: str, column: str, key: str | None
) -> None:
    """SQLite only (JSONB refuses garbage): corrupted JSON is a PersistenceError, not a crash."""
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    b, wid = await _workflow(store)
    raw = Backend("sqlite", str(path))
    where = f" WHERE {key} = ?" if key else ""
    await raw.sql(f"UPDATE {table} SET {column} = '<garbage>'{where}", *([wid] if key else []))
    with pytest.raises(PersistenceError) as info:
        await b.load_workflow(wid)
    assert f"workflow '{wid}'" in str(info.value)
    assert "corrupted JSON" in str(info.value) and str(path) in str(info.value)
    await store.close()


@pytest.mark.parametrize(
    "assignment",
    [
        """error = '{"message": "no type"}'""",
        """error = '"just text"'""",
        "status = 'BOGUS'",
    ],
    ids=["error-without-type", "error-not-an-object", "unknown-status"],
)
async def test_row_values_of_the_wrong_shape_name_the_workflow(
    tmp_path: Path, assignment: str
) -> None:
    path = tmp_path / "ruvon.db"
    store = SQLitePersistenceProvider(path)
    b, wid = await _workflow(store)
    await Backend("sqlite", str(path)).sql(
        f"UPDATE ruvon_workflows SET {assignment} WHERE id = ?", wid
    )
    try:
        with pytest.raises(PersistenceError) as info:
            await b.load_workflow(wid)
        assert f"workflow '{wid}'" in str(info.value)
    finally:
        await store.close()


# --- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["mysql://localhost/ruvon", "ruvon.db", "", "http://example.com/db"]
)
def test_an_unsupported_url_scheme_is_a_persistence_error(url: str) -> None:
    with pytest.raises(PersistenceError) as info:
        store_from_url(url)
    message = str(info.value)
    assert "unsupported database URL" in message and f"'{url}'" in message
    assert "sqlite:///" in message and "postgresql://" in message


def test_an_unsupported_url_does_not_leak_its_password() -> None:
    with pytest.raises(PersistenceError) as info:
        store_from_url("mysql://root:s3cr3t-Passw0rd@db.example.com/ruvon")
    assert "s3cr3t-Passw0rd" not in str(info.value)


def test_supported_schemes_pick_the_right_store() -> None:
    assert isinstance(store_from_url("memory://"), InMemoryPersistenceProvider)
    assert isinstance(store_from_url("sqlite:///x.db"), SQLitePersistenceProvider)
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "PostgreSQL://u@h/db"):
        assert isinstance(store_from_url(url), PostgresPersistenceProvider), url


@pytest.mark.parametrize(
    ("url", "path", "synchronous"),
    [
        ("sqlite:///relative.db", "relative.db", "FULL"),
        ("sqlite:///sub/dir/ruvon.db", "sub/dir/ruvon.db", "FULL"),
        ("sqlite:////abs/path/ruvon.db", "/abs/path/ruvon.db", "FULL"),
        ("sqlite:///:memory:", ":memory:", "FULL"),
        ("sqlite://", ":memory:", "FULL"),
        ("sqlite:///ruvon.db?synchronous=NORMAL", "ruvon.db", "NORMAL"),
        ("sqlite:///ruvon.db?synchronous=normal", "ruvon.db", "NORMAL"),
        ("sqlite:////abs/ruvon.db?synchronous=OFF", "/abs/ruvon.db", "OFF"),
    ],
)
def test_sqlite_url_parsing(url: str, path: str, synchronous: str) -> None:
    store = store_from_url(url)
    assert isinstance(store, SQLitePersistenceProvider)
    assert (store.path, store.synchronous) == (path, synchronous)
    assert parse_sqlite_url(url)[0] == path


def test_sqlite_url_options() -> None:
    store = SQLitePersistenceProvider("sqlite:///x.db?busy_timeout=2.5&synchronous=EXTRA")
    assert (store.busy_timeout, store.synchronous) == (2.5, "EXTRA")
    assert SQLitePersistenceProvider("x.db", synchronous="normal").synchronous == "NORMAL"
    with pytest.raises(PersistenceError, match="not a SQLite URL"):
        parse_sqlite_url("postgresql://u@h/db")


@pytest.mark.parametrize(
    "url", ["sqlite:///ruvon.db?synchronous=fast", "sqlite:///r.db?synchronous=1"]
)
def test_a_bad_synchronous_value_is_a_persistence_error(url: str) -> None:
    with pytest.raises(PersistenceError) as info:
        store_from_url(url)
    assert "synchronous must be one of OFF, NORMAL, FULL, EXTRA" in str(info.value)


def test_a_sqlite_url_with_a_host_is_refused() -> None:
    with pytest.raises(PersistenceError):
        store_from_url("sqlite://ruvon.db")


async def test_relative_and_absolute_sqlite_urls_create_the_file_where_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = store_from_url("sqlite:///rel.db?synchronous=NORMAL")
    absolute_path = tmp_path / "abs" / "ruvon.db"
    absolute_path.parent.mkdir()
    absolute = store_from_url(f"sqlite:///{absolute_path}")  # four slashes: /tmp/... is absolute
    assert str(absolute_path).startswith("/")
    try:
        for store in (relative, absolute):
            await store.create_workflow(record())
        assert (tmp_path / "rel.db").is_file() and absolute_path.is_file()
        # the option reaches the connection (PRAGMA synchronous: 1 = NORMAL, 2 = FULL)
        pragma = {
            name: (
                s._db.execute("PRAGMA synchronous").fetchone()[0],  # type: ignore[attr-defined]
                s._db.execute("PRAGMA journal_mode").fetchone()[0],
            )  # type: ignore[attr-defined]
            for name, s in (("relative", relative), ("absolute", absolute))
        }
        assert pragma == {"relative": (1, "wal"), "absolute": (2, "wal")}
    finally:
        await relative.close()
        await absolute.close()


async def test_an_in_memory_sqlite_url_works(tmp_path: Path) -> None:
    store = store_from_url("sqlite:///:memory:")
    try:
        wf = record()
        await store.create_workflow(wf)
        assert (await store.load_workflow(wf.id)).id == wf.id
    finally:
        await store.close()


# --- SQLite opened while another process holds the file ----------------------------------------


def _locked_for(times: int, real: object) -> tuple[list[int], object]:
    import sqlite3

    calls: list[int] = []

    def connect(self: SQLitePersistenceProvider) -> sqlite3.Connection:
        calls.append(1)
        if len(calls) <= times:
            raise sqlite3.OperationalError("database is locked")
        return real(self)  # type: ignore[operator]

    return calls, connect


async def test_sqlite_retries_an_open_that_finds_the_file_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what SQLite answers, without waiting, to a process opening the file while another one's
    # last connection closes and removes the WAL
    calls, connect = _locked_for(3, SQLitePersistenceProvider._connect)
    monkeypatch.setattr(SQLitePersistenceProvider, "_connect", connect)
    store = SQLitePersistenceProvider(tmp_path / "busy.db")
    await store.initialize()
    try:
        assert len(calls) == 4
        assert await store.list_workflows() == []
    finally:
        await store.close()


async def test_sqlite_gives_up_on_a_lock_after_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, connect = _locked_for(10**6, SQLitePersistenceProvider._connect)
    monkeypatch.setattr(SQLitePersistenceProvider, "_connect", connect)
    store = SQLitePersistenceProvider(tmp_path / "busy.db", busy_timeout=0.2)
    with pytest.raises(PersistenceError, match=r"busy\.db.*database is locked"):
        await store.initialize()
    assert 3 <= len(calls) < 50  # retried, with growing pauses, then stopped


async def test_sqlite_does_not_retry_other_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    calls: list[int] = []

    def connect(self: SQLitePersistenceProvider) -> sqlite3.Connection:
        calls.append(1)
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(SQLitePersistenceProvider, "_connect", connect)
    with pytest.raises(PersistenceError, match="can not be opened"):
        await SQLitePersistenceProvider(tmp_path / "x.db").initialize()
    assert calls == [1]
