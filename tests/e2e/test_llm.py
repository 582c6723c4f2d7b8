"""`ai` backends end to end: the real gateway process, the official SDKs as clients, the bundled fake
provider as a real process. Every test checks what the client got AND what the provider received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx2 as httpx
import openai
import orjson
import pytest
import yaml

from tests.e2e.llm_util import CLIENT_KEY, FakeProvider, assert_no_client_key
from tests.e2e.procs import Gateway, bind_config, free_port

OPENAI_KEY = "sk-upstream-openai"
ANTHROPIC_KEY = "sk-upstream-anthropic"
WEATHER_TOOL_OPENAI: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_TOOL_ANTHROPIC: Any = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _route(name: str, backend: dict[str, Any], **policies: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": name,
        "matches": [{"path": {"pathPrefix": f"/{name}"}}],
        "backends": [{"ai": backend}],
    }
    if policies:
        route["policies"] = policies
    return route


@pytest.fixture(scope="module")
def fake(tmp: Path) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gw(tmp: Path, fake: FakeProvider) -> Iterator[Gateway]:
    host = fake.authority
    chat_routes = {"/v1/chat/completions": "completions", "/v1/models": "passthrough", "*": "passthrough"}
    routes = [
        # current spelling: route-level backendAuth and policies.ai
        _route(
            "openai",
            {"name": "oai", "provider": {"openAI": {}}, "hostOverride": host},
            backendAuth={"key": OPENAI_KEY},
            ai={"routes": {**chat_routes, "/v1/embeddings": "embeddings"}},
            # passthrough keeps the client's path (agentgateway): strip the route prefix
            urlRewrite={"path": {"prefix": ""}},
        ),
        # Anthropic provider with a configured model; backend-level policies (as in configs/demo.yaml)
        {
            "name": "anthropic",
            "matches": [{"path": {"pathPrefix": "/anthropic"}}],
            "backends": [
                {
                    "ai": {
                        "name": "ant",
                        "provider": {"anthropic": {"model": "claude-configured"}},
                        "hostOverride": host,
                    },
                    "policies": {
                        "backendAuth": {"key": ANTHROPIC_KEY},
                        "ai": {
                            "routes": {
                                "/v1/messages": "messages",
                                "/v1/messages/count_tokens": "anthropicTokenCount",
                                "/v1/chat/completions": "completions",
                                "/v1/models": "models",
                                "*": "passthrough",
                            }
                        },
                    },
                }
            ],
        },
        # Claude Code in front of an OpenAI-compatible server (older spelling: routes on the ai backend)
        _route(
            "claude-oai",
            {
                "name": "vllm",
                "provider": {"openAI": {"model": "qwen-coder"}},
                "hostOverride": host,
                "routes": {
                    "/v1/messages": "messages",
                    "/v1/messages/count_tokens": "anthropicTokenCount",
                    "*": "passthrough",
                },
            },
            backendAuth={"key": OPENAI_KEY},
        ),
        # no routes map: every path is chat completions
        _route("noroutes", {"name": "n", "provider": {"openAI": {"model": "gpt-4o"}}, "hostOverride": host}),
        # pathPrefix and request shaping
        _route(
            "shaped",
            {
                "name": "s",
                "provider": {"openAI": {}},
                "hostOverride": host,
                "pathPrefix": "/custom/v9",
                "policies": {
                    "ai": {
                        "modelAliases": {"fast": "gpt-4o-mini", "claude-*": "gpt-4o"},
                        "defaults": {"temperature": 0.25},
                        "overrides": {"max_tokens": 7},
                        "prompts": {"prepend": [{"role": "system", "content": "Be terse."}]},
                    }
                },
            },
        ),
        # a failover group in its one-provider form; backendAuth/routes on the entry
        _route(
            "group",
            {
                "groups": [
                    {
                        "providers": [
                            {
                                "name": "primary",
                                "provider": {"anthropic": {"model": "claude-primary"}},
                                "hostOverride": host,
                                "routes": {"/v1/chat/completions": "completions"},
                                "backendAuth": {"key": ANTHROPIC_KEY},
                            },
                        ]
                    }
                ]
            },
        ),
    ]
    routes.append(
        _route(
            "dead",
            {"name": "d", "provider": {"anthropic": {}}, "hostOverride": f"127.0.0.1:{free_port()}"},
            ai={"routes": {"/v1/messages": "messages", "*": "completions"}},
        )
    )
    g = Gateway(tmp, bind_config(free_port(), routes, config={"http": {"maxBodyBytes": 65536}}), workers=1)
    yield g
    g.stop()


def _port(gw: Gateway) -> int:
    cfg = yaml.safe_load(gw.config_path.read_text())
    return int(cfg["binds"][0]["port"])


@pytest.fixture(scope="module")
def base(gw: Gateway) -> str:
    return f"http://127.0.0.1:{_port(gw)}"


@pytest.fixture(autouse=True)
def _clean(fake: FakeProvider) -> None:
    fake.clear()


def oai(base: str, prefix: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/{prefix}/v1", api_key=CLIENT_KEY, max_retries=0)


def ant(base: str, prefix: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{base}/{prefix}", api_key=CLIENT_KEY, max_retries=0)


# -- OpenAI client -> OpenAI provider (passthrough) ----------------------------------------------------
def test_openai_passthrough_forwards_original_bytes_and_swaps_the_key(base: str, fake: FakeProvider) -> None:
    body = b'{"model":"gpt-4o-mini", "messages":[{"role":"user","content":"Hello there"}],"x_unknown":{"k":1}}'
    r = httpx.post(
        f"{base}/openai/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY},
    )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"].startswith("Hello there")
    up = fake.last()
    assert up["path"] == "/v1/chat/completions"
    assert up["body"] == body.decode()  # byte for byte, unknown field and spacing kept
    assert up["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert up["headers"]["host"] == fake.authority
    assert "x-api-key" not in up["headers"]
    assert_no_client_key(up["headers"])


def test_openai_sdk_create_with_tools(base: str, fake: FakeProvider) -> None:
    resp = oai(base, "openai").chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "use get_weather for Paris"}],
        tools=[WEATHER_TOOL_OPENAI],
    )
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert resp.choices[0].finish_reason == "tool_calls"
    up = fake.last()
    assert up["json"]["tools"] == [WEATHER_TOOL_OPENAI]
    assert up["json"]["model"] == "gpt-4o"
    assert_no_client_key(up["headers"])


def test_openai_sdk_stream_forces_usage_upstream_but_hides_it(base: str, fake: FakeProvider) -> None:
    chunks = list(
        oai(base, "openai").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Stream me"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Stream me")
    assert all(c.choices for c in chunks), "the usage-only chunk the client did not ask for was forwarded"
    up = fake.last()
    assert up["json"]["stream_options"] == {"include_usage": True}
    assert up["json"]["stream"] is True


def test_openai_sdk_stream_with_usage_requested_gets_usage(base: str, fake: FakeProvider) -> None:
    chunks = list(
        oai(base, "openai").chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "count please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    up = fake.last()
    assert up["json"]["stream_options"] == {"include_usage": True}


def test_embeddings_and_models_passthrough(base: str, fake: FakeProvider) -> None:
    client = oai(base, "openai")
    emb = client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert len(emb.data[0].embedding) > 0
    assert fake.last()["path"] == "/v1/embeddings"
    models = client.models.list()
    assert len(models.data) > 0
    up = fake.last()
    assert up["path"] == "/v1/models" and up["method"] == "GET"
    assert up["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"


def test_anthropic_passthrough_swaps_the_key_and_adds_the_version_once(base: str, fake: FakeProvider) -> None:
    """A passthrough route (here `*`) forwards as received with the provider's credential and its
    default `anthropic-version` unless the client sent one; never the client's own key."""
    for sent, expected in ((None, "2023-06-01"), ("2024-10-22", "2024-10-22")):
        headers = {"x-api-key": CLIENT_KEY, "authorization": f"Bearer {CLIENT_KEY}"}
        if sent is not None:
            headers["anthropic-version"] = sent
        httpx.get(f"{base}/anthropic/v1/files?limit=2", headers=headers)
        up = fake.last()  # (one upstream request: whatever the fake answers to an unknown path)
        assert (up["path"], up["query"]) == ("/anthropic/v1/files", "limit=2")  # as received (no rewrite here)
        assert up["headers"]["x-api-key"] == ANTHROPIC_KEY
        assert up["headers"]["anthropic-version"] == expected  # (received() refuses a duplicate)
        assert "authorization" not in up["headers"]
        assert_no_client_key(up["headers"])


