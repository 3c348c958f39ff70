"""docs/benchmarks.md from what bench/run.py measured: every figure in it comes from the run."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASH = "\u2013"  # en dash, for ranges
PEERS = ("ruvon-sdk", "dbos")
LABELS = {
    "ours": "**ruvon (ours)**",
    "ruvon-sdk": "ruvon-sdk 0.1.5",
    "dbos": "DBOS Transact",
    "plain": "floor: plain function",
    "floor": "floor: raw commits",
}
STORE_TITLES = {
    ("memory", 1): "In memory",
    ("sqlite-full", 1): "SQLite, WAL, synchronous=FULL",
    ("sqlite-normal", 1): "SQLite, WAL, synchronous=NORMAL",
    ("postgres", 1): "PostgreSQL (127.0.0.1)",
    ("postgres", 50): "PostgreSQL (127.0.0.1), 50 workflows in flight",
}
PACKAGES = {
    "main": ["ruvon", "pydantic", "asyncpg"],
    "ruvon-sdk": ["ruvon-sdk", "pydantic", "aiosqlite", "asyncpg", "SQLAlchemy", "alembic"],
    "dbos": ["dbos", "pydantic", "SQLAlchemy", "psycopg"],
}


# -- the machine -----------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}"


def package_versions(python: Path, names: list[str]) -> dict[str, str]:
    """The installed versions of ``names`` in the venv of ``python``."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=False
    )
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


def machine(peers: dict[str, Path]) -> dict[str, str]:
    facts = {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": _ram(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite (Python's sqlite3, every venv)": sqlite3.sqlite_version,
        "ruvon (ours) at commit": _git(),
    }
    for venv, python in [("main", Path(sys.executable)), *peers.items()]:
        found = package_versions(python, PACKAGES[venv])
        listed = ", ".join(f"{name} {found[name]}" for name in PACKAGES[venv] if name in found)
        facts[f"packages ({'our' if venv == 'main' else venv} venv)"] = listed
    return facts


# -- numbers ---------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/m"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(ours: float | None, other: float | None) -> str:
    if not ours or not other:
        return "—"
    value = ours / other
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def _throughput(runs: list[dict[str, Any]]) -> str:
    rates = [r["workflows_per_s"] for r in runs]
    text = f"{_num(statistics.median(rates))} ({_num(min(rates))}{DASH}{_num(max(rates))})"
    return text if len(runs) > 1 else f"{text}, 1 run"


def _commits(engine: str, store: str, runs: list[dict[str, Any]]) -> str:
    value = _median(runs, "commits_per_workflow")
    if value is None:
        return "n/m"
    text = f"{value:.2f}"
    if store == "postgres" and runs[0].get("pg_xact_rollback_per_workflow"):
        text += f" (+{_median(runs, 'pg_xact_rollback_per_workflow'):.2f} rolled back)"
    if engine == "ours" and store != "memory":
        text += f"; own count {_median(runs, 'store_commits_per_workflow'):.2f}"
    return text


class Table:
    """The medians of one configuration group, keyed (engine, variant)."""

    def __init__(self, state: Any, store: str, concurrency: int) -> None:
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for config, runs in state.results.items():
            if (config.store, config.concurrency) == (store, concurrency) and runs:
                self.rows[(config.engine, config.variant)] = runs

    def rate(self, engine: str, variant: str) -> float | None:
        runs = self.rows.get((engine, variant))
        return _median(runs, "workflows_per_s") if runs else None

    def floor_engine(self) -> str:
        return "plain" if any(engine == "plain" for engine, _ in self.rows) else "floor"


# -- the document ----------------------------------------------------------------------------


def _machine_section(state: Any, wall: float) -> list[str]:
    lines = ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in state.versions.items()]
    load = ", ".join(f"{x:.2f}" for x in state.load_start)
    end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines += [
        f"| load average (1, 5, 15 min) at start / end | {load} / {end} |",
        f"| date (UTC) | {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} |",
        f"| `make bench` wall time | {wall / 60:.1f} min |",
        "",
    ]
    if max(state.load_start[0], os.getloadavg()[0]) > (os.cpu_count() or 1) / 2:
        lines += [
            "The load average shows other work on the machine during the run: compare rows "
            "with each other (their runs were interleaved, so a slower spell hits every "
            "engine alike) rather than with a run on another day.",
            "",
        ]
    return lines


