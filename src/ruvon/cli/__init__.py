"""The ``ruvon`` command line (``ruvon --help``; docs/cli.md).

One module per group of commands; each registers its commands on :data:`app` when imported
below. Errors are one line on stderr and an exit code (:mod:`ruvon.cli.common`).
"""

from __future__ import annotations

import sys

import typer

# the command modules: importing one registers its commands on ``app``
from ruvon.cli import db as db
from ruvon.cli import definitions as definitions
from ruvon.cli import listing as listing
from ruvon.cli import operate as operate
from ruvon.cli import recover as recover
from ruvon.cli import running as running
from ruvon.cli import scheduler as scheduler
from ruvon.cli import serve as serve
from ruvon.cli import show as show
from ruvon.cli.app import app
from ruvon.cli.common import ExitCode, say_error

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: a usage error is one line too, exit code 2."""
    try:
        code = app(args=argv, prog_name="ruvon", standalone_mode=False)
    except typer.TyperException as exc:  # a usage error (exit code 2), or another of click's
        context = getattr(exc, "ctx", None)
        hint = f"see '{context.command_path} --help'" if context is not None else None
        say_error(exc.format_message(), hint)
        sys.exit(getattr(exc, "exit_code", ExitCode.USAGE))
    except (typer.Abort, KeyboardInterrupt):
        say_error("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)
