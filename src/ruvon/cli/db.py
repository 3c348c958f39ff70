"""``ruvon db migrate``: create or upgrade the schema, refusing a damaged SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import typer

from ruvon.cli.app import db_app
from ruvon.cli.common import (
    DEFAULT_DB,
    CliError,
    ConfigDirOption,
    DbOption,
    ExitCode,
    run,
    sqlite_path,
)
from ruvon.implementations.persistence import store_from_url


def check_sqlite_file(path: str) -> None:
    """Refuse a SQLite file that SQLite itself finds damaged (``PRAGMA integrity_check``), or
    that is not a SQLite database: migrating it would write into the damage."""
    if path == ":memory:" or not Path(path).is_file():
        return
    try:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in db.execute("PRAGMA integrity_check(5)").fetchall()]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows != ["ok"]:
        raise CliError(
            f"SQLite database '{path}' is damaged: {'; '.join(rows)}",
            hint="nothing was changed; restore it from a backup (sqlite3's .recover may save "
            "what is left)",
            code=ExitCode.DATABASE,
        )


@db_app.command("migrate")
def db_migrate(db: DbOption = DEFAULT_DB, config_dir: ConfigDirOption = None) -> None:
    """Create or upgrade the schema of the database (a SQLite file is checked first)."""

    async def main() -> int:
        if db.split(":", 1)[0].lower() == "sqlite":
            check_sqlite_file(sqlite_path(db))
        store = store_from_url(db)
        try:
            migrate = getattr(store, "migrate", None)
            if migrate is None:  # the in-memory store has no schema
                await store.initialize()
                return 0
            return int(await migrate())
        finally:
            await store.close()

    version = run(main)
    typer.echo(f"schema is at version {version}")


db_app.command("init", help="The same as 'ruvon db migrate' (the Ruvon docs' name).")(db_migrate)
