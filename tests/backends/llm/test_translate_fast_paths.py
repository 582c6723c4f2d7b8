"""The OpenAI -> Anthropic hot-path shortcuts give what the general code gives, errors included."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.backends.llm.translate import anthropic_from_openai
from fastgw.backends.llm.translate.anthropic_from_openai_stream import AnthropicToOpenAIStream
from fastgw.backends.llm.translate.errors import InvalidRequestBody, UpstreamProtocolError
from fastgw.backends.llm.translate.wire import openai_usage_block
from fastgw.backends.llm.usage import Usage, update_from_anthropic, usage_from_anthropic

USER = {"role": "user", "content": "hi"}


def test_common_request_shape() -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": "be brief"}, USER], "temperature": 0.5}
    assert anthropic_from_openai.request(body) == {
        "model": "m",
        "max_tokens": 4096,
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.5,
    }


@pytest.mark.parametrize("extra", [{}, {"stop": None}, {"user": ""}])
def test_malformed_max_tokens_fails_with_or_without_optional_keys(extra: dict[str, Any]) -> None:
    body = {"model": "m", "messages": [USER], "max_tokens": "10", **extra}
    with pytest.raises(InvalidRequestBody, match="unsupported operand type"):
        anthropic_from_openai.request(body)


def test_blank_user_text_is_dropped() -> None:
    body = {"messages": [{"role": "user", "content": "  "}, USER]}
    assert anthropic_from_openai.request(body)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    ]


COUNT = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=2)
USAGE = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": COUNT,
        "output_tokens": COUNT,
        "cache_read_input_tokens": COUNT,
        "cache_creation_input_tokens": COUNT,
    },
)


@settings(max_examples=300, deadline=None)
@given(USAGE)
def test_usage_from_anthropic_is_an_update_of_a_zero_record(usage: dict[str, Any]) -> None:
    expected = Usage()
    update_from_anthropic(expected, usage)
    assert usage_from_anthropic(usage) == expected


@settings(max_examples=300, deadline=None)
@given(USAGE, st.sampled_from([[{"type": "text", "text": "a"}], [{"type": "thinking", "thinking": "t"}], []]))
def test_response_usage_is_the_usage_block(usage: dict[str, Any], content: list[dict[str, Any]]) -> None:
    body = {"id": "msg_1", "model": "claude", "content": content, "stop_reason": "end_turn", "usage": usage}
    out, record = anthropic_from_openai.response_and_usage(body, 7)
    assert record == usage_from_anthropic(usage)
    assert out["usage"] == openai_usage_block(record)
    assert out == anthropic_from_openai.response(body, 7)


def test_one_text_block_matches_the_general_join() -> None:
    one = {"content": [{"type": "text", "text": "a"}]}
    two = {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": ""}]}
    assert anthropic_from_openai.response(one, 1) == anthropic_from_openai.response(two, 1)
    assert anthropic_from_openai.response({"content": [{"type": "text"}]}, 1)["choices"][0]["message"]["content"] == ""
    with pytest.raises(UpstreamProtocolError, match="expected str instance"):
        anthropic_from_openai.response({"content": [{"type": "text", "text": None}]}, 1)


_STREAM_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_STREAM_TEXT, st.sampled_from(["text_delta", "thinking_delta", "input_json_delta", "other"]), st.booleans())
def test_stream_delta_shortcut_writes_what_the_decoder_path_writes(text: str, kind: str, escape_all: bool) -> None:
    """A delta the native reader vouches for is copied into the chunk as is; any other spelling of
    the same event (every character as \\uXXXX, which it leaves to orjson) gives the same bytes."""
    key = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}.get(kind, "x")
    plain = orjson.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": kind, key: text}})
    spelled = orjson.dumps(text)
    if escape_all:
        units = text.encode("utf-16-be")
        spelled = b'"' + b"".join(b"\\u%04x" % int.from_bytes(units[i : i + 2]) for i in range(0, len(units), 2)) + b'"'
    escaped = b'{"type":"content_block_delta","index":0,"delta":{"type":"%s","%s":%s}}' % (
        kind.encode(),
        key.encode(),
        spelled,
    )
    outputs = []
    for data in (plain, escaped):
        stream = AnthropicToOpenAIStream(1, False, "m")
        stream._blocks[0] = [0, False]  # (an open tool block, for input_json deltas)
        outputs.append(stream.feed("content_block_delta", data))
    assert outputs[0] == outputs[1]
    if outputs[0]:
        assert outputs[0].startswith(b"data: ") and orjson.loads(outputs[0][6:])
