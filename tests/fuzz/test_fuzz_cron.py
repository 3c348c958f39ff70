"""Random schedules and random downtime windows: the ticks the scheduler starts (on a fake
clock: no real waiting) equal a model computed with croniter directly, from
docs/steps/cron-schedule.md, on the in-memory store and on SQLite.

Each example is a generated :class:`Plan`: 1-3 schedules ``s0``..``s2`` with random cron
expressions croniter accepts (five fields, a sixth for seconds, macros; ranges, steps, lists,
names, ``L``, ``#``), a definition ``Auto`` scheduling itself with a top-level ``schedule:``, and
a timeline of operations at random times — short gaps, downtime windows of minutes to weeks,
times on a due tick exactly or just before it: a pass of scheduler ``A``, of a second scheduler
``B`` on the same database (a second store object on SQLite), of both at once (racing), ``A``
restarted (maybe with ``Auto``'s expression changed), a scheduler that takes a tick and dies
before starting its workflow, a schedule registered again with the same expression or another
one, disabled, enabled again. The model says:

- a scheduler's pass starts, for each enabled schedule that is due (``now >= next_due_at``),
  exactly one workflow: for the latest tick at or before now (older missed ticks are skipped,
  and a warning names the first one missed and the one that runs), with the idempotency key
  ``<schedule>:<tick in ISO 8601 UTC>`` and the metadata ``schedule``, ``tick``; the next due
  time is then the first tick after it;
- registering a schedule (the step, a definition's ``schedule:``) with the same expression
  keeps its next tick, unless it was disabled; another expression, or enabling it again,
  counts the next tick from now; a disabled schedule never ticks;
- a scheduler that starts checks the last tick of each enabled schedule on its first pass and
  starts that tick's workflow if a dead scheduler took the tick and never created it; one that
  keeps running does not, and a later tick replaces that last tick (unless its own first check
  had to wait for a racing scheduler's new workflow: its next pass may then finish a dead
  scheduler's tick, which the model accepts, once, but does not require);
- of two schedulers racing, one takes each tick: no tick ever starts twice, and each started
  workflow's step runs once.

Ticks are computed with croniter by walking forward from the schedule's next due tick
(``get_next``), not as the scheduler does (``get_prev`` from now).

``RUVON_FUZZ_EXAMPLES`` sets the number of examples per store (default below: a few seconds
each); ``RUVON_FUZZ_EXAMPLES=1000`` is the long run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from fuzzapp import cron as app
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ruvon.builder import WorkflowBuilder
from ruvon.definition.cron import next_tick
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider, ScheduleRecord
from ruvon.scheduler import Scheduler, due_tick

EXAMPLES = int(os.environ.get("RUVON_FUZZ_EXAMPLES", "100"))

NAMES = ("s0", "s1", "s2")
AUTO = "Auto"
MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WALK = 400  # ticks the model walks before it asks croniter for the latest one directly

# --- cron expressions ----------------------------------------------------------------------------


def _one_in(draw: st.DrawFn, n: int) -> bool:
    return draw(st.integers(1, n)) == n // 2 + 1


@st.composite
def cron_fields(draw: st.DrawFn, lo: int, hi: int, names: tuple[str, ...] = ()) -> str:
    kinds = ["*", "*", "n", "step", "range", "range_step", "list"] + (["name"] if names else [])
    kind = draw(st.sampled_from(kinds))
    number = st.integers(lo, hi)
    if kind == "*":
        return "*"
    if kind == "n":
        return str(draw(number))
    if kind == "step":
        return f"*/{draw(st.integers(1, max(1, (hi - lo + 1) // 2)))}"
    if kind == "name":
        return draw(st.sampled_from(names))
    a, b = sorted((draw(number), draw(number)))
    if kind == "range":
        return f"{a}-{b}"
    if kind == "range_step":
        return f"{a}-{b}/{draw(st.integers(1, max(1, b - a)))}"
    return ",".join(str(n) for n in draw(st.lists(number, min_size=2, max_size=3, unique=True)))


def fires(expression: str) -> bool:
    """Whether croniter accepts the expression and it fires (February 30th does not)."""
    try:
        return bool(croniter.is_valid(expression)) and bool(
            croniter(expression, datetime(2020, 1, 1, tzinfo=UTC)).get_next(float)
        )
    except Exception:  # croniter's errors on odd input are not all ValueErrors
        return False


@st.composite
def expressions(draw: st.DrawFn) -> str:
    if _one_in(draw, 6):
        return draw(st.sampled_from(MACROS))
    dom = draw(st.one_of(cron_fields(1, 31), st.sampled_from(("L", "*", "*"))))
    dow = draw(st.one_of(cron_fields(0, 6, DAYS), st.sampled_from(("5L", "1#2", "*", "*"))))
    parts = [
        draw(cron_fields(0, 59)),
        draw(cron_fields(0, 23)),
        dom,
        draw(cron_fields(1, 12, MONTHS)),
        dow,
    ]
    if draw(st.booleans()):
        parts.append(draw(cron_fields(0, 59)))  # seconds
    expression = " ".join(parts)
    assume(fires(expression))
    return expression


# --- plans ---------------------------------------------------------------------------------------

GAPS = st.one_of(
    st.sampled_from((0.0, 0.25, 1.0, 1.5)),
    st.floats(2, 120),
    st.floats(120, 6 * 3600),
    st.floats(6 * 3600, 40 * 86400),  # a downtime window
)


@dataclass(frozen=True, kw_only=True)
class Op:
    """``kind`` at ``gap`` seconds after the previous operation, or, with ``at_due``, at the
    next due time of the schedules (plus ``at_due``: just before it, on it, after it)."""

    kind: str
    gap: float = 0.0
    at_due: float | None = None
    target: str = "s0"
    expression: str | None = None  # change: the new expression; restart A: Auto's new one


KINDS = (
    "poll A",
    "poll A",
    "poll A",
    "poll B",
    "poll both",
    "poll both",
    "poll both",
    "start B",
    "restart A",
    "dead claim",
    "register",
    "change",
    "disable",
    "enable",
)


@dataclass(frozen=True, kw_only=True)
class Plan:
    start: float
    schedules: dict[str, str]  # name -> cron expression (as registered)
    auto: str  # Auto's top-level schedule (as written: maybe with extra spaces)
    ops: tuple[Op, ...]
    interleaving: int = 0  # seeds how often each store call lets the other scheduler run


@st.composite
def ops(draw: st.DrawFn, names: list[str]) -> Op:
    kind = draw(st.sampled_from(KINDS))
    gap = draw(GAPS)
    at_due = draw(st.sampled_from((-0.001, 0.0, 0.0, 0.5))) if _one_in(draw, 3) else None
    if kind == "poll both" and draw(st.integers(0, 2)):  # race for a tick, mostly
        at_due = draw(st.sampled_from((0.0, 0.5, 30.0)))
    target = draw(st.sampled_from([*names, AUTO] if kind in ("disable", "enable") else names))
    expression = None
    if kind == "change" or (kind == "restart A" and draw(st.booleans())):
        expression = draw(expressions())
    return Op(kind=kind, gap=gap, at_due=at_due, target=target, expression=expression)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    start = draw(st.floats(datetime(2021, 1, 1, tzinfo=UTC).timestamp(), 1_900_000_000))
    if draw(st.booleans()):
        start = float(int(start))  # on a second: maybe on a tick
    names = list(NAMES[: draw(st.integers(1, 3))])
    schedules = {name: draw(expressions()) for name in names}
    auto = draw(expressions())
    if draw(st.booleans()):
        auto = "  " + auto.replace(" ", "   ") + " "  # whitespace is normalized
    timeline = tuple(draw(st.lists(ops(names), min_size=2, max_size=14)))
    if draw(st.booleans()):  # two schedulers from the start, mostly
        timeline = (Op(kind="start B"), *timeline)
    return Plan(
        start=start,
        schedules=schedules,
        auto=auto,
        ops=timeline,
        interleaving=draw(st.integers(0, 2**32)),
    )


# --- the model -----------------------------------------------------------------------------------


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def label(tick: float) -> str:
    """The docs' tick in an idempotency key: ISO 8601 in UTC."""
    return _at(tick).isoformat()


