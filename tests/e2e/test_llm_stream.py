"""Streaming through `ai` backends: forwarded as it arrives (never buffered), and a client that goes
away mid-stream cancels the upstream request."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, bind_config, free_port


class SlowSSE(socketserver.BaseRequestHandler):
    """An OpenAI-style stream of one chunk every 50 ms for up to 10 s; records when its client left."""

    server: SlowServer

    def setup(self) -> None:
        self.server.connections += 1

    def handle(self) -> None:
        sock: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        while len(body) < length:
            body += sock.recv(65536)
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
        if b"quick" in body:  # one chunk and the end; the connection stays open for the next request
            sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
            self.handle()
            return
        try:
            for _ in range(200):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.server.sent += 1
                time.sleep(0.05)
        except OSError:
            self.server.closed.set()


class SlowServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SlowSSE)
        self.sent = 0
        self.connections = 0
        self.closed = threading.Event()


@pytest.fixture(scope="module")
def fake(tmp: Path) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def slow() -> Iterator[SlowServer]:
    server = SlowServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def port(tmp: Path, fake: FakeProvider, slow: SlowServer) -> Iterator[int]:
    def route(name: str, provider: dict[str, Any], host: str) -> dict[str, Any]:
        return {
            "name": name,
            "matches": [{"path": {"pathPrefix": f"/{name}"}}],
            "backends": [{"ai": {"name": name, "provider": provider, "hostOverride": host}}],
        }

    p = free_port()
    routes = [
        route("pass", {"openAI": {}}, fake.authority),
        route("trans", {"anthropic": {}}, fake.authority),
        route("slow", {"openAI": {}}, f"127.0.0.1:{slow.server_address[1]}"),
    ]
    gw = Gateway(tmp, bind_config(p, routes), workers=1)
    yield p
    gw.stop()


def _stream_request(port: int, path: str, headers: dict[str, str], content: str = "go") -> socket.socket:
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": content}]}).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"{extra}\r\n".encode()
        + body
    )
    return sock


def _arrivals(sock: socket.socket) -> list[tuple[float, bytes]]:
    """(time, bytes) of every read until the chunked response ends."""
    out: list[tuple[float, bytes]] = []
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        out.append((time.monotonic(), chunk))
    return out


@pytest.mark.parametrize("prefix", ["pass", "trans"])
def test_stream_is_forwarded_incrementally(port: int, prefix: str) -> None:
    # 8 tokens 120 ms apart: a buffering gateway would deliver everything at once after ~1 s
    with _stream_request(
        port, f"/{prefix}/v1/chat/completions", {"x-fake-token-latency-ms": "120", "x-fake-tokens": "8"}
    ) as sock:
        start = time.monotonic()
        arrivals = _arrivals(sock)
    text = b"".join(c for _, c in arrivals)
    assert b" 200 " in text.split(b"\r\n", 1)[0]
    assert b"data: [DONE]" in text
    first_content = next(t for t, c in arrivals if b'"content":"go' in c)
    assert arrivals[-1][0] - first_content > 0.5, "the stream arrived in one piece"
    assert first_content - start < 0.6


@pytest.mark.parametrize("warm", [False, True], ids=["new-connection", "kept-alive-connection"])
def test_client_disconnect_mid_stream_cancels_upstream(port: int, slow: SlowServer, warm: bool) -> None:
    slow.closed.clear()
    slow.sent = 0
    if warm:  # leaves an idle upstream connection: the request below reuses it
        with _stream_request(port, "/slow/v1/chat/completions", {}, "quick") as sock:
            assert b'"content":"x"' in b"".join(c for _, c in _arrivals(sock))
    connections = slow.connections
    with _stream_request(port, "/slow/v1/chat/completions", {}) as sock:
        got = b""
        while b"data:" not in got:
            got += sock.recv(65536)
    assert slow.closed.wait(5), "the upstream stream kept running after the client left"
    assert slow.sent < 100
    assert slow.connections == connections + (0 if warm else 1)  # warm: the kept-alive connection served it


@pytest.mark.parametrize(("prefix", "path"), [("pass", "/v1/chat/completions"), ("trans", "/v1/chat/completions")])
def test_provider_dying_mid_stream_ends_with_an_error_event(port: int, prefix: str, path: str) -> None:
    """The head went out already: no second head, one terminal error event in the client's
    dialect, a properly ended body, and the connection closes."""
    sock = _stream_request(port, f"/{prefix}{path}", {"x-fake-tokens": "40", "x-fake-fail-after-tokens": "5"})
    data = b"".join(chunk for _, chunk in _arrivals(sock))
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"0\r\n\r\n"), "the chunked body is terminated, not cut"
    events = [e for e in body.replace(b"\r\n", b"\n").split(b"\n\n") if b"data: " in e]
    last = events[-1]
    assert b'"error"' in last and b"upstream" in last
    assert b"[DONE]" not in body
