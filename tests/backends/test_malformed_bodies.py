"""Client-shaped JSON never gets a 5xx: on every route type (completions, messages, count_tokens,
embeddings, passthrough), for OpenAI and Anthropic clients, translated or not, with request edits
or through the `llm:` block, any body is answered — a malformed one with a 400 in the client's
dialect — and nothing is logged at ERROR. In process (the real pipeline and backends, a local
provider on real sockets), so hundreds of shapes run in seconds."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.backends.inproc import InProcGateway
from tests.backends.provider import Provider

ROUTES = {"/v1/chat/completions": "completions", "/v1/messages": "messages"}
_ROUTES_YAML = (
    "{/v1/chat/completions: completions, /v1/messages: messages, /v1/messages/count_tokens: anthropicTokenCount,"
    ' /v1/embeddings: embeddings, "*": passthrough}'
)


def _route(name: str, provider: str, port: int, extra: str = "") -> str:
    return f"""
    - name: {name}
      matches: [{{path: {{pathPrefix: /{name}}}}}]
      policies:
        urlRewrite: {{path: {{prefix: ""}}}}
        ai:
          routes: {_ROUTES_YAML}{extra}
      backends:
      - ai: {{name: {name}, provider: {{{provider}: {{}}}}, hostOverride: "127.0.0.1:{port}"}}"""


def config(port: int) -> str:
    edits = (
        "\n          prompts: {prepend: [{role: system, content: be brief}]}"
        "\n          defaults: {temperature: 0.1}\n          modelAliases: {fast: gpt-x}"
    )
    routes = (
        _route("oa", "openAI", port)
        + _route("an", "anthropic", port)
        + _route("ed", "openAI", port, edits)
        + _route("ea", "anthropic", port, edits)
    )
    base = f"http://127.0.0.1:{port}"
    return f"""
binds:
- port: 3000
  listeners:
  - routes:{routes}
llm:
  port: 4000
  models:
  - {{name: "gpt-*", provider: openai, params: {{apiKey: sk-test-openai-0001, baseUrl: "{base}/v1"}}}}
  - {{name: "*", provider: anthropic, params: {{apiKey: sk-test-anthropic-01, baseUrl: "{base}"}}}}
"""


# the paths each route serves, and the dialect its errors must come in
PATHS = {
    "/v1/chat/completions": "openai",
    "/v1/embeddings": "openai",
    "/v1/messages": "anthropic",
    "/v1/messages/count_tokens": "anthropic",
    "/v1/other": None,  # passthrough: forwarded as is, answered by the provider
}
PREFIXES = ["/oa", "/an", "/ed", "/ea", "llm"]

KEYS = st.sampled_from(
    [
        "model",
        "messages",
        "system",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "tools",
        "tool_choice",
        "stream",
        "stream_options",
        "include_usage",
        "input",
        "temperature",
        "role",
        "content",
        "type",
        "text",
        "name",
        "input_schema",
        "function",
        "parameters",
        "tool_calls",
        "tool_use_id",
        "image_url",
        "source",
        "thinking",
        "response_format",
        "n",
        "x",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "user", "assistant", "system", "tool", "text", "tool_use", "image", "fast", "gpt-x"])
    | st.text(max_size=8)
)
JSON: Any = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=30
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", 5]), "content": JSON}, optional={"x": JSON}
)
REQUEST = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["gpt-x", "claude-x", "fast", ""]) | SCALARS,
        "messages": st.lists(MESSAGE, max_size=3) | JSON,
        "system": JSON,
        "stop": JSON,
        "max_tokens": JSON,
        "tools": JSON,
        "tool_choice": JSON,
        "stream": st.booleans() | JSON,
        "stream_options": JSON,
        "input": JSON,
    },
)


def _deep(depth: int, kind: str) -> bytes:
    inner = (b"[" * depth + b"]" * depth) if kind == "list" else (b'{"a":' * depth + b"1" + b"}" * depth)
    return b'{"model":"gpt-x","messages":[{"role":"user","content":"x"}],"x":' + inner + b"}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # (the standard library's: it writes integers of any size)


BODIES = (
    REQUEST.map(_dumps)
    | JSON.map(_dumps)
    | st.binary(max_size=40)
    | st.builds(_deep, st.integers(100, 3000), st.sampled_from(["list", "dict"]))
    | REQUEST.map(lambda r: _dumps(r)[: max(1, len(_dumps(r)) // 2)])
    | st.just(b'{"model":"gpt-x","messages":[{"role":"user","content":"\xff\xfe"}]}')
)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Env:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.provider = Provider()
        self.loop.run_until_complete(self.provider.start())
        self.gw: InProcGateway = self.loop.run_until_complete(self._gateway())
        self.errors = _Errors()

    async def _gateway(self) -> InProcGateway:
        return InProcGateway(config(self.provider.port))

    def close(self) -> None:
        self.gw.close()
        self.provider.close()
        self.loop.run_until_complete(asyncio.sleep(0.01))
        self.loop.close()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    e = Env()
    root = logging.getLogger()
    root.addHandler(e.errors)
    yield e
    root.removeHandler(e.errors)
    e.close()


def _check(env: Env, prefix: str, path: str, body: bytes) -> None:
    bind = 1 if prefix == "llm" else 0
    full = path if prefix == "llm" else prefix + path
    env.errors.records.clear()
    resp = env.loop.run_until_complete(env.gw.request(full, body, bind=bind))
    assert resp.status < 500, f"{full} {body[:200]!r} -> {resp.status} {resp.body[:300]!r}"
    assert not env.errors.records, [r.getMessage() for r in env.errors.records]
    dialect = PATHS[path]
    if prefix == "llm":
        # the llm: block's router answers in OpenAI's envelope whatever the path (agentgateway's
        # model router does) until a model is chosen; the route it serves then answers in its own
        dialect = "either"
    if resp.status == 400 and dialect is not None:
        error = orjson.loads(resp.body)
        openai = set(error) == {"error"} and {"message", "type", "code"} <= set(error["error"])
        anthropic = error.get("type") == "error" and {"type", "message"} <= set(error["error"])
        assert {"openai": openai, "anthropic": anthropic, "either": openai or anthropic}[dialect], resp.body


@settings(
    max_examples=int(os.environ.get("FASTGW_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(prefix=st.sampled_from(PREFIXES), path=st.sampled_from(list(PATHS)), body=BODIES)
def test_no_body_gets_a_server_error(env: Env, prefix: str, path: str, body: bytes) -> None:
    _check(env, prefix, path, body)


# the shapes issue 10 reported (58 of 288 fuzz cases were a 500 "internal error") and the deep
# nesting that overflowed the request view decoder
REPORTED = [
    b'{"model":"gpt-x","messages":"notalist"}',
    b'{"model":"gpt-x","messages":[{"role":"user","content":"x"}],"stop":1}',
    b'{"model":"gpt-x","messages":[{"role":"user","content":"x"}],"max_tokens":"s"}',
    b'{"model":"gpt-x","messages":[{"role":"user","content":"x"}],"tools":-1}',
    b'{"model":"gpt-x","messages":[1]}',
    b'{"model":"gpt-x","system":5,"messages":[{"role":"user","content":"x"}]}',
    _deep(1000, "list"),
    _deep(1000, "dict"),
]


@pytest.mark.parametrize("body", REPORTED, ids=range(len(REPORTED)))
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("path", list(PATHS))
def test_reported_shapes(env: Env, prefix: str, path: str, body: bytes) -> None:
    _check(env, prefix, path, body)
