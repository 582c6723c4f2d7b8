"""Route types of an ``ai`` backend and the compiled path-suffix map that selects one.

agentgateway matches ``policies.ai.routes`` keys as path *suffixes*, longest first, with ``*`` as the
fallback; with no map at all every path is chat completions (binds mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class RouteType(StrEnum):
    """What a request to an ``ai`` backend is (agentgateway ``RouteType`` spellings)."""

    COMPLETIONS = "completions"
    MESSAGES = "messages"
    MODELS = "models"
    PASSTHROUGH = "passthrough"
    DETECT = "detect"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    REALTIME = "realtime"
    ANTHROPIC_TOKEN_COUNT = "anthropicTokenCount"
    GENERATE_CONTENT = "generateContent"
    GEMINI_COUNT_TOKENS = "geminiCountTokens"
    RERANK = "rerank"


FALLBACK_KEY: Final = "*"

# A stored response and its operations (GET/DELETE /v1/responses/{id}, POST .../cancel,
# GET .../input_items) are not requests to translate: forwarded as received. Suffixes cannot say
# "below /v1/responses/", so the default maps carry this one prefix rule.
RESPONSES_PREFIX: Final = "/v1/responses/"

# model_router.rs::default_route_types; /v1/models is answered locally by the llm router, not here.
LLM_MODE_ROUTES: Final[Mapping[str, RouteType]] = MappingProxyType(
    {
        "/v1/chat/completions": RouteType.COMPLETIONS,
        "/v1/messages": RouteType.MESSAGES,
        "/v1/messages/count_tokens": RouteType.ANTHROPIC_TOKEN_COUNT,
        ":rawPredict": RouteType.MESSAGES,
        ":streamRawPredict": RouteType.MESSAGES,
        ":generateContent": RouteType.GENERATE_CONTENT,
        ":streamGenerateContent": RouteType.GENERATE_CONTENT,
        ":countTokens": RouteType.GEMINI_COUNT_TOKENS,
        "/v1/responses": RouteType.RESPONSES,
        "/v1/responses/compact": RouteType.DETECT,
        "/v1/images/generations": RouteType.DETECT,
        "/v1/images/edits": RouteType.DETECT,
        "/v1/images/variations": RouteType.DETECT,
        "/v1/embeddings": RouteType.EMBEDDINGS,
        "/v1/rerank": RouteType.RERANK,
        "/v2/rerank": RouteType.RERANK,
        FALLBACK_KEY: RouteType.PASSTHROUGH,
    }
)


# binds mode without a `routes` map: agentgateway treats every path as completions; fastgw also
# serves the Responses API there (Codex CLI speaks nothing else), its stored-response operations
# forwarded as received.
BINDS_DEFAULT_ROUTES: Final[Mapping[str, RouteType]] = MappingProxyType(
    {
        "/v1/responses": RouteType.RESPONSES,
        "/v1/responses/compact": RouteType.DETECT,
        FALLBACK_KEY: RouteType.COMPLETIONS,
    }
)


class RouteTable:
    """A compiled suffix map; ``resolve`` is a short linear scan over pre-sorted suffixes."""

    __slots__ = ("_fallback", "_prefix", "_suffixes")

    def __init__(
        self,
        suffixes: tuple[tuple[str, RouteType], ...],
        fallback: RouteType | None,
        prefix: tuple[str, RouteType] | None = None,
    ) -> None:
        self._suffixes = suffixes
        self._fallback = fallback
        #: a default map's one prefix rule (checked after the suffixes)
        self._prefix = prefix

    def resolve(self, path: str) -> RouteType | None:
        """Route type for a request path (query string excluded), or None when nothing matches."""
        for suffix, route_type in self._suffixes:
            if path.endswith(suffix):
                return route_type
        prefix = self._prefix
        if prefix is not None and prefix[0] in path:
            return prefix[1]
        return self._fallback

    @property
    def entries(self) -> tuple[tuple[str, RouteType], ...]:
        return self._suffixes

    @property
    def fallback(self) -> RouteType | None:
        return self._fallback


def compile_routes(routes: Mapping[str, str | RouteType] | None) -> RouteTable:
    """Compile a ``routes`` map; ``None`` or empty means the binds-mode default: everything is
    completions but the Responses API (``BINDS_DEFAULT_ROUTES``).

    Raises ValueError naming the offending key for an unknown route type.
    """
    if not routes:
        return _default_table(BINDS_DEFAULT_ROUTES)
    parsed: list[tuple[str, RouteType]] = []
    fallback: RouteType | None = None
    for key, value in routes.items():
        try:
            route_type = RouteType(value)
        except ValueError:
            raise ValueError(f"unknown route type {value!r} for path suffix {key!r}") from None
        if key == FALLBACK_KEY:
            fallback = route_type
        else:
            parsed.append((key, route_type))
    # Longest first so "/v1/messages/count_tokens" wins over "/v1/messages"; ties keep config order.
    parsed.sort(key=lambda item: -len(item[0]))
    return RouteTable(tuple(parsed), fallback)


def _default_table(routes: Mapping[str, RouteType]) -> RouteTable:
    table = compile_routes(routes)
    return RouteTable(table.entries, table.fallback, (RESPONSES_PREFIX, RouteType.PASSTHROUGH))


def llm_mode_routes() -> RouteTable:
    """The route table the ``llm:`` block installs."""
    return _default_table(LLM_MODE_ROUTES)
