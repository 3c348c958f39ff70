"""The SQL schema on SQLite and PostgreSQL: migrations agree with schema.sql, versions are checked.

``schema.sql`` is what a fresh install gets; ``migrations/`` is how an existing database gets
there. Both paths must produce the same tables, columns (name, type, nullability, default,
primary key), indexes (and their columns), foreign keys and constraints.

Replaying the migrations needs an opened store that has not migrated yet: ``initialize()``
always migrates (fresh install from ``schema.sql``) and ``migrate()`` needs open connections, so
these tests call the store's ``_open()``/``_close()`` hooks around ``migrate(replay=True)``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from contract_backends import Backend, reset_postgres
from contract_helpers import record, transition

from engine_support import builder, st
from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.sql import queries as sqlq

LATEST = sqlq.latest_version()


# --- introspection ------------------------------------------------------------------------------


def _sqlite_schema(path: str) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        objects = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE tbl_name LIKE 'ruvon%' ORDER BY type, name"
        ).fetchall()
        tables: dict[str, Any] = {}
        for kind, name, _, sql in objects:
            if kind != "table":
                continue
            indexes = {}
            for _, index, unique, origin, partial in db.execute(f"PRAGMA index_list('{name}')"):
                columns = tuple(c[2] for c in db.execute(f"PRAGMA index_info('{index}')"))
                indexes[index] = (bool(unique), origin, bool(partial), columns)
            tables[name] = {
                # (cid, name, type, notnull, default, pk position)
                "columns": [tuple(c) for c in db.execute(f"PRAGMA table_info('{name}')")],
                "indexes": indexes,
                # (seq, referenced table, from, to, on_update, on_delete, match)
                "foreign_keys": sorted(
                    tuple(fk[1:]) for fk in db.execute(f"PRAGMA foreign_key_list('{name}')")
                ),
                "without_rowid": "WITHOUT ROWID" in (sql or "").upper(),
            }
        return {
            "objects": sorted((kind, name, tbl) for kind, name, tbl, _ in objects),
            "tables": tables,
            "version": db.execute("SELECT version FROM ruvon_schema").fetchall(),
        }
    finally:
        db.close()


async def _postgres_schema(backend: Backend) -> dict[str, Any]:
    columns = await backend.fetch(
        "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
        "column_default, is_identity, identity_generation "
        "FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name LIKE 'ruvon%' "
        "ORDER BY table_name, ordinal_position"
    )
    primary_keys = await backend.fetch(
        "SELECT tc.table_name, kcu.column_name, kcu.ordinal_position "
        "FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu "
        "  ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema "
        "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() "
        "AND tc.table_name LIKE 'ruvon%' ORDER BY 1, 3"
    )
    constraints = await backend.fetch(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
        "AND conrelid::regclass::text LIKE 'ruvon%' ORDER BY 1, 2"
    )
    indexes = await backend.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename LIKE 'ruvon%' ORDER BY 1, 2"
    )
    index_columns = await backend.fetch(
        "SELECT t.relname, i.relname, ix.indisunique, ix.indisprimary, "
        "  array_agg(a.attname ORDER BY k.ord) "
        "FROM pg_index ix "
        "JOIN pg_class i ON i.oid = ix.indexrelid "
        "JOIN pg_class t ON t.oid = ix.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
        "CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
        "WHERE t.relname LIKE 'ruvon%' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2"
    )
    tables = await backend.fetch(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name LIKE 'ruvon%' ORDER BY 1"
    )
    version = await backend.fetch("SELECT version FROM ruvon_schema")
    return {
        "tables": tables,
        "columns": columns,
        "primary_keys": primary_keys,
        "constraints": constraints,
        "indexes": indexes,
        "index_columns": [(*r[:4], list(r[4])) for r in index_columns],
        "version": version,
    }


async def _schema(backend: Backend) -> dict[str, Any]:
    if backend.name == "sqlite":
        assert backend.target is not None
        return _sqlite_schema(backend.target)
    return await _postgres_schema(backend)


async def _wipe(backend: Backend) -> None:
    """Back to an empty database."""
    if backend.name == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{backend.target}{suffix}").unlink(missing_ok=True)
    else:
        assert backend.target is not None
        await reset_postgres(backend.target, drop=True)


async def _install(backend: Backend, *, replay: bool) -> int:
    store = backend.new_store()
    await store._open()
    try:
        return int(await store.migrate(replay=replay))
    finally:
        await store._close()


def _dialect(backend: Backend) -> sqlq.Dialect:
    if backend.name == "sqlite":
        from ruvon.implementations.persistence.sqlite import SQLITE

        return SQLITE
    from ruvon.implementations.persistence.postgres import POSTGRES

    return POSTGRES


def _where(backend: Backend) -> str:
    if backend.name == "sqlite":
        return str(backend.target)
    from ruvon.implementations.persistence.postgres import redact

    return redact(str(backend.target))


# --- migrations ---------------------------------------------------------------------------------


async def test_migrations_step_by_step_give_exactly_the_fresh_schema(
    sql_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _wipe(sql_backend)
    assert await _install(sql_backend, replay=False) == LATEST
    fresh = await _schema(sql_backend)

    await _wipe(sql_backend)
    scripts: list[str] = []
    real_statements = sqlq.statements

    def spy(script: str) -> list[str]:
        scripts.append(script)
        return real_statements(script)

    def no_schema(dialect: sqlq.Dialect) -> str:
        raise AssertionError("replay must not use schema.sql")

    with monkeypatch.context() as patch:
        patch.setattr(sqlq, "statements", spy)
        patch.setattr(sqlq, "schema", no_schema)
        assert await _install(sql_backend, replay=True) == LATEST
    dialect = _dialect(sql_backend)
    assert scripts == [dialect.ddl(m) for m in sqlq.migrations().values()]  # each one, in order
    assert len(scripts) == LATEST
    replayed = await _schema(sql_backend)

    assert fresh["version"] == [(LATEST,)]
    expected_tables = {
        "ruvon_schema",
        "ruvon_definitions",
        "ruvon_workflows",
        "ruvon_step_attempts",
        "ruvon_compensations",
        "ruvon_logs",
        "ruvon_audit",
        "ruvon_metrics",
        "ruvon_schedules",
    }
    if sql_backend.name == "sqlite":
        assert set(fresh["tables"]) == expected_tables
        for table in sorted(expected_tables):
            assert replayed["tables"].get(table) == fresh["tables"][table], table
        assert replayed["objects"] == fresh["objects"]
    else:
        assert {t for t, _ in fresh["tables"]} == expected_tables
        for key in fresh:
            assert replayed[key] == fresh[key], key
    assert replayed == fresh


async def test_upgrading_a_version_1_database_keeps_its_workflows(sql_backend: Backend) -> None:
    await _wipe(sql_backend)
    await _install(sql_backend, replay=False)
    fresh = await _schema(sql_backend)
    await _wipe(sql_backend)

    # a database as version 1 left it, with one workflow in it
    for statement in sqlq.statements(_dialect(sql_backend).ddl(sqlq.migrations()[1])):
        await sql_backend.sql(statement)
    await sql_backend.sql(
        "INSERT INTO ruvon_definitions (digest, workflow_type, workflow_version, snapshot, "
        """created_at) VALUES ('d1', 'T', '1', '{"steps": []}', 1.0)"""
    )
    await sql_backend.sql(
        "INSERT INTO ruvon_workflows (id, workflow_type, workflow_version, definition_digest, "
        "status, state, current_step, saga_mode, metadata, created_at, updated_at, version) "
        """VALUES ('w1', 'T', '1', 'd1', 'ACTIVE', '{"n": 4}', 1, FALSE, '{}', 1.0, 2.0, 3)"""
    )
    assert await sql_backend.fetch("SELECT version FROM ruvon_schema") == [(1,)]

    store = sql_backend.new_store()
    await store.initialize()  # migrates 1 -> latest
    loaded = await store.load_workflow("w1")
    assert (loaded.version, loaded.current_step, loaded.definition) == (3, 1, {"steps": []})
    assert (loaded.lease_owner, loaded.lease_expires_at) == (None, None)
    assert loaded.frames == []
    await store.close()
    assert await _schema(sql_backend) == fresh


async def test_upgrading_a_version_4_database_reads_no_frames_and_no_items(
    sql_backend: Backend,
) -> None:
    """Rows written before version 5 have NULL frames and items: an empty stack, no item. The
    upgraded workflow then takes frames and items like a new one."""
    await _wipe(sql_backend)
    await _install(sql_backend, replay=False)
    fresh = await _schema(sql_backend)
    await _wipe(sql_backend)

    # a database as version 4 left it, with a workflow and one of its step attempts
    for version in range(1, 5):
        script = _dialect(sql_backend).ddl(sqlq.migrations()[version])
        for statement in sqlq.statements(script):
            await sql_backend.sql(statement)
    await sql_backend.sql(
        "INSERT INTO ruvon_definitions (digest, workflow_type, workflow_version, snapshot, "
        """created_at) VALUES ('d1', 'T', '1', '{"steps": []}', 1.0)"""
    )
    await sql_backend.sql(
        "INSERT INTO ruvon_workflows (id, workflow_type, workflow_version, definition_digest, "
        "status, state, current_step, saga_mode, metadata, created_at, updated_at, version) "
        """VALUES ('w4', 'T', '1', 'd1', 'ACTIVE', '{"n": 4}', 1, FALSE, '{}', 1.0, 2.0, 3)"""
    )
    await sql_backend.sql(
        "INSERT INTO ruvon_step_attempts (workflow_id, seq, scope, step_name, step_index, "
        """attempt, status, started_at, ended_at, result) VALUES ('w4', 0, 'A', 'A', 0, 1, """
        """'COMPLETED', 1.0, 1.5, '{"n": 4}')"""
    )
    assert await sql_backend.fetch("SELECT version FROM ruvon_schema") == [(4,)]

    store = sql_backend.new_store()
    await store.initialize()  # migrates 4 -> latest
    loaded = await store.load_workflow("w4")
    assert (loaded.version, loaded.current_step, loaded.frames) == (3, 1, [])
    assert [r.frames for r in await store.list_workflows()] == [[]]
    [attempt] = await store.step_history("w4")
    assert (attempt.scope, attempt.result, attempt.item) == ("A", {"n": 4}, None)

    await store.commit(
        transition(
            loaded,
            frames=[{"scope": "A", "iteration": 0}],
            steps=(replace(attempt, seq=1, item={"sku": "A-1"}),),
        )
    )
    assert (await store.load_workflow("w4")).frames == [{"scope": "A", "iteration": 0}]
    assert [s.item for s in await store.step_history("w4")] == [None, {"sku": "A-1"}]
    await store.close()
    assert await _schema(sql_backend) == fresh


async def test_a_newer_database_schema_is_refused_naming_the_database(
    sql_backend: Backend,
) -> None:
    store = sql_backend.new_store()
    await store.initialize()
    await store.close()
    await sql_backend.sql(f"UPDATE ruvon_schema SET version = {LATEST + 7}")

    newer = sql_backend.new_store()
    with pytest.raises(PersistenceError) as info:
        await newer.initialize()
    message = str(info.value)
    assert "newer" in message
    assert _where(sql_backend) in message
    assert f"version {LATEST + 7}" in message and f"({LATEST})" in message
    await newer.close()


def _connections(backend: Backend) -> Any:
    async def count() -> int:
        if backend.name == "sqlite":
            found = 0
            for fd in os.listdir("/proc/self/fd"):
                try:
                    link = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                found += link.startswith(str(backend.target))
            return found
        rows = await backend.fetch(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'ruvon-close-check'"
        )
        return int(rows[0][0])

    return count


async def settled_count(connections: Any, timeout: float = 5.0) -> int:
    """The connection count once it reaches 0, or after ``timeout`` seconds: a server backend
    exits a moment after its client closed the connection."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (count := await connections()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return int(count)


