"""One error family for the whole gateway.

Inner code raises a `GatewayError` subclass; the connection boundary catches it once and renders it
with `render()` in the client's API dialect. Each class carries the HTTP status, a stable lowercase
`reason` label (used by metrics and access logs), whether a retry could help, and extra headers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

import orjson


class Outcome(NamedTuple):
    """How a request ended when no error did: the access log's `reason` (`label`, not written
    for `UPSTREAM`) and the request metrics' `reason` label (`metric`, agentgateway's names)."""

    label: str
    metric: str


#: answered by the backend (the common case)
UPSTREAM: Final = Outcome("upstream", "Upstream")
#: answered by a policy instead of a backend
DIRECT_RESPONSE: Final = Outcome("direct_response", "DirectResponse")
CORS_RESPONSE: Final = Outcome("cors", "DirectResponse")
DENIED: Final = Outcome("authorization", "Authorization")


class Dialect(StrEnum):
    """The API family a client speaks: the shape of its error bodies, and of translated output."""

    PLAIN = "plain"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    #: the OpenAI Responses API: OpenAI's error body, its own stream `error` event
    RESPONSES = "responses"
    JSONRPC = "jsonrpc"


class GatewayError(Exception):
    status: int = 500
    reason: str = "internal"
    #: the `reason` label of the request metrics: agentgateway's name for the outcome (dashboards
    #: filter on it); each class names its own, so a new error cannot miss one
    metric_reason: str = "Internal"
    retryable: bool = False
    #: the error "type" used in OpenAI/Anthropic error objects
    api_type: str = "api_error"
    #: the message when none is given (agentgateway's wording where it has one)
    text: str = "internal error"
    #: whether the downstream connection must be closed after this error (framing is unknown)
    close_connection: bool = False

    def __init__(self, message: str | None = None, *, headers: list[tuple[bytes, bytes]] | None = None):
        self.message = message or self.text
        super().__init__(self.message)
        self.extra_headers: list[tuple[bytes, bytes]] = headers or []


class BadRequest(GatewayError):
    status = 400
    reason = "bad_request"
    metric_reason = "InvalidRequest"
    api_type = "invalid_request_error"
    text = "bad request"


class MalformedRequest(BadRequest):
    """The HTTP framing itself is broken: answer and close, never forward."""

    text = "malformed request"

    reason = "malformed_request"
    metric_reason = "InvalidRequest"
    close_connection = True


class NotImplementedFraming(MalformedRequest):
    status = 501
    reason = "not_implemented"
    metric_reason = "InvalidRequest"
    text = "not implemented"


class MethodNotAllowed(MalformedRequest):
    status = 405
    reason = "method_not_allowed"
    metric_reason = "InvalidRequest"
    text = "method not allowed"


class UpgradeRefused(MalformedRequest):
    """A WebSocket upgrade of the OpenAI Responses API (Codex tries one before HTTP): 426, the one
    handshake failure Codex answers by falling back to HTTP at once (codex-rs core/src/client.rs
    `FallbackToHttp`); any other status it retries five times first. RFC 9110 §15.5.22: a 426
    names the protocol to use in `Upgrade`."""

    status = 426
    reason = "websocket_not_served"
    text = "the Responses API is served over HTTP here, not WebSocket: send POST /v1/responses"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers=[(b"upgrade", b"HTTP/1.1")])


class UriTooLong(MalformedRequest):
    status = 414
    reason = "uri_too_long"
    metric_reason = "InvalidRequest"
    text = "request target too long"


class HeadersTooLarge(MalformedRequest):
    status = 431
    reason = "headers_too_large"
    metric_reason = "InvalidRequest"
    text = "request headers too large"


class PayloadTooLarge(GatewayError):
    status = 413
    reason = "payload_too_large"
    metric_reason = "InvalidRequest"
    api_type = "request_too_large"
    close_connection = True
    text = "payload too large"


class RequestTimeout(GatewayError):
    status = 408
    reason = "request_read_timeout"
    metric_reason = "Timeout"
    api_type = "timeout_error"
    close_connection = True
    text = "request read timeout"


class RouteNotFound(GatewayError):
    status = 404
    reason = "route_not_found"
    metric_reason = "NotFound"
    api_type = "not_found_error"
    text = "route not found"


class UpstreamConnectError(GatewayError, ConnectionError):
    status = 502
    reason = "upstream_connect"
    metric_reason = "UpstreamFailure"
    retryable = True
    text = "upstream connect error"


class UpstreamProtocolError(GatewayError, ValueError):
    """An upstream answer that breaks its protocol: HTTP framing, or a body or stream event that is
    not the JSON its API defines (the translators raise it; a ValueError, as a malformed value)."""

    status = 502
    reason = "upstream_protocol"
    metric_reason = "UpstreamFailure"
    retryable = True
    text = "upstream sent an invalid response"


class UpstreamTooLarge(UpstreamProtocolError):
    """An upstream answer past a configured limit (`config.backend.maxResponseHeaderBytes`,
    `maxBufferedBodyBytes`): the connection is dropped, the client gets a 502 with the reason."""

    reason = "upstream_response_too_large"
    metric_reason = "UpstreamFailure"
    retryable = False
    text = "upstream response too large"


class UpstreamTimeout(GatewayError, TimeoutError):
    status = 504
    reason = "upstream_timeout"
    metric_reason = "Timeout"
    retryable = True
    api_type = "timeout_error"
    text = "upstream request timeout"


class GatewayTimeout(GatewayError, TimeoutError):
    status = 504
    reason = "request_timeout"
    metric_reason = "Timeout"
    api_type = "timeout_error"
    text = "request timeout"


class ServiceUnavailable(GatewayError):
    status = 503
    reason = "no_healthy_backend"
    metric_reason = "NoHealthyBackend"
    retryable = True
    api_type = "overloaded_error"
    text = "no healthy backends"


class UpstreamPoolTimeout(ServiceUnavailable):
    """Every connection an origin may have (`config.backend.maxConnectionsPerOrigin`) stayed busy
    for the whole connect timeout."""

    reason = "upstream_pool_timeout"
    metric_reason = "UpstreamFailure"
    text = "no upstream connection became free in time"


class BackendOverloaded(ServiceUnavailable):
    """An origin's every connection is busy and `config.backend.maxPendingPerOrigin` requests
    already wait for one: answered at once (circuit breaking), so a flood fails fast instead of
    queueing without end. Retryable: failover tries another provider."""

    reason = "backend_overloaded"
    text = "the backend is overloaded: too many requests are waiting for it"

    def __init__(self, message: str | None = None, *, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message, headers=headers or [(b"retry-after", b"1")])


class ClientAborted(GatewayError):
    """The client left before its response was complete (logged and counted, never rendered)."""

    status = 499
    reason = "client_disconnected"
    metric_reason = "Upstream"
    text = "client closed the connection before the response was complete"


class DrainCut(GatewayError):
    """The worker's drain deadline (shutdown or reload) cut the request before it was complete
    (logged and counted, never rendered: the connection is aborted)."""

    status = 503
    reason = "drain_timeout"
    metric_reason = "Timeout"
    text = "the request was cut by the gateway's drain timeout"


class RateLimited(GatewayError):
    status = 429
    reason = "rate_limited"
    metric_reason = "RateLimit"
    retryable = True
    api_type = "rate_limit_error"
    text = "rate limit exceeded"


class Forbidden(GatewayError):
    status = 403
    reason = "authorization"
    metric_reason = "Authorization"
    api_type = "permission_error"
    text = "authorization failed"


class Unauthorized(GatewayError):
    status = 401
    reason = "authentication"
    metric_reason = "APIKeyAuth"
    api_type = "authentication_error"
    text = "authentication failure"


_OPENAI_TYPES = {"api_error": "server_error"}


def render(err: GatewayError, dialect: Dialect) -> tuple[bytes, bytes]:
    """Return (content-type, body) for `err` in the client's dialect. The only error renderer."""
    body: dict[str, object]
    if dialect is Dialect.OPENAI or dialect is Dialect.RESPONSES:
        body = {
            "error": {
                "message": err.message,
                "type": _OPENAI_TYPES.get(err.api_type, err.api_type),
                "param": None,
                "code": err.reason,
            }
        }
        return b"application/json", orjson.dumps(body)
    if dialect is Dialect.ANTHROPIC:
        body = {"type": "error", "error": {"type": err.api_type, "message": err.message}}
        return b"application/json", orjson.dumps(body)
    if dialect is Dialect.JSONRPC:
        code = -32000 - err.status % 1000
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": err.message}}
        return b"application/json", orjson.dumps(body)
    return b"text/plain", err.message.encode()


