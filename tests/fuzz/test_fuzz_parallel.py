"""Random PARALLEL steps on SyncExecutor and ThreadPoolExecutor, on the in-memory store and on
SQLite, end exactly as the reference model below (written from docs/steps/parallel.md and
docs/saga.md) says.

Each example is a generated :class:`Plan`: an optional STANDARD step ``Before``, the PARALLEL
step ``Par`` and an optional STANDARD step ``After`` (which may fail). ``Par`` has 1-4 static
tasks (some with their own ``retry_policy``, others inheriting the step's; some named with a
``/``, a ``%``, digits, a space or non-ASCII text, escaped in their scope paths) or fans out over a
random list (empty included, with ``item_var_name`` or its default); ``batch_size``; tasks that
return random dicts over overlapping keys, nested dicts included; ``merge_strategy`` SHALLOW or
DEEP and ``merge_conflict_behavior`` PREFER_NEW, PREFER_EXISTING, PREFER_OLD or RAISE_ERROR,
each spelled in a random case; ``allow_partial_success``; tasks that fail on some attempts or
for good; ``def`` or ``async def`` tasks; compensations that fail on some attempts or for good;
saga mode off, in the YAML or switched on by a call; and, when a run ends ``FAILED``, an
operator who fixes the cause and calls ``retry()``. The live workflow and the one loaded back
from the store must match the model: status, state, step history (scope, attempt, status, item,
result), compensation journal (scope, status, attempts), error, cursor; and the tasks must never
have run more at once than ``batch_size`` and the executor allow.

The semantics modelled:

- each task runs like a step, on its own copy of the state (its in-place changes never reach
  the live state): its failed attempts are recorded ``FAILED`` with their number, its last one
  ``COMPLETED`` with its result (or ``FAILED``); a fan-out task gets its item as the
  ``item_var_name`` keyword and ``context.loop_item``, and is named by its index;
- when all tasks are done, the results of the completed ones are merged in task order (not the
  order they finished in): SHALLOW by top-level key, DEEP key by key into nested dicts; two
  different values for one key: the later task wins (PREFER_NEW), the earlier wins
  (PREFER_EXISTING, PREFER_OLD), or the step fails naming the key and both tasks (RAISE_ERROR);
  equal values are no conflict. The merged dict goes into the state like any step's result
  (top-level keys replace fields) and is the ``PARALLEL`` step's recorded result;
- a task that failed for good fails the step (``StepResultError`` naming a failed task), unless
  ``allow_partial_success``: the others are merged and ``failed_tasks`` names the failed ones;
- saga: the failing step first (a failed task of a failed PARALLEL step is one, as a failed
  loop body step is: ``SKIPPED``; ``After`` is compensated only with ``compensate_on_failure``),
  then every completed attempt newest first (the tasks: in reverse order of completion), each
  compensation under its task's retry policy, with its task's result as ``forward_result`` and
  a fan-out's item and index; ``COMPENSATION_FAILED`` if one failed, else
  ``FAILED_ROLLED_BACK``;
- ``retry()`` of a ``FAILED`` workflow runs the failed step again; for ``Par``, only its tasks
  that did not complete, then the merge of all of them.

Where the docs leave an order undefined — the order in which the thread pool's tasks finish,
so the order of their records, of their compensations (newest first: reverse finishing order)
and of ``failed_tasks`` — the comparison is by sets: each maximal run of task records (or
journal entries) is compared sorted; and the order the docs do define is checked on the
workflow itself: each task's attempts in order, the compensations of completed attempts in
decreasing ``forward_seq``, ``state.undone`` in journal order.

``RUVON_FUZZ_EXAMPLES`` sets the number of examples per store (default below: a few seconds
each); ``RUVON_FUZZ_EXAMPLES=3000`` is the long run.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fuzzapp import parallel as app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow

EXAMPLES = int(os.environ.get("RUVON_FUZZ_EXAMPLES", "200"))

PERMANENT = 9  # more failing attempts than any max_attempts
PREFIX = "Par/task:"
EXECUTORS = ("sync", "threads:1", "threads:2", "threads:4")

# --- plans -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TaskPlan:
    """One task: fails on its attempts ``1..fails``, else returns ``result``; ``undo``: its
    compensation's failing attempts (``None``: it has none)."""

    name: str
    fails: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    sleep: float = 0.0
    policy: int | None = None  # a static task's own max_attempts (None: the step's)
    undo: int | None = None


