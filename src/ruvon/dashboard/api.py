"""The dashboard's JSON API under ``/api`` (described at ``/openapi.json``).

Errors answer ``{"detail": "..."}``: 400 a bad filter, 401 no token, 403 a cross-site request,
404 an unknown workflow, 409 an action its status does not allow (or another runner holds it),
415 a POST that is not JSON, 422 input its ``input_model`` refuses (or no store could keep),
503 the store failed (the database is down, say).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from ruvon.dashboard.models import (
    ActionResult,
    CancelRequest,
    DecisionRequest,
    Problem,
    ResumeRequest,
    WorkflowDetail,
    WorkflowList,
)
from ruvon.dashboard.service import MAX_OFFSET, MAX_PAGE_SIZE, PAGE_SIZE, BadRequest, Dashboard
from ruvon.errors import (
    ConcurrentModificationError,
    PersistenceError,
    RuvonError,
    WorkflowNotFoundError,
    WorkflowValidationError,
)
from ruvon.status import WorkflowStatus

LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "a filter or page value it does not accept"},
    401: {"model": Problem, "description": "no token, or a wrong one (with --token)"},
    503: {"model": Problem, "description": "the store failed (the database is unavailable)"},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    **LIST_ERRORS,
    404: {"model": Problem, "description": "no workflow has this id"},
}
ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {"model": Problem, "description": "a cross-site request"},
    409: {"model": Problem, "description": "its status does not allow it, or it is held"},
    415: {"model": Problem, "description": "the body is not application/json"},
    422: {"model": Problem, "description": "input the step's input_model refuses"},
}

router = APIRouter(prefix="/api", tags=["workflows"])


def _status_name(value: object) -> object:
    """``?status=`` in any case, as the list page and the CLI take it (empty: no filter)."""
    if isinstance(value, str):
        return value.strip().upper() or None
    return value


def _dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def problem(exc: Exception) -> JSONResponse:
    """The answer to an error of the store or of a Workflow method."""
    code = 409  # the status does not allow it, or the definition can not be loaded here
    if isinstance(exc, WorkflowNotFoundError):
        code = 404
    elif isinstance(exc, BadRequest):
        code = 400
    elif isinstance(exc, WorkflowValidationError):
        code = 422
    elif isinstance(exc, PersistenceError) and not isinstance(exc, ConcurrentModificationError):
        code = 503  # the database failed
    return JSONResponse({"detail": str(exc)}, status_code=code)


@router.get("/workflows", response_model=WorkflowList, responses=LIST_ERRORS)
async def list_workflows(
    request: Request,
    status: Annotated[
        WorkflowStatus | None,
        BeforeValidator(_status_name),
        Query(description="only this status (any case)"),
    ] = None,
    workflow_type: Annotated[str | None, Query(alias="type", description="only this type")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many (pages)")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> WorkflowList | JSONResponse:
    """Workflows, newest first, one page at a time, with the count of each status."""
    try:
        return await _dashboard(request).page(
            status=status, workflow_type=workflow_type, offset=offset, limit=limit
        )
    except (BadRequest, RuvonError) as exc:
        return problem(exc)


@router.get("/workflows/{workflow_id}", response_model=WorkflowDetail, responses=ERRORS)
async def get_workflow(request: Request, workflow_id: str) -> WorkflowDetail | JSONResponse:
    """One workflow: state, step timeline, compensation journal, status changes, what it
    waits for, the actions its status allows, and its definition as a Mermaid flowchart."""
    try:
        return await _dashboard(request).detail(workflow_id)
    except RuvonError as exc:
        return problem(exc)


@router.post(
    "/workflows/{workflow_id}/resume", response_model=ActionResult, responses=ACTION_ERRORS
)
async def resume(
    request: Request, workflow_id: str, body: ResumeRequest
) -> ActionResult | JSONResponse:
    """Give a waiting workflow (PAUSED, WAITING_HUMAN, or a parent whose child waits) its
    input: it runs on until it waits again or ends."""
    try:
        return await _dashboard(request).act(workflow_id, "resume", user_input=body.input)
    except RuvonError as exc:
        return problem(exc)


@router.post(
    "/workflows/{workflow_id}/approve", response_model=ActionResult, responses=ACTION_ERRORS
)
async def approve(
    request: Request, workflow_id: str, body: DecisionRequest
) -> ActionResult | JSONResponse:
    """Approve the compensation the unwind waits on (WAITING_COMPENSATION_APPROVAL)."""
    try:
        return await _dashboard(request).act(
            workflow_id, "approve", decided_by=body.decided_by, reason=body.reason
        )
    except RuvonError as exc:
        return problem(exc)


@router.post(
    "/workflows/{workflow_id}/reject", response_model=ActionResult, responses=ACTION_ERRORS
)
async def reject(
    request: Request, workflow_id: str, body: DecisionRequest
) -> ActionResult | JSONResponse:
    """Reject the compensation the unwind waits on: the step stays done."""
    try:
        return await _dashboard(request).act(
            workflow_id, "reject", decided_by=body.decided_by, reason=body.reason
        )
    except RuvonError as exc:
        return problem(exc)


@router.post("/workflows/{workflow_id}/retry", response_model=ActionResult, responses=ACTION_ERRORS)
async def retry(request: Request, workflow_id: str) -> ActionResult | JSONResponse:
    """Run the failed step (FAILED), the child (FAILED_CHILD_WORKFLOW) or the failed
    compensations (COMPENSATION_FAILED) again."""
    try:
        return await _dashboard(request).act(workflow_id, "retry")
    except RuvonError as exc:
        return problem(exc)


@router.post(
    "/workflows/{workflow_id}/cancel", response_model=ActionResult, responses=ACTION_ERRORS
)
async def cancel(
    request: Request, workflow_id: str, body: CancelRequest | None = None
) -> ActionResult | JSONResponse:
    """Cancel the workflow (in saga mode its completed steps are compensated first)."""
    try:
        return await _dashboard(request).act(
            workflow_id, "cancel", reason=body.reason if body else None
        )
    except RuvonError as exc:
        return problem(exc)
