"""Random HTTP steps against the real local HTTP server (``http_support.LocalServer``, on
127.0.0.1), on the in-memory store and on SQLite, end exactly as the model below (written from
docs/steps/http.md) says.

Each example is a generated :class:`Plan`: one HTTP step ``Call`` with a random method (any
case), a secret (non-ASCII and URL syntax characters among its own) put in random places — a
path segment, the URL's query, ``query_params``, a header, a JSON or a text body — a response
that may first fail ``n`` times (a 5xx or 429 quoting the secret, or a dropped connection), then
answers with a random status (2xx, 3xx with or without a redirect, 4xx, 5xx, unknown codes), a
JSON, text (charset named, unknown or none), binary, empty or echo body that may echo the
secret in one of its forms (as is, percent-encoded, ``+`` for a space, JSON-escaped, in another
letter case; in the body's bytes too), extra headers (one repeated, one echoing the secret),
``includes`` (any subset, any case), a ``retry_policy`` (in ``http_config`` or on the step,
``retry_on`` or not) and an ``idempotency_header`` (default, renamed, ``null``, or set in
``headers``). The model says:

- what the server got: each secret at its place, decoded to the secret itself (the path segment
  percent-encoded in full); the idempotency key on every attempt; how many attempts came;
- the stored response (live, loaded back from the store, and in the step's record): the parts
  ``includes`` names, in the documented order; the body decoded with its charset (UTF-8 when none
  or unknown), parsed when the media type is JSON (``None`` when empty, the text when it does not
  parse), ``body_base64`` when the bytes do not decode or hold a NUL; lowercase headers, a repeated
  one joined with ``, ``; the secret echoed anywhere stored as ``***``;
- a failure: a status outside 2xx an ``HttpStatusError`` quoting the (masked) body, no answer an
  ``HttpTransportError``, a non-ASCII secret in a header an ``HttpStepError`` with nothing sent;
  each retried as ``retry_on`` says, up to ``max_attempts``; every attempt recorded; the message
  names the step, the method and the URL with the secret masked;
- the secret is nowhere in the state, the records, the errors or (SQLite) the database file, in
  any of its forms.

``RUVON_FUZZ_EXAMPLES`` sets the number of examples per store (default below: a few seconds
each); ``RUVON_FUZZ_EXAMPLES=1000`` is the long run.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import http
import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from http_support import Hit, LocalServer, Reply, without_proxies
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow

EXAMPLES = int(os.environ.get("RUVON_FUZZ_EXAMPLES", "40"))
MASK = "***"

# --- the server ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Scripted(Reply):
    """A reply as bytes: ``content_type`` ``None`` sends no Content-Type; ``raw_headers`` may
    repeat a name; ``drop`` closes the connection without an answer."""

    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    no_content_type: bool = False


class Server(LocalServer):
    def _write(self, handler: Any, reply: Reply, hit: Hit) -> None:  # type: ignore[override]
        if not isinstance(reply, Scripted) or reply.echo:
            LocalServer._write(handler, reply, hit)
            return
        if reply.drop:
            handler.close_connection = True
            return
        payload = reply.content or b""
        handler.send_response(reply.status)
        if not reply.no_content_type:
            handler.send_header("Content-Type", reply.content_type or "text/plain")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in reply.raw_headers:
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD" and reply.status not in (204, 304):
            handler.wfile.write(payload)


# --- plans ---------------------------------------------------------------------------------------

PLACES = ("path", "query", "params", "header", "body_json", "body_text")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
FORMS = ("raw", "quoted", "quoted_partly", "plus", "json", "case")
# no z/q (secrets start "zq"), no % or \ (which could spell one): never a secret by accident
FILLER = "abcdefghijklmnoprstuvwxy ABCDEFGHIJKLMNOPRSTUVWXY0123456789,.;!-é€"


@dataclass(frozen=True, kw_only=True)
class Body:
    """A response body as pieces: ``prefix`` + the secret in ``form`` (if any) + ``suffix``."""

    kind: str  # json | broken_json | text | binary | empty | echo
    media: str | None  # the Content-Type's media type (None: no Content-Type at all)
    charset: str | None = None
    prefix: Any = ""  # text, bytes (binary), or a JSON value (json)
    suffix: Any = ""
    form: str | None = None  # how the secret is echoed (None: not at all)
    bom: bool = False
    ascii_json: bool = True


@dataclass(frozen=True, kw_only=True)
class Final:
    status: int
    body: Body
    redirect: int | None = None  # a 3xx first, to a path answering with this
    headers: tuple[tuple[str, str], ...] = ()  # extra headers (a name may repeat)
    header_form: str | None = None  # X-Echo: the secret in this form


@dataclass(frozen=True, kw_only=True)
class Plan:
    method: str  # as spelled
    secret: str
    places: frozenset[str]
    base_templated: bool
    failures: tuple[str, ...]  # replies before the final one: "500", "503", "429", "drop"
    failure_form: str | None  # the failures' bodies quote the secret in this form
    final: Final
    includes: tuple[str, ...] | None  # as spelled; None: the default (all three)
    max_attempts: int
    retry_on: tuple[str, ...] | None
    policy_in_config: bool
    idem: str  # default | renamed | null | override

    @property
    def verb(self) -> str:
        return self.method.upper()


def form_of(secret: str, form: str) -> str:
    """The secret as a server may echo it (docs: masked in each of these forms)."""
    if form == "quoted":
        return quote(secret, safe="")
    if form == "quoted_partly":
        return quote(secret, safe="/?&=+#")
    if form == "plus":
        return quote_plus(secret)
    if form == "json":
        return json.dumps(secret)[1:-1]
    if form == "case":
        return "".join(c.swapcase() if c.isascii() else c for c in secret)
    return secret


SECRET_CHARS = "aB3#?&/+% é=ü:@~-._\"'\\€😀"


@st.composite
def secrets(draw: st.DrawFn) -> str:
    return "zq" + draw(st.text(st.sampled_from(SECRET_CHARS), min_size=2, max_size=6))


def _one_in(draw: st.DrawFn, n: int) -> bool:
    return draw(st.integers(1, n)) == n // 2 + 1


def _filler(draw: st.DrawFn, max_size: int = 12) -> str:
    return draw(st.text(st.sampled_from(FILLER), max_size=max_size))


def _fits(text: str, charset: str | None) -> bool:
    try:
        text.encode(_codec(charset))
    except UnicodeEncodeError:
        return False
    return True


def _codec(charset: str | None) -> str:
    if charset is None:
        return "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        return "utf-8"
    return charset


@st.composite
def bodies(draw: st.DrawFn, secret: str) -> Body:
    kind = draw(st.sampled_from(("json", "json", "broken_json", "text", "text", "binary", "empty")))
    echo = draw(st.sampled_from((None, *FORMS)))
    if kind in ("json", "broken_json", "empty"):
        media = draw(
            st.sampled_from(("application/json", "application/problem+json", "text/json+x"))
        )
        media = "application/vnd.x+json" if media == "text/json+x" else media
        charset = draw(st.sampled_from((None, None, "utf-8", "utf-16")))
        if kind == "empty":
            media = draw(st.sampled_from((media, "text/plain", None)))
            return Body(kind="empty", media=media, charset=None if media is None else charset)
        if kind == "broken_json":
            text = "{not json " + _filler(draw)
            form = echo if echo is None or _fits(form_of(secret, echo), charset) else "quoted"
            return Body(kind=kind, media=media, charset=charset, prefix=text, suffix="|", form=form)
        value = draw(
            st.dictionaries(
                st.sampled_from(("a", "b", "c")),
                st.one_of(st.integers(-3, 3), st.text(st.sampled_from(FILLER), max_size=6)),
                max_size=3,
            )
        )
        return Body(
            kind="json",
            media=media,
            charset=charset,
            prefix=value,
            form=None if echo is None else "raw",  # {"echo": secret}: any form is JSON text
            bom=charset in (None, "utf-8") and _one_in(draw, 5),
            ascii_json=draw(st.booleans()),
        )
    if kind == "text":
        media = draw(st.sampled_from(("text/plain", "text/html", "application/xml", None)))
        charset = draw(st.sampled_from((None, "utf-8", "iso-8859-1", "utf-16", "x-no-such")))
        charset = None if media is None else charset  # no Content-Type: no charset either
        # "|" after the secret: a random "25" after a raw "%" would spell "%25", which masking
        # rightly takes as the same "%" (the other side needs "%" or "\\", never in FILLER)
        prefix, suffix = _filler(draw), "|" + _filler(draw)
        prefix = prefix.encode(_codec(charset), "replace").decode(_codec(charset))
        suffix = suffix.encode(_codec(charset), "replace").decode(_codec(charset))
        form = echo if echo is None or _fits(form_of(secret, echo), charset) else "quoted"
        return Body(
            kind=kind, media=media, charset=charset, prefix=prefix, suffix=suffix, form=form
        )
    # binary: bytes that are not UTF-8 text (a NUL, or a byte no UTF-8 has)
    media = draw(st.sampled_from(("application/octet-stream", "image/png")))
    prefix = draw(st.binary(max_size=6)) + draw(st.sampled_from((b"\x00", b"\xff", b"\xc3(")))
    suffix = b"|" + draw(st.binary(max_size=6))
    form = None if echo is None else "raw"  # the secret's UTF-8 bytes
    return Body(kind=kind, media=media, prefix=prefix, suffix=suffix, form=form)


OK_STATUSES = (200, 200, 201, 202, 204, 299)
BAD_STATUSES = (300, 304, 400, 404, 409, 418, 422, 429, 500, 502, 503, 599)


@st.composite
def finals(draw: st.DrawFn, secret: str, method: str) -> Final:
    ok = draw(st.integers(0, 2)) > 0
    status = draw(st.sampled_from(OK_STATUSES if ok else BAD_STATUSES))
    body = draw(bodies(secret))
    if method != "HEAD" and _one_in(draw, 6):
        body = Body(kind="echo", media="application/json")
        status = 200 if status in (204, 304) else status  # an echo always has a body
    redirect = None
    if body.kind != "echo" and _one_in(draw, 5):
        redirect = draw(st.sampled_from((301, 302, 303, 307, 308)))
    headers = []
    if draw(st.booleans()):
        headers.append(("X-Trace", _filler(draw, 6).replace("€", "e").replace("é", "e").strip()))
    if body.kind != "echo" and _one_in(draw, 4):  # (LocalServer's echo takes a dict)
        headers += [("X-Multi", "one"), ("X-Multi", "two")]
    header_form = None
    if draw(st.booleans()):
        header_form = draw(st.sampled_from(FORMS))
        if not form_of(secret, header_form).isascii():
            header_form = "quoted"
    return Final(
        status=status, body=body, redirect=redirect, headers=tuple(headers), header_form=header_form
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    secret = draw(secrets())
    method = draw(st.sampled_from(METHODS))
    # at least one: only a secret a request's templates read is known to be masked
    places = set(draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True)))
    if {"body_json", "body_text"} <= places:
        places.discard("body_text")
    failures: tuple[str, ...] = ()
    if draw(st.integers(0, 4)) >= 3:  # most examples answer at once: their response is stored
        kinds = st.sampled_from(("500", "503", "429", "drop"))
        failures = tuple(draw(st.lists(kinds, min_size=1, max_size=2)))
    includes = None
    if draw(st.booleans()):
        parts = draw(
            st.lists(st.sampled_from(("status_code", "body", "headers")), min_size=1, max_size=3)
        )
        includes = tuple(draw(st.sampled_from((p, p.upper(), p.title()))) for p in parts)
    retry_on = draw(
        st.sampled_from(
            (None, None, ("HttpTransportError",), ("HttpStatusError",), ("HttpStepError",))
        )
    )
    return Plan(
        method=draw(st.sampled_from((method, method.lower(), method.title()))),
        secret=secret,
        places=frozenset(places),
        base_templated=draw(st.booleans()),
        failures=failures,
        failure_form=draw(st.sampled_from((None, *FORMS))),
        final=draw(finals(secret, method)),
        includes=includes,
        max_attempts=draw(st.integers(1, 3)),
        retry_on=retry_on,
        policy_in_config=draw(st.booleans()),
        idem=draw(st.sampled_from(("default", "default", "renamed", "null", "override"))),
    )


# --- the plan as a definition and as scripted replies --------------------------------------------

SECRET_REF = "{{secrets.K}}"
_paths = itertools.count()


@dataclass(kw_only=True)
class Case:
    """One example's plan with its server paths (fresh for each example)."""

    plan: Plan
    base: str
    first: str  # the path the step calls, as the server sees it (percent-encoded)
    second: str  # the redirect's target

    @classmethod
    def of(cls, plan: Plan, server: Server) -> Case:
        n = next(_paths)
        segment = quote(plan.secret, safe="") if "path" in plan.places else "x"
        return cls(plan=plan, base=server.url(""), first=f"/f{n}/{segment}", second=f"/g{n}")

    def definition(self) -> dict[str, Any]:
        plan = self.plan
        policy: dict[str, Any] = {"max_attempts": plan.max_attempts}
        if plan.retry_on is not None:
            policy["retry_on"] = list(plan.retry_on)
        config = self.http_config()
        step: dict[str, Any] = {
            "name": "Call",
            "type": "HTTP",
            "http_config": config,
            "output_key": "reply",
        }
        if plan.policy_in_config:
            config["retry_policy"] = {**policy, "delay_seconds": 0}
        else:
            step["retry_policy"] = {**policy, "initial_delay": 0}
        if plan.includes is not None:
            step["includes"] = list(plan.includes)
        return {
            "workflow_type": "Call",
            "initial_state_model": "http_support.CallState",
            "steps": [step],
        }

    def http_config(self) -> dict[str, Any]:
        """The request, with ``{{secrets.K}}`` at each of the plan's places."""
        plan = self.plan
        base = "{{state.base_url}}" if plan.base_templated else self.base
        url = base + self.first.rsplit("/", 1)[0] + "/"
        url += SECRET_REF if "path" in plan.places else "x"
        if "query" in plan.places:
            url += "?k=" + SECRET_REF
        config: dict[str, Any] = {"method": plan.method, "url": url}
        headers: dict[str, str] = {}
        if "params" in plan.places:
            config["query_params"] = {"p": SECRET_REF}
        if "header" in plan.places:
            headers["X-Secret"] = SECRET_REF
        if plan.idem == "override":
            headers["idempotency-key"] = "mine"
        elif plan.idem != "default":
            config["idempotency_header"] = "X-Idem" if plan.idem == "renamed" else None
        if headers:
            config["headers"] = headers
        if "body_json" in plan.places:
            config["body"] = {"s": SECRET_REF, "n": 1}
        elif "body_text" in plan.places:
            config["body"] = "s=" + SECRET_REF
        return config

    def script(self, server: Server) -> None:
        plan, final = self.plan, self.plan.final
        replies: list[Reply] = []
        for failure in plan.failures:
            if failure == "drop":
                replies.append(Scripted(drop=True))
                continue
            text = "bad " + (form_of(plan.secret, plan.failure_form) if plan.failure_form else "")
            replies.append(Scripted(status=int(failure), content=text.encode()))
        if final.redirect is not None:
            replies.append(
                Scripted(
                    status=final.redirect,
                    raw_headers=[("Location", server.url(self.second))],
                )
            )
            server.script(self.second, self.final_reply())
        else:
            replies.append(self.final_reply())
        server.script(self.first, *replies)

    def final_reply(self) -> Reply:
        final, body = self.plan.final, self.plan.final.body
        headers = list(final.headers)
        if final.header_form is not None:
            headers.append(("X-Echo", "id=" + form_of(self.plan.secret, final.header_form)))
        if body.kind == "echo":
            return Scripted(status=final.status, echo=True, headers=dict(headers))
        content_type = None
        if body.media is not None:
            content_type = body.media + (f"; charset={body.charset}" if body.charset else "")
        return Scripted(
            status=final.status,
            content=self.content(),
            content_type=content_type,
            no_content_type=body.media is None,
            raw_headers=headers,
        )

    def echoed(self) -> str:
        body = self.plan.final.body
        return "" if body.form is None else form_of(self.plan.secret, body.form)

    def content(self) -> bytes:
        body = self.plan.final.body
        codec = _codec(body.charset)
        if body.kind == "empty":
            return b""
        if body.kind == "binary":
            echoed = self.plan.secret.encode() if body.form else b""
            return bytes(body.prefix) + echoed + bytes(body.suffix)
        if body.kind == "json":
            value = dict(body.prefix)
            if body.form is not None:
                value["echo"] = self.plan.secret
            text = ("\ufeff" if body.bom else "") + json.dumps(value, ensure_ascii=body.ascii_json)
            return text.encode(codec)
        return (body.prefix + self.echoed() + body.suffix).encode(codec)


