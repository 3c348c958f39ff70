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
    # a jump directive to a step that is not in the jumping step's list
    unknown_jump_targets: bool = True
    # a condition (route or WHILE) naming a field the state does not have
    conditions_that_fail: bool = True
    # an ITERATE loop over something that is not a list
    lists_that_are_not: bool = True
    sagas: tuple[str, ...] = ("off", "yaml", "call")


FULL = FlowSpace()
SMALL = st.integers(0, 4)
TAGS = st.sampled_from(("", "a", "b"))
LIST = st.lists(st.integers(0, 9), max_size=5)
OPS = ("<", "<=", "==", "!=", ">", ">=")


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws. The rare value is in the middle of the range: hypothesis
    favours the ends, and shrinks towards the start (so towards the common case)."""
    return draw(st.integers(1, n)) == n // 2 + 1


def _sets(draw: st.DrawFn, space: FlowSpace) -> dict[str, Any]:
    out = draw(st.fixed_dictionaries({}, optional={"x": SMALL, "y": SMALL, "tag": TAGS}))
    if space.lists_changed_in_loops and _one_in(draw, 5):
        out[draw(st.sampled_from(LISTS))] = draw(LIST)
    return out


def _term(draw: st.DrawFn, bad: bool) -> tuple[str, str, Any, bool]:
    spelled = draw(st.booleans())
    if bad and _one_in(draw, 40):
        return ("nope", ">", 1, spelled)  # not a field: the condition fails to evaluate
    name = draw(st.sampled_from(("x", "y", "n", "tag", "x")))
    if name == "tag":
        op = draw(st.sampled_from(("==", "!=", "in")))
        value: Any = draw(st.lists(TAGS, min_size=1, max_size=2)) if op == "in" else draw(TAGS)
        return (name, op, value, spelled)
    op = draw(st.sampled_from((*OPS, "in")))
    value = draw(st.lists(SMALL, min_size=1, max_size=3)) if op == "in" else draw(SMALL)
    return (name, op, value, spelled)


def conds(draw: st.DrawFn, guard: int | None = None, min_terms: int = 1, bad: bool = False) -> Cond:
    terms = tuple(_term(draw, bad) for _ in range(draw(st.integers(min_terms, 2))))
    return Cond(terms=terms, join=draw(st.sampled_from(("and", "or"))), guard=guard)


def _fn(draw: st.DrawFn, space: FlowSpace) -> Fn:
    failing = space.failures and _one_in(draw, 4)
    return Fn(
        fail_visit=draw(st.integers(0, 2)) if failing else None,
        fails=draw(st.sampled_from((1, 2, PERMANENT))) if failing else 0,
        sets=_sets(draw, space),
        bump=draw(st.booleans()),
    )


def _undo(draw: st.DrawFn, space: FlowSpace) -> Undo | None:
    if _one_in(draw, 4):
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


def _jump(draw: st.DrawFn, targets: _Targets, space: FlowSpace) -> tuple[str, int] | None:
    """A jump directive for a function (``None`` mostly): a target and the ``n`` below which
    it jumps."""
    anywhere = targets.earlier + targets.later
    if space.unknown_jump_targets and _one_in(draw, 50):
        anywhere = ["nowhere"]  # not a step of this list: the jump fails the step
    if not anywhere or not _one_in(draw, 5):
        return None
    return (draw(st.sampled_from(anywhere)), draw(st.integers(0, 4)))


def _task(draw: st.DrawFn, name: str, targets: _Targets, space: FlowSpace) -> Task:
    fn, jump = _fn(draw, space), _jump(draw, targets, space)
    backward = jump is not None and jump[0] in targets.earlier
    fn = dataclasses.replace(fn, bump=fn.bump or backward, jump=jump)
    return Task(name=name, fn=fn, **_common(draw, space))


def _route(draw: st.DrawFn, targets: _Targets, space: FlowSpace) -> Route | None:
    back = bool(targets.earlier) and _one_in(draw, 3)
    if not back and not targets.later:
        return None
    key = draw(st.sampled_from(("target", "next_step")))
    if back:
        guard = draw(st.integers(0, 4))
        target = draw(st.sampled_from(targets.earlier))
        cond = conds(draw, guard, min_terms=0, bad=space.conditions_that_fail)
        return Route(cond=cond, target=target, key=key)
    target = draw(st.sampled_from(targets.later))
    if _one_in(draw, 7):
        return Route(cond=Cond(), target=target, key=key)  # the literal True
    return Route(cond=conds(draw, bad=space.conditions_that_fail), target=target, key=key)


def _decide(draw: st.DrawFn, name: str, targets: _Targets, space: FlowSpace) -> Decide:
    routes = [r for _ in range(draw(st.integers(0, 3))) if (r := _route(draw, targets, space))]
    later = targets.later
    default = draw(st.sampled_from(later)) if later and not _one_in(draw, 3) else None
    fn = _fn(draw, space) if draw(st.booleans()) else None
    jump = _jump(draw, targets, space) if fn is not None else None
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
            over=draw(st.sampled_from(LISTS))
            if not space.lists_that_are_not or not _one_in(draw, 30)
            else "x",  # not a list: the loop fails
            spelled=draw(st.booleans()),
            max_iterations=draw(st.integers(1, 8)),
            item_var=draw(st.sampled_from(("item", "it"))),
            body=body,
            **common,
        )
    guard, bad = draw(st.integers(1, 6)), space.conditions_that_fail
    cond = Cond(guard=guard) if draw(st.booleans()) else conds(draw, guard=guard, bad=bad)
    if _one_in(draw, 6):
        cond = conds(draw, bad=bad)  # no counter: ends when the terms change, or at the limit
    first = body[0]
    if isinstance(first, Task | Decide) and first.fn is not None and not _one_in(draw, 4):
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
