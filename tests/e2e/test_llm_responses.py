"""The OpenAI Responses API end to end: the official `openai` SDK (`client.responses.create` /
`.stream`) through the real gateway to the bundled fake provider as OpenAI (passthrough: it speaks
Responses itself), as an OpenAI-compatible server without Responses (`custom` with the completions
format, and an `llm:` preset: translated to chat completions) and as Anthropic (translated to
Messages). Each test checks what the client got and what the provider received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
import yaml

from tests.e2e.llm_util import CLIENT_KEY, FakeProvider, assert_no_client_key
from tests.e2e.procs import Gateway, bind_config, free_port, wait_until

UPSTREAM_KEY = "sk-upstream-responses"
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _route(name: str, provider: dict[str, Any], host: str, **ai: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"name": name, "provider": provider, "hostOverride": host}
    backend.update(ai)
    return {
        "name": name,
        "matches": [{"path": {"pathPrefix": f"/{name}"}}],
        # passthrough paths (/v1/responses/{id}) keep the client's path: strip the route prefix
        "policies": {"urlRewrite": {"path": {"prefix": ""}}, "backendAuth": {"key": UPSTREAM_KEY}},
        "backends": [{"ai": backend}],
    }


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("responses")


@pytest.fixture(scope="module")
def fake(tmp: Path) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp, "--require-key", UPSTREAM_KEY)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gw(tmp: Path, fake: FakeProvider) -> Iterator[Gateway]:
    host = fake.authority
    routes = [
        # no routes map: the binds default serves /v1/responses (and forwards /v1/responses/{id})
        _route("oai", {"openAI": {}}, host),
        # Anthropic: /v1/responses translated to /v1/messages
        _route("ant", {"anthropic": {}}, host),
        # an OpenAI-compatible server that has only chat completions (vLLM, Ollama)
        _route("compat", {"custom": {"formats": [{"type": "completions"}]}}, host),
    ]
    g = Gateway(tmp, bind_config(free_port(), routes), workers=1)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def base(gw: Gateway) -> str:
    cfg = yaml.safe_load(gw.config_path.read_text())
    return f"http://127.0.0.1:{cfg['binds'][0]['port']}"


@pytest.fixture(autouse=True)
def _clean(fake: FakeProvider) -> None:
    fake.clear()


def client(base: str, prefix: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/{prefix}/v1", api_key=CLIENT_KEY, max_retries=0)


# -- passthrough ---------------------------------------------------------------------------------------
def test_create_passthrough_keeps_the_body_and_reads_usage(base: str, fake: FakeProvider) -> None:
    got = client(base, "oai").responses.create(model="gpt-5", input="Hello responses world", max_output_tokens=50)
    assert got.status == "completed"
    assert got.output_text.startswith("Hello responses world")
    assert got.usage is not None and got.usage.input_tokens == 3
    seen = fake.last()
    assert seen["path"] == "/v1/responses"
    assert seen["json"]["input"] == "Hello responses world"
    assert seen["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert_no_client_key(seen["headers"])


def test_stream_passthrough_with_tools_and_a_tool_result_turn(base: str, fake: FakeProvider) -> None:
    c = client(base, "oai")
    with c.responses.stream(model="gpt-5", input="call get_weather for Paris", tools=[WEATHER_TOOL]) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "city example"}
    assert first.usage is not None and first.usage.output_tokens > 0
    fake.clear()
    follow = c.responses.create(
        model="gpt-5",
        input=[
            {"role": "user", "content": "call get_weather for Paris"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny and warm"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert follow.output_text.startswith("sunny and warm")
    assert fake.last()["json"]["input"][2]["output"] == "sunny and warm"


def test_stored_response_operations_are_forwarded(base: str, fake: FakeProvider) -> None:
    c = client(base, "oai")
    first = c.responses.create(model="gpt-5", input="remember this")
    fake.clear()
    again = c.responses.retrieve(first.id)
    assert again.id == first.id
    assert fake.last()["path"] == f"/v1/responses/{first.id}"
    second = c.responses.create(model="gpt-5", input="and this", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    fake.clear()
    with pytest.raises(openai.BadRequestError):
        c.responses.cancel(first.id)
    assert fake.last()["path"] == f"/v1/responses/{first.id}/cancel"
    c.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(first.id)


def test_compact_is_forwarded(base: str, fake: FakeProvider) -> None:
    r = httpx.post(
        f"{base}/oai/v1/responses/compact",
        json={"model": "gpt-5", "input": "one two three"},
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "response.compaction"
    assert fake.last()["path"] == "/v1/responses/compact"


def test_errors_are_in_the_responses_dialect(base: str, fake: FakeProvider) -> None:
    r = httpx.post(f"{base}/oai/v1/responses", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request_body"
    assert error["message"]
    r = httpx.post(
        f"{base}/oai/v1/responses",
        json={"model": "gpt-5", "input": "x"},
        headers={"x-fake-status": "429"},
    )
    assert r.status_code == 429 and r.json()["error"]["message"]


def test_a_stream_cut_by_the_provider_ends_with_an_error_event(base: str, fake: FakeProvider) -> None:
    with httpx.stream(
        "POST",
        f"{base}/oai/v1/responses",
        json={"model": "gpt-5", "input": "a b c d e f", "stream": True},
        headers={"x-fake-fail-after-tokens": "3"},
    ) as r:
        text = b"".join(r.iter_bytes()).decode()
    assert r.status_code == 200
    last = [block for block in text.split("\n\n") if block.strip()][-1]
    assert last.startswith("event: error\ndata: ")
    payload = json.loads(last.split("data: ", 1)[1])
    assert payload["type"] == "error" and payload["message"] and payload["code"]


def test_usage_reaches_the_access_log(base: str, gw: Gateway) -> None:
    c = client(base, "oai")
    with c.responses.stream(model="gpt-usage-probe", input="count these four words") as stream:
        final = stream.get_final_response()
    assert final.usage is not None

    def line() -> str | None:
        return next((ln for ln in gw.output().splitlines() if "gen_ai.request.model=gpt-usage-probe" in ln), None)

    wait_until(lambda: line() is not None, timeout=5, what="access log line")
    logged = line()
    assert logged is not None
    assert f"gen_ai.usage.input_tokens={final.usage.input_tokens}" in logged
    assert f"gen_ai.usage.output_tokens={final.usage.output_tokens}" in logged


# -- translated to Anthropic Messages ------------------------------------------------------------------
def test_create_on_anthropic_is_translated_both_ways(base: str, fake: FakeProvider) -> None:
    got = client(base, "ant").responses.create(
        model="claude-sonnet-4-5", instructions="Be brief.", input="Hello claude world", max_output_tokens=40
    )
    assert got.status == "completed" and got.object == "response"
    assert got.output_text.startswith("Hello claude world")
    seen = fake.last()
    assert seen["path"] == "/v1/messages"
    assert seen["headers"]["x-api-key"] == UPSTREAM_KEY
    assert_no_client_key(seen["headers"])
    sent = seen["json"]
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 40
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello claude world"}]}]
    assert got.usage is not None and got.usage.output_tokens == 20 and got.usage.input_tokens > 0


def test_stream_on_anthropic_with_tools_and_a_tool_result_turn(base: str, fake: FakeProvider) -> None:
    c = client(base, "ant")
    with c.responses.stream(model="claude-sonnet-4-5", input="call get_weather for Paris", tools=[WEATHER_TOOL]) as s:
        kinds = [event.type for event in s]
        first = s.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds and "response.output_item.done" in kinds
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "city example"}
    assert first.usage is not None and first.usage.output_tokens > 0
    sent = fake.last()["json"]
    assert sent["stream"] is True and sent["tools"][0]["input_schema"] == WEATHER_TOOL["parameters"]
    with c.responses.stream(
        model="claude-sonnet-4-5",
        input=[
            {"role": "user", "content": "call get_weather for Paris"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny and warm"},
        ],
        tools=[WEATHER_TOOL],
    ) as s:
        deltas = [event.delta for event in s if event.type == "response.output_text.delta"]
        follow = s.get_final_response()
    assert "".join(deltas) == follow.output_text
    assert follow.output_text.startswith("sunny and warm")
    turns = fake.last()["json"]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][0] == {
        "type": "tool_use",
        "id": call.call_id,
        "name": "get_weather",
        "input": {"city": "city example"},
    }
    assert turns[2]["content"][0]["type"] == "tool_result"


def test_reasoning_effort_and_json_schema_on_anthropic(base: str, fake: FakeProvider) -> None:
    got = client(base, "ant").responses.create(
        model="claude-sonnet-4-5",
        input="think about it",
        reasoning={"effort": "low"},
        text={"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
    )
    sent = fake.last()["json"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["max_tokens"] > 1024
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    assert [item.type for item in got.output] == ["reasoning", "message"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"tools": [{"type": "web_search"}]}, "web_search"),
        ({"previous_response_id": "resp_abc"}, "previous_response_id"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "item_reference"),
    ],
)
def test_what_anthropic_cannot_do_is_a_clear_400(
    base: str, fake: FakeProvider, extra: dict[str, Any], words: str
) -> None:
    body = {"model": "claude-sonnet-4-5", "input": "hi", **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        client(base, "ant").responses.create(**body)
    assert words in str(caught.value)
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert fake.requests() == []


def test_anthropic_stream_cut_ends_with_an_error_event(base: str, fake: FakeProvider) -> None:
    with httpx.stream(
        "POST",
        f"{base}/ant/v1/responses",
        json={"model": "claude-sonnet-4-5", "input": "a b c d e f", "stream": True},
        headers={"x-fake-fail-after-tokens": "3"},
    ) as r:
        text = b"".join(r.iter_bytes()).decode()
    blocks = [block for block in text.split("\n\n") if block.strip()]
    assert blocks[0].startswith("event: response.created")
    assert "response.output_text.delta" in text
    assert blocks[-1].startswith("event: error\ndata: ")
    assert "response.completed" not in text


def test_anthropic_upstream_errors_come_back_in_the_responses_dialect(base: str, fake: FakeProvider) -> None:
    r = httpx.post(
        f"{base}/ant/v1/responses",
        json={"model": "claude-sonnet-4-5", "input": "x"},
        headers={"x-fake-status": "529"},
    )
    assert r.status_code == 529
    error = r.json()["error"]
    assert error["message"] and error["code"] == "overloaded_error"


# -- translated to chat completions --------------------------------------------------------------------
def test_create_on_a_chat_only_server_is_translated(base: str, fake: FakeProvider) -> None:
    got = client(base, "compat").responses.create(
        model="qwen-coder", instructions="Be brief.", input="Hello local world", max_output_tokens=30
    )
    assert got.status == "completed" and got.output_text.startswith("Hello local world")
    assert got.usage is not None and got.usage.output_tokens == 20
    seen = fake.last()
    assert seen["path"] == "/v1/chat/completions"
    assert seen["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert seen["json"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello local world"},
    ]
    assert seen["json"]["max_tokens"] == 30


def test_stream_on_a_chat_only_server_with_tools_and_a_tool_result_turn(base: str, fake: FakeProvider) -> None:
    c = client(base, "compat")
    with c.responses.stream(model="qwen-coder", input="call get_weather for Paris", tools=[WEATHER_TOOL]) as s:
        kinds = [event.type for event in s]
        first = s.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "city example"}
    assert first.usage is not None and first.usage.input_tokens > 0
    sent = fake.last()["json"]
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": WEATHER_TOOL["parameters"],
            },
        }
    ]
    follow = c.responses.create(
        model="qwen-coder",
        input=[
            {"role": "user", "content": "call get_weather for Paris"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny and warm"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert follow.output_text.startswith("sunny and warm")
    messages = fake.last()["json"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == call.call_id


def test_state_on_a_chat_only_server_is_a_clear_400(base: str, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(base, "compat").responses.create(model="m", input="hi", previous_response_id="resp_1")
    assert "previous_response_id" in str(caught.value)
    assert fake.requests() == []


def test_llm_block_presets_translate_responses_to_chat(tmp: Path, fake: FakeProvider) -> None:
    port = free_port()
    llm = {
        "port": port,
        "models": [
            {
                "name": "local",
                "provider": "ollama",
                "params": {"model": "llama3", "baseUrl": f"http://{fake.authority}/v1", "apiKey": UPSTREAM_KEY},
            },
            {"name": "gpt-5", "provider": "openai", "params": {"apiKey": UPSTREAM_KEY, "hostOverride": fake.authority}},
        ],
    }
    g = Gateway(tmp, {"llm": llm}, workers=1)
    try:
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=CLIENT_KEY, max_retries=0)
        got = c.responses.create(model="local", input="hello preset")
        assert got.output_text.startswith("hello preset")
        seen = fake.last()
        assert seen["path"] == "/v1/chat/completions" and seen["json"]["model"] == "llama3"
        native = c.responses.create(model="gpt-5", input="hello openai")
        assert native.output_text.startswith("hello openai")
        assert fake.last()["path"] == "/v1/responses"
        again = c.responses.retrieve(native.id)
        assert again.id == native.id
    finally:
        g.stop()


# -- WebSocket -----------------------------------------------------------------------------------------
def _handshake(base: str, path: str) -> bytes:
    """A WebSocket opening handshake (RFC 6455 §4.1), as Codex sends it; what the gateway answers."""
    import socket
    import time as clock
    from urllib.parse import urlsplit

    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {where.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {CLIENT_KEY}\r\n\r\n".encode()
        )
        data = b""
        deadline = clock.monotonic() + 5
        while clock.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_a_websocket_upgrade_is_refused_at_once_with_426(base: str, fake: FakeProvider) -> None:
    answer = _handshake(base, "/oai/v1/responses")
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 426 Upgrade Required"
    assert any(line.lower() == b"upgrade: http/1.1" for line in lines)
    error = json.loads(body)["error"]
    assert error["code"] == "websocket_not_served" and "POST /v1/responses" in error["message"]
    assert fake.requests() == []
    # other upgrades keep their answer
    assert _handshake(base, "/oai/v1/chat/completions").startswith(b"HTTP/1.1 405 ")


# -- token rate limits and metrics -----------------------------------------------------------------
@pytest.mark.parametrize("provider", [{"openAI": {}}, {"anthropic": {}}], ids=["passthrough", "anthropic"])
def test_token_limits_and_metrics_count_responses_usage(
    tmp_path: Path, fake: FakeProvider, provider: dict[str, Any]
) -> None:
    """The streamed answer's usage (read from response.completed, or from the translated stream)
    empties a token bucket, so the next request is a 429 in the Responses dialect; the token
    histogram counts it as a chat call."""
    import urllib.request

    port = free_port()
    route = _route("lim", provider, fake.authority)
    route["policies"]["localRateLimit"] = [
        {"maxTokens": 30, "tokensPerFill": 1, "fillInterval": "100s", "type": "tokens"}
    ]
    g = Gateway(tmp_path, bind_config(port, [route]), workers=1)
    try:
        c = client(f"http://127.0.0.1:{port}", "lim")
        with c.responses.stream(model="m", input="spend some tokens") as stream:
            final = stream.get_final_response()
        assert final.usage is not None and final.usage.total_tokens > 0
        c.responses.create(model="m", input="again")  # admitted: the bucket is not empty yet
        with pytest.raises(openai.RateLimitError) as caught:
            c.responses.create(model="m", input="and again")
        assert caught.value.body["code"] == "rate_limited"  # type: ignore[index]
        text = urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics", timeout=5).read().decode()
        outputs = [
            ln
            for ln in text.splitlines()
            if ln.startswith("agentgateway_gen_ai_client_token_usage_sum")
            and 'gen_ai_token_type="output"' in ln
            and 'gen_ai_operation_name="chat"' in ln
        ]
        assert outputs and sum(float(ln.rsplit(" ", 1)[1]) for ln in outputs) == 40, outputs
    finally:
        g.stop()