# --- the model -----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Expected:
    status: str
    attempts: list[str]  # per attempt: "ok", or the error type
    hits: int  # requests to the first path
    reply: dict[str, Any] | None = None
    reply_keys: list[str] = field(default_factory=list)
    error_type: str | None = None
    error_start: str | None = None
    error_end: str | None = None
    events: set[str] = field(default_factory=set)


def _masked(text: str, echoed: str) -> str:
    return text.replace(echoed, MASK) if echoed else text


def shown_url(case: Case) -> str:
    """The request's URL as the step's error shows it: each secret masked."""
    plan = case.plan
    path = case.first.rsplit("/", 1)[0] + "/" + (MASK if "path" in plan.places else "x")
    query = [
        f"{k}={MASK}" for k, place in (("k", "query"), ("p", "params")) if place in plan.places
    ]
    return case.base + path + ("?" + "&".join(query) if query else "")


def _is_json(media: str | None) -> bool:
    return media is not None and (media == "application/json" or media.endswith("+json"))


def response_text(case: Case) -> str | None:
    """The final response's body as text (its secret masked), ``None`` if it is not text."""
    plan, body = case.plan, case.plan.final.body
    content = case.content()
    if plan.verb == "HEAD" or plan.final.status in (204, 304):
        content = b""
    try:
        text = content.decode(_codec(body.charset))
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    if body.kind == "json" and body.form is not None:
        return text.replace(json.dumps(plan.secret, ensure_ascii=body.ascii_json)[1:-1], MASK)
    return _masked(text, case.echoed())


