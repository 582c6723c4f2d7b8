"""The downstream HTTP/1.1 connection: httptools callbacks, limits, keep-alive, pipelining.

Sections: limits and state · asyncio.Protocol · parser callbacks · running requests · timers ·
flow control. One connection serves one request at a time; pipelined requests wait in a bounded
queue (reading pauses above it). Anything that breaks framing is answered with 400 (or 413/414/
431/501) and the connection is closed: we never try to resynchronise a byte stream.

Deadlines are absolute: a head must be complete `header_read_timeout` after its first byte, a
body `body_read_timeout` after the head, however the bytes are spread over reads (a read that
pushed a deadline back would let one byte every few seconds hold a connection for ever), and a
body must keep up `min_body_rate` bytes per second over each `body_rate_window` while the gateway
is reading it. The clocks are armed only when a head or body does not complete in the read that
began it, so a request that arrives whole touches no timer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
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
    UpgradeRefused,
    UriTooLong,
)
from fastgw.http.capacity import BODY_READER, HEAD_READER, IDLE, ConnectionCap
from fastgw.http.flow import FlowControlled, WriteFlow
from fastgw.http.headers import DateCache, Headers, connection_tokens, status_line
from fastgw.http.limits import HttpLimits
from fastgw.http.path import normalize_path
from fastgw.http.request import Body, ClientDisconnected, Request
from fastgw.http.response import ResponseWriter
from fastgw.native import request_fields

log = logging.getLogger("fastgw.http")

Handler = Callable[[Request, ResponseWriter], Awaitable[None]]
#: What serves a connection's requests: it may finish (or go on through callbacks) without a
#: task, returning None, or return an awaitable to run as the request's task. Every Handler is
#: one (the admin endpoints); the pipeline's dispatch is the other kind.
Dispatcher = Callable[[Request, ResponseWriter], Awaitable[None] | None]
#: renders an error answered by the connection itself (before or instead of the pipeline), given
#: the request path (or the part of the target read so far)
ErrorRenderer = Callable[[bytes, GatewayError], tuple[Headers, bytes]]


# ---------------------------------------------------------------------------------------------
# limits and state
# ---------------------------------------------------------------------------------------------
class ServerState:
    """What every connection of one listening socket shares (injected, never global). `cap` is the
    worker's connection cap, shared by its traffic listeners (a private one when not given)."""

    __slots__ = ("cap", "connections", "date", "dispatch", "draining", "limits", "render_error")

    def __init__(
        self,
        dispatch: Dispatcher,
        render_error: ErrorRenderer,
        limits: HttpLimits,
        cap: ConnectionCap | None = None,
    ) -> None:
        self.dispatch = dispatch
        self.render_error = render_error
        self.limits = limits
        self.cap = cap if cap is not None else ConnectionCap(limits.max_connections)
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
# HTTP versions served (RFC 9112 §2.3); httptools also reports 0.9 (a request line without one)
_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}


