"""examples/loan_approval end to end, each command its own process on one SQLite file: the
first stops for the underwriter, the second resumes it by id and meets the injected late
failure, whose unwind goes through the loop's iterations and stops for an approval; the third
approves. The compensation journal gives the exact order."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import CompensationStatus as C

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "loan_approval"


def run(app: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    env["LOAN_DB"] = str(app / "loans.db")
    done = subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pause_resume_late_failure_and_approval_from_separate_processes(tmp_path: Path) -> None:
    app = tmp_path / "loan_approval"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("*.db", "__pycache__"))

    first = run(app, "apply", "alice", "90000", "--notify-fails")
    workflow_id = first.splitlines()[0].removeprefix("id ")
    assert f"workflow {workflow_id}: WAITING_HUMAN at Underwriter_Review" in first

    second = run(app, "review", workflow_id, "approve", "ann")
    assert second.splitlines()[:7] == [
        "  register lien",
        "  transfer tranche 1: 30000.00",
        "  transfer tranche 2: 30000.00",
        "  transfer tranche 3: 30000.00",
        "  reverse tranche 3",
        "  reverse tranche 2",
        "  reverse tranche 1",
    ]
    assert "WAITING_COMPENSATION_APPROVAL" in second and "waits for: Register_Lien" in second

    third = run(app, "decide-compensation", workflow_id, "approve", "bo", "registered in error")
    assert third.splitlines()[0] == f"  release lien LIEN-{workflow_id[:8]}"
    assert f"workflow {workflow_id}: FAILED_ROLLED_BACK" in third

    async def journal() -> list[tuple[str, C, str | None]]:
        store = SQLitePersistenceProvider(app / "loans.db")
        try:
            entries = await store.compensation_journal(workflow_id)
        finally:
            await store.close()
        return [(e.scope, e.status, e.decided_by) for e in entries]

    assert asyncio.run(journal()) == [
        ("Notify_Borrower", C.SKIPPED, None),  # the failing step: not compensated
        ("Disburse_Tranches/iter:2/Transfer_Tranche", C.COMPLETED, None),
        ("Disburse_Tranches/iter:1/Transfer_Tranche", C.COMPLETED, None),
        ("Disburse_Tranches/iter:0/Transfer_Tranche", C.COMPLETED, None),
        ("Register_Lien", C.COMPLETED, "bo"),
        ("After_Review", C.SKIPPED, None),
        ("Underwriter_Review", C.SKIPPED, None),
        ("Credit_Check", C.SKIPPED, None),
    ]


def test_without_the_failure_the_loan_completes_and_a_risky_applicant_is_declined(
    tmp_path: Path,
) -> None:
    app = tmp_path / "loan_approval"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    small = run(app, "apply", "carol", "5000")
    assert "COMPLETED" in small and "transfer tranche 1: 5000.00" in small
    risky = run(app, "apply", "risky-dan", "5000")
    assert "COMPLETED" in risky and "transfer" not in risky
