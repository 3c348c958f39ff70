"""``make bench``'s report: docs/benchmarks.md rendered from measured results (no runs here)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench() -> Any:
    pytest.importorskip("asyncpg")  # bench/pg.py talks to Postgres with it
    sys.path.insert(0, str(BENCH))
    try:
        import report
        import run

        yield run, report
    finally:
        sys.path.remove(str(BENCH))


def _run(rate: float, commits: float = 5.0) -> dict[str, Any]:
    return {
        "n": 1000,
        "workflows_per_s": rate,
        "p50_ms": 1000 / rate,
        "p95_ms": 1500 / rate,
        "peak_rss_mib": 40.0,
        "commits_per_workflow": commits,
        "store_commits_per_workflow": commits,
    }


def _state(run: Any) -> Any:
    state = run.State()
    for engine, rate in (("ours", 12_000.0), ("ruvon-sdk", 4_000.0), ("plain", 70_000.0)):
        for variant in ("success", "rollback"):
            config = run.Config(engine, "memory", variant, 1, 0)
            state.results[config] = [_run(rate), _run(rate * 1.1), _run(rate * 0.9)]
    pg = {"ours": (400.0, 240.0), "ruvon-sdk": (80.0, 66.0), "dbos": (70.0, 42.0)}
    pg["floor"] = (600.0, 390.0)
    for engine, (success, rollback) in pg.items():
        for variant, rate in (("success", success), ("rollback", rollback)):
            state.results[run.Config(engine, "postgres", variant, 1, 0)] = [_run(rate)]
    state.anatomy = [
        {
            "section": "memory",
            "runs": 1000,
            "success": {"ours_us": 80.0, "plain_us": 14.0, "contract_us": 30.0},
            "rollback": {"ours_us": 160.0, "plain_us": 14.0, "contract_us": 35.0},
        },
        {
            "section": "sqlite-normal",
            "runs": 1000,
            "total_us": 400.0,
            "statements_us": {"COMMIT": 200.0, "UPDATE ruvon_workflows": 30.0},
            "frames_per_commit": {"create": 10.0, "status change": 9.0, "step": 3.0},
            "commits_per_workflow": {"create": 1, "status change": 1, "step": 3},
            "floor_frames_per_commit": 1.0,
        },
        {
            "section": "postgres",
            "runs": 200,
            "success": {"workflow_us": 2400.0, "commits_per_workflow": 4, "our_commit_us": 400.0},
            "rollback": {"workflow_us": 4000.0, "commits_per_workflow": 7, "our_commit_us": 450.0},
            "raw_update_us": 260.0,
            "round_trip_us": 25.0,
        },
    ]
    return state


def test_targets_and_anatomy_are_rendered_from_the_results(bench: Any) -> None:
    run, report = bench
    page = report.render(_state(run), 3, 60.0, run.RUNS)
    assert "| In memory | success | ≥ 10x ruvon-sdk | 3.00x | no |" in page
    assert "## Where a workflow's time goes, store by store" in page
    # the memory goals turned into time per workflow, from the run's own sdk median
    assert "30,000 wf/s is 33.3 µs per workflow, which leaves 3.3 µs" in page
    assert "10x ruvon-sdk's median in this run (4,000 wf/s) is 25.0 µs" in page
    assert "leaves nothing for the bookkeeping" in page
    assert "| our engine | 80.0 | 160.0 |" in page
    assert "| `COMMIT` (WAL frames written; a checkpoint now and then) | 200.0 |" in page
    assert "step 3.0 (3 per workflow)" in page
    assert "| rollback | 4000 | 7 | 450 |" in page
    assert "| Postgres | success | ≥ 5x ruvon-sdk | 5.00x | yes |  |" in page
    assert (
        "| Postgres | rollback | ≥ 5x ruvon-sdk | 3.64x | no | 73% of the goal; we reach 62% of "
        "the floor; our 7 commits per workflow take 450 µs each (median) against 260 µs for a "
        "raw one-row UPDATE, 79% of a workflow's 4000 µs (see where a workflow's time goes, "
        "below) |" in page
    )
    assert "A raw one-row `UPDATE` in autocommit takes 260 µs (median)" in page
    # the missed in-memory goals name the measured reason, not only a share of the floor
    assert (
        "the goal allows 33.3 µs per workflow; the saga with our contract's fixed work alone "
        "takes 30.0 µs here and our bookkeeping 50.0 µs more" in page
    )


def test_a_run_without_anatomy_has_no_such_section(bench: Any) -> None:
    run, report = bench
    state = _state(run)
    pg = {"ours": (400.0, 240.0), "ruvon-sdk": (80.0, 66.0), "dbos": (70.0, 42.0)}
    pg["floor"] = (600.0, 390.0)
    for engine, (success, rollback) in pg.items():
        for variant, rate in (("success", success), ("rollback", rollback)):
            state.results[run.Config(engine, "postgres", variant, 1, 0)] = [_run(rate)]
    state.anatomy = []
    assert "Where a workflow's time goes" not in report.render(state, 3, 60.0, run.RUNS)


def test_the_sections_measured_by_other_scripts_are_kept(bench: Any, tmp_path: Path) -> None:
    _, report = bench
    page = tmp_path / "benchmarks.md"
    assert report.kept_sections(page) == ""  # no page yet
    page.write_text(f"# Benchmarks\n\nold tables\n\n{report.KEPT}\n\n## By hand\n\n1.5 µs\n")
    assert report.kept_sections(page) == f"\n{report.KEPT}\n\n## By hand\n\n1.5 µs\n"
    page.write_text("# Benchmarks\n\nno marker\n")
    assert report.kept_sections(page) == ""
