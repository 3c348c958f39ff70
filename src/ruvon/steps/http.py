"""``HTTP``: make the request a step's ``http_config`` describes and store the response.

One attempt is three short layers, each with one concern:

1. :func:`render_request`: the templates in ``url``, ``headers``, ``query_params`` and
   ``body`` are rendered by the workflow's sandboxed template engine with ``state`` (its JSON
   form), ``env`` (environment variables), ``secrets`` (the workflow's secrets provider) and
   ``context`` (ids, attempt, idempotency key, loop item). Every secret value a template reads
   is noted by a :class:`~ruvon.steps.http_secrets.Masker`; the rendered request lives only in
   memory, for this call.
2. :func:`send`: one ``httpx.AsyncClient`` request under a total deadline of ``timeout``
   seconds. A status outside 2xx is an :class:`~ruvon.errors.HttpStatusError`, no answer
   (refused, broken, timed out) an :class:`~ruvon.errors.HttpTransportError`; both name the
   step, the method, the URL and the status with every secret value masked as ``***``.
3. :func:`shape`: ``status_code``, ``body`` (decoded with the response's charset: parsed when
   the response is JSON, else text; a body that is not text is ``body_base64`` instead) and
   ``headers``, filtered by ``includes``, with secret values the server echoed masked.

The attempt is a function handed to :func:`~ruvon.runtime.attempts.call_with_retries`, so an
HTTP step retries, records attempts, keeps its idempotency key across retries and recovery, and
is compensated exactly like any step. Its result, ``{output_key: response}``, is merged like a
function's: into the state when the model has the field (or allows extras), and always into
the step's record. A compensating request (``compensate_http_config``) is built the same way,
with the forward response as ``response`` in its templates; its own response replaces the
forward one under ``output_key``.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import functools
import json
import re
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ruvon.definition.http_spec import CompiledHttp, HttpConfig, ResponsePart
from ruvon.errors import HttpStatusError, HttpStepError, HttpTransportError, TemplateError
from ruvon.runtime.attempts import call_with_retries
from ruvon.steps.base import outcome_of_call
from ruvon.steps.http_secrets import Masker, env_lookup, masking_logs, secrets_lookup

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

    from ruvon.definition.compile import CompiledStep
    from ruvon.models import StepContext
    from ruvon.providers.templating import TemplateEngine
    from ruvon.runtime.outcome import StepOutcome, Where
    from ruvon.workflow import Workflow

_EXCERPT = 200  # characters of an error response's body quoted in the step's error
BINARY_BODY = "body_base64"  # the key of a body that is not text, in place of "body"


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs more than a local request (about 40 ms)."""
    import httpx

    return httpx.create_ssl_context()


