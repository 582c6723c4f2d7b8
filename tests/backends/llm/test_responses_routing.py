"""Where a Responses API request goes: the default route maps, the `custom` provider's formats, and
what each (route type, provider) pair then does (passthrough, translate, refuse)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from fastgw.backends.llm.backend import AiBackend
from fastgw.backends.llm.providers import ANTHROPIC, GEMINI, OPENAI, custom_spec
from fastgw.backends.llm.route_plan import Action, route_plan
from fastgw.backends.llm.routes import RouteType, compile_routes, llm_mode_routes
from fastgw.backends.llm.target import Target
from fastgw.backends.llm.types import WireFormat
from fastgw.config.compile import load_runtime
from fastgw.config.load import ConfigError
from fastgw.errors import Dialect


@pytest.mark.parametrize("table", [compile_routes(None), llm_mode_routes()], ids=["binds", "llm"])
def test_default_maps_serve_the_responses_api(table: Any) -> None:
    assert table.resolve("/v1/responses") is RouteType.RESPONSES
    assert table.resolve("/openai/v1/responses") is RouteType.RESPONSES
    assert table.resolve("/v1/responses/compact") is RouteType.DETECT
    assert table.resolve("/v1/responses/resp_123") is RouteType.PASSTHROUGH
    assert table.resolve("/v1/responses/resp_123/cancel") is RouteType.PASSTHROUGH
    assert table.resolve("/v1/responses/resp_123/input_items") is RouteType.PASSTHROUGH


def test_binds_default_map_keeps_everything_else_completions() -> None:
    table = compile_routes(None)
    assert table.resolve("/v1/chat/completions") is RouteType.COMPLETIONS
    assert table.resolve("/anything") is RouteType.COMPLETIONS
    assert compile_routes({"*": "passthrough"}).resolve("/v1/responses/x") is RouteType.PASSTHROUGH


@pytest.mark.parametrize(
    ("spec", "upstream", "translate", "path"),
    [
        (OPENAI, Dialect.RESPONSES, False, "/v1/responses"),
        (ANTHROPIC, Dialect.ANTHROPIC, True, "/v1/messages"),
        (GEMINI, Dialect.OPENAI, True, "/v1beta/openai/chat/completions"),
        (custom_spec({WireFormat.COMPLETIONS: None}), Dialect.OPENAI, True, "/v1/chat/completions"),
        (custom_spec({WireFormat.MESSAGES: "/api/msg"}), Dialect.ANTHROPIC, True, "/api/msg"),
        (
            custom_spec({WireFormat.COMPLETIONS: None, WireFormat.RESPONSES: "/r"}),
            Dialect.RESPONSES,
            False,
            "/r",
        ),
    ],
    ids=["openai", "anthropic", "gemini", "custom-chat", "custom-messages", "custom-responses"],
)
def test_responses_plan_per_provider(spec: Any, upstream: Dialect, translate: bool, path: str) -> None:
    plan = route_plan(spec, RouteType.RESPONSES, spec.paths[RouteType.RESPONSES].encode())
    assert plan.action == Action.SEND and plan.chat
    assert plan.client is Dialect.RESPONSES and plan.upstream is upstream
    assert plan.translate is translate
    assert plan.path == path.encode()
    assert not plan.forces_usage  # (the chat translation asks for usage itself)


def test_stored_response_operations_are_raw() -> None:
    assert route_plan(OPENAI, RouteType.PASSTHROUGH, None).action == Action.RAW


def _target(provider: dict[str, Any]) -> Target:
    cfg = {
        "binds": [
            {
                "port": 3000,
                "listeners": [{"routes": [{"backends": [{"ai": {"provider": provider, "hostOverride": "h:1"}}]}]}],
            }
        ]
    }
    rt = load_runtime("t.yaml", yaml.safe_dump(cfg))
    backend = rt.binds[0].routes.listeners[0].entries[0].route.backends[0]
    assert isinstance(backend, AiBackend)
    return backend.target


def test_custom_provider_from_config() -> None:
    target = _target({"custom": {"formats": [{"type": "completions"}], "providerOverride": "vllm"}})
    assert target.spec.telemetry_name == "vllm"
    assert target.plans[RouteType.RESPONSES].translate
    assert target.plans[RouteType.MESSAGES].path == b"/v1/chat/completions"
    assert target.plans[RouteType.EMBEDDINGS].action != Action.SEND  # not a format it listed


@pytest.mark.parametrize(
    ("formats", "expected"),
    [
        ("[{type: realtime}]", "t.yaml:7: binds[0].listeners[0].routes[0].backends[0].ai.provider.custom.formats[0]"),
        ("[{type: completions}, {type: completions}]", "formats[1].type: completions is listed twice"),
        ("[]", "formats: at least one format is required"),
        ("[{type: soap}]", "formats[0].type"),
    ],
)
def test_custom_provider_config_errors(formats: str, expected: str) -> None:
    text = (
        "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - ai:\n"
        f"          provider: {{custom: {{formats: {formats}}}}}\n          hostOverride: 'h:1'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_runtime("t.yaml", text)
    assert expected in str(info.value), str(info.value)
