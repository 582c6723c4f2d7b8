"""Arbitrary JSON never crashes a translator with anything but its documented error."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.backends.llm.translate import (
    AnthropicFromOpenAIStream,
    OpenAIFromAnthropicStream,
    anthropic_from_openai,
    openai_from_anthropic,
)
from fastgw.backends.llm.translate.errors import InvalidRequestBody
from fastgw.backends.llm.usage import AnthropicStreamSniffer, OpenAIStreamSniffer
from fastgw.errors import UpstreamProtocolError

KEYS = st.sampled_from(
    [
        "role",
        "content",
        "type",
        "text",
        "tool_calls",
        "function",
        "arguments",
        "name",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "delta",
        "index",
        "usage",
        "choices",
        "message",
        "stop",
        "image_url",
        "source",
        "input",
        "id",
        "model",
        "stream",
        "thinking",
        "response_format",
        "finish_reason",
        "content_block",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers(-5, 5000) | st.sampled_from(["", "user", "text", "tool_use", "x"])
JSON: Any = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
BODIES = st.dictionaries(KEYS, JSON, max_size=6)
EVENTS = st.sampled_from(
    [
        "",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "error",
    ]
)


@settings(max_examples=150, deadline=None)
@given(BODIES)
def test_requests_translate_or_raise_invalid_request(body: dict[str, Any]) -> None:
    for translate in (anthropic_from_openai.request, openai_from_anthropic.request):
        with contextlib.suppress(InvalidRequestBody):
            orjson.dumps(translate(body))


@settings(max_examples=150, deadline=None)
@given(BODIES)
def test_responses_translate_or_raise_protocol_error(body: dict[str, Any]) -> None:
    for translate in (lambda b: anthropic_from_openai.response(b, 0), openai_from_anthropic.response):
        with contextlib.suppress(UpstreamProtocolError):
            orjson.dumps(translate(body))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(EVENTS, JSON), max_size=8))
def test_streams_emit_bytes_or_raise_protocol_error(events: list[tuple[str, Any]]) -> None:
    translators: list[Any] = [
        AnthropicFromOpenAIStream(created=0, include_usage=True),
        OpenAIFromAnthropicStream(),
    ]
    sniffers: list[Any] = [AnthropicStreamSniffer(), OpenAIStreamSniffer(drop_usage_chunk=True)]
    for event, payload in events:
        data = orjson.dumps(payload)
        for translator in translators:
            with contextlib.suppress(UpstreamProtocolError):
                assert isinstance(translator.feed(event, data), bytes)
        for sniffer in sniffers:
            assert isinstance(sniffer.observe(event, data), bool)
    for translator in translators:
        assert isinstance(translator.finish(), bytes)
