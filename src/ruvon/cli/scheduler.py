"""``ruvon scheduler``: start workflows on their schedules."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from ruvon.cli.app import app
from ruvon.cli.common import (
    DEFAULT_DB,
    MAX_SECONDS,
    AppDirOption,
    ConfigDirOption,
    DbOption,
    finite,
    import_from,
    make_builder,
    opened_store,
    run,
)


@app.command("scheduler")
def scheduler(
    db: DbOption = DEFAULT_DB,
    config_dir: ConfigDirOption = None,
    app_dir: AppDirOption = Path("."),
    interval: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=MAX_SECONDS,
            callback=finite,
            help="Seconds between two passes over the schedules",
        ),
    ] = 1.0,
    grace: Annotated[
        float,
        typer.Option(
            min=0,
            max=MAX_SECONDS,
            callback=finite,
            help="Seconds to let started workflows finish when stopped",
        ),
    ] = 10.0,
) -> None:
    """Start workflows on their schedules until SIGTERM or SIGINT.

    Any number of schedulers may share one database: each tick starts one workflow. Only the
    latest of several missed ticks runs.
    """
    import_from(app_dir)
    from ruvon.scheduler import Scheduler

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ruvon.scheduler").setLevel(logging.INFO)

    async def main() -> str:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with opened_store(db, must_exist=False) as store:
            builder = make_builder(config_dir, store)
            runner = Scheduler(builder, store, interval=interval, grace=grace)
            typer.echo(
                f"scheduler {runner.name}: {len(builder.registry.types())} workflow type(s), "
                f"a pass every {interval:g}s"
            )
            await runner.run(stop)
        return runner.name

    typer.echo(f"scheduler {run(main)} stopped")