@pytest.fixture
def connections(sql_backend: Backend) -> Any:
    if sql_backend.name == "sqlite" and not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting open SQLite files needs /proc/self/fd (Linux)")
    return _connections(sql_backend)


async def test_close_releases_every_connection(sql_backend: Backend, connections: Any) -> None:
    store = sql_backend.new_store()
    store.application_name = "ruvon-close-check"  # count only this store's connections
    await store.initialize()
    await store.create_workflow(record())
    assert await connections() > 0
    await store.close()
    assert await settled_count(connections) == 0


async def test_close_after_a_failed_initialize_releases_connections(
    sql_backend: Backend, connections: Any
) -> None:
    store = sql_backend.new_store()
    await store.initialize()
    await store.close()
    await sql_backend.sql(f"UPDATE ruvon_schema SET version = {LATEST + 1}")
    newer = sql_backend.new_store()
    newer.application_name = "ruvon-close-check"
    try:
        with pytest.raises(PersistenceError, match="newer"):
            await newer.initialize()
        await newer.close()
        assert await settled_count(connections) == 0
    finally:
        await newer._close()  # should close() leak again, the leak ends with this test


async def test_migrate_twice_is_a_no_op(sql_backend: Backend) -> None:
    store = sql_backend.new_store()
    await store.initialize()
    wf = record(state={"n": 5})
    await store.create_workflow(wf)
    before = await _schema(sql_backend)

    assert await store.migrate() == LATEST
    assert await store.migrate() == LATEST
    again = sql_backend.new_store()
    await again.initialize()  # a second process starting on the same database
    assert await again.migrate() == LATEST

    assert await _schema(sql_backend) == before
    assert await sql_backend.fetch("SELECT version FROM ruvon_schema") == [(LATEST,)]
    assert (await again.load_workflow(wf.id)).version == 0


