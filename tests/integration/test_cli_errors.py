"""Each error of ``ruvon``: its exit code (1 failed, 2 usage, 3 database, 4 not found) and its
one line on stderr, ``error: <what> — <hint>``, never a traceback (unless --debug)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
from pathlib import Path

import pytest
from cli_support import db_url_fixture, one_error_line, postgres_database, project, ruvon

__all__ = ["db_url_fixture"]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return project(tmp_path)


def _start_waiting(app: Path, db: str) -> str:
    proc = ruvon("start", "Expense", "-d", '{"item": "a"}', "--run", "--db", db, cwd=app)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[0]


# --- not found (4) --------------------------------------------------------------------------------


def test_unknown_workflow_type__says_where_it_looked(app: Path, db_url: str) -> None:
    proc = ruvon("start", "Ordr", "--db", db_url, cwd=app)
    assert proc.returncode == 4
    line = one_error_line(proc)
    assert line.startswith("error: unknown workflow type 'Ordr', did you mean 'Order'?")
    assert "looked in config_dir 'config'" in line
    assert line.endswith(" — set --config-dir")


def test_unknown_workflow_id__in_every_command_that_takes_one(app: Path, db_url: str) -> None:
    _start_waiting(app, db_url)  # the database exists
    for command in ("show", "logs", "resume", "approve", "reject", "retry", "cancel"):
        proc = ruvon(command, "no-such-id", "--db", db_url, cwd=app)
        assert proc.returncode == 4, (command, proc.stderr)
        assert one_error_line(proc) == (
            "error: workflow 'no-such-id' not found — 'ruvon list' shows the workflows"
        )


def test_graph_of_an_unknown_type(app: Path) -> None:
    proc = ruvon("graph", "Nope", cwd=app)
    assert proc.returncode == 4
    assert "unknown workflow type 'Nope'" in one_error_line(proc)


# --- usage (2) ------------------------------------------------------------------------------------


def test_bad_filter_values_of_list(app: Path, db_url: str) -> None:
    _start_waiting(app, db_url)
    bad_status = ruvon("list", "--status", "done", "--db", db_url, cwd=app)
    assert bad_status.returncode == 2
    assert one_error_line(bad_status).startswith(
        "error: unknown status 'done' — one of ACTIVE, PAUSED, WAITING_HUMAN,"
    )
    bad_since = ruvon("list", "--since", "last tuesday", "--db", db_url, cwd=app)
    assert bad_since.returncode == 2
    assert one_error_line(bad_since) == (
        "error: --since 'last tuesday' is neither an age nor a date — write an age like 30m, "
        "2h, 7d, or a UTC date like 2026-11-30 or 2026-11-30T12:00"
    )
    bad_limit = ruvon("list", "--limit", "0", "--db", db_url, cwd=app)
    assert bad_limit.returncode == 2
    assert "Invalid value for '--limit' / '-n'" in one_error_line(bad_limit)


def test_bad_data__is_refused_and_nothing_is_stored(app: Path, db_url: str) -> None:
    cases = {
        "{not json": "error: --data is not JSON: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)",
        "[1, 2]": "error: --data must be a JSON object, not list",
        '{"amount": "lots"}': "error: initial data for workflow 'Order' does not fit Order: "
        "item: Field required; amount: Input should be a valid number, unable to parse string "
        "as a number",
        "@missing.json": "error: can not read --data file 'missing.json': No such file or "
        "directory",
    }
    for data, expected in cases.items():
        proc = ruvon("start", "Order", "-d", data, "--db", db_url, cwd=app)
        assert proc.returncode == 2, (data, proc.stderr)
        assert one_error_line(proc).startswith(expected), data
    both = ruvon("start", "Order", "-d", "{}", "--data-file", "x.json", "--db", db_url, cwd=app)
    assert both.returncode == 2
    assert one_error_line(both) == "error: give --data inline or as a file, not both"
    listed = ruvon("db", "migrate", "--db", db_url, cwd=app)
    assert listed.returncode == 0
    assert json.loads(ruvon("list", "--json", "--db", db_url, cwd=app).stdout) == []


def test_numbers_past_their_bounds_are_usage_errors(app: Path, db_url: str) -> None:
    _start_waiting(app, db_url)
    for args in (
        ["list", "-n", str(2**66)],
        ["logs", "some-id", "-n", str(2**66)],
        ["recover", "--limit", str(2**66)],
        ["recover", "--lease-seconds", "inf"],
        ["recover", "--lease-seconds", "nan"],
        ["scheduler", "--interval", "nan"],
        ["scheduler", "--grace", "1e309"],
    ):
        proc = ruvon(*args, "--db", db_url, cwd=app)
        assert proc.returncode == 2, (args, proc.stderr)
        assert one_error_line(proc).startswith("error: Invalid value for '"), args


def test_data_nested_too_deep_or_not_utf8_is_a_usage_error(app: Path, db_url: str) -> None:
    nested = '{"item": "a", "log": ' + "[" * 64 + "]" * 64 + "}"  # 65 levels with the object
    (app / "deep.json").write_text('{"item": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (app / "latin.json").write_bytes(b'{"item": "caf\xe9"}')
    cases = {
        ("-d", nested): "error: --data is nested more than 64 levels deep",
        ("-d", "@deep.json"): "error: --data file 'deep.json' is nested more than 64 levels deep",
        ("--data-file", "deep.json"): "error: --data file 'deep.json' is nested more than 64",
        ("-d", "@latin.json"): "error: --data file 'latin.json' is not UTF-8 text (byte 0xe9 at "
        "offset 13) — save it as UTF-8",
        ("-d", '{"item": "caf\udce9"}'): "error: --data is not UTF-8 text — give it as UTF-8",
    }
    for args, expected in cases.items():
        proc = ruvon("start", "Order", *args, "--db", db_url, cwd=app)
        assert proc.returncode == 2, (args, proc.stderr)
        assert one_error_line(proc).startswith(expected), args
    fits = '{"item": "a", "log": ' + "[" * 63 + "]" * 63 + "}"  # 64 levels: read, then
    refused = ruvon("start", "Order", "-d", fits, "--dry-run", cwd=app)  # the model refuses it
    assert refused.returncode == 2
    assert "log.0: Input should be a valid string" in one_error_line(refused)
    wid = _start_waiting(app, db_url)
    deep_input = '{"approved": true, "approver": ' + "[" * 70 + "]" * 70 + "}"
    proc = ruvon("resume", wid, "-i", deep_input, "--db", db_url, cwd=app)
    assert proc.returncode == 2
    assert one_error_line(proc) == "error: --input is nested more than 64 levels deep"
    assert [
        w["id"] for w in json.loads(ruvon("list", "--json", "--db", db_url, cwd=app).stdout)
    ] == [wid]


def test_text_that_is_not_utf8_on_the_command_line(app: Path, db_url: str) -> None:
    wid = _start_waiting(app, db_url)
    not_utf8 = "ab\udcff"  # the byte 0xff in an argument, as Python sees it
    for command in ("show", "logs", "resume", "approve", "cancel"):
        proc = ruvon(command, not_utf8, "--db", db_url, cwd=app)
        assert proc.returncode == 4, (command, proc.stderr)
        assert one_error_line(proc) == (
            "error: workflow 'ab\\xff' not found — 'ruvon list' shows the workflows"
        )
    listed = ruvon("list", "--type", not_utf8, "--json", "--db", db_url, cwd=app)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    for args, option in (
        (
            ["start", "Order", "-d", '{"item": "a"}', "--idempotency-key", not_utf8],
            "--idempotency-key",
        ),
        (["cancel", wid, "--reason", not_utf8], "--reason"),
    ):
        proc = ruvon(*args, "--db", db_url, cwd=app)
        assert proc.returncode == 2, (args, proc.stderr)
        assert one_error_line(proc) == f"error: {option} 'ab\\xff' is not UTF-8 text"
    assert json.loads(ruvon("show", wid, "--json", "--db", db_url, cwd=app).stdout)["status"] == (
        "WAITING_HUMAN"
    )


def test_click_usage_errors_are_one_line_too(app: Path) -> None:
    unknown_option = ruvon("list", "--colour", cwd=app)
    assert unknown_option.returncode == 2
    assert one_error_line(unknown_option) == (
        "error: No such option: --colour — see 'ruvon list --help'"
    )
    missing = ruvon("show", cwd=app)
    assert missing.returncode == 2
    assert one_error_line(missing) == "error: Missing argument 'ID'. — see 'ruvon show --help'"
    unknown_command = ruvon("sho", cwd=app)
    assert unknown_command.returncode == 2
    assert "No such command 'sho'" in one_error_line(unknown_command)


def test_a_config_dir_that_does_not_exist(app: Path) -> None:
    proc = ruvon("start", "Order", "--config-dir", "confg", "--db", "memory://", cwd=app)
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        "error: --config-dir 'confg' does not exist — point it at the directory that holds "
        "your workflow YAML files"
    )


def test_resume_input_of_a_workflow_that_does_not_wait(app: Path, db_url: str) -> None:
    wid = _start_waiting(app, db_url)
    assert (
        ruvon(
            "resume", wid, "-i", '{"approved": true, "approver": "x"}', "--db", db_url, cwd=app
        ).returncode
        == 0
    )
    proc = ruvon("resume", wid, "-i", "{}", "--db", db_url, cwd=app)
    assert proc.returncode == 1
    assert one_error_line(proc).startswith(
        f"error: workflow '{wid}' is COMPLETED, not waiting for input"
    )


# --- failed (1) -----------------------------------------------------------------------------------


def test_approve_a_workflow_that_waits_for_no_approval(app: Path, db_url: str) -> None:
    wid = _start_waiting(app, db_url)
    proc = ruvon("approve", wid, "--db", db_url, cwd=app)
    assert proc.returncode == 1
    assert one_error_line(proc) == (
        f"error: workflow '{wid}' is WAITING_HUMAN; no compensation awaits approval — "
        "'ruvon show ID' says what it waits for"
    )


def test_an_idempotency_key_of_a_workflow_of_another_type(app: Path, db_url: str) -> None:
    first = ruvon(
        "start", "Order", "-d", '{"item": "a"}', "--idempotency-key", "k1", "--db", db_url, cwd=app
    )
    assert first.returncode == 0, first.stderr
    wid = first.stdout.strip()
    again = ruvon(
        "start", "Order", "-d", '{"item": "a"}', "--idempotency-key", "k1", "--db", db_url, cwd=app
    )
    assert (again.returncode, again.stdout.strip()) == (0, wid)  # the same workflow

    proc = ruvon(
        "start", "Plain", "-d", '{"item": "a"}', "--idempotency-key", "k1", "--db", db_url, cwd=app
    )

    assert proc.returncode == 1
    assert one_error_line(proc) == (
        f"error: idempotency key 'k1' belongs to workflow '{wid}' of type 'Order', not 'Plain' — "
        "a key stands for the one workflow it started: give another --idempotency-key"
    )


def test_a_broken_definition_names_file_line_and_validate(app: Path) -> None:
    (app / "config" / "plain.yaml").write_text(
        "workflow_type: Plain\ninitial_state_model: shop.Order\nsteps:\n"
        "  - name: Charge\n    function: shop.nothing_here\n"
    )
    proc = ruvon("start", "Order", "--db", "memory://", cwd=app)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "config/plain.yaml:5, workflow 'Plain', step 'Charge', key 'function'" in line
    assert line.endswith(" — 'ruvon validate' lists every problem")


def test_debug_prints_the_traceback(app: Path) -> None:
    proc = ruvon("--debug", "show", "nope", "--db", "memory://", cwd=app)
    assert proc.returncode == 4
    assert "Traceback" in proc.stderr and "WorkflowNotFoundError" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: workflow 'nope' not found")


def test_serve_on_a_port_in_use__one_line_exit_1(app: Path) -> None:
    assert ruvon("db", "migrate", "--db", "sqlite:///work.db", cwd=app).returncode == 0
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]

        proc = ruvon("serve", "--db", "sqlite:///work.db", "--port", str(port), cwd=app, timeout=30)

    assert proc.returncode == 1
    assert one_error_line(proc) == (
        f"error: port {port} is in use on 127.0.0.1 — stop what listens there, or choose "
        "another --port"
    )
    assert proc.stdout == ""  # the server never started


def test_serve_on_a_host_that_does_not_resolve(app: Path) -> None:
    assert ruvon("db", "migrate", "--db", "sqlite:///work.db", cwd=app).returncode == 0
    proc = ruvon(
        "serve",
        "--db",
        "sqlite:///work.db",
        "--host",
        "no-such-host.invalid",
        "--token",
        "x" * 24,
        cwd=app,
        timeout=30,
    )
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line.startswith("error: can not listen on no-such-host.invalid port 8080: ")
    assert line.endswith(" — check --host and --port")


# --- database (3) ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["list", "show", "logs"])
def test_a_typod_sqlite_path_in_a_read_command_is_an_error_not_a_new_file(
    app: Path, command: str
) -> None:
    assert ruvon("db", "migrate", "--db", "sqlite:///work.db", cwd=app).returncode == 0
    args = [command] if command == "list" else [command, "some-id"]
    proc = ruvon(*args, "--db", "sqlite:///wrok.db", cwd=app)
    assert proc.returncode == 3
    assert one_error_line(proc) == (
        f"error: no SQLite database at '{app / 'wrok.db'}' — check --db or "
        "$RUVON_DATABASE_URL; 'ruvon db migrate --db URL' creates one"
    )
    assert not (app / "wrok.db").exists()


@pytest.mark.parametrize(
    "args",
    [["list"], ["show", "some-id"], ["start", "Order", "-d", '{"item": "a"}'], ["db", "migrate"]],
)
def test_a_sqlite_url_without_a_path_is_an_error_not_a_database_in_memory(
    app: Path, args: list[str]
) -> None:
    for url in ("sqlite:///", "sqlite://", "sqlite:///?synchronous=NORMAL"):
        proc = ruvon(*args, cwd=app, env={"RUVON_DATABASE_URL": url})
        assert proc.returncode == 3, (url, proc.stderr)
        assert one_error_line(proc) == (
            f"error: the SQLite URL '{url}' names no file — write sqlite:///FILE "
            "(sqlite:///:memory: for a database in memory); check --db or $RUVON_DATABASE_URL"
        )
    assert sorted(p.name for p in app.iterdir()) == ["config", "shop"]


def test_the_default_database_missing_is_named_as_the_default(app: Path) -> None:
    proc = ruvon("list", cwd=app)
    assert proc.returncode == 3
    assert f"no SQLite database at '{app / 'ruvon.db'}' (the default)" in one_error_line(proc)
    assert not (app / "ruvon.db").exists()


def test_a_read_command_leaves_an_old_schema_alone(app: Path) -> None:
    db = app / "old.db"
    sqlite3.connect(db).execute("CREATE TABLE ruvon_schema (version INTEGER)").connection.commit()
    proc = ruvon("list", "--db", f"sqlite:///{db}", cwd=app)
    assert proc.returncode == 3
    assert one_error_line(proc) == (
        f"error: SQLite database '{db}' has no Ruvon schema — check --db; 'ruvon db migrate "
        f"--db sqlite:///{db}' creates it (a read command leaves the database as it is)"
    )


def _sql(db_url: str, *statements: str) -> list[tuple[object, ...]]:
    """Run ``statements`` on the database of ``db_url``; the rows of the last one."""
    if db_url.startswith("sqlite:"):
        db = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                rows = db.execute(statement).fetchall()
            return rows
        finally:
            db.close()

    async def run() -> list[tuple[object, ...]]:
        import asyncpg

        conn = await asyncpg.connect(db_url)
        try:
            for statement in statements[:-1]:
                await conn.execute(statement)
            return [tuple(r) for r in await conn.fetch(statements[-1])]
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.mark.parametrize(
    "args", [["list"], ["show", "some-id"], ["logs", "some-id"], ["recover", "--list-failed"]]
)
def test_a_read_command_leaves_an_old_schema_alone__sqlite_and_postgres(
    app: Path, db_url: str, args: list[str]
) -> None:
    assert ruvon("db", "migrate", "--db", db_url, cwd=app).returncode == 0
    _sql(db_url, "UPDATE ruvon_schema SET version = 1", "SELECT version FROM ruvon_schema")

    proc = ruvon(*args, "--db", db_url, cwd=app)

    assert proc.returncode == 3, proc.stderr
    line = one_error_line(proc)
    assert re.fullmatch(
        r"error: (SQLite|PostgreSQL) database '[^']+' has schema version 1; this Ruvon needs \d+ "
        f"— 'ruvon db migrate --db {re.escape(db_url)}' upgrades it \\(a read command leaves "
        r"the database as it is\)",
        line,
    ), line
    assert _sql(db_url, "SELECT version FROM ruvon_schema") == [(1,)]


def test_a_read_command_on_a_schema_newer_than_this_ruvon(app: Path, db_url: str) -> None:
    assert ruvon("db", "migrate", "--db", db_url, cwd=app).returncode == 0
    _sql(db_url, "UPDATE ruvon_schema SET version = 999", "SELECT version FROM ruvon_schema")

    proc = ruvon("show", "some-id", "--db", db_url, cwd=app)

    assert proc.returncode == 3, proc.stderr
    assert re.fullmatch(
        r"error: .* has schema version 999, newer than this Ruvon's \d+ — upgrade Ruvon",
        one_error_line(proc),
    )


def test_a_read_command_creates_no_schema_in_an_empty_database(app: Path, db_url: str) -> None:
    if db_url.startswith("sqlite:"):
        Path(db_url.removeprefix("sqlite:///")).touch()  # there, and empty
    tables = (
        "SELECT name FROM sqlite_master"
        if db_url.startswith("sqlite:")
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )

    proc = ruvon("list", "--db", db_url, cwd=app)

    assert proc.returncode == 3, proc.stderr
    line = one_error_line(proc)
    assert line.endswith(
        f" has no Ruvon schema — check --db; 'ruvon db migrate --db {db_url}' creates it (a read "
        "command leaves the database as it is)"
    )
    assert "auto_init" not in line
    assert _sql(db_url, tables) == []


def _journal_mode(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("command", ["list", "show", "logs"])
def test_a_read_command_leaves_a_refused_sqlite_file_as_it_was(app: Path, command: str) -> None:
    other = app / "other_app.db"  # another application's database, in rollback-journal mode
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    old = app / "old.db"  # a Ruvon database with an older schema, switched to DELETE mode
    assert ruvon("db", "migrate", "--db", f"sqlite:///{old}", cwd=app).returncode == 0
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("UPDATE ruvon_schema SET version = 1")
    conn.close()
    args = [command] if command == "list" else [command, "some-id"]
    for db, problem in ((other, "has no Ruvon schema"), (old, "has schema version 1")):
        before = db.read_bytes()

        proc = ruvon(*args, "--db", f"sqlite:///{db}", cwd=app)

        assert proc.returncode == 3, proc.stderr
        assert problem in one_error_line(proc)
        assert db.read_bytes() == before
        assert _journal_mode(db) == "delete"
        assert not Path(f"{db}-wal").exists()


def test_a_read_command_on_an_up_to_date_database_in_delete_mode(app: Path) -> None:
    db = app / "work.db"
    assert ruvon("db", "migrate", "--db", f"sqlite:///{db}", cwd=app).returncode == 0
    sqlite3.connect(db, isolation_level=None).execute("PRAGMA journal_mode = DELETE").close()

    proc = ruvon("list", "--json", "--db", f"sqlite:///{db}", cwd=app)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    assert _journal_mode(db) == "wal"  # Ruvon's database: set as the store sets it


def test_db_migrate_refuses_a_damaged_sqlite_file(app: Path) -> None:
    db = app / "work.db"
    assert (
        ruvon(
            "start", "Plain", "-d", '{"item": "a"}', "--run", "--db", f"sqlite:///{db}", cwd=app
        ).returncode
        == 0
    )
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{db}{suffix}").exists()  # checkpointed when the store closed
    data = bytearray(db.read_bytes())
    page = 4096
    data[2 * page + 8 : 3 * page] = b"\xff" * (page - 8)  # scribble over a table's page
    db.write_bytes(bytes(data))

    proc = ruvon("db", "migrate", "--db", f"sqlite:///{db}", cwd=app)

    assert proc.returncode == 3
    line = one_error_line(proc)
    assert line.startswith(f"error: SQLite database '{db}' is damaged: ")
    assert line.endswith(
        "nothing was changed; restore it from a backup (sqlite3's .recover may save what is left)"
    )
    assert db.read_bytes() == bytes(data)


def test_db_migrate_refuses_a_file_that_is_not_a_database(app: Path) -> None:
    (app / "notes.db").write_text("shopping list\n" * 500)
    proc = ruvon("db", "migrate", "--db", "sqlite:///notes.db", cwd=app)
    assert proc.returncode == 3
    assert "is damaged: file is not a database" in one_error_line(proc)


def test_an_unsupported_url_and_an_unreachable_server(app: Path) -> None:
    scheme = ruvon("list", "--db", "mysql://localhost/db", cwd=app)
    assert scheme.returncode == 3
    assert one_error_line(scheme).startswith(
        "error: unsupported database URL 'mysql://localhost/db'"
    )
    server = ruvon("list", "--db", "postgresql://user:secret@127.0.0.1:1/nowhere", cwd=app)
    assert server.returncode == 3
    line = one_error_line(server)
    assert line.startswith(
        "error: can not connect to PostgreSQL database 'postgresql://user:***@127.0.0.1:1/nowhere'"
    )
    assert "secret" not in line


def test_a_postgres_url_that_is_not_valid(app: Path) -> None:
    for url, problem in (
        ("postgresql://me:secret@127.0.0.1:99999/db", "port must be 0-65535"),
        ("postgresql://me:secret@[::1/db", "Invalid IPv6 URL"),
    ):
        proc = ruvon("list", "--db", url, cwd=app)
        assert proc.returncode == 3, proc.stderr
        line = one_error_line(proc)
        assert line.startswith(
            "error: can not connect to PostgreSQL database 'postgresql://me:***@"
        )
        assert "': the URL is not valid: " in line and problem in line
        assert "secret" not in line


@pytest.mark.postgres
def test_a_postgres_database_that_does_not_exist(app: Path) -> None:
    for url in postgres_database():
        missing = url.rsplit("/", 1)[0] + "/no_such_database_here"
        proc = ruvon("list", "--db", missing, cwd=app)
        assert proc.returncode == 3
        assert 'database "no_such_database_here" does not exist' in one_error_line(proc)
