"""HttpConnection without sockets: the raw-request corpus in every chunking, pipelining,
keep-alive, 100-continue, limits and deadlines on a controllable clock."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fastgw.http.connection import HttpLimits
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from tests.http.fakes import ClockLoop, Harness

CORPUS = Path(__file__).parent / "corpus"


def run(loop: ClockLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(coro)


class Echo:
    """A handler that reads the whole body and answers with a JSON description of the request."""

    def __init__(self) -> None:
        self.calls: list[Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, req: Request, writer: ResponseWriter) -> None:
        self.calls.append(req)
        body = await req.body.read_all()
        self.bodies.append(body)
        doc = {
            "method": req.method.decode(),
            "path": req.path.decode("utf-8", "replace"),
            "query": req.query.decode(),
            "body": body.decode("utf-8", "replace"),
            "headers": {n.decode(): v.decode("latin-1") for n, v in req.headers},
        }
        writer.respond(200, [(b"content-type", b"application/json")], orjson.dumps(doc))


def chunkings(raw: bytes, seed: int) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", [raw]
    yield "lines", [line for line in raw.splitlines(keepends=True)]
    yield "bytes", [raw[i : i + 1] for i in range(len(raw))]
    rnd = random.Random(seed)
    for n in range(3):
        cuts = sorted(rnd.sample(range(1, len(raw)), min(len(raw) - 1, rnd.randint(1, 6))))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        yield f"random{n}", pieces


def cases(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.http"))


@pytest.mark.parametrize("path", cases("valid"), ids=lambda p: p.stem)
def test_valid_corpus_in_every_chunking(clock_loop: ClockLoop, path: Path) -> None:
    raw = path.read_bytes()
    expected = json.loads(path.with_suffix(".json").read_text())
    for label, pieces in chunkings(raw, seed=len(raw)):
        echo = Echo()

        async def go(echo: Echo = echo, pieces: list[bytes] = pieces) -> Harness:
            h = Harness(echo)
            await h.feed(*pieces)
            return h

        h = run(clock_loop, go())
        responses = h.responses()
        assert len(responses) == 1, f"{label}: {bytes(h.transport.out)!r}"
        assert responses[0].status == 200, label
        assert orjson.loads(responses[0].body) == expected, label


@pytest.mark.parametrize("path", cases("invalid"), ids=lambda p: p.stem)
def test_invalid_corpus_is_rejected_and_closed(clock_loop: ClockLoop, path: Path) -> None:
    raw = path.read_bytes()
    status = json.loads(path.with_suffix(".json").read_text())["status"]
    for label, pieces in chunkings(raw, seed=len(raw)):
        echo = Echo()

        async def go(echo: Echo = echo, pieces: list[bytes] = pieces) -> Harness:
            h = Harness(echo)
            await h.feed(*pieces)
            return h

        h = run(clock_loop, go())
        responses = h.responses()
        assert [r.status for r in responses] == [status], f"{label}: {bytes(h.transport.out)!r}"
        assert responses[0].headers.get("connection") == "close", label
        assert h.transport.closed, label
        # a bad head never reaches a handler; a bad body framing never yields a body to forward
        assert echo.bodies == [], f"{label}: a malformed request reached the handler"
        if b"Transfer-Encoding: chunked" not in raw:
            assert echo.calls == [], f"{label}: a malformed request reached the handler"


def _go(loop: ClockLoop, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return loop.run_until_complete(fn())


def test_pipelined_requests_answer_in_order(clock_loop: ClockLoop) -> None:
    raw = b"".join(b"POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n%d" % (i, i) for i in range(5))

    async def go() -> Harness:
        h = Harness(Echo())
        await h.feed(raw)
        return h

    h = _go(clock_loop, go)
    bodies = [orjson.loads(r.body) for r in h.responses()]
    assert [b["path"] for b in bodies] == [f"/{i}" for i in range(5)]
    assert [b["body"] for b in bodies] == [str(i) for i in range(5)]
    assert not h.transport.closed


def test_pipelining_is_bounded(clock_loop: ClockLoop) -> None:
    gate: list[Any] = []

    async def slow(req: Request, writer: ResponseWriter) -> None:
        fut = clock_loop.create_future()
        gate.append(fut)
        await fut
        writer.respond(200, [], b"ok")

    raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 40

    async def go() -> Harness:
        h = Harness(slow, HttpLimits(max_pipelined=4))
        await h.feed(raw)
        assert not h.transport.reading, "reading must pause above the pipelining bound"
        while gate:
            gate.pop(0).set_result(None)
            await h.settle()
        return h

    h = _go(clock_loop, go)
    assert len(h.responses()) == 40
    assert h.transport.reading


def test_connection_close_and_http10(clock_loop: ClockLoop) -> None:
    async def go() -> tuple[Harness, Harness]:
        a = Harness(Echo())
        await a.feed(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        b = Harness(Echo())
        await b.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        return a, b

    a, b = _go(clock_loop, go)
    assert a.responses()[0].headers["connection"] == "close" and a.transport.closed
    assert b.responses()[0].headers["connection"] == "keep-alive" and not b.transport.closed


def test_expect_100_continue_only_when_body_is_read(clock_loop: ClockLoop) -> None:
    async def reject(req: Request, writer: ResponseWriter) -> None:
        writer.respond(429, [], b"rate limit exceeded")

    head = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"

    async def go() -> tuple[Harness, Harness]:
        r = Harness(reject)
        await r.feed(head)
        e = Harness(Echo())
        await e.feed(head)
        assert bytes(e.transport.out).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        await e.feed(b"abc")
        return r, e

    r, e = _go(clock_loop, go)
    assert b"100 Continue" not in bytes(r.transport.out)
    assert r.responses()[0].status == 429
    # the unread body makes the connection's framing unknown: it must close
    assert r.transport.closed
    out = bytes(e.transport.out)
    final = out[out.index(b"\r\n\r\n") + 4 :]
    assert orjson.loads(final[final.index(b"\r\n\r\n") + 4 :])["body"] == "abc"


@pytest.mark.parametrize(
    ("raw", "limits", "status"),
    [
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", HttpLimits(max_request_line=100), 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 500 + b"\r\n\r\n", HttpLimits(max_header_bytes=256), 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 20 + b"\r\n", HttpLimits(max_headers=10), 431),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", HttpLimits(max_body_bytes=1000), 413),
    ],
    ids=["uri-414", "header-bytes-431", "header-count-431", "body-413-before-reading"],
)
def test_limits(clock_loop: ClockLoop, raw: bytes, limits: HttpLimits, status: int) -> None:
    echo = Echo()

    async def go() -> Harness:
        h = Harness(echo, limits)
        await h.feed(raw)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [status]
    assert h.transport.closed
    assert echo.calls == []


@pytest.mark.parametrize(
    ("raw", "limits"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 20, HttpLimits(max_headers=10)),
        # one field line that never ends (httptools buffers it until its end)
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 20_000, HttpLimits(max_header_bytes=256, max_request_line=100)),
    ],
    ids=["count", "bytes"],
)
def test_limits_hold_before_the_head_is_complete(clock_loop: ClockLoop, raw: bytes, limits: HttpLimits) -> None:
    """A head that never ends is refused once what arrived breaks a limit, not buffered."""
    echo = Echo()

    async def go() -> Harness:
        h = Harness(echo, limits)
        await h.feed(*[raw[i : i + 100] for i in range(0, len(raw), 100)])
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [431]
    assert h.transport.closed and echo.calls == []


def test_request_fields_are_normalized(clock_loop: ClockLoop) -> None:
    raw = (
        b"POST /a HTTP/1.1\r\nHOST: a\r\nX-Mixed-Case: v  \t\r\nConnection: keep-alive, X-Hop\r\n"
        b"connection: Other\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nhi"
    )
    echo = Echo()

    async def go() -> Harness:
        h = Harness(echo)
        await h.feed(raw)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200]
    req = echo.calls[0]
    assert req.host == b"a" and req.content_length == 2
    assert (b"x-mixed-case", b"v") in req.headers
    # both Connection field lines nominate hop-by-hop fields
    assert req.nominated == {b"keep-alive", b"x-hop", b"other"}


def test_trailer_fields_are_read_not_kept(clock_loop: ClockLoop) -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nhi\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n"
    )
    for pieces in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
        echo = Echo()

        async def go(echo: Echo = echo, pieces: list[bytes] = pieces) -> Harness:
            h = Harness(echo)
            await h.feed(*pieces)
            return h

        h = _go(clock_loop, go)
        assert [r.status for r in h.responses()] == [200]
        assert echo.bodies == [b"hi"]
        names = {n for n, _ in echo.calls[0].headers}
        assert b"x-trailer" not in names and b"x-other" not in names


def test_too_many_trailer_fields_is_431(clock_loop: ClockLoop) -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nhi\r\n0\r\n" + b"X-T: 1\r\n" * 20 + b"\r\n"
    )

    class Waits:
        """Answers only once the whole body (with its trailers) has been read."""

        async def __call__(self, req: Request, writer: ResponseWriter) -> None:
            await req.body.read_all()
            writer.respond(200, [], b"")

    async def go() -> Harness:
        h = Harness(Waits(), HttpLimits(max_headers=10))
        await h.feed(raw)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [431]
    assert h.transport.closed


def test_chunked_body_over_limit_is_413(clock_loop: ClockLoop) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"100\r\n" + b"x" * 256 + b"\r\n"

    async def go() -> Harness:
        h = Harness(Echo(), HttpLimits(max_body_bytes=100))
        await h.feed(raw * 1)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [413]
    assert h.transport.closed


def test_header_read_deadline_is_408(clock_loop: ClockLoop) -> None:
    async def go() -> Harness:
        h = Harness(Echo(), HttpLimits(header_read_timeout=5))
        await h.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
        await h.advance(4.9)
        assert h.responses() == []
        await h.advance(0.2)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [408]
    assert h.transport.closed


def test_body_read_deadline_is_408(clock_loop: ClockLoop) -> None:
    echo = Echo()

    async def go() -> Harness:
        h = Harness(echo, HttpLimits(body_read_timeout=10))
        await h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        await h.advance(10.5)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [408]
    assert h.transport.closed


def test_idle_keepalive_connection_closes_quietly(clock_loop: ClockLoop) -> None:
    async def go() -> Harness:
        h = Harness(Echo(), HttpLimits(idle_timeout=30))
        await h.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await h.advance(29)
        assert not h.transport.closed
        await h.feed(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
        await h.advance(29)
        assert not h.transport.closed, "a second request re-arms the idle deadline"
        await h.advance(2)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200, 200]
    assert h.transport.closed


def test_streaming_response_is_chunked_for_http11(clock_loop: ClockLoop) -> None:
    async def stream(req: Request, writer: ResponseWriter) -> None:
        writer.start(200, [(b"content-type", b"text/event-stream")])
        for i in range(3):
            writer.write(b"data: %d\n\n" % i)
        writer.end()

    async def go() -> Harness:
        h = Harness(stream)
        await h.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        return h

    h = _go(clock_loop, go)
    (r,) = h.responses()
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert r.complete


def test_handler_error_after_head_cuts_the_response(clock_loop: ClockLoop) -> None:
    async def broken(req: Request, writer: ResponseWriter) -> None:
        writer.start(200, [])
        writer.write(b"partial")
        raise RuntimeError("boom")

    async def go() -> Harness:
        h = Harness(broken)
        await h.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        return h

    h = _go(clock_loop, go)
    (r,) = h.responses()
    assert r.status == 200 and not r.complete, "never a second head, never a fake end"
    assert h.transport.aborted
