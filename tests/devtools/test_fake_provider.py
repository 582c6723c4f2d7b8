"""The fake LLM provider as a real process, driven by the official openai and anthropic SDKs."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from fastgw.devtools.fake_answer import FILLER, TOOL_PIECE, count_words, input_tokens, strings_in
from fastgw.devtools.fake_process import FakeProcess, fake_provider_process, start_fake_provider

KEY = "sk-test-fake-key"
WEATHER_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "hourly": {"type": "boolean"},
    },
    "required": ["city"],
}


@dataclasses.dataclass
class Raw:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def raw(method: str, url: str, body: bytes | Any = None, headers: dict[str, str] | None = None) -> Raw:
    """One plain HTTP/1.1 exchange (no SDK in the way), for wire-level assertions."""
    host_port = url.removeprefix("http://").split("/", 1)[0]
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection = http.client.HTTPConnection(host_port, timeout=20)
    try:
        connection.request(method, path, body=payload, headers={"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode())
    finally:
        connection.close()


def recorded(fake: FakeProcess) -> list[dict[str, Any]]:
    response = raw("GET", f"{fake.base_url}/_fake/requests")
    assert response.status == 200
    result: list[dict[str, Any]] = response.json()
    return result


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProcess]:
    server = start_fake_provider("--require-key", KEY)
    yield server
    assert server.stop() == 0, server.stderr_text()


@pytest.fixture
def oai(fake: FakeProcess) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=f"{fake.base_url}/v1", max_retries=0, timeout=20)


@pytest.fixture
def ant(fake: FakeProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=KEY, base_url=fake.base_url, max_retries=0, timeout=20)


def expected_text(prompt: str, count: int) -> str:
    words = prompt.split()[:count]
    words += [FILLER[i % len(FILLER)] for i in range(count - len(words))]
    return " ".join(words)


# OpenAI chat completions


def test_openai_create_echoes_prompt_with_consistent_usage(oai: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is the capital of France"},
    ]
    result = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    content = result.choices[0].message.content
    assert content == expected_text("what is the capital of France", 20)
    assert result.model == "gpt-4o-mini"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.completion_tokens == len(content.split()) == 20
    assert result.usage.prompt_tokens == input_tokens({"messages": messages})
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_openai_max_tokens_truncates_with_length(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "one two three"}], max_completion_tokens=4
    )
    assert result.choices[0].message.content == "one two three lorem"
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 4


def test_openai_stream_matches_create_and_ends_with_usage(oai: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "stream me please"}]
    stream = oai.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-tokens": "7"},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_text("stream me please", 7)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == 7
    assert usage.prompt_tokens == input_tokens({"messages": messages})
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_stream_raw_wire_ends_with_done(fake: FakeProcess) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    response = raw(
        "POST",
        f"{fake.base_url}/v1/chat/completions",
        body,
        headers={"authorization": f"Bearer {KEY}", "x-fake-no-usage": "1"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(p["object"] == "chat.completion.chunk" and "usage" not in p for p in payloads)


def test_openai_required_tool_call_follows_schema(oai: openai.OpenAI) -> None:
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]
    result = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "weather?"}], tools=tools, tool_choice="required"
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert set(args) == set(WEATHER_TOOL_SCHEMA["properties"])
    assert isinstance(args["city"], str) and args["days"] == 2
    assert args["unit"] == "celsius" and args["hourly"] is True
    assert result.usage is not None
    assert result.usage.completion_tokens == -(-len(call.function.arguments) // TOOL_PIECE)


def test_openai_named_tool_streamed_arguments_reassemble(oai: openai.OpenAI) -> None:
    tools: list[Any] = [
        {"type": "function", "function": {"name": "first", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}},
    ]
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    names: list[str] = []
    arguments = ""
    finish = None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            if call.function and call.function.name:
                names.append(call.function.name)
            arguments += (call.function.arguments or "") if call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert names == ["get_weather"]
    assert json.loads(arguments)["unit"] == "celsius"
    assert finish == "tool_calls"


def test_openai_auto_tool_only_when_named_and_not_after_result(oai: openai.OpenAI) -> None:
    tools: list[Any] = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    named = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "please lookup this"}], tools=tools
    )
    assert named.choices[0].finish_reason == "tool_calls"
    call_id = named.choices[0].message.tool_calls[0].id  # type: ignore[index]
    after = oai.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "please lookup this"},
            {
                "role": "assistant",
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "result is 42"},
        ],
        tools=tools,
    )
    assert after.choices[0].finish_reason == "stop"
    assert after.choices[0].message.content is not None
    assert after.choices[0].message.content.startswith("result is 42")


def test_openai_auth_and_bad_json(fake: FakeProcess) -> None:
    bad_key = openai.OpenAI(api_key="wrong", base_url=f"{fake.base_url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad_key.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    response = raw(
        "POST",
        f"{fake.base_url}/v1/chat/completions",
        b"{not json",
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert response.status == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_openai_injected_status(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], extra_headers={"x-fake-status": "503"}
        )
    assert caught.value.status_code == 503
    assert caught.value.body is not None and "x-fake-status" in str(caught.value.body)


def test_openai_models_and_embeddings(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list()]
    assert "gpt-4o-mini" in ids and "claude-sonnet-4-6" in ids
    floats = oai.embeddings.create(
        model="text-embedding-3-small", input=["alpha beta", "gamma"], dimensions=12, encoding_format="float"
    )
    assert [d.index for d in floats.data] == [0, 1]
    assert all(len(d.embedding) == 12 for d in floats.data)
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1.0) < 1e-9
    assert floats.data[0].embedding != floats.data[1].embedding
    assert floats.usage.prompt_tokens == 3
    # The SDK's default asks for base64 float32; the decoded vector equals the float answer.
    again = oai.embeddings.create(model="text-embedding-3-small", input="alpha beta", dimensions=12)
    assert again.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)


def test_embeddings_base64_wire(fake: FakeProcess) -> None:
    response = raw(
        "POST",
        f"{fake.base_url}/v1/embeddings",
        {"model": "e", "input": "x", "encoding_format": "base64"},
        headers={"authorization": f"Bearer {KEY}"},
    )
    vector_bytes = base64.b64decode(response.json()["data"][0]["embedding"])
    assert len(struct.unpack(f"<{len(vector_bytes) // 4}f", vector_bytes)) == 8


# Anthropic messages


def test_anthropic_create_with_consistent_usage(ant: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "tell me about Lyon"}]
    message = ant.messages.create(model="claude-sonnet-4-6", max_tokens=1024, system="be kind", messages=messages)
    assert message.model == "claude-sonnet-4-6"
    assert message.stop_reason == "end_turn"
    assert len(message.content) == 1 and message.content[0].type == "text"
    assert message.content[0].text == expected_text("tell me about Lyon", 20)
    assert message.usage.output_tokens == 20
    assert message.usage.input_tokens == input_tokens({"messages": messages, "system": "be kind"})
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0


def test_anthropic_max_tokens_and_stop_sequence(ant: anthropic.Anthropic) -> None:
    short = ant.messages.create(model="c", max_tokens=3, messages=[{"role": "user", "content": "a b c d e"}])
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 3
    stopped = ant.messages.create(
        model="c", max_tokens=100, stop_sequences=["c"], messages=[{"role": "user", "content": "a b c d e"}]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "c"
    assert stopped.content[0].type == "text" and stopped.content[0].text == "a b"


def test_anthropic_stream_events_and_final_message(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(
        model="c",
        max_tokens=64,
        messages=[{"role": "user", "content": "stream this"}],
        extra_headers={"x-fake-tokens": "5"},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert final.content[0].type == "text" and final.content[0].text == expected_text("stream this", 5)
    assert final.usage.output_tokens == 5
    assert final.stop_reason == "end_turn"


def test_anthropic_raw_stream_has_ping_and_event_names(fake: FakeProcess) -> None:
    body = {"model": "c", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    response = raw(
        "POST",
        f"{fake.base_url}/v1/messages",
        body,
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    frames = [f for f in response.text.split("\n\n") if f]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert names[:2] == ["message_start", "ping"]
    for frame, name in zip(frames, names, strict=True):
        assert json.loads(frame.split("\n")[1].removeprefix("data: "))["type"] == name


def test_anthropic_tool_use_stream_parses_input(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(
        model="c",
        max_tokens=256,
        tools=[{"name": "get_weather", "description": "w", "input_schema": WEATHER_TOOL_SCHEMA}],  # type: ignore[typeddict-item]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "weather in Paris"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"city": "city example", "days": 2, "unit": "celsius", "hourly": True}
    assert block.id.startswith("toolu_")


def test_anthropic_thinking_blocks(ant: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {
        "model": "c",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "think hard"}],
    }
    message = ant.messages.create(**params)
    assert [b.type for b in message.content] == ["thinking", "text"]
    with ant.messages.stream(**params) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in streamed.content] == ["thinking", "text"]
    thinking = streamed.content[0]
    assert thinking.type == "thinking" and message.content[0].type == "thinking"
    assert thinking.thinking == message.content[0].thinking and thinking.thinking.startswith("thinking about")
    assert thinking.signature and thinking.signature == message.content[0].signature
    assert streamed.usage.output_tokens == len(thinking.thinking.split()) + 20


def test_anthropic_cache_control_creation_then_read(ant: anthropic.Anthropic) -> None:
    system: list[Any] = [
        {
            "type": "text",
            "text": "a long stable preamble " + str(time.time_ns()),
            "cache_control": {"type": "ephemeral"},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "question one"}]
    first = ant.messages.create(model="c", max_tokens=50, system=system, messages=messages)
    prefix = count_words(strings_in(system))
    total = input_tokens({"system": system, "messages": messages})
    assert first.usage.cache_creation_input_tokens == prefix
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens == total - prefix
    with ant.messages.stream(model="c", max_tokens=50, system=system, messages=messages) as stream:
        second = stream.get_final_message()
    assert second.usage.cache_read_input_tokens == prefix
    assert second.usage.cache_creation_input_tokens == 0


def test_anthropic_validation_and_auth(fake: FakeProcess) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    missing = raw(
        "POST",
        f"{fake.base_url}/v1/messages",
        {"model": "c", "messages": [{"role": "user", "content": "x"}]},
        headers=headers,
    )
    assert missing.status == 400
    assert missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in missing.json()["error"]["message"]
    no_messages = raw("POST", f"{fake.base_url}/v1/messages", {"model": "c", "max_tokens": 5}, headers=headers)
    assert no_messages.status == 400
    bad_json = raw("POST", f"{fake.base_url}/v1/messages", b"[", headers=headers)
    assert bad_json.status == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    # Both Anthropic credential headers are checked; a wrong key in either is a 401.
    assert (
        raw(
            "POST",
            f"{fake.base_url}/v1/messages/count_tokens",
            {"model": "c", "messages": [{"role": "user", "content": "x"}]},
            {"x-api-key": KEY},
        ).status
        == 200
    )
    assert (
        raw(
            "POST",
            f"{fake.base_url}/v1/messages/count_tokens",
            {"model": "c", "messages": [{"role": "user", "content": "x"}]},
            {"x-api-key": "nope"},
        ).status
        == 401
    )
    bearer = anthropic.Anthropic(auth_token="nope", base_url=fake.base_url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bearer.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


def test_anthropic_injected_overload(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        ant.messages.create(
            model="c",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-fake-status": "529"},
        )
    assert caught.value.status_code == 529
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "overloaded_error"


def test_count_tokens_and_models(ant: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "count these five words"}]
    counted = ant.messages.count_tokens(model="c", system="sys prompt", messages=messages)
    assert counted.input_tokens == input_tokens({"messages": messages, "system": "sys prompt"})
    listed = ant.models.list()
    assert "claude-sonnet-4-6" in [m.id for m in listed.data]
    assert ant.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5"


# Recording, pacing, cuts, error rate


def test_recording_endpoints(fake: FakeProcess, oai: openai.OpenAI) -> None:
    assert raw("DELETE", f"{fake.base_url}/_fake/requests").status == 204
    assert recorded(fake) == []
    oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "recorded"}], extra_query={"trace": "1"}
    )
    [entry] = recorded(fake)
    assert entry["method"] == "POST" and entry["path"] == "/v1/chat/completions"
    assert entry["query"] == "trace=1"
    headers = {name.lower(): value for name, value in entry["headers"]}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert entry["json"] == {"model": "m", "messages": [{"role": "user", "content": "recorded"}]}
    assert base64.b64decode(entry["body_b64"]).decode() == entry["body"]
    assert raw("DELETE", f"{fake.base_url}/_fake/requests").status == 204
    assert recorded(fake) == []


def test_token_latency_paces_the_stream(oai: openai.OpenAI) -> None:
    started = time.monotonic()
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        extra_headers={"x-fake-tokens": "6", "x-fake-token-latency-ms": "30", "x-fake-ttft-ms": "60"},
    )
    arrivals = [time.monotonic() - started for c in stream if c.choices and c.choices[0].delta.content]
    assert len(arrivals) == 6
    assert arrivals[0] >= 0.055
    # Lower bounds only (5% slack for ms-granular loop timers): no last token before TTFT + 5 gaps.
    assert arrivals[-1] >= 0.95 * (0.060 + 5 * 0.030)


def is_connection_cut(error: BaseException) -> bool:
    """The openai SDK wraps a truncated body in APIConnectionError; the anthropic SDK lets its HTTP
    client's RemoteProtocolError through."""
    if isinstance(error, (openai.APIConnectionError, anthropic.APIConnectionError)):
        return True
    return any(cls.__name__ == "RemoteProtocolError" for cls in type(error).__mro__)


