"""The real `fastgw serve` process with several workers, real sockets, a real upstream."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port


@pytest.fixture(scope="module")
def gw(tmp: Path, upstream: Upstream) -> Iterator[Gateway]:
    port = free_port()
    routes = [
        {
            "name": "rewritten",
            "matches": [{"path": {"pathPrefix": "/api"}}],
            "policies": {
                "urlRewrite": {"path": {"prefix": "/v1"}},
                "requestHeaderModifier": {"set": {"x-gw": "fastgw"}, "remove": ["x-remove-me"]},
                "responseHeaderModifier": {"add": {"x-resp": "1"}},
            },
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
        {
            "name": "auth",
            "matches": [{"path": {"pathPrefix": "/auth"}}],
            "policies": {"backendAuth": {"key": "sk-backend-secret"}},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
        {
            "name": "timeout",
            "matches": [{"path": {"pathPrefix": "/slow"}}],
            "policies": {"timeout": {"requestTimeout": "300ms"}},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
        {
            "name": "authority",
            "matches": [{"path": {"pathPrefix": "/authority"}}],
            "policies": {"urlRewrite": {"authority": {"full": "internal.example:8443"}, "path": {"full": "/fixed"}}},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
        {
            "name": "keephost",
            "matches": [{"path": {"pathPrefix": "/keephost"}}],
            "policies": {"urlRewrite": {"authority": "none"}},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
        {
            "name": "retry",
            "matches": [{"path": {"pathPrefix": "/flaky"}}],
            "policies": {"retry": {"attempts": 2, "codes": [503]}},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
        {
            "name": "dead",
            "matches": [{"path": {"pathPrefix": "/dead"}}],
            "backends": [{"host": f"127.0.0.1:{free_port()}"}],
        },
        {
            "name": "exact",
            "matches": [{"path": {"exact": "/only"}, "method": "POST"}],
            "policies": {"directResponse": {"status": 418, "body": "teapot"}},
        },
        {
            "name": "default",
            "matches": [{"path": {"pathPrefix": "/"}}],
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        },
    ]
    cfg = bind_config(port, routes, config={"http": {"maxBodyBytes": 1 << 20, "maxHeaders": 50}})
    g = Gateway(tmp, cfg, workers=2)
    g.port = port  # type: ignore[attr-defined]
    yield g
    g.stop()


def request(
    gw: Gateway, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)  # type: ignore[attr-defined]
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def raw(gw: Gateway, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the gateway answers until it closes."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=timeout) as s:  # type: ignore[attr-defined]
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                pytest.fail(f"gateway kept the connection open after {out!r}")
            if not chunk:
                return out
            out += chunk


def test_proxy_rewrites_path_and_headers_and_strips_hop_by_hop(gw: Gateway) -> None:
    status, headers, body = request(
        gw,
        "POST",
        "/api/things?q=1",
        b'{"a":1}',
        {"Connection": "x-hop", "X-Hop": "1", "Keep-Alive": "timeout=5", "X-Remove-Me": "1", "Content-Type": "a/b"},
    )
    assert status == 200
    doc = json.loads(body)
    assert doc["path"] == "/v1/things" and doc["query"] == "q=1"
    assert doc["body"] == '{"a":1}'
    up = doc["headers"]
    assert up["x-gw"] == "fastgw"
    for hop in ("x-hop", "keep-alive", "x-remove-me", "connection"):
        assert hop not in up or (hop == "connection" and up[hop].lower() == "keep-alive")
    assert up["host"].startswith("127.0.0.1:")
    assert headers["x-resp"] == "1" and headers["x-upstream"] == "echo"


def test_backend_auth_replaces_client_credentials(gw: Gateway) -> None:
    _, _, body = request(gw, "GET", "/auth", headers={"Authorization": "Bearer client", "x-api-key": "client"})
    up = json.loads(body)["headers"]
    assert up["authorization"] == "Bearer sk-backend-secret"
    assert "x-api-key" not in up


def test_chunked_request_body_is_forwarded(gw: Gateway) -> None:
    def gen() -> Iterator[bytes]:
        yield b"hello "
        yield b"world"

    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)  # type: ignore[attr-defined]
    conn.request("POST", "/echo", body=gen(), encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    assert r.status == 200
    assert json.loads(r.read())["body"] == "hello world"
    conn.close()


def test_streaming_response_arrives_incrementally(gw: Gateway) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)  # type: ignore[attr-defined]
    conn.request("GET", "/stream?n=4&delay=0.3")
    r = conn.getresponse()
    assert r.status == 200
    t0 = time.monotonic()
    first = r.read1(65536)
    first_at = time.monotonic() - t0
    rest = r.read()
    total = time.monotonic() - t0
    assert first.startswith(b"data: 0")
    assert first_at < total - 0.5, "the first event must arrive before the stream ends"
    assert (first + rest).endswith(b"data: [DONE]\n\n")
    conn.close()


def test_large_response_body(gw: Gateway) -> None:
    status, _, body = request(gw, "GET", "/big?size=5000000")
    assert status == 200 and len(body) == 5_000_000


def test_head_request(gw: Gateway) -> None:
    status, _, body = request(gw, "HEAD", "/echo")
    assert status == 200 and body == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [("/dead/x", 502), ("/slow?delay=3", 504)],
)
def test_upstream_errors(gw: Gateway, path: str, status: int) -> None:
    got, _, body = request(gw, "GET", path)
    assert got == status, body


def test_route_matching_exact_and_method(gw: Gateway) -> None:
    assert request(gw, "POST", "/only", b"")[0] == 418
    assert request(gw, "GET", "/only")[0] == 200  # method mismatch falls to the default route


def test_route_not_found(tmp: Path, upstream: Upstream) -> None:
    port = free_port()
    cfg = bind_config(
        port, [{"matches": [{"path": {"exact": "/x"}}], "backends": [{"host": f"127.0.0.1:{upstream.port}"}]}]
    )
    g = Gateway(tmp, cfg, workers=1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/x") as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nope")
        assert e.value.code == 404
        assert e.value.read() == b"route not found"
    finally:
        assert g.stop() == 0


def test_body_over_limit_is_413_before_reading(gw: Gateway) -> None:
    out = raw(gw, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")


def test_too_many_headers_is_431(gw: Gateway) -> None:
    out = raw(gw, b"GET /echo HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * 60 + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    "attack",
    [
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /echo HTTP/1.1\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nBad Header: 1\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
    ],
    ids=["cl-te", "dup-cl", "bad-chunk", "obs-fold", "dup-host", "no-host", "bad-name", "upgrade", "connect"],
)
def test_framing_attacks_are_rejected_and_never_reach_upstream(gw: Gateway, upstream: Upstream, attack: bytes) -> None:
    before = json.loads(urllib.request.urlopen(upstream.url + "/_records").read())
    out = raw(gw, attack)
    status = int(out.split(b" ", 2)[1])
    assert status in (400, 405, 501), out
    assert b"connection: close" in out.lower()
    assert out.count(b"HTTP/1.1 ") == 1, "nothing after the error response"
    after = json.loads(urllib.request.urlopen(upstream.url + "/_records").read())
    assert after == before, "a rejected request reached the upstream"


def test_absolute_form_target_never_chooses_the_upstream(gw: Gateway) -> None:
    out = raw(gw, b"GET http://169.254.169.254/latest?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    doc = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert doc["path"] == "/latest" and doc["query"] == "x=1"


def test_keepalive_and_pipelining_over_one_socket(gw: Gateway) -> None:
    reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(10))
    out = raw(gw, reqs + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 11
    paths = [
        json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0])["path"]
        for part in out.split(b"HTTP/1.1 200 OK")[1:]
    ]
    assert paths == [f"/p{i}" for i in range(10)] + ["/last"]


def test_client_disconnect_cancels_the_upstream_request(gw: Gateway, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", gw.port)) as s:  # type: ignore[attr-defined]
        s.sendall(b"GET /slow?delay=5&tag=cancel-me HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        recs = json.loads(urllib.request.urlopen(upstream.url + "/_records").read())
        if any(r.get("cancelled") and "cancel-me" in str(r.get("path")) for r in recs):
            return
        time.sleep(0.05)
    pytest.fail("the upstream request was not cancelled after the client went away")


def test_retry_replays_the_body_and_hides_failed_tries(gw: Gateway) -> None:
    status, _, body = request(gw, "POST", "/flaky?key=a&fail=2", b"x" * 5000)
    assert status == 200
    assert json.loads(body) == {"tries": 3, "len": 5000}
    status, _, body = request(gw, "POST", "/flaky?key=b&fail=5", b"y")
    assert status == 503 and body == b"try 3 failed", "after attempts+1 tries the last answer is returned"


def test_authority_rewrites(gw: Gateway) -> None:
    doc = json.loads(request(gw, "GET", "/authority/x", headers={"Host": "client.example"})[2])
    assert doc["headers"]["host"] == "internal.example:8443" and doc["path"] == "/fixed"
    doc = json.loads(request(gw, "GET", "/keephost", headers={"Host": "client.example"})[2])
    assert doc["headers"]["host"] == "client.example"


def test_https_upstream_with_backend_tls(tmp: Path) -> None:
    import subprocess

    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    up = Upstream(tmp, extra=[str(cert), str(key)])
    port = free_port()
    routes = [
        {
            "matches": [{"path": {"pathPrefix": "/verified"}}],
            "policies": {"backendTLS": {"root": str(cert), "hostname": "localhost"}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "matches": [{"path": {"pathPrefix": "/system-roots"}}],
            "policies": {"backendTLS": {}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
    ]
    g = Gateway(tmp, bind_config(port, routes), workers=1)
    g.port = port  # type: ignore[attr-defined]
    try:
        status, _, body = request(g, "GET", "/verified/x")
        assert status == 200 and json.loads(body)["path"] == "/verified/x"
        # a self-signed certificate is not trusted by the system roots: 502, never plaintext
        assert request(g, "GET", "/system-roots")[0] == 502
    finally:
        g.stop()
        up.stop()
