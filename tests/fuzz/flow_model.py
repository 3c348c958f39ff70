"""The reference model of DECISION and LOOP (with STANDARD steps and sagas), and the check.

:func:`expect` runs a :class:`flow_plan.FlowPlan` in plain Python, from the plan alone, and says
how its workflow must end; :func:`check` compares a workflow (live, or loaded from a store) with
that. Nothing of the engine's runtime is used to compute an expectation.

The semantics modelled (SPEC.md §3-4, docs/saga.md, docs/steps/decision.md, docs/steps/loop.md,
and the unit tests of both step types):

- a step that completes merges its result into the state (after its in-place changes); a failed
  attempt leaves no trace; a retried one is recorded ``FAILED`` with its number;
- DECISION: its function (if any) runs first; a ``WorkflowJumpDirective`` it raises decides;
  else the first route whose condition holds over the merged state is taken, else ``default``;
  none: the step fails (``StepResultError``, recorded with its function's attempt) and its
  function's changes are dropped; so does a condition that can not be evaluated (``and``/``or``
  evaluate only as far as needed), and a jump (by any step) to a step not in its list. A route
  to a later step records the steps in between as ``SKIPPED`` (attempt 0, no item), in the same
  list (a body's steps in the iteration's scope); a jump to an earlier step runs it again;
- LOOP: ``ITERATE`` runs the body once per item of the list, which is read again at every
  iteration and before every body step (a body step sees the item at its index then, ``None``
  if the list got shorter mid-iteration); a list longer than ``max_iterations`` at the start of
  an iteration fails the loop (``StepResultError``, step: the loop). ``WHILE`` checks its
  condition before each iteration, and fails the loop when it still holds after
  ``max_iterations`` iterations; a condition that can not be evaluated, or an ``iterate_over``
  that is not a list, fails the loop. A jump inside the body, even back to its first step,
  stays in the iteration (the checks above are not made again). Each body step
  is recorded in ``<loop>/iter:<i>/<step>`` with its item; the loop itself is recorded after
  its body (``COMPLETED`` with ``loop_results``, one merged dict of the body's results per
  iteration, and ``loop_iterations``, merged into the state; or ``FAILED``, attempt 1, after
  the failing body step, whose error it carries);
- saga: the failing step first (compensated only with ``compensate_on_failure``), then every
  completed attempt of a step that runs a function or is a DECISION, newest first, each with
  the loop item and innermost iteration index it ran with; ``SKIPPED`` without a compensation;
  a failed compensation leaves no trace; ``FAILED_ROLLED_BACK`` or ``COMPENSATION_FAILED``.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

from flow_plan import Cond, Decide, FlowPlan, Fn, Loop, Step, Task
from fuzzapp.flow import FlowState, keywords

from ruvon.workflow import Workflow

BUDGET = 5000  # steps the model runs before it calls a plan endless (a generator bug)
_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
}


class _Unevaluable(Exception):
    """A condition names something the state does not have."""


def holds(cond: Cond, state: dict[str, Any]) -> bool:
    """Python's ``and``/``or``: terms are evaluated left to right, only as far as needed."""
    inner = cond.join == "and" or not cond.terms
    for name, op, value, _ in cond.terms:
        if name not in state:
            raise _Unevaluable(name)
        if _OPS[op](state[name], value) != inner:
            inner = not inner
            break
    return inner and (cond.guard is None or state["n"] < cond.guard)


@dataclass(kw_only=True)
class Expected:
    status: str
    state: dict[str, Any]
    history: list[tuple[str, str, int, str, Any]]  # (scope, step, attempt, status, item)
    journal: list[tuple[str, str, str, int]]  # (scope, step, status, attempts), unwind order
    error_step: str | None = None
    error_type: str | None = None
    cursor: int = 0  # the top-level step the workflow ended on
    events: set[str] = field(default_factory=set)  # what the run went through (a tally)


