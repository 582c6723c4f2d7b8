"""What the upstream side does with unusual or broken responses: close-delimited bodies,
interim 1xx responses, garbage, truncation, HEAD."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from fastgw.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from fastgw.http.headers import Headers
from fastgw.upstream.client import request_head, send
from fastgw.upstream.connection import Exchange
from fastgw.upstream.limits import PoolLimits
from fastgw.upstream.origin import Origin
from fastgw.upstream.pool import Pool


class Collect(Exchange):
    def __init__(self, head_only: bool = False) -> None:
        super().__init__(asyncio.get_running_loop())
        self.body = b""
        self.heads: list[tuple[int, Headers]] = []
        self.head_only = head_only

    def on_head(self, status: int, headers: Headers) -> None:
        self.heads.append((status, headers))

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[bytes], asyncio.Future[int]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(srv)
        return int(srv.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for s in servers:
        s.close()


async def fetch(port: int, method: bytes = b"GET", timeout: float = 5.0) -> Collect:
    pool = Pool(PoolLimits())
    ex = Collect(head_only=method == b"HEAD")
    try:
        await send(pool, Origin("127.0.0.1", port), request_head(method, b"/", [(b"host", b"x")]), b"", ex, timeout)
    finally:
        pool.close()
    return ex


async def test_close_delimited_body_ends_at_eof(serve) -> None:  # type: ignore[no-untyped-def]
    port = await serve(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it until close")
    ex = await fetch(port)
    assert ex.heads[0][0] == 200 and ex.body == b"all of it until close"


async def test_interim_responses_are_not_forwarded(serve) -> None:  # type: ignore[no-untyped-def]
    port = await serve(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    ex = await fetch(port)
    assert [s for s, _ in ex.heads] == [200] and ex.body == b"ok"


async def test_truncated_body_is_a_protocol_error(serve) -> None:  # type: ignore[no-untyped-def]
    port = await serve(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
    with pytest.raises(UpstreamProtocolError):
        await fetch(port)


async def test_garbage_is_a_protocol_error(serve) -> None:  # type: ignore[no-untyped-def]
    port = await serve(b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(UpstreamProtocolError):
        await fetch(port)


async def test_closed_without_answer_is_a_connect_error(serve) -> None:  # type: ignore[no-untyped-def]
    port = await serve(b"")
    with pytest.raises(UpstreamConnectError):
        await fetch(port)


async def test_head_response_ends_at_the_head(serve) -> None:  # type: ignore[no-untyped-def]
    port = await serve(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
    ex = await fetch(port, b"HEAD")
    assert ex.heads[0][0] == 200 and ex.body == b""


async def test_silent_upstream_times_out() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        with pytest.raises(UpstreamTimeout):
            await fetch(int(srv.sockets[0].getsockname()[1]), timeout=0.3)
    finally:
        srv.close()
