"""Generated workflows, the reference model of their semantics, and the check against the engine.

A :class:`Plan` is one random workflow: its steps (how often each raises, with which exception,
under which retry policy; what it returns, whether it changes the state in place; its
compensation, which may fail too), saga mode, and the initial data. :func:`expect` is the
reference model: plain Python that says, from the plan alone, how the workflow must end
(status, state, compensation journal, step history, error). :func:`check` compares a workflow
(live or loaded from a store) with it.

The semantics modelled (SPEC.md §3-4, docs/saga.md, docs/defining-workflows.md):

- a step's result dict is merged into the state (keys replace fields), after the in-place
  changes of the attempt that produced it;
- a failed attempt leaves no trace in the state (its in-place changes are dropped), whether it
  is retried or is the last one; a result or an in-place change that does not fit the state
  model, or a result holding a string with a NUL character (no store keeps one), fails the
  step at once, without retries;
- a step that pauses (``WorkflowPauseDirective``) has completed; the workflow is resumed;
- without saga mode the first failing step ends the workflow ``FAILED``;
- in saga mode the failing step (only with ``compensate_on_failure``), then every completed
  step in reverse order are undone; a step without a compensation is ``SKIPPED``; each
  compensation runs under its step's retry policy, its result is merged and its in-place changes
  are kept, a failed one leaves no trace and the unwind goes on; the end is
  ``FAILED_ROLLED_BACK`` if every compensation succeeded, else ``COMPENSATION_FAILED``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fuzzapp.models import FuzzState, Inner
from hypothesis import strategies as st
from pydantic import TypeAdapter

from ruvon.builder import WorkflowBuilder
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow

PERMANENT = 9  # more failing attempts than any generated max_attempts: the step never succeeds
STATE_MODEL = "fuzzapp.models.FuzzState"
FORWARD = "fuzzapp.steps.forward"
COMPENSATE = "fuzzapp.steps.compensate"
DATA_FIELDS = ("count", "text", "items", "amount", "inner", "tags", "stamp", "trail", "undone")
_ADAPTERS = {name: TypeAdapter(info.annotation) for name, info in FuzzState.model_fields.items()}

# --- plans -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Comp:
    """A compensation: raises on its first ``fails`` attempts, then ends as ``ending`` says
    (``return``, ``bad``: a result that does not fit, ``pause``: a directive)."""

    fails: int = 0
    exc: str = "Transient"
    ending: str = "return"
    result: dict[str, Any] = field(default_factory=dict)
    inner_as_dict: bool = False
    json_values: bool = False  # the result's values in their JSON form (str, list, dict)
    mutate: bool = False
    dirty: bool = True  # its failing attempts change the state in place before raising


@dataclass(frozen=True, kw_only=True)
class Step:
    """A forward step: ``ending`` is ``return``, ``pause``, ``bad`` or ``corrupt``."""

    name: str
    fails: int = 0
    exc: str = "Transient"
    max_attempts: int = 1
    retry_on: tuple[str, ...] = ()
    ending: str = "return"
    result: dict[str, Any] = field(default_factory=dict)
    inner_as_dict: bool = False
    json_values: bool = False
    mutate: bool = False
    automate_next: bool = True
    comp: Comp | None = None
    compensate_on_failure: bool = False


@dataclass(frozen=True, kw_only=True)
class Plan:
    """One generated workflow. ``saga``: ``off``, ``yaml`` (``saga_mode: true``) or ``call``
    (``enable_saga_mode()`` before the first step)."""

    steps: tuple[Step, ...]
    saga: str = "off"
    initial: dict[str, Any] = field(default_factory=dict)

    def definition(self, workflow_type: str = "Fuzz") -> dict[str, Any]:
        """The workflow definition, as a registry dict entry."""
        return {
            "workflow_type": workflow_type,
            "workflow_version": "1",
            "initial_state_model": STATE_MODEL,
            "saga_mode": self.saga == "yaml",
            "steps": [_step_definition(s) for s in self.steps],
        }

    def initial_data(self) -> dict[str, Any]:
        return {**copy.deepcopy(self.initial), "plan": self.plan_json()}

    def initial_json(self) -> dict[str, Any]:
        """``initial_data()`` in JSON form, for a child process."""
        data = {k: _ADAPTERS[k].dump_python(v, mode="json") for k, v in self.initial.items()}
        return {**data, "plan": self.plan_json()}

    def plan_json(self) -> str:
        """What the step functions read from ``state.plan``."""
        steps = {}
        for s in self.steps:
            entry = _behaviour(s)
            entry["comp"] = _behaviour(s.comp) if s.comp is not None else None
            steps[s.name] = entry
        return json.dumps({"steps": steps}, sort_keys=True)


def _behaviour(part: Step | Comp) -> dict[str, Any]:
    result = {k: _ADAPTERS[k].dump_python(v, mode="json") for k, v in part.result.items()}
    return {
        "fails": part.fails,
        "exc": part.exc,
        "ending": part.ending,
        "result": result,
        "json_values": part.json_values,
        "inner_as_dict": part.inner_as_dict,
        "mutate": part.mutate,
        "dirty": part.dirty if isinstance(part, Comp) else True,
    }


def _step_definition(s: Step) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": s.name,
        "function": FORWARD,
        "automate_next": s.automate_next,
        "retry_policy": {
            "max_attempts": s.max_attempts,
            "initial_delay": 0,
            "retry_on": list(s.retry_on),
        },
    }
    if s.comp is not None:
        out["compensate_function"] = COMPENSATE
    if s.compensate_on_failure:
        out["compensate_on_failure"] = True
    return out


# --- the reference model ---------------------------------------------------------------------


@dataclass(kw_only=True)
class Expected:
    """How a plan's workflow must end. ``error_type`` ``None``: any type (only the step)."""

    status: str
    state: dict[str, Any]
    journal: list[tuple[str, str, int]]  # (step, status, attempts), in unwind order
    history: list[tuple[str, int, str]]  # (step, attempt, status), in order
    error_step: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Run:
    ok: bool
    attempts: int
    error: str | None  # exception class name; "" for "some error" (state did not fit)


