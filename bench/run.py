"""``make bench``: the tutorial saga on our engine, its peers and the floors; writes
docs/benchmarks.md.

    .venv/bin/python bench/run.py [--budget SECONDS] [--repeats 3] [--output docs/benchmarks.md]

1. Creates ``bench/.venvs/ruvon-sdk`` and ``bench/.venvs/dbos`` (once: a stamp file records
   what was installed) and installs the pinned peers with pip.
2. Runs every configuration (engine x store x variant x concurrency) ``--repeats`` times, each
   time as a fresh process (``bench/engines/*.py``) on a fresh SQLite file or a fresh Postgres
   database, repeats interleaved so that a drift in the machine's speed hits every engine alike.
   Postgres rows are skipped, with a note, when no server answers at ``RUVON_BENCH_POSTGRES``
   (default ``postgresql://postgres@127.0.0.1:5432/postgres``, where the benchmark databases
   are created and dropped).
3. Profiles our engine (``bench/profile_engine.py``) and takes one workflow apart store by store
   (``bench/anatomy.py``: the fixed work of the contract, the time in each SQL statement, the WAL
   pages per commit, the Postgres commit against a raw one-row UPDATE).
4. Writes the medians (min-max), p50/p95 latency, peak RSS, commits per workflow and the ratios
   ours/peer and ours/floor, the targets with the measured reasons for each one missed, and the
   machine description, to docs/benchmarks.md.

Past ``--budget`` seconds the remaining runs are skipped, and the document says which.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import pg  # noqa: E402
import regression  # noqa: E402
import report  # noqa: E402

VENVS = BENCH / ".venvs"
RESULTS = BENCH / "results"
MAIN_PY = Path(sys.executable)
PG_ADMIN = os.environ.get("RUVON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_TIMEOUT_S = 300

DBOS_VERSION = "3.4.0"
SDK_VERSION = "0.1.5"


def peer_requirements() -> dict[str, list[str]]:
    """What each peer venv gets. Pydantic is pinned to the version our venv has."""
    from importlib.metadata import version

    return {
        "ruvon-sdk": [
            f"ruvon-sdk[postgres]=={SDK_VERSION}",  # the extra brings asyncpg
            "psycopg2-binary==2.9.13",  # the driver its Alembic migrations run with
        ],
        "dbos": [f"dbos=={DBOS_VERSION}", f"pydantic=={version('pydantic')}"],
    }


# Workflows per run, by (store, concurrency) and engine: 1,000 where a run takes seconds,
# fewer where one workflow costs tens of fsyncs (a run then still takes a few seconds).
RUNS: dict[tuple[str, int], dict[str, int]] = {
    ("memory", 1): {"ours": 1000, "ruvon-sdk": 1000, "plain": 1000},
    ("sqlite-normal", 1): {"ours": 1000, "floor": 1000, "ruvon-sdk": 200, "dbos": 200},
    ("sqlite-full", 1): {"ours": 200, "floor": 200, "ruvon-sdk": 50, "dbos": 50},
    ("postgres", 1): {"ours": 200, "floor": 200, "ruvon-sdk": 50, "dbos": 50},
    ("postgres", 50): {"ours": 300, "floor": 300, "ruvon-sdk": 200, "dbos": 200},
}
VARIANTS = ("success", "rollback")


@dataclass(frozen=True)
class Config:
    engine: str  # ours | ruvon-sdk | dbos | plain | floor
    store: str  # memory | sqlite-full | sqlite-normal | postgres
    variant: str  # success | rollback
    concurrency: int
    runs: int


@dataclass
class State:
    """Everything one ``make bench`` learns, handed to the report."""

    started: float = field(default_factory=time.monotonic)
    budget_s: float = 900.0
    results: dict[Config, list[dict[str, Any]]] = field(default_factory=dict)
    failures: dict[Config, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peers: dict[str, Path] = field(default_factory=dict)  # peer -> its python
    versions: dict[str, str] = field(default_factory=dict)
    sdk_template: str | None = None
    profile: list[dict[str, Any]] = field(default_factory=list)
    anatomy: list[dict[str, Any]] = field(default_factory=list)
    regression: list[str] = field(default_factory=list)
    load_start: tuple[float, float, float] = field(default_factory=os.getloadavg)
    repeats: int = 3
    pins: dict[str, str] = field(
        default_factory=lambda: {"ruvon-sdk": SDK_VERSION, "dbos": DBOS_VERSION}
    )

    def over_budget(self) -> bool:
        return time.monotonic() - self.started > self.budget_s


# -- peer venvs ------------------------------------------------------------------------------


def ensure_venv(name: str, requirements: list[str], state: State) -> None:
    """``bench/.venvs/NAME`` with the requirements, created and installed only when missing."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".bench-installed"
    wanted = "\n".join(requirements) + "\n"
    if stamp.exists() and python.exists() and stamp.read_text() == wanted:
        state.peers[name] = python
        return
    print(f"installing {name} into {venv} ...", flush=True)
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
    steps = [[base, "-m", "venv", "--clear", str(venv)]] if not python.exists() else []
    steps.append([str(python), "-m", "pip", "install", "-q", *requirements])
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            state.notes.append(f"{name}: installing it failed, its rows are missing: {tail}")
            print("\n".join(tail), file=sys.stderr)
            return
    stamp.write_text(wanted)
    state.peers[name] = python