def _method_section(repeats: int, runs: dict[tuple[str, int], dict[str, int]]) -> list[str]:
    lines = [
        "## Method",
        "",
        "- **Workload**: the seed tutorial's payment saga (`bench/workloads/payment`: its "
        "`workflow.yaml`, its `PaymentState` and its four step functions with their prints "
        "removed, same bodies otherwise). *success*: the four steps complete. *rollback*: step "
        "4 raises (`FAIL_AT['shipment']`) and the three compensations run, most recent first.",
        "- Each run is a **fresh process** (`bench/engines/*.py`, in the engine's own venv) on a "
        "fresh SQLite file or a fresh Postgres database; it runs one warm-up workflow, then "
        "*n* workflows one after another to their terminal status (or, for the 50-in-flight "
        "rows, 50 at a time), and prints one JSON line. Each configuration ran "
        f"**{'once' if repeats == 1 else f'{repeats} times'}**; the runs of all configurations "
        "of a store were interleaved.",
        "- **workflows/s**: *n* ÷ the wall time of the *n* workflows (start-up and warm-up "
        f"excluded): the median of the runs, (min{DASH}max) after it. **p50 / p95**: one "
        "workflow's time from creation to terminal status (for 50 in flight: from the moment "
        "it gets its slot), the median of the runs' percentiles. **peak RSS**: the worker "
        "process's `ru_maxrss` (interpreter and imports included), median.",
        "- **commits / workflow**, median of the runs: *SQLite*: write transactions committed, "
        "counted by a `sqlite3` trace callback on the engine's connections (each `COMMIT`, and "
        "each write statement run outside a transaction). *Postgres*: the delta of "
        "`pg_stat_database.xact_commit` for the run's database, read after the engine closed "
        "its connections (so the server has flushed them): every committed transaction, "
        "read-only ones included (a statement sent outside `BEGIN` is a transaction, and so is "
        "the session reset a connection pool may send when a connection is returned), plus "
        "the engine's own start-up and shutdown transactions, spread over *n*; rolled-back "
        "transactions, when there were any, are shown after it. *Ours* also reports its own "
        "count (`store.commits`). *In memory*: ours counts the transitions its store applies "
        "atomically (nothing is durable); ruvon-sdk's in-memory store counts nothing (n/m).",
        "- **Floors**, measured in the same run: *plain function*: the same saga, same step "
        "bodies, same Pydantic state, as straight-line Python. *raw commits*: the plain "
        "function plus K commits per workflow, K being the number of commits our engine makes "
        "on that variant (its own count), each one a small `UPDATE` of the state's JSON in "
        "autocommit: raw `sqlite3` on a WAL file with the row's `synchronous`, or asyncpg on "
        "a connection held for the whole run (one per workflow in flight).",
        "- **ours ÷ this**: our median workflows/s divided by this row's (same store, variant "
        "and concurrency): above 1 ours is faster; against a floor it is the fraction of the "
        "floor's throughput we reach.",
        "",
        "Workflows per run (*n*):",
        "",
        "| store | " + " | ".join(LABELS[e] for e in ("ours", "ruvon-sdk", "dbos")) + " | floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for (store, concurrency), engines in runs.items():
        floor = engines.get("floor", engines.get("plain"))
        cells = [engines.get(e) for e in ("ours", "ruvon-sdk", "dbos")] + [floor]
        title = STORE_TITLES[(store, concurrency)]
        lines.append(f"| {title} | " + " | ".join(f"{c:,}" if c else "—" for c in cells) + " |")
    lines += [
        "",
        "Fewer than 1,000 where one workflow costs tens of fsyncs (SQLite FULL, Postgres) or "
        "the peer is slow, so that `make bench` stays within minutes on this 2-core machine; a "
        "run then still lasts seconds.",
        "",
    ]
    return lines


def _summary_section(state: Any) -> list[str]:
    lines = [
        "## Summary",
        "",
        "Median workflows/s, and ours ÷ each (above 1: ours faster).",
        "",
        "| store | variant | ours | ruvon-sdk 0.1.5 | ours ÷ ruvon-sdk | DBOS | ours ÷ DBOS "
        "| floor | ours ÷ floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, title in STORE_TITLES.items():
        table = Table(state, *key)
        if not table.rows:
            continue
        floor = table.floor_engine()
        for variant in ("success", "rollback"):
            ours = table.rate("ours", variant)
            cells = [title, variant, _num(ours)]
            for other in (*PEERS, floor):
                rate = table.rate(other, variant)
                default = "not supported" if other == "dbos" and key[0] == "memory" else "—"
                cells += [_num(rate) if rate else default, _ratio(ours, rate)]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


# The targets of the benchmark issue: (store, concurrency, variant, what, goal)
TARGETS = [
    ("memory", 1, "success", "ruvon-sdk", 10.0),
    ("memory", 1, "success", "absolute", 30_000.0),
    ("sqlite-full", 1, "success", "absolute", 800.0),
    ("sqlite-full", 1, "success", "dbos", 6.0),
    ("sqlite-normal", 1, "success", "absolute", 4_000.0),
    ("postgres", 1, "success", "ruvon-sdk", 5.0),
    ("postgres", 1, "success", "dbos", 5.0),
    ("postgres", 1, "rollback", "ruvon-sdk", 5.0),
    ("postgres", 1, "rollback", "dbos", 5.0),
]


def _measured_reason(state: Any, store: str, variant: str, goal_rate: float) -> str | None:
    """The anatomy's figures behind a missed goal, in one clause (None: not measured)."""
    entries = {e["section"]: e for e in getattr(state, "anatomy", [])}
    entry = entries.get(store)
    if entry is None:
        return None
    if store == "memory":
        contract, ours = entry[variant]["contract_us"], entry[variant]["ours_us"]
        return (
            f"the goal allows {1e6 / goal_rate:.1f} µs per workflow; the saga with our "
            f"contract's fixed work alone takes {contract:.1f} µs here and our bookkeeping "
            f"{ours - contract:.1f} µs more"
        )
    if store.startswith("sqlite"):
        in_sql = sum(entry["statements_us"].values())
        frames = sum(
            entry["frames_per_commit"][k] * entry["commits_per_workflow"][k]
            for k in entry["frames_per_commit"]
        )
        commits = sum(entry["commits_per_workflow"].values())
        return (
            f"{in_sql:.0f} of our {entry['total_us']:.0f} µs per workflow are spent inside "
            f"SQLite, {entry['statements_us'].get('COMMIT', 0.0):.0f} of them in COMMIT; our "
            f"{commits:g} commits write {frames:.0f} WAL pages per workflow, the floor's "
            f"{commits * entry['floor_frames_per_commit']:.0f}"
        )
    if store == "postgres" and variant in entry:
        v = entry[variant]
        share = v["commits_per_workflow"] * v["our_commit_us"] / v["workflow_us"]
        return (
            f"our {v['commits_per_workflow']:g} commits per workflow take "
            f"{v['our_commit_us']:.0f} µs each (median) against {entry['raw_update_us']:.0f} µs "
            f"for a raw one-row UPDATE, {share:.0%} of a workflow's {v['workflow_us']:.0f} µs"
        )
    return None


def _why(state: Any, table: Table, store: str, variant: str, ours: float, goal: float) -> str:
    floor = table.rate(table.floor_engine(), variant)
    parts = []
    if floor and floor < goal:
        parts.append(
            f"the floor itself (the same saga and commits with no engine) reaches only "
            f"{_num(floor)} wf/s on this machine"
        )
    if floor:
        parts.append(f"we reach {ours / floor:.0%} of the floor")
    measured = _measured_reason(state, store, variant, goal)
    if measured:
        parts.append(measured)
    elif floor and ours / floor >= 0.7:
        parts.append("the commits' own cost dominates")
    else:
        parts.append("the engine's own CPU time dominates: see the profile below")
    return "; ".join(parts) + (" (see where a workflow's time goes, below)" if measured else "")


def _targets_section(state: Any) -> list[str]:
    lines = [
        "## Targets",
        "",
        "The goals of the benchmark issue, checked against this run (absolute figures are for "
        "the machine it ran on; ratios should hold across machines).",
        "",
        "| store | variant | goal | measured | met | why not |",
        "|---|---|---|---:|---|---|",
    ]
    titles = {
        "memory": "In memory",
        "sqlite-full": "SQLite FULL",
        "sqlite-normal": "SQLite NORMAL",
        "postgres": "Postgres",
    }
    for store, concurrency, variant, what, goal in TARGETS:
        table = Table(state, store, concurrency)
        ours = table.rate("ours", variant)
        if ours is None:
            continue
        if what == "absolute":
            measured, text, goal_rate = ours, f"≥ {goal:,.0f} wf/s", goal
            shown = f"{_num(ours)} wf/s"
        else:
            peer = table.rate(what, variant)
            if not peer:
                continue
            measured, text, goal_rate = ours / peer, f"≥ {goal:g}x {what}", goal * peer
            shown = f"{measured:.2f}x"
        met = measured >= goal
        why = (
            ""
            if met
            else f"{measured / goal:.0%} of the goal; "
            + _why(state, table, store, variant, ours, goal_rate)
        )
        lines.append(
            f"| {titles[store]} | {variant} | {text} | {shown} | {'yes' if met else 'no'} | {why} |"
        )
    rss = []
    for store in titles:
        table = Table(state, store, 1)
        ours, sdk = table.rows.get(("ours", "success")), table.rows.get(("ruvon-sdk", "success"))
        if ours and sdk:
            ours_mb, sdk_mb = _median(ours, "peak_rss_mib"), _median(sdk, "peak_rss_mib")
            if ours_mb and sdk_mb:
                rss.append(
                    f"{titles[store]} {ours_mb:.0f} vs {sdk_mb:.0f} MiB"
                    f"{'' if ours_mb <= sdk_mb else ' (higher)'}"
                )
    if rss:
        lines += ["", "Peak RSS, ours vs ruvon-sdk (goal: no higher): " + "; ".join(rss) + "."]
    return [*lines, ""]


def _profile_section(state: Any) -> list[str]:
    if not state.profile:
        return []
    lines = [
        "## Where our time goes",
        "",
        "`bench/profile_engine.py`, run by `make bench`: the in-memory saga under cProfile, each "
        "function's own time added up by the part it belongs to. cProfile charges a fixed cost "
        "per Python call, so the engine's call-heavy Python code looks larger than it is next "
        "to C code (pydantic-core, orjson): read the shares as an order.",
        "",
    ]
    for entry in state.profile:
        lines += [
            f"**{entry['variant']}** ({entry['runs']:,} workflows):",
            "",
            "| part | share of time |",
            "|---|---:|",
        ]
        lines += [f"| {label} | {share:.1f}% |" for label, share in entry["shares"].items()]
        lines.append("")
    return lines


_STATEMENT_LABELS = {
    "COMMIT": "`COMMIT` (WAL frames written; a checkpoint now and then)",
    "BEGIN": "`BEGIN IMMEDIATE`",
    "UPDATE ruvon_workflows": "`UPDATE` of the workflow row",
    "INSERT ruvon_workflows": "`INSERT` of the workflow row (creation)",
    "INSERT ruvon_step_attempts": "`INSERT` of the step attempt",
    "INSERT ruvon_audit": "`INSERT` into the audit log (status changes)",
    "INSERT ruvon_metrics": "`INSERT` of the metrics (terminal status)",
    "INSERT ruvon_definitions": "`INSERT` of the definition snapshot",
}


def _anatomy_memory(entry: dict[str, Any], state: Any) -> list[str]:
    s, r = entry["success"], entry["rollback"]
    lines = [
        "**In memory**, microseconds per workflow (best of 5 rounds of "
        f"{entry['runs']:,}, one process, interleaved):",
        "",
        "| level | success | rollback |",
        "|---|---:|---:|",
        f"| the plain function (the floor) | {s['plain_us']:.1f} | {r['plain_us']:.1f} |",
        "| + the fixed work of our contract: each result merged into a new state validated as "
        "a whole, the state serialized once per commit | "
        f"{s['contract_us']:.1f} | {r['contract_us']:.1f} |",
        f"| our engine | {s['ours_us']:.1f} | {r['ours_us']:.1f} |",
        "| of which the engine's bookkeeping (records, journal, lease, status table, observer "
        f"checks, store) | {s['ours_us'] - s['contract_us']:.1f} | "
        f"{r['ours_us'] - r['contract_us']:.1f} |",
        "",
    ]
    sdk = Table(state, "memory", 1).rate("ruvon-sdk", "success")
    goals = [("30,000 wf/s", 1e6 / 30_000)]
    if sdk:
        goals.append((f"10x ruvon-sdk's median in this run ({_num(sdk)} wf/s)", 1e6 / (10 * sdk)))
    bookkeeping = s["ours_us"] - s["contract_us"]
    said = []
    for goal, budget in goals:
        left = budget - s["contract_us"]
        said.append(
            f"{goal} is {budget:.1f} µs per workflow, which leaves "
            + (f"{left:.1f} µs ({left / 5:.1f} µs per commit)" if left > 0 else "nothing")
            + " for the bookkeeping"
        )
    lines += [
        f"In time per successful workflow (4 steps, 5 commits): {'; '.join(said)}. Ours takes "
        f"{bookkeeping:.1f} µs ({bookkeeping / 5:.1f} µs per commit): recording the step "
        "attempt, the lease and status checks, the observer checks and the store's copy. The "
        "profile below shows how that splits.",
        "",
    ]
    return lines


def _anatomy_sqlite(entry: dict[str, Any]) -> list[str]:
    sync = entry["section"].split("-", 1)[1].upper()
    statements = entry["statements_us"]
    total = entry["total_us"]
    in_sql = sum(statements.values())
    lines = [
        f"**SQLite, synchronous={sync}** ({entry['runs']:,} successful workflows): "
        f"{total:.0f} µs per workflow, {in_sql:.0f} µs of it inside SQLite calls:",
        "",
        "| statement | µs per workflow |",
        "|---|---:|",
    ]
    lines += [f"| {_STATEMENT_LABELS.get(k, k)} | {v:.1f} |" for k, v in statements.items()]
    frames = entry["frames_per_commit"]
    counts = entry["commits_per_workflow"]
    kinds = ", ".join(
        f"{kind} {frames[kind]:.1f} ({counts[kind]:g} per workflow)" for kind in frames
    )
    lines += [
        "",
        f"WAL frames (pages) written per commit, by kind of commit: {kinds}; the floor's "
        f"single-row `UPDATE` writes {entry['floor_frames_per_commit']:.1f}. Each frame is a "
        "page written and checksummed, and later copied back by a checkpoint: the workflow row, "
        "the step-attempt row, the audit and metrics rows, and the index entries that let "
        "`ruvon list`, recovery and the per-workflow history find them.",
        "",
    ]
    return lines


def _anatomy_postgres(entry: dict[str, Any]) -> list[str]:
    raw, trip = entry["raw_update_us"], entry["round_trip_us"]
    lines = [
        f"**PostgreSQL** ({entry['runs']:,} workflows per variant, each followed by a raw "
        "one-row `UPDATE` and a `SELECT 1` on the same server):",
        "",
        "| variant | µs per workflow | commits per workflow | one of our commits, median µs |",
        "|---|---:|---:|---:|",
    ]
    for variant in ("success", "rollback"):
        v = entry.get(variant)
        if v:
            lines.append(
                f"| {variant} | {v['workflow_us']:.0f} | {v['commits_per_workflow']:g} | "
                f"{v['our_commit_us']:.0f} |"
            )
    lines += [
        "",
        f"A raw one-row `UPDATE` in autocommit takes {raw:.0f} µs (median), `SELECT 1` (the "
        f"round trip) {trip:.0f} µs. Every write waits for the same WAL flush; one of our "
        "commits is one statement too (a data-modifying `WITH` that updates the workflow row "
        "and inserts the transition's step attempt, journal, audit and metrics rows), and what "
        "it costs over the raw `UPDATE` is the server's work on those rows and their indexes "
        "plus our side of the call. Creating the workflow is one more statement of the same "
        "kind (not in the commit median).",
        "",
    ]
    return lines


def _anatomy_section(state: Any) -> list[str]:
    entries = {e["section"]: e for e in getattr(state, "anatomy", [])}
    if not entries:
        return []
    lines = [
        "## Where a workflow's time goes, store by store",
        "",
        "`bench/anatomy.py`, run by `make bench` after the timed runs: the measured reasons "
        "behind the targets above.",
        "",
    ]
    if "memory" in entries:
        lines += _anatomy_memory(entries["memory"], state)
    for key in ("sqlite-normal", "sqlite-full"):
        if key in entries:
            lines += _anatomy_sqlite(entries[key])
    if "postgres" in entries:
        lines += _anatomy_postgres(entries["postgres"])
    return lines


def _store_sections(state: Any) -> list[str]:
    lines = ["## Results by store", ""]
    order = ("ours", "ruvon-sdk", "dbos", "plain", "floor")
    for key, title in STORE_TITLES.items():
        table = Table(state, *key)
        if not table.rows:
            continue
        lines += [
            f"### {title}",
            "",
            f"| engine | variant | n | workflows/s, median (min{DASH}max) | p50 ms | p95 ms "
            "| peak RSS MiB | commits / workflow | ours ÷ this |",
            "|---|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for variant in ("success", "rollback"):
            for engine in order:
                runs = table.rows.get((engine, variant))
                if not runs:
                    continue
                ours, rate = table.rate("ours", variant), table.rate(engine, variant)
                ratio = "1" if engine == "ours" else _ratio(ours, rate)
                cells = [
                    LABELS[engine],
                    variant,
                    f"{runs[0]['n']:,}",
                    _throughput(runs),
                    _num(_median(runs, "p50_ms"), 2),
                    _num(_median(runs, "p95_ms"), 2),
                    _num(_median(runs, "peak_rss_mib"), 0),
                    _commits(engine, key[0], runs),
                    ratio,
                ]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


ADAPTATIONS = """## How each peer was run

The peers run in their own virtualenvs (`bench/.venvs/`, created by `bench/run.py` with
`python -m venv` and pip, from the same Python as ours), on the same `workflow.yaml`, state
model and step bodies (imported from `bench/workloads/payment`). Each was adapted only where its
own API requires it:

**ruvon-sdk {sdk}** (`ruvon-sdk[postgres]=={sdk}`, the original engine;
`bench/engines/ruvon_sdk_worker.py`):

1. The tutorial's `InMemoryPersistenceProvider` does not exist in 0.1.5: its in-memory store is
   `ruvon.implementations.persistence.memory.InMemoryPersistence`.
2. `WorkflowBuilder` needs a `workflow_registry`; the entry names the YAML (`config_file`) and
   gives `initial_state_model_path` (0.1.5 reads the state model from that key, not from the
   YAML's `initial_state_model`).
3. `enable_saga_mode()` is a coroutine in 0.1.5: it is awaited (called as in the tutorial,
   without `await`, it does nothing). 0.1.5 also honours the YAML's `saga_mode: true`, when
   present, by awaiting it in `create_workflow`; calling it twice changes nothing.
4. When the saga rolls back, `next_step()` raises `SagaWorkflowException` after running the
   compensations (status `FAILED_ROLLED_BACK`); the loop catches it.
5. The engine prints (`[SAGA] ...`, `[InMemoryPersistence] ...`) and its observer logs every
   event: the worker sends its stdout and stderr to `/dev/null`, so that cost stays in its
   numbers without flooding a pipe.
6. SQLite: `SQLitePersistenceProvider(path)` opens the file in WAL mode but has no
   `synchronous` option; `PRAGMA synchronous = FULL | NORMAL` is run on its connection after
   `initialize()`. Its schema comes from its own fallback (the migration tool it looks for is
   not in the wheel, so it logs that and creates its embedded schema).
7. Postgres: `PostgresPersistenceProvider(url)` creates no tables. The schema is created from the
   package's own Alembic migrations (`alembic upgrade head`, with psycopg2, into a template
   database copied for each run), plus one fix: the migrations give `compensation_log.log_id`
   no default but the provider's INSERT omits it, so every compensation failed with a NOT NULL
   violation; the column gets `DEFAULT gen_random_uuid()::text`. Pool sizes are its defaults
   (10 to 50 connections), enough for 50 in flight.
8. 50 in flight: 50 `asyncio` tasks, as for ours.

**DBOS Transact** (`dbos=={dbos}`; `bench/engines/dbos_worker.py`):

1. No YAML and no saga: the saga is a `@DBOS.workflow` that runs four `@DBOS.step`s, each
   calling the same step body with the workflow's `PaymentState` and returning its dict
   (DBOS records it as the step's output), merged into the state as the engines do. On an
   exception it runs the compensation steps of the completed steps, most recent first, each a
   `@DBOS.step` around the same compensation body, then raises again, so the workflow ends in
   DBOS's failure status `ERROR`.
2. Configured with `DBOSConfig(name="bench", system_database_url=..., log_level="ERROR")`:
   `sqlite:///FILE` for the SQLite rows, the run's `postgresql://` database (psycopg 3, which
   `dbos` installs) for the Postgres rows.
3. SQLite: DBOS opens its system database in SQLite's default rollback-journal mode; a
   SQLAlchemy `connect` listener puts each connection in WAL mode with the row's `synchronous`,
   so the SQLite rows compare like with like.
4. No in-memory mode: its state lives in a SQLite or Postgres system database
   (`sqlite:///:memory:` fails at launch: SQLAlchemy rejects the pool arguments DBOS passes).
   Its in-memory row is "not supported".
5. 50 in flight: DBOS runs a synchronous workflow in the calling thread, so 50 threads each
   call the workflow function; `sys_db_pool_size` is raised from 20 to 50 to match.
6. `pydantic` is installed into its venv (same version as ours) for the shared state model.
"""


def _notes_section(state: Any) -> list[str]:
    lines = ["## Notes", ""]
    lines += [f"- {note}" for note in state.notes]
    for config, errors in state.failures.items():
        flight = f", {config.concurrency} in flight" if config.concurrency > 1 else ""
        what = f"{config.engine} {config.store} {config.variant}{flight}"
        lines.append(f"- {what}: {len(errors)} run(s) failed: {errors[-1]}")
    for config, runs in state.results.items():
        if len(runs) < state.repeats:
            lines.append(
                f"- {config.engine} {config.store} {config.variant}: {len(runs)} of "
                f"{state.repeats} runs (the others failed or were skipped)."
            )
    if state.skipped:
        lines.append(
            f"- Time budget ({state.budget_s:.0f} s) exceeded: skipped "
            + "; ".join(state.skipped)
            + "."
        )
    lines += [
        "- 50 in flight runs on Postgres only, the store made for many concurrent writers: in "
        "memory and on SQLite one process's writes are serialized anyway (SQLite has one writer "
        "at a time), so concurrency there would measure interleaving, not parallel commits.",
        "- `plain` has no store and so appears only in the in-memory table; the raw-commit "
        "floors appear in the SQLite and Postgres tables.",
        "- Every run's JSON line is kept in `bench/results/latest.json` (not committed).",
    ]
    return [*lines, ""]


def render(
    state: Any,
    repeats: int,
    wall: float,
    runs: dict[tuple[str, int], dict[str, int]],
) -> str:
    state.repeats = repeats
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`); every figure below was measured by that "
        "run on the machine described. Do not edit by hand: rerun `make bench`.",
        "",
        *_machine_section(state, wall),
        *_method_section(repeats, runs),
        *_summary_section(state),
        *state.regression,
        *_targets_section(state),
        *_anatomy_section(state),
        *_profile_section(state),
        *_store_sections(state),
        ADAPTATIONS.format(sdk=state.pins["ruvon-sdk"], dbos=state.pins["dbos"]),
        *_notes_section(state),
    ]
    return "\n".join(lines)


KEPT = "<!-- sections below are measured by their own scripts: make bench keeps them -->"


def kept_sections(path: Path) -> str:
    """What follows :data:`KEPT` in the page as it is (the SUB_WORKFLOW and dashboard
    measurements, each rerun by its own script), to be written after a regenerated page."""
    if not path.exists():
        return ""
    text = path.read_text()
    at = text.find(KEPT)
    return "" if at < 0 else "\n" + text[at:]
