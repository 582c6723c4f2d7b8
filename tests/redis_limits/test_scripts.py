"""The limit scripts in a real Redis against their Python twins, on a fake clock (the scripts
take `now` as an argument in tests; in production they read Redis' TIME)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.redis_limits.scripts import BUCKET, WINDOW, BucketTwin, WindowTwin
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path_factory.mktemp("redis"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(server.url)
    yield c
    c.close()


_keys = itertools.count()

ops = st.lists(
    st.tuples(st.sampled_from("tchgl"), st.integers(0, 12), st.integers(0, 3000)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    ops=ops,
    max_tokens=st.integers(1, 10),
    per=st.integers(1, 10),
    interval=st.integers(1, 1000),
)
def test_bucket_script_matches_its_twin(
    client: redis.Redis, ops: list[tuple[str, int, int]], max_tokens: int, per: int, interval: int
) -> None:
    per = min(per, max_tokens)
    twin = BucketTwin(max_tokens, per, interval)
    key = f"t:b:{next(_keys)}"
    script = client.register_script(BUCKET)
    now = 1_000_000
    for op, cost, dt in ops:
        now += dt
        got = script(keys=[key], args=[op, cost, max_tokens, per, interval, now])
        assert got == list(twin.step(op, cost, now)), (op, cost, now)
        assert 0 <= got[1] <= max_tokens


@settings(max_examples=60, deadline=None)
@given(ops=ops, limit=st.integers(1, 10), size=st.integers(1, 1000), sliding=st.booleans())
def test_window_script_matches_its_twin(
    client: redis.Redis, ops: list[tuple[str, int, int]], limit: int, size: int, sliding: bool
) -> None:
    twin = WindowTwin(limit, size, sliding)
    key = f"t:w:{next(_keys)}"
    script = client.register_script(WINDOW)
    now = 1_000_000
    for op, cost, dt in ops:
        now += dt
        got = script(keys=[key], args=[op, cost, limit, int(sliding), size, now])
        assert got == list(twin.step(op, cost, now)), (op, cost, now)


@settings(max_examples=200, deadline=None)
@given(
    takes=st.lists(st.tuples(st.integers(1, 5), st.integers(0, 400)), min_size=1, max_size=60),
    limit=st.integers(1, 20),
    size=st.integers(10, 1000),
)
def test_a_fixed_window_never_admits_more_than_its_limit(takes: list[tuple[int, int]], limit: int, size: int) -> None:
    twin = WindowTwin(limit, size)
    now = 0
    admitted: dict[int, int] = {}
    for cost, dt in takes:
        now += dt
        if twin.step("t", cost, now)[0]:
            admitted[now // size] = admitted.get(now // size, 0) + cost
    assert all(n <= limit for n in admitted.values())


@settings(max_examples=200, deadline=None)
@given(
    takes=st.lists(st.tuples(st.integers(1, 3), st.integers(0, 300)), min_size=1, max_size=80),
    max_tokens=st.integers(1, 20),
    per=st.integers(1, 20),
    interval=st.integers(1, 500),
)
def test_a_bucket_admits_at_most_its_capacity_plus_its_fills(
    takes: list[tuple[int, int]], max_tokens: int, per: int, interval: int
) -> None:
    per = min(per, max_tokens)
    twin = BucketTwin(max_tokens, per, interval)
    now = start = 0
    admitted = 0
    for cost, dt in takes:
        now += dt
        granted, _, _, retry = twin.step("t", cost, now)
        admitted += cost if granted else 0
        if not granted:
            assert retry == -1 or retry > 0
    assert admitted <= max_tokens + ((now - start) // interval) * per


def test_retry_after_is_when_the_request_fits() -> None:
    twin = WindowTwin(limit=2, size_ms=1000)
    assert twin.step("t", 1, 100)[0] and twin.step("t", 1, 200)[0]
    granted, left, reset, retry = twin.step("t", 1, 300)
    assert (granted, left, reset, retry) == (0, 0, 700, 700)
    assert twin.step("t", 1, 300 + retry)[0] == 1
    bucket = BucketTwin(max=3, per=1, interval_ms=1000)
    for _ in range(3):
        assert bucket.step("t", 1, 0)[0]
    granted, left, reset, retry = bucket.step("t", 2, 10)
    assert (granted, left, retry) == (0, 0, 1990)
    assert bucket.step("t", 2, 10 + retry)[0] == 1
    assert bucket.step("t", 4, 5000)[3] == -1  # larger than the bucket: never


def test_keys_expire(client: redis.Redis) -> None:
    script = client.register_script(BUCKET)
    script(keys=["t:exp"], args=["t", 1, 5, 1, 1000, ""])
    assert 0 < client.pttl("t:exp") <= 2000
    window = client.register_script(WINDOW)
    window(keys=["t:expw"], args=["t", 1, 5, 0, 1000, ""])
    assert 0 < client.pttl("t:expw") <= 2000
