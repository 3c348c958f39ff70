"""Generated control-flow workflows: STANDARD, DECISION and LOOP steps, mixed and nested.

A :class:`FlowPlan` is one random workflow over ``fuzzapp.flow.FlowState``: its steps (a
:class:`Task` runs a function; a :class:`Decide` runs one or not, then takes the first route
whose :class:`Cond` holds, or its ``default``, or jumps by directive; a :class:`Loop` iterates
over ``items``/``more`` or runs WHILE a condition holds, its body being steps of any of the
three kinds), each function's behaviour (:class:`Fn`: the visit on which it raises, how often,
what it returns) and compensation (:class:`Undo`), saga mode and the initial state.
``flow_model.expect`` says how it must end.

Every generated workflow terminates: ``n`` only grows, every backward transfer (a route to a
step at or before the decision, a jump directive) is guarded by ``n < K`` and made by a step
that bumps ``n`` in the same move, an ``ITERATE`` list is replaced only by a list of at most
five items, and a ``WHILE`` loop stops at its ``max_iterations``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

STATE_MODEL = "fuzzapp.flow.FlowState"
FORWARD = "fuzzapp.flow.forward"
COMPENSATE = "fuzzapp.flow.compensate"
PERMANENT = 9  # more failing attempts than any max_attempts: the call never succeeds
INT_FIELDS = ("x", "y", "n")
LISTS = ("items", "more")

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
            {"condition": r.cond.text(), r.key: r.target} for r in s.routes
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


# --- hypothesis strategies -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FlowSpace:
    """What the generator may produce (a flag off leaves that part out: ``OPEN_FINDINGS``)."""

    decisions: bool = True
    loops: bool = True
    nested_loops: bool = True
    # a body step replaces the list its ITERATE loop runs over (longer, shorter, emptied)
    lists_changed_in_loops: bool = True
    # a DECISION in a loop body jumps back to the body's first step
    jumps_to_body_start: bool = True
    # failures: a function raising on a visit, compensations raising
    failures: bool = True
    sagas: tuple[str, ...] = ("off", "yaml", "call")


FULL = FlowSpace()
SMALL = st.integers(0, 4)
TAGS = st.sampled_from(("", "a", "b"))
LIST = st.lists(st.integers(0, 9), max_size=5)
OPS = ("<", "<=", "==", "!=", ">", ">=")


def _sets(draw: st.DrawFn, space: FlowSpace) -> dict[str, Any]:
    out = draw(st.fixed_dictionaries({}, optional={"x": SMALL, "y": SMALL, "tag": TAGS}))
    if space.lists_changed_in_loops and draw(st.integers(0, 4)) == 0:
        out[draw(st.sampled_from(LISTS))] = draw(LIST)
    return out


def _term(draw: st.DrawFn) -> tuple[str, str, Any, bool]:
    spelled = draw(st.booleans())
    name = draw(st.sampled_from(("x", "y", "n", "tag", "x")))
    if name == "tag":
        op = draw(st.sampled_from(("==", "!=", "in")))
        value: Any = draw(st.lists(TAGS, min_size=1, max_size=2)) if op == "in" else draw(TAGS)
        return (name, op, value, spelled)
    op = draw(st.sampled_from((*OPS, "in")))
    value = draw(st.lists(SMALL, min_size=1, max_size=3)) if op == "in" else draw(SMALL)
    return (name, op, value, spelled)


def conds(draw: st.DrawFn, guard: int | None = None, min_terms: int = 1) -> Cond:
    terms = tuple(_term(draw) for _ in range(draw(st.integers(min_terms, 2))))
    return Cond(terms=terms, join=draw(st.sampled_from(("and", "or"))), guard=guard)


def _fn(draw: st.DrawFn, space: FlowSpace) -> Fn:
    failing = space.failures and draw(st.integers(0, 3)) == 0
    return Fn(
        fail_visit=draw(st.integers(0, 2)) if failing else None,
        fails=draw(st.sampled_from((1, 2, PERMANENT))) if failing else 0,
        sets=_sets(draw, space),
        bump=draw(st.booleans()),
    )


def _undo(draw: st.DrawFn, space: FlowSpace) -> Undo | None:
    if draw(st.integers(0, 3)) == 0:
        return None
    fails = draw(st.sampled_from((0, 0, 0, 1, PERMANENT))) if space.failures else 0
    return Undo(
        fails=fails,
        sets=draw(st.fixed_dictionaries({}, optional={"x": SMALL, "tag": TAGS})),
        mutate=draw(st.booleans()),
    )


def _common(draw: st.DrawFn, space: FlowSpace) -> dict[str, Any]:
    return {
        "max_attempts": draw(st.integers(1, 2)),
        "undo": _undo(draw, space),
        "compensate_on_failure": draw(st.booleans()),
        "automate_next": draw(st.booleans()),
    }


def _decide(
    draw: st.DrawFn, name: str, k: int, names: list[str], space: FlowSpace, in_body: bool
) -> Decide:
    later, earlier = names[k + 1 :], names[: k + 1]
    if in_body and not space.jumps_to_body_start:
        earlier = earlier[1:]  # the body's first step is not a target
    routes = []
    for _ in range(draw(st.integers(0, 3))):
        back = bool(earlier) and draw(st.integers(0, 2)) == 0
        if not back and not later:
            continue
        target = draw(st.sampled_from(earlier if back else later))
        guard = draw(st.integers(0, 4)) if back else None
        routes.append(
            Route(
                cond=conds(draw, guard, min_terms=0 if back else 1),
                target=target,
                key=draw(st.sampled_from(("target", "next_step"))),
            )
        )
    default = draw(st.sampled_from(later)) if later and draw(st.booleans()) else None
    jump = None
    fn = _fn(draw, space) if draw(st.booleans()) else None
    if fn is not None and draw(st.integers(0, 3)) == 0 and (earlier or later):
        jump = (draw(st.sampled_from(earlier + later)), draw(st.integers(0, 4)))
    backward = any(r.cond.guard is not None for r in routes) or (
        jump is not None and jump[0] in earlier
    )
    if backward or (fn is None and not routes and default is None):
        fn = fn or _fn(draw, space)
    if fn is not None:
        fn = dataclasses.replace(fn, bump=fn.bump or backward, jump=jump)
    return Decide(name=name, fn=fn, routes=tuple(routes), default=default, **_common(draw, space))


def _loop(draw: st.DrawFn, name: str, depth: int, space: FlowSpace) -> Loop:
    body = _sequence(draw, f"{name}_", depth + 1, space, max_steps=3)
    mode = draw(st.sampled_from(("ITERATE", "WHILE")))
    common = {"automate_next": draw(st.booleans())}
    if mode == "ITERATE":
        return Loop(
            name=name,
            mode=mode,
            over=draw(st.sampled_from(LISTS)),
            spelled=draw(st.booleans()),
            max_iterations=draw(st.integers(1, 6)),
            item_var=draw(st.sampled_from(("item", "it"))),
            body=body,
            **common,
        )
    guard = draw(st.integers(0, 5))
    cond = Cond(guard=guard) if draw(st.booleans()) else conds(draw, guard=guard)
    if draw(st.integers(0, 5)) == 0:
        cond = conds(draw)  # no counter: ends when the terms change, or at max_iterations
    return Loop(
        name=name, mode=mode, cond=cond, max_iterations=draw(st.integers(1, 5)), body=body, **common
    )


def _sequence(
    draw: st.DrawFn, prefix: str, depth: int, space: FlowSpace, max_steps: int
) -> tuple[Step, ...]:
    """One list of steps (the top level, or a loop body at ``depth``)."""
    kinds = ["task"]
    if space.decisions:
        kinds.append("decide")
    if space.loops and (depth == 0 or (depth == 1 and space.nested_loops)):
        kinds.append("loop")
    chosen = [draw(st.sampled_from(kinds)) for _ in range(draw(st.integers(1, max_steps)))]
    names = [f"{prefix}{k}" for k in range(len(chosen))]
    steps: list[Step] = []
    for k, kind in enumerate(chosen):
        if kind == "task":
            steps.append(Task(name=names[k], fn=_fn(draw, space), **_common(draw, space)))
        elif kind == "decide":
            steps.append(_decide(draw, names[k], k, names, space, in_body=depth > 0))
        else:
            steps.append(_loop(draw, names[k], depth, space))
    return tuple(steps)


@st.composite
def flow_plans(draw: st.DrawFn, space: FlowSpace = FULL, max_steps: int = 5) -> FlowPlan:
    initial = draw(
        st.fixed_dictionaries(
            {},
            optional={"n": st.integers(0, 3), "x": SMALL, "y": SMALL, "tag": TAGS},
        )
    )
    initial["items"] = draw(LIST)
    initial["more"] = draw(LIST)
    return FlowPlan(
        steps=_sequence(draw, "s", 0, space, max_steps),
        saga=draw(st.sampled_from(space.sagas)),
        initial=initial,
    )