def _has_nul(value: Any) -> bool:
    """Whether a value holds a string no store keeps: one with the NUL character (PostgreSQL's
    JSONB can not) or a lone surrogate (not UTF-8)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, Inner):
        return _has_nul(value.label)
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | set | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _attempts(part: Step | Comp, max_attempts: int, retry_on: tuple[str, ...]) -> _Run:
    """Which attempt ends the call, and how (``call_with_retries`` plus the merge)."""
    attempt = 1
    while attempt <= part.fails:
        retryable = not retry_on or part.exc == "Transient"
        if attempt >= max_attempts or not retryable:
            return _Run(ok=False, attempts=attempt, error=part.exc)
        attempt += 1
    if part.ending == "corrupt":
        return _Run(ok=False, attempts=attempt, error="")
    if part.ending == "pause" and isinstance(part, Comp):
        return _Run(ok=False, attempts=attempt, error="WorkflowPauseDirective")
    # a state holding a NUL character is refused on every store (PostgreSQL's JSONB can not
    # keep it): the result that brings one fails like a result that does not fit
    if part.ending == "bad" or _has_nul(part.result):
        return _Run(ok=False, attempts=attempt, error="StepResultError")
    return _Run(ok=True, attempts=attempt, error=None)


def _plain(value: Any) -> Any:
    """A result value as the model keeps it (a nested model becomes a dict)."""
    if isinstance(value, Inner):
        return value.model_dump()
    return copy.deepcopy(value)


def _merge(state: dict[str, Any], result: dict[str, Any]) -> None:
    for key, value in result.items():
        state[key] = _plain(value)


def expect(plan: Plan) -> Expected:
    """The reference model: the outcome the semantics above give ``plan``."""
    state = {k: _plain(v) for k, v in FuzzState().model_dump().items()}
    _merge(state, plan.initial)
    state["plan"] = plan.plan_json()
    history: list[tuple[str, int, str]] = []
    completed: list[Step] = []
    failing: tuple[Step, _Run] | None = None
    for s in plan.steps:
        run = _attempts(s, s.max_attempts, s.retry_on)
        history += [(s.name, a, "FAILED") for a in range(1, run.attempts)]
        history.append((s.name, run.attempts, "COMPLETED" if run.ok else "FAILED"))
        if not run.ok:
            failing = (s, run)
            break
        if s.mutate:
            state["trail"].append(s.name)
            state["inner"]["weight"] += 1
            state["tags"].add(s.name)
        _merge(state, s.result)
        completed.append(s)
    if failing is None:
        return Expected(status="COMPLETED", state=state, journal=[], history=history)
    step, run = failing
    error = {"error_step": step.name, "error_type": run.error or None}
    if plan.saga == "off":
        return Expected(status="FAILED", state=state, journal=[], history=history, **error)
    journal: list[tuple[str, str, int]] = []
    undo = [(step, {})] + [(s, s.result) for s in reversed(completed)]
    for s, forward_result in undo:
        if s.comp is None or (s is step and not s.compensate_on_failure):
            journal.append((s.name, "SKIPPED", 0))
            continue
        c = s.comp
        crun = _attempts(c, s.max_attempts, s.retry_on)
        journal.append((s.name, "COMPLETED" if crun.ok else "FAILED", crun.attempts))
        if crun.ok:
            if c.mutate:
                state["undone"].append(f"{s.name}<{','.join(sorted(forward_result))}>")
            _merge(state, c.result)
    failed = any(status == "FAILED" for _, status, _ in journal)
    status = "COMPENSATION_FAILED" if failed else "FAILED_ROLLED_BACK"
    return Expected(status=status, state=state, journal=journal, history=history, **error)


# --- running and checking --------------------------------------------------------------------


async def drive(wf: Workflow, plan: Plan) -> None:
    """Run the workflow the way an application does: ``next_step()`` while it is ``ACTIVE``,
    ``resume()`` when a step paused it."""
    if plan.saga == "call" and not wf.saga_mode:
        wf.enable_saga_mode()
    while wf.status in ("ACTIVE", "PAUSED"):
        if wf.status == "PAUSED":
            await wf.resume({})
        else:
            await wf.next_step()


def observed(wf: Workflow) -> dict[str, Any]:
    """What a workflow says about its end, in the model's terms."""
    return {
        "status": wf.status.value,
        "state": wf.state.model_dump(),
        "journal": [(e.step_name, e.status.value, e.attempts) for e in wf.journal],
        "history": [(r.step_name, r.attempt, r.status.value) for r in wf.history],
        "error_step": wf.error.step if wf.error else None,
        "error_type": wf.error.type if wf.error else None,
    }


