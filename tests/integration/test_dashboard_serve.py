"""``ruvon serve``'s refusals, before any server starts (the server itself: see
test_dashboard_browser.py, which drives a real one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def ruvon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    return subprocess.run(
        [sys.executable, "-m", "ruvon.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def test_serve__binding_beyond_localhost_needs_a_token(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        proc = ruvon("serve", "--host", host, "--db", "memory://", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error: --host {host} lets other machines in — give --token")
        assert "Traceback" not in proc.stderr


def test_serve__a_sqlite_file_that_is_not_there_is_refused_not_created(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    proc = ruvon("serve", "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert f"no SQLite database at '{db}'" in proc.stderr
    assert not db.exists()
    default = ruvon("serve", cwd=tmp_path)  # sqlite:///ruvon.db in the working directory
    assert default.returncode == 3 and "(the default)" in default.stderr
    assert not (tmp_path / "ruvon.db").exists()


def test_serve__is_listed_with_its_options(tmp_path: Path) -> None:
    proc = ruvon("serve", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for option in ("--db", "--config-dir", "--app-dir", "--host", "--port", "--token"):
        assert option in proc.stdout
    assert "RUVON_DASHBOARD_TOKEN" in proc.stdout


def test_serve__a_blank_or_short_token_is_refused_like_none(tmp_path: Path) -> None:
    empty = "the token is empty (or only whitespace)"
    for host, token, problem in (
        ("0.0.0.0", " ", empty),
        ("0.0.0.0", "\t\n", empty),
        ("127.0.0.1", "", empty),  # asked for a token, and gave none: not "no token"
        ("0.0.0.0", "  short-token  ", "the token has 11 characters: it needs at least 16"),
    ):
        args = ("--host", host, "--token", token, "--db", "memory://")
        proc = ruvon("serve", *args, cwd=tmp_path)
        assert proc.returncode == 2, (host, token, proc.stderr)
        prefix = "error: --token (or $RUVON_DASHBOARD_TOKEN) refused: "
        assert proc.stderr.startswith(prefix + problem)
        assert "Traceback" not in proc.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    from_env = subprocess.run(
        [sys.executable, "-m", "ruvon.cli", "serve", "--host", "0.0.0.0", "--db", "memory://"],
        capture_output=True,
        text=True,
        env={**env, "RUVON_DASHBOARD_TOKEN": " "},
        cwd=tmp_path,
        timeout=60,
    )
    assert from_env.returncode == 2 and "the token is empty" in from_env.stderr
