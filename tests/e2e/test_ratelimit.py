"""localRateLimit through the real gateway: buckets shared by every worker of the instance."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("rl-up"))
    yield up
    up.stop()


def get(port: int) -> tuple[int, dict[str, str], bytes]:
    # a new connection each time, so requests spread over the workers
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/x", headers={"connection": "close"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_request_bucket_is_shared_by_all_workers(tmp_path: Path, upstream: Upstream) -> None:
    port = free_port()
    routes = [
        {
            "policies": {"localRateLimit": [{"maxTokens": 5, "tokensPerFill": 1, "fillInterval": "100s"}]},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        }
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:
        results = [get(port) for _ in range(12)]
        statuses = [s for s, _, _ in results]
        assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses
        ok = results[0][1]
        assert ok["x-ratelimit-limit"] == "5" and ok["x-ratelimit-remaining"] == "4"
        _, headers, body = results[-1]
        assert body == b"rate limit exceeded"
        assert headers["x-ratelimit-remaining"] == "0"
        assert 90 <= int(headers["retry-after"]) <= 100
        # the access log says why, in agentgateway's words (seed 000's expected log line)
        from tests.e2e.procs import wait_until

        wait_until(lambda: 'http.status=429 error="rate limit exceeded"' in g.output(), timeout=5, what="log")
        line = next(ln for ln in g.output().splitlines() if "http.status=429" in ln)
        assert "\tinfo\trequest gateway=bind/" in line and " route=route0 " in line and "http.method=GET" in line
    finally:
        g.stop()


def test_seed_bucket_survives_a_reload(tmp_path: Path, upstream: Upstream) -> None:
    import signal

    from tests.e2e.procs import wait_until

    port = free_port()
    routes = [
        {
            "policies": {"localRateLimit": [{"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "100s"}]},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        }
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:
        assert get(port)[0] == 200
        assert get(port)[0] == 429
        pids = set(g.worker_pids())
        g.signal(signal.SIGHUP)  # same config: the bucket must not be refilled by a reload
        wait_until(lambda: not (set(g.worker_pids()) & pids), timeout=20, what="reload")
        assert get(port)[0] == 429
    finally:
        g.stop()