class HttpConnection(FlowControlled, asyncio.Protocol):
    __slots__ = (
        "_active",
        "_active_req",
        "_arm",
        "_body",
        "_broken",
        "_checkpoint",
        "_client_ip",
        "_closing",
        "_deadline",
        "_deferred",
        "_head_seen",
        "_headers",
        "_last_done",
        "_limits",
        "_loop",
        "_mark",
        "_parser",
        "_pending",
        "_rate_excused",
        "_read_paused_body",
        "_read_paused_pipeline",
        "_saw_last",
        "_since",
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
        self._client_ip = b""
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
        self._last_done = False  # the `Connection: close` request's message has ended
        self._starting: tuple[Request, ResponseWriter] | None = None
        self._deferred: GatewayError | None = None
        self._closing = False
        self.closing_after_response = False
        self._read_paused_body = False
        self._read_paused_pipeline = False
        self.flow = WriteFlow()
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        # the parser state whose clock this read must arm (set by the callbacks, read after feeding)
        self._arm = _IDLE
        # when the current idle wait, head or body began (the clocks and the shedding rank)
        self._since = 0.0
        # the body rate rule: bytes received at the last checkpoint, the next checkpoint, and
        # whether the gateway itself held the body back since then (never the client's fault)
        self._mark = 0
        self._checkpoint = 0.0
        self._rate_excused = False

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
            self._client_ip = host.encode()
        now = self._loop.time()
        if not self.server.cap.admit(self, now):
            self._closing = True
            transport.close()
            return
        self.server.connections.add(self)
        # the first request must arrive within the header deadline
        self._since = now
        self._set_deadline(self.server.limits.header_read_timeout)
        if self.server.draining:
            self.closing_after_response = True

    def data_received(self, data: bytes) -> None:
        if self._closing or self._broken or self._last_done:
            return  # (after a `Connection: close` request nothing more is read)
        try:
            if self._state == _HEAD:
                # a head still arriving: bound what it may take before httptools (which buffers a
                # field until its line ends) holds it; the read that began it is not counted, and
                # of this one only the head's own bytes (never a body or the pipelined requests
                # after it): the head gets the room it has left, and is too large if still going
                limits = self._limits
                room = limits.max_header_bytes + limits.max_request_line - self._head_seen
                if len(data) > room:
                    self._head_seen = -1  # (on_message_begin resets it: the head ended)
                    self._parser.feed_data(data[:room])
                    if self._head_seen == -1 and self._state == _HEAD:
                        raise HeadersTooLarge(f"request header block larger than {limits.max_header_bytes} bytes")
                    data = data[room:]
                else:
                    self._head_seen += len(data)
            self._parser.feed_data(data)
            arm = self._arm
            if arm:
                self._arm = _IDLE
                if arm == self._state and not self._broken:
                    self._arm_clock(arm)
            if self._state == _HEAD and not self._broken:
                # the head continues in a later read: hold its fields to the limits now (they are
                # checked whole once the head is complete)
                _check_field_limits(self._headers, self._limits)
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
            if self._saw_last and self._body is None:
                # data after a whole `Connection: close` request: ignored, the connection ends
                # there (an error inside that request, its body included, is answered below)
                return
            msg = str(exc)
            if "Content-Length" in msg or "Transfer-Encoding" in msg:
                self._fail(MalformedRequest(f"bad request framing: {msg}"))
            else:
                self._fail(MalformedRequest(f"malformed request: {msg}"))

    def eof_received(self) -> bool | None:
        if self._active is not None and self.transport is not None:
            # The client closed its side with a request in flight (its body read or still
            # arriving, its answer not finished): it has abandoned it, as nginx assumes by default.
            # The same path as a lost connection, so the upstream call is cancelled now instead of
            # running to completion (and holding a shutdown drain) for no one.
            self.transport.abort()
            return None
        self._close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.server.connections.discard(self)
        self.server.cap.conns.discard(self)
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
        # the header clock is armed by data_received, only if this read ends inside the head
        self._arm = _HEAD

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
        version = _VERSIONS.get(parser.get_http_version())
        if version is None:
            # an HTTP/0.9 request line (no version) or a version this server does not speak
            raise MalformedRequest(f"unsupported HTTP version {parser.get_http_version()}")
        headers = self._headers
        problem, host, length, te, connection, expect, forwarded = request_fields(
            headers, limits.max_header_bytes, limits.max_headers
        )
        if problem:
            _refuse_fields(problem, limits)
        content_length = length if length >= 0 else None
        chunked = False
        if te is not None:
            if version == b"1.0":
                # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing
                raise MalformedRequest("transfer-encoding in an HTTP/1.0 request")
            if te.strip().lower() != b"chunked":
                raise NotImplementedFraming(f"unsupported transfer-encoding {te.decode('latin-1')!r}")
            chunked = True
            # trailer fields after the chunked body reach on_header: counted, never forwarded
            self._headers = _Trailers(limits)
        if expect is not None and expect.lower() != b"100-continue":
            raise MalformedRequest("unsupported Expect header", headers=None)
        if parser.should_upgrade():
            if self._url.partition(b"?")[0].rstrip(b"/").endswith(b"/responses"):
                raise UpgradeRefused()
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
        # (http/path.py: only these can change under normalization)
        if b"%" in path or b"/." in path or (limits.merge_slashes and b"//" in path):
            path = normalize_path(path, limits.merge_slashes, limits.reject_escaped_slashes)
        expected = content_length if not chunked else None
        if expected is None and not chunked:
            expected = 0
        body = Body(self, expected, limits.max_body_bytes, limits.body_high_water)
        req = Request(
            method, target, path, query, version, headers, host, self.client, self._loop.time(), body, self._client_ip
        )
        req.forwarded = forwarded
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
                self._arm = _BODY  # (its clock is armed if the body outlasts this read)
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
                self._rate_excused = True
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
        if self._saw_last:
            self._last_done = True
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
        # the fast path: a request that needs no awaiting runs on callbacks, without a task
        try:
            pending = self.server.dispatch(req, writer)
        except Exception:
            log.exception("unhandled error while serving %s %s", req.method.decode(), req.path.decode("latin-1"))
            self._respond_error(req, writer, GatewayError("internal error"))
            return
        if pending is not None:
            self._task = self._loop.create_task(self._run(req, writer, pending))

    async def _run(self, req: Request, writer: ResponseWriter, pending: Awaitable[None]) -> None:
        try:
            await pending
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
        now = self._loop.time()
        self._since = now
        if self._state == _IDLE:
            deadline = now + limits.idle_timeout
            timer = self._timer
            if timer is not None and timer.when() <= deadline:
                self._deadline = deadline  # the timer fires first and re-arms for it
            else:
                self._set_deadline(limits.idle_timeout)
        elif self._state == _HEAD:
            # a pipelined head that was waiting: its clock runs from now
            self._set_deadline(limits.header_read_timeout)
        else:
            self._start_body_clock(now)

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

    @property
    def on_task(self) -> bool:
        """Whether the request in progress runs as a task (False on the fast path, or when idle)."""
        return self._task is not None

    @property
    def serving(self) -> bool:
        """Whether a request is in progress."""
        return self._active is not None

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
        self._set_deadline_at(self._loop.time() + delay)

    def _set_deadline_at(self, deadline: float) -> None:
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
        if self._state == _BODY:
            self._check_body(now)
        elif self._active is not None:
            return  # a running request is governed by its own (upstream) timeouts
        elif self._state == _IDLE:
            self._close()
        else:
            self._fail(RequestTimeout("timed out reading the request headers"))

    def _arm_clock(self, arm: int) -> None:
        """After a read that began a head or a body without finishing it: start its clock."""
        if arm == _HEAD:
            if self._active is None:  # (a pipelined head's clock starts when its turn comes)
                now = self._loop.time()
                self._since = now
                self._set_deadline_at(now + self._limits.header_read_timeout)
        else:
            self._start_body_clock(self._loop.time())

    def _start_body_clock(self, now: float) -> None:
        limits = self._limits
        self._since = now
        body = self._body
        self._mark = body.received if body is not None else 0
        self._rate_excused = False
        deadline = now + limits.body_read_timeout
        if limits.min_body_rate:
            self._checkpoint = now + limits.body_rate_window
            deadline = min(deadline, self._checkpoint)
        self._set_deadline_at(deadline)

    def _check_body(self, now: float) -> None:
        """The body's deadline and, at each checkpoint, its rate over the window that ended."""
        req = self._active_req
        if req is None or req.body is not self._body:
            return  # a pipelined body: its clock starts when its turn comes (response_complete)
        limits = self._limits
        end = self._since + limits.body_read_timeout
        if now >= end:
            self._fail(RequestTimeout("timed out reading the request body"))
            return
        rate = limits.min_body_rate
        if not rate:
            self._set_deadline_at(end)
            return
        if now >= self._checkpoint:
            body = self._body
            received = body.received if body is not None else 0
            if (
                self._rate_excused
                or self._read_paused_body
                or self._read_paused_pipeline
                or (body is not None and body.on_first_read is not None)  # 100-continue not sent yet
            ):
                self._rate_excused = False  # the gateway held the body back: a new window
            elif received - self._mark < rate * limits.body_rate_window:
                self._fail(RequestTimeout(f"request body slower than {rate} bytes per second"))
                return
            self._mark = received
            self._checkpoint = now + limits.body_rate_window
        self._set_deadline_at(min(end, self._checkpoint))

    # -----------------------------------------------------------------------------------------
    # the worker's connection cap (http/capacity.py)
    # -----------------------------------------------------------------------------------------
    def shed_rank(self, now: float) -> tuple[int, float, float] | None:
        """How early this connection goes when the cap needs room (lower first), or None when it
        carries a request the gateway is serving: an idle one by how long it has waited, a head or
        body reader by its bytes per second so far (the older first among equals)."""
        if self._closing or self._broken:
            return None
        state = self._state
        since = self._since
        if state == _IDLE:
            return (IDLE, since, since) if self._active is None else None
        elapsed = max(now - since, 1e-3)
        if state == _HEAD:
            # (the bytes of the read that began the head are not counted: a head still arriving
            # after a round trip is slow whatever its size)
            return (HEAD_READER, self._head_seen / elapsed, since) if self._active is None else None
        body = self._body
        req = self._active_req
        if self._read_paused_body or self._read_paused_pipeline or body is None or req is None or req.body is not body:
            return None  # held back by the gateway, or a pipelined body not being read yet
        return (BODY_READER, body.received / elapsed, since)

    def shed(self) -> None:
        """Make room at the cap: an idle connection closes, a slow reader gets 408 and closes."""
        if self._state == _IDLE and self._active is None:
            self._close()
        else:
            self._fail(RequestTimeout("request too slow: the server is at its connection limit"))
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size():
            transport.abort()  # a client that does not read must not keep the descriptor

    # -----------------------------------------------------------------------------------------
    # flow control
    # -----------------------------------------------------------------------------------------
    def pause_body_reading(self) -> None:
        self._read_paused_body = True
        self._rate_excused = True
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


def _refuse_fields(problem: int, limits: HttpLimits) -> NoReturn:
    """Raise the error `request_fields` reported."""
    if problem == 1:
        raise HeadersTooLarge(f"request header block larger than {limits.max_header_bytes} bytes")
    if problem == 2:
        raise HeadersTooLarge(f"more than {limits.max_headers} request headers")
    if problem == 3:
        raise BadRequest("duplicate Host header")
    # RFC 9112 §3.2: a Host that is not uri-host [":" port] is answered 400, never forwarded
    raise BadRequest("invalid Host header")


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
        start = scheme_end + 3
        end = len(target)
        for sep in b"/?":  # the authority ends at the path, or at the query when there is none
            i = target.find(sep, start)
            if 0 <= i < end:
                end = i
        target = target[end:]
        if target[:1] != b"/":
            target = b"/" + target
    q = target.find(b"?")
    if q >= 0:
        return target[:q], target[q + 1 :]
    return target, b""


def protocol_factory(server: ServerState) -> Callable[[], HttpConnection]:
    def make() -> HttpConnection:
        return HttpConnection(server)

    return make


__all__ = ["HttpConnection", "HttpLimits", "ServerState", "protocol_factory"]
