"""The fake provider's pure pieces: the token rule, schema examples, durations, control headers."""

from __future__ import annotations

import pytest

from fastgw.devtools.fake_answer import (
    FILLER,
    ToolSpec,
    build_answer,
    example_from_schema,
    input_tokens,
    json_pieces,
    last_turn,
)
from fastgw.devtools.fake_control import Control, ControlError, FakeOptions, parse_duration


def test_input_tokens_count_string_values_not_keys() -> None:
    body = {
        "model": "not counted",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "two words"}]}],
        "system": "three more words",
        "tools": [{"name": "t"}],
    }
    # "user" + "text" + "two words" + "three more words" + "t"
    assert input_tokens(body) == 1 + 1 + 2 + 3 + 1
    assert input_tokens({"messages": []}) == 1


def test_answer_echoes_then_fills_and_respects_limits() -> None:
    def answer(prompt: str, tokens: int, max_tokens: int | None, stops: list[str]) -> tuple[str, str]:
        result = build_answer(
            prompt=prompt,
            tool=None,
            tool_id="id",
            tokens=tokens,
            max_tokens=max_tokens,
            stops=stops,
            thinking=False,
            input_tokens=1,
        )
        assert result.output_tokens == len(result.text.split())
        return result.text, result.finish

    assert answer("a b", 4, None, []) == (f"a b {FILLER[0]} {FILLER[1]}", "stop")
    assert answer("a b c d", 4, 2, []) == ("a b", "length")
    assert answer("a b c d", 4, None, ["c"]) == ("a b", "stop_sequence")
    assert answer("", 0, None, []) == ("", "stop")


def test_tool_answer_pieces_rebuild_arguments() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "number"}}}
    result = build_answer(
        prompt="",
        tool=ToolSpec("search", schema),
        tool_id="call_1",
        tokens=20,
        max_tokens=None,
        stops=[],
        thinking=True,
        input_tokens=3,
    )
    assert result.tool is not None and result.finish == "tool"
    assert "".join(result.tool.pieces) == result.tool.arguments == '{"q":"q example","n":1.5}'
    assert result.output_tokens == len(result.thinking) + len(json_pieces(result.tool.arguments))


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "enum": ["x", "y"]}, "x"),
        ({"type": "integer", "minimum": 5}, 5),
        ({"type": ["null", "boolean"]}, True),
        ({"const": 7}, 7),
        ({"type": "string", "default": "d"}, "d"),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1),
        ({"type": "array", "items": {"type": "number"}}, [1.5]),
        ({"properties": {"a": {"type": "null"}}}, {"a": None}),
        ("not a schema", {}),
    ],
)
def test_example_from_schema(schema: object, expected: object) -> None:
    assert example_from_schema(schema) == expected


def test_last_turn_spots_tool_results() -> None:
    assert last_turn([{"role": "user", "content": "hi"}]) == ("hi", False)
    assert last_turn([{"role": "user", "content": "q"}, {"role": "tool", "content": "42"}]) == ("42", True)
    anthropic_result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "ok"}]}],
    }
    assert last_turn([anthropic_result]) == ("ok", True)


def test_parse_duration() -> None:
    assert parse_duration("5ms") == pytest.approx(0.005)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("250us") == pytest.approx(0.00025)
    assert parse_duration("0") == 0.0
    for bad in ("5", "fast", "-1ms", "3h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_control_headers() -> None:
    options = FakeOptions(token_latency=0.01, default_tokens=9)
    plain = Control.from_headers({}, options)
    assert (plain.token_latency, plain.tokens, plain.status, plain.no_usage) == (0.01, 9, None, False)
    custom = Control.from_headers(
        {"x-fake-token-latency-ms": "2", "x-fake-tokens": "3", "x-fake-no-usage": "true"}, options
    )
    assert (custom.token_latency, custom.tokens, custom.no_usage) == (0.002, 3, True)
    for headers in ({"x-fake-status": "200"}, {"x-fake-tokens": "-1"}, {"x-fake-ttft-ms": "soon"}):
        with pytest.raises(ControlError):
            Control.from_headers(headers, options)
