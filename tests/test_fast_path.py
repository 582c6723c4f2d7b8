"""The callback-only fast path (no task) of `host:` and `ai` backends, in one process: a real
HttpConnection on a fake client transport, the worker's own dispatch wiring, an idle pooled upstream
connection on a fake transport, and a real local server for anything that must connect.

What it pins down: a reused connection the upstream had closed is retried once on a new one; a
client that goes away (or closes its side) aborts the upstream connection and still records the
request; a request the gateway refuses before sending puts the idle connection it took back in the
pool; every backend kind gets the listener's X-Forwarded-* fields.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fastgw.config.compile import load_runtime
from fastgw.context import RequestContext
from fastgw.http.connection import HttpConnection, ServerState
from fastgw.http.errors import api_error
from fastgw.pipeline import dispatcher
from fastgw.telemetry.access_log import AccessLog
from fastgw.upstream.connection import UpstreamConnection
from fastgw.worker_state import WorkerState
from tests.http.fakes import FakeTransport, parse_responses
from tests.local_server import LocalServer

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
ANSWER = (
    b'{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'
)


class Provider(LocalServer):
    """A keep-alive server answering every request with one canned chat completion."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(ANSWER), ANSWER)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    p = Provider()
    await p.start()
    yield p
    p.close()


class Gateway:
    """One worker's request path, with the client on a fake transport."""

    def __init__(self, backend: str, listener: str = "") -> None:
        text = f"binds:\n- port: 8080\n  listeners:\n  - {listener}routes:\n    - backends:\n      - {backend}\n"
        runtime = load_runtime("fast.yaml", text)
        bind = runtime.binds[0]
        self.log_fd = os.open(os.devnull, os.O_WRONLY)
        self.worker = WorkerState(runtime, 0, AccessLog(True, "text", fd=self.log_fd))
        state = ServerState(dispatcher(self.worker, bind), api_error, runtime.limits)
        self.conn = HttpConnection(state)
        self.client = FakeTransport()
        self.conn.connection_made(self.client)  # type: ignore[arg-type]
        backend_obj: Any = bind.routes.listeners[0].entries[0].route.backends[0]
        self.origin = backend_obj.origin if hasattr(backend_obj, "origin") else backend_obj.target.origin

    def idle_upstream(self) -> tuple[UpstreamConnection, FakeTransport]:
        """An idle keep-alive connection in the pool, on a fake transport."""
        pool = self.worker.pool
        up = UpstreamConnection(pool, self.origin)
        transport = FakeTransport()
        up.connection_made(transport)  # type: ignore[arg-type]
        pool.adopt(up)
        return up, transport

    def send(self, body: bytes = CHAT, fields: bytes = b"") -> None:
        self.conn.data_received(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n%s"
            b"content-length: %d\r\n\r\n%s" % (fields, len(body), body)
        )

    async def until(self, predicate: Any, what: str) -> None:
        for _ in range(500):
            if predicate():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        self.worker.access_log.flush()
        self.worker.close()
        os.close(self.log_fd)


BACKENDS = {
    "http": "host: 127.0.0.1:{port}",
    "ai": 'ai: {{name: p, provider: {{openAI: {{}}}}, hostOverride: "127.0.0.1:{port}"}}',
}


@pytest.mark.parametrize("kind", list(BACKENDS))
async def test_a_reused_connection_closed_by_the_upstream_is_retried_on_a_new_one(
    provider: Provider, kind: str
) -> None:
    gw = Gateway(BACKENDS[kind].format(port=provider.port))
    try:
        up, up_transport = gw.idle_upstream()
        gw.send()
        assert up_transport.out, "the request went out on the idle connection, without a task"
        assert not gw.conn.on_task
        up.connection_lost(None)  # the upstream had closed it: nothing was answered
        await gw.until(lambda: parse_responses(bytes(gw.client.out)), "the retried answer")
        (resp,) = parse_responses(bytes(gw.client.out))
        assert resp.status == 200 and b'"hello"' in resp.body
        assert len(provider.requests) == 1, "the retry reached the real upstream once"
        assert b'"messages"' in provider.requests[0]
        await gw.until(lambda: not gw.conn.serving, "the request to finish")
    finally:
        gw.close()


def _reason(ctx: RequestContext) -> str:
    """The reason the access log writes for a request."""
    return ctx.error.reason if ctx.error is not None else ctx.reason.label


@pytest.mark.parametrize("kind", list(BACKENDS))
async def test_a_client_that_goes_away_aborts_the_upstream_request(kind: str) -> None:
    gw = Gateway(BACKENDS[kind].format(port=9))
    try:
        records: list[str] = []
        original = gw.worker.metrics.record
        gw.worker.metrics.record = lambda ctx, d: (records.append(_reason(ctx)), original(ctx, d))  # type: ignore[method-assign]
        up, up_transport = gw.idle_upstream()
        gw.send()
        assert up_transport.out and not up_transport.closed
        gw.conn.connection_lost(None)
        assert up_transport.aborted, "the upstream connection is dropped, never reused"
        assert up.closed and not gw.worker.pool.idle(gw.origin)
        assert records == ["client_disconnected"], "the request is recorded once"
    finally:
        gw.close()


async def test_an_invalid_llm_body_is_refused_and_the_idle_connection_kept() -> None:
    gw = Gateway(BACKENDS["ai"].format(port=9))
    try:
        up, up_transport = gw.idle_upstream()
        gw.send(b'{"model": ')
        (resp,) = parse_responses(bytes(gw.client.out))
        assert resp.status == 400 and b'"invalid_request_error"' in resp.body
        assert not up_transport.out, "nothing reached the upstream"
        assert gw.worker.pool.idle(gw.origin) == [up], "the connection went back to the pool"
    finally:
        gw.close()