def test_stream_cut_after_tokens(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    received: list[str] = []
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "a b c d e f"}],
        stream=True,
        extra_headers={"x-fake-fail-after-tokens": "3"},
    )
    with pytest.raises(Exception) as cut_info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert is_connection_cut(cut_info.value)
    assert "".join(received) == "a b c"
    with pytest.raises(Exception) as cut_info:  # noqa: SIM117
        with ant.messages.stream(
            model="c",
            max_tokens=50,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-fake-fail-after-tokens": "2"},
        ) as astream:
            for _ in astream:
                pass
    assert is_connection_cut(cut_info.value)
    with pytest.raises(Exception) as cut_info:
        oai.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-fake-fail-after-tokens": "1"},
        )
    assert is_connection_cut(cut_info.value)


def test_bad_control_header_is_a_400(fake: FakeProcess) -> None:
    response = raw(
        "POST",
        f"{fake.base_url}/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers={"authorization": f"Bearer {KEY}", "x-fake-tokens": "many"},
    )
    assert response.status == 400 and "x-fake-tokens" in response.json()["error"]["message"]


def test_error_rate_one_fails_everything_in_provider_format() -> None:
    with fake_provider_process("--error-rate", "1", "--seed", "7") as server:
        openai_answer = raw(
            "POST",
            f"{server.base_url}/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        assert openai_answer.status == 500 and openai_answer.json()["error"]["type"] == "server_error"
        anthropic_answer = raw(
            "POST",
            f"{server.base_url}/v1/messages",
            {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )
        assert anthropic_answer.status == 529
        assert anthropic_answer.json()["error"]["type"] == "overloaded_error"
        assert len(recorded(server)) == 2
        # The control client of fake_process reads the same ring.
        assert [r["path"] for r in server.requests()] == ["/v1/chat/completions", "/v1/messages"]
        server.clear()
        assert server.requests() == []


def test_fail_next_queues_failures_then_recovers(fake: FakeProcess) -> None:
    queued = raw("POST", f"{fake.base_url}/_fake/fail-next", {"status": 500, "count": 5})
    assert queued.status == 200 and queued.json() == {"queued": 5}
    fake.fail_next(503, 2)  # replaces the queue
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": f"Bearer {KEY}", "x-fake-retry-after": "1"}
    statuses = [raw("POST", f"{fake.base_url}/v1/chat/completions", body, headers) for _ in range(3)]
    assert [s.status for s in statuses] == [503, 503, 200]
    assert statuses[0].headers["retry-after"] == "1"
    assert statuses[0].json()["error"]["type"] == "server_error"
    assert raw("POST", f"{fake.base_url}/_fake/fail-next", {"status": 200}).status == 400


def test_embeddings_token_id_inputs(fake: FakeProcess) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    flat = raw("POST", f"{fake.base_url}/v1/embeddings", {"model": "e", "input": [1, 2, 3]}, headers)
    nested = raw("POST", f"{fake.base_url}/v1/embeddings", {"model": "e", "input": [[1, 2, 3], [4]]}, headers)
    assert len(flat.json()["data"]) == 1
    assert len(nested.json()["data"]) == 2
    assert flat.json()["data"][0]["embedding"] == nested.json()["data"][0]["embedding"]


def test_anthropic_thinking_budget_is_validated(ant: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        ant.messages.create(
            model="c", max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 100}, messages=messages
        )
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        ant.messages.create(
            model="c", max_tokens=1024, thinking={"type": "enabled", "budget_tokens": 2048}, messages=messages
        )