# -- running one configuration once -----------------------------------------------------------

WORKERS = {
    "ours": "ruvon_worker.py",
    "ruvon-sdk": "ruvon_sdk_worker.py",
    "dbos": "dbos_worker.py",
    "plain": "plain_worker.py",
}


def worker_command(config: Config, state: State, db: str, commits: int) -> list[str]:
    if config.engine == "floor":
        script = "floor_postgres.py" if config.store == "postgres" else "floor_sqlite.py"
    else:
        script = WORKERS[config.engine]
    python = state.peers.get(config.engine, MAIN_PY)
    command = [str(python), str(BENCH / "engines" / script), "--store", config.store]
    command += ["--variant", config.variant, "--runs", str(config.runs)]
    command += ["--concurrency", str(config.concurrency), "--db", db]
    return command + (["--commits", str(commits)] if config.engine == "floor" else [])


def run_once(config: Config, state: State, commits: int) -> dict[str, Any]:
    """One fresh process on a fresh SQLite file / Postgres database; its JSON line."""
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tmp-", dir=RESULTS) as tmp:
        db, dbname = str(Path(tmp) / "bench.db"), None
        if config.store == "postgres":
            dbname = f"bench_{config.engine.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
            template = state.sdk_template if config.engine == "ruvon-sdk" else None
            db = pg.create_database(PG_ADMIN, dbname, template)
        try:
            done = subprocess.run(
                worker_command(config, state, db, commits),
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                check=False,
                cwd=tmp,
            )
        finally:
            if dbname:
                pg.drop_database(PG_ADMIN, dbname)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = done.stderr.strip().splitlines()[-1:]
        raise RuntimeError(last[0] if last else f"exit status {done.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def our_commits(state: State, store: str, variant: str, concurrency: int) -> int:
    """The commits per workflow our engine made (its own count), for the floor to repeat."""
    runs = state.results.get(Config("ours", store, variant, concurrency, 0), [])
    counts = sorted(r["store_commits_per_workflow"] for r in runs)
    return round(counts[len(counts) // 2]) if counts else 0


def record(config: Config, state: State) -> None:
    key = Config(config.engine, config.store, config.variant, config.concurrency, 0)
    if state.over_budget():
        state.skipped.append(describe(config))
        return
    commits = 0
    if config.engine == "floor":
        commits = our_commits(state, config.store, config.variant, config.concurrency)
        if not commits:
            state.failures.setdefault(key, []).append("no commit count from our engine")
            return
    t0 = time.monotonic()
    try:
        result = run_once(config, state, commits)
    except Exception as exc:  # a failed run is reported in the document, not fatal
        state.failures.setdefault(key, []).append(str(exc))
        print(f"  FAILED {describe(config)}: {exc}", flush=True)
        return
    state.results.setdefault(key, []).append(result)
    print(
        f"  {describe(config):<45} {result['workflows_per_s']:>9,.1f} wf/s"
        f"  ({time.monotonic() - t0:4.1f}s)",
        flush=True,
    )


def describe(config: Config) -> str:
    flight = f", {config.concurrency} in flight" if config.concurrency > 1 else ""
    return f"{config.engine} {config.store} {config.variant}{flight} (n={config.runs})"


def run_all(state: State, repeats: int, pg_ok: bool) -> None:
    for (store, concurrency), engines in RUNS.items():
        if store == "postgres" and not pg_ok:
            continue
        print(f"{store}{f', {concurrency} in flight' if concurrency > 1 else ''}:", flush=True)
        for _ in range(repeats):
            for variant in VARIANTS:
                for engine, runs in engines.items():
                    if engine in ("ruvon-sdk", "dbos") and engine not in state.peers:
                        continue
                    if engine == "ruvon-sdk" and store == "postgres" and not state.sdk_template:
                        continue
                    record(Config(engine, store, variant, concurrency, runs), state)


def profile_ours() -> list[dict[str, Any]]:
    """Where our engine's time goes on the in-memory saga (bench/profile_engine.py)."""
    print("profiling our engine (in memory)", flush=True)
    out = subprocess.run(
        [sys.executable, str(BENCH / "profile_engine.py"), "--runs", "2000"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def anatomy(pg_ok: bool) -> list[dict[str, Any]]:
    """Where one workflow's time goes on each store (bench/anatomy.py), in a fresh process."""
    print("taking our engine apart (bench/anatomy.py)", flush=True)
    dbname = f"bench_anatomy_{uuid.uuid4().hex[:8]}"
    command = [sys.executable, str(BENCH / "anatomy.py"), "--runs", "1000"]
    if pg_ok:
        command += ["--pg", pg.create_database(PG_ADMIN, dbname)]
    try:
        out = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=600
        ).stdout
    finally:
        if pg_ok:
            pg.drop_database(PG_ADMIN, dbname)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def against_base(pg_ok: bool, rounds: int) -> list[str]:
    """Our engine now against our engine at ``regression.BASE`` (bench/regression.py)."""
    print(f"comparing with our engine at {regression.BASE} (bench/regression.py)", flush=True)
    cases = [c for c in regression.CASES if pg_ok or c[1] != "pg"]
    rows = regression.compare(regression.BASE, rounds, cases, PG_ADMIN if pg_ok else None)
    return regression.markdown(rows, regression.BASE, rounds)


def prepare_postgres(state: State) -> bool:
    try:
        version = pg.server_version(PG_ADMIN)
    except Exception as exc:  # any failure to connect means: no Postgres rows
        state.notes.append(
            f"Postgres rows skipped: no server answered at {pg.redact(PG_ADMIN)} ({exc})."
        )
        return False
    state.versions["PostgreSQL server"] = version
    state.versions.update(pg.server_settings(PG_ADMIN))
    if "ruvon-sdk" in state.peers:
        try:
            state.sdk_template = pg.sdk_template(PG_ADMIN, state.peers["ruvon-sdk"])
        except RuntimeError as exc:
            state.notes.append(f"ruvon-sdk Postgres rows skipped: {exc}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--budget", type=float, default=float(os.environ.get("BENCH_BUDGET_S", 900))
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every n (smoke tests)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    state = State(budget_s=args.budget, repeats=args.repeats)
    if args.scale != 1.0:
        for engines in RUNS.values():
            engines.update({e: max(10, round(n * args.scale)) for e, n in engines.items()})
    for name, requirements in peer_requirements().items():
        ensure_venv(name, requirements, state)
    state.versions.update(report.machine(state.peers))
    pg_ok = prepare_postgres(state)
    try:
        run_all(state, args.repeats, pg_ok)
    finally:
        if state.sdk_template:
            pg.drop_database(PG_ADMIN, state.sdk_template)
    state.profile = profile_ours()
    state.anatomy = anatomy(pg_ok)
    state.regression = against_base(pg_ok, rounds=5)
    wall = time.monotonic() - state.started
    RESULTS.mkdir(exist_ok=True)
    raw = [{"config": vars(c), "runs": r} for c, r in state.results.items()]
    (RESULTS / "latest.json").write_text(json.dumps(raw, indent=1))
    kept = report.kept_sections(args.output)  # the sections measured by other scripts
    args.output.write_text(report.render(state, args.repeats, wall, RUNS) + kept)
    print(f"wrote {args.output} in {wall:.0f}s", flush=True)


if __name__ == "__main__":
    main()
