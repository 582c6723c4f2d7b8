"""The upstream pool against a real local server: reuse, limits with FIFO waiters, idle expiry,
cancellation safety and the transparent retry on a stale keep-alive connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fastgw.errors import UpstreamConnectError, UpstreamPoolTimeout
from fastgw.http.headers import Headers
from fastgw.upstream.client import request_head, send
from fastgw.upstream.connection import Exchange
from fastgw.upstream.limits import PoolLimits
from fastgw.upstream.origin import Origin
from fastgw.upstream.pool import Pool
from tests.http.fakes import ClockLoop
from tests.local_server import LocalServer


class Collect(Exchange):
    def __init__(self) -> None:
        super().__init__(asyncio.get_running_loop())
        self.body = b""

    def on_head(self, status: int, headers: Headers) -> None:
        pass

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk


class Server(LocalServer):
    """A tiny keep-alive HTTP server that counts connections and can close idle ones."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                delay = 0.2 if b"/slow" in head else 30.0 if b"/hang" in head else 0.0
                await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    await s.start()
    yield s
    s.close()
    for w in s.writers:
        w.close()


async def get(pool: Pool, origin: Origin, path: bytes = b"/") -> bytes:
    ex = Collect()
    await send(pool, origin, request_head(b"GET", path, [(b"host", b"x")]), b"", ex, 5.0)
    return ex.body


async def test_connections_are_reused(server: Server) -> None:
    pool = Pool(PoolLimits())
    origin = Origin("127.0.0.1", server.port)
    for _ in range(5):
        assert await get(pool, origin) == b"ok"
    assert server.connections == 1
    assert pool.stats == {"total": 1, "idle": 1}
    pool.close()


async def test_per_origin_limit_queues_waiters(server: Server) -> None:
    pool = Pool(PoolLimits(max_per_origin=2))
    origin = Origin("127.0.0.1", server.port)
    results = await asyncio.gather(*(get(pool, origin, b"/slow") for _ in range(6)))
    assert results == [b"ok"] * 6
    assert server.connections == 2
    pool.close()


async def test_cancelled_waiter_does_not_leak_a_slot(server: Server) -> None:
    pool = Pool(PoolLimits(max_per_origin=1))
    origin = Origin("127.0.0.1", server.port)
    first = asyncio.create_task(get(pool, origin, b"/slow"))
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(get(pool, origin))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await first == b"ok"
    assert await get(pool, origin) == b"ok"
    assert pool.stats["total"] == 1
    pool.close()


def test_idle_connections_expire(clock_loop: ClockLoop) -> None:
    """On the loop's fake clock: kept until idle past the timeout, closed by the next sweep."""

    async def scenario() -> None:
        server = Server()
        await server.start()
        pool = Pool(PoolLimits(idle_timeout=5.0), clock=clock_loop.time)
        try:
            await get(pool, Origin("127.0.0.1", server.port))
            assert pool.stats["idle"] == 1
            clock_loop.now += 4.5  # a sweep runs (every second), the connection is not idle long enough
            for _ in range(5):
                await asyncio.sleep(0)
            assert pool.stats["idle"] == 1
            clock_loop.now += 1.5  # past the idle timeout: the next sweep closes it
            for _ in range(5):
                await asyncio.sleep(0)
            assert pool.stats == {"total": 0, "idle": 0}
        finally:
            pool.close()
            server.close()
            for w in server.writers:
                w.close()

    clock_loop.run_until_complete(scenario())


async def test_stale_keepalive_connection_is_retried_once(server: Server) -> None:
    pool = Pool(PoolLimits())
    origin = Origin("127.0.0.1", server.port)
    await get(pool, origin)
    # the server closes the idle connection behind the pool's back
    for w in server.writers:
        w.transport.abort()
    assert await get(pool, origin) == b"ok"
    assert server.connections == 2
    pool.close()


async def test_connect_failure_is_a_gateway_error() -> None:
    pool = Pool(PoolLimits(connect_timeout=2))
    with pytest.raises(UpstreamConnectError):
        await get(pool, Origin("127.0.0.1", 1))
    assert pool.stats["total"] == 0
    pool.close()


async def test_a_request_waits_for_a_free_connection_at_most_the_connect_timeout(server: Server) -> None:
    """Beyond the per-origin limit a request queues; if nothing frees up within the connect
    timeout it fails with a 503 instead of waiting forever (issue 11: 1,030 clients that never
    read wedged an origin for every route)."""
    pool = Pool(PoolLimits(max_per_origin=1, connect_timeout=0.3))
    origin = Origin("127.0.0.1", server.port)
    busy = asyncio.create_task(get(pool, origin, b"/hang"))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(UpstreamPoolTimeout) as info:
        await asyncio.wait_for(get(pool, origin), 5)
    assert 0.25 <= loop.time() - start < 3
    assert (info.value.status, info.value.reason) == (503, "upstream_pool_timeout")
    assert "maxConnectionsPerOrigin" in info.value.message
    busy.cancel()
    with pytest.raises(asyncio.CancelledError):
        await busy
    assert await get(pool, origin) == b"ok"  # the timed-out waiter left no slot behind
    assert pool.stats["total"] == 1
    pool.close()


async def test_idle_connections_kept_are_capped_by_pool_max_size(server: Server) -> None:
    """poolMaxSize is the idle connections kept (agentgateway's meaning), not a concurrency cap."""
    pool = Pool(PoolLimits(max_per_origin=8, max_idle_per_origin=1))
    origin = Origin("127.0.0.1", server.port)
    results = await asyncio.gather(*(get(pool, origin, b"/slow") for _ in range(4)))
    assert results == [b"ok"] * 4
    assert server.connections == 4, "four requests at once had four connections"
    assert pool.stats == {"total": 1, "idle": 1}, "only one of them was kept idle"
    pool.close()


async def test_past_the_pending_limit_a_request_fails_at_once(server: Server) -> None:
    """Circuit breaking: with every connection busy and maxPendingPerOrigin requests waiting, one
    more is a fast 503 `backend_overloaded` with retry-after, not one more waiter."""
    from fastgw.errors import BackendOverloaded

    pool = Pool(PoolLimits(max_per_origin=1, max_pending_per_origin=2, connect_timeout=5.0))
    origin = Origin("127.0.0.1", server.port)
    busy = asyncio.create_task(get(pool, origin, b"/slow"))
    await asyncio.sleep(0.02)
    waiting = [asyncio.create_task(get(pool, origin)) for _ in range(2)]
    await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(BackendOverloaded) as info:
        await get(pool, origin)
    assert loop.time() - start < 0.1
    err = info.value
    assert (err.status, err.reason, err.retryable) == (503, "backend_overloaded", True)
    assert (b"retry-after", b"1") in err.extra_headers and "maxPendingPerOrigin" in err.message
    assert await busy == b"ok" and [await w for w in waiting] == [b"ok", b"ok"]  # the queued ones are served
    pool.close()
