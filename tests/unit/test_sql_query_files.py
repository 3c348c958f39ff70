"""Loading queries.sql, the schema and the migrations from the package, from a cold start.

The module caches what it loads; each test here starts from empty caches, as a new process
does, so the loading and rendering code really runs.
"""

from __future__ import annotations

from importlib import resources

import pytest

from ruvon.implementations.persistence.postgres import POSTGRES
from ruvon.implementations.persistence.sql import queries
from ruvon.implementations.persistence.sqlite import SQLITE


@pytest.fixture(autouse=True)
def cold_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "_NAMED", {})
    monkeypatch.setattr(queries, "_RENDERED", {})
    monkeypatch.setattr(queries, "_COMPOSED", {})


def _package_text(*parts: str) -> str:
    return resources.files(queries.__package__).joinpath(*parts).read_text(encoding="utf-8")


def test_render_numbers_each_name_once_in_first_use_order() -> None:
    sql = "SELECT :b, :a, :b, x::int FROM t WHERE y = :a_c"
    pg = queries._render("q", sql, POSTGRES)
    assert (pg.name, pg.sql, pg.params) == (
        "q",
        "SELECT $1, $2, $1, x::int FROM t WHERE y = $3",
        ("b", "a", "a_c"),
    )
    lite = queries._render("q", sql, SQLITE)
    assert lite.sql == "SELECT ?1, ?2, ?1, x::int FROM t WHERE y = ?3"
    assert lite.args({"a": 1, "b": 2, "a_c": 3}) == [2, 1, 3]


def test_comment_lines_are_dropped_indented_ones_too() -> None:
    body = "  -- why this query\nSELECT 1\n    -- and this line\nFROM t\n\n"
    assert queries._uncommented(body) == "SELECT 1\nFROM t"


def test_every_named_query_is_loaded_in_file_order_without_comments() -> None:
    text = _package_text("queries.sql")
    prefix = "-- name: "
    names = [line[len(prefix) :].strip() for line in text.splitlines() if line.startswith(prefix)]
    named = queries._named()
    assert list(named) == names
    assert named["schema_version"] == "SELECT version FROM ruvon_schema"
    for name, body in named.items():
        assert body and body == body.strip(), name
        assert not any(line.lstrip().startswith("--") for line in body.splitlines()), name
    assert queries._named() is named  # read once


def test_queries_are_rendered_once_per_dialect() -> None:
    lite = queries.queries(SQLITE)
    assert list(lite) == list(queries._named())
    assert all(q.name == name for name, q in lite.items())
    assert lite["schema_version"].sql == "SELECT version FROM ruvon_schema"
    claim = lite["claim_workflow"]
    assert claim.params and all(f"?{i}" in claim.sql for i in range(1, len(claim.params) + 1))
    assert queries.queries(SQLITE) is lite
    pg = queries.queries(POSTGRES)
    assert pg is not lite and "$1" in pg["claim_workflow"].sql


def test_composed_statement_is_named_and_built_from_its_fragments() -> None:
    named = queries._named()
    tail = "SELECT 1"
    q = queries.with_parts(POSTGRES, "pg_transition_", ("moved", "steps"), tail)
    assert q.name == "pg_transition_moved+steps"
    expected = (
        f"WITH moved AS (\n{named['pg_transition_moved']}\n),\n"
        f"steps AS (\n{named['pg_transition_steps']}\n)\n{tail}"
    )
    assert q == queries._render(q.name, expected, POSTGRES)
    other = queries.with_parts(POSTGRES, "pg_transition_", ("moved",), tail)
    assert other.name == "pg_transition_moved" and other is not q
    assert queries.with_parts(POSTGRES, "pg_transition_", ("moved", "steps"), tail) is q


def test_schema_is_the_packaged_file_with_the_dialect_types() -> None:
    assert queries.schema(SQLITE) == _package_text("schema.sql").format(**SQLITE.types)
    assert queries.schema(POSTGRES) == _package_text("schema.sql").format(**POSTGRES.types)
    assert "{json}" not in queries.schema(SQLITE)


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    found = queries.migrations()
    assert list(found) == list(range(1, len(found) + 1))
    folder = resources.files(queries.__package__).joinpath("migrations")
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            assert found[int(entry.name[:4])] == entry.read_text(encoding="utf-8")
    assert queries.latest_version() == len(found) >= 1


def test_latest_version_without_migrations_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "migrations", dict)
    assert queries.latest_version() == 0


def test_statements_split_at_semicolons_ending_a_line() -> None:
    script = (
        "-- a header;\n"
        "CREATE TABLE a (x INT);\n"
        "  -- an indented comment;\n"
        "CREATE INDEX i\n  ON a (x);  \t\n"
        "\n"
        "SELECT ';' || x FROM a;"
    )
    assert queries.statements(script) == [
        "CREATE TABLE a (x INT)",
        "CREATE INDEX i\n  ON a (x)",
        "SELECT ';' || x FROM a",
    ]
