"""A real HTTP server on 127.0.0.1 for the HTTP step tests, and the state and steps they use.

``LocalServer`` runs ``http.server.ThreadingHTTPServer`` on a thread of the test process, on a
free port. Replies are scripted per path (each request takes the next reply; the last one
repeats) and every request is recorded, so tests count hits and read what was sent. A request
line that holds an absolute URL (``GET http://svc:8080/x``, as a client sends it to a proxy) is
answered too, keyed by ``svc:8080/x``: pointing ``HTTP_PROXY`` at the server lets a program
call made-up host names without any network beyond localhost.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict

from ruvon.models import StepContext


@dataclass(kw_only=True)
class Reply:
    """One scripted answer. ``echo``: answer 200 with the request as JSON (method, path, query,
    headers, body). ``delay``: seconds to wait before answering (cut short when the server
    closes). ``content``: the body's bytes as they are (``text`` is sent UTF-8-encoded)."""

    status: int = 200
    json_body: Any = None
    text: str | None = None
    content: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo: bool = False


@dataclass(kw_only=True)
class Hit:
    method: str
    key: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


def _key(target: str) -> tuple[str, str]:
    parts = urlsplit(target)
    if parts.scheme:  # a proxy request: "http://host:port/path?q"
        return parts.netloc + parts.path, parts.query
    return parts.path, parts.query


class LocalServer:
    """Scripted replies per path; ``hits`` in arrival order."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.hits: list[Hit] = []
        self.closing = threading.Event()
        self.arrived = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                server.answer(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, key: str, *replies: Reply) -> None:
        self.replies[key] = list(replies)

    def hits_to(self, key: str) -> list[Hit]:
        return [h for h in self.hits if h.key == key]

    def wait_for_hits(self, count: int, timeout: float = 10.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.hits) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.hits)} request(s) came, {count} expected")
                self.arrived.wait(left)
        return list(self.hits)

    def _next(self, key: str) -> Reply:
        queue = self.replies.get(key)
        if not queue:
            return Reply(status=404, text=f"no reply scripted for {key}")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        key, query = _key(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        hit = Hit(
            method=handler.command,
            key=key,
            query=parse_qs(query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            at=time.time(),
        )
        with self.arrived:
            self.hits.append(hit)
            self.arrived.notify_all()
        reply = self._next(key)
        if reply.delay and self.closing.wait(reply.delay):
            return  # closing: drop the connection without an answer
        self._write(handler, reply, hit)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply, hit: Hit) -> None:
        content_type = reply.content_type
        if reply.echo:
            payload = json.dumps(
                {
                    "method": hit.method,
                    "path": hit.key,
                    "query": hit.query,
                    "headers": hit.headers,
                    "body": hit.body.decode(),
                }
            ).encode()
            content_type = content_type or "application/json"
        elif reply.content is not None:
            payload = reply.content
            content_type = content_type or "application/octet-stream"
        elif reply.json_body is not None:
            payload = json.dumps(reply.json_body).encode()
            content_type = content_type or "application/json"
        else:
            payload = (reply.text or "").encode()
            content_type = content_type or "text/plain; charset=utf-8"
        handler.send_response(reply.status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then released): connecting to it is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- the state model and steps of the HTTP workflows in the tests -------------------------------


class CallState(BaseModel):
    """Fields for the responses the tests store, and inputs for their templates."""

    user_id: str = "u-1"
    amount: float = 12.5
    tags: list[str] = []
    customer: dict[str, Any] = {}
    base_url: str = ""
    reply: dict[str, Any] | None = None
    other: dict[str, Any] | None = None
    log: list[str] = []


class StrictState(BaseModel):
    """A model that refuses keys that are not its fields."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = ""
    log: list[str] = []


class OpenState(BaseModel):
    """A model that keeps any key: every response lands in the state."""

    model_config = ConfigDict(extra="allow")
    base_url: str = ""


class LooseState(BaseModel):
    """A model without the response field: the response stays in the step's record."""

    base_url: str = ""
    log: list[str] = []


def mark(state: Any, context: StepContext, **_: Any) -> dict[str, Any]:
    return {"log": [*state.log, context.step_name]}


def unmark(state: Any, context: StepContext) -> dict[str, Any]:
    return {"log": [*state.log, f"undo:{context.step_name}"]}


def explode(state: Any, context: StepContext, **_: Any) -> dict[str, Any]:
    raise RuntimeError(f"{context.step_name} broke")


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def without_proxies(monkeypatch: Any) -> None:
    """The tests talk to 127.0.0.1 directly, whatever proxy the machine's environment names."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