@dataclass(kw_only=True)
class _Record:
    scope: str
    step: Step
    attempt: int
    status: str
    item: Any = None
    index: int | None = None  # the innermost loop iteration it ran in
    result: dict[str, Any] | None = None


class _Failed(Exception):
    """A step failed for good: ``step`` names it in ``workflow.error``; ``record`` is the
    failed attempt the unwind may compensate (``None``: the loop's own checks failed)."""

    def __init__(self, step: str, kind: str | None, record: _Record | None) -> None:
        super().__init__(step)
        self.step, self.kind, self.record = step, kind, record


@dataclass(frozen=True, kw_only=True)
class _Where:
    """What a step run gets from the loop it runs in: item, index, the item as a keyword."""

    item: Any = None
    index: int | None = None
    keywords: dict[str, Any] = field(default_factory=dict)
    siblings: frozenset[str] = frozenset()  # the steps of its list: where it may jump


@dataclass(kw_only=True)
class _Place:
    """A loop iteration a body runs in: which loop, which index; ``results`` merges the
    results of the body's own steps."""

    loop: Loop
    index: int
    results: dict[str, Any] = field(default_factory=dict)


class _Run:
    def __init__(self, plan: FlowPlan) -> None:
        self.state: dict[str, Any] = FlowState().model_dump()
        self.state.update(copy.deepcopy(plan.initial))
        self.state["plan"] = plan.plan_json()
        self.history: list[_Record] = []
        self.cursor = 0
        self.budget = BUDGET
        self.events: set[str] = set()  # what the run went through, for the coverage tally

    # --- where a step runs ----------------------------------------------------------------

    def where(self, place: _Place | None, siblings: frozenset[str]) -> _Where:
        """The item and index a step starting now runs with (the list is read again)."""
        if place is None:
            return _Where(siblings=siblings)
        if place.loop.mode != "ITERATE":
            return _Where(index=place.index, siblings=siblings)
        items = self.state[place.loop.over]
        item = items[place.index] if place.index < len(items) else None
        keywords = {place.loop.item_var: item}
        return _Where(item=item, index=place.index, keywords=keywords, siblings=siblings)

    def record(self, step: Step, scope: str, at: _Where, **fields: Any) -> _Record:
        rec = _Record(scope=scope, step=step, item=at.item, index=at.index, **fields)
        self.history.append(rec)
        return rec

    # --- lists of steps --------------------------------------------------------------------

    def sequence(self, steps: tuple[Step, ...], prefix: str, place: _Place | None) -> None:
        position = {s.name: k for k, s in enumerate(steps)}
        k = 0
        while k < len(steps):
            self.budget -= 1
            assert self.budget > 0, "the model ran too long: the generator made an endless plan"
            if place is None:
                self.cursor = k
            step = steps[k]
            at = self.where(place, frozenset(position))
            target, result = self.step(step, f"{prefix}{step.name}", at)
            if place is not None:
                place.results.update(result or {})
            nxt = k + 1 if target is None else position[target]
            if nxt <= k:
                self.events.add(f"jump back{' in a body' if place else ''}")
                if nxt == 0 and place is not None:
                    self.events.add("jump to a body's first step")
            elif nxt > k + 1:
                self.events.add(f"steps skipped{' in a body' if place else ''}")
            for skipped in steps[k + 1 : nxt]:
                self.history.append(
                    _Record(
                        scope=f"{prefix}{skipped.name}", step=skipped, attempt=0, status="SKIPPED"
                    )
                )
            k = nxt
        if place is None:
            self.cursor = len(steps)

    def step(self, step: Step, scope: str, at: _Where) -> tuple[str | None, dict[str, Any] | None]:
        """Run one step; ``(jump target or None, its recorded result)``."""
        if isinstance(step, Loop):
            return None, self.loop(step, scope, at)
        if isinstance(step, Task):
            attempt, state, result, jump = self.call(step, step.fn, scope, at)
            self.state = state
            self.record(step, scope, at, attempt=attempt, status="COMPLETED", result=result)
            return jump, result
        assert isinstance(step, Decide)
        return self.decide(step, scope, at)

    def call(
        self, step: Step, fn: Fn, scope: str, at: _Where
    ) -> tuple[int, dict[str, Any], dict[str, Any], str | None]:
        """Call a function with its retries: ``(attempt, new state, result, jump target)``;
        the new state is not applied (a DECISION may still fail)."""
        visit = sum(1 for entry in self.state["log"] if entry.startswith(f"{step.name}@"))
        fails = fn.fails if visit == fn.fail_visit else 0
        attempt = 1
        while attempt <= fails:
            rec = self.record(step, scope, at, attempt=attempt, status="FAILED")
            if attempt >= step.max_attempts:
                self.events.add(f"function failed{' in a body' if at.index is not None else ''}")
                raise _Failed(step.name, "Transient", rec)
            attempt += 1
        if attempt > 1:
            self.events.add("function retried, then ran")
        if at.index is not None and at.keywords and at.item is None:
            self.events.add("item gone mid-iteration")
        state = copy.deepcopy(self.state)
        state["log"].append(f"{step.name}@{at.index}:{at.item}|{keywords(at.keywords)}")
        result = dict(fn.sets)
        if fn.bump:
            result["n"] = self.state["n"] + 1
        jump = fn.jump[0] if fn.jump is not None and self.state["n"] < fn.jump[1] else None
        if jump is not None and jump not in at.siblings:
            self.events.add("jump to an unknown step")
            rec = self.record(step, scope, at, attempt=attempt, status="FAILED")
            raise _Failed(step.name, "StepResultError", rec)
        state.update(copy.deepcopy(result))
        return attempt, state, result, jump

    def decide(
        self, step: Decide, scope: str, at: _Where
    ) -> tuple[str | None, dict[str, Any] | None]:
        attempt, state, result, jump = 1, self.state, None, None
        if step.fn is not None:
            attempt, state, result, jump = self.call(step, step.fn, scope, at)
        try:
            if jump is None:
                jump = next((r.target for r in step.routes if holds(r.cond, state)), step.default)
        except _Unevaluable:
            self.events.add("condition failed to evaluate")
            rec = self.record(step, scope, at, attempt=attempt, status="FAILED")
            raise _Failed(step.name, None, rec) from None
        if jump is None and (step.routes or step.default):
            self.events.add("no route matched")
            rec = self.record(step, scope, at, attempt=attempt, status="FAILED")
            raise _Failed(step.name, "StepResultError", rec)
        self.state = state
        self.record(step, scope, at, attempt=attempt, status="COMPLETED", result=result)
        return jump, result

    def loop(self, step: Loop, scope: str, at: _Where) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        try:
            while self.iterates(step, len(results)):
                inner = _Place(loop=step, index=len(results))
                self.sequence(step.body, f"{scope}/iter:{inner.index}/", inner)
                results.append(inner.results)
        except _Failed:
            self.record(step, scope, at, attempt=1, status="FAILED")
            raise
        self.events.add(f"{step.mode} loop of {len(results) if len(results) < 3 else '3+'}")
        value = {"loop_results": copy.deepcopy(results), "loop_iterations": len(results)}
        self.state.update(copy.deepcopy(value))
        self.record(step, scope, at, attempt=1, status="COMPLETED", result=value)
        return value

    def iterates(self, step: Loop, i: int) -> bool:
        """Whether iteration ``i`` runs; raises when ``max_iterations`` forbids it."""
        if step.mode == "ITERATE":
            items = self.state[step.over]
            if not isinstance(items, list):
                self.events.add("ITERATE over something not a list")
                raise _Failed(step.name, "StepResultError", None)
            if len(items) > step.max_iterations:
                self.events.add(f"ITERATE over too many items{' after a change' * (i > 0)}")
                raise _Failed(step.name, "StepResultError", None)
            return i < len(items)
        assert step.cond is not None
        try:
            if not holds(step.cond, self.state):
                return False
        except _Unevaluable:
            self.events.add("WHILE condition failed to evaluate")
            raise _Failed(step.name, None, None) from None
        if i >= step.max_iterations:
            self.events.add("WHILE still true at max_iterations")
            raise _Failed(step.name, "StepResultError", None)
        return True

    # --- the unwind ------------------------------------------------------------------------

    def unwind(self, failing: _Record | None) -> list[tuple[str, str, str, int]]:
        journal = []
        done = [r for r in self.history if r.status == "COMPLETED" and not isinstance(r.step, Loop)]
        todo = ([failing] if failing is not None else []) + list(reversed(done))
        for rec in todo:
            step, undo = rec.step, rec.step.undo
            if undo is None or (rec is failing and not step.compensate_on_failure):
                journal.append((rec.scope, step.name, "SKIPPED", 0))
                continue
            if undo.fails >= step.max_attempts:
                self.events.add("compensation failed")
                journal.append((rec.scope, step.name, "FAILED", step.max_attempts))
                continue
            journal.append((rec.scope, step.name, "COMPLETED", undo.fails + 1))
            if rec.index is not None:
                self.events.add("body step compensated")
            if undo.mutate:
                keys = ",".join(sorted(rec.result or {}))
                self.state["undone"].append(f"{step.name}@{rec.index}:{rec.item}<{keys}>")
            self.state.update(copy.deepcopy(undo.sets))
        return journal


