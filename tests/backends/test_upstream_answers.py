"""What the gateway does with awkward provider answers, in process on the real pipeline and real
upstream sockets: heads and held bodies past their limits (502 with the reason), large same-format
answers streamed through in bounded memory with their usage still read, error bodies scrubbed of
the gateway's key, a stream cut mid-line ending with an error event of its own, and the events
before an oversized one delivered."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from fastgw.backends.llm.exchange import LlmExchange
from fastgw.context import RequestContext
from fastgw.errors import Dialect, UpstreamTooLarge
from fastgw.native import SSEScanner
from fastgw.tokens.tokenizer import Tokenizer
from fastgw.upstream.limits import PoolLimits
from tests.backends.inproc import InProcGateway, sse_events
from tests.backends.llm.test_backend_exchange import FakeCtx
from tests.backends.provider import ANTHROPIC_ANSWER, Provider, Request, http_response

OPENAI_KEY = "sk-test-openai-key-0001"
ANTHROPIC_KEY = "sk-ant-test-key-000002"
PLAIN_KEY = "plain-backend-key-0003"
GOLDEN = Path(__file__).parent / "llm" / "golden"
ANTHROPIC_STREAM = (GOLDEN / "anthropic_from_openai" / "stream_text.in.sse").read_bytes()
CHAT = b'{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}'
STREAM_CHAT = b'{"model":"gpt-x","stream":true,"messages":[{"role":"user","content":"hi"}]}'
MESSAGES = b'{"model":"claude-x","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}'
STREAM_MESSAGES = b'{"model":"claude-x","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}'

ROUTES = '{/v1/chat/completions: completions, /v1/messages: messages, "*": passthrough}'


def config(port: int, backend: str = "") -> str:
    def ai(name: str, provider: str, key: str) -> str:
        return f"""
    - name: {name}
      matches: [{{path: {{pathPrefix: /{name}}}}}]
      policies:
        urlRewrite: {{path: {{prefix: ""}}}}
        backendAuth: {{key: {key}}}
        ai: {{routes: {ROUTES}}}
      backends:
      - ai: {{name: {name}, provider: {{{provider}: {{}}}}, hostOverride: "127.0.0.1:{port}"}}"""

    return f"""
config:
  backend: {{{backend}}}
binds:
- port: 3000
  listeners:
  - routes:{ai("oa", "openAI", OPENAI_KEY)}{ai("an", "anthropic", ANTHROPIC_KEY)}
    - name: plain
      matches: [{{path: {{pathPrefix: /plain}}}}]
      policies: {{backendAuth: {{key: {PLAIN_KEY}}}}}
      backends: [{{host: "127.0.0.1:{port}"}}]
"""


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    p = Provider()
    await p.start()
    yield p
    await p.aclose()


async def gateway(provider: Provider, backend: str = "") -> InProcGateway:
    return InProcGateway(config(provider.port, backend))


# -- heads and held bodies past their limits ----------------------------------------------------------
async def test_an_endless_response_head_is_a_502_not_unbounded_memory(provider: Provider) -> None:
    async def endless_head(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(20_000):  # 2.6 MB of header lines, or until the gateway hangs up
            writer.write(b"x-padding: " + b"a" * 120 + b"\r\n")
            await writer.drain()
        await asyncio.sleep(30)

    provider.answer = endless_head  # type: ignore[assignment]
    gw = await gateway(provider, "maxResponseHeaderBytes: 8192")
    try:
        resp = await gw.request("/oa/v1/chat/completions", CHAT)
        assert resp.status == 502
        error = orjson.loads(resp.body)["error"]
        assert error["code"] == "upstream_response_too_large" and "head larger than 8192" in error["message"]
        assert "reason=upstream_response_too_large" in gw.log_lines()[-1]
    finally:
        gw.close()


@pytest.mark.parametrize(
    ("path", "status", "dialect"),
    [
        ("/an/v1/chat/completions", 200, "openai"),  # a translated answer must be held whole
        ("/oa/v1/chat/completions", 500, "openai"),  # an error answer is held to be scrubbed
        ("/oa/v1/messages", 429, "anthropic"),  # ...and translated
    ],
)
async def test_a_held_answer_past_the_limit_is_a_502(provider: Provider, path: str, status: int, dialect: str) -> None:
    big = b'{"id":"x","content":[{"type":"text","text":"' + b"y" * 300_000 + b'"}]}'

    async def large(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        return http_response(status, big)

    provider.answer = large
    gw = await gateway(provider, "maxBufferedBodyBytes: 65536")
    try:
        resp = await gw.request(path, MESSAGES if path.endswith("/messages") else CHAT)
        assert resp.status == 502
        body = orjson.loads(resp.body)
        message = body["error"]["message"]
        assert "larger than 65536 bytes" in message and "maxBufferedBodyBytes" in message
        assert ("code" in body["error"]) if dialect == "openai" else (body["type"] == "error")
    finally:
        gw.close()


# -- large same-format answers: streamed through, usage still read ------------------------------------
class Discard:
    """A client transport that counts what it is sent and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0
        self.tail = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.tail = (self.tail + data)[-4096:]

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