def first_after(expression: str, t: float) -> float:
    tick: float = croniter(expression, _at(t)).get_next(float)
    assert tick > t
    return tick


def latest(expression: str, due: float, t: float) -> float:
    """The latest tick at or before ``t``, walking forward from ``due`` (a tick, ``<= t``)."""
    walk, last = croniter(expression, _at(due)), due
    for _ in range(WALK):
        tick = walk.get_next(float)
        if tick > t:
            return last
        last = tick
    if t == int(t) and croniter.match(expression, _at(t)):
        return t
    back: float = croniter(expression, _at(t)).get_prev(float)
    return max(back, last)


@dataclass(kw_only=True)
class Sched:
    expression: str
    enabled: bool = True
    next_due: float = 0.0
    last_tick: float | None = None


@dataclass(kw_only=True)
class Step:
    """One operation, at its concrete time, as the runner executes it."""

    t: float
    op: Op
    kind: str = ""  # what it comes to ("poll B" before B started: "poll A"; "noop")
    concurrent: bool = False  # "poll both": at once (else A, then B)


@dataclass(kw_only=True)
class Expected:
    steps: list[Step]
    schedules: dict[str, Sched]
    started: list[str]  # idempotency keys, in the order they started
    optional: set[str]  # keys that may have started too (at most once; see Model.poll)
    warnings: list[tuple[str, str, str]]  # (schedule, first missed, latest run)
    events: set[str] = field(default_factory=set)