@pytest.mark.parametrize("kind", list(BACKENDS))
async def test_a_client_that_closes_its_side_aborts_the_upstream_request(kind: str) -> None:
    """A FIN with the answer still pending: the client abandoned it (nginx's default), the same
    path as a lost connection."""
    gw = Gateway(BACKENDS[kind].format(port=9))
    try:
        records: list[str] = []
        original = gw.worker.metrics.record
        gw.worker.metrics.record = lambda ctx, d: (records.append(_reason(ctx)), original(ctx, d))  # type: ignore[method-assign]
        _, up_transport = gw.idle_upstream()
        gw.send()
        assert up_transport.out and not up_transport.closed
        gw.conn.eof_received()
        assert gw.client.aborted, "the client's connection is dropped"
        gw.conn.connection_lost(None)  # (what the transport's abort leads to)
        assert up_transport.aborted, "the upstream connection is dropped, never reused"
        assert records == ["client_disconnected"], "the request is recorded once, as abandoned"
    finally:
        gw.close()


def _fields(head: bytes) -> list[tuple[bytes, bytes]]:
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [(n.strip().lower(), v.strip()) for n, v in (line.split(b":", 1) for line in lines)]


SPOOFED = b"x-forwarded-for: 6.6.6.6\r\nx-forwarded-host: evil.example\r\nforwarded: for=6.6.6.6\r\n"


@pytest.mark.parametrize("kind", list(BACKENDS))
@pytest.mark.parametrize(
    ("listener", "sent", "expected"),
    [
        ("", b"", [(b"x-forwarded-for", b"127.0.0.1"), (b"x-forwarded-proto", b"http"), (b"x-forwarded-host", b"gw")]),
        (
            "",
            SPOOFED,
            [(b"x-forwarded-for", b"127.0.0.1"), (b"x-forwarded-proto", b"http"), (b"x-forwarded-host", b"gw")],
        ),
        (
            "forwardedHeaders: {trust: true}\n    ",
            SPOOFED,
            [
                (b"x-forwarded-host", b"evil.example"),
                (b"forwarded", b"for=6.6.6.6"),
                (b"x-forwarded-for", b"6.6.6.6, 127.0.0.1"),
                (b"x-forwarded-proto", b"http"),
            ],
        ),
        ("forwardedHeaders: {add: false}\n    ", SPOOFED, []),
    ],
    ids=["added", "spoofed-dropped", "trusted-appended", "dropped-only"],
)
async def test_forwarding_fields_reach_every_backend_kind(
    provider: Provider, kind: str, listener: str, sent: bytes, expected: list[tuple[bytes, bytes]]
) -> None:
    gw = Gateway(BACKENDS[kind].format(port=provider.port), listener)
    try:
        gw.send(fields=sent)
        await gw.until(lambda: provider.requests, "the request upstream")
        forwarding = [
            (n, v) for n, v in _fields(provider.requests[0]) if n == b"forwarded" or n.startswith(b"x-forwarded-")
        ]
        assert forwarding == expected
        await gw.until(lambda: not gw.conn.serving, "the request to finish")
    finally:
        gw.close()


def _recording(gw: Gateway) -> list[str]:
    """The reasons of the requests the worker records (settle), in order."""
    records: list[str] = []
    original = gw.worker.metrics.record
    gw.worker.metrics.record = lambda ctx, d: (records.append(_reason(ctx)), original(ctx, d))  # type: ignore[method-assign]
    return records


@pytest.mark.parametrize("kind", list(BACKENDS))
async def test_each_way_a_request_ends_is_recorded_once_and_answers_once(kind: str) -> None:
    """The completion contract on the fast path: success (the exchange's callbacks complete it),
    failure before the head (fail, then complete: a 502 in the client's dialect), failure after
    the head (the response is cut), each recorded exactly once, none leaving a task behind."""
    gw = Gateway(BACKENDS[kind].format(port=9))
    try:
        records = _recording(gw)
        up, up_transport = gw.idle_upstream()
        gw.send()
        assert not gw.conn.on_task and up_transport.out
        up.data_received(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)
        )
        up.data_received(ANSWER)
        assert records == ["upstream"]
        [ok] = parse_responses(bytes(gw.client.out))
        assert ok.status == 200 and ok.complete

        # before the head: the upstream answers garbage
        gw.client.out.clear()
        up2, _ = gw.idle_upstream()
        gw.send()
        up2.data_received(b"NOT HTTP\r\n\r\n")
        await gw.until(lambda: len(records) == 2, "the failed request to be recorded")
        assert records[1] == "upstream_protocol"
        [bad] = parse_responses(bytes(gw.client.out))
        assert bad.status == 502 and bad.complete

        # after the head: the upstream dies mid-body; the client's response is cut, never completed
        gw.client.out.clear()
        up3, _ = gw.idle_upstream()
        gw.send()
        # (a body of unknown length is forwarded as it comes, by both kinds)
        up3.data_received(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{"
        )
        up3.connection_lost(None)
        await gw.until(lambda: len(records) == 3, "the cut request to be recorded")
        assert records[2] == "upstream_protocol"
        [cut] = parse_responses(bytes(gw.client.out))
        assert cut.status == 200 and not cut.complete and gw.client.closed
        assert not gw.conn.on_task
    finally:
        gw.close()
