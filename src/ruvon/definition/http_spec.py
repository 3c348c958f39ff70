"""``HTTP``: its YAML and its load-time checks (the request is made by ``ruvon.steps.http``).

A step::

    - name: Charge
      type: HTTP
      http_config:                     # the request
        method: POST                   # GET POST PUT DELETE PATCH HEAD OPTIONS, any case
        url: "{{env.PAYMENT_URL}}/charges"
        headers: {Authorization: "Bearer {{secrets.PAY_TOKEN}}"}
        query_params: {currency: EUR}
        body: {amount: "{{state.amount}}"}
        timeout: 10                    # seconds for the whole request (default 30)
        retry_policy: {max_attempts: 3, delay_seconds: 2}
      output_key: charge               # the response goes to state.charge
      includes: [status_code, body]    # default: status_code, body, headers
      compensate_http_config:          # optional: the request that undoes it
        method: POST
        url: "{{env.PAYMENT_URL}}/refunds"

``http_config.retry_policy`` (the Ruvon docs' ``max_attempts`` / ``delay_seconds``, a fixed
delay unless ``backoff`` is given) becomes the step's ``retry_policy``, so an HTTP step retries
exactly as any step does; giving both is an error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator

from ruvon.definition.schema import Frozen, RetryPolicy, StepSpec
from ruvon.errors import DefinitionError

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.definition.step_types import Siblings


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    PATCH = "PATCH"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"

    @classmethod
    def _missing_(cls, value: object) -> HttpMethod | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class ResponsePart(StrEnum):
    """What of a response ``includes`` may keep."""

    STATUS_CODE = "status_code"
    BODY = "body"
    HEADERS = "headers"

    @classmethod
    def _missing_(cls, value: object) -> ResponsePart | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class HttpRetryPolicy(Frozen):
    """The Ruvon docs' ``http_config.retry_policy``: ``max_attempts`` tries, ``delay_seconds``
    apart (times ``backoff`` after each failure, at most ``max_delay``); ``retry_on`` as in a
    step's ``retry_policy``."""

    max_attempts: int = Field(1, ge=1, le=1000)
    delay_seconds: float = Field(5.0, ge=0)
    backoff: float = Field(1.0, ge=1)
    max_delay: float | None = Field(None, ge=0)
    retry_on: tuple[str, ...] = ()

    def as_step_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_delay=self.delay_seconds,
            backoff=self.backoff,
            max_delay=self.max_delay if self.max_delay is not None else max(self.delay_seconds, 60),
            retry_on=self.retry_on,
        )


class HttpConfig(Frozen):
    """One request. Strings anywhere in ``url``, ``headers``, ``query_params`` and ``body``
    are templates; ``idempotency_header`` names the header that carries the step's
    idempotency key (``null`` to send none)."""

    method: HttpMethod = HttpMethod.GET
    url: str = Field(min_length=1)
    headers: dict[str, Any] = Field(default_factory=dict)
    query_params: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    timeout: float = Field(30.0, gt=0)
    retry_policy: HttpRetryPolicy | None = None
    idempotency_header: str | None = "Idempotency-Key"


class HttpSpec(StepSpec):
    http_config: HttpConfig
    output_key: str = Field(min_length=1)
    includes: tuple[ResponsePart, ...] = (
        ResponsePart.STATUS_CODE,
        ResponsePart.BODY,
        ResponsePart.HEADERS,
    )
    compensate_http_config: HttpConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _retry_policy_from_http_config(cls, data: Any) -> Any:
        """Make ``http_config.retry_policy`` the step's ``retry_policy`` (the one the engine's
        retries read), unless the step has its own: ``Http.compile`` refuses both. A policy
        that does not validate is left alone, to be reported at its own key."""
        if not isinstance(data, dict) or "retry_policy" in data:
            return data
        config = data.get("http_config")
        raw = config.get("retry_policy") if isinstance(config, dict) else None
        if raw is None:
            return data
        try:
            policy = HttpRetryPolicy.model_validate(raw)
        except ValidationError:
            return data
        return {**data, "retry_policy": policy.as_step_policy()}


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledHttp:
    """What the handler needs: the request, the compensating request, where the response goes
    and which parts of it are kept."""

    request: HttpConfig
    compensation: HttpConfig | None
    output_key: str
    includes: tuple[ResponsePart, ...]


_MARKERS = ("{{", "{%", "{#")


@functools.cache
def _syntax() -> Any:
    """A Jinja2 environment that only parses (templates render in the workflow's sandbox);
    imported when an HTTP step is first loaded, not with Ruvon."""
    import jinja2

    return jinja2.Environment()


def _check_templates(value: Any, key: str) -> None:
    """Every template string inside ``value`` parses; a syntax error is the definition's."""
    if isinstance(value, str):
        if any(marker in value for marker in _MARKERS):
            import jinja2

            try:
                _syntax().parse(value)
            except jinja2.TemplateSyntaxError as exc:
                raise DefinitionError(
                    f"template {value!r} is not valid: {exc.message}", key=key
                ) from exc
    elif isinstance(value, dict):
        for name, item in value.items():
            _check_templates(item, f"{key}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_templates(item, f"{key}.{i}")


def _check_request(config: HttpConfig, key: str) -> None:
    url = config.url.strip()
    if not any(marker in url for marker in _MARKERS):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DefinitionError(
                f"url {config.url!r} is not an absolute http:// or https:// URL",
                key=f"{key}.url",
            )
    for name in ("url", "headers", "query_params", "body"):
        _check_templates(getattr(config, name), f"{key}.{name}")


class Http:
    """``HTTP``: a templated request; the response is stored under ``output_key``."""

    spec_model: type[StepSpec] = HttpSpec

    def compile(self, step: CompiledStep, siblings: Siblings) -> CompiledHttp:
        spec = step.spec
        assert isinstance(spec, HttpSpec)
        if spec.function is not None:
            raise DefinitionError(
                "an HTTP step makes the request its 'http_config' describes; it takes no "
                "'function'",
                key="function",
            )
        if spec.compensate_function is not None and spec.compensate_http_config is not None:
            raise DefinitionError(
                "give a 'compensate_function' or a 'compensate_http_config', not both",
                key="compensate_http_config",
            )
        own = spec.http_config.retry_policy
        if own is not None and spec.retry_policy != own.as_step_policy():
            raise DefinitionError(
                "the step has a 'retry_policy' and its http_config has another; give one",
                key="http_config.retry_policy",
            )
        if not spec.includes:
            raise DefinitionError(
                "includes must name at least one of status_code, body, headers", key="includes"
            )
        _check_request(spec.http_config, "http_config")
        if spec.compensate_http_config is not None:
            if spec.compensate_http_config.retry_policy is not None:
                raise DefinitionError(
                    "a compensating request is retried by the step's own retry_policy; it "
                    "takes none of its own",
                    key="compensate_http_config.retry_policy",
                )
            _check_request(spec.compensate_http_config, "compensate_http_config")
        return CompiledHttp(
            request=spec.http_config,
            compensation=spec.compensate_http_config,
            output_key=spec.output_key,
            includes=tuple(dict.fromkeys(spec.includes)),
        )
