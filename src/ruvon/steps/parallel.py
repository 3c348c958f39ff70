"""``PARALLEL``: run tasks side by side, record and commit each as it finishes, then merge.

Each task runs like a step of its own — its record, retries and idempotency key in the scope
``<step>/task:<name>`` (``task:<index>`` for a fan-out over a list) — on its own deep copy of the
state, so tasks never see each other's changes and never change the live state; only their
returned dicts count. With an executor that runs in parallel (``ThreadPoolExecutor``) the tasks
run at once (``batch_size`` at a time when set); with ``SyncExecutor`` one after another. Every
finished task is committed with the workflow's frame, so a crash re-runs only the unfinished
ones. When all are done their results are merged, in task order, into one dict
(``merge_strategy``, ``merge_conflict_behavior``, or ``merge_function_path``), which is merged
into the state like a step's result.

A task that fails (after its retries) fails the step once the others have finished, unless
``allow_partial_success``: then the others' results are merged and the failed tasks are named in
the step's result (``failed_tasks``). ``timeout_seconds`` bounds the whole step: at the
deadline it fails with nothing merged, and no task that ends after the deadline is recorded. What
waits on the event loop is cancelled then; a blocking task ``SyncExecutor`` runs on the loop can
not be, so the step fails when it returns, and no task or attempt starts after the deadline. The
step's frame stays after a failure: ``retry()`` runs the failed and unfinished tasks only.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ruvon.definition.parallel_spec import CompiledParallel, MergeConflict, MergeStrategy
from ruvon.errors import StepResultError, StepTimeoutError
from ruvon.models import ScopePath, StepStatus, WorkflowError
from ruvon.runtime.attempts import CallResult, call_with_retries
from ruvon.runtime.cursor import own_frame
from ruvon.runtime.merge import merge_result, record_item, storable
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.status import WorkflowStatus as S
from ruvon.steps.decision import condition_names, evaluator

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

PARALLEL = "parallel"


@dataclass(frozen=True, slots=True)
class Job:
    """One task to run: which compiled task, its name in the scope, and a fan-out's item."""

    task: CompiledStep
    name: str
    item: Any = None
    index: int | None = None


def _jobs(wf: Workflow, step: CompiledStep, par: CompiledParallel) -> list[Job]:
    if par.fan_out is None:
        return [Job(task, task.name) for task in par.tasks]
    items = evaluator(wf).evaluate(par.fan_out, condition_names(wf.state))
    if not isinstance(items, list | tuple):
        raise StepResultError(
            f"iterate_over {par.fan_out!r} of PARALLEL step '{step.name}' gave "
            f"{type(items).__name__}, not a list",
            step=step.name,
        )
    return [Job(par.tasks[0], str(i), item, i) for i, item in enumerate(items)]


def task_scope(scope: str, name: str) -> str:
    """The scope path of the task ``name`` of the PARALLEL step at ``scope``: its segment
    escaped like any (a ``/`` or ``%`` in a task's name is not a path separator)."""
    return f"{scope}/{ScopePath((f'task:{name}',))}"


def _finished(wf: Workflow, scope: str, start_seq: int) -> dict[str, dict[str, Any]]:
    """The results of the tasks that completed in this run of the step, by task name."""
    prefix = f"{scope}/task:"
    done: dict[str, dict[str, Any]] = {}
    for record in wf.history[start_seq:]:
        if record.status is StepStatus.COMPLETED and record.scope.startswith(prefix):
            segment = ScopePath.parse(record.scope[len(scope) + 1 :]).segments[0]
            done[segment.partition(":")[2]] = record.result or {}
    return done


def _task_result(job: Job, call: CallResult) -> dict[str, Any]:
    """A finished task's result as JSON data; raises if it is not a dict that can be stored."""
    if call.directive is not None:
        raise StepResultError(
            f"task '{job.name}' raised {type(call.directive).__name__}; a parallel task can "
            "not jump, pause or start a workflow",
            step=job.task.name,
        )
    value = {} if call.value is None else call.value
    if not isinstance(value, dict):
        raise StepResultError(
            f"task '{job.name}' returned {type(value).__name__}; a task must return a dict",
            step=job.task.name,
        )
    try:
        data: dict[str, Any] = storable(value)
    except ValueError as exc:
        raise StepResultError(
            f"task '{job.name}' returned a value that can not be stored as JSON: {exc}",
            step=job.task.name,
        ) from exc
    return data


