"""The OpenAI -> Anthropic hot-path shortcuts give what the general code gives, errors included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw import native
from fastgw.backends.llm.translate import anthropic_from_openai
from fastgw.backends.llm.translate.anthropic_from_openai_stream import AnthropicFromOpenAIStream
from fastgw.backends.llm.translate.errors import InvalidRequestBody
from fastgw.backends.llm.translate.wire import openai_usage_block
from fastgw.backends.llm.usage import update_from_anthropic, usage_from_anthropic
from fastgw.errors import UpstreamProtocolError
from fastgw.telemetry.usage import Usage
from tests.backends.llm.golden_util import GOLDEN, case_id

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
        stream = AnthropicFromOpenAIStream(1, False, "m")
        stream._blocks[0] = [0, False]  # (an open tool block, for input_json deltas)
        outputs.append(stream.feed("content_block_delta", data))
    assert outputs[0] == outputs[1]
    if outputs[0]:
        assert outputs[0].startswith(b"data: ") and orjson.loads(outputs[0][6:])


# -- a whole Anthropic message translated without decoding it (native.text_message) -----------------

NATIVE = native.implementation("native")
TWIN = native.implementation("python")
FINISH = anthropic_from_openai._FINISH_RAW


def _slow(body: bytes, created: int) -> tuple[bytes, Usage, str | None]:
    data = orjson.loads(body)
    out, usage = anthropic_from_openai.response_and_usage(data, created)
    model = data.get("model")
    return orjson.dumps(out), usage, model if isinstance(model, str) else None


@pytest.mark.parametrize("path", sorted((GOLDEN / "anthropic_from_openai").glob("response_*.in.json")), ids=case_id)
def test_encoded_response_is_the_translation_encoded(path: Path) -> None:
    body = orjson.dumps(orjson.loads(path.read_bytes()))  # (compact, as a provider sends it)
    assert anthropic_from_openai.encoded_response(body, 1700000000) == _slow(body, 1700000000)


def test_text_message_answers_the_common_reply() -> None:
    body = (
        b'{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text",'
        b'"text":"h\\u00e9 \\"x\\"\\n"}],"stop_reason":"end_turn","stop_sequence":null,'
        b'"usage":{"input_tokens":5,"output_tokens":2,"cache_read_input_tokens":10}}'
    )
    assert NATIVE.text_message(body, 1, FINISH, Usage) is None  # \u00e9: not what orjson writes
    body = body.replace(b"\\u00e9", "\u00e9".encode())
    got = NATIVE.text_message(body, 1, FINISH, Usage)
    assert got == TWIN.text_message(body, 1, FINISH, Usage) == _slow(body, 1)
    assert got is not None and got[1] == Usage(input_tokens=15, output_tokens=2, cache_read_tokens=10)


# text orjson writes with its short escapes only (no \u00XX for control characters)
_plain = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('\n\t"\\'), max_size=12)
_value = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=8), st.lists(st.integers(0, 9), max_size=2)
)
_stop = st.one_of(_value, st.sampled_from([*anthropic_from_openai._FINISH_FROM_STOP, "", "other"]))
_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": _plain}),
    st.fixed_dictionaries({"type": st.just("text"), "text": _plain, "citations": st.none()}),
    st.fixed_dictionaries({"type": st.just("text")}),
    st.dictionaries(st.sampled_from(["type", "text", "citations"]), _value, max_size=3),
)
_counts_keys = st.sampled_from(
    ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
)
_counts = st.dictionaries(_counts_keys, _value)
_text_reply = st.fixed_dictionaries(
    {"content": st.lists(_block, min_size=1, max_size=1)},
    optional={
        "id": _plain,
        "model": _plain,
        "stop_reason": st.none() | st.sampled_from([*anthropic_from_openai._FINISH_FROM_STOP, "", "other"]),
        "usage": st.dictionaries(_counts_keys, st.integers(0, 10**9)) | _counts,
        "service_tier": st.none() | _plain,
    },
)
_any_message = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=8), _value),
        "model": st.one_of(st.text(max_size=8), _value),
        "content": st.one_of(st.lists(_block, min_size=1, max_size=2), _value),
        "stop_reason": _stop,
        "usage": st.one_of(_counts, _value),
        "service_tier": _value,
        "type": st.just("message"),
    },
)
_message = st.one_of(_text_reply, _any_message)


@settings(max_examples=600, deadline=None)
@given(_message, st.integers(0, 2**40))
def test_text_message_is_the_translation_wherever_it_answers(message: dict[str, Any], created: int) -> None:
    body = orjson.dumps(message)
    got = NATIVE.text_message(body, created, FINISH, Usage)
    assert got == TWIN.text_message(body, created, FINISH, Usage)
    if got is not None:
        assert got == _slow(body, created)
    try:
        expected: Any = _slow(body, created)
    except ValueError:  # not a message: the exchange answers 502
        with pytest.raises(ValueError):
            anthropic_from_openai.encoded_response(body, created)
    else:
        assert anthropic_from_openai.encoded_response(body, created) == expected
