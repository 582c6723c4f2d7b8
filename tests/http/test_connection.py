"""HttpConnection without sockets: the raw-request corpus in every chunking, pipelining,
keep-alive, 100-continue, limits and deadlines on a controllable clock."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fastgw.http.capacity import ConnectionCap
from fastgw.http.connection import HttpConnection, ServerState
from fastgw.http.limits import HttpLimits
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from tests.http.fakes import ClockLoop, FakeTransport, Harness, plain_error

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


def test_a_head_trickling_in_is_408_counted_from_its_first_byte(clock_loop: ClockLoop) -> None:
    """Slowloris: one byte every 9 s must not move a 10 s header deadline."""
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1\r\n\r\n"

    async def go() -> Harness:
        h = Harness(Echo(), HttpLimits(header_read_timeout=10))
        for i in range(4):
            await h.feed(raw[i : i + 1])
            await h.advance(9)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [408]
    assert h.transport.closed


def test_a_pipelined_head_gets_its_deadline_when_its_turn_comes(clock_loop: ClockLoop) -> None:
    gate: list[Any] = []

    async def slow(req: Request, writer: ResponseWriter) -> None:
        fut = clock_loop.create_future()
        gate.append(fut)
        await fut
        writer.respond(200, [], b"ok")

    async def go() -> Harness:
        h = Harness(slow, HttpLimits(header_read_timeout=10))
        await h.feed(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n")
        await h.advance(30)  # the first request runs long: the second head waits without a clock
        gate.pop().set_result(None)
        await h.settle()
        for _ in range(3):
            await h.feed(b"X")  # it trickles from now on
            await h.advance(4)
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200, 408]


def test_a_body_slower_than_the_minimum_rate_is_408(clock_loop: ClockLoop) -> None:
    echo = Echo()
    limits = HttpLimits(min_body_rate=1024, body_rate_window=10, body_read_timeout=600)

    async def go() -> Harness:
        h = Harness(echo, limits)
        await h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
        for _ in range(3):
            await h.advance(3)
            await h.feed(b"x" * 100)
        assert h.responses() == [], "the window has not ended yet"
        await h.advance(2)
        return h

    h = _go(clock_loop, go)
    (r,) = h.responses()
    assert r.status == 408 and b"bytes per second" in r.body
    assert h.transport.closed and echo.bodies == []


def test_a_slow_but_steady_body_is_read_whole(clock_loop: ClockLoop) -> None:
    """2 KiB/s for 30 s (a poor mobile link) passes the default rate rule."""
    echo = Echo()
    body = b"y" * (2048 * 30)

    async def go() -> Harness:
        h = Harness(echo, HttpLimits())
        await h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 2048):
            await h.advance(1)
            await h.feed(body[i : i + 2048])
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200]
    assert echo.bodies == [body]


def test_a_body_the_gateway_holds_back_is_never_too_slow(clock_loop: ClockLoop) -> None:
    """Reading paused for backpressure (the backend is not reading yet) is not the client's fault."""
    gate = clock_loop.create_future()
    bodies: list[bytes] = []

    async def late(req: Request, writer: ResponseWriter) -> None:
        await gate
        bodies.append(await req.body.read_all())
        writer.respond(200, [], b"ok")

    body = b"z" * 20_000

    async def go() -> Harness:
        h = Harness(late, HttpLimits(body_high_water=4096, min_body_rate=1024, body_rate_window=10))
        await h.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n" + body[:8192])
        assert not h.transport.reading, "reading pauses above the high-water mark"
        await h.advance(25)
        assert h.responses() == [], "held back by the gateway: no 408"
        gate.set_result(None)
        await h.settle()
        await h.feed(body[8192:])
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200]
    assert bodies == [body]


def test_a_head_split_before_a_large_body_is_not_431(clock_loop: ClockLoop) -> None:
    """Only the head's own bytes count toward the header limit, not the body read with it."""
    echo = Echo()
    body = b"b" * 80_000
    raw = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 80000\r\n\r\n" + body

    async def go() -> Harness:
        h = Harness(echo)
        await h.feed(raw[:30], raw[30:])
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200]
    assert echo.bodies == [body]


def test_many_pipelined_requests_in_large_reads_are_all_answered(clock_loop: ClockLoop) -> None:
    """Reads of 200 KB that end inside a head: the next read is mostly other requests."""
    count = 20_000

    async def ok(req: Request, writer: ResponseWriter) -> None:
        writer.respond(200, [], b"")

    raw = b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n" * count

    async def go() -> Harness:
        h = Harness(ok)
        await h.feed(*[raw[i : i + 200_003] for i in range(0, len(raw), 200_003)])
        for _ in range(100):  # each answer starts the next request's task
            if h.transport.out.count(b"HTTP/1.1 ") >= count or h.transport.closed:
                break
            await h.settle(1000)
        return h

    h = _go(clock_loop, go)
    statuses = [r.status for r in h.responses()]
    assert len(statuses) == count and set(statuses) == {200}
    assert not h.transport.closed