def expect(plan: FlowPlan) -> Expected:
    """The reference model: the outcome the semantics above give ``plan``."""
    run = _Run(plan)
    try:
        run.sequence(plan.steps, "", None)
    except _Failed as failed:
        failure = failed
    else:
        return Expected(
            status="COMPLETED",
            state=run.state,
            history=_history(run),
            journal=[],
            cursor=run.cursor,
            events=run.events,
        )
    fields: dict[str, Any] = {
        "error_step": failure.step,
        "error_type": failure.kind,
        "cursor": run.cursor,
        "history": _history(run),
        "events": run.events,
    }
    if plan.saga == "off":
        return Expected(status="FAILED", state=run.state, journal=[], **fields)
    journal = run.unwind(failure.record)
    failed = any(status == "FAILED" for _, _, status, _ in journal)
    status = "COMPENSATION_FAILED" if failed else "FAILED_ROLLED_BACK"
    return Expected(status=status, state=run.state, journal=journal, **fields)


def _history(run: _Run) -> list[tuple[str, str, int, str, Any]]:
    return [(r.scope, r.step.name, r.attempt, r.status, r.item) for r in run.history]


# --- checking --------------------------------------------------------------------------------


def observed(wf: Workflow) -> dict[str, Any]:
    """What a workflow says about its end, in the model's terms."""
    return {
        "status": wf.status.value,
        "state": wf.state.model_dump(),
        "history": [(r.scope, r.step_name, r.attempt, r.status.value, r.item) for r in wf.history],
        "journal": [(e.scope, e.step_name, e.status.value, e.attempts) for e in wf.journal],
        "error_step": wf.error.step if wf.error else None,
        "error_type": wf.error.type if wf.error else None,
        "cursor": wf.current_step,
    }


def check(wf: Workflow, want: Expected, *, where: str) -> list[str]:
    """The differences between ``wf`` and the model (empty: it behaved)."""
    got = observed(wf)
    problems = []
    expected_state = FlowState.model_validate(want.state).model_dump()
    if got["state"] != expected_state:
        diff = {
            k: (got["state"].get(k), v)
            for k, v in expected_state.items()
            if got["state"].get(k) != v and k != "plan"
        }
        problems.append(f"{where}: state differs (field: (got, expected)): {diff}")
    for key in ("status", "history", "journal", "error_step", "error_type", "cursor"):
        if key == "error_type" and want.error_step is not None and want.error_type is None:
            continue  # any type will do
        if got[key] != getattr(want, key):
            problems.append(f"{where}: {key} {got[key]!r}, expected {getattr(want, key)!r}")
    return problems
