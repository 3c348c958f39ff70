"""``LOOP``: run ``loop_body`` once per item of a state list (``ITERATE``) or while a condition
holds (``WHILE``), inside one step.

Each body step runs like a top-level one (its own record, retries, idempotency key), in the
scope ``<loop>/iter:<i>/<body step>``, with ``context.loop_item`` and ``context.loop_index`` set
(and the item as the keyword ``item_var_name`` when the function takes it). Progress is
committed after every body step, with the loop's frame (:mod:`ruvon.runtime.cursor`): a crash
resumes at the body step that was running, not at the first iteration (before a body step that
waits for input, the wait's commit is that commit). ``iterate_over`` is read
from the state at each iteration (``for i in range(len(items))``, not a copy taken at the
start); each attempt records its item, which its compensation gets back.

A body step that fails fails the loop (the frame stays: ``retry()`` goes on from that body
step); one that waits for input stops the workflow inside the loop; a cancellation requested
meanwhile stops it between body steps. The loop's result is ``{"loop_results": [...],
"loop_iterations": n}`` (one dict per iteration: the results of its body steps merged), merged
into the state for the keys the state model has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ruvon.runtime.step_run as step_run
from ruvon.definition.step_types import CompiledLoop, LoopMode
from ruvon.errors import StepResultError
from ruvon.runtime.cursor import LOOP, PAUSE, input_wait, own_frame
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.status import WorkflowStatus as S
from ruvon.steps.decision import condition_names, evaluator

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

_INPUT_WAIT = {S.WAITING_HUMAN: OutcomeKind.WAIT_HUMAN, S.PAUSED: OutcomeKind.WAIT_INPUT}


def _items(wf: Workflow, step: CompiledStep, loop: CompiledLoop) -> Sequence[Any]:
    state = wf.state
    if loop.plain_field is not None:  # ``state.<field>``: read directly (several µs less)
        items = state.__dict__[loop.plain_field]
    else:
        items = evaluator(wf).evaluate(loop.source, condition_names(state))
    if not isinstance(items, list | tuple):
        raise StepResultError(
            f"iterate_over {loop.source!r} of LOOP step '{step.name}' gave "
            f"{type(items).__name__}, not a list",
            step=step.name,
        )
    return items


def _too_many(step: CompiledStep, loop: CompiledLoop, what: str) -> StepResultError:
    return StepResultError(
        f"LOOP step '{step.name}' exceeded max_iterations={loop.max_iterations} ({what})",
        step=step.name,
    )


def _iteration(
    wf: Workflow, step: CompiledStep, loop: CompiledLoop, frame: dict[str, Any]
) -> tuple[bool, Any]:
    """``(runs, item)``: whether iteration ``frame["iteration"]`` runs, and its item."""
    i, starting = frame["iteration"], frame["body"] == 0 and not frame.get("inside")
    if loop.mode is LoopMode.ITERATE:
        items = _items(wf, step, loop)
        if starting and len(items) > loop.max_iterations:  # read again at each iteration
            raise _too_many(step, loop, f"{loop.source} has {len(items)} items")
        if i < len(items):
            return True, items[i]
        return not starting, None  # mid-iteration the list shrank: finish the iteration
    if not starting:
        return True, None
    if not evaluator(wf).evaluate(loop.source, condition_names(wf.state)):
        return False, None
    if i >= loop.max_iterations:
        raise _too_many(step, loop, f"{loop.source} still holds")
    return True, None


def _waits_next(
    wf: Workflow, step: CompiledStep, loop: CompiledLoop, frame: dict[str, Any]
) -> bool:
    """Whether the loop stops next at the body step the frame points to, to wait for input.

    The wait's commit then carries the progress made: committing it ``ACTIVE`` first would let
    a crash in between leave the cursor at a step that runs only with input, none given, which
    recovery can not run. If the iteration can not be told (the next pass fails the loop),
    the progress is committed first."""
    if input_wait(loop.body[frame["body"]]) is None:
        return False
    try:
        runs, _ = _iteration(wf, step, loop, frame)
    except Exception:
        return False
    return runs


def _loop_results(wf: Workflow, scope: str, start_seq: int) -> list[dict[str, Any]]:
    """One dict per iteration: the results of the iteration's own body steps, merged."""
    prefix = f"{scope}/iter:"
    results: dict[int, dict[str, Any]] = {}
    for record in wf.history[start_seq:]:
        if record.status.value != "COMPLETED" or not record.scope.startswith(prefix):
            continue
        iteration, _, rest = record.scope[len(prefix) :].partition("/")
        if "/" in rest:
            continue  # a step of a loop nested in the body: its loop's record has it
        results.setdefault(int(iteration), {}).update(record.result or {})
    return [results[i] for i in sorted(results)]


class LoopStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        loop: CompiledLoop = step.compiled
        # ``"inside": true`` marks a frame moved to the body's first step by a jump within
        # the iteration, which is not the start of an iteration
        frame = own_frame(wf, where.depth, LOOP, where.scope, iteration=0, body=0)
        started = wf.clock()
        pending, validated = user_input, validated_input
        while True:
            runs, item = _iteration(wf, step, loop, frame)
            if not runs:
                return self._finish(wf, step, where, frame, where.depth, started)
            body_step = loop.body[frame["body"]]
            stop = self._stop_before(wf, body_step, pending, started)
            if stop is not None:
                return stop
            outcome = await self._body_step(
                wf, loop, body_step, frame, item, pending, validated, where
            )
            pending, validated = None, None
            if outcome.kind is OutcomeKind.FAILED:  # the frame stays for retry()
                # the loop's own record: its one attempt, from its start, with the step's error
                return StepOutcome(
                    kind=OutcomeKind.FAILED,
                    error=outcome.error,
                    started_at=started,
                    ended_at=wf.clock(),
                )
            if outcome.kind in step_run.UNFINISHED:
                return outcome  # waits, or yields
            frame = self._advance(wf, loop, body_step, outcome, frame, where.depth, where.scope)
            if outcome.kind is OutcomeKind.PAUSE:
                if outcome.waiting_for is not None:
                    wf.frames.append(
                        {"kind": PAUSE, "waiting_for": outcome.waiting_for["waiting_for"]}
                    )
                return StepOutcome(
                    kind=OutcomeKind.WAIT_INPUT, started_at=started, ended_at=wf.clock()
                )
            if not _waits_next(wf, step, loop, frame):
                await wf.commit(S.ACTIVE)  # the iteration's progress, durable

    @staticmethod
    def _stop_before(
        wf: Workflow, body_step: CompiledStep, pending: dict[str, Any] | None, started: float
    ) -> StepOutcome | None:
        """Stop between body steps: a cancellation was requested, or the next body step needs
        input that has not come."""
        if wf.cancel_requested is not None:
            return StepOutcome(kind=OutcomeKind.YIELD, started_at=started, ended_at=wf.clock())
        wait = input_wait(body_step) if pending is None else None
        if wait is not None:
            return StepOutcome(kind=_INPUT_WAIT[wait], started_at=started, ended_at=wf.clock())
        return None

    @staticmethod
    async def _body_step(
        wf: Workflow,
        loop: CompiledLoop,
        body_step: CompiledStep,
        frame: dict[str, Any],
        item: Any,
        pending: dict[str, Any] | None,
        validated: Any,
        where: Where,
    ) -> StepOutcome:
        i, k = frame["iteration"], frame["body"]
        call_input = dict(pending or {})
        if loop.passes_item[k] and loop.mode is LoopMode.ITERATE:
            call_input.setdefault(loop.item_var_name, item)  # a person's input wins
        inner = Where(
            f"{where.scope}/iter:{i}/{body_step.scope}",
            item=item,  # the state's own object; its record keeps its JSON form
            index=i,
            depth=where.depth + 1,
        )
        given = call_input if (pending is not None or call_input) else None
        return await step_run.run_step(wf, body_step, given, validated, inner)

    @staticmethod
    def _advance(
        wf: Workflow,
        loop: CompiledLoop,
        body_step: CompiledStep,
        outcome: StepOutcome,
        frame: dict[str, Any],
        depth: int,
        scope: str,
    ) -> dict[str, Any]:
        """Take a body step's result and move the frame past it (frames are values: a new
        dict, so the last committed one stays as it was)."""
        if outcome.merged is not None:
            wf.apply(outcome.merged)
        wf.last_result = outcome.result
        k, i = body_step.position, frame["iteration"]
        nxt = k + 1 if outcome.jump_to is None else outcome.jump_to
        if nxt > k + 1:
            step_run.record_skipped(wf, loop.body, k + 1, nxt, scope=f"{scope}/iter:{i}")
        if nxt >= len(loop.body):
            frame = {**frame, "iteration": i + 1, "body": 0, "inside": False}
        else:
            frame = {**frame, "body": nxt, "inside": True}
        del wf.frames[depth:]
        wf.frames.append(frame)
        return frame

    @staticmethod
    def _finish(
        wf: Workflow,
        step: CompiledStep,
        where: Where,
        frame: dict[str, Any],
        depth: int,
        started: float,
    ) -> StepOutcome:
        value = {
            "loop_results": _loop_results(wf, where.scope, frame["start_seq"]),
            "loop_iterations": frame["iteration"],
        }
        del wf.frames[depth:]
        model = type(wf.state)
        keep = {
            k: v
            for k, v in value.items()
            if k in model.__pydantic_fields__ or wf.state.__pydantic_extra__ is not None
        }
        merged = merge_result(wf.state, keep or None, step.name)
        merged.result = value  # the step's record and next_step() get the whole result
        return StepOutcome(
            kind=OutcomeKind.COMPLETED, merged=merged, started_at=started, ended_at=wf.clock()
        )
