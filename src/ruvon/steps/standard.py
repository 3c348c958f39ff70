"""``STANDARD``: call the step's function, merge what it returns."""

from __future__ import annotations

from ruvon.steps.base import run_function_step


class StandardStep:
    """The plain step: ``function(state, context, **user_input) -> dict``."""

    # the shared function-step path itself: one coroutine less per step
    run = staticmethod(run_function_step)
