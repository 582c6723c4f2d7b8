"""Translated Responses streams, read back by the openai SDK's own Responses stream accumulator
(what `client.responses.stream(...).get_final_response()` uses). The expected answer is computed
independently from the recorded upstream events (text, reasoning, tool calls, usage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai import NOT_GIVEN
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.backends.llm.golden_util import GOLDEN, case_id, run_stream
from tests.backends.llm.sse_util import parse_all
from tests.backends.llm.test_stream_sdk import _anthropic_expectation, _openai_expectation

EVENT: Any = TypeAdapter(ResponseStreamEvent)


def _cases(direction: str) -> list[Path]:
    return [p for p in sorted((GOLDEN / direction).glob("stream_*.in.sse")) if "error" not in p.name]


def _final(output: bytes) -> Any:
    state: Any = ResponseStreamState(input_tools=NOT_GIVEN, text_format=NOT_GIVEN)
    final = None
    for name, data in parse_all([output]):
        payload = orjson.loads(data)
        assert payload["type"] == name  # every event is named by its type
        event = EVENT.validate_python(payload)
        for handled in state.handle_event(event):
            if handled.type in ("response.completed", "response.incomplete"):
                final = handled.response
    assert final is not None, "no response.completed"
    return final


def _calls(final: Any) -> list[tuple[str, Any]]:
    return [(item.name, orjson.loads(item.arguments)) for item in final.output if item.type == "function_call"]


def _reasoning(final: Any) -> str:
    return "".join(s.text for item in final.output if item.type == "reasoning" for s in item.summary)


@pytest.mark.parametrize("path", _cases("anthropic_to_responses"), ids=case_id)
def test_sdk_reads_a_stream_translated_from_messages(path: Path) -> None:
    expected = _anthropic_expectation(path.read_bytes())
    output, translator = run_stream(path)
    final = _final(output)
    assert final.output_text == expected["text"]
    assert _reasoning(final) == expected["thinking"]
    assert _calls(final) == expected["calls"]
    assert final.usage.input_tokens == translator.usage.input_tokens
    assert final.usage.output_tokens == translator.usage.output_tokens
    assert final.status == ("incomplete" if expected["stop"] == "max_tokens" else "completed")


@pytest.mark.parametrize("path", _cases("openai_to_responses"), ids=case_id)
def test_sdk_reads_a_stream_translated_from_chat(path: Path) -> None:
    expected = _openai_expectation(path.read_bytes())
    output, _ = run_stream(path)
    final = _final(output)
    assert final.output_text == expected["text"]
    assert _reasoning(final) == expected["thinking"]
    assert _calls(final) == expected["calls"]
    if expected["usage"] is not None:
        assert final.usage.input_tokens == expected["usage"]["prompt_tokens"]
        assert final.usage.output_tokens == expected["usage"]["completion_tokens"]
    else:
        assert final.usage is None
