"""Clients that never read, through the real gateway (issue 11: 1,030 clients that never read a
large download wedged that origin for every route and grew the worker by 460 MB):

- on every exchange kind the upstream socket is paused while the client's buffer is full, so a
  client that reads nothing of a huge answer costs a bounded amount of memory;
- an origin at its connection limit answers further requests with a 503 after the connect
  timeout, on every route to it, instead of queueing them forever; it serves again once the
  slow clients are gone.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.procs import Gateway, bind_config, free_port, wait_until
from tests.e2e.stream_upstream import StreamUpstream

ROUTES = {"/v1/chat/completions": "completions", "/v1/messages": "messages", "*": "passthrough"}


def _routes(upstream: StreamUpstream) -> list[dict[str, object]]:
    def ai(name: str, provider: str) -> dict[str, object]:
        return {
            "name": name,
            "matches": [{"path": {"pathPrefix": f"/{name}"}}],
            "policies": {"urlRewrite": {"path": {"prefix": ""}}, "ai": {"routes": ROUTES}},
            "backends": [{"ai": {"name": name, "provider": {provider: {}}, "hostOverride": upstream.authority}}],
        }

    plain = {
        "name": "plain",
        "matches": [{"path": {"pathPrefix": "/plain"}}],
        "backends": [{"host": upstream.authority}],
    }
    return [ai("oa", "openAI"), ai("an", "anthropic"), plain]


@pytest.fixture(scope="module")
def upstream() -> Iterator[StreamUpstream]:
    server = StreamUpstream()
    yield server
    server.stop()


def _send(port: int, path: str, stream: bool, marker: str) -> socket.socket:
    body = json.dumps(
        {"model": "m", "max_tokens": 9, "stream": stream, "messages": [{"role": "user", "content": marker}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # a small reader
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n".encode()
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _settled(values: list[int], key: int, quiet: float = 1.0, limit: float = 15.0) -> int:
    """values[key] once it has stopped growing for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = values[key]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        time.sleep(0.05)
    return values[key]


KINDS = [
    ("/plain/v1/download", False),  # plain proxy
    ("/oa/v1/download", False),  # LLM passthrough
    ("/oa/v1/chat/completions", False),  # a large same-format JSON answer
    ("/oa/v1/chat/completions", True),  # same-format SSE (forced usage: read and re-framed)
    ("/an/v1/messages", True),  # same-format SSE, forwarded as received
    ("/an/v1/chat/completions", True),  # translated SSE
    ("/oa/v1/messages", True),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: StreamUpstream) -> Iterator[tuple[Gateway, int]]:
    port = free_port()
    gw = Gateway(tmp_path_factory.mktemp("slow-readers"), bind_config(port, _routes(upstream)), workers=1)
    yield gw, port
    gw.stop()


@pytest.mark.parametrize(("path", "stream"), KINDS, ids=[f"{p}:{'sse' if s else 'json'}" for p, s in KINDS])
def test_a_client_that_never_reads_a_huge_answer_costs_bounded_memory(
    gateway: tuple[Gateway, int], upstream: StreamUpstream, path: str, stream: bool
) -> None:
    gw, port = gateway
    (worker,) = gw.worker_pids()
    before = _rss(worker)
    key = len(upstream.sent)
    sock = _send(port, path, stream, "flood")
    try:
        wait_until(lambda: len(upstream.sent) > key, what="the upstream to start answering")
        sent = _settled(upstream.sent, key)
        grown = _rss(worker) - before
    finally:
        sock.close()
    # kernel socket buffers on both sides hold a few MB; the rest stays unread upstream
    assert sent < 64 * 1024 * 1024, f"the upstream sent {sent >> 20} MB to a client that reads nothing"
    assert grown < 48 * 1024 * 1024, f"the worker grew by {grown >> 20} MB"


def test_an_origin_at_its_connection_limit_answers_503_and_recovers(
    tmp_path_factory: pytest.TempPathFactory, upstream: StreamUpstream
) -> None:
    port = free_port()
    config = bind_config(
        port,
        _routes(upstream),
        config={"backend": {"maxConnectionsPerOrigin": 2, "connectTimeout": "500ms"}},
    )
    gw = Gateway(tmp_path_factory.mktemp("origin-limit"), config, workers=1)
    try:
        key = len(upstream.sent)
        slow = [_send(port, "/plain/v1/download", False, "flood") for _ in range(2)]
        wait_until(lambda: len(upstream.sent) >= key + 2, what="both downloads to start")
        # another route to the same origin, in an LLM client's dialect: a 503 after the timeout
        start = time.monotonic()
        with _send(port, "/oa/v1/chat/completions", False, "quick") as sock:
            answer = sock.recv(65536)
        took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b'"code":"upstream_pool_timeout"' in answer
        assert 0.4 < took < 5
        for s in slow:
            s.close()

        # the slow clients are gone: their connections close and the origin serves again
        def served() -> bool:
            with _send(port, "/oa/v1/chat/completions", False, "quick") as sock:
                return sock.recv(65536).startswith(b"HTTP/1.1 200 ")

        wait_until(served, timeout=10, what="the origin to serve again")
    finally:
        gw.stop()
