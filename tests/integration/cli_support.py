"""Running ``ruvon`` as a user does, in a project directory laid out for the CLI tests.

``ruvon(...)`` runs ``python -m ruvon`` in a subprocess (no ``RUVON_*`` variables from the
test's environment unless given). ``project(tmp_path)`` writes a small application: a saga
``Order`` (its first compensation needs an approval; ``Ship`` fails while ``ship.fail``
exists), the same steps without saga mode (``Plain``), an ``Expense`` that waits for a person's
input, and a ``Nested`` workflow with a LOOP, a PARALLEL step and a SUB_WORKFLOW child.

``db_url`` is parametrized over a SQLite file and a fresh PostgreSQL database (skipped when the
server can not be reached, except on CI).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def ruvon(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    clean.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "ruvon", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=timeout,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command printed: exactly one line on stderr, no traceback."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


APP = """
from pathlib import Path

from pydantic import BaseModel


class Order(BaseModel):
    item: str
    amount: float = 0.0
    log: list[str] = []
    items: list[str] = []
    approver: str | None = None


class Approval(BaseModel):
    approved: bool
    approver: str


def reserve(state: Order, context) -> dict:
    state.log.append("reserve")
    return {}


def release(state: Order, context) -> dict:
    state.log.append("release")
    return {}


async def charge(state: Order, context) -> dict:
    await context.persistence.log_execution(
        workflow_id=context.workflow_id,
        log_level="INFO",
        message=f"charged {state.amount}",
        step_name=context.step_name,
    )
    state.log.append("charge")
    return {}


def refund(state: Order, context) -> dict:
    state.log.append("refund")
    return {}


def ship(state: Order, context) -> dict:
    if Path("ship.fail").exists():
        raise RuntimeError("carrier down")
    state.log.append("ship")
    return {}


def decide(state: Order, context, approved: bool, approver: str) -> dict:
    return {"approver": approver if approved else None}


def pick(state: Order, context, item: str = "") -> dict:
    state.log.append(f"pick {item}")
    return {}


def task(state: Order, context) -> dict:
    return {}
"""

ORDER = """
workflow_type: Order
workflow_version: "2"
initial_state_model: shop.Order
saga_mode: true
steps:
  - name: Reserve
    function: shop.reserve
    compensate_function: shop.release
    compensation_requires_approval: true
    automate_next: true
  - name: Charge
    function: shop.charge
    compensate_function: shop.refund
    automate_next: true
  - name: Ship
    function: shop.ship
"""

PLAIN = """
workflow_type: Plain
initial_state_model: shop.Order
steps:
  - name: Charge
    function: shop.charge
    automate_next: true
  - name: Ship
    function: shop.ship
"""

EXPENSE = """
workflow_type: Expense
initial_state_model: shop.Order
steps:
  - name: Reserve
    function: shop.reserve
    compensate_function: shop.release
    automate_next: true
  - name: Approve
    type: HUMAN_IN_LOOP
    function: shop.decide
    input_model: shop.Approval
    automate_next: true
  - name: Ship
    function: shop.ship
"""

NESTED = """
workflow_type: Nested
initial_state_model: shop.Order
steps:
  - name: Route
    type: DECISION
    routes:
      - condition: "state.amount > 100"
        target: Pick_All
      - default: Fan_Out
  - name: Pick_All
    type: LOOP
    iterate_over: state.items
    loop_body:
      - name: Pick
        function: shop.pick
        compensate_function: shop.release
  - name: Fan_Out
    type: PARALLEL
    tasks:
      - name: Left
        function: shop.task
        compensate_function: shop.refund
      - name: Right
        function: shop.task
  - name: Child
    type: SUB_WORKFLOW
    workflow_type: Plain
    initial_data_template:
      item: "{{ state.item }}"
"""


def project(root: Path) -> Path:
    """Lay out the application in ``root`` (the working directory of the commands)."""
    files = {
        "shop/__init__.py": APP,
        "config/order.yaml": ORDER,
        "config/plain.yaml": PLAIN,
        "config/expense.yaml": EXPENSE,
        "config/nested.yaml": NESTED,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


# --- the databases ------------------------------------------------------------------------------


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


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped afterwards."""
    name = f"ruvon_cli_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # asyncpg missing, server down, auth refused
        _unavailable(f"PostgreSQL at {PG_URL} is not usable: {type(exc).__name__}: {exc}")
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(
    name="db_url", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database the commands use: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'work.db'}"
        return
    yield from postgres_database()
