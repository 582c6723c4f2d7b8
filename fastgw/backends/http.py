"""Plain reverse proxy backend (`host: "h:p"`): forward the request, stream the response back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastgw.backends.scrub import scrub_encoded
from fastgw.context import RequestContext
from fastgw.errors import GatewayError, UpstreamConnectError, UpstreamTooLarge
from fastgw.http.headers import HOP_BY_HOP, Headers, response_skip, strip_hop_by_hop
from fastgw.native import proxy_request_head
from fastgw.upstream.client import request_head, send
from fastgw.upstream.connection import Exchange
from fastgw.upstream.origin import Origin

_NONE: list[tuple[bytes, bytes]] = []  # (no extra fields; never mutated)

# methods whose empty body is still announced (`content-length: 0`)
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})


class ProxyExchange(Exchange):
    """Pushes the upstream response straight into the client's ResponseWriter, pausing the
    upstream socket while the client's socket buffer is full. An error answer, when the request
    carried a backend credential (`secrets`), is held whole instead (bounded by
    `config.backend.maxBufferedBodyBytes`) and sent with the credential scrubbed."""

    __slots__ = ("ctx", "error_body", "error_head", "held", "hold", "secrets")

    def __init__(
        self, ctx: RequestContext, hold: frozenset[int] = frozenset(), secrets: tuple[bytes, ...] = ()
    ) -> None:
        super().__init__(ctx.worker.loop, ctx.trace)
        ctx.upstream_start = ctx.worker.loop.time()
        self.ctx = ctx
        self.hold = hold  # statuses the caller may retry: don't commit them to the client
        self.held = False
        self.head_only = ctx.request.method == b"HEAD"
        self.secrets = secrets
        #: an error answer being held to be scrubbed: its body so far, its status and fields
        self.error_body: HeldBody | None = None
        self.error_head: tuple[int, Headers]

    def on_head(self, status: int, headers: Headers) -> None:
        ctx = self.ctx
        ctx.upstream_status = status  # (failover learns from it)
        ctx.upstream_fields = headers
        if ctx.tried:  # (a balanced request: the latency EWMA reads it)
            ctx.upstream_head_at = time.monotonic()
        when = ctx.retry_when
        if status in self.hold or (when is not None and when(ctx, status, headers)):
            self.held = True
            return
        if status >= 400 and self.secrets and not self.head_only:
            self.error_body = HeldBody(self.ctx.worker.pool.limits.max_buffered_body)
            self.error_head = (status, headers)
            return
        length = self.length
        writer = ctx.writer
        writer.cork()  # head + the body bytes of this same read leave in one write
        fields = ctx.response_fields(headers, response_skip(self.connection), status=status)
        writer.start(status, fields, length if length >= 0 else None)

    def on_read_done(self) -> None:
        self.ctx.writer.uncork()

    def on_end(self) -> None:
        if self.error_body is not None:
            self._send_scrubbed()

    def _send_scrubbed(self) -> None:
        status, headers = self.error_head
        ctx = self.ctx
        held = self.error_body
        assert held is not None
        encoding = next((v for n, v in headers if n == b"content-encoding"), b"")
        body, decoded = scrub_encoded(held.take(), self.secrets, encoding, held.limit)
        skip = response_skip(self.connection)
        if decoded:
            skip = skip | {b"content-encoding"}
        ctx.writer.respond(status, ctx.response_fields(headers, skip, status=status), body)

    def on_body(self, chunk: bytes) -> None:
        if self.held:
            return
        if self.error_body is not None:
            self.error_body.add(chunk)
            return
        writer = self.ctx.writer
        writer.write(chunk)
        if writer.paused and self.conn is not None:
            conn = self.conn
            conn.pause_reading()
            writer.add_resume_callback(conn.resume_reading)


class HeldBody:
    """An upstream answer the gateway holds whole (to translate or scrub it), bounded: past
    `config.backend.maxBufferedBodyBytes` the exchange fails (a 502 with the reason, the upstream
    connection dropped)."""

    __slots__ = ("limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.size > self.limit:
            self.parts = []
            raise UpstreamTooLarge(
                f"upstream answer larger than {self.limit} bytes (config.backend.maxBufferedBodyBytes)"
            )

    def take(self) -> bytes:
        parts = self.parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


@dataclass(frozen=True, slots=True)
class HttpBackend:
    name: str
    origin: Origin
    #: the Host sent upstream; None keeps the client's
    host_header: bytes | None

    async def serve(self, ctx: RequestContext) -> None:
        host = ctx.upstream_authority if ctx.upstream_authority is not None else self.host_header
        route = ctx.route
        ex = await forward(ctx, self.origin, host, hold=ctx.retry_hold, secrets=route.secrets if route else ())
        ctx.held = ex.held

    def start_fast(self, ctx: RequestContext) -> bool:
        """Start the exchange on an idle connection and let callbacks finish it (no task).
        False when no idle connection is ready: the caller then takes the async path."""
        conn = ctx.worker.pool.take_idle(self.origin)
        if conn is None:
            return False
        req = ctx.request
        host = ctx.upstream_authority if ctx.upstream_authority is not None else self.host_header
        head, _ = upstream_head(ctx, host)
        route = ctx.route
        body = req.body.take()
        ctx.endpoint = self.origin.authority
        ex = CallbackExchange(ctx, self.origin, head, body, route.secrets if route is not None else ())
        ctx.writer.on_disconnect = ex.cancel
        conn.start(ex, head + body if body else head, route.backend_timeout if route is not None else None)
        return True


class CallbackExchange(ProxyExchange):
    """A ProxyExchange that finishes the request itself when the response ends (fast path)."""

    __slots__ = ("body", "head", "origin")

    def __init__(
        self, ctx: RequestContext, origin: Origin, head: bytes, body: bytes, secrets: tuple[bytes, ...]
    ) -> None:
        super().__init__(ctx, secrets=secrets)
        self.origin = origin
        self.head = head
        self.body = body

    def on_end(self) -> None:
        if self.error_body is not None:
            self._send_scrubbed()
        self.ctx.complete()

    def on_error(self, exc: GatewayError) -> None:
        fresh = lambda: ProxyExchange(self.ctx, secrets=self.secrets)  # noqa: E731
        fail_on_callbacks(self, self.ctx, exc, fresh, self.origin, self.head, self.body)

    def cancel(self) -> None:
        cancel_on_callbacks(self, self.ctx)


# -- the callback-only fast path, shared by every backend that starts one (http, ai) ---------------
def fail_on_callbacks(
    ex: Exchange,
    ctx: RequestContext,
    exc: GatewayError,
    fresh: Callable[[], Exchange],
    origin: Origin,
    head: bytes,
    body: bytes,
) -> None:
    """The exchange failed. A reused keep-alive connection that the upstream had closed before
    answering gets one more try on a new connection, as a task (connecting must be awaited) with
    the exchange `fresh()` makes; anything else is answered in the client's dialect."""
    if ex.status == 0 and not ex.got_bytes and isinstance(exc, UpstreamConnectError):
        ctx.continue_as_task(_retry(ctx, fresh(), origin, head, body))
        return
    ctx.fail(exc)
    ctx.complete()


