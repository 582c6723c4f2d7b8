"""remoteRateLimit with `redis:` through real gateways (several instances, several workers) and a
real redis-server started, killed, paused and restarted by the tests."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("rrl-up"))
    yield up
    up.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    yield s
    s.stop()


def request(
    port: int, path: str = "/x", headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"connection": "close", **(headers or {})})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def config(port: int, upstream: Upstream, rrl: dict[str, Any]) -> dict[str, object]:
    routes = [{"policies": {"remoteRateLimit": rrl}, "backends": [{"host": f"127.0.0.1:{upstream.port}"}]}]
    return bind_config(port, routes)


#: the machine running the tests is shared and loaded: a round trip to a local Redis can take
#: longer than the 50ms default, which the tests of timeouts use
SLACK = "500ms"


def by_user(url: str, limit: dict[str, Any], timeout: str = SLACK, **extra: Any) -> dict[str, Any]:
    entry = {"key": "user", "value": 'request.headers["x-user"]'}
    return {
        "redis": {"url": url, "commandTimeout": timeout, "connectTimeout": timeout},
        "failureMode": "failClosed",
        "descriptors": [{"entries": [entry], "type": "requests", **limit}],
        **extra,
    }


def test_the_issue_example_one_bucket_per_user_across_instances(
    tmp_path: Path, upstream: Upstream, server: RedisServer
) -> None:
    rrl = by_user(server.url, {"limit": {"maxTokens": 5, "tokensPerFill": 1, "fillInterval": "100s"}})
    p1, p2 = free_port(), free_port()
    g1 = Gateway(tmp_path, config(p1, upstream, rrl), workers=2)
    g2 = Gateway(tmp_path, config(p2, upstream, rrl), workers=2)
    try:
        alice = [request(p1 if i % 2 else p2, headers={"x-user": "alice"}) for i in range(8)]
        statuses = [s for s, _, _ in alice]
        assert statuses == [200] * 5 + [429] * 3, statuses
        assert alice[0][1]["x-ratelimit-limit"] == "5" and alice[0][1]["x-ratelimit-remaining"] == "4"
        _, headers, body = alice[-1]
        assert body == b"rate limit exceeded"
        assert headers["x-ratelimit-remaining"] == "0"
        assert 90 <= int(headers["retry-after"]) <= 100
        # another user has a bucket of its own
        assert request(p1, headers={"x-user": "bob"})[0] == 200
        # no x-user: the descriptor does not apply (not limited, counted)
        assert [request(p2)[0] for _ in range(7)] == [200] * 7
        # a 10 KB value is hashed: its key stays short, and it is a bucket like any other
        huge = "u" * 10_000
        # (the test upstream refuses a 10 KB header with 400: what matters is the gateway's answer)
        huge_statuses = [request(p1, headers={"x-user": huge})[0] for _ in range(6)]
        assert 429 not in huge_statuses[:5] and huge_statuses[5] == 429, huge_statuses
        r = redis.Redis.from_url(server.url)
        keys = r.keys("*")
        r.close()
        assert len(keys) == 3 and all(len(k) < 64 for k in keys), keys
        wait_until(lambda: 'fastgw_remote_ratelimit_events_total{event="no_key"} 7.0' in metrics(g2), timeout=5)
        # each worker pushes its counts once a second
        wait_until(lambda: 'fastgw_remote_ratelimit_events_total{event="denied"} ' in metrics(g1), timeout=5)
    finally:
        g1.stop()
        g2.stop()


def metrics(g: Gateway) -> str:
    c = http.client.HTTPConnection("127.0.0.1", g.stats_port, timeout=5)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def test_a_fixed_window_and_the_client_dialect(tmp_path: Path, upstream: Upstream, server: RedisServer) -> None:
    rrl = by_user(server.url, {"window": {"limit": 3, "size": "1h"}}, dialect="client")
    port = free_port()
    g = Gateway(tmp_path, config(port, upstream, rrl), workers=2)
    try:
        path = "/v1/chat/completions"
        results = [request(port, path, headers={"x-user": "carol"}) for _ in range(4)]
        assert [s for s, _, _ in results] == [200, 200, 200, 429]
        _, headers, body = results[-1]
        err = json.loads(body)["error"]
        assert err["type"] == "rate_limit_error" and err["message"] == "rate limit exceeded"
        assert headers["content-type"] == "application/json"
        assert 1 <= int(headers["retry-after"]) <= 3600
        _, _, body = request(port, "/v1/messages", headers={"x-user": "carol"})
        assert json.loads(body) == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "rate limit exceeded"},
        }
    finally:
        g.stop()


def test_a_dead_redis_fails_closed_with_503_or_open_fast(
    tmp_path: Path, upstream: Upstream, server: RedisServer
) -> None:
    limit = {"limit": {"maxTokens": 1000, "tokensPerFill": 1000, "fillInterval": "1s"}}
    closed, opened = free_port(), free_port()
    gc = Gateway(tmp_path, config(closed, upstream, by_user(server.url, limit, dialect="client")), workers=1)
    go = Gateway(tmp_path, config(opened, upstream, by_user(server.url, limit, failureMode="failOpen")), workers=1)
    try:
        assert request(closed, headers={"x-user": "d"})[0] == 200
        server.kill()
        worst = 0.0
        for _ in range(20):
            t = time.monotonic()
            status, _, body = request(closed, "/v1/chat/completions", headers={"x-user": "d"})
            worst = max(worst, time.monotonic() - t)
            assert status == 503, body
            assert json.loads(body)["error"]["message"] == "rate limit service unavailable"
            assert request(opened, headers={"x-user": "d"})[0] == 200
        assert worst < 2.0
        wait_until(lambda: 'event="breaker_open"' in metrics(gc), timeout=5, what="breaker counted")
        wait_until(lambda: 'event="fail_closed"' in metrics(gc), timeout=5, what="decision counted")
        server.restart()
        # the breaker lets a probe through after breakerOpenFor (1s) and closes again
        wait_until(lambda: request(closed, headers={"x-user": "d"})[0] == 200, timeout=10, what="recovery")
    finally:
        gc.stop()
        go.stop()


def test_a_paused_redis_never_holds_a_request_past_the_timeout(
    tmp_path: Path, upstream: Upstream, server: RedisServer
) -> None:
    limit = {"limit": {"maxTokens": 1000, "tokensPerFill": 1000, "fillInterval": "1s"}}
    rrl = by_user(server.url, limit, timeout="100ms")
    port = free_port()
    g = Gateway(tmp_path, config(port, upstream, rrl), workers=2)
    try:
        assert request(port, headers={"x-user": "e"})[0] == 200
        server.pause()
        worst = 0.0
        statuses = []
        for _ in range(10):
            t = time.monotonic()
            statuses.append(request(port, headers={"x-user": "e"}, timeout=5)[0])
            worst = max(worst, time.monotonic() - t)
        assert set(statuses) == {503}, statuses
        assert worst < 1.0, worst  # commandTimeout 100ms (+ the request itself on a loaded machine)
        server.resume()
        wait_until(lambda: request(port, headers={"x-user": "e"})[0] == 200, timeout=10, what="recovery")
    finally:
        server.resume()
        g.stop()


def test_kill_pause_and_restart_under_load(tmp_path: Path, upstream: Upstream, server: RedisServer) -> None:
    import threading

    limit = {"limit": {"maxTokens": 100000, "tokensPerFill": 100000, "fillInterval": "1s"}}
    rrl = by_user(server.url, limit, timeout="100ms")
    rrl["redis"]["breakerOpenFor"] = "300ms"
    port = free_port()
    g = Gateway(tmp_path, config(port, upstream, rrl), workers=2)
    pids = set(g.worker_pids())
    stop = threading.Event()
    seen: list[tuple[int, float]] = []
    errors: list[str] = []

    def client() -> None:
        while not stop.is_set():
            t = time.monotonic()
            try:
                status = request(port, headers={"x-user": "load"}, timeout=5)[0]
            except Exception as exc:
                errors.append(repr(exc))
                continue
            seen.append((status, time.monotonic() - t))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: sum(1 for s, _ in seen if s == 200) > 20, timeout=20, what="load")
        server.kill()
        wait_until(lambda: seen[-1][0] == 503, timeout=10, what="fail closed")
        server.restart()
        wait_until(lambda: seen[-1][0] == 200, timeout=10, what="recovery after a restart")
        server.pause()
        wait_until(lambda: seen[-1][0] == 503, timeout=10, what="fail closed while paused")
        server.resume()
        mark = len(seen)
        wait_until(lambda: len(seen) > mark and seen[-1][0] == 200, timeout=10, what="recovery after a pause")
        assert set(g.worker_pids()) == pids  # no worker crashed and was respawned
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        server.resume()
        g.stop()
    assert not errors, errors[:5]
    assert {s for s, _ in seen} <= {200, 503}
    # nothing waits much past commandTimeout (100ms) plus the request itself on a loaded machine
    assert max(d for _, d in seen) < 2.0, max(d for _, d in seen)
