"""The downstream HTTP/1.1 connection: httptools callbacks, limits, keep-alive, pipelining.

Sections: limits and state · asyncio.Protocol · parser callbacks · running requests · timers ·
flow control. One connection serves one request at a time; pipelined requests wait in a bounded
queue (reading pauses above it). Anything that breaks framing is answered with 400 (or 413/414/
431/501) and the connection is closed: we never try to resynchronise a byte stream.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import httptools

from fastgw.errors import (
    BadRequest,
    GatewayError,
    HeadersTooLarge,
    MalformedRequest,
    MethodNotAllowed,
    NotImplementedFraming,
    PayloadTooLarge,
    RequestTimeout,
    UriTooLong,
)
from fastgw.http.flow import FlowControlled, WriteFlow
from fastgw.http.headers import DateCache, Headers, connection_tokens, status_line
from fastgw.http.request import Body, ClientDisconnected, Request
from fastgw.http.response import ResponseWriter
from fastgw.native import request_fields

log = logging.getLogger("fastgw.http")

Handler = Callable[[Request, ResponseWriter], Awaitable[None]]
#: Like a Handler, but may finish (or go on through callbacks) without a task: it returns None
#: then, or an awaitable to run as the request's task.
Dispatcher = Callable[[Request, ResponseWriter], Awaitable[None] | None]
#: renders an error answered by the connection itself (before or instead of the pipeline), given
#: the request path (or the part of the target read so far)
ErrorRenderer = Callable[[bytes, GatewayError], tuple[Headers, bytes]]


# ---------------------------------------------------------------------------------------------
# limits and state
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_request_line: int = 8192
    max_header_bytes: int = 65536
    max_headers: int = 100
    max_body_bytes: int = 32 * 1024 * 1024
    header_read_timeout: float = 10.0
    body_read_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_pipelined: int = 16
    body_high_water: int = 256 * 1024


class ServerState:
    """What every connection of one worker shares (injected, never global)."""

    __slots__ = ("connections", "date", "dispatch", "draining", "handler", "limits", "render_error")

    def __init__(
        self, handler: Handler, render_error: ErrorRenderer, limits: HttpLimits, dispatch: Dispatcher | None = None
    ) -> None:
        self.handler = handler
        self.dispatch = dispatch
        self.render_error = render_error
        self.limits = limits
        self.date = DateCache()
        self.connections: set[HttpConnection] = set()
        self.draining = False

    def start_draining(self) -> None:
        """Stop keep-alive: finish in-flight responses with `connection: close`, close idle ones."""
        self.draining = True
        for conn in list(self.connections):
            conn.drain_gracefully()


# where the parser is between/inside messages (independent of whether a request is running)
_IDLE, _HEAD, _BODY = range(3)


class HttpConnection(FlowControlled, asyncio.Protocol):
    __slots__ = (
        "_active",
        "_active_req",
        "_body",
        "_broken",
        "_closing",
        "_deadline",
        "_deferred",
        "_head_seen",
        "_headers",
        "_limits",
        "_loop",
        "_parser",
        "_pending",
        "_read_paused_body",
        "_read_paused_pipeline",
        "_saw_last",
        "_starting",
        "_state",
        "_task",
        "_timer",
        "_url",
        "client",
        "closing_after_response",
        "flow",
        "server",
        "transport",
    )

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self._limits = server.limits
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self._state = _IDLE
        self._url = b""
        self._headers: Headers = []
        self._head_seen = 0
        self._body: Body | None = None
        self._pending: deque[tuple[Request, ResponseWriter]] = deque()
        self._active: ResponseWriter | None = None
        self._active_req: Request | None = None
        self._task: asyncio.Task[None] | None = None
        self._broken = False
        self._saw_last = False
        self._starting: tuple[Request, ResponseWriter] | None = None
        self._deferred: GatewayError | None = None
        self._closing = False
        self.closing_after_response = False
        self._read_paused_body = False
        self._read_paused_pipeline = False
        self.flow = WriteFlow()
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    # -----------------------------------------------------------------------------------------
    # asyncio.Protocol
    # -----------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are duck-typed
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            host = peer[0]
            self.client = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
        self.server.connections.add(self)
        # the first request must arrive within the header deadline
        self._set_deadline(self.server.limits.header_read_timeout)
        if self.server.draining:
            self.closing_after_response = True

    def data_received(self, data: bytes) -> None:
        if self._closing or self._broken:
            return
        try:
            if self._state == _HEAD:
                # a head still arriving: bound what it may take before httptools (which buffers a
                # field until its line ends) holds it; the read that began it is not counted
                self._head_seen += len(data)
                limits = self._limits
                if self._head_seen > limits.max_header_bytes + limits.max_request_line:
                    raise HeadersTooLarge(f"request header block larger than {limits.max_header_bytes} bytes")
            self._parser.feed_data(data)
            if self._state == _HEAD and not self._broken:
                # the head continues in a later read: hold its fields to the limits now (they are
                # checked whole once the head is complete), and it must arrive within the deadline
                _check_field_limits(self._headers, self._limits)
                if self._active is None:
                    self._set_deadline(self._limits.header_read_timeout)
        except GatewayError as err:  # a limit broken by a head that is not complete yet
            self._fail(err)
        except httptools.HttpParserUpgrade:
            # CONNECT or a protocol upgrade (the parser already called on_message_complete).
            if not self._broken:
                self._fail(MethodNotAllowed("protocol upgrades and CONNECT are not supported on this route"))
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._fail(cause if isinstance(cause, GatewayError) else MalformedRequest(f"bad request: {cause}"))
        except httptools.HttpParserError as exc:
            if self._saw_last:
                # data after a `Connection: close` request: ignore it, the connection ends there
                self._pause_reading()
                return
            msg = str(exc)
            if "Content-Length" in msg or "Transfer-Encoding" in msg:
                self._fail(MalformedRequest(f"bad request framing: {msg}"))
            else:
                self._fail(MalformedRequest(f"malformed request: {msg}"))

    def eof_received(self) -> bool | None:
        body = self._body
        if body is not None and not body.complete:
            body.fail(ClientDisconnected("client closed the connection during the request body"))
        if self._active is None and not self._pending:
            self._close()
        # keep the write side open: a half-closed client may still read its response
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.server.connections.discard(self)
        self._cancel_timer()
        body = self._body
        if body is not None and not body.complete:
            body.fail(ClientDisconnected("client disconnected"))
        task = self._task
        if task is not None and not task.done():
            # the client is gone: cancel the upstream request and free its connection
            task.cancel()
        elif self._active is not None:
            self._active.disconnected()
        self._pending.clear()
        self.flow.fail(ClientDisconnected("client disconnected"))

    # -----------------------------------------------------------------------------------------
    # parser callbacks (names fixed by httptools)
    # -----------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._state = _HEAD
        self._url = b""
        self._headers = []
        self._head_seen = 0
        # the header deadline is armed by data_received, only if this read ends inside the head

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.server.limits.max_request_line:
            raise UriTooLong(f"request target longer than {self.server.limits.max_request_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        # as received: on_headers_complete normalizes them and checks the limits (one native call)
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._saw_last:
            self._body = None  # pipelined after a `Connection: close` request: never served
            self._headers = _Trailers(self._limits)
            return
        parser = self._parser
        limits = self._limits
        method = parser.get_method()
        if method == b"CONNECT":
            raise MethodNotAllowed("CONNECT is not supported")
        version = _VERSIONS.get(parser.get_http_version()) or parser.get_http_version().encode()
        headers = self._headers
        problem, host, length, te, connection, expect = request_fields(
            headers, limits.max_header_bytes, limits.max_headers
        )
        if problem:
            _refuse_fields(problem, limits)
        content_length = length if length >= 0 else None
        chunked = False
        if te is not None:
            if te.strip().lower() != b"chunked":
                raise NotImplementedFraming(f"unsupported transfer-encoding {te.decode('latin-1')!r}")
            chunked = True
            # trailer fields after the chunked body reach on_header: counted, never forwarded
            self._headers = _Trailers(limits)
        if expect is not None and expect.lower() != b"100-continue":
            raise MalformedRequest("unsupported Expect header", headers=None)
        if parser.should_upgrade():
            raise MethodNotAllowed("protocol upgrades are not supported on this route")
        if host is None:
            if version == b"1.1":
                raise BadRequest("missing Host header")
            host = b""
        if content_length is not None and content_length > limits.max_body_bytes:
            raise PayloadTooLarge(
                f"request body of {content_length} bytes exceeds the {limits.max_body_bytes} byte limit"
            )
        target = self._url
        path, query = _split_target(target)
        expected = content_length if not chunked else None
        if expected is None and not chunked:
            expected = 0
        body = Body(self, expected, limits.max_body_bytes, limits.body_high_water)
        req = Request(method, target, path, query, version, headers, host, self.client, self._loop.time(), body)
        req.keep_alive = bool(parser.should_keep_alive())
        req.content_length = content_length
        req.expect_continue = expect is not None
        req.nominated = connection_tokens(connection) if connection is not None else None
        if not req.keep_alive:
            self._saw_last = True  # nothing after this request will be served
        if expect is not None:
            body.on_first_read = self._send_continue
        self._body = body
        if not body.complete:
            self._state = _BODY
            if self._active is None:
                self._set_deadline(limits.body_read_timeout)
        writer = ResponseWriter(self, req)
        if self._active is None:
            if expected is not None and 0 < expected <= limits.body_high_water and expect is None:
                # a small body of known size: start once it is all here (usually the same read),
                # so the request can be served whole, on callbacks, without a task
                self._starting = (req, writer)
                self._active = writer
                self._active_req = req
            else:
                self._start(req, writer)
        else:
            self._pending.append((req, writer))
            if len(self._pending) >= limits.max_pipelined:
                self._read_paused_pipeline = True
                self._pause_reading()

    def on_body(self, body: bytes) -> None:
        b = self._body
        if b is not None:
            b.feed(body)
            if b.error is not None and isinstance(b.error, PayloadTooLarge):
                raise b.error

    def on_message_complete(self) -> None:
        b = self._body
        if b is not None:
            b.finish()
        self._body = None
        self._state = _IDLE
        starting = self._starting
        if starting is not None:
            self._starting = None
            self._start(*starting)

    # -----------------------------------------------------------------------------------------
    # running requests
    # -----------------------------------------------------------------------------------------
    def _start(self, req: Request, writer: ResponseWriter) -> None:
        self._active = writer
        self._active_req = req
        if req.body.complete:
            # no read deadline while the request runs; the timer is left to expire (re-arming a
            # timer on every request costs more than letting it fire once in a while)
            self._deadline = 0.0
        dispatch = self.server.dispatch
        if dispatch is not None:
            # the fast path: a request that needs no awaiting runs on callbacks, without a task
            try:
                pending = dispatch(req, writer)
            except Exception:
                log.exception("unhandled error while serving %s %s", req.method.decode(), req.path.decode("latin-1"))
                self._respond_error(req, writer, GatewayError("internal error"))
                return
            if pending is not None:
                self._task = self._loop.create_task(self._run(req, writer, pending))
            return
        self._task = self._loop.create_task(self._run(req, writer))

    async def _run(self, req: Request, writer: ResponseWriter, pending: Awaitable[None] | None = None) -> None:
        try:
            await (pending if pending is not None else self.server.handler(req, writer))
        except asyncio.CancelledError:
            if not writer.ended:
                writer.abort()
            raise
        except GatewayError as err:
            self._respond_error(req, writer, err)
        except ClientDisconnected:
            writer.abort()
        except Exception:
            log.exception("unhandled error while serving %s %s", req.method.decode(), req.path.decode("latin-1"))
            self._respond_error(req, writer, GatewayError("internal error"))
        else:
            if not writer.ended:
                writer.end()

    def _respond_error(self, req: Request | None, writer: ResponseWriter | None, err: GatewayError) -> None:
        if writer is not None and writer.started:
            # never a second head: cut the response so the client sees it is incomplete
            writer.abort()
            return
        if err.close_connection:
            self.closing_after_response = True
        path = req.path if req is not None else self._url.partition(b"?")[0]
        headers, body = self.server.render_error(path, err)
        if writer is None:
            self._write_error_and_close(err, headers, body)
            return
        if req is not None and err.close_connection:
            req.keep_alive = False
            writer.keep_alive = False
        writer.respond(err.status, headers, body)

    def _write_error_and_close(self, err: GatewayError, headers: Headers, body: bytes) -> None:
        if self.transport is None or self._closing:
            return
        parts = [status_line(err.status), self.server.date.line()]
        for n, v in headers:
            parts += (n, b": ", v, b"\r\n")
        parts += (b"content-length: ", str(len(body)).encode(), b"\r\nconnection: close\r\n\r\n", body)
        self.transport.write(b"".join(parts))
        self._close()

    def _fail(self, err: GatewayError) -> None:
        """A framing, limit or deadline error: stop parsing, answer it once, then close."""
        self._broken = True
        self._pause_reading()
        self._cancel_timer()
        self.closing_after_response = True
        if self._starting is not None:
            # the request was waiting for its body and never started: answer here
            self._starting = None
            self._active = self._active_req = None
        body = self._body
        req = self._active_req
        if req is not None and body is req.body and not body.complete:
            # the running request is reading this body: its handler renders the error
            body.fail(err)
            return
        self._pending.clear()
        if self._active is None:
            self._respond_error(None, None, err)
        else:
            self._deferred = err

    def response_complete(self, writer: ResponseWriter) -> None:
        if writer is not self._active:
            return
        self._active = None
        self._active_req = None
        self._task = None
        if self._closing:
            return
        if self._deferred is not None:
            self._respond_error(None, None, self._deferred)
            return
        if not writer.keep_alive or self.closing_after_response:
            self._close()
            return
        if self._pending:
            req, nxt = self._pending.popleft()
            if self._read_paused_pipeline and len(self._pending) < self.server.limits.max_pipelined // 2:
                self._read_paused_pipeline = False
                self._maybe_resume_reading()
            self._start(req, nxt)
            return
        limits = self._limits
        if self._state == _IDLE:
            deadline = self._loop.time() + limits.idle_timeout
            timer = self._timer
            if timer is not None and timer.when() <= deadline:
                self._deadline = deadline  # the timer fires first and re-arms for it
            else:
                self._set_deadline(limits.idle_timeout)
        elif self._state == _HEAD:
            self._set_deadline(limits.header_read_timeout)
        else:
            self._set_deadline(limits.body_read_timeout)

    def abort_response(self) -> None:
        self._active = None
        self._active_req = None
        self._task = None
        if self.transport is not None and not self._closing:
            self._closing = True
            self.transport.abort()

    def _send_continue(self) -> None:
        writer = self._active
        if writer is not None and not writer.started and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def drain_gracefully(self) -> None:
        """Finish the current response with `connection: close`. An idle keep-alive connection
        gets a short grace instead of an immediate close: a busy client is usually about to send
        its next request, which is then answered (with `connection: close`) rather than lost.
        A connection whose first request has not begun (`_url` is empty until then) keeps its
        header deadline: its client connected to send one, and is usually sending it now."""
        self.closing_after_response = True
        if self._active is None and not self._pending and self._state == _IDLE and self._url:
            self._set_deadline(min(self.server.limits.idle_timeout, 1.0))

    def transport_write(self, data: bytes) -> None:
        if self.transport is not None and not self._closing:
            self.transport.write(data)

    def _close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    # -----------------------------------------------------------------------------------------
    # timers: one handle per connection, moved lazily
    # -----------------------------------------------------------------------------------------
    def _set_deadline(self, delay: float) -> None:
        deadline = self._loop.time() + delay
        self._deadline = deadline
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return  # it will fire early and re-arm for the new deadline
            timer.cancel()
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        self._deadline = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._deadline == 0.0 or self._closing:
            return
        now = self._loop.time()
        if now < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            return
        self._deadline = 0.0
        if self._active is not None and self._state != _BODY:
            return  # a running request is governed by its own (upstream) timeouts
        if self._state == _IDLE:
            self._close()
        elif self._state == _HEAD:
            self._fail(RequestTimeout("timed out reading the request headers"))
        elif self._state == _BODY:
            self._fail(RequestTimeout("timed out reading the request body"))

    # -----------------------------------------------------------------------------------------
    # flow control
    # -----------------------------------------------------------------------------------------
    def pause_body_reading(self) -> None:
        self._read_paused_body = True
        self._pause_reading()

    def resume_body_reading(self) -> None:
        if self._read_paused_body:
            self._read_paused_body = False
            self._maybe_resume_reading()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self._closing:
            try:
                self.transport.pause_reading()
            except (RuntimeError, AttributeError):
                pass

    def _maybe_resume_reading(self) -> None:
        if self._read_paused_body or self._read_paused_pipeline or self._broken:
            return
        if self.transport is not None and not self._closing:
            try:
                self.transport.resume_reading()
            except (RuntimeError, AttributeError):
                pass

    async def drain(self) -> None:
        if self._closing and self.flow.paused:
            raise ClientDisconnected("client disconnected")
        await self.flow.drain()

    def add_resume_callback(self, cb: Callable[[], object]) -> None:
        """Call `cb` once when writing may continue (or the connection is lost)."""
        self.flow.on_resume(cb)


_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}


def _refuse_fields(problem: int, limits: HttpLimits) -> NoReturn:
    """Raise the error `request_fields` reported."""
    if problem == 1:
        raise HeadersTooLarge(f"request header block larger than {limits.max_header_bytes} bytes")
    if problem == 2:
        raise HeadersTooLarge(f"more than {limits.max_headers} request headers")
    raise BadRequest("duplicate Host header")


def _check_field_limits(fields: Headers, limits: HttpLimits) -> None:
    """The limits, on the fields of a head that is not complete yet (one read may add many)."""
    if len(fields) > limits.max_headers:
        raise HeadersTooLarge(f"more than {limits.max_headers} request headers")
    if sum(len(n) + len(v) + 4 for n, v in fields) > limits.max_header_bytes:
        raise HeadersTooLarge(f"request header block larger than {limits.max_header_bytes} bytes")


class _Trailers(list[tuple[bytes, bytes]]):
    """Where on_header puts the trailer fields of a chunked body: held to the header limits,
    never kept (they are not forwarded)."""

    __slots__ = ("fields", "limits", "size")

    def __init__(self, limits: HttpLimits) -> None:
        super().__init__()
        self.limits = limits
        self.fields = 0
        self.size = 0

    def append(self, pair: tuple[bytes, bytes]) -> None:
        limits = self.limits
        self.fields += 1
        self.size += len(pair[0]) + len(pair[1]) + 4
        if self.size > limits.max_header_bytes:
            raise HeadersTooLarge(f"request trailer block larger than {limits.max_header_bytes} bytes")
        if self.fields > limits.max_headers:
            raise HeadersTooLarge(f"more than {limits.max_headers} request trailer fields")


def _split_target(target: bytes) -> tuple[bytes, bytes]:
    """Path and query of a request target; absolute-form keeps only its path (the upstream is
    always chosen by the route, never by the target)."""
    if target[:1] != b"/":
        if target == b"*":
            return b"*", b""
        scheme_end = target.find(b"://")
        if scheme_end <= 0:
            raise BadRequest("invalid request target")
        slash = target.find(b"/", scheme_end + 3)
        target = target[slash:] if slash >= 0 else b"/"
    q = target.find(b"?")
    if q >= 0:
        return target[:q], target[q + 1 :]
    return target, b""


def protocol_factory(server: ServerState) -> Callable[[], HttpConnection]:
    def make() -> HttpConnection:
        return HttpConnection(server)

    return make


__all__ = ["HttpConnection", "HttpLimits", "ServerState", "protocol_factory"]
