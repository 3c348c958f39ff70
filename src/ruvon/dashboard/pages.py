"""The dashboard's HTML pages: the list, one workflow, its action forms, and the login page.

Rendered on the server with Jinja2, autoescaping on: every value from a workflow (state,
results, errors, names) reaches the page as text, never as markup. A form POST carries the CSRF
token of its browser's cookie; after an action the browser is sent back to the workflow's page
(303), or the page is shown again with the problem and what was entered.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ruvon.dashboard import forms, security
from ruvon.dashboard.models import ACTIONS, Action, WorkflowDetail
from ruvon.dashboard.service import BadRequest, Dashboard, parse_status
from ruvon.errors import (
    ConcurrentModificationError,
    PersistenceError,
    RuvonError,
    WorkflowNotFoundError,
    WorkflowValidationError,
)

router = APIRouter(include_in_schema=False)

DONE = {
    "resume": "Resumed with the input.",
    "approve": "Compensation approved.",
    "reject": "Compensation rejected.",
    "retry": "Retried.",
    "cancel": "Cancelled.",
    "cancel-requested": "Cancellation requested: the runner that holds the workflow stops it "
    "at its next transition.",
}


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def _json(value: Any, compact: bool = False) -> str:
    if compact:
        return json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(value, ensure_ascii=False, default=str, indent=2)


@functools.cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ruvon.dashboard", "templates"),
        autoescape=True,  # every page is HTML: escape everything not marked safe
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(when=_when, ms=_ms, json=_json)
    return env


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the CSRF token its forms carry (and the cookie, the first time)."""
    csrf, new = security.csrf_token(request)
    state = request.app.state
    signed_in = bool(state.policy.token) and state.policy.authenticated(request)
    page = templates().get_template(name)
    html = page.render(csrf=csrf, signed_in=signed_in, store_name=state.store_name, **context)
    response = HTMLResponse(html, status_code=status_code)
    if new:
        security.set_csrf_cookie(response, csrf)
    return response


def error_page(request: Request, status_code: int, heading: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code, heading=heading, message=message)


def store_failed(request: Request, exc: PersistenceError) -> HTMLResponse:
    """The page for a store that failed (the API answers 503 too)."""
    return error_page(request, 503, "Database unavailable", str(exc))


async def login_page(request: Request, message: str | None = None) -> Response:
    return render(request, "login.html", 401, message=message)


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body as a dict (the first value of each name)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def _link(status: str | None, workflow_type: str | None, offset: int = 0) -> str:
    query = {k: v for k, v in (("status", status), ("type", workflow_type)) if v}
    if offset:
        query["offset"] = str(offset)
    return "/?" + urlencode(query) if query else "/"


@router.get("/", response_class=HTMLResponse)
async def list_page(request: Request) -> Response:
    params = request.query_params
    try:
        status = parse_status(params.get("status"))
        offset = int(params.get("offset") or 0)
        page = await _dashboard(request).page(
            status=status, workflow_type=params.get("type"), offset=offset
        )
    except (BadRequest, ValueError) as exc:
        return error_page(request, 400, "Bad filter", str(exc))
    except PersistenceError as exc:
        return store_failed(request, exc)
    return render(
        request,
        "list.html",
        page=page,
        all_count=sum(page.counts.values()),
        link=_link,
        known_types=request.app.state.known_types(),
    )


async def _detail_page(
    request: Request,
    workflow_id: str,
    *,
    status_code: int = 200,
    problem: str | None = None,
    entered: dict[str, str] | None = None,
) -> Response:
    try:
        wf = await _dashboard(request).detail(workflow_id)
    except WorkflowNotFoundError:
        return error_page(request, 404, "Not found", f"no workflow '{workflow_id}'")
    except PersistenceError as exc:
        return store_failed(request, exc)
    return render(
        request,
        "workflow.html",
        status_code,
        wf=wf,
        fields=forms.form_fields(input_schema(wf)),
        done=DONE.get(request.query_params.get("done", "")),
        problem=problem,
        entered=entered or {},
    )


def input_schema(wf: WorkflowDetail) -> dict[str, Any] | None:
    """The JSON schema of the input the workflow (or the child it waits for) takes."""
    wait = wf.waiting_for or {}
    while isinstance(wait.get("waiting"), dict):  # a parent: what its child waits for
        wait = wait["waiting"]
    schema = wait.get("input_schema")
    return schema if isinstance(schema, dict) else None


@router.get("/workflows/{workflow_id}", response_class=HTMLResponse)
async def workflow_page(request: Request, workflow_id: str) -> Response:
    return await _detail_page(request, workflow_id)


@router.post("/workflows/{workflow_id}/{action}")
async def action_form(request: Request, workflow_id: str, action: str) -> Response:
    if action not in ACTIONS:
        return error_page(request, 404, "Not found", f"no action '{action}'")
    form = await read_form(request)
    if not security.check_csrf(request, form):
        return error_page(
            request, 403, "Refused", "the form's CSRF token is missing or wrong: reload the page"
        )
    dashboard = _dashboard(request)
    act: Action = action
    try:
        user_input = None
        if act == "resume":
            detail = await dashboard.detail(workflow_id)
            user_input = forms.form_input(input_schema(detail), form)
        result = await dashboard.act(
            workflow_id,
            act,
            user_input=user_input,
            decided_by=form.get("decided_by") or "dashboard",
            reason=form.get("reason") or None,
        )
    except WorkflowNotFoundError:
        return error_page(request, 404, "Not found", f"no workflow '{workflow_id}'")
    except (WorkflowValidationError, forms.FormInputError) as exc:
        return await _detail_page(
            request, workflow_id, status_code=422, problem=str(exc), entered=form
        )
    except RuvonError as exc:
        if isinstance(exc, PersistenceError) and not isinstance(exc, ConcurrentModificationError):
            return store_failed(request, exc)
        return await _detail_page(request, workflow_id, status_code=409, problem=str(exc))
    done = "cancel-requested" if act == "cancel" and result.cancel_requested else act
    return RedirectResponse(f"/workflows/{workflow_id}?done={done}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    if not request.app.state.policy.token:
        return RedirectResponse("/", status_code=303)
    response = await login_page(request)
    response.status_code = 200
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    token = request.app.state.policy.token
    form = await read_form(request)
    if not token:
        return RedirectResponse("/", status_code=303)
    if not security.check_csrf(request, form):
        return await login_page(request, "the form expired: try again")
    if not security.same_secret(form.get("token", "").strip(), token):
        return await login_page(request, "wrong token")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        security.SESSION_COOKIE,
        security.session_value(token),
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    if not security.check_csrf(request, form):
        return error_page(request, 403, "Refused", "the form's CSRF token is missing or wrong")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response