def expected_body(case: Case) -> tuple[str, Any]:
    """The stored body: ``(key, value)``."""
    plan, body = case.plan, case.plan.final.body
    if body.kind == "echo":
        return "body", expected_echo(case)
    text = response_text(case)
    if text is None:
        content = case.content()
        masked = content.replace(plan.secret.encode(), MASK.encode()) if body.form else content
        return "body_base64", base64.b64encode(masked).decode("ascii")
    if _is_json(body.media):
        if not text.strip():
            return "body", None
        if body.kind == "json":
            value = dict(body.prefix)
            if body.form is not None:
                value["echo"] = MASK
            return "body", value
    return "body", text


def expected_echo(case: Case) -> dict[str, Any]:
    """What of the echoed request the model knows (the server echoes it as JSON)."""
    plan = case.plan
    query = {k: [MASK] for k, place in (("k", "query"), ("p", "params")) if place in plan.places}
    out: dict[str, Any] = {
        "method": plan.verb,
        "path": case.first.rsplit("/", 1)[0] + "/" + (MASK if "path" in plan.places else "x"),
        "query": query,
    }
    if "header" in plan.places:
        out["x-secret"] = MASK
    if "body_json" in plan.places:
        out["body"] = {"s": MASK, "n": 1}
    elif "body_text" in plan.places:
        out["body"] = f"s={MASK}"
    else:
        out["body"] = ""
    return out