@pytest.mark.parametrize("anthropic", [False, True], ids=["openai", "anthropic"])
async def test_a_large_same_format_answer_streams_through_in_bounded_memory(
    provider: Provider, anthropic: bool
) -> None:
    text = b"word " * 2_000_000  # 10 MB of answer
    if anthropic:
        body = (
            b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-big","content":[{"type":"text","text":"'
            + text
            + b'"}],"stop_reason":"end_turn",'
            + b'"usage":{"input_tokens":11,"cache_read_input_tokens":4,"output_tokens":22}}'
        )
    else:
        body = (
            b'{"id":"c1","object":"chat.completion","created":1,"model":"gpt-big","choices":[{"index":0,"message":'
            b'{"role":"assistant","content":"'
            + text
            + b'"},"finish_reason":"stop"}],"usage":{"prompt_tokens":15,"completion_tokens":22,"total_tokens":37}}'
        )
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)

    async def large(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        view = memoryview(body)
        for i in range(0, len(body), 65536):
            writer.write(view[i : i + 65536])
            await writer.drain()

    provider.answer = large  # type: ignore[assignment]
    gw = await gateway(provider)
    client = gw.client()
    sink = Discard()
    client.transport = sink  # type: ignore[assignment]
    client.conn.transport = sink  # type: ignore[assignment]
    tracemalloc.start()
    try:
        client.send(
            b"POST", b"/an/v1/messages" if anthropic else b"/oa/v1/chat/completions", MESSAGES if anthropic else CHAT
        )
        deadline = asyncio.get_running_loop().time() + 20
        while sink.size < len(body) or not sink.tail.endswith(b"}"):
            assert asyncio.get_running_loop().time() < deadline, "the answer did not arrive"
            await asyncio.sleep(0.01)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert peak < len(body) // 3, f"the gateway held {peak} bytes of a {len(body)} byte answer"
        line = gw.log_lines()[-1]
        if anthropic:
            assert "gen_ai.response.model=claude-big" in line
            assert "gen_ai.usage.input_tokens=15" in line and "gen_ai.usage.output_tokens=22" in line
        else:
            assert "gen_ai.response.model=gpt-big" in line
            assert "gen_ai.usage.input_tokens=15" in line and "gen_ai.usage.output_tokens=22" in line
    finally:
        gw.close()


# -- the gateway's key never reaches the client in an error body --------------------------------------
def _echo_headers(status: int, encoding: bytes = b""):  # type: ignore[no-untyped-def]
    async def answer(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        head = request[0].decode("latin-1")
        echoed = orjson.dumps({"error": {"message": f"invalid request; headers were: {head}", "type": "x"}})
        if encoding == b"gzip":
            return http_response(status, gzip.compress(echoed), extra=b"content-encoding: gzip\r\n")
        return http_response(status, echoed)

    return answer


@pytest.mark.parametrize(
    ("path", "key", "encoding"),
    [
        ("/oa/v1/chat/completions", OPENAI_KEY, b""),  # same format
        ("/oa/v1/messages", OPENAI_KEY, b""),  # translated into the client's dialect
        ("/an/v1/messages", ANTHROPIC_KEY, b""),  # raw key in x-api-key
        ("/an/v1/chat/completions", ANTHROPIC_KEY, b""),
        ("/oa/v1/other", OPENAI_KEY, b""),  # passthrough
        ("/oa/v1/other", OPENAI_KEY, b"gzip"),  # passthrough, compressed
        ("/plain/x", PLAIN_KEY, b""),  # a host backend with backendAuth
    ],
)
async def test_an_error_body_echoing_the_request_never_shows_the_key(
    provider: Provider, path: str, key: str, encoding: bytes
) -> None:
    provider.answer = _echo_headers(401, encoding)
    gw = await gateway(provider)
    try:
        resp = await gw.request(path, MESSAGES if path.endswith("/messages") else CHAT)
        assert key.encode() in provider.requests[-1][0], "the provider did get the key"
        assert resp.status == 401
        assert key.encode() not in resp.body
        assert b"[redacted]" in resp.body
        assert "content-encoding" not in resp.headers
    finally:
        gw.close()


async def test_a_success_body_is_not_scrubbed(provider: Provider) -> None:
    answer = ANTHROPIC_ANSWER.replace(b'"hello"', b'"' + ANTHROPIC_KEY.encode() + b'"')

    async def echo(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        return http_response(200, answer)

    provider.answer = echo
    gw = await gateway(provider)
    try:
        resp = await gw.request("/an/v1/messages", MESSAGES)
        assert resp.status == 200 and resp.body == answer  # a model's own words are not the gateway's to edit
    finally:
        gw.close()


# -- a stream cut mid-line -------------------------------------------------------------------------------
async def test_a_stream_cut_mid_line_ends_with_an_error_event_of_its_own(provider: Provider) -> None:
    cut = ANTHROPIC_STREAM.index(b'"text_delta"') + 5  # inside a data line

    async def dies(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        piece = ANTHROPIC_STREAM[:cut]
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await writer.drain()
        writer.transport.abort()

    provider.answer = dies  # type: ignore[assignment]
    gw = await gateway(provider)
    try:
        resp = await gw.request("/an/v1/messages", STREAM_MESSAGES)
        assert resp.status == 200 and resp.complete
        events = sse_events(resp.body)
        name, data = events[-1]
        assert name == "error", events[-2:]
        assert orjson.loads(data)["error"]["type"] == "api_error"
        assert resp.body.startswith(ANTHROPIC_STREAM[:cut])  # the rest went through as it came
    finally:
        gw.close()


# -- the events before an oversized one -------------------------------------------------------------------
async def test_events_before_an_oversized_one_are_translated_and_sent() -> None:
    ctx = FakeCtx()
    ctx.worker = SimpleNamespace(
        loop=asyncio.get_running_loop(),
        runtime=SimpleNamespace(tokenizer=Tokenizer()),
        pool=SimpleNamespace(limits=PoolLimits()),
    )
    ex = LlmExchange(cast(RequestContext, ctx), Dialect.OPENAI, Dialect.ANTHROPIC, True, False, False, True, "m")
    ex.status = 200
    ex.content_type = b"text/event-stream"
    ex.on_head(200, [(b"content-type", b"text/event-stream")])
    ex.scanner = SSEScanner(max_event_size=4096)
    head_end = ANTHROPIC_STREAM.index(b"event: content_block_delta")
    with pytest.raises(UpstreamTooLarge, match="larger than 4096"):
        ex.on_body(ANTHROPIC_STREAM[:head_end] + b"event: content_block_delta\ndata: " + b"x" * 5000)
    sent = b"".join(ctx.writer.body)
    chunks = [orjson.loads(data) for _, data in sse_events(sent)]
    assert chunks and chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert ctx.usage is None or ctx.usage.input_tokens > 0