# -- OpenAI client -> Anthropic provider (translation) ---------------------------------------------------
def test_openai_sdk_to_anthropic_create(base: str, fake: FakeProvider) -> None:
    resp = oai(base, "anthropic").chat.completions.create(
        model="", messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "Hi Claude"}]
    )
    assert resp.choices[0].message.content.startswith("Hi Claude")  # type: ignore[union-attr]
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    up = fake.last()
    assert up["path"] == "/v1/messages"
    assert up["json"]["model"] == "claude-configured"  # the configured model replaces "" from the client
    assert up["json"]["system"] == "sys"
    assert up["json"]["max_tokens"] == 4096
    assert up["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert up["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in up["headers"]
    assert_no_client_key(up["headers"])


def test_openai_sdk_to_anthropic_stream_with_tools(base: str, fake: FakeProvider) -> None:
    stream = oai(base, "anthropic").chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "call get_weather now"}],
        tools=[WEATHER_TOOL_OPENAI],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    args = "".join(
        tc.function.arguments or ""  # type: ignore[union-attr]
        for c in chunks
        if c.choices
        for tc in (c.choices[0].delta.tool_calls or [])
    )
    assert json.loads(args)  # streamed tool input is complete JSON
    assert any(c.choices and c.choices[0].finish_reason == "tool_calls" for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    up = fake.last()
    assert up["json"]["stream"] is True
    assert up["json"]["tools"][0]["name"] == "get_weather"
    assert "input_schema" in up["json"]["tools"][0]


def test_anthropic_provider_error_is_translated_for_openai_client(base: str, fake: FakeProvider) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        oai(base, "anthropic").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], extra_headers={"x-fake-status": "429"}
        )
    body: Any = info.value.body
    assert body["type"] == "invalid_request_error" or body["code"] == "rate_limit_error"
    assert fake.last()["path"] == "/v1/messages"


