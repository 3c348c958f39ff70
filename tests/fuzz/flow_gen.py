"""Hypothesis strategies for :mod:`flow_plan`: random control-flow workflows that end.

Every generated workflow terminates: ``n`` only grows, every backward transfer (a route to a
step at or before the decision, a jump directive to one) is guarded by ``n < K`` and made by a
step that bumps ``n`` in the same move, an ``ITERATE`` list is replaced only by a list of at most
five items, and a ``WHILE`` loop stops at its ``max_iterations``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from flow_plan import PERMANENT, Cond, Decide, FlowPlan, Fn, Loop, Route, Step, Task, Undo
from hypothesis import strategies as st

LISTS = ("items", "more")


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
    failing = space.failures and draw(st.integers(0, 5)) == 0
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


@dataclass(frozen=True, kw_only=True)
class _Targets:
    """The steps a step at position ``k`` of its list may jump to: ``earlier`` (itself
    included: a backward jump, guarded) and ``later``."""

    earlier: list[str]
    later: list[str]

    @classmethod
    def at(cls, k: int, names: list[str], space: FlowSpace, in_body: bool) -> _Targets:
        earlier = names[: k + 1]
        if in_body and not space.jumps_to_body_start:
            earlier = earlier[1:]  # the body's first step is not a target
        return cls(earlier=earlier, later=names[k + 1 :])


def _jump(draw: st.DrawFn, targets: _Targets) -> tuple[str, int] | None:
    """A jump directive for a function (``None`` mostly): a target and the ``n`` below which
    it jumps."""
    anywhere = targets.earlier + targets.later
    if not anywhere or draw(st.integers(0, 4)) != 0:
        return None
    return (draw(st.sampled_from(anywhere)), draw(st.integers(0, 4)))


def _task(draw: st.DrawFn, name: str, targets: _Targets, space: FlowSpace) -> Task:
    fn, jump = _fn(draw, space), _jump(draw, targets)
    backward = jump is not None and jump[0] in targets.earlier
    fn = dataclasses.replace(fn, bump=fn.bump or backward, jump=jump)
    return Task(name=name, fn=fn, **_common(draw, space))


def _route(draw: st.DrawFn, targets: _Targets) -> Route | None:
    back = bool(targets.earlier) and draw(st.integers(0, 2)) == 0
    if not back and not targets.later:
        return None
    key = draw(st.sampled_from(("target", "next_step")))
    if back:
        guard = draw(st.integers(0, 4))
        target = draw(st.sampled_from(targets.earlier))
        return Route(cond=conds(draw, guard, min_terms=0), target=target, key=key)
    target = draw(st.sampled_from(targets.later))
    if draw(st.integers(0, 6)) == 0:
        return Route(cond=Cond(), target=target, key=key)  # the literal True
    return Route(cond=conds(draw), target=target, key=key)


def _decide(draw: st.DrawFn, name: str, targets: _Targets, space: FlowSpace) -> Decide:
    routes = [r for _ in range(draw(st.integers(0, 3))) if (r := _route(draw, targets))]
    later = targets.later
    default = draw(st.sampled_from(later)) if later and draw(st.integers(0, 2)) else None
    fn = _fn(draw, space) if draw(st.booleans()) else None
    jump = _jump(draw, targets) if fn is not None else None
    backward = any(r.cond.guard is not None for r in routes) or (
        jump is not None and jump[0] in targets.earlier
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
            max_iterations=draw(st.integers(1, 8)),
            item_var=draw(st.sampled_from(("item", "it"))),
            body=body,
            **common,
        )
    guard, shape = draw(st.integers(1, 6)), draw(st.integers(0, 19))
    cond = Cond(guard=guard) if shape < 11 else conds(draw, guard=guard)
    if shape >= 17:
        cond = conds(draw)  # no counter: ends when the terms change, or at max_iterations
    first = body[0]
    if isinstance(first, Task | Decide) and first.fn is not None and shape % 4:
        body = (dataclasses.replace(first, fn=dataclasses.replace(first.fn, bump=True)), *body[1:])
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
        targets = _Targets.at(k, names, space, in_body=depth > 0)
        if kind == "task":
            steps.append(_task(draw, names[k], targets, space))
        elif kind == "decide":
            steps.append(_decide(draw, names[k], targets, space))
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