def test_a_bad_chunk_after_connection_close_is_answered_at_once(clock_loop: ClockLoop) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"

    async def go() -> Harness:
        h = Harness(Echo())
        await h.feed(raw)  # the clock never moves: no deadline is involved
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [400]
    assert h.transport.closed


def test_bytes_after_a_connection_close_request_are_ignored(clock_loop: ClockLoop) -> None:
    echo = Echo()

    async def go() -> Harness:
        h = Harness(echo)
        await h.feed(b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n")
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200]
    assert [r.path for r in echo.calls] == [b"/last"] and h.transport.closed


@pytest.mark.parametrize(
    ("target", "options", "status", "path"),
    [
        (b"/a/%2e%2e/%61dmin", {}, 200, b"/admin"),
        (b"/a%2fb", {}, 200, b"/a%2Fb"),
        (b"/a%2fb", {"reject_escaped_slashes": True}, 400, None),
        (b"/a//b", {}, 200, b"/a//b"),
        (b"/a//b", {"merge_slashes": True}, 200, b"/a/b"),
        (b"/a%4", {}, 400, None),
    ],
)
def test_the_path_is_normalized_before_anything_sees_it(
    clock_loop: ClockLoop, target: bytes, options: dict[str, bool], status: int, path: bytes | None
) -> None:
    echo = Echo()

    async def go() -> Harness:
        h = Harness(echo, HttpLimits(**options))
        await h.feed(b"GET " + target + b"?q=/../%61 HTTP/1.1\r\nHost: a\r\n\r\n")
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [status]
    assert [(r.path, r.query) for r in echo.calls] == ([(path, b"q=/../%61")] if path else [])


def test_a_client_fin_with_a_request_in_flight_abandons_it(clock_loop: ClockLoop) -> None:
    """nginx's default: the upstream call is cancelled, not run for no one (the task path)."""
    cancelled: list[bool] = []

    async def forever(req: Request, writer: ResponseWriter) -> None:
        try:
            await clock_loop.create_future()
        except BaseException:
            cancelled.append(True)
            raise

    async def go() -> Harness:
        h = Harness(forever)
        await h.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        h.conn.eof_received()
        await h.settle()
        h.conn.connection_lost(None)  # (what the transport's abort leads to)
        await h.settle()
        return h

    h = _go(clock_loop, go)
    assert h.transport.aborted and cancelled == [True]


def test_a_client_fin_with_nothing_in_flight_closes_quietly(clock_loop: ClockLoop) -> None:
    async def go() -> Harness:
        h = Harness(Echo())
        await h.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        h.conn.eof_received()
        return h

    h = _go(clock_loop, go)
    assert [r.status for r in h.responses()] == [200]
    assert h.transport.closed and not h.transport.aborted


def test_at_the_connection_limit_idle_then_slow_connections_are_shed(
    clock_loop: ClockLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """Room for a new client comes from the longest-idle keep-alive connection, then from the
    slowest head reader; one carrying a request in progress is never shed: with nothing else
    left, the new connection is refused."""
    shed: list[tuple[str, int]] = []
    gate = clock_loop.create_future()

    async def hold(req: Request, writer: ResponseWriter) -> None:
        await gate
        writer.respond(200, [], b"ok")

    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"

    async def go() -> tuple[list[FakeTransport], list[str]]:
        cap = ConnectionCap(3, lambda kind, n: shed.append((kind, n)))
        state = ServerState(hold, plain_error, HttpLimits(), cap=cap)
        transports: list[FakeTransport] = []

        async def connect(data: bytes = b"") -> None:
            conn, transport = HttpConnection(state), FakeTransport()
            conn.connection_made(transport)  # type: ignore[arg-type]
            transports.append(transport)
            if data and not transport.closed:
                conn.data_received(data)
            await asyncio.sleep(0)

        await connect()  # 0: idle since it connected
        await connect(b"GET / HTTP/1.1\r\nHo")  # 1: a head reader
        await connect(request)  # 2: a request in progress
        await connect(request)  # 3: sheds 0 (idle)
        await connect(request)  # 4: sheds 1 (the slow head, with a 408)
        await connect(request)  # 5: 2, 3 and 4 are all in progress: refused
        first = _limit_lines(caplog)
        await asyncio.sleep(0)
        clock_loop.now += 1.5  # the timer that reports the rest, a second after the first line
        for _ in range(3):
            await asyncio.sleep(0)
        gate.set_result(None)
        await asyncio.sleep(0)
        return transports, first

    with caplog.at_level(logging.WARNING, logger="fastgw.http"):
        transports, first = _go(clock_loop, go)
    assert [t.closed for t in transports] == [True, True, False, False, False, True]
    assert not transports[0].out, "an idle connection closes quietly"
    assert b" 408 " in bytes(transports[1].out)
    assert shed == [("idle", 1), ("slow", 1), ("refused", 1)]
    assert len(first) == 1, "at most one line a second"
    assert _limit_lines(caplog)[1:] == [
        "connection limit (3 per worker) reached: shed 0 idle and 1 slow connections, refused 1"
    ]


def _limit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "connection limit" in r.getMessage()]
