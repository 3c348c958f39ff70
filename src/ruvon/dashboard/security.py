"""Who may use the dashboard, and which requests may change a workflow.

- **Host check** (no token): only ``localhost``, a loopback address or the host it was bound to
  may be named in the ``Host`` header, so a web page on another site can not reach the
  dashboard through DNS rebinding.
- **Token** (``--token``): every request but the login page, ``/healthz`` and the static files
  needs ``Authorization: Bearer <token>`` or the session cookie the login page sets (an HMAC of
  the token, ``HttpOnly``, ``SameSite=Strict``). Without it: 401. A token is at least
  :data:`MIN_TOKEN_LENGTH` characters once the whitespace around it is stripped
  (:func:`checked_token`): a blank one would let anybody in.
- **Unsafe requests** (POST): a browser's ``Origin`` (else ``Referer``) must be this dashboard.
  A page's form must also carry the CSRF token of the double-submit cookie, which this
  server signs so that a cookie planted by another site is refused (checked by
  :func:`check_csrf` where the form is read); an API call must carry the bearer token or be
  ``application/json``, a type no other site can send without a CORS preflight, which this
  server never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "ruvon_session"
CSRF_COOKIE = "ruvon_csrf"
CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/login", "/healthz", "/static/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MIN_TOKEN_LENGTH = 16


def checked_token(token: str | None) -> str | None:
    """The token to require (``None``: none), without the whitespace around it (an env file's
    stray space or newline); ``ValueError`` if it is blank or shorter than
    :data:`MIN_TOKEN_LENGTH` characters."""
    if token is None:
        return None
    token = token.strip()
    if not token:
        raise ValueError("the token is empty (or only whitespace)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"the token has {len(token)} characters: it needs at least {MIN_TOKEN_LENGTH}"
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def session_value(token: str) -> str:
    """The session cookie's value for ``token``: not the token itself."""
    return hmac.new(token.encode(), b"ruvon dashboard session", hashlib.sha256).hexdigest()


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    token: str | None = None
    bound_host: str = "127.0.0.1"

    def host_allowed(self, host_header: str) -> bool:
        if self.token:
            return True
        name = _host_name(host_header)
        return is_loopback(name) or name == self.bound_host.strip("[]").lower()

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if not self.token or scheme.lower() != "bearer":
            return False
        return same_secret(value.strip(), self.token)

    def authenticated(self, request: Request) -> bool:
        if not self.token:
            return True
        return self.bearer_ok(request) or same_secret(
            request.cookies.get(SESSION_COOKIE), session_value(self.token)
        )


def same_origin(request: Request) -> bool:
    """A browser's unsafe request names where it comes from: it must be this server. A client
    that sends neither ``Origin`` nor ``Referer`` (a script) passes."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    if source == "null":
        return False
    return urlsplit(source).netloc.lower() == request.headers.get("host", "").lower()


def _refuse(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)


class GuardMiddleware:
    """Applies :class:`Policy` to every HTTP request (an ASGI middleware)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: Policy,
        login_page: Callable[[Request], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.policy = policy
        self.login_page = login_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = await self._check(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self, request: Request) -> Response | None:
        policy, path = self.policy, request.url.path
        if not policy.host_allowed(request.headers.get("host", "")):
            return _refuse(400, "unexpected Host header (the dashboard answers on localhost)")
        api = path.startswith("/api/") or path in ("/openapi.json", "/metrics")
        if not path.startswith(OPEN_PATHS) and not policy.authenticated(request):
            if api:
                response = _refuse(401, "a token is needed: Authorization: Bearer <token>")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            return await self.login_page(request)
        if request.method in SAFE_METHODS:
            return None
        if not same_origin(request):
            return _refuse(403, "cross-site request refused")
        if api and not policy.bearer_ok(request):
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return _refuse(415, "send the API's POST requests as application/json")
        return None


_CSRF_KEY: list[bytes] = []  # this process's key for signing CSRF tokens, made on first use


def _csrf_signature(nonce: str) -> str:
    if not _CSRF_KEY:
        _CSRF_KEY.append(secrets.token_bytes(32))
    return hmac.new(_CSRF_KEY[0], nonce.encode(), hashlib.sha256).hexdigest()


def _csrf_cookie(request: Request) -> str | None:
    """This browser's CSRF cookie, if this server set it: ``<nonce>.<HMAC of the nonce>``
    under a key of this process. A cookie planted by another site (a sibling subdomain can
    set one) does not carry the signature, and an empty one would match an empty form field:
    both are none."""
    current = request.cookies.get(CSRF_COOKIE)
    if not current or len(current) > 200:
        return None
    nonce, _, signature = current.partition(".")
    if len(nonce) < 20 or not same_secret(signature, _csrf_signature(nonce)):
        return None
    return current


def csrf_token(request: Request) -> tuple[str, bool]:
    """The CSRF token of this browser (its cookie), or a new signed one; ``True`` if new (the
    response must then set the cookie)."""
    current = _csrf_cookie(request)
    if current is not None:
        return current, False
    nonce = secrets.token_urlsafe(32)
    return f"{nonce}.{_csrf_signature(nonce)}", True


def set_csrf_cookie(response: Response, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")


def check_csrf(request: Request, form: dict[str, str]) -> bool:
    """The form carries the token of this browser's CSRF cookie (a well-formed one)."""
    cookie = _csrf_cookie(request)
    return cookie is not None and same_secret(form.get(CSRF_FIELD), cookie)
