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


def _post_chat(port: int) -> tuple[int, dict[str, str]]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = b'{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}'
        c.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def test_token_budget_reports_the_next_fill_not_one_second(tmp_path: Path) -> None:
    """Seed 001: one token per 100 s. The admitted response used to say `x-ratelimit-reset: 1`
    (the bucket was full); the reset is the seconds to the next fill, ~100, and a denied request is
    told to retry then."""
    from tests.e2e.llm_util import FakeProvider

    fake = FakeProvider(tmp_path)
    port = free_port()
    ai = {"ai": {"name": "openai", "provider": {"openAI": {}}, "hostOverride": fake.authority}}
    limit = {"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "100s", "type": "tokens"}
    g = Gateway(tmp_path, bind_config(port, [{"policies": {"localRateLimit": [limit]}, "backends": [ai]}]), workers=1)
    try:
        status, headers = _post_chat(port)
        assert status == 200
        assert 90 <= int(headers["x-ratelimit-reset"]) <= 100, headers
        status, headers = _post_chat(port)  # the first answer's usage emptied the budget
        assert status == 429
        assert headers["x-ratelimit-remaining"] == "0"
        assert 90 <= int(headers["x-ratelimit-reset"]) <= 100
        assert int(headers["x-ratelimit-reset"]) <= int(headers["retry-after"]) <= 100
    finally:
        g.stop()
        fake.stop()


def _metric(port: int, line_start: str) -> float | None:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = [float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_start)]
    return values[0] if values else None


def _limited_route(name: str, upstream: Upstream, interval: str) -> dict[str, object]:
    return {
        "name": name,
        "matches": [{"path": {"pathPrefix": f"/{name}"}}],
        "policies": {"localRateLimit": [{"maxTokens": 1, "tokensPerFill": 1, "fillInterval": interval}]},
        "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
    }


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"connection": "close"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_a_full_bucket_table_denies_and_counts_it(tmp_path: Path, upstream: Upstream) -> None:
    """config.localRateLimit.maxBuckets: 1, and two limited routes: the second route's bucket finds
    no slot (the first one's bucket is not full for 100 s). failClosed: 429, counted, no crash."""
    from tests.e2e.procs import wait_until

    port = free_port()
    routes = [_limited_route("a", upstream, "100s"), _limited_route("b", upstream, "100s")]
    cfg = bind_config(port, routes, config={"localRateLimit": {"maxBuckets": 1}})
    g = Gateway(tmp_path, cfg, workers=2)
    try:
        assert _get(port, "/a")[0] == 200
        status, headers, body = _get(port, "/b")
        assert (status, body) == (429, b"rate limit exceeded")
        assert "x-ratelimit-limit" not in headers
        assert _get(port, "/a")[0] == 429  # the route that has its bucket is limited as before
        wait_until(
            lambda: _metric(g.stats_port, 'fastgw_ratelimit_table_full_total{decision="deny"}') == 1,
            timeout=10,
            what="the full-table decision in /metrics",
        )
        assert _metric(g.stats_port, 'fastgw_ratelimit_buckets{state="slots"}') == 1
        assert g.proc.poll() is None
    finally:
        g.stop()


def test_idle_full_buckets_are_reclaimed_by_the_workers(tmp_path: Path, upstream: Upstream) -> None:
    """A bucket refilling every 2 s, used once: a second after it is full again a worker's sweep
    frees its slot (the gauge drops to 0), and the limit still holds when the bucket is made again."""
    from tests.e2e.procs import wait_until

    port = free_port()
    g = Gateway(tmp_path, bind_config(port, [_limited_route("r", upstream, "2s")]), workers=2)
    try:
        assert _get(port, "/r")[0] == 200
        wait_until(
            lambda: _metric(g.stats_port, 'fastgw_ratelimit_buckets{state="used"}') == 1,
            timeout=10,
            what="the bucket counted as used",
        )
        wait_until(
            lambda: _metric(g.stats_port, 'fastgw_ratelimit_buckets{state="used"}') == 0,
            timeout=15,
            what="the idle full bucket reclaimed",
        )
        status, headers, _ = _get(port, "/r")
        assert (status, headers["x-ratelimit-remaining"]) == (200, "0")
    finally:
        g.stop()
