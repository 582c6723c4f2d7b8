"""LlmExchange (the response half of an ai backend) driven directly: chunk boundaries anywhere in the
upstream bytes never change what the client gets, usage is recorded, errors change dialect."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable, Set
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from fastgw.backends.llm.exchange import LlmExchange
from fastgw.context import RequestContext
from fastgw.errors import Dialect, GatewayError
from fastgw.http.headers import Headers
from fastgw.telemetry import genai
from fastgw.telemetry.genai import GenAiCall, GenAiKind
from fastgw.telemetry.usage import Usage
from fastgw.tokens.tokenizer import Tokenizer
from fastgw.upstream.limits import PoolLimits

GOLDEN = Path(__file__).parent / "golden"
OPENAI_STREAM = (GOLDEN / "openai_from_anthropic" / "stream_text.in.sse").read_bytes()
ANTHROPIC_STREAM = (GOLDEN / "anthropic_from_openai" / "stream_tools_parallel.in.sse").read_bytes()
SSE_HEAD: Headers = [(b"content-type", b"text/event-stream")]


class FakeWriter:
    def __init__(self) -> None:
        self.status = 0
        self.headers: Headers = []
        self.length: int | None = None
        self.body: list[bytes] = []
        self.paused = False
        self.writes = 0

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    def start(self, status: int, headers: Headers, length: int | None = None) -> None:
        assert self.status == 0, "second head"
        self.status, self.headers, self.length = status, headers, length
        self.writes += 1

    def write(self, data: bytes) -> None:
        self.body.append(data)
        self.writes += 1

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        self.start(status, headers, len(body))
        self.body.append(body)


class FakeCtx:
    def __init__(self, hold: frozenset[int] = frozenset()) -> None:
        self.worker = SimpleNamespace(
            loop=asyncio.get_running_loop(),
            runtime=SimpleNamespace(tokenizer=Tokenizer()),
            pool=SimpleNamespace(limits=PoolLimits()),
        )
        self.retry_hold = hold
        self.retry_when = None
        self.upstream_status = 0
        self.upstream_fields: Headers | None = None
        self.upstream_head_at = 0.0
        self.tried: tuple[object, ...] = ()
        self.writer = FakeWriter()
        self.llm = GenAiCall(GenAiKind("chat", "openai"), "m")
        self.failed: GatewayError | None = None
        self.held = False
        self.usage: Usage | None = None
        self.trace = None
        self.upstream_start = 0.0
        self.first_token = 0.0

    def response_headers(self, headers: Headers) -> Headers:
        return headers

    def response_fields(
        self, headers: Headers, skip: Set[bytes], add: Iterable[tuple[bytes, bytes]] = (), status: int = 0
    ) -> Headers:
        return [(n, v) for n, v in headers if n not in skip] + list(add)

    def fail(self, err: GatewayError) -> None:
        self.failed = err


def log_fields(ctx: FakeCtx) -> dict[str, object]:
    """The call's access-log fields, as the access log reads them off the context."""
    return genai.fields(ctx.llm, ctx.usage)


def run(
    pieces: list[bytes],
    *,
    client: Dialect,
    upstream: Dialect,
    status: int = 200,
    head: Headers = SSE_HEAD,
    translate: bool = False,
    include_usage: bool = False,
    forced_usage: bool = False,
    hold: frozenset[int] = frozenset(),
    request: bytes = b"",
) -> FakeCtx:
    ctx = FakeCtx(hold)
    ex = LlmExchange(
        cast(RequestContext, ctx), client, upstream, translate, include_usage, forced_usage, True, "m", request
    )
    ex.status = status
    # what the upstream connection reads off the head before calling on_head
    for name, value in head:
        if name == b"content-length":
            ex.length = int(value)
        elif name == b"content-type":
            ex.content_type = value
        elif name == b"connection":
            ex.connection = value
    ex.on_head(status, head)
    for piece in pieces:
        ex.on_body(piece)
        ex.on_read_done()
    ex.on_end()
    ctx.held = ex.held
    return ctx


def splits(data: bytes) -> list[list[bytes]]:
    """Every split in two, byte by byte, and a few random multi-splits."""
    rng = random.Random(7)
    out = [[data[:i], data[i:]] for i in range(1, len(data), 7)]
    out.append([data[i : i + 1] for i in range(len(data))])
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), 12))
        out.append([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)])
    return out


