"""Route-type resolution and the provider table."""

from __future__ import annotations

import pytest

from fastgw.backends.llm.providers import (
    ANTHROPIC,
    CLIENT_CREDENTIAL_HEADERS,
    auth_header,
    provider_spec,
    upstream_format,
    upstream_path,
)
from fastgw.backends.llm.routes import RouteType, compile_routes, llm_mode_routes
from fastgw.backends.llm.types import WireFormat, decode_request_view
from fastgw.errors import Dialect


def test_no_map_means_everything_is_completions() -> None:
    table = compile_routes(None)
    assert table.resolve("/anything/at/all") is RouteType.COMPLETIONS
    assert compile_routes({}).resolve("/v1/models") is RouteType.COMPLETIONS


def test_longest_suffix_wins_and_star_is_the_fallback() -> None:
    table = compile_routes(
        {
            "*": "passthrough",
            "/v1/messages": "messages",
            "/v1/messages/count_tokens": "anthropicTokenCount",
            "/v1/chat/completions": "completions",
        }
    )
    assert table.resolve("/v1/messages/count_tokens") is RouteType.ANTHROPIC_TOKEN_COUNT
    assert table.resolve("/anthropic/v1/messages") is RouteType.MESSAGES
    assert table.resolve("/v1/chat/completions") is RouteType.COMPLETIONS
    assert table.resolve("/v1/models") is RouteType.PASSTHROUGH
    assert compile_routes({"/v1/messages": "messages"}).resolve("/v1/models") is None


def test_unknown_route_type_names_the_key() -> None:
    with pytest.raises(ValueError, match="/v1/x"):
        compile_routes({"/v1/x": "chat"})


def test_llm_mode_default_map() -> None:
    table = llm_mode_routes()
    assert table.resolve("/v1/chat/completions") is RouteType.COMPLETIONS
    assert table.resolve("/v1/messages/count_tokens") is RouteType.ANTHROPIC_TOKEN_COUNT
    assert table.resolve("/v1/responses/compact") is RouteType.DETECT
    assert table.resolve("/v1beta/models/gemini-pro:streamGenerateContent") is RouteType.GENERATE_CONTENT
    assert table.resolve("/v1/embeddings") is RouteType.EMBEDDINGS
    assert table.resolve("/v1/whatever") is RouteType.PASSTHROUGH


def test_anthropic_auth_and_version() -> None:
    assert auth_header(ANTHROPIC, "sk-ant-api03-xyz") == (b"x-api-key", b"sk-ant-api03-xyz")
    assert auth_header(ANTHROPIC, "sk-ant-oat01-abc") == (b"authorization", b"Bearer sk-ant-oat01-abc")
    assert (b"anthropic-version", b"2023-06-01") in ANTHROPIC.extra_headers
    assert upstream_path(ANTHROPIC, RouteType.COMPLETIONS) == "/v1/messages"
    assert upstream_format(ANTHROPIC, RouteType.COMPLETIONS) is WireFormat.MESSAGES
    assert ANTHROPIC.chat_dialect is Dialect.ANTHROPIC


@pytest.mark.parametrize("name", ["openAI", "openai", "gemini", "azureOpenAI"])
def test_openai_family_speaks_completions(name: str) -> None:
    spec = provider_spec(name)
    assert spec.chat_dialect is Dialect.OPENAI
    assert upstream_format(spec, RouteType.MESSAGES) is WireFormat.COMPLETIONS
    assert upstream_format(spec, RouteType.ANTHROPIC_TOKEN_COUNT) is None
    assert upstream_path(spec, RouteType.PASSTHROUGH) is None
    header = auth_header(spec, "k")
    assert header[0] in CLIENT_CREDENTIAL_HEADERS


def test_provider_defaults() -> None:
    openai = provider_spec("openAI")
    assert (openai.host, openai.port, openai.tls) == ("api.openai.com", 443, True)
    assert auth_header(openai, "sk-1") == (b"authorization", b"Bearer sk-1")
    assert openai.telemetry_name == "openai"
    assert provider_spec("gemini").telemetry_name == "gcp.gemini"
    assert auth_header(provider_spec("azureOpenAI"), "k") == (b"api-key", b"k")
    with pytest.raises(KeyError):
        provider_spec("bedrock")


def test_request_view_decodes_only_what_it_needs() -> None:
    view = decode_request_view(
        b'{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user"}],"x":{}}'
    )
    assert (view.model, view.is_stream, view.wants_usage) == ("gpt-4o", True, True)
    empty = decode_request_view(b'{"stream":null}')
    assert (empty.model, empty.is_stream, empty.wants_usage) == (None, False, False)
    with pytest.raises(ValueError):
        decode_request_view(b"{not json")
