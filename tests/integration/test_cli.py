"""The ``ruvon`` command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def ruvon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    return subprocess.run(
        [sys.executable, "-m", "ruvon.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_db_migrate_creates_the_schema_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = ruvon("db", "migrate", "--db", url)
    assert first.returncode == 0, first.stderr
    assert "schema is at version 2" in first.stdout
    again = ruvon("db", "migrate", "--db", url)
    assert again.returncode == 0 and "schema is at version 2" in again.stdout


def test_list_on_an_empty_database(tmp_path: Path) -> None:
    proc = ruvon("list", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert proc.returncode == 0, proc.stderr
    assert "0 workflow(s)" in proc.stdout


def test_recover_with_nothing_to_do(tmp_path: Path) -> None:
    proc = ruvon("recover", "--db", f"sqlite:///{tmp_path / 'r.db'}", "--app-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "0 workflow(s) recovered" in proc.stdout


def test_a_bad_url_is_one_clear_error_without_a_traceback() -> None:
    proc = ruvon("list", "--db", "postgresql://user:secret@127.0.0.1:1/nowhere")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: can not connect to PostgreSQL database")
    assert "secret" not in proc.stderr and "***" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unsupported_scheme_is_refused() -> None:
    proc = ruvon("list", "--db", "mysql://localhost/db")
    assert proc.returncode == 1 and "unsupported database URL" in proc.stderr