def _excerpt(case: Case) -> str:
    """The start of an error response's body, as the step's error quotes it."""
    text = response_text(case)
    if text is None:
        media = case.plan.final.body.media or "no content type"
        return f"{len(case.content())} bytes that are not text ({media})"
    return text[:200].strip()


def expected_headers(case: Case) -> dict[str, str]:
    final = case.plan.final
    out: dict[str, str] = {}
    for name, value in final.headers:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    if final.header_form is not None:
        out["x-echo"] = f"id={MASK}"
    return out


def _retried(plan: Plan, error: str) -> bool:
    if plan.retry_on is None:
        return True
    mro = {
        "HttpStatusError": {"HttpStatusError", "HttpStepError"},
        "HttpTransportError": {"HttpTransportError", "HttpStepError"},
        "HttpStepError": {"HttpStepError"},
    }[error]
    return bool(mro & set(plan.retry_on))


def _attempts(plan: Plan) -> list[str]:
    """Each attempt's outcome: ``ok`` or the error it fails with."""
    # a header value HTTP can not carry: not ASCII, or ending in a space (docs: HttpStepError,
    # before anything is sent; the non-ASCII one before connecting, the other once connected)
    header_error = "header" in plan.places and (
        not plan.secret.isascii() or plan.secret.endswith(" ")
    )
    attempts: list[str] = []
    while True:
        k = len(attempts)
        if header_error:
            outcome = "HttpStepError"
        elif k < len(plan.failures):
            outcome = "HttpTransportError" if plan.failures[k] == "drop" else "HttpStatusError"
        else:
            outcome = "ok" if 200 <= plan.final.status < 300 else "HttpStatusError"
        attempts.append(outcome)
        if outcome == "ok" or len(attempts) >= plan.max_attempts or not _retried(plan, outcome):
            return attempts


