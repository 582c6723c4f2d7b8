"""A fake transport and a controllable clock for socket-free protocol tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httptools

from fastgw.http.connection import HttpConnection, ServerState
from fastgw.http.errors import plain_error
from fastgw.http.limits import HttpLimits
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.out += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0  # (every write is taken at once)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


class ClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now


class Response:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.complete = False


def parse_responses(data: bytes) -> list[Response]:
    """Split the bytes a server wrote into responses (the last one may be incomplete)."""
    out: list[Response] = []

    class P:
        def on_message_begin(self) -> None:
            out.append(Response())

        def on_header(self, n: bytes, v: bytes) -> None:
            out[-1].headers[n.decode().lower()] = v.decode()

        def on_headers_complete(self) -> None:
            out[-1].status = parser.get_status_code()

        def on_body(self, b: bytes) -> None:
            out[-1].body += b

        def on_message_complete(self) -> None:
            out[-1].complete = True

    parser = httptools.HttpResponseParser(P())
    try:
        parser.feed_data(bytes(data))
    except httptools.HttpParserError:
        pass
    return out


Handler = Callable[[Request, ResponseWriter], Awaitable[None]]


class Harness:
    """One HttpConnection on a FakeTransport; `feed` delivers bytes, `settle` runs the loop."""

    def __init__(self, handler: Handler, limits: HttpLimits | None = None) -> None:
        self.state = ServerState(handler, plain_error, limits or HttpLimits())
        self.conn = HttpConnection(self.state)
        self.transport = FakeTransport()
        self.conn.connection_made(self.transport)  # type: ignore[arg-type]

    async def settle(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def feed(self, *chunks: bytes) -> None:
        for c in chunks:
            if self.transport.closed:
                break
            self.conn.data_received(c)
            await self.settle(3)
        await self.settle()

    def responses(self) -> list[Response]:
        return parse_responses(bytes(self.transport.out))

    async def advance(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ClockLoop)
        loop.now += seconds
        await self.settle()