class Model:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        t = plan.start
        self.schedules = {
            name: Sched(expression=expr, next_due=first_after(expr, t))
            for name, expr in plan.schedules.items()
        }
        auto = " ".join(plan.auto.split())
        self.schedules[AUTO] = Sched(expression=auto, next_due=first_after(auto, t))
        self.auto = auto  # the expression A's (and B's) definitions carry
        self.checked: dict[str, set[str]] = {"A": set()}
        # schedules whose first check by a scheduler may have been put off: in a race, it
        # found the other scheduler's new workflow of the last tick held by its live runner,
        # and looks again on its next pass
        self.maybe: dict[str, set[str]] = {"A": set(), "B": set()}
        self.orphans: dict[str, float] = {}  # schedule -> a tick taken by a dead scheduler
        self.started: list[str] = []
        self.optional: set[str] = set()
        self.warnings: list[tuple[str, str, str]] = []
        self.events: set[str] = set()

    def key(self, name: str, tick: float) -> str:
        return f"{name}:{label(tick)}"

    def poll(self, scheduler: str, t: float) -> None:
        checked = self.checked[scheduler]
        for name in sorted(self.schedules):
            s = self.schedules[name]
            if not s.enabled:
                continue
            orphan = self.orphans.get(name)
            if orphan is not None and orphan == s.last_tick:
                if name not in checked:
                    self.events.add("a dead scheduler's tick started by the next")
                    self.started.append(self.key(name, orphan))
                    self.optional.discard(self.key(name, orphan))
                    del self.orphans[name]
                elif name in self.maybe[scheduler]:  # the put-off check: it may start it
                    self.events.add("a dead scheduler's tick started by a racer's late check")
                    self.optional.add(self.key(name, orphan))
            checked.add(name)
            self.maybe[scheduler].discard(name)
            if t < s.next_due:
                continue
            tick = latest(s.expression, s.next_due, t)
            if tick > s.next_due:
                self.events.add("missed ticks skipped")
                self.warnings.append((name, label(s.next_due), label(tick)))
            s.last_tick, s.next_due = tick, first_after(s.expression, tick)
            self.orphans.pop(name, None)  # a later tick: the dead one's is not the last any more
            self.started.append(self.key(name, tick))

    def register(self, name: str, expression: str, t: float, enabled: bool = True) -> None:
        """An upsert: the next tick is kept for the same expression on an enabled schedule."""
        s = self.schedules[name]
        if not (s.enabled and s.expression == expression):
            s.next_due = first_after(expression, t)
            self.events.add("next tick counted from now")
        s.expression, s.enabled = expression, enabled

    def run(self) -> Expected:
        t = self.plan.start
        steps = []
        for op in self.plan.ops:
            t = self.when(op, t)
            step = Step(t=t, op=op)
            steps.append(step)
            self.apply(step)
        return Expected(
            steps=steps,
            schedules=self.schedules,
            started=self.started,
            optional=self.optional,
            warnings=self.warnings,
            events=self.events,
        )

    def when(self, op: Op, t: float) -> float:
        if op.at_due is not None:
            due = [s.next_due for s in self.schedules.values() if s.enabled]
            if due and min(due) + op.at_due > t:
                self.events.add(f"at a due tick {op.at_due:+g}")
                return min(due) + op.at_due
        return t + op.gap

    def apply(self, step: Step) -> None:
        op, t = step.op, step.t
        kind = op.kind
        if kind in ("poll B", "poll both") and "B" not in self.checked:
            kind = "poll A"  # no B yet
        step.kind = kind = "noop" if kind == "start B" and "B" in self.checked else kind
        if kind == "poll A" or kind == "poll B":
            self.poll(kind[-1], t)
        elif kind == "poll both":
            # at once, unless a dead scheduler's tick waits: which of the two sees the
            # schedule first then decides whether it still is the last tick (by the docs, a
            # later tick replaces it), so that case runs A, then B
            step.concurrent = not self.orphans
            if step.concurrent:
                self.race(t)
            else:
                self.poll("A", t)
                self.poll("B", t)
        elif kind in ("start B", "restart A"):
            who = "B" if kind == "start B" else "A"
            if kind == "restart A" and op.expression is not None:
                self.auto = op.expression
                self.events.add("restarted with another schedule")
            self.checked[who], self.maybe[who] = set(), set()
            self.register(AUTO, self.auto, t)
        elif kind == "dead claim":
            self.dead_claim(op.target, t)
        elif kind == "disable":
            self.schedules[op.target].enabled = False
        elif kind in ("register", "enable", "change"):
            self.register(op.target, op.expression or self.schedules[op.target].expression, t)

    def race(self, t: float) -> None:
        """Both schedulers' passes at once: the ticks are those of one pass after the
        other; a scheduler's first check of a schedule whose tick the other took may be put
        off to its next pass."""
        self.events.add("two schedulers racing")
        unchecked = {who: set(self.schedules) - self.checked[who] for who in ("A", "B")}
        before = {name: s.last_tick for name, s in self.schedules.items()}
        self.poll("A", t)
        self.poll("B", t)
        for name, s in self.schedules.items():
            if s.last_tick != before[name]:  # taken in the race
                for who in ("A", "B"):
                    if name in unchecked[who]:
                        self.maybe[who].add(name)

    def dead_claim(self, name: str, t: float) -> None:
        """A scheduler takes the due tick, then dies before creating its workflow."""
        s = self.schedules[name]
        if s.enabled and t >= s.next_due:
            tick = latest(s.expression, s.next_due, t)
            s.last_tick, s.next_due = tick, first_after(s.expression, tick)
            self.orphans[name] = tick
            self.events.add("a scheduler died after taking a tick")