def expect(case: Case) -> Expected:
    plan = case.plan
    attempts = _attempts(plan)
    hits = 0 if attempts[0] == "HttpStepError" else len(attempts)
    events = {f"{len(attempts)} attempts"} if len(attempts) > 1 else set()
    if attempts[0] == "HttpStepError":
        events.add("a header value HTTP can not carry")
    if attempts[-1] == "ok":
        parts = [p.lower() for p in plan.includes] if plan.includes else None
        parts = parts or ["status_code", "body", "headers"]
        reply: dict[str, Any] = {}
        if "status_code" in parts:
            reply["status_code"] = plan.final.status
        if "body" in parts:
            key, value = expected_body(case)
            reply[key] = value
            events.add(f"stored {key} of a {plan.final.body.kind} body")
        if "headers" in parts:
            reply["headers"] = expected_headers(case)
        events.add("COMPLETED")
        return Expected(
            status="COMPLETED",
            attempts=attempts,
            hits=hits,
            reply=reply,
            reply_keys=list(reply),
            events=events,
        )
    events.add(f"FAILED: {attempts[-1]}")
    start, end = _message(case, attempts)
    return Expected(
        status="FAILED",
        attempts=attempts,
        hits=hits,
        error_type=attempts[-1],
        error_start=start,
        error_end=end,
        events=events,
    )