@dataclass(frozen=True, kw_only=True)
class StepPlan:
    """``Before``/``After``: fails on attempts ``1..fails``; ``undo`` as for a task."""

    name: str
    fails: int = 0
    max_attempts: int = 1
    undo: int | None = None
    compensate_on_failure: bool = False
    mark: int = 1


@dataclass(frozen=True, kw_only=True)
class Plan:
    tasks: tuple[TaskPlan, ...]
    fan_out: str | None = None  # the item keyword of a fan-out (None: static tasks)
    item_var_spelled: bool = False  # item_var_name written out (else its default, "item")
    items: tuple[int, ...] = ()
    max_attempts: int = 1  # the PARALLEL step's retry_policy
    batch_size: int = 0
    strategy: str = "SHALLOW"  # as spelled in the YAML
    conflict: str = "PREFER_NEW"
    partial: bool = False
    is_async: bool = False
    fan_undo: bool = False  # a fan-out's task_compensate_function
    before: StepPlan | None = None
    after: StepPlan | None = None
    saga: str = "off"
    operator_retry: bool = False
    executor: str = "sync"

    @property
    def deep(self) -> bool:
        return self.strategy.upper() == "DEEP"

    @property
    def behaviour(self) -> str:
        upper = self.conflict.upper()
        return "PREFER_EXISTING" if upper == "PREFER_OLD" else upper

    def task_attempts(self, task: TaskPlan) -> int:
        return task.policy if task.policy is not None else self.max_attempts

    def has_undo(self, task: TaskPlan) -> bool:
        return self.fan_undo if self.fan_out is not None else task.undo is not None

    def definition(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        if self.before is not None:
            steps.append(_standard(self.before))
        par: dict[str, Any] = {
            "name": "Par",
            "type": "PARALLEL",
            "automate_next": True,
            "retry_policy": {"max_attempts": self.max_attempts, "initial_delay": 0},
            "merge_strategy": self.strategy,
            "merge_conflict_behavior": self.conflict,
        }
        function = "fuzzapp.parallel.task_async" if self.is_async else "fuzzapp.parallel.task"
        if self.batch_size:
            par["batch_size"] = self.batch_size
        if self.partial:
            par["allow_partial_success"] = True
        if self.fan_out is not None:
            par.update(iterate_over="state.items", task_function=function)
            if self.item_var_spelled:
                par["item_var_name"] = self.fan_out
            if self.fan_undo:
                par["task_compensate_function"] = "fuzzapp.parallel.undo"
        else:
            tasks = []
            for t in self.tasks:
                task: dict[str, Any] = {"name": t.name, "function": function}
                if t.policy is not None:
                    task["retry_policy"] = {"max_attempts": t.policy, "initial_delay": 0}
                if t.undo is not None:
                    task["compensate_function"] = "fuzzapp.parallel.undo"
                tasks.append(task)
            par["tasks"] = tasks
        steps.append(par)
        if self.after is not None:
            steps.append(_standard(self.after))
        return {
            "workflow_type": "Par",
            "workflow_version": "1",
            "initial_state_model": "fuzzapp.parallel.ParState",
            "saga_mode": self.saga == "yaml",
            "steps": steps,
        }

    def plan_json(self) -> str:
        steps = {
            s.name: {"fails": s.fails, "mark": s.mark, "undo_fails": s.undo or 0}
            for s in (self.before, self.after)
            if s is not None
        }
        return json.dumps(
            {
                "fan_out": self.fan_out,
                "tasks": {
                    t.name: {"fails": t.fails, "result": t.result, "sleep": t.sleep}
                    for t in self.tasks
                },
                "undo": {t.name: {"fails": t.undo or 0} for t in self.tasks},
                "steps": steps,
            }
        )

    def initial_data(self) -> dict[str, Any]:
        return {"plan": self.plan_json(), "items": list(self.items)}


def _standard(s: StepPlan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": s.name,
        "function": "fuzzapp.parallel.step",
        "automate_next": True,
        "retry_policy": {"max_attempts": s.max_attempts, "initial_delay": 0},
    }
    if s.undo is not None:
        out["compensate_function"] = "fuzzapp.parallel.unstep"
    if s.compensate_on_failure:
        out["compensate_on_failure"] = True
    return out


# --- generation --------------------------------------------------------------------------------

NAMES = ("flight", "hotel", "car", "7", "a/b", "x y", "é", "%2F")
KEYS = ("a", "b", "c")
SMALL = st.integers(0, 2)
NESTED = st.fixed_dictionaries(
    {}, optional={"x": SMALL, "y": st.fixed_dictionaries({}, optional={"z": SMALL, "w": SMALL})}
)
VALUES = st.one_of(SMALL, NESTED)
# one or two of three keys: tasks overlap often, on top-level keys and on nested ones
RESULTS = st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=2)


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws (the rare value is mid-range: hypothesis shrinks towards
    the start, so towards the common case)."""
    return draw(st.integers(1, n)) == n // 2 + 1


def _fails(draw: st.DrawFn) -> int:
    return draw(st.sampled_from((0, 0, 0, 1, 2, PERMANENT)))


def _undo(draw: st.DrawFn) -> int | None:
    return None if _one_in(draw, 4) else draw(st.sampled_from((0, 0, 0, 1, PERMANENT)))


def _spelled(draw: st.DrawFn, word: str) -> str:
    return draw(st.sampled_from((word, word.lower(), word.title())))


def _task(draw: st.DrawFn, name: str, static: bool) -> TaskPlan:
    return TaskPlan(
        name=name,
        fails=_fails(draw),
        result={} if _one_in(draw, 6) else draw(RESULTS),
        sleep=draw(st.sampled_from((0.0, 0.0, 0.001))),
        policy=draw(st.one_of(st.none(), st.integers(1, 3))) if static else None,
        undo=_undo(draw),
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    fan_out = draw(st.booleans())
    items: tuple[int, ...] = ()
    if fan_out:
        items = tuple(draw(st.lists(st.integers(0, 3), max_size=5)))
        names = [str(i) for i in range(len(items))]
    else:
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    spelled = fan_out and draw(st.booleans())
    before = None
    if draw(st.booleans()):
        before = StepPlan(
            name="Before",
            fails=PERMANENT if _one_in(draw, 10) else 0,
            undo=_undo(draw),
            compensate_on_failure=draw(st.booleans()),
            mark=1,
        )
    after = None
    if draw(st.booleans()):
        after = StepPlan(
            name="After",
            fails=draw(st.sampled_from((0, 1, PERMANENT, PERMANENT))),
            max_attempts=draw(st.integers(1, 2)),
            undo=_undo(draw),
            compensate_on_failure=draw(st.booleans()),
            mark=2,
        )
    return Plan(
        tasks=tuple(_task(draw, n, static=not fan_out) for n in names),
        fan_out=(draw(st.sampled_from(("it", "item"))) if spelled else "item") if fan_out else None,
        item_var_spelled=spelled,
        items=items,
        max_attempts=draw(st.integers(1, 3)),
        batch_size=draw(st.integers(0, 3)),
        strategy=_spelled(draw, draw(st.sampled_from(("SHALLOW", "DEEP")))),
        conflict=_spelled(
            draw,
            draw(st.sampled_from(("PREFER_NEW", "PREFER_EXISTING", "PREFER_OLD", "RAISE_ERROR"))),
        ),
        partial=draw(st.booleans()),
        is_async=draw(st.booleans()),
        fan_undo=fan_out and not _one_in(draw, 4),
        before=before,
        after=after,
        saga=draw(st.sampled_from(("off", "yaml", "call"))),
        operator_retry=draw(st.booleans()),
        executor=draw(st.sampled_from(EXECUTORS)),
    )


# --- the reference model -----------------------------------------------------------------------


def task_scope(name: str) -> str:
    """A task's scope path: ``/`` and ``%`` in a segment are escaped (``%2F``, ``%25``), as the
    ScopePath docs say."""
    return PREFIX + name.replace("%", "%25").replace("/", "%2F")


# (scope, attempt, status, item, result): result only for COMPLETED records
Rec = tuple[str, int, str, Any, Any]


@dataclass(kw_only=True)
class Expected:
    status: str
    state: dict[str, Any]
    history: list[Rec]
    journal: list[tuple[str, str, int]]  # (scope, status, attempts), unwind order
    undone: dict[str, str]  # scope -> what its compensation appends to state.undone
    error_step: str | None = None
    error_type: str | None = None
    error_names: tuple[str, ...] = ()  # the message must quote each of these
    error_one_of: tuple[str, ...] = ()  # ... and at least one of these
    cursor: int = 0
    events: set[str] = field(default_factory=set)


@dataclass(kw_only=True)
class _Done:
    """A completed (or failed for good) attempt the unwind may visit."""

    scope: str
    name: str
    max_attempts: int
    undo: int | None  # failing attempts of its compensation; None: no compensation
    compensate_on_failure: bool = False
    result: dict[str, Any] | None = None
    note: str = ""  # what its compensation appends to state.undone


class _StepFailed(Exception):
    def __init__(self, step: str, kind: str, failing: list[_Done], **error: Any) -> None:
        super().__init__(step)
        self.step, self.kind, self.failing, self.error = step, kind, failing, error


class _Conflict(Exception):
    def __init__(self, path: tuple[str, ...], earlier: str, later: str) -> None:
        super().__init__(path)
        self.path, self.earlier, self.later = path, earlier, later


def combine(
    results: list[tuple[str, dict[str, Any]]], deep: bool, behaviour: str
) -> dict[str, Any]:
    """The documented merge of the tasks' results, in task order. ``owner`` knows, for every
    key path of the merged dict, the task whose value it holds."""
    merged: dict[str, Any] = {}
    owner: dict[tuple[str, ...], str] = {}

    def own(value: Any, path: tuple[str, ...], name: str) -> None:
        owner[path] = name
        if isinstance(value, dict):
            for k, v in value.items():
                own(v, (*path, k), name)

    def into(target: dict[str, Any], source: dict[str, Any], name: str, path: tuple[str, ...]):
        for key, value in source.items():
            where = (*path, key)
            if key not in target:
                target[key] = copy.deepcopy(value)
                own(value, where, name)
                continue
            old = target[key]
            if deep and isinstance(old, dict) and isinstance(value, dict):
                into(old, value, name, where)
                continue
            if old == value:
                continue
            if behaviour == "RAISE_ERROR":
                raise _Conflict(where, owner[where], name)
            if behaviour == "PREFER_NEW":
                target[key] = copy.deepcopy(value)
                own(value, where, name)

    for name, result in results:
        into(merged, result, name, ())
    return merged


class _Model:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.state: dict[str, Any] = app.ParState().model_dump()
        self.state.update(plan.initial_data())
        self.history: list[Rec] = []
        self.done: list[_Done] = []  # completed attempts, in completion order
        self.task_results: dict[str, dict[str, Any]] = {}  # completed tasks: their result
        self.undone: dict[str, str] = {}
        self.cursor = 0
        self.events: set[str] = set()
        self.steps = [s for s in (plan.before, plan.after) if s is not None]

    # --- the forward run ------------------------------------------------------------------

    def run(self) -> None:
        """Run from the cursor to the end; raises ``_StepFailed``."""
        order = [("Before", self.plan.before), ("Par", None), ("After", self.plan.after)]
        order = [(n, s) for n, s in order if n == "Par" or s is not None]
        while self.cursor < len(order):
            _, step = order[self.cursor]
            if step is None:
                self.parallel()
            else:
                self.standard(step)
            self.cursor += 1

    def standard(self, s: StepPlan) -> None:
        fails = 0 if self.state["fixed"] else s.fails
        done = _Done(
            scope=s.name,
            name=s.name,
            max_attempts=s.max_attempts,
            undo=s.undo,
            compensate_on_failure=s.compensate_on_failure,
            note=s.name,
        )
        for attempt in range(1, min(fails, s.max_attempts) + 1):
            self.history.append((s.name, attempt, "FAILED", None, None))
        if fails >= s.max_attempts:
            self.events.add(f"{s.name} failed")
            raise _StepFailed(s.name, "Transient", [done])
        self.state["log"].append(s.name)
        self.state["mark"] = s.mark
        done.result = {"mark": s.mark}
        self.history.append((s.name, fails + 1, "COMPLETED", None, done.result))
        self.done.append(done)

    def parallel(self) -> None:
        plan = self.plan
        failed: list[_Done] = []
        items = list(self.state["items"])
        for index, task in enumerate(plan.tasks):
            scope = task_scope(task.name)
            if task.name in self.task_results:
                continue  # completed in an earlier run of the step: kept
            item = items[index] if plan.fan_out is not None else None
            attempts = plan.task_attempts(task)
            fails = 0 if self.state["fixed"] else task.fails
            done = _Done(
                scope=scope,
                name=task.name,
                max_attempts=attempts,
                undo=(task.undo or 0) if plan.has_undo(task) else None,
            )
            for attempt in range(1, min(fails, attempts) + 1):
                self.history.append((scope, attempt, "FAILED", item, None))
            if fails >= attempts:
                failed.append(done)
                continue
            if fails:
                self.events.add("task retried, then ran")
            result = copy.deepcopy(task.result)
            self.task_results[task.name] = result
            self.history.append((scope, fails + 1, "COMPLETED", item, result))
            done.result = result
            index_seen = index if plan.fan_out is not None else None
            done.note = f"{scope}|{index_seen}|{item}|{','.join(sorted(result))}"
            self.done.append(done)
        names = [t.name for t in plan.tasks]
        if failed and not plan.partial:
            self.events.add("tasks failed" if len(failed) > 1 else "a task failed")
            self.history.append(("Par", 1, "FAILED", None, None))
            failed_names = tuple(d.name for d in failed)
            raise _StepFailed(
                "Par",
                "StepResultError",
                failed[::-1],
                names=("Par",),
                one_of=tuple(f"task '{n}'" for n in failed_names),
            )
        results = [(n, self.task_results[n]) for n in names if n in self.task_results]
        try:
            merged = combine(results, plan.deep, plan.behaviour)
        except _Conflict as conflict:
            self.events.add("merge conflict raised")
            self.history.append(("Par", 1, "FAILED", None, None))
            path = ".".join(conflict.path)
            raise _StepFailed(
                "Par",
                "StepResultError",
                failed[::-1],  # with allow_partial_success: its failed tasks fail with it
                names=(f"'{conflict.earlier}'", f"'{conflict.later}'", f"'{path}'"),
            ) from None
        if plan.deep and any(isinstance(v, dict) for v in merged.values()):
            self.events.add("DEEP merge of nested dicts")
        if len(results) > 1 and len({k for _, r in results for k in r}) < sum(
            len(r) for _, r in results
        ):
            self.events.add(f"overlapping keys, {plan.behaviour}")
        self.state.update(copy.deepcopy(merged))
        record: dict[str, Any] | None = copy.deepcopy(merged) or None
        if failed:
            self.events.add("partial success")
            failed_names = [d.name for d in failed]
            record = {**(record or {}), "failed_tasks": failed_names}
        if plan.fan_out is not None and not plan.tasks:
            self.events.add("fan-out over an empty list")
        self.history.append(("Par", 1, "COMPLETED", None, record))

    # --- the unwind -----------------------------------------------------------------------

    def unwind(self, failing: list[_Done]) -> list[tuple[str, str, int]]:
        journal = []
        todo = [(d, True) for d in failing] + [(d, False) for d in reversed(self.done)]
        for done, is_failing in todo:
            if done.undo is None or (is_failing and not done.compensate_on_failure):
                journal.append((done.scope, "SKIPPED", 0))
                continue
            if done.undo >= done.max_attempts:
                self.events.add("compensation failed")
                journal.append((done.scope, "FAILED", done.max_attempts))
                continue
            journal.append((done.scope, "COMPLETED", done.undo + 1))
            self.undone[done.scope] = done.note
            self.state["undone"].append(done.note)
        return journal


def expect(plan: Plan) -> Expected:
    """The reference model: how ``plan``'s workflow must end."""
    model = _Model(plan)
    failure: _StepFailed | None = None
    try:
        model.run()
    except _StepFailed as failed:
        failure = failed
    if failure is not None and plan.saga == "off" and plan.operator_retry:
        model.events.add("operator retry()")
        model.state["fixed"] = True
        failure = None
        try:
            model.run()
        except _StepFailed as failed:
            failure = failed
    journal: list[tuple[str, str, int]] = []
    fields: dict[str, Any] = {}
    if failure is None:
        status = "COMPLETED"
    elif plan.saga == "off":
        status = "FAILED"
    else:
        journal = model.unwind(failure.failing)
        failed = any(s == "FAILED" for _, s, _ in journal)
        status = "COMPENSATION_FAILED" if failed else "FAILED_ROLLED_BACK"
    if failure is not None:
        fields = {
            "error_step": failure.step,
            "error_type": failure.kind,
            "error_names": failure.error.get("names", ()),
            "error_one_of": failure.error.get("one_of", ()),
        }
    model.events.add(status)
    return Expected(
        status=status,
        state=model.state,
        history=model.history,
        journal=journal,
        undone=model.undone,
        cursor=model.cursor,
        events=model.events,
        **fields,
    )