def expect(plan: Plan) -> Expected:
    return Model(plan).run()


# --- running -------------------------------------------------------------------------------------

REPORT: dict[str, Any] = {
    "workflow_type": "Report",
    "initial_state_model": "fuzzapp.cron.Report",
    "steps": [{"name": "Write", "function": "fuzzapp.cron.report"}],
}


def registry(auto: str) -> dict[str, Any]:
    return {"Report": REPORT, AUTO: {**REPORT, "workflow_type": AUTO, "schedule": auto}}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Logged(logging.Handler):
    """What the schedulers log at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Interleaved:
    """A store whose every call first lets other tasks run 0-3 times (seeded): two
    schedulers polling at once then interleave at random points, on the in-memory store
    (which never waits) as on SQLite."""

    def __init__(self, store: PersistenceProvider, seed: int) -> None:
        self._store, self._random = store, random.Random(seed)
        self.lost = 0  # ticks this scheduler found taken by the other (compare-and-set lost)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not inspect.iscoroutinefunction(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            for _ in range(self._random.randint(0, 3)):
                await asyncio.sleep(0)
            result = await value(*args, **kwargs)
            if name == "claim_schedule_tick" and result is False:
                self.lost += 1
            return result

        return call


class Runner:
    """Executes a plan's operations on real schedulers over one or two store objects."""

    def __init__(self, plan: Plan, stores: tuple[PersistenceProvider, PersistenceProvider]):
        self.plan, self.store = plan, stores[0]
        self.stores = {
            "A": Interleaved(stores[0], plan.interleaving),
            "B": Interleaved(stores[1], plan.interleaving + 1),
        }
        self.clock = Clock(plan.start)
        self.auto = plan.auto
        self.schedulers: dict[str, Scheduler] = {}

    async def scheduler(self, who: str) -> None:
        store: Any = self.stores[who]
        builder = WorkflowBuilder(workflow_registry=registry(self.auto), persistence_provider=store)
        self.schedulers[who] = Scheduler(builder, store, clock=self.clock, name=who)
        await self.schedulers[who].register_definitions()

    async def start(self) -> None:
        for name, expression in self.plan.schedules.items():
            await self.register(name, "Report", expression)
        await self.scheduler("A")

    async def register(self, name: str, workflow_type: str, expression: str) -> None:
        """As the CRON_SCHEDULE step does: the next tick is the first one after now."""
        await self.store.upsert_schedule(
            ScheduleRecord(
                name=name,
                workflow_type=workflow_type,
                cron_expression=expression,
                next_due_at=next_tick(expression, self.clock()),
            )
        )

    async def row(self, name: str) -> ScheduleRecord:
        return {r.name: r for r in await self.store.list_schedules()}[name]

    async def do(self, step: Step) -> None:
        self.clock.now = step.t
        op, kind = step.op, step.kind
        if kind in ("poll A", "poll B"):
            await self.schedulers[kind[-1]].poll()
        elif kind == "poll both" and step.concurrent:
            await asyncio.gather(self.schedulers["A"].poll(), self.schedulers["B"].poll())
        elif kind == "poll both":  # one after the other: A's workflows end before B looks
            await self.schedulers["A"].poll()
            await self.schedulers["A"].drain()
            await self.schedulers["B"].poll()
        elif kind in ("start B", "restart A"):
            if kind == "restart A" and op.expression is not None:
                self.auto = op.expression
            await self.scheduler(kind[-1])
        elif kind == "dead claim":  # what _take does, up to the claim; then it dies
            row = await self.row(op.target)
            due = due_tick(row, step.t)
            if due is not None:
                await self.store.claim_schedule_tick(
                    row.name,
                    expected_due_at=row.next_due_at,
                    tick_at=due.tick_at,
                    next_due_at=due.next_due_at,
                    now=step.t,
                )
        elif kind in ("register", "enable", "change"):
            row = await self.row(op.target)
            expression = op.expression if kind == "change" else row.cron_expression
            assert expression is not None
            await self.register(row.name, row.workflow_type, expression)
        elif kind == "disable":  # as the docs' compensation does
            row = await self.row(op.target)
            row.enabled = False
            await self.store.upsert_schedule(row)
        for scheduler in self.schedulers.values():
            await scheduler.drain()


