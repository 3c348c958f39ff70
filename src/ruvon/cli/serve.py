"""``ruvon serve``: the web dashboard and JSON API over one store (``ruvon.dashboard``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ruvon.cli.app import app
from ruvon.cli.common import (
    DEFAULT_DB,
    AppDirOption,
    CliError,
    ConfigDirOption,
    DbOption,
    ExitCode,
    abort,
    import_from,
    opened_store,
    run,
    usage,
)


async def _check_store(db: str) -> None:
    """Refuse a SQLite file that is not there (a typo would serve a new, empty database) and
    a database that can not be opened, before the server starts."""
    async with opened_store(db, must_exist=True):
        pass


def _check_port(host: str, port: int) -> None:
    """Refuse an address the server could not listen on (a port in use) before it starts, as
    one line: uvicorn would log its startup and shutdown around the error, then exit with code
    3, which is the database's. Binds as asyncio's server does (every address of ``host``)."""
    import errno
    import socket

    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            abort(
                CliError(
                    f"port {port} is in use on {host}",
                    hint="stop what listens there, or choose another --port",
                    code=ExitCode.FAILED,
                )
            )
        abort(
            CliError(
                f"can not listen on {host} port {port}: {exc.strerror or exc}",
                hint="check --host and --port",
                code=ExitCode.FAILED,
            )
        )


@app.command("serve")
def serve(
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than localhost needs --token")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="RUVON_DASHBOARD_TOKEN",
            show_envvar=True,
            help="Require this token: 'Authorization: Bearer TOKEN', or the login page",
        ),
    ] = None,
) -> None:
    """Serve the dashboard: workflows with filters and counts, one workflow's timeline,
    state, compensation journal and pending input, and the actions (resume, approve, reject,
    retry, cancel). JSON API under /api, described at /openapi.json. See docs/dashboard.md."""
    try:
        import uvicorn

        from ruvon.dashboard import DashboardSettings, create_app
        from ruvon.dashboard.security import checked_token, is_loopback
    except ImportError as exc:
        abort(
            CliError(
                f"ruvon serve needs the dashboard extra ({exc.name} is not installed)",
                hint="pip install 'ruvon[dashboard]'",
                code=ExitCode.FAILED,
            )
        )
    try:
        token = checked_token(token)
    except ValueError as exc:
        abort(
            usage(
                f"--token (or $RUVON_DASHBOARD_TOKEN) refused: {exc}",
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'",
            )
        )
    if not is_loopback(host) and not token:
        abort(
            usage(
                f"--host {host} lets other machines in",
                "give --token (or $RUVON_DASHBOARD_TOKEN) to bind there",
            )
        )
    if config_dir is not None and not config_dir.is_dir():
        abort(usage(f"--config-dir '{config_dir}' is not a directory"))
    run(lambda: _check_store(db))
    _check_port(host, port)
    import_from(app_dir)
    settings = DashboardSettings(
        db_url=db, config_dir=str(config_dir) if config_dir else None, token=token, host=host
    )
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"Ruvon dashboard on http://{shown}:{port}/ (Ctrl+C stops it)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