def check(wf: Workflow, want: Expected, *, where: str, attempts: bool = True) -> list[str]:
    """The differences between ``wf`` and the model (empty: it behaved).

    ``attempts=False`` compares the journal without attempt counts and the history by step and
    status only (for runs interrupted by a crash, where uncommitted attempts are redone).
    """
    got = observed(wf)
    problems: list[str] = []
    if got["status"] != want.status:
        problems.append(f"{where}: status {got['status']}, expected {want.status}")
    expected_state = FuzzState.model_validate(want.state).model_dump()
    if got["state"] != expected_state:
        diff = {
            k: (got["state"].get(k), v)
            for k, v in expected_state.items()
            if got["state"].get(k) != v
        }
        problems.append(f"{where}: state differs (field: (got, expected)): {diff}")
    journal, history = got["journal"], got["history"]
    want_journal, want_history = want.journal, want.history
    if not attempts:
        journal = [(n, s) for n, s, _ in journal]
        want_journal = [(n, s) for n, s, _ in want_journal]
        history = [(n, s) for n, _, s in history]
        want_history = [(n, s) for n, _, s in want_history]
    if journal != want_journal:
        problems.append(f"{where}: journal {journal}, expected {want_journal}")
    if history != want_history:
        problems.append(f"{where}: history {history}, expected {want_history}")
    if got["error_step"] != want.error_step:
        problems.append(f"{where}: error.step {got['error_step']}, expected {want.error_step}")
    if want.error_type is not None and got["error_type"] != want.error_type:
        problems.append(f"{where}: error.type {got['error_type']}, expected {want.error_type}")
    return problems


# --- hypothesis strategies -------------------------------------------------------------------


def _text(max_size: int) -> st.SearchStrategy[str]:
    """Any text, NUL characters and lone surrogates included: a result holding one fails the
    step (``_has_nul``)."""
    return st.text(max_size=max_size)


_ZONES = (None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7)))
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "count": st.integers(-(10**12), 10**12),
    "text": _text(12),
    "items": st.lists(_text(6), max_size=4),
    "amount": st.decimals(
        min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False
    ),
    "inner": st.builds(Inner, label=_text(8), weight=st.integers(-1000, 1000)),
    "tags": st.sets(_text(6), max_size=4),
    "stamp": st.none()
    | st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(_ZONES),
    ),
    "trail": st.lists(_text(6), max_size=3),
    "undone": st.lists(_text(6), max_size=3),
}
RETRY_ON = ((), ("Transient",), ("fuzzapp.steps.Transient",))