# --- 1. render ------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True, repr=False)
class Request:
    """A rendered request: secrets in clear, so it is never stored, logged or shown (its
    ``repr`` shows the method only)."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, Any]
    body: Any
    timeout: float

    def __repr__(self) -> str:
        return f"<Request {self.method}>"


# one ``{{ expression }}`` and nothing else: rendered to the expression's own JSON value
_SINGLE = re.compile(r"\s*\{\{((?:(?!\{\{|\}\}|\{%|\{#).)*)\}\}\s*", re.S)


def _native(engine: TemplateEngine, value: Any, names: dict[str, Any]) -> Any:
    """Render a body or query value. A string that is a single ``{{ expression }}`` keeps the
    expression's type (a list stays a list, a number a number); other strings are text."""
    if isinstance(value, str):
        single = _SINGLE.fullmatch(value)
        if single is not None:
            try:
                return json.loads(engine.render(f"{{{{ ({single[1]}) | tojson }}}}", names))
            except (TemplateError, ValueError):
                pass  # not JSON-able (or no tojson): rendered as text, which reports errors
        return engine.render(value, names)
    if isinstance(value, dict):
        return {k: _native(engine, v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_native(engine, v, names) for v in value]
    return value


# In the URL, each ``{{ expression }}``'s output is bracketed by these markers while the whole
# template renders (so ``{% if %}`` and loops work), then put in as data for where it landed.
# The token is random per process: a rendered value can not forge a marker.
_TOKEN = secrets.token_hex(16)
_OPEN, _CLOSE = f"[ruvon-url-value:{_TOKEN}[", f"]{_TOKEN}:ruvon-url-value]"
_EXPRESSION = re.compile(r"\{\{(?:(?!\{\{|\}\}).)*\}\}", re.S)
_VALUE = re.compile(f"{re.escape(_OPEN)}(.*?){re.escape(_CLOSE)}", re.S)
# the start of a URL up to the end of its host and port: a value there is a scheme, a host,
# a port or a base URL, put in as it is
_HEAD = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*(?::(?:/{0,2}[^/?#]*)?)?)?")


def render_url(engine: TemplateEngine, template: str, names: dict[str, Any]) -> str:
    """Render a URL template. A value that starts the URL or lands before its path (a base
    URL, a host, a port: ``{{env.API}}/x``, ``https://{{env.HOST}}/x``) is put in as it is;
    a value in the path, the query or the fragment is data, percent-encoded in full (every
    character but ``A-Z a-z 0-9 - . _ ~``), so ``/ ? # & = + %``, spaces and non-ASCII text
    reach the server as that value, not as URL syntax."""
    if "{{" not in template:
        return engine.render(template, names)
    marked = _EXPRESSION.sub(lambda m: f"{_OPEN}{m[0]}{_CLOSE}", template)
    try:
        rendered = engine.render(marked, names)
    except TemplateError as exc:
        engine.render(template, names)  # raises the same error, quoting the template as written
        raise TemplateError(str(exc).replace(_OPEN, "").replace(_CLOSE, "")) from exc
    url, at = "", 0
    for value in _VALUE.finditer(rendered):
        url += rendered[at : value.start()]
        url += value[1] if _HEAD.fullmatch(url) else quote(value[1], safe="")
        at = value.end()
    return url + rendered[at:]


def template_names(
    wf: Workflow, state: BaseModel, context: StepContext, masker: Masker
) -> dict[str, Any]:
    """What a request's templates see; the state as JSON data, as the request will carry it."""
    return {
        "state": state.model_dump(mode="json"),
        "env": env_lookup(),
        "secrets": secrets_lookup(wf.secrets_provider, masker),
        "context": {
            "workflow_id": context.workflow_id,
            "workflow_type": context.workflow_type,
            "step_name": context.step_name,
            "attempt": context.attempt,
            "idempotency_key": context.idempotency_key,
            "loop_item": context.loop_item,
            "loop_index": context.loop_index,
        },
    }


def render_request(
    engine: TemplateEngine, config: HttpConfig, names: dict[str, Any], key: str
) -> Request:
    """``key``: the idempotency key, sent in ``config.idempotency_header`` unless the
    headers already set that header."""
    headers = {
        str(name): engine.render(value, names) if isinstance(value, str) else str(value)
        for name, value in config.headers.items()
    }
    header = config.idempotency_header
    if header and header.lower() not in {h.lower() for h in headers}:
        headers[header] = key
    return Request(
        method=config.method.value,
        url=render_url(engine, config.url.strip(), names),
        headers=headers,
        params=_native(engine, config.query_params, names),
        body=_native(engine, config.body, names),
        timeout=config.timeout,
    )


# --- 2. send --------------------------------------------------------------------------------------


def _content(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, str):
        return {"content": body.encode()}
    return {"json": body}


async def _exchange(url: httpx.URL, request: Request) -> httpx.Response:
    """One request with a fresh client, whole within ``request.timeout`` seconds."""
    import httpx

    async with (
        asyncio.timeout(request.timeout),
        httpx.AsyncClient(
            verify=_ssl_context(), timeout=request.timeout, follow_redirects=True
        ) as client,
    ):
        return await client.request(
            request.method, url, headers=request.headers, **_content(request.body)
        )


async def send(request: Request, step: str, masker: Masker) -> httpx.Response:
    """Make the request; any failure is an :class:`HttpStepError` with secrets masked.

    httpx's own exception is not chained: its text may quote the URL, secrets and all; its
    type and masked message are in ours."""
    import httpx

    method = request.method
    where = f"HTTP step '{step}': {method}"
    try:
        url = httpx.URL(request.url)  # ``params=`` would replace the URL's own query
        if request.params:
            url = url.copy_merge_params(request.params)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("not an absolute http:// or https:// URL")
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        shown = masker.mask(request.url)
        raise HttpStepError(
            f"{where} {shown}: not a valid URL: {masker.mask(str(exc))}",
            step=step,
            method=method,
            url=shown,
        ) from None
    shown = masker.mask(str(url))
    try:
        with masking_logs(masker):
            response = await _exchange(url, request)
    except (TimeoutError, httpx.TimeoutException):
        raise HttpTransportError(
            f"{where} {shown}: no answer within {request.timeout:g} s (status: none)",
            step=step,
            method=method,
            url=shown,
        ) from None
    except UnicodeEncodeError as exc:  # httpx sends header values as ASCII
        raise HttpStepError(
            f"{where} {shown}: a header value can not be sent: HTTP header values are ASCII "
            f"({masker.mask(str(exc))})",
            step=step,
            method=method,
            url=shown,
        ) from None
    except httpx.LocalProtocolError as exc:  # the request breaks HTTP: nothing was sent
        raise HttpStepError(
            f"{where} {shown}: the request can not be sent: {type(exc).__name__}: "
            f"{masker.mask(str(exc)) or 'no detail'}",
            step=step,
            method=method,
            url=shown,
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = masker.mask(str(exc)) or "no detail"
        raise HttpTransportError(
            f"{where} {shown}: no answer (status: none): {type(exc).__name__}: {detail}",
            step=step,
            method=method,
            url=shown,
        ) from None
    if not 200 <= response.status_code < 300:
        excerpt = _excerpt(response, masker)
        raise HttpStatusError(
            f"{where} {shown}: status {response.status_code} {response.reason_phrase}"
            + (f": {excerpt}" if excerpt else ""),
            step=step,
            method=method,
            url=shown,
            status_code=response.status_code,
        )
    return response


# --- 3. shape -------------------------------------------------------------------------------------


def _media_type(response: httpx.Response) -> str:
    header: str = response.headers.get("content-type", "")
    return header.split(";")[0].strip().lower()


def _text(response: httpx.Response) -> str | None:
    """The body decoded with the response's charset (UTF-8 when it names none, or one Python
    does not know); ``None`` when it is not text: bytes that do not decode, or a NUL character
    (which no store keeps: PostgreSQL refuses it in text and JSON)."""
    charset = response.charset_encoding or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    try:
        text = response.content.decode(charset)
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _body(response: httpx.Response, masker: Masker) -> tuple[str, Any]:
    """``("body", data)``: JSON data when the response says it is JSON (``None`` when empty),
    else the text; ``("body_base64", text)`` when the body is not text: its bytes, with the
    secrets masked where they are UTF-8, base64-encoded."""
    text = _text(response)
    if text is None:
        data = masker.mask_bytes(response.content)
        return BINARY_BODY, base64.b64encode(data).decode("ascii")
    media = _media_type(response)
    if media == "application/json" or media.endswith("+json"):
        if not text.strip():
            return "body", None
        try:
            return "body", masker.scrub(json.loads(text.removeprefix("\ufeff")))
        except ValueError:
            pass  # announced as JSON but is not: kept as it came
    return "body", masker.mask(text)


def _excerpt(response: httpx.Response, masker: Masker) -> str:
    """The start of an error response's body for the step's error, secrets masked."""
    text = _text(response)
    if text is None:
        media = _media_type(response) or "no content type"
        return f"{len(response.content)} bytes that are not text ({media})"
    return masker.mask(text)[:_EXCERPT].strip()  # masked, then cut


def shape(response: httpx.Response, includes: tuple[ResponsePart, ...], masker: Masker) -> Any:
    """The parts of the response ``includes`` names, always in the same order."""
    out: dict[str, Any] = {}
    if ResponsePart.STATUS_CODE in includes:
        out["status_code"] = response.status_code
    if ResponsePart.BODY in includes:
        key, body = _body(response, masker)
        out[key] = body
    if ResponsePart.HEADERS in includes:
        out["headers"] = masker.scrub(dict(response.headers))
    return out


# --- the attempt, and the handler ---------------------------------------------------------------


def attempt(
    wf: Workflow, step: CompiledStep, config: HttpConfig, *, compensating: bool = False
) -> Callable[..., Any]:
    """The function one attempt runs: ``(state, context) -> {output_key: response}``."""
    compiled: CompiledHttp = step.compiled

    async def request(state: BaseModel, context: StepContext, **_: Any) -> dict[str, Any]:
        engine = wf.template_engine
        if engine is None:  # the builder always gives one; a hand-made object may not
            raise TemplateError(f"HTTP step '{step.name}': this workflow has no template engine")
        masker = Masker()
        names = template_names(wf, state, context, masker)
        if compensating:
            names["response"] = (context.forward_result or {}).get(compiled.output_key)
        try:
            rendered = render_request(engine, config, names, context.idempotency_key)
        except TemplateError as exc:
            # the message may quote a value a secret was used on: masked, cause not chained
            raise TemplateError(masker.mask(str(exc))) from None
        response = await send(rendered, step.name, masker)
        return {compiled.output_key: shape(response, compiled.includes, masker)}

    return request


class HttpStep:
    """Runs ``HTTP`` steps; :meth:`compensation` builds their compensating request."""

    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        compiled: CompiledHttp = step.compiled
        function = attempt(wf, step, compiled.request)
        call = await call_with_retries(wf, step, function, True, {}, validated_input, where=where)
        return outcome_of_call(wf, step, call)

    def compensation(self, wf: Workflow, step: CompiledStep) -> Callable[..., Any] | None:
        """The compensating request of ``step`` for ``wf``, or ``None`` if it declares none."""
        compiled: CompiledHttp = step.compiled
        if compiled.compensation is None:
            return None
        return attempt(wf, step, compiled.compensation, compensating=True)
