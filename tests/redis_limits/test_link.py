"""The worker's Redis link without a gateway: batching, a server answering garbage, a dead
server, the breaker on a fake clock; the price table and the budget arithmetic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from fastgw.redis_limits.link import Breaker, RedisFailed, RedisLink, RedisSpec
from fastgw.redis_limits.prices import PriceTable
from fastgw.redis_limits.scripts import BUCKET_SCRIPT
from fastgw.redis_limits.vkeys import BadKeyRequest, KeyView, new_record
from tests.e2e.procs import free_port
from tests.redis_server import RedisServer

ARGS = (b"t", 1, 1000, 1000, 1000, b"")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path_factory.mktemp("redis-link"))
    yield s
    s.stop()


def test_concurrent_calls_share_round_trips(server: RedisServer) -> None:
    async def main() -> tuple[list[list[int]], list[str]]:
        events: list[str] = []
        link = RedisLink(RedisSpec(server.url, connect_timeout=2, command_timeout=2), events.append)
        replies = await asyncio.gather(*(link.call(BUCKET_SCRIPT, b"t:batch", ARGS) for _ in range(200)))
        return replies, events

    replies, events = asyncio.run(main())
    assert sorted(r[1] for r in replies) == list(range(800, 1000))  # each took one token, atomically
    assert events == []


async def _garbage_server(port: int, answer: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                writer.write(answer)
        except ConnectionError:
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


@pytest.mark.parametrize(
    "answer", [b"+OK\r\n", b"$-1\r\n", b":12\r\n", b"\x00\xffnot resp at all\r\n", b"*2\r\n:1\r\n"]
)
def test_a_server_answering_garbage_is_a_counted_failure(answer: bytes) -> None:
    async def main() -> tuple[list[BaseException | list[int]], list[str], float]:
        port = free_port()
        srv = await _garbage_server(port, answer)
        events: list[str] = []
        link = RedisLink(RedisSpec(f"redis://127.0.0.1:{port}/0", command_timeout=0.2), events.append)
        t = time.monotonic()
        got = await asyncio.gather(*(link.call(BUCKET_SCRIPT, b"k", ARGS) for _ in range(5)), return_exceptions=True)
        took = time.monotonic() - t
        srv.close()
        return got, events, took

    got, events, took = asyncio.run(main())
    assert all(isinstance(g, RedisFailed) for g in got), got
    assert events and set(events) <= {"garbage", "error", "timeout", "breaker_opened"}, events
    assert took < 2.0


def test_a_dead_server_opens_the_breaker_then_calls_fail_at_once() -> None:
    async def main() -> tuple[list[str], float, bool]:
        events: list[str] = []
        link = RedisLink(RedisSpec(f"redis://127.0.0.1:{free_port()}/0", breaker_failures=2), events.append)
        for _ in range(3):
            with pytest.raises(RedisFailed):
                await link.call(BUCKET_SCRIPT, b"k", ARGS)
        t = time.monotonic()
        for _ in range(1000):
            assert not link.available
        return events, (time.monotonic() - t) / 1000, link.available

    events, per_check, available = asyncio.run(main())
    assert "breaker_opened" in events and events.count("error") >= 2
    assert per_check < 0.001 and not available


def test_breaker_probes_once_and_doubles_its_open_time() -> None:
    now = [0.0]
    b = Breaker(threshold=2, open_for=1.0, clock=lambda: now[0])
    assert b.allow() and not b.failure() and b.failure()  # the second failure opens it
    assert b.open and not b.allow()
    now[0] = 1.0
    assert not b.open and b.allow()  # one probe
    assert not b.allow()  # and only one
    assert b.failure()  # the probe failed: open for 2 s
    now[0] = 2.9
    assert b.open
    now[0] = 3.0
    assert b.allow()
    b.success()
    assert not b.open and b.allow() and b.allow()


def test_price_table_prefixes_and_unknown_models() -> None:
    prices = PriceTable()
    assert prices.find("gpt-4o-2024-08-06") == prices.find("gpt-4o")
    assert prices.find("gpt-4o-mini-2024-07-18") == prices.find("gpt-4o-mini") != prices.find("gpt-4o")
    assert prices.find("some-local-model") is None
    p = prices.find("claude-sonnet-4-5-20250929")
    assert p is not None and p.usd(1_000_000, 0, 0, 0) == 3.0
    from fastgw.redis_limits.prices import Price

    custom = PriceTable({"my-*": Price(1, 2, 1, 1)})
    assert custom.find("my-model") == Price(1, 2, 1, 1)


def test_budget_windows_and_charges() -> None:
    record = new_record({"name": "k", "budgets": [{"name": "h", "window": "1h", "tokens": 100}, {"usd": 1}]})
    record["id"] = "abc"
    import orjson

    now = 7_200_000 + 1000  # 1 s into an hour
    view = KeyView({b"rec": orjson.dumps(record), b"t:0:2": b"100", b"t:0:1": b"5"}, now)
    ex = view.exhausted()
    assert ex is not None and ex.name == "h" and ex.reset_ms == 3_599_000
    assert ex.message() == "budget 'h' of this API key is spent: 100/100 tokens per 1h"
    args = view.charge_args(10, 2500)
    assert args[:2] == (1, b"t:0:1")  # the ended window's count is dropped
    assert set(zip(args[2::2], args[3::2], strict=True)) == {
        (b"t:0:2", 10),
        (b"u:0:2", 2500),
        (b"t:1:0", 10),
        (b"u:1:0", 2500),
    }
    for bad in ({}, {"name": "x", "budgets": [{"window": "1d"}]}, {"name": "x", "budgets": [{"tokens": -1}]}):
        with pytest.raises(BadKeyRequest):
            new_record(bad)
