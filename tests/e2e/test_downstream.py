"""Hostile and careless clients against the real `fastgw serve`: slow clients at the file-descriptor
limit, thousands of pipelined requests in one write, a client that closes its side mid-request,
paths that try to slip past a route, malformed Host values and request lines, spoofed
X-Forwarded-* fields. The upstream is tests/e2e/raw_upstream.py, which records requests exactly
as they arrived."""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.procs import Gateway, Upstream, free_port, wait_until


@pytest.fixture(scope="module")
def upstream(tmp: Path) -> Iterator[Upstream]:
    up = Upstream(tmp, "tests.e2e.raw_upstream")
    yield up
    up.stop()


@pytest.fixture(scope="module")
def cold(tmp: Path) -> Iterator[Upstream]:
    """An upstream that only ever gets requests the client abandons: the gateway never holds an
    idle connection to it, so each request connects anew (the request's task path)."""
    up = Upstream(tmp, "tests.e2e.raw_upstream")
    yield up
    up.stop()


@pytest.fixture(scope="module")
def bulk(tmp: Path) -> Iterator[Upstream]:
    """An upstream for the many-requests test (its records stay out of the others' way)."""
    up = Upstream(tmp, "tests.e2e.raw_upstream")
    yield up
    up.stop()


@pytest.fixture(scope="module")
def gw(tmp: Path, upstream: Upstream, cold: Upstream, bulk: Upstream) -> Iterator[Gateway]:
    to_upstream = [{"host": f"127.0.0.1:{upstream.port}"}]
    routes: list[dict[str, Any]] = [
        {
            "name": "admin",
            "matches": [{"path": {"pathPrefix": "/admin"}}],
            "policies": {"directResponse": {"status": 403}},
        },
        {
            "name": "direct",
            "matches": [{"path": {"exact": "/direct"}}],
            "policies": {"directResponse": {"status": 200}},
        },
        {
            "name": "pre",
            "matches": [{"path": {"pathPrefix": "/pre"}}],
            "policies": {"urlRewrite": {"path": {"prefix": "/base"}}},
            "backends": to_upstream,
        },
        {
            "name": "strip",
            "matches": [{"path": {"pathPrefix": "/strip"}}],
            "policies": {"urlRewrite": {"path": {"prefix": ""}}},
            "backends": to_upstream,
        },
        {
            "name": "cold",
            "matches": [{"path": {"pathPrefix": "/slow/cold"}}],
            "backends": [{"host": f"127.0.0.1:{cold.port}"}],
        },
        {
            "name": "bulk",
            "matches": [{"path": {"pathPrefix": "/bulk"}}],
            "backends": [{"host": f"127.0.0.1:{bulk.port}"}],
        },
        {"name": "default", "backends": to_upstream},
    ]
    port = free_port()
    cfg: dict[str, object] = {
        "binds": [
            {
                "port": port,
                "listeners": [
                    {
                        "name": "trusted",
                        "hostname": "trusted.example",
                        "forwardedHeaders": {"trust": True},
                        "routes": routes,
                    },
                    {
                        "name": "quiet",
                        "hostname": "quiet.example",
                        "forwardedHeaders": {"add": False},
                        "routes": routes,
                    },
                    {"name": "edge", "routes": routes},
                ],
            }
        ]
    }
    g = Gateway(tmp, cfg, workers=1)
    g.port = port  # type: ignore[attr-defined]
    yield g
    g.stop()


def records(up: Upstream) -> list[dict[str, Any]]:
    return json.loads(urllib.request.urlopen(up.url + "/_records", timeout=5).read())  # type: ignore[no-any-return]


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the gateway answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def get(gw: Gateway, target: str, host: str = "gw.example", fields: str = "") -> bytes:
    head = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{fields}Connection: close\r\n\r\n"
    return exchange(gw.port, head.encode())  # type: ignore[attr-defined]


def test_slow_clients_at_the_descriptor_limit_do_not_lock_others_out(tmp: Path) -> None:
    """With 256 descriptors, 300 connections that never finish their head would leave nothing
    for anyone else; the connection cap (derived from that limit) sheds the slowest instead."""
    port = free_port()
    cfg: dict[str, object] = {
        "config": {"http": {"headerReadTimeout": "60s"}},
        "binds": [{"port": port, "listeners": [{"routes": [{"policies": {"directResponse": {"status": 200}}}]}]}],
    }
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by the gateway only
    try:
        g = Gateway(tmp, cfg, workers=1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    slow: list[socket.socket] = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            slow.append(s)
        started = time.monotonic()
        out = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=10)
        assert out.startswith(b"HTTP/1.1 200 "), out
        assert time.monotonic() - started < 5
        wait_until(lambda: "connection limit (96 per worker) reached" in g.output(), 5, "the shed report")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics", timeout=5).read().decode()
        shed = [line for line in metrics.splitlines() if line.startswith('fastgw_connections_shed_total{kind="slow"}')]
        assert shed and float(shed[0].split()[-1]) >= 1, metrics
    finally:
        for s in slow:
            s.close()
        g.stop()