# --- checking ----------------------------------------------------------------------------------


def _runs_sorted(rows: list[Any], scope_of: Any) -> list[Any]:
    """``rows`` with each maximal run of task rows sorted (the thread pool's order)."""
    out: list[Any] = []
    run: list[Any] = []
    for row in [*rows, None]:
        if row is not None and scope_of(row).startswith(PREFIX):
            run.append(row)
            continue
        out.extend(sorted(run, key=lambda r: json.dumps(r, sort_keys=True, default=str)))
        run = []
        if row is not None:
            out.append(row)
    return out


def _record_result(result: Any, threads: bool) -> Any:
    if threads and isinstance(result, dict) and "failed_tasks" in result:
        return {**result, "failed_tasks": sorted(result["failed_tasks"])}
    return result


def check(wf: Workflow, plan: Plan, want: Expected, *, where: str) -> list[str]:
    """The differences between ``wf`` and the model (empty: it behaved)."""
    problems = _records(wf, want, threads=plan.executor != "sync")
    problems += _orders(wf, want)
    got_state = wf.state.model_dump()
    want_state = app.ParState.model_validate(want.state).model_dump()
    for name in want_state:
        if name != "undone" and got_state[name] != want_state[name]:  # undone: in _orders
            problems.append(f"state.{name} {got_state[name]!r}, expected {want_state[name]!r}")
    if wf.status.value != want.status:
        problems.append(f"status {wf.status.value}, expected {want.status}")
    if wf.current_step != want.cursor:
        problems.append(f"cursor {wf.current_step}, expected {want.cursor}")
    problems += _error(wf, want)
    return [f"{where}: {p}" for p in problems]


