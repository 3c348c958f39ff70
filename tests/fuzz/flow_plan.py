"""Generated control-flow workflows: STANDARD, DECISION and LOOP steps, mixed and nested.

A :class:`FlowPlan` is one workflow over ``fuzzapp.flow.FlowState``: its steps (a :class:`Task`
runs a function, which may jump by directive; a :class:`Decide` runs one or not, then takes the
first route whose :class:`Cond` holds, or its ``default``; a :class:`Loop` iterates over
``items``/``more`` or runs WHILE a condition holds, its body being steps of any of the three
kinds), each function's behaviour (:class:`Fn`: the visit on which it raises, how often, what it
returns, where it jumps) and compensation (:class:`Undo`), saga mode and the initial state.
``flow_gen.flow_plans`` generates them, ``flow_model.expect`` says how they must end.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

STATE_MODEL = "fuzzapp.flow.FlowState"
FORWARD = "fuzzapp.flow.forward"
COMPENSATE = "fuzzapp.flow.compensate"
PERMANENT = 9  # more failing attempts than any max_attempts: the call never succeeds

# --- plans -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fn:
    """A forward function: raises ``fails`` times on its ``fail_visit``-th run (0-based count of
    its earlier successes), else returns ``sets`` (and ``n + 1`` with ``bump``); with ``jump``
    (``(target, below)``) it raises ``WorkflowJumpDirective`` when ``n < below``."""

    fail_visit: int | None = None
    fails: int = 0
    sets: dict[str, Any] = field(default_factory=dict)
    bump: bool = False
    jump: tuple[str, int] | None = None


@dataclass(frozen=True, kw_only=True)
class Undo:
    """A compensation: raises on its first ``fails`` attempts, then returns ``sets``."""

    fails: int = 0
    sets: dict[str, Any] = field(default_factory=dict)
    mutate: bool = True


@dataclass(frozen=True, kw_only=True)
class Cond:
    """``terms`` (``(field, op, value, spelled with state.)``) joined by ``join``, and, with
    ``guard``, ``n < guard`` on top."""

    terms: tuple[tuple[str, str, Any, bool], ...] = ()
    join: str = "and"
    guard: int | None = None

    def text(self) -> str:
        parts = [f"{'state.' if s else ''}{f} {op} {v!r}" for f, op, v, s in self.terms]
        inner = f" {self.join} ".join(parts)
        if self.guard is None:
            return inner or "True"
        guard = f"n < {self.guard}"
        return f"({inner}) and {guard}" if inner else guard


@dataclass(frozen=True, kw_only=True)
class Route:
    cond: Cond
    target: str
    key: str = "target"  # or 0.1.5's "next_step"


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    max_attempts: int = 1
    undo: Undo | None = None
    compensate_on_failure: bool = False
    automate_next: bool = True


@dataclass(frozen=True, kw_only=True)
class Task(Step):
    fn: Fn = field(default_factory=Fn)


@dataclass(frozen=True, kw_only=True)
class Decide(Step):
    fn: Fn | None = None
    routes: tuple[Route, ...] = ()
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class Loop(Step):
    mode: str = "ITERATE"
    over: str = "items"
    spelled: bool = True  # iterate_over "state.items" (else "items")
    cond: Cond | None = None  # WHILE
    max_iterations: int = 1000
    item_var: str = "item"
    body: tuple[Step, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FlowPlan:
    """``saga``: ``off``, ``yaml`` (``saga_mode: true``) or ``call`` (``enable_saga_mode()``)."""

    steps: tuple[Step, ...]
    saga: str = "off"
    initial: dict[str, Any] = field(default_factory=dict)

    def definition(self, workflow_type: str = "Flow") -> dict[str, Any]:
        return {
            "workflow_type": workflow_type,
            "workflow_version": "1",
            "initial_state_model": STATE_MODEL,
            "saga_mode": self.saga == "yaml",
            "steps": [_definition(s) for s in self.steps],
        }

    def initial_data(self) -> dict[str, Any]:
        return {**copy.deepcopy(self.initial), "plan": self.plan_json()}

    def plan_json(self) -> str:
        entries: dict[str, Any] = {}
        _behaviours(self.steps, entries)
        return json.dumps({"steps": entries}, sort_keys=True)


def _behaviours(steps: tuple[Step, ...], out: dict[str, Any]) -> None:
    for s in steps:
        if isinstance(s, Loop):
            _behaviours(s.body, out)
            continue
        fn = s.fn if isinstance(s, Task | Decide) else None
        entry: dict[str, Any] = {"fail_visit": None, "fails": 0, "sets": {}, "bump": False}
        entry["jump"] = None
        if fn is not None:
            entry.update(fail_visit=fn.fail_visit, fails=fn.fails, sets=fn.sets, bump=fn.bump)
            if fn.jump is not None:
                entry["jump"] = {"target": fn.jump[0], "below": fn.jump[1]}
        undo = s.undo
        entry["undo"] = (
            None
            if undo is None
            else {"fails": undo.fails, "sets": undo.sets, "mutate": undo.mutate}
        )
        out[s.name] = entry


def _definition(s: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"name": s.name, "automate_next": s.automate_next}
    if isinstance(s, Loop):
        out["type"] = "LOOP"
        out["mode"] = s.mode
        out["max_iterations"] = s.max_iterations
        if s.mode == "ITERATE":
            out["iterate_over"] = f"state.{s.over}" if s.spelled else s.over
            out["item_var_name"] = s.item_var
        else:
            assert s.cond is not None
            out["while_condition"] = s.cond.text()
        out["loop_body"] = [_definition(b) for b in s.body]
        return out
    out["retry_policy"] = {"max_attempts": s.max_attempts, "initial_delay": 0}
    if isinstance(s, Task):
        out.update(type="STANDARD", function=FORWARD)
    elif isinstance(s, Decide):
        out["type"] = "DECISION"
        if s.fn is not None:
            out["function"] = FORWARD
        routes: list[dict[str, Any]] = [
            {"condition": r.cond.text() if r.cond.text() != "True" else True, r.key: r.target}
            for r in s.routes
        ]
        if s.default is not None:
            routes.append({"default": s.default})
        if routes:
            out["routes"] = routes
    if s.undo is not None:
        out["compensate_function"] = COMPENSATE
    if s.compensate_on_failure:
        out["compensate_on_failure"] = True
    return out
