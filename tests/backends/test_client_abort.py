"""A client that leaves mid-request: on every exchange kind (plain, LLM passthrough, LLM same
format, LLM translated; JSON and SSE; served on callbacks or as a task) the upstream connection is
closed at once and never returned to the pool, and the access log says the client left, with the
tokens a stream had carried so far. In process: the real pipeline and upstream sockets, a client
on a fake transport that resets its connection."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from tests.backends.inproc import InProcGateway, until
from tests.backends.provider import Provider, Request, default_answer

OPENAI_CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,'
    b'"delta":{"content":" hello there"},"finish_reason":null}]}\n\n'
)
ANTHROPIC_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":'
    b'"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":42,"output_tokens":1}}}'
    b'\n\nevent: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text",'
    b'"text":""}}\n\n'
)
ANTHROPIC_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":" hello there"}}\n\n'
)


async def slow(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
    """`quick` requests are answered at once (they leave a warm connection in the pool); anything
    else: a stream of a chunk every 20 ms, or a JSON answer that takes 10 s, until the gateway
    hangs up."""
    _, path, body = request
    if b"quick" in body:
        return default_answer(path)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    if b'"stream":true' in body:
        anthropic = path.endswith(b"/messages")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        if anthropic:
            writer.write(b"%x\r\n%s\r\n" % (len(ANTHROPIC_START), ANTHROPIC_START))
        chunk = ANTHROPIC_DELTA if anthropic else OPENAI_CHUNK
        while loop.time() < deadline and not reader.at_eof():
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await asyncio.sleep(0.02)
        return None
    while loop.time() < deadline and not reader.at_eof():
        await asyncio.sleep(0.01)
    return None  # (the gateway hung up: the handler's next read sees the end)


def config(port: int) -> str:
    routes = '{/v1/chat/completions: completions, /v1/messages: messages, "*": passthrough}'

    def ai(name: str, provider: str) -> str:
        return f"""
    - name: {name}
      matches: [{{path: {{pathPrefix: /{name}}}}}]
      policies:
        urlRewrite: {{path: {{prefix: ""}}}}
        ai: {{routes: {routes}}}
      backends:
      - ai: {{name: {name}, provider: {{{provider}: {{}}}}, hostOverride: "127.0.0.1:{port}"}}"""

    return f"""
binds:
- port: 3000
  listeners:
  - routes:{ai("oa", "openAI")}{ai("an", "anthropic")}
    - name: plain
      matches: [{{path: {{pathPrefix: /plain}}}}]
      backends: [{{host: "127.0.0.1:{port}"}}]
"""


def body(path: str, stream: bool, marker: str = "go") -> bytes:
    s = "true" if stream else "false"
    return (
        f'{{"model":"m","max_tokens":9,"stream":{s},"messages":[{{"role":"user","content":"{marker} a b c"}}]}}'
    ).encode()


@pytest.fixture
async def env() -> AsyncIterator[tuple[Provider, InProcGateway]]:
    provider = Provider(slow)
    await provider.start()
    gw = InProcGateway(config(provider.port))
    yield provider, gw
    gw.close()
    await provider.aclose()


KINDS = [
    ("/plain/v1/chat/completions", "plain"),
    ("/oa/v1/other", "passthrough"),
    ("/oa/v1/chat/completions", "same format"),
    ("/an/v1/messages", "same format"),
    ("/an/v1/chat/completions", "translated"),
    ("/oa/v1/messages", "translated"),
]


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "new-connection"])
@pytest.mark.parametrize("stream", [True, False], ids=["sse", "json"])
@pytest.mark.parametrize(("path", "kind"), KINDS, ids=[f"{k}:{p}" for p, k in KINDS])
async def test_a_client_reset_closes_the_upstream_connection_at_once(
    env: tuple[Provider, InProcGateway], path: str, kind: str, stream: bool, warm: bool
) -> None:
    provider, gw = env
    loop = asyncio.get_running_loop()
    if warm:  # a finished request leaves an idle connection: the next one is served on callbacks
        resp = await gw.request(path, body(path, False, "quick"))
        assert resp.status == 200
        await until(lambda: gw.worker.pool.stats["idle"] == 1, "the connection to go back to the pool")
    connections = provider.connections
    client = gw.client()
    client.send(b"POST", path.encode(), body(path, stream))
    # a warm connection is used on callbacks alone (no task) where the kind has that fast path
    # (passthrough has none); a new connection must be awaited, so that request is a task
    assert (not client.conn.on_task) == (warm and kind != "passthrough")
    if stream:
        await until(lambda: b"hello there" in client.transport.out, "the stream to start")
    else:
        await until(lambda: len(provider.requests) == (2 if warm else 1), "the request to reach the provider")
    assert provider.connections == connections + (0 if warm else 1)
    closed = len(provider.closed_at)
    reset_at = loop.time()
    client.reset()
    await until(lambda: len(provider.closed_at) > closed, "the provider to see its connection closed", 5)
    assert provider.closed_at[-1] - reset_at < 1.0
    await until(lambda: gw.log_lines(), "the access log line")
    assert gw.worker.pool.stats == {"total": 0, "idle": 0}, "the connection was never returned to the pool"
    line = gw.log_lines()[-1]
    assert "reason=client_disconnected" in line and 'error="client closed the connection' in line, line
    assert line.count("http.path=") == 1


def _tokens(line: str, name: str) -> int:
    found = re.search(rf"gen_ai\.usage\.{name}=(\d+)", line)
    assert found is not None, line
    return int(found.group(1))


@pytest.mark.parametrize("warm", [True, False], ids=["callbacks", "task"])
@pytest.mark.parametrize(
    ("path", "provider_input"),
    [
        ("/oa/v1/chat/completions", False),  # OpenAI: usage comes last, so none was sent yet
        ("/an/v1/messages", True),  # Anthropic: the prompt's count came with message_start
        ("/an/v1/chat/completions", True),
        ("/oa/v1/messages", False),
    ],
)
async def test_an_abandoned_stream_logs_the_tokens_streamed_so_far(
    env: tuple[Provider, InProcGateway], path: str, provider_input: bool, warm: bool
) -> None:
    _, gw = env
    if warm:
        await gw.request(path, body(path, False, "quick"))
        await until(lambda: gw.worker.pool.stats["idle"] == 1, "the connection to go back to the pool")
        logged = len(gw.log_lines())
    else:
        logged = 0
    client = gw.client()
    client.send(b"POST", path.encode(), body(path, True))
    await until(lambda: client.transport.out.count(b"hello there") >= 5, "five deltas")
    client.reset()
    await until(lambda: len(gw.log_lines()) > logged, "the access log line")
    line = gw.log_lines()[-1]
    assert "http.status=200" in line and "reason=client_disconnected" in line, line
    assert _tokens(line, "output_tokens") >= 10  # five deltas of " hello there" at least
    inputs = _tokens(line, "input_tokens")
    assert inputs == 42 if provider_input else inputs > 0  # else estimated from the request
