"""Programs and recovery processes SIGKILLed at random and respawned: nothing lost, nothing
unfinished, every final state right, no finished compensation repeated.

What an outside crash test did and ``test_recovery_random`` does not: each workflow is owned by
a program that creates it with an idempotency key and turns saga mode on one of three ways
(``saga_mode: true`` in the YAML, ``enable_saga_mode()`` not awaited as in the tutorial, or
awaited) or not at all, then runs it; a killed program is respawned with the same key and the
same choices; several recovery processes run at once and are killed too; kills also land inside
``create_workflow`` (after the insert) and between ``create_workflow`` and
``enable_saga_mode()``. See :mod:`campaign` for the supervisor and :mod:`campaign_check` for
what is checked.

``make test`` runs one bounded round per store. The long setting::

    RUVON_RECOVERY_WORKFLOWS=200 RUVON_RECOVERY_KILLS_MIN=1000 \\
        .venv/bin/python -m pytest tests/recovery/test_recovery_supervised.py -k sqlite -s

runs rounds of ``RUVON_RECOVERY_WORKFLOWS`` workflows until that many processes were killed
(``RUVON_RECOVERY_PROGRAM_LANES`` / ``RUVON_RECOVERY_RECOVERY_LANES`` set the parallelism,
``RUVON_RECOVERY_SEED`` the seed). The counts and the drain time are printed even without ``-s``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from campaign import KEY_PREFIX, Settings, Supervisor, last_kill_at
from campaign_check import check_campaign
from crashapp.effects import read, read_log
from recovery_harness import make_target, pg_url_for, snapshot

SEED = int(os.environ.get("RUVON_RECOVERY_SEED", "20250612"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_supervised_programs_and_recoveries_killed_at_random_lose_nothing(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = make_target(kind, "supervised", tmp_path, pg_url_for(request, kind))
    settings = Settings.from_env(SEED, workflows=60, kills_min=0)
    report = Supervisor(target, tmp_path / "logs", settings).run()

    snaps = snapshot(target)
    effects, kills = read(target.effects)
    commits, timed_kills = read_log(target.effects)
    assert sorted(k.pid for k in kills) == sorted(report.killed), "a kill without its record"
    counts = check_campaign(
        report.items, snaps, effects, commits, set(report.killed), key_prefix=KEY_PREFIX
    )
    last_kill = last_kill_at(target)
    by_role = Counter(report.killed.values())
    choices = Counter(f"{i.choice}/{i.variant}" for i in report.items)
    summary = (
        f"\n[recovery supervised {kind}] seed={SEED} rounds={report.rounds} "
        f"workflows={counts.workflows} plan={dict(sorted(choices.items()))}\n"
        f"  processes={dict(report.processes)} kills={len(report.killed)} "
        f"(programs={by_role['program']}, recoveries={by_role['recovery']}) "
        f"by checkpoint group={dict(sorted(report.kill_groups.items()))}\n"
        f"  program outcomes={dict(report.outcomes)}\n"
        f"  lost={counts.lost} unfinished={counts.unfinished} "
        f"(stranded at version 0: {counts.stranded_v0}) wrong_final={counts.wrong_final} "
        f"finished_compensations_repeated={counts.finished_compensations_repeated} "
        f"finished_steps_repeated={counts.finished_steps_repeated} "
        f"forward_steps_rerun={counts.forward_reruns} "
        f"compensations_rerun_in_flight={counts.compensation_reruns}\n"
        f"  drain: {report.drained - last_kill:.2f}s from the last kill, "
        f"{report.drained - report.chaos_ended:.2f}s from the end of the programs, to all "
        f"terminal; wall={report.wall:.1f}s problems={len(counts.problems)}"
    )
    with capsys.disabled():
        print(summary)
    assert len(timed_kills) == len(kills)
    assert counts.problems == [], f"seed={SEED}\n" + "\n".join(counts.problems[:50])
    assert (counts.lost, counts.unfinished, counts.wrong_final) == (0, 0, 0)
    assert counts.finished_compensations_repeated == 0
    assert len(report.killed) >= settings.kills_min
    assert by_role["program"] > 0 and by_role["recovery"] > 0, report.kill_groups
