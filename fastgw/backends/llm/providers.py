"""Provider table: where each LLM provider lives, how it authenticates, which wire format it speaks.

Pure data plus two tiny lookups. A route type missing from ``paths`` keeps the client's path (passthrough,
detect); a route type missing from ``formats`` is not served by that provider (count_tokens is then
answered locally, see ``translate.count_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.types import WireFormat
from fastgw.errors import Dialect


class AuthStyle(StrEnum):
    BEARER = "bearer"  # authorization: Bearer <key>
    X_API_KEY = "x-api-key"  # Anthropic
    API_KEY = "api-key"  # Azure OpenAI


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    key: str  # binds-mode spelling, e.g. "openAI"
    telemetry_name: str  # gen_ai.provider.name
    host: str | None  # None: must come from config (Azure resource, hostOverride)
    port: int
    tls: bool
    paths: Mapping[RouteType, str]
    formats: Mapping[RouteType, WireFormat]
    auth: AuthStyle
    extra_headers: tuple[tuple[bytes, bytes], ...]

    @property
    def chat_dialect(self) -> Dialect:
        """The dialect of the provider's chat endpoint (what its errors and streams look like)."""
        chat = self.formats.get(RouteType.COMPLETIONS)
        return Dialect.ANTHROPIC if chat is WireFormat.MESSAGES else Dialect.OPENAI


def _frozen(mapping: dict[RouteType, str]) -> Mapping[RouteType, str]:
    return MappingProxyType(mapping)


def _formats(mapping: dict[RouteType, WireFormat]) -> Mapping[RouteType, WireFormat]:
    return MappingProxyType(mapping)


# Both chat route types land on the provider's one chat endpoint; the other format is translated.
_OPENAI_CHAT: Final = {
    RouteType.COMPLETIONS: WireFormat.COMPLETIONS,
    RouteType.MESSAGES: WireFormat.COMPLETIONS,
}

OPENAI: Final = ProviderSpec(
    key="openAI",
    telemetry_name="openai",
    host="api.openai.com",
    port=443,
    tls=True,
    paths=_frozen(
        {
            RouteType.COMPLETIONS: "/v1/chat/completions",
            RouteType.MESSAGES: "/v1/chat/completions",
            RouteType.RESPONSES: "/v1/responses",
            RouteType.EMBEDDINGS: "/v1/embeddings",
            RouteType.MODELS: "/v1/models",
            RouteType.REALTIME: "/v1/realtime",
        }
    ),
    formats=_formats(
        {
            **_OPENAI_CHAT,
            RouteType.RESPONSES: WireFormat.RESPONSES,
            RouteType.EMBEDDINGS: WireFormat.EMBEDDINGS,
            RouteType.MODELS: WireFormat.MODELS,
            RouteType.REALTIME: WireFormat.REALTIME,
        }
    ),
    auth=AuthStyle.BEARER,
    extra_headers=(),
)

ANTHROPIC: Final = ProviderSpec(
    key="anthropic",
    telemetry_name="anthropic",
    host="api.anthropic.com",
    port=443,
    tls=True,
    paths=_frozen(
        {
            RouteType.COMPLETIONS: "/v1/messages",
            RouteType.MESSAGES: "/v1/messages",
            RouteType.RESPONSES: "/v1/messages",
            RouteType.ANTHROPIC_TOKEN_COUNT: "/v1/messages/count_tokens",
            RouteType.MODELS: "/v1/models",
        }
    ),
    formats=_formats(
        {
            RouteType.COMPLETIONS: WireFormat.MESSAGES,
            RouteType.MESSAGES: WireFormat.MESSAGES,
            RouteType.RESPONSES: WireFormat.MESSAGES,  # translated (beyond agentgateway)
            RouteType.ANTHROPIC_TOKEN_COUNT: WireFormat.ANTHROPIC_TOKEN_COUNT,
            RouteType.MODELS: WireFormat.MODELS,
        }
    ),
    auth=AuthStyle.X_API_KEY,
    extra_headers=((b"anthropic-version", b"2023-06-01"),),
)

# Gemini through Google's OpenAI-compatible surface (the native generateContent API is not translated yet).
GEMINI: Final = ProviderSpec(
    key="gemini",
    telemetry_name="gcp.gemini",
    host="generativelanguage.googleapis.com",
    port=443,
    tls=True,
    paths=_frozen(
        {
            RouteType.COMPLETIONS: "/v1beta/openai/chat/completions",
            RouteType.MESSAGES: "/v1beta/openai/chat/completions",
            RouteType.RESPONSES: "/v1beta/openai/chat/completions",
            RouteType.EMBEDDINGS: "/v1beta/openai/embeddings",
            RouteType.MODELS: "/v1beta/openai/models",
        }
    ),
    formats=_formats(
        {
            **_OPENAI_CHAT,
            RouteType.RESPONSES: WireFormat.COMPLETIONS,  # translated: Google's compat layer has no Responses
            RouteType.EMBEDDINGS: WireFormat.EMBEDDINGS,
            RouteType.MODELS: WireFormat.MODELS,
        }
    ),
    auth=AuthStyle.BEARER,
    extra_headers=(),
)