def _records(wf: Workflow, want: Expected, *, threads: bool) -> list[str]:
    """The step history and the journal; each run of task rows as a set on the thread pool."""
    history: list[Rec] = [
        (
            r.scope,
            r.attempt,
            r.status.value,
            r.item,
            _record_result(r.result, threads) if r.status.value == "COMPLETED" else None,
        )
        for r in wf.history
    ]
    want_history = [
        (s, a, st_, i, _record_result(res, threads)) for s, a, st_, i, res in want.history
    ]
    journal = [(e.scope, e.status.value, e.attempts) for e in wf.journal]
    want_journal = list(want.journal)
    if threads:
        history, want_history = (_runs_sorted(h, lambda r: r[0]) for h in (history, want_history))
        journal, want_journal = (_runs_sorted(j, lambda e: e[0]) for j in (journal, want_journal))
    problems = []
    if history != want_history:
        problems.append(f"history {history!r}, expected {want_history!r}")
    if journal != want_journal:
        problems.append(f"journal {journal!r}, expected {want_journal!r}")
    return problems


def _orders(wf: Workflow, want: Expected) -> list[str]:
    """The orders the docs define, checked on the workflow itself: each task's attempts in
    order (per run of the step: ``retry()`` counts from 1 again), completed attempts undone
    newest first, and ``state.undone`` in the journal's order."""
    problems = []
    attempts: dict[str, list[int]] = {}
    for r in wf.history:
        if not r.scope.startswith(PREFIX):
            attempts.clear()
            continue
        seen = attempts.setdefault(r.scope, [])
        seen.append(r.attempt)
        if seen != list(range(1, len(seen) + 1)):
            problems.append(f"attempts of {r.scope} out of order: {seen}")
    completed = {r.seq for r in wf.history if r.status.value == "COMPLETED"}
    undone_seqs = [e.forward_seq for e in wf.journal if e.forward_seq in completed]
    if undone_seqs != sorted(undone_seqs, reverse=True):
        problems.append(f"completed attempts not undone newest first: {undone_seqs}")
    undone = [want.undone.get(e.scope, "?") for e in wf.journal if e.status.value == "COMPLETED"]
    if wf.state.undone != undone:
        problems.append(f"state.undone {wf.state.undone!r}, expected {undone!r}")
    return problems


