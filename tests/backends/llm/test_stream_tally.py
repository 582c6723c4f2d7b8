"""A chat stream's output counted as it passes: exact against counting the whole text, in
memory that does not grow with the stream (issue 10: an endless OpenAI stream without usage was
held whole and counted at its end, 6.2 GB and a 28 s stall)."""

from __future__ import annotations

import tracemalloc

import orjson
import pytest

from fastgw.backends.llm.stream_tally import StreamTally, anthropic_texts, openai_texts
from fastgw.errors import Dialect
from fastgw.native import SSEEvent, SSEScanner
from fastgw.tokens import Vocabulary
from fastgw.tokens.tokenizer import Tokenizer
from tests.backends.llm.test_backend_exchange import run
from tests.native.test_tokens import vocab_path


def openai_stream(words: int, usage: bool = False) -> tuple[bytes, str]:
    text = [f" word{i} and more" for i in range(words)]
    events = [
        b"data: "
        + orjson.dumps(
            {"id": "c", "object": "chat.completion.chunk", "model": "gpt-x", "choices": [{"delta": {"content": t}}]}
        )
        + b"\n\n"
        for t in text
    ]
    if usage:
        events.append(b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}\n\n')
    events.append(b"data: [DONE]\n\n")
    return b"".join(events), "".join(text)


def pieces(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def close_to(got: int, want: int) -> bool:
    """The estimator rounds each settled stretch of text on its own: within 0.1%."""
    return abs(got - want) <= max(2, want // 1000)


@pytest.fixture(scope="module")
def exact() -> Tokenizer:
    return Tokenizer(Vocabulary.load(vocab_path()))


async def test_an_openai_stream_without_usage_is_counted_as_it_passes_in_bounded_memory() -> None:
    stream, text = openai_stream(80_000)  # ~10 MB of stream
    chunks = pieces(stream)
    request = b'{"model":"gpt-x","messages":[{"role":"user","content":"count these words please"}]}'
    tracemalloc.start()
    try:
        ctx = run(chunks, client=Dialect.OPENAI, upstream=Dialect.OPENAI, request=request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(stream) // 8, f"{peak} bytes held for a {len(stream)} byte stream"
    assert ctx.usage is not None
    assert close_to(ctx.usage.output_tokens, Tokenizer().count(text))
    assert ctx.usage.input_tokens > 0  # estimated from the request


async def test_provider_usage_wins_and_nothing_is_counted() -> None:
    stream, _ = openai_stream(50, usage=True)
    ctx = run(pieces(stream, 300), client=Dialect.OPENAI, upstream=Dialect.OPENAI)
    assert ctx.usage is not None and (ctx.usage.input_tokens, ctx.usage.output_tokens) == (7, 3)


@pytest.mark.parametrize("size", [1, 7, 100, 70_000])
def test_the_count_does_not_depend_on_batching(size: int, exact: Tokenizer) -> None:
    stream, text = openai_stream(6000)
    for tokenizer in (exact, Tokenizer()):
        tally = StreamTally(Dialect.OPENAI, tokenizer)
        scanner = SSEScanner()
        for chunk in pieces(stream, size):
            tally.add(scanner.feed(chunk), len(chunk))
        if tokenizer is exact:
            assert tally.output_tokens() == exact.count(text)  # the native streaming counter: exact
        else:
            assert close_to(tally.output_tokens(), tokenizer.count(text))


def test_texts_of_each_dialect() -> None:
    openai = [
        SSEEvent(("message", b'{"choices":[{"delta":{"content":"a","reasoning_content":"b"}}]}', None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(
            (
                "message",
                b'{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{\\"x\\""}}]}}]}',
                None,
                None,
            )
        ),  # type: ignore[call-arg, arg-type]
        SSEEvent(("message", b"[DONE]", None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(("message", b'{"choices":"odd"}', None, None)),  # type: ignore[call-arg, arg-type]
    ]
    assert openai_texts(openai) == ["a", "b", "f", '{"x"']
    anthropic = [
        SSEEvent(("content_block_start", b'{"content_block":{"type":"tool_use","name":"get"}}', None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(("content_block_delta", b'{"delta":{"type":"text_delta","text":"hi"}}', None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(("content_block_delta", b'{"delta":{"type":"thinking_delta","thinking":"hm"}}', None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(("content_block_delta", b'{"delta":{"type":"input_json_delta","partial_json":"{}"}}', None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(("message_delta", b'{"usage":{"output_tokens":3}}', None, None)),  # type: ignore[call-arg, arg-type]
        SSEEvent(("content_block_delta", b"not json", None, None)),  # type: ignore[call-arg, arg-type]
    ]
    assert anthropic_texts(anthropic) == ["get", "hi", "hm", "{}"]


def test_the_estimate_stream_keeps_a_bounded_tail() -> None:
    """Without a vocabulary the estimator counts streams; it must not keep the whole text."""
    stream = Tokenizer().stream()
    text = "".join(f" word{i}" for i in range(200_000))
    tracemalloc.start()
    try:
        for i in range(0, len(text), 1000):
            stream.feed(text[i : i + 1000])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000, peak
    assert close_to(stream.total(), Tokenizer().count(text))
    unspaced = Tokenizer().stream()
    for _ in range(300):
        unspaced.feed("字" * 1000)  # no word boundary at all: still bounded
    assert unspaced.total() > 0
