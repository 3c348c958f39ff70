"""Where a workflow's cursor is, below the top-level step: the frames of the nested steps.

``Workflow.current_step`` is the index of a top-level step. While a step that runs others (a
LOOP) is in progress, ``Workflow.frames`` holds one frame per nesting level, committed with every
transition: ``{"kind": "loop", "scope": <the loop's scope path>, "iteration": i, "body": k,
"start_seq": <history length when the loop started>}`` (plus ``"inside": true`` when a jump
inside the body went back to its first step: not the start of a new iteration); a PARALLEL step
keeps ``{"kind": "parallel", "scope": ..., "start_seq": ...}`` while its tasks run. A workflow
paused by ``WorkflowPauseDirective(waiting_for=...)`` keeps what it waits for in a last frame
``{"kind": "pause", "waiting_for": ...}``, dropped when it resumes. The input a waiting workflow
is resumed with is committed with the ``resumed`` transition in a last frame ``{"kind": "input",
"user_input": ...}`` until the step that takes it has run: a process killed in between leaves
it to recovery, which runs the step with the same input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ruvon.definition.schema import StepType
from ruvon.status import WorkflowStatus as S

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

LOOP = "loop"
PAUSE = "pause"
INPUT = "input"


def leaf_step(wf: Workflow) -> CompiledStep | None:
    """The innermost step the cursor is on (a loop body's step while a loop runs); ``None``
    past the last step."""
    steps = wf.definition.steps
    if wf.current_step >= len(steps):
        return None
    step = steps[wf.current_step]
    for frame in wf.frames:
        if frame.get("kind") != LOOP:
            break
        body = getattr(step.compiled, "body", None)
        if body is None or not 0 <= frame.get("body", -1) < len(body):
            break
        step = body[frame["body"]]
    return step


def input_wait(step: CompiledStep) -> S | None:
    """The status a step waits in for its input when the cursor reaches it without any:
    ``WAITING_HUMAN`` for a HUMAN_IN_LOOP step, ``PAUSED`` for a step with an ``input_model``;
    ``None`` for a step that runs without input."""
    if step.spec.type is StepType.HUMAN_IN_LOOP:
        return S.WAITING_HUMAN
    if step.input_model is not None:
        return S.PAUSED
    return None


def pause_note(wf: Workflow) -> Any:
    """What a ``WorkflowPauseDirective`` said the workflow waits for (``None``: nothing)."""
    if wf.frames and wf.frames[-1].get("kind") == PAUSE:
        return wf.frames[-1].get("waiting_for")
    return None


def drop_pause_note(wf: Workflow) -> None:
    if wf.frames and wf.frames[-1].get("kind") == PAUSE:
        del wf.frames[-1]


def keep_input(wf: Workflow, user_input: dict[str, Any]) -> None:
    """Keep the input a waiting step is resumed with, until that step has run."""
    wf.frames.append({"kind": INPUT, "user_input": dict(user_input)})


def stored_input(wf: Workflow) -> dict[str, Any] | None:
    """The input kept for the step at the cursor (``None``: none)."""
    if wf.frames and wf.frames[-1].get("kind") == INPUT:
        value = wf.frames[-1].get("user_input")
        return dict(value) if isinstance(value, dict) else {}
    return None


def drop_input(wf: Workflow) -> None:
    if wf.frames and wf.frames[-1].get("kind") == INPUT:
        del wf.frames[-1]


def own_frame(wf: Workflow, depth: int, kind: str, scope: str, **start: Any) -> dict[str, Any]:
    """The frame a nested step keeps at ``depth``: the one saved there if it is this step's
    (same ``kind`` and ``scope``: the step goes on), else a new one from ``start`` (the step
    starts; the frames below it go)."""
    frames = wf.frames
    saved = frames[depth] if len(frames) > depth else {}
    if saved.get("kind") == kind and saved.get("scope") == scope:
        return saved
    del frames[depth:]
    frame = {"kind": kind, "scope": scope, **start, "start_seq": len(wf.history)}
    frames.append(frame)
    return frame