def test_models_route_is_501_in_binds_mode(base: str, fake: FakeProvider) -> None:
    r = httpx.get(f"{base}/anthropic/v1/models")
    assert r.status_code == 501
    assert r.json() == {"error": "Route 'Models' not implemented"}
    assert fake.requests() == []


# -- Anthropic client -> Anthropic provider (Claude Code style) -----------------------------------------
def test_anthropic_sdk_messages_create_and_stream(base: str, fake: FakeProvider) -> None:
    client = ant(base, "anthropic")
    msg = client.messages.create(
        model="claude-test-model", max_tokens=100, messages=[{"role": "user", "content": "Hello Anthropic"}]
    )
    assert msg.content[0].text.startswith("Hello Anthropic")  # type: ignore[union-attr]
    up = fake.last()
    assert up["path"] == "/v1/messages"
    assert up["json"]["model"] == "claude-configured"
    assert up["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert_no_client_key(up["headers"])
    with client.messages.stream(
        model="claude-test-model",
        max_tokens=100,
        messages=[{"role": "user", "content": "use get_weather please"}],
        tools=[WEATHER_TOOL_ANTHROPIC],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert any(b.type == "tool_use" and b.name == "get_weather" for b in final.content)
    assert final.usage.output_tokens > 0
    assert fake.last()["json"]["stream"] is True


def test_anthropic_count_tokens_forwarded(base: str, fake: FakeProvider) -> None:
    count = ant(base, "anthropic").messages.count_tokens(
        model="claude-test-model", messages=[{"role": "user", "content": "one two three"}]
    )
    assert count.input_tokens > 0
    assert fake.last()["path"] == "/v1/messages/count_tokens"


def test_bad_json_is_a_400_in_the_clients_dialect(base: str, fake: FakeProvider) -> None:
    r = httpx.post(f"{base}/anthropic/v1/messages", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(f"{base}/openai/v1/chat/completions", content=b"[1,", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert fake.requests() == []


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/anthropic/v1/chat/completions", "openai"),  # translated to Anthropic
        ("/claude-oai/v1/messages", "anthropic"),  # translated to OpenAI
        ("/noroutes/v1/chat/completions", "openai"),  # the configured model is written in
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\xff\xfe"}]}',  # not UTF-8
        b'{"model":7,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
        b'{"model":"m","stream":"yes","max_tokens":5,"messages":[]}',
        b"[]",
    ],
)
def test_a_body_the_gateway_rewrites_must_decode(
    base: str, fake: FakeProvider, path: str, dialect: str, body: bytes
) -> None:
    """A request the gateway re-encodes is decoded whole first: what does not decode (bytes that
    are not UTF-8, members of the wrong type, not an object) is a 400 in the client's dialect."""
    fake.clear()
    r = httpx.post(f"{base}{path}", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (r.json().get("type") == "error") == (dialect == "anthropic")
    assert fake.requests() == []


# -- Anthropic client -> OpenAI-compatible provider -----------------------------------------------------
def test_claude_code_against_openai_provider(base: str, fake: FakeProvider) -> None:
    client = ant(base, "claude-oai")
    msg = client.messages.create(model="claude-opus", max_tokens=50, messages=[{"role": "user", "content": "Hi vLLM"}])
    assert msg.content[0].text.startswith("Hi vLLM")  # type: ignore[union-attr]
    assert msg.usage.output_tokens > 0
    up = fake.last()
    assert up["path"] == "/v1/chat/completions"
    assert up["json"]["model"] == "qwen-coder"
    assert up["json"]["max_completion_tokens"] == 50
    assert up["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert not any(h.startswith("anthropic-") for h in up["headers"])
    assert "x-api-key" not in up["headers"]
    with client.messages.stream(
        model="claude-opus",
        max_tokens=200,
        messages=[{"role": "user", "content": "get_weather for Rome"}],
        tools=[WEATHER_TOOL_ANTHROPIC],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    tool = next(b for b in final.content if b.type == "tool_use")
    assert isinstance(tool.input, dict)
    assert final.usage.output_tokens > 0
    up = fake.last()
    assert up["json"]["stream_options"] == {"include_usage": True}
    assert up["json"]["tools"][0]["function"]["name"] == "get_weather"


def test_count_tokens_answered_locally_when_provider_cannot_count(base: str, fake: FakeProvider) -> None:
    count = ant(base, "claude-oai").messages.count_tokens(
        model="claude-opus", messages=[{"role": "user", "content": "one two three four five six"}]
    )
    assert 6 <= count.input_tokens < 40
    assert fake.requests() == []


def test_openai_error_is_translated_for_anthropic_client(base: str, fake: FakeProvider) -> None:
    with pytest.raises(anthropic.InternalServerError) as info:
        ant(base, "claude-oai").messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}], extra_headers={"x-fake-status": "503"}
        )
    assert info.value.status_code == 503
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error"


# -- binds-mode defaults, shaping, groups ----------------------------------------------------------------
def test_no_routes_map_treats_every_path_as_chat(base: str, fake: FakeProvider) -> None:
    r = httpx.post(
        f"{base}/noroutes/anything/at/all", json={"model": "", "messages": [{"role": "user", "content": "yo"}]}
    )
    assert r.status_code == 200
    up = fake.last()
    assert up["path"] == "/v1/chat/completions"
    assert up["json"]["model"] == "gpt-4o"


def test_path_prefix_aliases_defaults_overrides_prompts(base: str, fake: FakeProvider) -> None:
    httpx.post(
        f"{base}/shaped/v1/chat/completions", json={"model": "fast", "messages": [{"role": "user", "content": "q"}]}
    )
    up = fake.last()
    assert up["path"] == "/custom/v9/chat/completions"
    body = up["json"]
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.25 and body["max_tokens"] == 7
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    httpx.post(
        f"{base}/shaped/v1/chat/completions",
        json={"model": "claude-x", "temperature": 1, "messages": [{"role": "user", "content": "q"}]},
    )
    body = fake.last()["json"]
    assert body["model"] == "gpt-4o" and body["temperature"] == 1


def test_one_provider_group_serves_through_its_entry(base: str, fake: FakeProvider) -> None:
    resp = oai(base, "group").chat.completions.create(model="x", messages=[{"role": "user", "content": "grouped"}])
    assert resp.choices[0].message.content.startswith("grouped")  # type: ignore[union-attr]
    up = fake.last()
    assert up["path"] == "/v1/messages"
    assert up["json"]["model"] == "claude-primary"
    assert up["headers"]["x-api-key"] == ANTHROPIC_KEY


def test_access_log_has_gen_ai_fields(gw: Gateway, base: str, fake: FakeProvider) -> None:
    oai(base, "anthropic").chat.completions.create(model="m", messages=[{"role": "user", "content": "log me"}])
    fake.clear()

    def logged() -> bool:
        return "gen_ai.provider.name=anthropic" in gw.output()

    from tests.e2e.procs import wait_until

    wait_until(logged, timeout=5, what="access log line")
    line = next(ln for ln in gw.output().splitlines() if "gen_ai.provider.name=anthropic" in ln)
    for key in (
        "protocol=llm gen_ai.operation.name=chat",
        "gen_ai.request.model=claude-configured",
        "gen_ai.response.model=",
        "gen_ai.usage.input_tokens=",
        "gen_ai.usage.output_tokens=",
    ):
        assert key in line


def test_body_over_the_limit_is_413_in_the_clients_dialect(base: str, fake: FakeProvider) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}]}'

    r = httpx.post(f"{base}/anthropic/v1/messages", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {
        "type": "error",
        "error": {"type": "request_too_large", "message": r.json()["error"]["message"]},
    }
    assert fake.requests() == []


def test_declared_oversized_body_is_413_in_the_clients_dialect_before_reading(base: str, fake: FakeProvider) -> None:
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(base)
    for path, check in (
        (b"/anthropic/v1/messages", lambda doc: doc["type"] == "error" and doc["error"]["type"] == "request_too_large"),
        (b"/openai/v1/chat/completions", lambda doc: doc["error"]["code"] == "payload_too_large"),
    ):
        with socket.create_connection((u.hostname, u.port), timeout=5) as s:
            s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999\r\n\r\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ") and b"application/json" in head
        assert check(orjson.loads(body))
    assert fake.requests() == []


def test_unreachable_provider_is_a_502_in_the_clients_dialect(base: str) -> None:
    r = httpx.post(f"{base}/dead/v1/chat/completions", json={"model": "m", "messages": []})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "server_error"
    with pytest.raises(anthropic.APIStatusError) as info:
        ant(base, "dead").messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert cast(Any, info.value.body)["type"] == "error"


def test_claude_code_beta_messages_stream_with_thinking(base: str, fake: FakeProvider) -> None:
    client = ant(base, "anthropic")
    with client.beta.messages.stream(
        model="claude-test-model",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        betas=["interleaved-thinking-2025-05-14"],
        messages=[{"role": "user", "content": "think first"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking" and "text" in kinds
    assert final.content[0].signature  # type: ignore[union-attr]
    up = fake.last()
    assert up["path"] == "/v1/messages"
    assert up["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert up["json"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert up["headers"]["x-api-key"] == ANTHROPIC_KEY


def test_openai_reasoning_effort_becomes_anthropic_thinking(base: str, fake: FakeProvider) -> None:
    resp = oai(base, "anthropic").chat.completions.create(
        model="m", reasoning_effort="medium", messages=[{"role": "user", "content": "reason"}]
    )
    message: Any = resp.choices[0].message
    assert message.model_extra["reasoning_content"]
    assert message.content.startswith("reason")
    up = fake.last()
    assert up["json"]["thinking"]["type"] == "enabled"
    assert up["json"]["thinking"]["budget_tokens"] >= 1024


def test_query_string_kept_on_same_format_dropped_on_translation(base: str, fake: FakeProvider) -> None:
    messages = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]}
    assert httpx.post(f"{base}/anthropic/v1/messages?beta=true", json=messages).status_code == 200
    assert fake.last()["query"] == "beta=true"  # Claude Code's beta flag reaches Anthropic
    assert httpx.post(f"{base}/claude-oai/v1/messages?beta=true", json=messages).status_code == 200
    assert fake.last()["query"] == ""  # not sent to an OpenAI-compatible server
