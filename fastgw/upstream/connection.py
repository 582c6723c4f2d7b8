"""One client connection to a backend: writes a request, parses the response with httptools and
pushes head and body into an `Exchange` (the sink) as they arrive."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Protocol

import httptools

from fastgw.errors import GatewayError, UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from fastgw.http.flow import FlowControlled, WriteFlow
from fastgw.http.headers import Headers

if TYPE_CHECKING:
    from fastgw.upstream.pool import Origin


class ConnectionOwner(Protocol):
    """The pool side a connection reports to."""

    def connection_closed(self, conn: UpstreamConnection) -> None: ...

    def release(self, conn: UpstreamConnection) -> None: ...


class Exchange:
    """Receives one upstream response. Subclasses override the `on_*` hooks; the connection
    resolves `done` after `on_end` or `on_error`, exactly once."""

    __slots__ = ("conn", "done", "got_bytes", "head_only", "status")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.status = 0
        self.got_bytes = False
        self.head_only = False
        self.conn: UpstreamConnection | None = None

    def reset(self) -> None:
        """Prepare for a second attempt (only valid when nothing was delivered yet)."""
        assert self.status == 0
        self.done = self.done.get_loop().create_future()
        self.got_bytes = False
        self.conn = None

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

    def _finish(self, exc: GatewayError | None) -> None:
        if self.done.done():
            return
        if exc is None:
            self.on_end()
            self.done.set_result(None)
        else:
            self.on_error(exc)
            self.done.set_exception(exc)
            # the waiter may already be gone (client disconnect); don't warn about it
            self.done.exception()


class UpstreamConnection(FlowControlled, asyncio.Protocol):
    __slots__ = (
        "_eof_ends",
        "_framed",
        "_headers",
        "_parser",
        "_timer",
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

    def __init__(self, pool: ConnectionOwner, origin: Origin) -> None:
        self.pool: ConnectionOwner = pool
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: Headers = []
        self._eof_ends = False
        self._framed = False
        self.exchange: Exchange | None = None
        self.closed = False
        self.idle_since = 0.0
        self.requests = 0
        self._timer: asyncio.TimerHandle | None = None
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
        try:
            self._parser.feed_data(data)
            ex.on_read_done()
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
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or name == b"transfer-encoding":
            self._framed = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.exchange
        status = self._parser.get_status_code()
        headers = self._headers
        self._headers = []
        framed = self._framed
        self._framed = False
        if ex is None:
            return
        if status < 200:
            return  # interim responses (103 Early Hints...) are not forwarded
        ex.status = status
        self._eof_ends = not framed and status not in (204, 304)
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
        self._cancel_timer()
        keep = self._parser.should_keep_alive()
        ex._finish(None)
        if keep and not self.closed and not self.writing:
            self.pool.release(self)
        else:
            self.close()

    # -- requests ------------------------------------------------------------------------------
    def start(self, exchange: Exchange, data: bytes, timeout: float | None) -> None:
        """Begin an exchange: write the request head (and body, when given whole)."""
        self.exchange = exchange
        exchange.conn = self
        self.requests += 1
        if timeout is not None:
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
