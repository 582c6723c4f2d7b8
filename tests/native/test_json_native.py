"""json_get and body_usage (native/json.c) and their twins: raw members, what they vouch for, and
agreement with orjson and the msgspec views on every body they answer for."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw import native
from fastgw.backends.llm.types import ANTHROPIC_RESPONSE_VIEW_DECODER, OPENAI_RESPONSE_VIEW_DECODER
from fastgw.backends.llm.usage import _from_anthropic_view, _from_openai_view
from fastgw.telemetry.usage import Usage

NATIVE = native.implementation("native")
TWIN = native.implementation("python")
NAMES = (b"type", b"text", b"thinking")
DELTA = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \\"you\\"\\n\xc3\xa9"}}'


def test_members_are_returned_raw(impl: ModuleType) -> None:
    assert impl.json_get(DELTA, b"delta", NAMES) == (b'"text_delta"', b'"Hi \\"you\\"\\n\xc3\xa9"', None)
    assert impl.json_get(DELTA, b"", (b"index", b"type")) == (b"0", b'"content_block_delta"')
    spaced = b' { "delta" : { "text" : "a" , "type":"x" } , "z" : [ 1 , { } , [ ] , null , true ] }\n'
    assert impl.json_get(spaced, b"delta", NAMES) == (b'"x"', b'"a"', None)
    assert impl.json_get(b'{"delta":{"text":"a","text":"b"}}', b"delta", NAMES) == (None, b'"b"', None)
    assert impl.json_get(b'{"delta":{}}', b"delta", NAMES) == (None, None, None)


def test_strings_any_length_and_offset(impl: ModuleType) -> None:
    """The 16-byte string scan meets quotes, escapes and control bytes at every offset."""
    for n in range(40):
        text = b"a" * n
        assert impl.json_get(b'{"x":"' + text + b'","text":"' + text + b'\\t"}', b"", NAMES) == (
            None,
            b'"' + text + b'\\t"',
            None,
        )
        assert impl.json_get(b'{"text":"' + text + b'\x01"}', b"", NAMES) is None
        assert impl.json_get(b'{"text":"' + text + b'\\u0041"}', b"", NAMES) is None
        # UTF-8 is checked where the 16-byte scan meets a byte >= 0x80
        assert impl.json_get(b'{"text":"' + text + b'\xc3\xa9\xe2\x82\xac"}', b"", NAMES) == (
            None,
            b'"' + text + b'\xc3\xa9\xe2\x82\xac"',
            None,
        )
        assert impl.json_get(b'{"text":"' + text + b'\xc3"}', b"", NAMES) is None
        assert impl.json_get(b'{"text":"' + text + b'\xe2\x82"}', b"", NAMES) is None
        assert impl.json_get(b'{"text":"' + text + b'\x80"}', b"", NAMES) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"{",
        b'{"delta":{"text":"a"}',
        b'{"delta":{"text":"a"}} x',
        b'{"delta":"not an object"}',
        b'{"other":{}}',
        b'{"delta":{"text":"\\/"}}',  # an escape orjson.dumps never writes
        b'{"delta":{"text":"\\u00e9"}}',
        b'{"delta":{"text":"\xff"}}',  # not UTF-8
        b'{"delta":{"text":"\xed\xa0\x80"}}',  # a surrogate
        b'{"delta":{"text":"\xc0\xaf"}}',  # overlong
        b'{"delta":{"text":"a"}}\xc3\xa9',  # (valid UTF-8 outside a string)
        b'\xef\xbb\xbf{"delta":{"text":"a"}}',  # a byte order mark
        b'{"delta":{"index":1.5}}',
        b'{"delta":{"index":1e3}}',
        b'{"delta":{"index":12345678901234567}}',
        b'{"delta":{"index":01}}',
        b'{"delta":{"text":tru}}',
        b'{"delta":{"a":[1,]}}',
        b"{'delta':{}}",
        b'{"delta":' + b"[" * 70 + b"]" * 70 + b"}",
    ],
)
def test_what_it_does_not_vouch_for_is_none(impl: ModuleType, data: bytes) -> None:
    assert impl.json_get(data, b"delta", NAMES) is None


def test_refuses_bad_arguments(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.json_get("{}", b"", NAMES)
    with pytest.raises(ValueError):
        impl.json_get(b"{}", b"", tuple(b"n%d" % i for i in range(9)))


# any text but the control characters orjson writes as \u00XX (the short escapes \n \t ... stay)
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)).filter(lambda c: c >= " " or c in "\n\r\t\b\f"),
    max_size=20,
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["type", "text", "a"]), inner),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "text", "thinking", "index", "x"]), _json), st.booleans())
def test_answers_equal_what_orjson_reads_and_writes(delta: dict[str, object], wrap: bool) -> None:
    doc: object = {"type": "content_block_delta", "delta": delta} if wrap else delta
    data = orjson.dumps(doc)
    got = NATIVE.json_get(data, b"delta" if wrap else b"", NAMES)
    assert got == TWIN.json_get(data, b"delta" if wrap else b"", NAMES)
    assert got is not None  # orjson's own output: always vouched for
    for name, raw in zip(NAMES, got, strict=True):
        key = name.decode()
        if key in delta:
            assert raw == orjson.dumps(delta[key])
        else:
            assert raw is None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=30).map(lambda b: b'{"delta":{"text":' + b))
def test_vouched_for_means_orjson_agrees(data: bytes) -> None:
    got = NATIVE.json_get(data, b"delta", NAMES)
    assert got == TWIN.json_get(data, b"delta", NAMES)
    if got is not None:
        doc = orjson.loads(data)  # never raises on what json_get answered for
        text = doc["delta"].get("text")
        assert got[1] == (orjson.dumps(text) if "text" in doc["delta"] else None)


def _delta(text: bytes, kind: bytes = b"text_delta") -> tuple[str, bytes, None, None]:
    return (
        "content_block_delta",
        b'{"type":"content_block_delta","index":0,"delta":{"type":"%s","text":%s}}' % (kind, text),
        None,
        None,
    )


CHUNK_ARGS = ("content_block_delta", b"delta", b'"text_delta"', b"text", b"P", b"<", b">")


def test_delta_chunks_takes_a_run_of_text_deltas(impl: ModuleType) -> None:
    events = [
        ("message_start", b"{}", None, None),
        _delta(b'"a"'),
        _delta(b'"b\\n"'),
        _delta(b'"c"', b"thinking_delta"),
        _delta(b'"d"'),
        _delta(b'"\\u00e9"'),  # not vouched for: left to the caller
        _delta(b"5"),  # not a string
    ]
    assert impl.delta_chunks(events, 0, *CHUNK_ARGS) == (b"", 0)
    assert impl.delta_chunks(events, 1, *CHUNK_ARGS) == (b'P<"a">P<"b\\n">', 3)
    assert impl.delta_chunks(events, 4, *CHUNK_ARGS) == (b'P<"d">', 5)
    assert impl.delta_chunks(events, 5, *CHUNK_ARGS) == (b"", 5)
    assert impl.delta_chunks(events, 6, *CHUNK_ARGS) == (b"", 6)
    assert impl.delta_chunks(events, 7, *CHUNK_ARGS) == (b"", 7)
    assert impl.delta_chunks(events[1:3], 0, *CHUNK_ARGS) == (b'P<"a">P<"b\\n">', 2)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            _text.map(lambda t: _delta(orjson.dumps(t))),
            st.binary(max_size=12).map(lambda b: _delta(b'"' + b + b'"')),
            st.sampled_from([("ping", b"{}", None, None), _delta(b'"x"', b"thinking_delta")]),
        ),
        max_size=8,
    ),
    st.integers(0, 8),
)
def test_delta_chunks_agree(events: list[tuple[str, bytes, None, None]], start: int) -> None:
    assert NATIVE.delta_chunks(events, start, *CHUNK_ARGS) == TWIN.delta_chunks(events, start, *CHUNK_ARGS)


# -- body_usage: the usage and model of a whole answer -------------------------------------------

ANSWER_OPENAI = (
    b'{"id":"c1","created":1,"model":"gpt-4o","choices":[{"message":{"content":"\xc3\xa9 \\"usage\\""}}],'
    b'"usage":{"prompt_tokens":28,"completion_tokens":86,"prompt_tokens_details":{"cached_tokens":8},'
    b'"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":0}},"service_tier":"default"}'
)
ANSWER_ANTHROPIC = (
    b'{"model":"claude","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":21,'
    b'"cache_creation_input_tokens":188,"cache_read_input_tokens":1024,"output_tokens":9}}'
)


def test_body_usage_reads_both_providers(impl: ModuleType) -> None:
    assert impl.body_usage(ANSWER_OPENAI, False, Usage) == (Usage(28, 86, 8, 0, 5), "gpt-4o")
    # Anthropic's input leaves the cache out: reads and writes are added back
    assert impl.body_usage(ANSWER_ANTHROPIC, True, Usage) == (Usage(1233, 9, 1024, 188, 0), "claude")
    assert impl.body_usage(b'{"model":null,"usage":null}', False, Usage) == (None, None)
    assert impl.body_usage(b'{"usage":{}}', True, Usage) == (Usage(), None)
    assert impl.body_usage(b'{"usage":{"prompt_tokens_details":null,"prompt_tokens":null}}', False, Usage) == (
        Usage(),
        None,
    )
    assert impl.body_usage(b'{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}', False, Usage) == (
        Usage(2),
        None,
    )


@pytest.mark.parametrize(
    "data",
    [
        b"<html>bad gateway</html>",
        b"[]",
        b'{"model":5}',
        b'{"model":"a\\"b"}',  # an escape in the model: left to the decoder
        b'{"usage":[]}',
        b'{"usage":{"prompt_tokens":"5"}}',
        b'{"usage":{"prompt_tokens":true}}',
        b'{"usage":{"prompt_tokens":1.0}}',
        b'{"usage":{"prompt_tokens_details":[]}}',
        b'{"usage":{"completion_tokens_details":{"reasoning_tokens":{}}}}',
        b'{"usage":{"prompt_tokens":1}',
        b'{"model":"\xff"}',
    ],
)
def test_body_usage_leaves_what_it_cannot_vouch_for(impl: ModuleType, data: bytes) -> None:
    assert impl.body_usage(data, False, Usage) is None


_count = st.one_of(st.none(), st.integers(-(10**12), 10**12), st.sampled_from(["1", 1.5, True, [], {}]))
_details = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["cached_tokens", "cache_write_tokens", "reasoning_tokens", "x"]), _count),
    st.sampled_from([[], "x"]),
)
_usage_members = st.sampled_from(
    [
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "total_tokens",
    ]
)
_usage = st.one_of(
    st.none(),
    st.dictionaries(_usage_members, _count)
    | st.dictionaries(st.sampled_from(["prompt_tokens_details", "completion_tokens_details"]), _details),
    st.sampled_from([[], 3]),
)
_answer = st.dictionaries(
    st.sampled_from(["model", "usage", "id", "choices", "content"]),
    st.one_of(_json, _usage, st.none() | _text),
)


@settings(max_examples=500, deadline=None)
@given(_answer, st.booleans())
def test_body_usage_agrees_with_the_view_decoders(answer: dict[str, object], anthropic: bool) -> None:
    """What it answers is what the msgspec views give (the slow path it stands in for)."""
    data = orjson.dumps(answer)
    got = NATIVE.body_usage(data, anthropic, Usage)
    assert got == TWIN.body_usage(data, anthropic, Usage)
    if got is not None:
        decoder = ANTHROPIC_RESPONSE_VIEW_DECODER if anthropic else OPENAI_RESPONSE_VIEW_DECODER
        view: Any = decoder.decode(data)  # never raises on what body_usage answered for
        usage = (_from_anthropic_view if anthropic else _from_openai_view)(view.usage) if view.usage else None
        assert got == (usage, view.model)
