"""Config -> ai backend targets: provider defaults, both spellings, auth styles, TLS, paths, llm: block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from fastgw.backends.llm.backend import AiBackend
from fastgw.backends.llm.router import LlmRouter, ModelNotFound, ModelPattern
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.target import Target
from fastgw.config.compile import CompileError, compile_config
from fastgw.config.load import load_config
from fastgw.errors import Dialect
from fastgw.runtime import Runtime


def _runtime(cfg: dict[str, Any], env: dict[str, str] | None = None) -> Runtime:
    return compile_config(load_config("t.yaml", text=yaml.safe_dump(cfg), env=env or {}))


def _route(backend: dict[str, Any], **policies: Any) -> dict[str, Any]:
    route: dict[str, Any] = {"backends": [backend]}
    if policies:
        route["policies"] = policies
    return {"binds": [{"port": 3000, "listeners": [{"routes": [route]}]}]}


def _target(cfg: dict[str, Any]) -> Target:
    rt = _runtime(cfg)
    route = rt.binds[0].routes.listeners[0].entries[0].route
    backend = route.backends[0]
    assert isinstance(backend, AiBackend)
    return backend.target


def test_anthropic_defaults_and_route_level_key_in_x_api_key() -> None:
    t = _target(
        _route({"ai": {"name": "a", "provider": {"anthropic": {"model": "claude-x"}}}}, backendAuth={"key": "k1"})
    )
    assert (t.origin.host, t.origin.port, t.origin.tls) == ("api.anthropic.com", 443, True)
    assert t.auth == (b"x-api-key", b"k1")
    assert t.model == "claude-x"
    assert t.path_for(RouteType.COMPLETIONS, b"/whatever") == b"/v1/messages"
    assert t.routes.resolve("/anything") is RouteType.COMPLETIONS  # no map: everything is chat


def test_openai_bearer_and_route_header_modifier_not_used_for_the_key() -> None:
    rt = _runtime(_route({"ai": {"name": "o", "provider": {"openAI": {}}}}, backendAuth={"key": "k2"}))
    route = rt.binds[0].routes.listeners[0].entries[0].route
    assert route.request_modifier is None  # the generic Bearer edit is for host: backends only
    backend = route.backends[0]
    assert isinstance(backend, AiBackend)
    assert backend.target.auth == (b"authorization", b"Bearer k2")
    assert backend.target.origin.host == "api.openai.com"


def test_anthropic_oauth_token_stays_bearer() -> None:
    t = _target(_route({"ai": {"provider": {"anthropic": {}}, "policies": {"backendAuth": {"key": "sk-ant-oat-1"}}}}))
    assert t.auth == (b"authorization", b"Bearer sk-ant-oat-1")


def test_host_override_is_plain_http_unless_backend_tls() -> None:
    plain = _target(_route({"ai": {"provider": {"openAI": {}}, "hostOverride": "127.0.0.1:8000"}}))
    assert (plain.origin.host, plain.origin.port, plain.origin.tls) == ("127.0.0.1", 8000, False)
    assert plain.host_header == b"127.0.0.1:8000"
    tls = _target(
        _route({"ai": {"provider": {"openAI": {}}, "hostOverride": "vllm.local:8443", "policies": {"backendTLS": {}}}})
    )
    assert tls.origin.tls and tls.origin.port == 8443


def test_path_override_and_prefix() -> None:
    t = _target(_route({"ai": {"provider": {"openAI": {}}, "pathPrefix": "/api/v2/"}}))
    assert t.path_for(RouteType.COMPLETIONS, b"/x") == b"/api/v2/chat/completions"
    assert t.path_for(RouteType.EMBEDDINGS, b"/x") == b"/api/v2/embeddings"
    assert t.path_for(RouteType.PASSTHROUGH, b"/v1/files") == b"/v1/files"
    o = _target(_route({"ai": {"provider": {"anthropic": {}}, "pathOverride": "/proxy/messages"}}))
    assert o.path_for(RouteType.MESSAGES, b"/x") == b"/proxy/messages"


def test_older_spellings_on_ai_and_group_entries() -> None:
    ai = {"provider": {"openAI": {}}, "routes": {"/v1/chat/completions": "completions", "*": "passthrough"}}
    t = _target(_route({"ai": ai}))
    assert t.routes.resolve("/v1/models") is RouteType.PASSTHROUGH
    group = {
        "groups": [
            {
                "providers": [
                    {
                        "name": "first",
                        "provider": {"anthropic": {"model": "m1"}},
                        "routes": {"/v1/chat/completions": "completions"},
                        "backendAuth": {"key": "gk"},
                    },
                ]
            },
        ]
    }
    t = _target(_route({"ai": group}))
    assert t.name == "first" and t.model == "m1" and t.auth == (b"x-api-key", b"gk")
    assert t.routes.resolve("/v1/other") is None  # a map without "*": unmatched paths are not served


def test_key_with_location_header_and_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    t = _target(
        _route({"ai": {"provider": {"openAI": {}}, "policies": {"backendAuth": {"key": {"file": str(key_file)}}}}})
    )
    assert t.auth == (b"authorization", b"Bearer from-file")
    located = {"value": "v", "location": {"header": {"name": "X-Token", "prefix": "Token "}}}
    t = _target(_route({"ai": {"provider": {"openAI": {}}, "policies": {"backendAuth": {"key": located}}}}))
    assert t.auth == (b"x-token", b"Token v")


def test_shaping_from_policies_ai() -> None:
    ai = {
        "provider": {"openAI": {}},
        "policies": {
            "ai": {
                "modelAliases": {"fast": "gpt-4o-mini"},
                "defaults": {"temperature": 0.1},
                "prompts": {"append": [{"role": "user", "content": "bye"}]},
            }
        },
    }
    t = _target(_route({"ai": ai}))
    assert t.shaping.active
    body: dict[str, Any] = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
    t.shaping.apply(body, Dialect.OPENAI, chat=True)
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.1
    assert body["messages"][-1] == {"role": "user", "content": "bye"}


@pytest.mark.parametrize(
    ("backend", "route_policies", "message"),
    [
        (
            {"ai": {"provider": {"vertex": {"projectId": "p", "region": "us"}}}},
            {},
            "ai.provider.vertex: not supported yet: vertex",
        ),
        (
            {"ai": {"provider": {"openAI": {}}, "policies": {"ai": {"promptGuard": {"request": []}}}}},
            {},
            "policies.ai.promptGuard: not supported yet: promptGuard",
        ),
        (
            {"ai": {"provider": {"openAI": {}}, "policies": {"backendAuth": {"passthrough": {}}}}},
            {},
            "backendAuth: not supported yet: backendAuth other than `key` on ai backends",
        ),
        ({"host": "127.0.0.1:1"}, {"ai": {"routes": {"*": "passthrough"}}}, "only applies to routes with ai backends"),
        (
            {"ai": {"provider": {"openAI": {}}}, "policies": {"requestHeaderModifier": {"set": {"a": "b"}}}},
            {},
            "backends[0].policies.requestHeaderModifier: not supported yet: requestHeaderModifier",
        ),
    ],
)
def test_unsupported_is_a_compile_error(backend: dict[str, Any], route_policies: dict[str, Any], message: str) -> None:
    with pytest.raises(CompileError) as info:
        _runtime(_route(backend, **route_policies))
    assert any(message in e for e in info.value.errors), info.value.errors


# -- llm: block ----------------------------------------------------------------------------------------
def test_llm_block_bind_and_model_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    cfg = {
        "llm": {
            "models": [
                {"name": "gpt-4o", "provider": "openai", "params": {"apiKey": "ok"}},
                {"name": "claude-*", "provider": "anthropic", "params": {"baseUrl": "http://127.0.0.1:9/anthropic/v1"}},
                {"name": "*", "provider": "ollama"},
            ]
        }
    }
    rt = _runtime(cfg)
    (bind,) = rt.binds
    assert bind.port == 4000
    router = bind.routes.listeners[0].entries[0].route.backends[0]
    assert isinstance(router, LlmRouter)
    gpt = router.find("gpt-4o")
    assert gpt is not None and gpt.auth == (b"authorization", b"Bearer ok") and gpt.origin.tls
    claude = router.find("claude-haiku")
    assert claude is not None
    assert (claude.origin.host, claude.origin.port, claude.origin.tls) == ("127.0.0.1", 9, False)
    assert claude.path_for(RouteType.MESSAGES, b"/v1/messages") == b"/anthropic/v1/messages"
    assert claude.auth == (b"x-api-key", b"env-key")  # the provider's usual env var
    local = router.find("llama3")
    assert local is not None and local.origin.port == 11434 and local.auth is None
    assert local.routes.resolve("/v1/messages/count_tokens") is RouteType.ANTHROPIC_TOKEN_COUNT


def test_llm_unsupported_parts_are_errors() -> None:
    cfg = {
        "llm": {
            "models": [{"name": "m", "provider": "bedrock", "params": {"awsRegion": "us-east-1"}}],
            "virtualModels": [{"name": "v", "routing": {"weighted": {"targets": [{"model": "m"}]}}}],
        }
    }
    with pytest.raises(CompileError) as info:
        _runtime(cfg)
    text = "\n".join(info.value.errors)
    assert "bedrock provider" in text and "virtualModels" in text


@pytest.mark.parametrize(
    ("pattern", "model", "hit"),
    [
        ("gpt-4o", "gpt-4o", True),
        ("gpt-4o", "gpt-4o-mini", False),
        ("gpt-*", "gpt-4o-mini", True),
        ("*-mini", "gpt-4o-mini", True),
        ("*", "", True),
        ("a*a", "a", False),
    ],
)
def test_model_pattern(pattern: str, model: str, hit: bool) -> None:
    assert ModelPattern(pattern).matches(model) is hit


def test_model_list_names_models_not_patterns() -> None:
    """A pattern routes the models it matches but is not a model a client could ask for."""
    t = _target(_route({"ai": {"provider": {"openAI": {}}}}))
    router = LlmRouter([("a", t), ("b*", t), ("*", t)], created=123)
    listed = orjson.loads(router._list)
    assert listed == {
        "object": "list",
        "data": [{"id": "a", "object": "model", "created": 123, "owned_by": "openai"}],
    }
    assert router.find("b2") is t  # still routed


def test_model_not_found_names_the_model_bounded_and_escaped() -> None:
    err = ModelNotFound.of("gpt-9")
    assert err.message == "The model `gpt-9` does not exist or you do not have access to it."
    assert (err.status, err.reason) == (404, "model_not_found")
    long = ModelNotFound.of("m" * 10_000).message
    assert len(long) < 400 and long.startswith("The model `mmm")
    escaped = ModelNotFound.of("a\nb\x00").message
    assert escaped == "The model `a\\nb\\x00` does not exist or you do not have access to it."
