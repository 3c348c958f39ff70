"""Loading the named queries, the schema and the migrations, rendered for one dialect."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_\w+\.sql$")


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between SQL backends: column types and how parameters are written."""

    name: str
    types: dict[str, str]
    marker: str  # numbered parameters: "$" ($1..$n, Postgres) or "?" (?1..?n, SQLite)

    def ddl(self, sql: str) -> str:
        return sql.format(**self.types)


@dataclass(frozen=True, slots=True)
class Query:
    """One named query as the driver wants it (numbered parameters), plus their order.

    Both drivers get positional values: SQLite binds a sequence without looking each ``:name``
    up in a dict (a fresh string hashed per parameter per statement).
    """

    name: str
    sql: str
    params: tuple[str, ...]

    def args(self, values: dict[str, object]) -> list[object]:
        return [values[p] for p in self.params]


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _render(name: str, sql: str, dialect: Dialect) -> Query:
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in order:
            order.append(param)
        return f"{dialect.marker}{order.index(param) + 1}"

    return Query(name, _PARAM.sub(number, sql), tuple(order))


_NAMED: dict[str, str] = {}
_RENDERED: dict[str, dict[str, Query]] = {}
_COMPOSED: dict[tuple[str, tuple[str, ...]], Query] = {}


def _uncommented(body: str) -> str:
    """A query's text without its comment lines (they explain it in the file, not the driver)."""
    lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip()


def _named() -> dict[str, str]:
    """Every query of ``queries.sql`` by name, as written (``:name`` parameters)."""
    if not _NAMED:
        parts = _NAME.split(_read("queries.sql"))[1:]
        _NAMED.update(
            (name, _uncommented(body)) for name, body in zip(parts[::2], parts[1::2], strict=True)
        )
    return _NAMED


def queries(dialect: Dialect) -> dict[str, Query]:
    """Every query of ``queries.sql`` by name, rendered for ``dialect`` (cached)."""
    rendered = _RENDERED.get(dialect.name)
    if rendered is None:
        rendered = _RENDERED[dialect.name] = {
            name: _render(name, sql, dialect) for name, sql in _named().items()
        }
    return rendered


def with_parts(dialect: Dialect, prefix: str, parts: tuple[str, ...], tail: str) -> Query:
    """``WITH a AS (<prefix>a), b AS (<prefix>b), ... <tail>``, rendered once per ``parts``.

    Composes one statement from named fragments of ``queries.sql`` (``prefix`` + part name),
    numbering the parameters of the whole; each fragment is still written once.
    """
    key = (dialect.name, (prefix, *parts, tail))
    query = _COMPOSED.get(key)
    if query is None:
        named = _named()
        ctes = ",\n".join(f"{part} AS (\n{named[prefix + part]}\n)" for part in parts)
        name = prefix + "+".join(parts)
        query = _COMPOSED[key] = _render(name, f"WITH {ctes}\n{tail}", dialect)
    return query


def schema(dialect: Dialect) -> str:
    """The full current schema (fresh installs)."""
    return dialect.ddl(_read("schema.sql"))


def latest_version() -> int:
    return max(migrations(), default=0)


def migrations() -> dict[int, str]:
    """Migration scripts by the version they bring the schema to (raw, with type tokens)."""
    folder = resources.files(__package__).joinpath("migrations")
    found: dict[int, str] = {}
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found[int(match.group(1))] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


def statements(script: str) -> list[str]:
    """Split a DDL script on ``;`` at line ends (our scripts hold no semicolons in strings)."""
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";[ \t]*(?:\n|\Z)", body) if s.strip()]