# Azure's v1 API (/openai/v1/...): the model goes in the body, no api-version query needed.
AZURE_OPENAI: Final = ProviderSpec(
    key="azureOpenAI",
    telemetry_name="azure",
    host=None,
    port=443,
    tls=True,
    paths=_frozen(
        {
            RouteType.COMPLETIONS: "/openai/v1/chat/completions",
            RouteType.MESSAGES: "/openai/v1/chat/completions",
            RouteType.RESPONSES: "/openai/v1/responses",
            RouteType.EMBEDDINGS: "/openai/v1/embeddings",
            RouteType.MODELS: "/openai/v1/models",
        }
    ),
    formats=_formats(
        {
            **_OPENAI_CHAT,
            RouteType.RESPONSES: WireFormat.RESPONSES,
            RouteType.EMBEDDINGS: WireFormat.EMBEDDINGS,
            RouteType.MODELS: WireFormat.MODELS,
        }
    ),
    auth=AuthStyle.API_KEY,
    extra_headers=(),
)

# custom providers: the usual path of each wire format, and the formats each route type may be
# served in, best first (agentgateway's chat translation matrix, plus Responses -> Messages)
_CUSTOM_PATHS: Final[Mapping[WireFormat, str]] = MappingProxyType(
    {
        WireFormat.COMPLETIONS: "/v1/chat/completions",
        WireFormat.MESSAGES: "/v1/messages",
        WireFormat.RESPONSES: "/v1/responses",
        WireFormat.EMBEDDINGS: "/v1/embeddings",
        WireFormat.ANTHROPIC_TOKEN_COUNT: "/v1/messages/count_tokens",
    }
)
_SERVED_AS: Final[Mapping[RouteType, tuple[WireFormat, ...]]] = MappingProxyType(
    {
        RouteType.COMPLETIONS: (WireFormat.COMPLETIONS, WireFormat.MESSAGES),
        RouteType.MESSAGES: (WireFormat.MESSAGES, WireFormat.COMPLETIONS),
        RouteType.RESPONSES: (WireFormat.RESPONSES, WireFormat.COMPLETIONS, WireFormat.MESSAGES),
        RouteType.EMBEDDINGS: (WireFormat.EMBEDDINGS,),
        RouteType.ANTHROPIC_TOKEN_COUNT: (WireFormat.ANTHROPIC_TOKEN_COUNT,),
    }
)


def custom_spec(formats: Mapping[WireFormat, str | None], telemetry_name: str = "custom") -> ProviderSpec:
    """A ``custom`` provider: a server that accepts ``formats`` (each at its path, None = the usual
    one). Every route type is served in the first of its formats the server has."""
    paths: dict[RouteType, str] = {}
    served: dict[RouteType, WireFormat] = {}
    for route_type, candidates in _SERVED_AS.items():
        wire = next((c for c in candidates if c in formats), None)
        if wire is not None:
            served[route_type] = wire
            paths[route_type] = formats[wire] or _CUSTOM_PATHS[wire]
    anthropic = WireFormat.MESSAGES in formats
    return ProviderSpec(
        key="custom",
        telemetry_name=telemetry_name,
        host=None,
        port=443,
        tls=True,
        paths=_frozen(paths),
        formats=_formats(served),
        auth=AuthStyle.BEARER,
        extra_headers=((b"anthropic-version", b"2023-06-01"),) if anthropic else (),
    )


PROVIDERS: Final[Mapping[str, ProviderSpec]] = MappingProxyType(
    {
        "openAI": OPENAI,
        "openai": OPENAI,  # llm: mode spelling
        "anthropic": ANTHROPIC,
        "gemini": GEMINI,
        "azureOpenAI": AZURE_OPENAI,
        "azure": AZURE_OPENAI,
    }
)

# Whatever credential the client sent is removed before the provider credential is injected.
CLIENT_CREDENTIAL_HEADERS: Final = frozenset({b"authorization", b"x-api-key", b"api-key", b"x-goog-api-key"})

# Anthropic OAuth access tokens (Claude subscriptions) are only accepted as Bearer tokens.
_ANTHROPIC_OAUTH_PREFIX: Final = "sk-ant-oat"


def provider_spec(name: str) -> ProviderSpec:
    """Look a provider up by its binds (``openAI``) or ``llm:`` (``openai``) name; KeyError if unknown."""
    return PROVIDERS[name]


def auth_header(spec: ProviderSpec, key: str) -> tuple[bytes, bytes]:
    """The (lowercase name, value) header carrying ``key`` to ``spec``'s provider."""
    if spec.auth is AuthStyle.X_API_KEY and not key.startswith(_ANTHROPIC_OAUTH_PREFIX):
        return b"x-api-key", key.encode()
    if spec.auth is AuthStyle.API_KEY:
        return b"api-key", key.encode()
    return b"authorization", b"Bearer " + key.encode()


def upstream_format(spec: ProviderSpec, route_type: RouteType) -> WireFormat | None:
    """The format the provider speaks for a route type, or None when it does not serve it."""
    return spec.formats.get(route_type)


def upstream_path(spec: ProviderSpec, route_type: RouteType) -> str | None:
    """The provider's path for a route type; None means keep the client's path."""
    return spec.paths.get(route_type)
