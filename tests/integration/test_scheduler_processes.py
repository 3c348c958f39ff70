"""Two real ``ruvon scheduler`` processes over one PostgreSQL database start each tick once.

The fast test (part of ``make test``) runs a schedule with a seconds field (a tick every two
seconds) for about 15 s, kills one scheduler with SIGKILL half-way and starts it again, and
stops both with SIGTERM between two ticks: the workflows started are exactly the ticks in
between, each once. ``RUVON_SLOW=1`` also runs the issue's check as written: an every-minute
schedule for three minutes starts exactly three workflows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

APP = """
from pydantic import BaseModel


class Tick(BaseModel):
    done: bool = False


def work(state: Tick, context) -> dict:
    return {"done": True}
"""

DEFINITION = """
workflow_type: Ticker
initial_state_model: tickapp.Tick
schedule: "{cron}"
steps:
  - name: Work
    function: tickapp.work
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"ruvon_sched_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # asyncpg missing, server down, auth refused
        _unavailable(f"PostgreSQL at {PG_URL} is not usable: {type(exc).__name__}: {exc}")
    base = PG_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _fetch(url: str, sql: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def fetch(url: str, sql: str) -> list[Any]:
    return asyncio.run(_fetch(url, sql))


def app_dir(tmp_path: Path, cron: str) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "tickapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "config" / "ticker.yaml").write_text(DEFINITION.format(cron=cron))
    return tmp_path


def scheduler(url: str, app: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    options = ["--config-dir", str(app / "config"), "--interval", "0.2", "--grace", "5"]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ruvon.cli",
            "scheduler",
            "--db",
            url,
            "--app-dir",
            str(app),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def first_due(url: str, deadline: float = 30.0) -> float:
    """The schedule's first tick, once a scheduler has registered it (taken already if it came
    right after the registration, before this looked)."""
    until = time.monotonic() + deadline
    query = "SELECT next_due_at, last_tick_at FROM ruvon_schedules WHERE name = 'Ticker'"
    while time.monotonic() < until:
        try:
            rows = fetch(url, query)
        except Exception:  # the schema is not there yet
            rows = []
        if rows:
            first = rows[0]["last_tick_at"] or rows[0]["next_due_at"]
            return float(first)
        time.sleep(0.1)
    raise AssertionError("no scheduler registered the schedule")


def sleep_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopped" in out.splitlines()[-1], out
    return out


def started(url: str) -> list[Any]:
    return fetch(
        url,
        "SELECT idempotency_key, status, state, metadata FROM ruvon_workflows "
        "ORDER BY idempotency_key",
    )


def label(tick: float) -> str:
    return datetime.fromtimestamp(tick, UTC).isoformat()


def run_two_schedulers(url: str, app: Path, period: float, ticks: int) -> list[Any]:
    """Two schedulers from the first tick until half a period after tick ``ticks``; one of
    them killed (SIGKILL) and started again half-way. Returns the workflows started, checked to
    be one per tick of that window, in order."""
    procs = [scheduler(url, app), scheduler(url, app)]
    try:
        due = first_due(url)
        halfway = due + (ticks // 2) * period + period / 2
        end = due + (ticks - 1) * period + period / 2
        sleep_until(halfway)
        procs[0].kill()
        procs[0].wait(timeout=10)
        procs[0] = scheduler(url, app)
        sleep_until(end)
        outputs = [stop(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    rows = started(url)
    expected = [f"Ticker:{label(due + i * period)}" for i in range(ticks)]
    assert [r["idempotency_key"] for r in rows] == expected, "\n".join(outputs)
    assert {r["status"] for r in rows} == {"COMPLETED"}
    return rows


def test_two_schedulers_start_each_tick_of_a_seconds_schedule_once(
    tmp_path: Path, pg_url: str
) -> None:
    rows = run_two_schedulers(pg_url, app_dir(tmp_path, "* * * * * */2"), period=2.0, ticks=6)
    assert all('"done": true' in r["state"] for r in rows)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RUVON_SLOW") != "1", reason="3 minutes: set RUVON_SLOW=1")
def test_two_schedulers_for_three_minutes_of_an_every_minute_schedule_start_three(
    tmp_path: Path, pg_url: str
) -> None:
    rows = run_two_schedulers(pg_url, app_dir(tmp_path, "* * * * *"), period=60.0, ticks=3)
    assert len(rows) == 3


# --- the command on SQLite: bad definitions, signals ---------------------------------------------


def test_a_bad_cron_in_a_definition_is_one_clear_error(tmp_path: Path) -> None:
    app = app_dir(tmp_path, "61 * * * *")
    proc = scheduler(f"sqlite:///{tmp_path / 'r.db'}", app)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "ticker.yaml" in out and "key 'schedule'" in out and "61 * * * *" in out
    assert "Traceback" not in out


def test_sigint_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    proc = scheduler(url, app_dir(tmp_path, "* * * * * *"))  # every second
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("scheduler ")
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out.splitlines()[-1].endswith("stopped") and "Traceback" not in out
    assert "started" in out  # it did start workflows before