def _message(case: Case, attempts: list[str]) -> tuple[str, str | None]:
    """How the step's error message must start, and end (``None``: any way)."""
    plan, last = case.plan, attempts[-1]
    start = f"HTTP step 'Call': {plan.verb} {shown_url(case)}"
    if last == "HttpStepError" and not plan.secret.isascii():
        return start + ": a header value can not be sent: HTTP header values are ASCII", None
    if last == "HttpStepError":
        return start + ": the request can not be sent: LocalProtocolError: Illegal header", None
    if last == "HttpTransportError":
        return start + ": no answer (status: none)", None
    if len(attempts) > len(plan.failures):  # the final reply's status
        excerpt = _excerpt(case)
        return start + f": status {plan.final.status}", f": {excerpt}" if excerpt else None
    code = int(plan.failures[len(attempts) - 1])
    start += f": status {code} {http.HTTPStatus(code).phrase}"
    if plan.verb == "HEAD":  # a HEAD answer has no body
        return start, None
    text = "bad " + (form_of(plan.secret, plan.failure_form) if plan.failure_form else "")
    return start, ": " + _masked(text, form_of(plan.secret, plan.failure_form or "raw")).strip()


# --- checking ------------------------------------------------------------------------------------


def leak_forms(secret: str) -> set[str]:
    """The forms of the secret that must be nowhere (lowercased: compared without case)."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    return {f.lower() for f in forms}


def leaks(text: str, secret: str) -> list[str]:
    lowered = text.lower()
    return sorted(f for f in leak_forms(secret) if f in lowered)


def _server_side(case: Case, server: Server, wf: Workflow, want: Expected) -> list[str]:
    """What the server got: the attempts, each secret where the plan put it, the key."""
    plan, problems = case.plan, []
    hits = server.hits_to(case.first)
    if len(hits) != want.hits:
        problems.append(f"server: {len(hits)} requests to {case.first}, expected {want.hits}")
    key = {"default": f"{wf.id}:Call", "renamed": None, "null": None, "override": "mine"}
    for hit in hits:
        got = {
            "method": hit.method,
            "k": hit.query.get("k"),
            "p": hit.query.get("p"),
            "header": hit.headers.get("x-secret"),
            "idempotency-key": hit.headers.get("idempotency-key"),
            "x-idem": hit.headers.get("x-idem"),
        }
        expected = {
            "method": plan.verb,
            "k": [plan.secret] if "query" in plan.places else None,
            "p": [plan.secret] if "params" in plan.places else None,
            "header": plan.secret if "header" in plan.places else None,
            "idempotency-key": key[plan.idem],
            "x-idem": f"{wf.id}:Call" if plan.idem == "renamed" else None,
        }
        if "body_json" in plan.places:
            got["body"], expected["body"] = hit.json(), {"s": plan.secret, "n": 1}
        elif "body_text" in plan.places:
            got["body"], expected["body"] = hit.body, f"s={plan.secret}".encode()
        if got != expected:
            problems.append(f"server got {got!r}, expected {expected!r}")
    return problems


def _reply(got: Any, want: Expected, case: Case) -> list[str]:
    if not isinstance(got, dict):
        return [f"reply {got!r}, expected {want.reply!r}"]
    problems = []
    if list(got) != want.reply_keys:
        problems.append(f"reply parts {list(got)}, expected {want.reply_keys}")
    assert want.reply is not None
    for key, value in want.reply.items():
        seen = got.get(key)
        if key == "headers" and isinstance(seen, dict):
            extra = set(seen) - set(value) - {"server", "date", "content-type", "content-length"}
            seen = {k: v for k, v in seen.items() if k in value}
            if extra:
                problems.append(f"reply headers {sorted(extra)} not sent")
        elif key == "body" and case.plan.final.body.kind == "echo" and isinstance(seen, dict):
            body = seen.get("body")
            if "body_json" in case.plan.places and isinstance(body, str):
                body = json.loads(body)
            seen = {
                "method": seen.get("method"),
                "path": seen.get("path"),
                "query": seen.get("query"),
                **({"x-secret": seen["headers"].get("x-secret")} if "x-secret" in value else {}),
                "body": body,
            }
        if seen != value:
            problems.append(f"reply {key} {seen!r}, expected {value!r}")
    return problems


def check(wf: Workflow, case: Case, want: Expected, *, where: str) -> list[str]:
    problems = []
    if wf.status.value != want.status:
        problems.append(f"status {wf.status.value}, expected {want.status}")
    attempts = [
        ("ok" if r.status.value == "COMPLETED" else (r.error.type if r.error else "?"), r.attempt)
        for r in wf.history
    ]
    expected = [(a, k) for k, a in enumerate(want.attempts, 1)]
    if attempts != expected:
        problems.append(f"attempts {attempts}, expected {expected}")
    if want.status == "COMPLETED":
        problems += _reply(wf.state.reply, want, case)
        record = wf.history[-1].result if wf.history else None
        if record != {"reply": wf.state.reply}:
            problems.append(f"the step's record holds {record!r}, the state {wf.state.reply!r}")
    else:
        error = wf.error
        if wf.state.reply is not None:
            problems.append(f"a failed step stored {wf.state.reply!r}")
        if error is None or error.type != want.error_type or error.step != "Call":
            problems.append(f"error {error!r}, expected {want.error_type} of step Call")
        elif not error.message.startswith(want.error_start or "") or (
            want.error_end is not None and not error.message.endswith(want.error_end)
        ):
            problems.append(
                f"error message {error.message!r}, expected {want.error_start!r}..."
                f"{want.error_end or ''!r}"
            )
    seen = json.dumps(
        {
            "state": wf.state.model_dump(mode="json"),
            "history": [
                r.model_dump(mode="json") if hasattr(r, "model_dump") else repr(r)
                for r in wf.history
            ],
            "error": repr(wf.error),
            "traceback": wf.error.traceback if wf.error else None,
        },
        ensure_ascii=False,
        default=repr,
    )
    for record in wf.history:
        if record.error is not None:
            seen += record.error.message + (record.error.traceback or "")
    found = leaks(seen, case.plan.secret)
    if found:
        problems.append(f"the secret in the workflow's data, as {found}")
    return [f"{where}: {p}" for p in problems]


# --- running -------------------------------------------------------------------------------------


class Vault:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        return self.values.get(name)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    without_proxies(monkeypatch)
    local = Server()
    yield local
    local.close()


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def _store(kind: str, directory: Path) -> PersistenceProvider:
    if kind == "memory":
        return InMemoryPersistenceProvider()
    return SQLitePersistenceProvider(f"sqlite:///{directory / 'http.db'}")


async def run_case(
    store: PersistenceProvider, server: Server, case: Case, directory: Path
) -> list[str]:
    case.script(server)
    builder = WorkflowBuilder(
        workflow_registry={"Call": case.definition()},
        persistence_provider=store,
        secrets_provider=Vault({"K": case.plan.secret}),
    )
    wf = await builder.create_workflow("Call", {"base_url": case.base})
    await wf.run()
    want = expect(case)
    problems = check(wf, case, want, where="live") + _server_side(case, server, wf, want)
    loaded = await builder.load_workflow(wf.id)
    problems += check(loaded, case, want, where="loaded")
    for file in directory.glob("http.db*"):
        found = leaks(file.read_bytes().decode("utf-8", "replace"), case.plan.secret)
        if found:
            problems.append(f"the secret in {file.name}, as {found}")
    return problems


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_random_http_steps_end_as_the_model_says(
    kind: str,
    tmp_path: Path,
    server: Server,
    loop: asyncio.Runner,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = _store(kind, tmp_path)
    cases = Counter[str]()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(plan=plans())
    def one(plan: Plan) -> None:
        case = Case.of(plan, server)
        want = expect(case)
        cases["cases"] += 1
        cases.update(want.events)
        cases.update(f"secret in {p}" for p in plan.places)
        if not plan.secret.isascii():
            cases["non-ASCII secret"] += 1
        final = plan.final
        if final.redirect is not None:
            cases[f"redirect {final.redirect}"] += 1
        if final.body.charset is not None:
            cases[f"charset {final.body.charset}"] += 1
        cases.update(f"first answer {f}" for f in plan.failures[:1])
        cases[f"idempotency header {plan.idem}"] += 1
        if final.body.form or final.header_form:
            cases["the secret echoed back"] += 1
        problems = loop.run(run_case(store, server, case, tmp_path))
        assert not problems, "\n".join([repr(plan), *problems])

    try:
        one()
    finally:
        loop.run(store.close())
        with capsys.disabled():
            tally = ", ".join(f"{k}: {v}" for k, v in sorted(cases.items()))
            print(f"\n[fuzz http {kind}] {tally} in {time.monotonic() - started:.1f}s")
