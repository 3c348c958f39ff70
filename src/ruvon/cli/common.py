"""What every ``ruvon`` command shares: its options, exit codes, one-line errors, the store.

Exit codes: 0 ok; 1 failed (the workflow failed, the operation is not allowed now, the
definitions are broken); 2 usage (a bad option, argument or input value); 3 database (it can
not be reached, opened or read); 4 not found (no such workflow, no such workflow type).
An error is one line on stderr, ``error: <what> — <hint>``; ``ruvon --debug`` adds the
traceback.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from ruvon.builder import DEFAULT_DATABASE_URL
from ruvon.cli.render import json_text, printable
from ruvon.errors import (
    ConcurrentModificationError,
    DefinitionError,
    IdempotencyConflictError,
    IllegalOperationError,
    PersistenceError,
    RuvonError,
    SchemaVersionError,
    UnknownWorkflowTypeError,
    WorkflowNotFoundError,
    WorkflowValidationError,
)

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.providers.persistence import PersistenceProvider

T = TypeVar("T")


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    DATABASE = 3
    NOT_FOUND = 4


class CliError(Exception):
    """An error the command reports as one line and an exit code."""

    def __init__(self, message: str, *, hint: str | None = None, code: ExitCode) -> None:
        self.message, self.hint, self.code = message, hint, code
        super().__init__(message)


def usage(message: str, hint: str | None = None) -> CliError:
    return CliError(message, hint=hint, code=ExitCode.USAGE)


def abort(error: CliError) -> NoReturn:
    """Report ``error`` and exit with its code (outside :func:`run`)."""
    say_error(error.message, error.hint)
    raise typer.Exit(error.code)


# --- options every command takes ----------------------------------------------------------------

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        "--db-url",
        envvar=["RUVON_DATABASE_URL", "RUVON_DB_URL"],
        help="Database URL: sqlite:///FILE, postgresql://..., memory://",
        show_envvar=True,
    ),
]
DEFAULT_DB = DEFAULT_DATABASE_URL
ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        envvar="RUVON_CONFIG_DIR",
        help="Where the workflow definitions are [default: ./config]",
        show_envvar=True,
    ),
]
AppDirOption = Annotated[
    Path,
    typer.Option(
        "--app-dir",
        help="Directory step functions and models are imported from (must exist)",
        exists=True,
        file_okay=False,
        dir_okay=True,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]


# bounds of the numeric options (a value beyond them is a usage error, exit code 2)
MAX_ROWS = 1_000_000  # --limit: rows listed, log lines, workflows recovered
MAX_SECONDS = 86_400.0  # durations: a lease, a pause, a grace period
MAX_JSON_DEPTH = 64  # how deep --data and --input may nest (the object itself is level 1)


def finite(value: float | None) -> float | None:
    """Refuse ``nan`` (click's range check lets it through) for a duration option."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds")
    return value


class Settings:
    """The root options (``ruvon --debug ...``)."""

    debug = False


# --- errors -------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return printable(" ".join(str(text).split()))


def say_error(message: str, hint: str | None = None) -> None:
    line = f"error: {_one_line(message)}"
    if hint:
        line += f" — {_one_line(hint)}"
    typer.secho(line, fg=typer.colors.RED, err=True)


def _classify(exc: RuvonError) -> CliError:
    """The exit code and hint of an error the library raised."""
    message = str(exc)
    if isinstance(exc, WorkflowNotFoundError):
        return CliError(message, hint="'ruvon list' shows the workflows", code=ExitCode.NOT_FOUND)
    if isinstance(exc, UnknownWorkflowTypeError):
        return CliError(exc.detail, hint="set --config-dir", code=ExitCode.NOT_FOUND)
    if isinstance(exc, DefinitionError):
        hint = "'ruvon validate' lists every problem"
        return CliError(message, hint=hint, code=ExitCode.FAILED)
    if isinstance(exc, WorkflowValidationError):
        return CliError(message, code=ExitCode.USAGE)
    if isinstance(exc, ConcurrentModificationError):
        hint = "another runner is advancing it: try again when it is done"
        return CliError(message, hint=hint, code=ExitCode.FAILED)
    if isinstance(exc, PersistenceError):
        return CliError(message, code=ExitCode.DATABASE)
    if isinstance(exc, IdempotencyConflictError):
        hint = "a key stands for the one workflow it started: give another --idempotency-key"
        return CliError(message, hint=hint, code=ExitCode.FAILED)
    if isinstance(exc, IllegalOperationError):
        return CliError(
            message, hint="'ruvon show ID' says what it waits for", code=ExitCode.FAILED
        )
    return CliError(message, code=ExitCode.FAILED)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine; report what goes wrong as one line and exit with its code."""
    cause: BaseException
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except CliError as exc:
        failure, cause = exc, exc
    except RuvonError as exc:
        failure, cause = _classify(exc), exc
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as exc:  # a bug, or something the library did not wrap
        if Settings.debug:
            raise
        say_error(
            f"unexpected {type(exc).__name__}: {exc}", "run 'ruvon --debug ...' for the traceback"
        )
        raise typer.Exit(ExitCode.FAILED) from exc
    if Settings.debug:
        traceback.print_exception(cause, file=sys.stderr)
    say_error(failure.message, failure.hint)
    raise typer.Exit(failure.code) from failure


# --- input --------------------------------------------------------------------------------------


def json_object(text: str | None, file: Path | None, what: str) -> dict[str, Any] | None:
    """A JSON object given inline (``'{"a": 1}'``), as ``@file``, or with ``--...-file``:
    UTF-8 text, nested at most :data:`MAX_JSON_DEPTH` levels deep."""
    if text is not None and file is not None:
        raise usage(f"give {what} inline or as a file, not both")
    source = what
    if text is not None and text.startswith("@"):
        file = Path(text[1:])
    if file is not None:
        source = f"{what} file '{file}'"
        text = _read(file, source)
    if text is None:
        return None
    if not is_utf8(text):
        raise usage(f"{source} is not UTF-8 text", "give it as UTF-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise usage(f"{source} is not JSON: {exc}", 'write it as \'{"field": "value"}\'') from exc
    except RecursionError:  # nested thousands deep
        raise usage(f"{source} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise usage(f"{source} is nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(value, dict):
        raise usage(f"{source} must be a JSON object, not {type(value).__name__}")
    return value


def _read(file: Path, source: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise usage(f"can not read {source}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise usage(
            f"{source} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            "save it as UTF-8",
        ) from exc


def _depth(value: Any) -> int:
    """How deep a JSON value nests (a scalar: 0, ``{}``: 1), stopping past the limit."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: a command-line argument that was not UTF-8
    holds lone surrogates (``\\udcff``), which no store can keep."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_option(value: str | None, option: str) -> str | None:
    """An option's text that the store keeps (a reason, a key): UTF-8, or a usage error."""
    if value is not None and not is_utf8(value):
        raise usage(f"{option} '{value}' is not UTF-8 text")
    return value


def known_id(workflow_id: str) -> str:
    """``workflow_id``, or ``WorkflowNotFoundError`` for one no store can hold (not UTF-8:
    PostgreSQL would refuse the query with a database error)."""
    if not is_utf8(workflow_id):
        raise WorkflowNotFoundError(workflow_id)
    return workflow_id


def import_from(app_dir: Path) -> None:
    """Let definitions import step functions and models from ``app_dir``."""
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)


