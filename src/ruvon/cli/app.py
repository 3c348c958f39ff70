"""The ``ruvon`` Typer application and its groups; the commands register themselves on it.

A command module adds its commands with ``@app.command()`` (or :func:`workflow_command`, which
also puts it under ``ruvon workflow ...``, the spelling of the Ruvon docs), and
``ruvon.cli`` imports the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ruvon.cli.common import Settings

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="ruvon",
    help="Ruvon workflow engine: start, inspect and steer workflows.\n\n"
    "Exit codes: 0 ok, 1 failed, 2 usage, 3 database, 4 not found.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True, rich_markup_mode=None)
workflow_app = typer.Typer(
    help="The workflow commands again (list, start, show, logs, resume, approve, reject, "
    "retry, cancel), as the Ruvon docs spell them: ruvon workflow list.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.add_typer(workflow_app, name="workflow")


def workflow_command(name: str) -> Callable[[F], F]:
    """Register a command as ``ruvon NAME`` and as ``ruvon workflow NAME``."""

    def register(function: F) -> F:
        app.command(name)(function)
        workflow_app.command(name)(function)
        return function

    return register


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"ruvon {version('ruvon')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            typer.echo("ruvon (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="RUVON_DEBUG", help="Print the traceback of an error too"),
    ] = False,
) -> None:
    """Ruvon workflow engine: start, inspect and steer workflows.

    Exit codes: 0 ok, 1 failed, 2 usage, 3 database, 4 not found.
    """
    Settings.debug = debug