def _error(wf: Workflow, want: Expected) -> list[str]:
    error = wf.error
    got = (error.step, error.type) if error else (None, None)
    if got != (want.error_step, want.error_type):
        return [f"error {error!r}, expected {want.error_step}/{want.error_type}"]
    if error is None:
        return []
    missing = [n for n in want.error_names if n not in error.message]
    if missing or (want.error_one_of and not any(n in error.message for n in want.error_one_of)):
        return [
            f"error message {error.message!r} should name {want.error_names} "
            f"and one of {want.error_one_of}"
        ]
    return []


def _concurrency(plan: Plan) -> list[str]:
    """The tasks never ran more at once than ``batch_size`` and the executor allow."""
    most = app.CONCURRENCY["max"]
    if plan.executor == "sync":
        bound = 1
    else:
        bound = plan.batch_size or len(plan.tasks) or 1
        if not plan.is_async:
            bound = min(bound, int(plan.executor.split(":")[1]))
    if most > bound:
        return [f"{most} tasks ran at once; at most {bound} may"]
    return []


# --- running -----------------------------------------------------------------------------------


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def _store(kind: str, directory: Path) -> PersistenceProvider:
    if kind == "memory":
        return InMemoryPersistenceProvider()
    return SQLitePersistenceProvider(f"sqlite:///{directory / 'parallel.db'}")