def combine(
    results: list[tuple[str, dict[str, Any]]], strategy: MergeStrategy, conflict: MergeConflict
) -> dict[str, Any]:
    """The tasks' results merged into one dict, in task order."""
    merged: dict[str, Any] = {}
    owner: dict[tuple[str, ...], str] = {}
    for name, result in results:
        _merge_into(merged, owner, result, name, strategy, conflict, ())
    return merged


def _owner(owner: dict[tuple[str, ...], str], path: tuple[str, ...]) -> str:
    """The task whose value is at ``path``: the one that set it there, or the one that set
    the nearest dict above it (a nested value came with its parent's dict)."""
    while path:
        if path in owner:
            return owner[path]
        path = path[:-1]
    return "?"


def _merge_into(
    target: dict[str, Any],
    owner: dict[tuple[str, ...], str],
    source: dict[str, Any],
    name: str,
    strategy: MergeStrategy,
    conflict: MergeConflict,
    path: tuple[str, ...],
) -> None:
    for key, value in source.items():
        where = (*path, key)
        if key not in target:
            target[key], owner[where] = value, name
            continue
        old = target[key]
        if strategy is MergeStrategy.DEEP and isinstance(old, dict) and isinstance(value, dict):
            nested = dict(old)
            _merge_into(nested, owner, value, name, strategy, conflict, where)
            target[key] = nested
            continue
        if old == value:
            continue
        if conflict is MergeConflict.RAISE_ERROR:
            raise StepResultError(
                f"tasks '{_owner(owner, where)}' and '{name}' both returned "
                f"'{'.'.join(where)}' ({old!r} and {value!r}); merge_conflict_behavior is "
                "RAISE_ERROR"
            )
        if conflict is MergeConflict.PREFER_NEW:
            target[key], owner[where] = value, name


class ParallelStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        par: CompiledParallel = step.compiled
        frame = own_frame(wf, where.depth, PARALLEL, where.scope)
        started = wf.clock()
        jobs = _jobs(wf, step, par)
        done = _finished(wf, where.scope, frame["start_seq"])
        todo = [job for job in jobs if job.name not in done]
        failures: dict[str, WorkflowError] = {}
        runner = _Run(wf, par, where, failures)
        timeout = step.spec.timeout_seconds
        runner.deadline = None if timeout is None else wf.clock() + timeout
        try:
            await asyncio.wait_for(runner.all(todo), timeout)
        except (TimeoutError, _DeadlinePassed):
            runner.closed = True
            raise StepTimeoutError(
                f"PARALLEL step '{step.name}' timed out after {step.spec.timeout_seconds}s "
                f"({len(_finished(wf, where.scope, frame['start_seq']))} of {len(jobs)} tasks "
                "finished)",
                step=step.name,
            ) from None
        if failures and not par.allow_partial_success:
            first, error = next(iter(failures.items()))
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise StepResultError(
                f"task '{first}' of PARALLEL step '{step.name}' failed{more}: "
                f"{error.type}: {error.message}",
                step=step.name,
            )
        finished = _finished(wf, where.scope, frame["start_seq"])
        results = [(job.name, finished[job.name]) for job in jobs if job.name in finished]
        if par.merge_function is not None:
            value = par.merge_function(dict(results), wf.state)
        else:
            value = combine(results, par.strategy, par.conflict)
        del wf.frames[where.depth :]
        merged = merge_result(wf.state, value or None, step.name)
        if failures:
            merged.result = {**(merged.result or {}), "failed_tasks": list(failures)}
        return StepOutcome(
            kind=OutcomeKind.COMPLETED, merged=merged, started_at=started, ended_at=wf.clock()
        )