async def run_plan(
    plan: Plan, stores: tuple[PersistenceProvider, PersistenceProvider], logged: Logged
) -> tuple[list[str], int]:
    """The differences from the model, and how many claims a racer lost."""
    want = expect(plan)
    runner = Runner(plan, stores)
    await runner.start()
    for step in want.steps:
        await runner.do(step)
    lost = sum(store.lost for store in runner.stores.values())
    return await check(runner.store, want, logged), lost


async def check(store: PersistenceProvider, want: Expected, logged: Logged) -> list[str]:
    problems = []
    rows = []
    for workflow_type in ("Report", AUTO):
        rows += await store.list_workflows(workflow_type=workflow_type, limit=100_000)
    keys = Counter(str(r.idempotency_key) for r in rows)
    twice = sorted(k for k, n in keys.items() if n > 1)
    missing = sorted(set(want.started) - set(keys))
    unexpected = sorted(set(keys) - set(want.started) - want.optional)
    if twice or missing or unexpected or len(want.started) != len(set(want.started)):
        problems.append(
            f"ticks started: missing {missing}, not expected {unexpected}, twice {twice} "
            f"(expected {want.started}, maybe {sorted(want.optional)})"
        )
    for r in rows:
        name, _, tick = str(r.idempotency_key).partition(":")
        calls = app.CALLS[r.id]
        if r.status.value != "COMPLETED" or calls != 1:
            problems.append(f"{r.idempotency_key}: {r.status.value}, its step ran {calls} times")
        meta = (r.metadata.get("schedule"), r.metadata.get("tick"))
        if meta != (name, tick) or r.metadata.get("scheduler") not in ("A", "B"):
            problems.append(f"{r.idempotency_key}: metadata {r.metadata}")
    stored = {s.name: s for s in await store.list_schedules()}
    for name, s in want.schedules.items():
        row = stored.get(name)
        got = (
            None
            if row is None
            else (row.cron_expression, row.enabled, row.next_due_at, row.last_tick_at)
        )
        expected = (s.expression, s.enabled, s.next_due, s.last_tick)
        if got != expected:
            problems.append(f"schedule {name}: {got}, expected {expected}")
    warnings = []
    for record in logged.records:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            problems.append(f"logged: {message}")
        elif "missed ticks from" in message:
            name = message.split("'")[1]
            first = message.split("missed ticks from ")[1].split(" skipped")[0]
            last = message.split("only the latest, ")[1].split(", runs")[0]
            warnings.append((name, first, last))
    if sorted(warnings) != sorted(want.warnings):
        problems.append(f"missed-tick warnings {warnings}, expected {want.warnings}")
    return problems


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


