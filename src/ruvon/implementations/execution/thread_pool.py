"""Run blocking step functions and parallel tasks on threads, keeping the event loop free."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
from typing import Any

from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.providers.execution import StepCall


class ThreadPoolExecutor:
    """Calls ``def`` functions on a pool of ``max_workers`` threads and awaits ``async def``
    ones on the event loop (with their ``timeout_seconds``).

    A PARALLEL step's tasks then run side by side: blocking tasks on threads, async ones
    concurrently on the loop. A running thread can not be interrupted, so a synchronous function
    can not have a timeout (refused at load); the pool is created on first use and shut down by
    :meth:`close`.
    """

    runs_in_parallel = True

    def __init__(self, max_workers: int = 10) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self.max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._awaiting = SyncExecutor()

    def _threads(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="ruvon-step"
            )
        return self._pool

    async def execute(self, call: StepCall) -> Any:
        if call.is_async:
            return await self._awaiting.execute(call)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # the step sees the caller's context variables
        run = functools.partial(
            context.run, call.function, call.state, call.context, **call.user_input
        )
        outcome = await loop.run_in_executor(self._threads(), _caught, run)
        if isinstance(outcome, _Escaped):  # raised here, as SyncExecutor would let it escape
            raise outcome.exc
        if inspect.isawaitable(outcome):  # a def returning a coroutine: await it here
            return await outcome
        return outcome

    async def initialize(self) -> None:
        return None

    async def close(self) -> None:
        """Wait for running functions and stop the threads (a new call starts them again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown, True)


class _Escaped:
    """A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``)
    raised on a thread: handed back, so the event loop does not stop on it, and raised again in
    the awaiting task, where ``SyncExecutor`` would have let it escape too."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _caught(run: Any) -> Any:
    try:
        return run()
    except Exception:
        raise
    except BaseException as exc:
        return _Escaped(exc)


# names other Ruvon material uses (the docs, and ruvon-sdk 0.1.5)
ThreadPoolExecutionProvider = ThreadPoolExecutor
ThreadPoolExecutorProvider = ThreadPoolExecutor