async def _retry(ctx: RequestContext, ex: Exchange, origin: Origin, head: bytes, body: bytes) -> None:
    route = ctx.route
    try:
        await send(ctx.worker.pool, origin, head, body, ex, route.backend_timeout if route is not None else None)
    except GatewayError as err:
        ctx.fail(err)
    except asyncio.CancelledError:
        ctx.abandon()
        raise
    ctx.complete()


def cancel_on_callbacks(ex: Exchange, ctx: RequestContext) -> None:
    """The client went away: drop the upstream connection (never reused), tell the exchange (a
    stream records the tokens so far), and end the request as abandoned."""
    conn = ex.conn
    if conn is not None and conn.exchange is ex:
        conn.exchange = None
        conn.abort()
    if not ex.finished:
        ex.finished = True
        ex.on_cancel()
    ctx.abandon()


def body_framing(ctx: RequestContext) -> int:
    """How the body sent upstream is framed: its length (content-length), -2 (chunked: a body
    still arriving whose length is unknown) or -1 (no body, and nothing to announce)."""
    req = ctx.request
    if ctx.body_bytes is not None:
        return len(ctx.body_bytes)
    body = req.body
    if body.complete and body.error is None:
        if body.received or req.content_length is not None or req.method in _BODY_METHODS:
            return body.received
        return -1
    return req.content_length if req.content_length is not None else -2