# --- the store and the builder ------------------------------------------------------------------


def sqlite_path(url: str) -> str:
    """The file a ``sqlite:`` URL names; a URL without a path is an error (exit code 3): the
    library takes it for a database in memory, which a command would print as an empty store
    (``sqlite:///$UNSET_VARIABLE``)."""
    from urllib.parse import urlsplit

    from ruvon.implementations.persistence.sqlite import parse_sqlite_url

    if urlsplit(url).path in ("", "/"):
        raise CliError(
            f"the SQLite URL '{url}' names no file",
            hint="write sqlite:///FILE (sqlite:///:memory: for a database in memory); check "
            "--db or $RUVON_DATABASE_URL",
            code=ExitCode.DATABASE,
        )
    return parse_sqlite_url(url)[0]


@asynccontextmanager
async def opened_store(
    url: str, *, must_exist: bool = True, migrate: bool = True
) -> AsyncIterator[PersistenceProvider]:
    """The store at ``url``, initialized, closed on the way out.

    ``must_exist``: a SQLite file that is not there is an error (a typo'd path must not
    become a new, empty database). ``migrate=False`` leaves the schema alone, on SQLite and
    on PostgreSQL (read commands): one that is not up to date, or none at all, is an error
    naming ``ruvon db migrate``.
    """
    from ruvon.implementations.persistence import store_from_url

    scheme = url.split(":", 1)[0].lower()
    store: PersistenceProvider
    if scheme == "sqlite":
        from ruvon.implementations.persistence.sqlite import MEMORY, SQLitePersistenceProvider

        path = sqlite_path(url)
        if must_exist and path != MEMORY and not Path(path).is_file():
            default = " (the default)" if url == DEFAULT_DB else ""
            raise CliError(
                f"no SQLite database at '{Path(path).resolve()}'{default}",
                hint="check --db or $RUVON_DATABASE_URL; 'ruvon db migrate --db URL' creates one",
                code=ExitCode.DATABASE,
            )
        store = SQLitePersistenceProvider(url, auto_init=migrate or path == MEMORY)
    elif scheme in ("postgresql", "postgres"):
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        store = PostgresPersistenceProvider(
            url, min_size=1, max_size=4, connect_timeout=10.0, auto_init=migrate
        )
    else:
        store = store_from_url(url)
    try:
        await store.initialize()
    except SchemaVersionError as exc:
        raise _schema_error(store, url, exc) from exc
    try:
        yield store
    finally:
        await store.close()


