"""A client that resets its connection mid-request (SO_LINGER 0, then close), through the real
gateway: the upstream sees its connection closed promptly on every exchange kind, JSON and SSE,
on a fresh or a kept-alive upstream connection, and the access log says the client left (with
the tokens a stream carried so far)."""

from __future__ import annotations

import json
import re
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.e2e.procs import Gateway, bind_config, free_port, wait_until
from tests.e2e.stream_upstream import StreamUpstream

ROUTES = {"/v1/chat/completions": "completions", "/v1/messages": "messages", "*": "passthrough"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[StreamUpstream]:
    server = StreamUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: StreamUpstream) -> Iterator[tuple[Gateway, int]]:
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
    port = free_port()
    gw = Gateway(
        tmp_path_factory.mktemp("llm-abort"),
        bind_config(port, [ai("oa", "openAI"), ai("an", "anthropic"), plain]),
        workers=1,
    )
    yield gw, port
    gw.stop()


def _request(port: int, path: str, stream: bool, marker: str = "go") -> socket.socket:
    body = json.dumps(
        {"model": "m", "max_tokens": 9, "stream": stream, "messages": [{"role": "user", "content": f"{marker} a b"}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n".encode()
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def _reset(sock: socket.socket) -> float:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return time.monotonic()


KINDS = [
    ("/plain/v1/chat/completions", False),
    ("/plain/v1/chat/completions", True),
    ("/oa/v1/other", False),  # LLM passthrough
    ("/oa/v1/other", True),
    ("/oa/v1/chat/completions", False),  # same format
    ("/oa/v1/chat/completions", True),
    ("/an/v1/messages", False),
    ("/an/v1/messages", True),
    ("/an/v1/chat/completions", False),  # translated
    ("/an/v1/chat/completions", True),
    ("/oa/v1/messages", True),
]


@pytest.mark.parametrize("warm", [False, True], ids=["new-connection", "kept-alive"])
@pytest.mark.parametrize(("path", "stream"), KINDS, ids=[f"{p}:{'sse' if s else 'json'}" for p, s in KINDS])
def test_a_client_reset_closes_the_upstream_connection_and_is_logged(
    gateway: tuple[Gateway, int], upstream: StreamUpstream, path: str, stream: bool, warm: bool
) -> None:
    gw, port = gateway
    if warm:  # a finished request leaves a kept-alive upstream connection for the next one
        with _request(port, path, False, "quick") as sock:
            assert b" 200 " in sock.recv(65536).split(b"\r\n", 1)[0]
    answering = upstream.connections_answering
    closed = len(upstream.closed_at)
    logged = len(_abort_lines(gw, path))
    sock = _request(port, path, stream)
    if stream:
        got = b""
        while b"hello there" not in got:
            got += sock.recv(65536)
    else:
        wait_until(lambda: upstream.connections_answering > answering, what="the request to reach the upstream")
    reset_at = _reset(sock)
    wait_until(lambda: len(upstream.closed_at) > closed, timeout=10, what="the upstream connection to close")
    assert upstream.closed_at[-1] - reset_at < 2.0, "the upstream call ran on after the client left"
    wait_until(lambda: len(_abort_lines(gw, path)) > logged, timeout=10, what="the access log line")
    line = _abort_lines(gw, path)[-1]
    assert 'error="client closed the connection before the response was complete"' in line
    if stream and not path.startswith(("/plain", "/oa/v1/other")):
        found = re.search(r"gen_ai\.usage\.output_tokens=(\d+)", line)
        assert found is not None and int(found.group(1)) > 0, line


def _abort_lines(gw: Gateway, path: str) -> list[str]:
    return [
        line
        for line in gw.output().splitlines()
        if f"http.path={path} " in line and "reason=client_disconnected" in line
    ]