def upstream_headers(
    ctx: RequestContext,
    host: bytes | None,
    drop: frozenset[bytes] = HOP_BY_HOP,
    extra: Headers = _NONE,
    defaults: Headers = _NONE,
) -> tuple[Headers, bool]:
    """The request fields to send upstream, as a list, and whether the body must be chunk-framed
    (the form a request header modifier edits; `upstream_head` says what each argument does)."""
    req = ctx.request
    headers = strip_hop_by_hop(req.headers, req.nominated)
    route = ctx.route
    if route is not None and route.request_modifier is not None:
        headers = route.request_modifier(headers)
    out: Headers = [(b"host", host if host is not None else req.host)]
    out += headers if drop is HOP_BY_HOP else [pair for pair in headers if pair[0] not in drop]
    out += extra
    if defaults:
        written = {name for name, _ in out}
        out += [pair for pair in defaults if pair[0] not in written]
    length = body_framing(ctx)
    if length >= 0:
        out.append((b"content-length", str(length).encode()))
    elif length == -2:
        out.append((b"transfer-encoding", b"chunked"))
    return out, length == -2


def upstream_head(
    ctx: RequestContext,
    host: bytes | None,
    path: bytes | None = None,
    drop: frozenset[bytes] = HOP_BY_HOP,
    extra: Headers = _NONE,
    defaults: Headers = _NONE,
) -> tuple[bytes, bool]:
    """The request head to send upstream and whether the body must be chunk-framed: `path` (the
    route's by default) and the query; host first; the client's fields minus `drop` (hop-by-hop by
    default) and the `Connection:`-nominated ones; then `extra` (e.g. a credential), then the
    `defaults` the request does not have; framing last. Without a request header modifier one
    native call writes it."""
    req = ctx.request
    target = (ctx.path if path is None else path) + (b"?" + req.query if req.query else b"")
    route = ctx.route
    if route is not None and route.request_modifier is not None:
        headers, chunked = upstream_headers(ctx, host, drop, extra, defaults)
        return request_head(req.method, target, headers), chunked
    length = body_framing(ctx)
    skip = drop if not req.nominated else drop | req.nominated
    host = host if host is not None else req.host
    return proxy_request_head(req.method, target, host, req.headers, skip, b"", extra, length, defaults), length == -2


def retry_fields(ctx: RequestContext, extra: Headers) -> Headers:
    """`extra`, plus `x-retry-attempt: N` on a retry (agentgateway's header)."""
    attempt = ctx.attempt
    if not attempt:
        return extra
    return [*extra, (b"x-retry-attempt", b"%d" % attempt)]


async def forward(
    ctx: RequestContext,
    origin: Origin,
    host: bytes | None,
    *,
    hold: frozenset[int] = frozenset(),
    secrets: tuple[bytes, ...] = (),
) -> ProxyExchange:
    """Proxy ctx's request to `origin` and stream the answer to the client (an error answer
    scrubbed of `secrets`, the credential the request carried)."""
    req = ctx.request
    head, chunked = upstream_head(ctx, host, extra=retry_fields(ctx, _NONE))
    ex = ProxyExchange(ctx, hold, secrets)
    ctx.endpoint = origin.authority
    route = ctx.route
    timeout = route.backend_timeout if route is not None else None
    body = req.body if ctx.body_bytes is None else ctx.body_bytes
    await send(ctx.worker.pool, origin, head, body, ex, timeout, chunked=chunked and ctx.body_bytes is None)
    return ex
