"""Translated streams, read back by the official SDKs' own stream accumulators.

The expected message is computed independently from the recorded upstream events, so this checks the
meaning of the translation (text, reasoning, tool inputs, stop reason, usage), not its bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.types import RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter

from tests.backends.llm.golden_util import GOLDEN, case_id, run_stream
from tests.backends.llm.sse_util import parse_all

try:  # the accumulator is not exported publicly; this import path is stable across anthropic 0.3x-2.x
    from anthropic.lib.streaming import _messages as anthropic_streaming
except ImportError:  # pragma: no cover - only with an incompatible SDK
    anthropic_streaming = None  # type: ignore[assignment]

HAVE_ACCUMULATOR = anthropic_streaming is not None


def _events(data: bytes) -> list[tuple[str, bytes]]:
    return parse_all([data])


def _complete_cases(direction: str) -> list[Path]:
    return [p for p in sorted((GOLDEN / direction).glob("stream_*.in.sse")) if "error" not in p.name]


def _anthropic_expectation(raw: bytes) -> dict[str, Any]:
    text, thinking, tools, stop = [], [], {}, None
    for event, data in _events(raw):
        payload = orjson.loads(data) if event != "ping" else {}
        if event == "content_block_start" and payload["content_block"]["type"] == "tool_use":
            tools[payload["index"]] = [payload["content_block"]["name"], ""]
        elif event == "content_block_delta":
            delta = payload["delta"]
            if delta["type"] == "text_delta":
                text.append(delta["text"])
            elif delta["type"] == "thinking_delta":
                thinking.append(delta["thinking"])
            elif delta["type"] == "input_json_delta":
                tools[payload["index"]][1] += delta["partial_json"]
        elif event == "message_delta":
            stop = payload["delta"]["stop_reason"]
    calls = [(name, orjson.loads(args or "{}")) for _, (name, args) in sorted(tools.items())]
    return {"text": "".join(text), "thinking": "".join(thinking), "calls": calls, "stop": stop}


@pytest.mark.parametrize("path", _complete_cases("anthropic_from_openai"), ids=case_id)
def test_openai_sdk_reads_translated_stream(path: Path) -> None:
    expected = _anthropic_expectation(path.read_bytes())
    output, translator = run_stream(path)
    events = _events(output)
    assert events[-1] == ("", b"[DONE]")
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    reasoning = []
    for _, data in events[:-1]:
        chunk = ChatCompletionChunk.model_validate(orjson.loads(data))
        for choice in chunk.choices:
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
        list(state.handle_chunk(chunk))
    completion = state.get_final_completion()
    message = completion.choices[0].message
    assert (message.content or "") == expected["text"]
    assert "".join(reasoning) == expected["thinking"]
    calls = [(c.function.name, orjson.loads(c.function.arguments)) for c in message.tool_calls or ()]
    assert calls == expected["calls"]
    finish = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}[expected["stop"]]
    assert completion.choices[0].finish_reason == finish
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == translator.usage.input_tokens
    assert completion.usage.completion_tokens == translator.usage.output_tokens


def _openai_expectation(raw: bytes) -> dict[str, Any]:
    text: list[str] = []
    thinking: list[str] = []
    tools: dict[int, list[Any]] = {}
    finish, usage = None, None
    for _, data in _events(raw):
        if data == b"[DONE]":
            continue
        chunk = orjson.loads(data)
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text.append(delta.get("content") or "")
            thinking.append(delta.get("reasoning_content") or "")
            for call in delta.get("tool_calls") or ():
                entry = tools.setdefault(call["index"], [None, ""])
                entry[0] = call.get("function", {}).get("name") or entry[0]
                entry[1] += call.get("function", {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    calls = [(name, orjson.loads(args or "{}")) for _, (name, args) in sorted(tools.items())]
    return {
        "text": "".join(text),
        "thinking": "".join(thinking),
        "calls": calls,
        "finish": finish,
        "usage": usage,
    }


@pytest.mark.skipif(
    not HAVE_ACCUMULATOR and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
    reason="anthropic SDK without the stream accumulator",
)
@pytest.mark.parametrize("path", _complete_cases("openai_from_anthropic"), ids=case_id)
def test_anthropic_sdk_reads_translated_stream(path: Path) -> None:
    assert HAVE_ACCUMULATOR, "the anthropic SDK stream accumulator is required in CI"
    expected = _openai_expectation(path.read_bytes())
    output, _ = run_stream(path)
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    names = []
    for event, data in _events(output):
        payload = orjson.loads(data)
        assert payload["type"] == event
        names.append(event)
        snapshot = anthropic_streaming.accumulate_event(
            event=adapter.validate_python(payload), current_snapshot=snapshot, json_bufs=json_bufs
        )
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert snapshot is not None
    text = "".join(b.text for b in snapshot.content if b.type == "text")
    thinking = "".join(b.thinking for b in snapshot.content if b.type == "thinking")
    calls = [(b.name, b.input) for b in snapshot.content if b.type == "tool_use"]
    assert text == expected["text"]
    assert thinking == expected["thinking"]
    assert calls == expected["calls"]
    stop = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}
    assert snapshot.stop_reason == stop[expected["finish"]]
    usage = expected["usage"] or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    assert snapshot.usage.output_tokens == usage.get("completion_tokens", 0)
    assert snapshot.usage.input_tokens == usage.get("prompt_tokens", 0) - cached
    assert (snapshot.usage.cache_read_input_tokens or 0) == cached