def test_thousands_of_pipelined_requests_in_one_write_are_all_answered(gw: Gateway) -> None:
    """Proxied, so requests queue up and reading pauses: the reads after a pause are large, and
    one that continues a head carries hundreds of other requests (which must not count as head)."""
    count = 5000
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:  # type: ignore[attr-defined]
        request = b"GET /bulk HTTP/1.1\r\nHost: a\r\nUser-Agent: pipeline-test/1.0\r\nAccept: */*\r\n\r\n"
        sender = threading.Thread(
            target=s.sendall, args=(request * (count - 1) + request.replace(b"*/*", b"*/*\r\nConnection: close"),)
        )
        sender.start()
        out = bytearray()
        while chunk := s.recv(1 << 16):
            out += chunk
        sender.join()
    assert out.count(b"HTTP/1.1 200 ") == count
    assert b"HTTP/1.1 431" not in out


@pytest.mark.parametrize("path", ["/slow/cold", "/slow/warm"])
def test_a_client_fin_cancels_the_upstream_call_at_once(
    gw: Gateway, upstream: Upstream, cold: Upstream, path: str
) -> None:
    """The upstream would answer after 10 s; the client closes its side after sending: the upstream
    connection is closed within moments, on the task path (a new upstream connection) and on the
    callback path (an idle pooled one)."""
    up = cold if path == "/slow/cold" else upstream
    if up is upstream:
        assert get(gw, "/warm-up").startswith(b"HTTP/1.1 200 "), "leaves an idle upstream connection"
    target = f"{path}?fin={time.monotonic_ns()}"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:  # type: ignore[attr-defined]
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        wait_until(lambda: any(r["target"] == target for r in records(up)), 5, "the request upstream")
        s.shutdown(socket.SHUT_WR)
        fin = time.monotonic()
        wait_until(lambda: "closed_at" in _record(up, target), 5, "the upstream connection to close")
        assert _record(up, target)["closed_at"] - fin < 2.0
    wait_until(lambda: _access_line(gw, target), 5, "the access log line")
    assert "reason=client_disconnected" in _access_line(gw, target)


def _record(up: Upstream, target: str) -> dict[str, Any]:
    return next(r for r in records(up) if r["target"] == target)


def _access_line(gw: Gateway, target: str) -> str:
    path = target.split("?")[0]
    return next((line for line in gw.output().splitlines() if f"http.path={path} " in line and "request" in line), "")


@pytest.mark.parametrize(
    ("target", "upstream_target"),
    [
        ("/pre/../secret?x=/../%61", "/secret?x=/../%61"),  # the query is never touched
        ("/strip/../../x", "/x"),
        ("/pre/a/%2E%2e/b", "/base/b"),
        ("/%7Euser/a%2fb", "/~user/a%2Fb"),
        ("/a/./b//c", "/a/b//c"),
    ],
)
def test_the_upstream_gets_the_normalized_path(
    gw: Gateway, upstream: Upstream, target: str, upstream_target: str
) -> None:
    assert get(gw, target).startswith(b"HTTP/1.1 200 ")
    assert any(r["target"] == upstream_target for r in records(upstream))


@pytest.mark.parametrize("target", ["/%61dmin", "/x/../admin", "/%2E/admin/"])
def test_a_guarded_prefix_cannot_be_bypassed(gw: Gateway, target: str) -> None:
    assert get(gw, target).startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: user@evil.example:81\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n",
        b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=[
        "http09",
        "http10-te",
        "host-space",
        "host-userinfo",
        "host-empty",
        "host-port",
        "bad-percent",
        "close-bad-chunk",
    ],
)
def test_malformed_requests_get_400_and_never_reach_the_upstream(gw: Gateway, upstream: Upstream, head: bytes) -> None:
    before = records(upstream)
    started = time.monotonic()
    out = exchange(gw.port, head)  # type: ignore[attr-defined]
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert b"connection: close" in out.lower()
    assert time.monotonic() - started < 3, "answered at once, not at a deadline"
    assert records(upstream) == before


FORWARDED = (
    "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n"
    "X-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n"
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (
            "gw.example",
            [["x-forwarded-for", "127.0.0.1"], ["x-forwarded-proto", "http"], ["x-forwarded-host", "gw.example"]],
        ),
        (
            "trusted.example",
            [
                ["x-forwarded-host", "evil.example"],
                ["x-forwarded-proto", "https"],
                ["forwarded", "for=6.6.6.6"],
                ["x-forwarded-for", "6.6.6.6, 127.0.0.1"],
            ],
        ),
        ("quiet.example", []),
    ],
    ids=["edge", "trusted", "quiet"],
)
def test_forwarding_fields_follow_the_listener_rule(
    gw: Gateway, upstream: Upstream, host: str, expected: list[list[str]]
) -> None:
    target = f"/fwd?n={time.monotonic_ns()}"
    assert get(gw, target, host, FORWARDED).startswith(b"HTTP/1.1 200 ")
    fields = _record(upstream, target)["fields"]
    assert [f for f in fields if f[0] == "forwarded" or f[0].startswith("x-forwarded-")] == expected