async def test_state_json_is_readable_with_plain_sql(sql_backend: Backend) -> None:
    store = sql_backend.new_store()
    b = builder(st("A"), st("B"), persistence_provider=store)
    wf = await b.create_workflow("T", {"note": "Zürich"}, metadata={"tenant": "acme"})
    await wf.next_step()

    if sql_backend.name == "sqlite":
        rows = await sql_backend.fetch(
            "SELECT json_extract(state, '$.n'), json_extract(state, '$.log[1]'), "
            "json_extract(state, '$.note'), json_extract(metadata, '$.tenant') "
            "FROM ruvon_workflows WHERE id = ?",
            wf.id,
        )
        assert rows == [(2, "B", "Zürich", "acme")]
        found = await sql_backend.fetch(
            "SELECT id FROM ruvon_workflows WHERE json_extract(state, '$.n') = 2"
        )
        results = await sql_backend.fetch(
            "SELECT json_extract(result, '$.n') FROM ruvon_step_attempts "
            "WHERE workflow_id = ? ORDER BY seq",
            wf.id,
        )
    else:
        rows = await sql_backend.fetch(
            "SELECT state->>'n', state->'log'->>1, state->>'note', metadata->>'tenant' "
            "FROM ruvon_workflows WHERE id = $1",
            wf.id,
        )
        assert rows == [("2", "B", "Zürich", "acme")]
        found = await sql_backend.fetch(
            "SELECT id FROM ruvon_workflows WHERE (state->>'n')::int = 2"
        )
        results = await sql_backend.fetch(
            "SELECT (result->>'n')::int FROM ruvon_step_attempts "
            "WHERE workflow_id = $1 ORDER BY seq",
            wf.id,
        )
    assert found == [(wf.id,)]
    assert results == [(1,), (2,)]