async def run_plan(store: PersistenceProvider, executor: Any, plan: Plan) -> list[str]:
    app.CONCURRENCY.update(now=0, max=0)
    builder = WorkflowBuilder(
        workflow_registry={"Par": plan.definition()},
        persistence_provider=store,
        execution_provider=executor,
    )
    wf = await builder.create_workflow("Par", plan.initial_data())
    if plan.saga == "call":
        wf.enable_saga_mode()
    await wf.run()
    if wf.status == "FAILED" and plan.operator_retry:
        wf.state.fixed = True  # the operator fixed the cause; the retry keeps the change
        await wf.retry()
    want = expect(plan)
    problems = check(wf, plan, want, where="live") + _concurrency(plan)
    loaded = await builder.load_workflow(wf.id)
    return problems + check(loaded, plan, want, where="loaded")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_random_parallel_steps_end_as_the_reference_model_says(
    kind: str, tmp_path: Path, loop: asyncio.Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(kind, tmp_path)
    executors: dict[str, Any] = {"sync": SyncExecutor()}
    for name in EXECUTORS[1:]:
        executors[name] = ThreadPoolExecutor(max_workers=int(name.split(":")[1]))
    cases = Counter[str]()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(plan=plans())
    def one(plan: Plan) -> None:
        want = expect(plan)
        cases["cases"] += 1
        cases[plan.executor] += 1
        cases[f"saga {plan.saga}"] += 1
        cases.update(want.events)
        problems = loop.run(run_plan(store, executors[plan.executor], plan))
        cases[
            f"tasks at once: {min(app.CONCURRENCY['max'], 3)}{'+' * (app.CONCURRENCY['max'] >= 3)}"
        ] += 1
        assert not problems, "\n".join([repr(plan), *problems])

    try:
        one()
    finally:
        for executor in executors.values():
            if isinstance(executor, ThreadPoolExecutor):
                loop.run(executor.close())
        loop.run(store.close())
        with capsys.disabled():
            tally = ", ".join(f"{k}: {v}" for k, v in sorted(cases.items()))
            print(f"\n[fuzz parallel {kind}] {tally} in {time.monotonic() - started:.1f}s")
