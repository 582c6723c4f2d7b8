"""One client connection to a backend: writes a request, parses the response with httptools and
pushes head and body into an `Exchange` (the sink) as they arrive."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Protocol

import httptools

from fastgw.errors import GatewayError, UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout, UpstreamTooLarge
from fastgw.http.flow import FlowControlled, WriteFlow
from fastgw.http.headers import Headers
from fastgw.native import head_fields

if TYPE_CHECKING:
    from fastgw.telemetry.tracing import Attempt, RequestTrace
    from fastgw.upstream.origin import Origin


class ConnectionOwner(Protocol):
    """The pool side a connection reports to."""

    def connection_closed(self, conn: UpstreamConnection) -> None: ...

    def release(self, conn: UpstreamConnection) -> None: ...


class Exchange:
    """Receives one upstream response. Subclasses override the `on_*` hooks; the connection
    calls `_finish` once, after which `on_end` or `on_error` has run. Nothing is allocated for
    waiting unless somebody awaits `wait()` (the callback-only fast path never does)."""

    __slots__ = (
        "_loop",
        "_waiter",
        "attempt",
        "conn",
        "connection",
        "content_type",
        "error",
        "finished",
        "got_bytes",
        "head_only",
        "length",
        "status",
        "trace",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, trace: RequestTrace | None = None) -> None:
        self._loop = loop
        #: the request's trace when it is sampled: each `start` on a connection is an attempt
        #: with its own client span (`telemetry/tracing.py`)
        self.trace = trace
        self.attempt: Attempt | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.finished = False
        self.error: GatewayError | None = None
        self.status = 0
        #: the response head's framing (-2 chunked, -1 none, else content-length), its
        #: `Connection:` value and its `Content-Type:` (b"" if none); set before `on_head` is called
        self.length = -1
        self.connection: bytes | None = None
        self.content_type = b""
        self.got_bytes = False
        self.head_only = False
        self.conn: UpstreamConnection | None = None

    def reset(self) -> None:
        """Prepare for a second attempt (only valid when nothing was delivered yet)."""
        assert self.status == 0
        self._waiter = None
        self.finished = False
        self.error = None
        self.got_bytes = False
        self.conn = None

    async def wait(self) -> None:
        """Until the exchange has finished; raises its error, if it failed."""
        if not self.finished:
            waiter = self._waiter = self._loop.create_future()
            await waiter
        if self.error is not None:
            raise self.error

    def on_head(self, status: int, headers: Headers) -> None:
        raise NotImplementedError

    def on_body(self, chunk: bytes) -> None:
        raise NotImplementedError

    def on_end(self) -> None:
        pass

    def on_error(self, exc: GatewayError) -> None:
        pass

    def on_read_done(self) -> None:
        """Called after each upstream read has been parsed (e.g. to flush corked writes)."""

    def on_cancel(self) -> None:
        """The exchange is dropped unfinished (the client left, a request deadline passed): its
        connection is being aborted and neither `on_end` nor `on_error` will run."""

    def _finish(self, exc: GatewayError | None) -> None:
        if self.finished:
            return
        self.finished = True
        if self.attempt is not None:
            self.attempt.close(self.status, None if exc is None else exc.reason)
        if exc is None:
            self.on_end()
        else:
            self.error = exc
            self.on_error(exc)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class UpstreamConnection(FlowControlled, asyncio.Protocol):
    __slots__ = (
        "_eof_ends",
        "_head",
        "_head_start",
        "_max_head",
        "_parser",
        "_timer",
        "_whole_at",
        "closed",
        "exchange",
        "flow",
        "idle_since",
        "origin",
        "pool",
        "requests",
        "transport",
        "writing",
    )

    def __init__(self, pool: ConnectionOwner, origin: Origin, max_head_bytes: int = 64 * 1024) -> None:
        self.pool: ConnectionOwner = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        # the bytes received since the exchange started, kept until its final head is split (the
        # parser has no per-field callback here: one native call splits the whole head); a head
        # arriving in several reads is gathered in a bytearray (no copy of all of it per read) and
        # may not outgrow _max_head (interim heads included)
        self._head: bytes | bytearray | None = None
        self._head_start = 0
        self._max_head = max_head_bytes
        self._eof_ends = False
        self.exchange: Exchange | None = None
        self.closed = False
        self.idle_since = 0.0
        self.requests = 0
        self._timer: asyncio.TimerHandle | None = None
        #: while only the response head's deadline is armed: when the whole exchange's ends
        #: (0: no whole deadline; None: no head deadline is armed)
        self._whole_at: float | None = None
        self.flow = WriteFlow()
        self.writing = False  # the request body is still being sent

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are duck-typed
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:
            # bytes while idle: the server broke framing (or closes); this connection is done
            self.close()
            return
        ex.got_bytes = True
        head = self._head
        if head is not None:
            if not head:
                self._head = data
            elif type(head) is bytearray:
                head += data
            else:
                self._head = bytearray(head) + data
        try:
            self._parser.feed_data(data)
            ex.on_read_done()
            head = self._head
            if head is not None and len(head) > self._max_head and self.exchange is ex:
                # the head is still incomplete past the limit (a head once complete is dropped)
                self._fail(UpstreamTooLarge(f"upstream response head larger than {self._max_head} bytes"))
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._fail(cause if isinstance(cause, GatewayError) else UpstreamProtocolError(str(cause)))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"invalid upstream response: {exc}"))

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        self.pool.connection_closed(self)
        ex = self.exchange
        if ex is not None:
            self.exchange = None
            if self._eof_ends and ex.status >= 200:
                ex._finish(None)  # a close-delimited body (RFC 9112 §6.3 rule 8) ends at EOF
            elif ex.status >= 200:
                ex._finish(UpstreamProtocolError("upstream closed the connection mid-response"))
            else:
                ex._finish(UpstreamConnectError("upstream closed the connection"))
        self.flow.fail(UpstreamConnectError("upstream closed the connection"))

    # -- httptools callbacks -------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        ex = self.exchange
        status = self._parser.get_status_code()
        raw = self._head
        if raw is None:
            return  # no exchange is waiting for a head (it was dropped): nothing to deliver
        if isinstance(raw, bytearray):
            raw = bytes(raw)
        headers, end, length, connection, content_type = head_fields(raw, self._head_start)
        if status < 200:
            self._head_start = end  # interim responses (103 Early Hints...) are not forwarded
            return
        self._head = None
        self._head_start = 0
        if ex is None:
            return
        ex.status = status
        ex.length = length
        ex.connection = connection
        ex.content_type = content_type
        self._eof_ends = length == -1 and status not in (204, 304)
        if self._whole_at is not None:
            self._head_arrived()
        ex.on_head(status, headers)
        if ex.head_only:
            # HEAD: the parser cannot be told to skip the body; end here and drop the connection
            self.exchange = None
            self._cancel_timer()
            ex._finish(None)
            self.close()

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if ex is not None:
            ex.on_body(body)

    def on_message_complete(self) -> None:
        ex = self.exchange
        if ex is None or ex.status < 200:
            return
        self.exchange = None
        if self._timer is not None:
            self._cancel_timer()
        keep = self._parser.should_keep_alive()
        ex._finish(None)
        if keep and not self.closed and not self.writing:
            self.pool.release(self)
        else:
            self.close()

    # -- requests ------------------------------------------------------------------------------
    def start(self, exchange: Exchange, data: bytes, timeout: float | None, head_timeout: float | None = None) -> None:
        """Begin an exchange: write the request head (and body, when given whole). `timeout`
        bounds the whole exchange, `head_timeout` the wait for the response head (a stream's
        first byte: an upstream that accepts and never answers does not pin the request)."""
        self.exchange = exchange
        exchange.conn = self
        trace = exchange.trace
        if trace is not None:
            data = trace.begin_attempt(exchange, data, self.origin.authority)
        self._head = b""
        self._head_start = 0
        self.requests += 1
        self._whole_at = None
        if head_timeout is not None and (timeout is None or head_timeout < timeout):
            loop = asyncio.get_running_loop()
            self._whole_at = 0.0 if timeout is None else loop.time() + timeout
            self.set_timeout(head_timeout)
        elif timeout is not None:
            self.set_timeout(timeout)
        assert self.transport is not None
        self.transport.write(data)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.closed and self.flow.paused:
            raise UpstreamConnectError("upstream closed the connection")
        await self.flow.drain()

    def set_timeout(self, timeout: float) -> None:
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout, self._on_timeout)

    def _head_arrived(self) -> None:
        """The head came in time: only the whole exchange's deadline (if any) is left."""
        whole = self._whole_at
        self._whole_at = None
        self._cancel_timer()
        if whole:
            self.set_timeout(max(0.0, whole - asyncio.get_running_loop().time()))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        self._fail(UpstreamTimeout())

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def _fail(self, exc: GatewayError) -> None:
        ex = self.exchange
        self.exchange = None
        self.abort()
        if ex is not None:
            ex._finish(exc)

    def abort(self) -> None:
        """Drop the connection now (cancellation, protocol error): never reuse it."""
        self.closed = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