def results(fields: tuple[str, ...] = DATA_FIELDS) -> st.SearchStrategy[dict[str, Any]]:
    """A result dict: any subset of the state's data fields, with random values."""
    return st.fixed_dictionaries({}, optional={k: VALUES[k] for k in fields})


@dataclass(frozen=True, kw_only=True)
class Space:
    """What the generator may produce; :data:`FULL` is everything the model covers."""

    forward_endings: tuple[str, ...] = ("return", "pause", "bad", "corrupt")
    comp_endings: tuple[str, ...] = ("return", "bad", "pause")
    fields: tuple[str, ...] = DATA_FIELDS
    # compensations that change the state in place and then fail (raise, or end badly)
    failing_comps_mutate: bool = True
    # a step or compensation that pauses on an attempt after a failed one
    retried_pauses: bool = True
    # a step that breaks a field in place and returns an empty result (nothing to merge)
    corrupt_with_empty_result: bool = True
    # results holding Decimal, set, datetime or model values (else their JSON forms, which the
    # state model converts back)
    typed_results: bool = True
    sagas: tuple[str, ...] = ("off", "yaml", "call")


FULL = Space()


@st.composite
def comps(draw: st.DrawFn, space: Space = FULL) -> Comp:
    ending = draw(st.sampled_from(space.comp_endings))
    clean = not space.failing_comps_mutate
    fails = draw(st.sampled_from((0, 0, 1, 2, PERMANENT)))
    if ending == "pause" and not space.retried_pauses:
        fails = 0
    return Comp(
        fails=fails,
        exc=draw(st.sampled_from(("Transient", "Fatal"))),
        ending=ending,
        result=draw(results(space.fields)),
        inner_as_dict=draw(st.booleans()),
        json_values=draw(st.booleans()) or not space.typed_results,
        mutate=draw(st.booleans()) and not (clean and ending != "return"),
        dirty=not clean,
    )


@st.composite
def steps(draw: st.DrawFn, name: str, space: Space = FULL) -> Step:
    ending = draw(st.sampled_from(space.forward_endings))
    fails = draw(st.sampled_from((0, 0, 1, 2, 3, PERMANENT)))
    if ending == "pause" and not space.retried_pauses:
        fails = 0
    result = draw(results(space.fields))
    if (
        ending == "corrupt"
        and not space.corrupt_with_empty_result
        and not result.keys() - {"count"}
    ):
        result = {**result, "text": "something to merge"}  # the step drops "count"
    return Step(
        name=name,
        fails=fails,
        exc=draw(st.sampled_from(("Transient", "Fatal"))),
        max_attempts=draw(st.integers(1, 3)),
        retry_on=draw(st.sampled_from(RETRY_ON)),
        ending=ending,
        result=result,
        inner_as_dict=draw(st.booleans()),
        json_values=draw(st.booleans()) or not space.typed_results,
        mutate=draw(st.booleans()),
        automate_next=draw(st.booleans()),
        comp=draw(st.none() | comps(space)),
        compensate_on_failure=draw(st.booleans()),
    )


@st.composite
def plans(draw: st.DrawFn, space: Space = FULL, max_steps: int = 6) -> Plan:
    count = draw(st.integers(1, max_steps))
    # initial data holding a NUL character is refused by create_workflow: not a run to model
    initial = draw(results(space.fields).filter(lambda data: not _has_nul(data)))
    return Plan(
        steps=tuple(draw(steps(f"s{i}", space)) for i in range(count)),
        saga=draw(st.sampled_from(space.sagas)),
        initial=initial,
    )


async def run_plan(store: PersistenceProvider, plan: Plan) -> list[str]:
    """Create the plan's workflow on ``store``, drive it to its end, and compare the live
    workflow and the one loaded back from the store with the model."""
    builder = WorkflowBuilder(
        workflow_registry={"Fuzz": plan.definition()}, persistence_provider=store
    )
    wf = await builder.create_workflow("Fuzz", plan.initial_data())
    await drive(wf, plan)
    want = expect(plan)
    problems = check(wf, want, where="live")
    loaded = await builder.load_workflow(wf.id)
    return problems + check(loaded, want, where="loaded")
