"""The dashboard's ASGI application: ``create_app(settings)``, served by ``ruvon serve``.

It opens the store named by the settings on startup and closes it on shutdown; a store (and a
builder) given to :func:`create_app` instead is used as it is and left open (tests, embedding).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ruvon import __version__
from ruvon.builder import WorkflowBuilder
from ruvon.dashboard import api, pages, security
from ruvon.dashboard.service import Dashboard
from ruvon.errors import RuvonError
from ruvon.providers.persistence import PersistenceProvider

DESCRIPTION = """Workflows in one Ruvon store: list them (filtered by status and type, with
counts), read one (state, step timeline, compensation journal, what it waits for) and act on it
(resume, approve or reject a compensation, retry, cancel). With `ruvon serve --token T`, send
`Authorization: Bearer T`; POST bodies are JSON."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardSettings:
    """What ``ruvon serve`` was started with. ``token`` is stripped of the whitespace around
    it; a blank one, or one shorter than ``MIN_TOKEN_LENGTH`` (16), is a ``ValueError``."""

    db_url: str = "sqlite:///ruvon.db"
    config_dir: str | None = None
    token: str | None = None
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", security.checked_token(self.token))


def shown_url(url: str) -> str:
    """The database URL without its password, for the page header."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def prometheus() -> ModuleType | None:
    """``ruvon.implementations.observability.prometheus`` when it and ``prometheus_client``
    are installed (the ``metrics`` extra): then ``/metrics`` answers its ``metrics_text()``."""
    try:
        module = importlib.import_module("ruvon.implementations.observability.prometheus")
    except ImportError:
        return None
    return module if callable(getattr(module, "metrics_text", None)) else None


def _known_types(builder: WorkflowBuilder) -> Callable[[], list[str]]:
    """The workflow types the config directory defines (for the type filter), read once."""

    @functools.cache
    def known() -> list[str]:
        try:
            return sorted(builder.registry.types())
        except RuvonError:  # a broken definition must not take the list page down
            return []

    return known


def create_app(
    settings: DashboardSettings | None = None,
    *,
    store: PersistenceProvider | None = None,
    builder: WorkflowBuilder | None = None,
) -> FastAPI:
    """The dashboard over ``settings.db_url`` (or over ``store``)."""
    settings = settings or DashboardSettings()
    owned = store is None
    if store is None:
        from ruvon.implementations.persistence import store_from_url

        store = store_from_url(settings.db_url)
    metrics = prometheus()
    if builder is None:
        builder = WorkflowBuilder(
            config_dir=settings.config_dir,
            persistence_provider=store,
            # what the dashboard's actions run is counted in what /metrics shows
            workflow_observer=metrics.PrometheusObserver() if metrics else None,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.initialize()
        try:
            yield
        finally:
            if owned:
                await store.close()

    app = FastAPI(
        title="Ruvon dashboard",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN: not on a dashboard
        redoc_url=None,
    )
    policy = security.Policy(token=settings.token, bound_host=settings.host)
    app.state.dashboard = Dashboard(store, builder)
    app.state.policy = policy
    app.state.store_name = shown_url(settings.db_url) if owned else type(store).__name__
    app.state.known_types = _known_types(builder)
    app.add_middleware(security.GuardMiddleware, policy=policy, login_page=pages.login_page)
    app.include_router(api.router)
    app.include_router(pages.router)
    static = resources.files("ruvon.dashboard").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    if metrics is not None:
        media_type = getattr(metrics, "CONTENT_TYPE", "text/plain; version=0.0.4")

        @app.get("/metrics", include_in_schema=False)
        async def metrics_page() -> Response:
            return Response(metrics.metrics_text(), media_type=media_type)

    return app
