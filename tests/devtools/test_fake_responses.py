"""The fake provider's OpenAI Responses API, driven by the official openai SDK directly (no
gateway): answers, the event stream, tools, usage, stored responses and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from fastgw.devtools.fake_process import FakeProcess, start_fake_provider
from tests.devtools.test_fake_provider import expected_text, raw

KEY = "sk-test-fake-responses"
TOOL: Any = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"term": {"type": "string"}, "n": {"type": "integer"}}},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProcess]:
    server = start_fake_provider("--require-key", KEY)
    yield server
    assert server.stop() == 0, server.stderr_text()


@pytest.fixture
def oai(fake: FakeProcess) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=f"{fake.base_url}/v1", max_retries=0, timeout=20)


def test_answer_and_usage_follow_the_token_rule(oai: openai.OpenAI) -> None:
    got = oai.responses.create(model="m", input="alpha beta gamma", instructions="be kind")
    assert got.status == "completed" and got.model == "m"
    assert got.output_text == expected_text("alpha beta gamma", 20)
    assert got.usage is not None
    assert (got.usage.input_tokens, got.usage.output_tokens) == (5, 20)  # input + instructions words


def test_max_output_tokens_makes_it_incomplete(oai: openai.OpenAI) -> None:
    got = oai.responses.create(model="m", input="one two", max_output_tokens=3)
    assert got.status == "incomplete" and got.incomplete_details is not None
    assert got.incomplete_details.reason == "max_output_tokens"
    assert got.output_text == "one two lorem"


def test_stream_event_sequence_with_a_tool_call(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="m", input="x", tools=[TOOL], tool_choice="required") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    call = final.output[0]
    assert call.type == "function_call" and call.name == "lookup"
    assert json.loads(pieces) == json.loads(call.arguments) == {"term": "term example", "n": 1}


def test_stored_responses_continue_and_go(oai: openai.OpenAI, fake: FakeProcess) -> None:
    first = oai.responses.create(model="m", input="remember me")
    second = oai.responses.create(model="m", input="again", previous_response_id=first.id)
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > 1  # the stored conversation counts
    assert oai.responses.retrieve(first.id).output_text == first.output_text
    oai.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.create(model="m", input="x", previous_response_id=first.id)
    unstored = oai.responses.create(model="m", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(unstored.id)
    compact = raw(
        "POST",
        f"{fake.base_url}/v1/responses/compact",
        {"model": "m", "input": "a b c"},
        {"authorization": f"Bearer {KEY}"},
    )
    assert compact.status == 200 and compact.json()["object"] == "response.compaction"


def test_errors_are_openai_shaped(oai: openai.OpenAI, fake: FakeProcess) -> None:
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="m", input="x", extra_headers={"x-fake-status": "400"})
    missing = raw("POST", f"{fake.base_url}/v1/responses", {"input": "x"}, {"authorization": f"Bearer {KEY}"})
    assert missing.status == 400 and missing.json()["error"]["param"] == "model"
