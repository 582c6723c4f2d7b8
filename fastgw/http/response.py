"""Writing one response on a downstream connection: head once, then body, framed correctly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastgw.http.headers import Headers, status_line
from fastgw.native import field_lines

if TYPE_CHECKING:
    from fastgw.http.connection import HttpConnection
    from fastgw.http.request import Request

_CHUNK_END = b"0\r\n\r\n"
_CRLF = b"\r\n"
_NO_BODY_STATUS = frozenset({204, 304})


class ResponseWriter:
    """Frames one response: content-length when known, chunked otherwise (HTTP/1.1), or
    close-delimited for HTTP/1.0. Never writes a second head."""

    __slots__ = (
        "_chunked",
        "_conn",
        "_corked",
        "_head_only",
        "_request",
        "bytes_sent",
        "ended",
        "keep_alive",
        "on_disconnect",
        "started",
        "status",
    )

    def __init__(self, conn: HttpConnection, request: Request) -> None:
        self._conn = conn
        self._request = request
        self._chunked = False
        self._corked: list[bytes] | None = None
        self._head_only = request.method == b"HEAD"
        self.started = False
        self.ended = False
        self.status = 0
        self.bytes_sent = 0
        self.keep_alive = request.keep_alive
        #: set by a backend serving this response through callbacks (no task to cancel)
        self.on_disconnect: Callable[[], object] | None = None

    @property
    def draining(self) -> bool:
        """The worker is stopping: a response that would run on (an event stream) should end."""
        return self._conn.server.draining

    @property
    def paused(self) -> bool:
        """True while the client's socket buffer is full (stop producing, see `drain`)."""
        return self._conn.flow.paused

    async def drain(self) -> None:
        await self._conn.drain()

    def add_resume_callback(self, cb: Callable[[], object]) -> None:
        self._conn.add_resume_callback(cb)

    def _head(self, status: int, headers: Headers | bytes, content_length: int | None) -> list[bytes]:
        """The head's parts; `headers` is a list, or its lines already joined (`field_lines`)."""
        conn = self._conn
        req = self._request
        if not req.body.complete and not req.body.discard:
            # The client is still sending a body we will not read: the framing after this
            # response is unknown to us, so the connection ends with it.
            self.keep_alive = False
        if conn.closing_after_response:
            self.keep_alive = False
        parts = [
            status_line(status),
            conn.server.date.line(),
            headers if isinstance(headers, bytes) else field_lines(headers, None),
        ]
        no_body = status in _NO_BODY_STATUS or 100 <= status < 200
        if no_body:
            pass
        elif content_length is not None:
            parts += (b"content-length: ", str(content_length).encode(), _CRLF)
        elif req.version == b"1.1":
            self._chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            self.keep_alive = False
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        elif req.version == b"1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(_CRLF)
        if no_body or self._head_only:
            self._head_only = True
        self.started = True
        self.status = status
        return parts

    def cork(self) -> None:
        """Hold writes until `uncork()`: a head and the body that arrived with it (one upstream
        read) then leave in one write syscall instead of two."""
        if self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        corked = self._corked
        if corked is not None:
            self._corked = None
            if corked:
                self._conn.transport_write(corked[0] if len(corked) == 1 else b"".join(corked))

    def start(self, status: int, headers: Headers | bytes, content_length: int | None = None) -> None:
        """Send the response head now. `headers` (a list, or its `field_lines`) must not contain
        framing headers."""
        assert not self.started, "response head already sent"
        head = b"".join(self._head(status, headers, content_length))
        corked = self._corked
        if corked is not None:
            corked.append(head)
        else:
            self._conn.transport_write(head)

    def respond(self, status: int, headers: Headers | bytes, body: bytes) -> None:
        """A whole response in one write (`headers` as in `start`)."""
        assert not self.started, "response head already sent"
        parts = self._head(status, headers, len(body))
        if body and not self._head_only:
            parts.append(body)
            self.bytes_sent += len(body)
        self._conn.transport_write(b"".join(parts))
        self.end()

    def write(self, data: bytes) -> None:
        if not data or self._head_only or self.ended:
            return
        self.bytes_sent += len(data)
        if self._chunked:
            data = b"".join((b"%x\r\n" % len(data), data, _CRLF))
        corked = self._corked  # (_out, inlined: this runs for every body chunk)
        if corked is not None:
            corked.append(data)
        else:
            self._conn.transport_write(data)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        corked = self._corked
        if self._chunked and not self._head_only:
            if corked is None:
                corked = [_CHUNK_END]
            else:
                corked.append(_CHUNK_END)
        if corked:  # (uncork, inlined)
            self._corked = None
            self._conn.transport_write(corked[0] if len(corked) == 1 else b"".join(corked))
        else:
            self._corked = None
        self._conn.response_complete(self)

    def disconnected(self) -> None:
        """The client went away mid-response: stop whatever is producing it."""
        cb = self.on_disconnect
        if cb is not None:
            self.on_disconnect = None
            cb()

    def abort(self) -> None:
        """The response cannot be completed (e.g. upstream died mid-stream): close without
        a terminating chunk so the client sees a truncated message, never a fake success."""
        if self.ended:
            return
        self.ended = True
        self.keep_alive = False
        self.uncork()
        self._conn.abort_response()
