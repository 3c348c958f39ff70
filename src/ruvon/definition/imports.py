"""Importing the Python objects a definition names by dotted path."""

from __future__ import annotations

import builtins
import importlib
import inspect
from collections.abc import Callable
from typing import Any


class ImportFailure(Exception):
    """Internal: the dotted path did not resolve; the message says why."""


def import_object(path: str) -> Any:
    """Import ``package.module.attr`` and return ``attr``."""
    module_path, _, attr = path.rpartition(".")
    if not module_path or not attr:
        raise ImportFailure(f"'{path}' is not a dotted path of the form 'package.module.name'")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise ImportFailure(f"can not import module '{module_path}': {exc}") from exc
    except Exception as exc:  # the user's module raised while importing
        raise ImportFailure(
            f"importing module '{module_path}' raised {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportFailure(f"module '{module_path}' has no attribute '{attr}'") from None


def import_step_function(path: str, keywords: tuple[str, ...] = ()) -> Callable[..., Any]:
    """Import a step or compensation function and check it accepts ``(state, context, **input)``.

    ``keywords`` are always passed to it (a loop body step's item): a parameter among them
    needs no default."""
    func = import_object(path)
    if not callable(func):
        raise ImportFailure(f"'{path}' is not callable")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return func  # type: ignore[no-any-return]  # builtins without a signature
    params = sig.parameters
    names = list(params)
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params.values())
    if not has_varargs and ("state" not in params or "context" not in params):
        raise ImportFailure(
            f"'{path}' must accept (state, context, **user_input); it takes ({', '.join(names)})"
        )
    try:
        sig.bind(None, None, **{k: None for k in keywords if k in params})
    except TypeError as exc:
        raise ImportFailure(f"'{path}' can not be called with (state, context): {exc}") from exc
    return func  # type: ignore[no-any-return]


def is_async_callable(func: Any) -> bool:
    """Whether calling ``func`` returns a coroutine: an ``async def`` function, a partial of one,
    or an object whose ``__call__`` is ``async def``."""
    if func is None:
        return False
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(type(func), "__call__", None)  # noqa: B004 - the class's own __call__
    return not inspect.isfunction(func) and inspect.iscoroutinefunction(call)


def resolve_exception(name: str) -> type[BaseException] | str:
    """Resolve a ``retry_on`` entry: builtin or dotted exception class, else a bare name."""
    if "." in name:
        obj = import_object(name)
        if not (isinstance(obj, type) and issubclass(obj, BaseException)):
            raise ImportFailure(f"'{name}' is not an exception class")
        return obj
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, BaseException):
        return builtin
    return name
