"""The downstream request as the pipeline sees it, and its streamed body."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastgw.errors import GatewayError, PayloadTooLarge
from fastgw.http.headers import Headers

if TYPE_CHECKING:
    from fastgw.http.connection import HttpConnection


class ClientDisconnected(ConnectionError):
    """The downstream client went away before the request body was read."""


class Body:
    """A request body arriving in pieces, with read-side backpressure.

    The connection feeds chunks; the consumer (a backend) takes them. Above `high_water` buffered
    bytes the connection stops reading the socket; below `high_water // 4` it starts again.
    """

    __slots__ = (
        "_chunks",
        "_conn",
        "_paused",
        "_waiter",
        "buffered",
        "complete",
        "consumed",
        "discard",
        "error",
        "expected",
        "high_water",
        "limit",
        "on_first_read",
        "received",
    )

    def __init__(self, conn: HttpConnection | None, expected: int | None, limit: int, high_water: int) -> None:
        self._conn = conn
        self._chunks: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False  # this body asked the connection to stop reading
        self.buffered = 0
        self.received = 0
        self.expected = expected
        self.limit = limit
        self.high_water = high_water
        self.complete = expected == 0
        self.consumed = False
        self.discard = False
        self.error: BaseException | None = None
        self.on_first_read: Callable[[], None] | None = None

    # -- producer side (the connection) -------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.limit:
            self.fail(PayloadTooLarge(f"request body exceeds {self.limit} bytes"))
            return
        if self.discard:
            return
        self._chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > self.high_water and self._conn is not None:
            self._paused = True
            self._conn.pause_body_reading()
        if self._waiter is not None:
            self._wake()

    def finish(self) -> None:
        self.complete = True
        if self._waiter is not None:
            self._wake()

    def fail(self, exc: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    # -- consumer side (a backend) --------------------------------------------------------------
    def _started(self) -> None:
        cb = self.on_first_read
        if cb is not None:
            self.on_first_read = None
            cb()

    def take(self) -> bytes:
        """Everything buffered now, as one bytes object (may be empty)."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self._paused and self._conn is not None:
            self._paused = False
            self._conn.resume_body_reading()
        return data

    async def wait(self) -> None:
        """Wait until more data, the end, or an error is available."""
        if self._chunks or self.complete or self.error is not None:
            return
        self._started()
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        await self._waiter

    async def fill(self, limit: int) -> None:
        """Wait until the body is complete or at least `limit` bytes are buffered. A body that
        completes within `limit` is then forwarded whole, so broken framing found while reading it
        never reaches an upstream."""
        while not self.complete and self.error is None and self.buffered < limit:
            self._started()
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        if self.error is not None:
            raise self.error

    async def read_all(self) -> bytes:
        """The whole body. Raises PayloadTooLarge / RequestTimeout / ClientDisconnected."""
        self.consumed = True
        if self.complete and self.error is None:
            return self.take()
        self._started()
        parts: list[bytes] = []
        while True:
            if self.error is not None:
                raise self.error
            if self._chunks:
                parts.append(self.take())
            if self.complete:
                if self.error is not None:
                    raise self.error
                return b"".join(parts)
            await self.wait()

    async def next_chunk(self) -> bytes:
        """The next piece of the body; b"" once complete."""
        self.consumed = True
        while True:
            if self.error is not None:
                raise self.error
            if self._chunks:
                return self.take()
            if self.complete:
                return b""
            await self.wait()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


class Request:
    """One parsed request head. Header names are lowercase bytes; values are untouched."""

    __slots__ = (
        "body",
        "client",
        "client_ip",
        "content_length",
        "expect_continue",
        "forwarded",
        "headers",
        "host",
        "keep_alive",
        "method",
        "nominated",
        "path",
        "query",
        "start",
        "target",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        path: bytes,
        query: bytes,
        version: bytes,
        headers: Headers,
        host: bytes,
        client: str,
        start: float,
        body: Body | None = None,
        client_ip: bytes = b"",
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.host = host
        self.client = client
        #: the peer's address alone (x-forwarded-for)
        self.client_ip = client_ip
        #: the client sent `forwarded` or an `x-forwarded-*` field (http/forwarded.py)
        self.forwarded = False
        self.start = start
        self.keep_alive = True
        self.content_length: int | None = None
        self.expect_continue = False
        self.nominated: set[bytes] | None = None
        self.body: Body = body if body is not None else Body(None, 0, 0, 0)

    def header(self, name: bytes) -> bytes | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None

    @property
    def host_name(self) -> bytes:
        """The Host without its port, lowercase (for hostname route matching)."""
        h = self.host
        if h.startswith(b"["):
            end = h.find(b"]")
            return h[: end + 1] if end > 0 else h
        i = h.rfind(b":")
        return h[:i] if i >= 0 else h


def reject_if_body_too_large(length: int | None, limit: int) -> None:
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body of {length} bytes exceeds the {limit} byte limit")


__all__ = ["Body", "ClientDisconnected", "GatewayError", "Request", "reject_if_body_too_large"]