_files = iter(range(10**9))


def _stores(kind: str, directory: Path) -> tuple[PersistenceProvider, PersistenceProvider]:
    """A fresh store for each example (schedules can not be deleted); on SQLite, two objects
    on one database file, as two scheduler processes would have."""
    if kind == "memory":
        store = InMemoryPersistenceProvider()
        return store, store
    url = f"sqlite:///{directory / f'cron{next(_files)}.db'}"
    return SQLitePersistenceProvider(url), SQLitePersistenceProvider(url)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_scheduler_starts_the_ticks_the_model_says(
    kind: str, tmp_path: Path, loop: asyncio.Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = Counter[str]()
    started = time.monotonic()
    logger = logging.getLogger("ruvon.scheduler")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(plan=plans())
    def one(plan: Plan) -> None:
        want = expect(plan)
        cases["cases"] += 1
        cases["ticks started"] += len(want.started)
        cases.update(want.events)
        stores = _stores(kind, tmp_path)
        logged = Logged()
        logger.addHandler(logged)
        try:
            problems, lost = loop.run(run_plan(plan, stores, logged))
            cases["claims lost to the other scheduler"] += lost
        finally:
            logger.removeHandler(logged)
            for store in {id(s): s for s in stores}.values():
                loop.run(store.close())
        timeline = [f"{label(s.t)} {s.kind}{' (at once)' * s.concurrent}" for s in want.steps]
        assert not problems, "\n".join([repr(plan), *timeline, *problems])

    try:
        one()
    finally:
        with capsys.disabled():
            tally = ", ".join(f"{k}: {v}" for k, v in sorted(cases.items()))
            print(f"\n[fuzz cron {kind}] {tally} in {time.monotonic() - started:.1f}s")