class _DeadlinePassed(BaseException):
    """Raised instead of starting a task's attempt after the step's deadline. Not an
    ``Exception``: the attempt is neither retried nor recorded; the step times out."""


class _Run:
    """Runs the jobs of one PARALLEL step, committing each as it finishes.

    ``asyncio.wait_for`` cancels what waits on the event loop at the deadline: async tasks,
    retry delays, threads being waited for. A blocking task run on the loop itself (by
    ``SyncExecutor``) can not be interrupted, so the deadline is also checked where the loop
    gets control back: before each task and each attempt (none starts after it), and when a
    task ends (one that ends after it is dropped: ``late``). Either way the step times out,
    and no task that ended after the deadline is recorded or merged."""

    def __init__(
        self,
        wf: Workflow,
        par: CompiledParallel,
        where: Where,
        failures: dict[str, WorkflowError],
    ) -> None:
        self.wf, self.par, self.where, self.failures = wf, par, where, failures
        self.lock = asyncio.Lock()  # one commit at a time
        self.closed = False  # the step timed out: late finishers record nothing
        self.deadline: float | None = None  # on ``wf.clock``, when the step has a timeout
        self.late = False  # a task ended after the deadline: the step times out
        self.sequential = not getattr(wf.executor, "runs_in_parallel", False)

    def expired(self) -> bool:
        return self.deadline is not None and self.wf.clock() > self.deadline

    async def all(self, jobs: list[Job]) -> None:
        if self.sequential:
            for job in jobs:  # SyncExecutor: one after another
                if self.late or self.expired():
                    raise TimeoutError
                await self.one(job)
            if self.late:
                raise TimeoutError
            return
        limit = self.par.batch_size or len(jobs) or 1
        slots = asyncio.Semaphore(limit)

        escaped: list[BaseException] = []

        async def bounded(job: Job) -> None:
            try:
                async with slots:
                    await self.one(job)
            except (KeyboardInterrupt, SystemExit) as exc:
                # asyncio would stop the event loop on these when a gathered task raises them:
                # they come out of next_step() instead, as with tasks run one after another
                escaped.append(exc)

        await asyncio.gather(*(bounded(job) for job in jobs))
        if escaped:
            raise escaped[0]
        if self.late:  # the deadline passed as the last task ended, before the timer fired
            raise TimeoutError

    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, refusing to start once the deadline has passed (a blocking attempt
        run on the event loop keeps the timer from cancelling the retries after it)."""

        def check() -> None:
            if self.closed or self.expired():
                raise _DeadlinePassed

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                check()
                return await function(*args, **kwargs)

            return guarded_async

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            check()
            return function(*args, **kwargs)

        return guarded

    async def one(self, job: Job) -> None:
        wf, task = self.wf, job.task
        scope = task_scope(self.where.scope, job.name)
        user_input = {}
        if job.index is not None and self.par.passes_item:
            user_input[self.par.item_var_name] = job.item
        item = None if job.index is None else record_item(job.item)
        assert task.function is not None
        function = task.function
        if self.sequential and self.deadline is not None:
            function = self._guarded(function)
        call = await call_with_retries(
            wf,
            task,
            function,
            task.is_async,
            user_input,
            where=Where(scope, item=item, index=job.index, depth=self.where.depth + 1),
            state=wf.state.model_copy(deep=True),
        )
        if self.closed:
            return
        if self.expired():  # ended after the deadline: its outcome is not used
            self.late = True
            return
        async with self.lock:
            try:
                result = None if call.error is not None else _task_result(job, call)
            except StepResultError as exc:
                call.error = exc
            if call.error is not None:
                error = WorkflowError.from_exception(call.error, task.name)
                self.failures[job.name] = error
                wf.record_attempt(
                    task, call, StepStatus.FAILED, error=error, scope=scope, item=item
                )
            else:
                wf.record_attempt(
                    task, call, StepStatus.COMPLETED, result=result, scope=scope, item=item
                )
            await wf.commit(S.ACTIVE)  # this task's outcome is durable