_ANTHROPIC_SUFFIXES = (b"/messages", b"/messages/count_tokens")
_OPENAI_SUFFIXES = (b"/chat/completions", b"/completions", b"/embeddings", b"/models")


def dialect_for_path(path: bytes) -> Dialect:
    """The API a request path belongs to, for errors raised before a route decides it."""
    p = path.rstrip(b"/")
    if p.endswith(_ANTHROPIC_SUFFIXES):
        return Dialect.ANTHROPIC
    if p.endswith(_OPENAI_SUFFIXES):
        return Dialect.OPENAI
    if p.endswith(b"/responses"):
        return Dialect.RESPONSES
    return Dialect.PLAIN


def sse_error_event(err: GatewayError, dialect: Dialect) -> bytes | None:
    """The terminal error event of an SSE stream already under way, in the client's dialect
    (None where the dialect has no such event)."""
    if dialect is Dialect.OPENAI:
        return b"data: " + render(err, dialect)[1] + b"\n\n"
    if dialect is Dialect.ANTHROPIC:
        return b"event: error\ndata: " + render(err, dialect)[1] + b"\n\n"
    if dialect is Dialect.RESPONSES:
        # the Responses API's `error` stream event (ResponseErrorEvent): flat, not wrapped in "error"
        event = {"type": "error", "code": err.reason, "message": err.message, "param": None, "sequence_number": 0}
        return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"
    return None