def _schema_error(store: PersistenceProvider, url: str, exc: SchemaVersionError) -> CliError:
    """What a read command says of a schema it leaves alone: the database, and the command
    that would create or upgrade it."""
    from ruvon.implementations.persistence.postgres import redact

    where = getattr(store, "where", "the database")
    shown = url if url.lower().startswith("sqlite:") else redact(url)  # a password hidden
    migrate = f"ruvon db migrate --db {shown}"
    if exc.found == 0:
        message = f"{where} has no Ruvon schema"
        hint = f"check --db; '{migrate}' creates it (a read command leaves the database as it is)"
    elif exc.found < exc.needed:
        message = f"{where} has schema version {exc.found}; this Ruvon needs {exc.needed}"
        hint = f"'{migrate}' upgrades it (a read command leaves the database as it is)"
    else:
        message = f"{where} has schema version {exc.found}, newer than this Ruvon's {exc.needed}"
        hint = "upgrade Ruvon"
    return CliError(message, hint=hint, code=ExitCode.DATABASE)


def make_builder(
    config_dir: Path | None, store: PersistenceProvider, **options: Any
) -> WorkflowBuilder:
    from ruvon.builder import WorkflowBuilder

    if config_dir is not None and not config_dir.exists():
        raise usage(
            f"--config-dir '{config_dir}' does not exist",
            "point it at the directory that holds your workflow YAML files",
        )
    return WorkflowBuilder(config_dir=config_dir, persistence_provider=store, **options)


def exit_for(status: str) -> None:
    """Exit 1 when a workflow an operation drove ended failed or cancelled."""
    from ruvon.status import WorkflowStatus as S

    if status in (
        S.FAILED,
        S.FAILED_ROLLED_BACK,
        S.COMPENSATION_FAILED,
        S.FAILED_CHILD_WORKFLOW,
        S.CANCELLED,
    ):
        raise typer.Exit(ExitCode.FAILED)


def print_json(value: Any) -> None:
    typer.echo(json_text(value, indent=2))
