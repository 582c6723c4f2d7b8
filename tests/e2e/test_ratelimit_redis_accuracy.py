"""Accuracy of remoteRateLimit under contention: 2 instances x 4 workers, 64 concurrent clients,
one key. The scripts are atomic in Redis, so the admitted count is the limit exactly (the issue
allows 1% under and never over). The same check fails a limiter that reads and then writes in two
round trips (`test_a_non_atomic_limiter_fails_the_same_check`): that is what the check is for."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.e2e.procs import Gateway, bind_config, free_port
from tests.redis_server import RedisServer

LIMIT = 600
REQUESTS = 1000
CLIENTS = 64


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    yield s
    s.stop()


def check_accuracy(admitted: int, limit: int) -> None:
    """The issue's bar: within 1% of the limit, and never over it."""
    assert limit * 0.99 <= admitted <= limit, f"admitted {admitted} for a limit of {limit}"


async def _client(ports: list[int], i: int, todo: list[int], statuses: Counter[int]) -> None:
    port = ports[i % len(ports)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /x HTTP/1.1\r\nhost: gw\r\nx-user: hot\r\n\r\n"
    try:
        while todo[0] > 0:
            todo[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            statuses[status] += 1
    finally:
        writer.close()


async def _load(ports: list[int]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    todo = [REQUESTS]
    async with asyncio.timeout(120):
        await asyncio.gather(*(_client(ports, i, todo, statuses) for i in range(CLIENTS)))
    return statuses


def _rrl(url: str, **extra: object) -> dict[str, object]:
    return {
        # generous timeouts: 8 workers and 64 clients share two loaded cores here
        "redis": {"url": url, "commandTimeout": "2s", "connectTimeout": "2s"},
        "failureMode": "failClosed",
        "descriptors": [
            {
                "entries": [{"key": "user", "value": 'request.headers["x-user"]'}],
                "limit": {"maxTokens": LIMIT, "tokensPerFill": 1, "fillInterval": "1000s"},
                **extra,
            }
        ],
    }


def _run(tmp_path: Path, rrl: dict[str, object], workers: int) -> Counter[int]:
    routes = [{"policies": {"remoteRateLimit": rrl, "directResponse": {"status": 200, "body": "ok"}}}]
    ports = [free_port(), free_port()]
    gateways = [Gateway(tmp_path, bind_config(p, routes), workers=workers) for p in ports]
    try:
        statuses = asyncio.run(_load(ports))
    finally:
        for g in gateways:
            g.stop()
    assert sum(statuses.values()) == REQUESTS and set(statuses) <= {200, 429}, statuses
    return statuses


def test_two_instances_of_four_workers_admit_the_limit(tmp_path: Path, server: RedisServer) -> None:
    statuses = _run(tmp_path, _rrl(server.url), workers=4)
    check_accuracy(statuses[200], LIMIT)


def test_leases_never_admit_more_and_hold_back_at_most_a_lease_per_worker(tmp_path: Path, server: RedisServer) -> None:
    size, workers = 10, 2
    statuses = _run(tmp_path, _rrl(server.url, lease={"size": size, "ttl": "10s"}), workers=workers)
    # the tokens a worker took and has not used yet are what may be missing (2 instances)
    assert LIMIT - 2 * workers * size <= statuses[200] <= LIMIT, statuses


async def _non_atomic(url: str) -> int:
    """A limiter that GETs the count, decides, then SETs it: 8 workers' worth of clients."""
    r = aioredis.Redis.from_url(url)
    admitted = 0
    todo = [REQUESTS]

    async def one() -> None:
        nonlocal admitted
        while todo[0] > 0:
            todo[0] -= 1
            used = int(await r.get("naive") or 0)
            if used < LIMIT:
                await r.set("naive", used + 1)
                admitted += 1

    await asyncio.gather(*(one() for _ in range(CLIENTS)))
    await r.aclose()
    return admitted


def test_a_non_atomic_limiter_fails_the_same_check(server: RedisServer) -> None:
    admitted = asyncio.run(_non_atomic(server.url))
    with pytest.raises(AssertionError):
        check_accuracy(admitted, LIMIT)