async def test_forced_usage_chunk_is_dropped_at_any_chunking() -> None:
    events = [e for e in OPENAI_STREAM.split(b"\n\n") if e]
    expected = b"".join(e + b"\n\n" for e in events if b'"choices":[]' not in e)
    whole = run([OPENAI_STREAM], client=Dialect.OPENAI, upstream=Dialect.OPENAI, forced_usage=True)
    assert b"".join(whole.writer.body) == expected
    assert log_fields(whole)["gen_ai.usage.input_tokens"] == 1117
    assert log_fields(whole)["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert "gen_ai.usage.cache_creation.input_tokens" not in log_fields(whole)  # zero: left out
    for pieces in splits(OPENAI_STREAM):
        ctx = run(pieces, client=Dialect.OPENAI, upstream=Dialect.OPENAI, forced_usage=True)
        assert b"".join(ctx.writer.body) == expected
        assert log_fields(ctx) == log_fields(whole)


async def test_stream_the_client_asked_usage_for_is_forwarded_verbatim() -> None:
    pieces = [OPENAI_STREAM[:100], OPENAI_STREAM[100:]]
    ctx = run(pieces, client=Dialect.OPENAI, upstream=Dialect.OPENAI)
    assert ctx.writer.body == pieces
    assert log_fields(ctx)["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"


async def test_translated_stream_is_chunking_invariant() -> None:
    def translated(pieces: list[bytes]) -> bytes:
        ctx = run(pieces, client=Dialect.OPENAI, upstream=Dialect.ANTHROPIC, translate=True, include_usage=True)
        assert (b"content-type", b"text/event-stream") in ctx.writer.headers
        assert ctx.writer.length is None
        # "created" is the clock's second: a run that crosses a second boundary differs only there
        return re.sub(rb'"created":\d+', b'"created":0', b"".join(ctx.writer.body))

    whole = translated([ANTHROPIC_STREAM])
    assert whole.endswith(b"data: [DONE]\n\n")
    chunks = [orjson.loads(e[6:]) for e in whole.split(b"\n\n") if e.startswith(b"data: {")]
    assert any(c["choices"] and c["choices"][0]["delta"].get("tool_calls") for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    for pieces in splits(ANTHROPIC_STREAM)[::5]:
        assert translated(pieces) == whole


async def test_same_format_json_goes_out_in_one_write_with_usage() -> None:
    body = orjson.dumps({"model": "gpt-x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    head: Headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    ctx = run([body[:10], body[10:]], client=Dialect.OPENAI, upstream=Dialect.OPENAI, head=head)
    assert ctx.writer.writes == 1 and ctx.writer.body == [body]
    assert (b"content-length", str(len(body)).encode()) not in ctx.writer.headers  # the writer frames it
    assert log_fields(ctx)["gen_ai.usage.input_tokens"] == 3
    assert log_fields(ctx)["gen_ai.usage.output_tokens"] == 4
    assert log_fields(ctx)["gen_ai.response.model"] == "gpt-x"


async def test_translated_json_response() -> None:
    body = orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "model": "claude-x",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 10},
        }
    )
    head: Headers = [(b"content-type", b"application/json"), (b"x-request-id", b"r1")]
    ctx = run([body], client=Dialect.OPENAI, upstream=Dialect.ANTHROPIC, head=head, translate=True)
    out: Any = orjson.loads(b"".join(ctx.writer.body))
    assert out["object"] == "chat.completion" and out["choices"][0]["message"]["content"] == "hi"
    assert (b"x-request-id", b"r1") in ctx.writer.headers
    assert log_fields(ctx)["gen_ai.usage.input_tokens"] == 15


@pytest.mark.parametrize(
    ("client", "upstream", "body", "check"),
    [
        (
            Dialect.OPENAI,
            Dialect.ANTHROPIC,
            b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
            lambda out: out["error"]["message"] == "slow down" and out["error"]["code"] == "rate_limit_error",
        ),
        (
            Dialect.ANTHROPIC,
            Dialect.OPENAI,
            b'{"error":{"message":"slow down","type":"rate_limit_error"}}',
            lambda out: out == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        ),
    ],
)
async def test_provider_errors_change_dialect_and_keep_status(
    client: Dialect, upstream: Dialect, body: bytes, check: Any
) -> None:
    head: Headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    ctx = run([body], client=client, upstream=upstream, status=429, head=head, translate=True)
    assert ctx.writer.status == 429
    assert check(orjson.loads(b"".join(ctx.writer.body)))


async def test_non_json_success_body_is_a_502_in_the_clients_dialect() -> None:
    head: Headers = [(b"content-type", b"application/json")]
    ctx = run([b"<html>oops"], client=Dialect.OPENAI, upstream=Dialect.ANTHROPIC, head=head, translate=True)
    assert ctx.failed is not None and ctx.failed.status == 502


async def test_a_status_the_pipeline_retries_is_held_back() -> None:
    body = b'{"error":{"message":"busy","type":"server_error"}}'
    head: Headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    ctx = run([body], client=Dialect.ANTHROPIC, upstream=Dialect.OPENAI, status=503, head=head, hold=frozenset({503}))
    assert ctx.held and ctx.writer.status == 0 and ctx.writer.body == []


async def test_stream_without_usage_is_counted_with_the_tokenizer() -> None:
    events = [e for e in OPENAI_STREAM.split(b"\n\n") if e and b'"choices":[]' not in e]
    stream = b"".join(e + b"\n\n" for e in events)
    request = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "one two three four"}]})
    ctx = run([stream], client=Dialect.OPENAI, upstream=Dialect.OPENAI, forced_usage=True, request=request)
    assert b"".join(ctx.writer.body) == stream
    text = "Héllo 👋" + ', a "quote"\nand a new line.'
    assert log_fields(ctx)["gen_ai.usage.output_tokens"] == Tokenizer().count(text)
    assert cast(int, log_fields(ctx)["gen_ai.usage.input_tokens"]) >= 4
