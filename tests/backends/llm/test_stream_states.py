"""Stream state machines on the edge cases recorded transcripts do not cover."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fastgw.backends.llm.translate import AnthropicFromOpenAIStream, OpenAIFromAnthropicStream
from fastgw.errors import UpstreamProtocolError
from fastgw.telemetry.usage import Usage
from tests.backends.llm.golden_util import GOLDEN, run_stream
from tests.backends.llm.sse_util import parse_all


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return orjson.dumps({"id": "c1", "model": "m", "choices": [choice], **extra})


def _anthropic_events(output: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(data) for _, data in parse_all([output])]


def test_arguments_before_the_name_are_held() -> None:
    stream = OpenAIFromAnthropicStream()
    out = stream.feed("", _chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"arguments": '{"a"'}}]}))
    assert b"content_block_start" not in out
    out += stream.feed("", _chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ":1}"}}]}))
    events = _anthropic_events(out)
    assert events[1]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    assert events[2]["delta"] == {"type": "input_json_delta", "partial_json": '{"a":1}'}


def test_finish_waits_for_usage_then_done_is_silent() -> None:
    stream = OpenAIFromAnthropicStream()
    stream.feed("", _chunk({"content": "hi"}))
    held = stream.feed("", _chunk({}, "stop"))
    assert b"message_delta" not in held
    out = stream.feed(
        "", orjson.dumps({"id": "c1", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    )
    events = _anthropic_events(out)
    assert [e["type"] for e in events] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[1]["usage"]["input_tokens"] == 7
    assert stream.feed("", b"[DONE]") == b""
    assert stream.finish() == b""
    assert stream.feed("", _chunk({"content": "late"})) == b""


def test_finish_flushes_a_stream_cut_short() -> None:
    stream = OpenAIFromAnthropicStream()
    stream.feed("", _chunk({"content": "partial"}))
    events = _anthropic_events(stream.finish())
    assert [e["type"] for e in events] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[1]["delta"]["stop_reason"] == "end_turn"
    assert stream.has_usage is False


def test_empty_upstream_stream_is_an_error_event() -> None:
    events = parse_all([OpenAIFromAnthropicStream(model="m").finish()])
    assert events[0][0] == "error"
    assert orjson.loads(events[0][1])["error"]["type"] == "api_error"


def test_include_usage_false_omits_only_the_usage_chunk() -> None:
    path = GOLDEN / "anthropic_from_openai/stream_tools_parallel.in.sse"
    with_usage, translator = run_stream(path, include_usage=True)
    without, plain = run_stream(path, include_usage=False)
    removed = [e for e in parse_all([with_usage]) if e not in parse_all([without])]
    assert len(removed) == 1
    assert orjson.loads(removed[0][1])["choices"] == []
    assert plain.usage == translator.usage


def test_anthropic_error_event_ends_without_done() -> None:
    stream = AnthropicFromOpenAIStream(created=1)
    start = {"message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 3, "output_tokens": 1}}}
    stream.feed("message_start", orjson.dumps(start))
    out = stream.feed("error", b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
    assert orjson.loads(parse_all([out])[0][1]) == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_error",
        }
    }
    assert stream.finish() == b""
    assert stream.usage == Usage(input_tokens=3, output_tokens=1)


def test_unknown_events_are_skipped_and_malformed_ones_raise() -> None:
    stream = AnthropicFromOpenAIStream(created=1, model="fallback")
    with pytest.raises(UpstreamProtocolError, match="content_block_delta"):
        stream.feed("content_block_delta", b"{truncated")
    with pytest.raises(UpstreamProtocolError):
        stream.feed("content_block_delta", b'{"delta": 5}')
    with pytest.raises(UpstreamProtocolError):
        OpenAIFromAnthropicStream().feed("", b'{"choices": [1]}')
    assert stream.feed("future_event", b'{"type":"future_event"}') == b""
    delta = b'{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}'
    assert stream.feed("content_block_delta", delta) == b""
    text = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}'
    chunk = orjson.loads(parse_all([stream.feed("", text)])[0][1])
    assert chunk["model"] == "fallback"
    assert chunk["choices"][0]["delta"] == {"content": "x"}
