"""Which translation a chat request needs: chosen once per (route type, provider), then reused.

The backend asks ``chat_translation`` at config-compile time and keeps the result; per request it
calls the plan's methods and never branches on formats itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol

from fastgw.backends.llm.providers import ProviderSpec
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.translate import anthropic_from_openai, openai_from_anthropic
from fastgw.backends.llm.translate.anthropic_from_openai_stream import AnthropicToOpenAIStream
from fastgw.backends.llm.translate.errors import translate_error
from fastgw.backends.llm.translate.openai_from_anthropic_stream import OpenAIToAnthropicStream
from fastgw.errors import Dialect
from fastgw.telemetry.usage import Usage

_CLIENT_DIALECT: Final[Mapping[RouteType, Dialect]] = MappingProxyType(
    {RouteType.COMPLETIONS: Dialect.OPENAI, RouteType.MESSAGES: Dialect.ANTHROPIC}
)


class StreamTranslator(Protocol):
    """What both stream state machines offer the backend."""

    @property
    def usage(self) -> Usage: ...

    @property
    def has_usage(self) -> bool: ...

    @property
    def model(self) -> str: ...

    def feed(self, event: str, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ChatTranslation:
    client: Dialect
    upstream: Dialect

    @property
    def translated(self) -> bool:
        """False: same dialect both sides, forward bytes (after edits) and only sniff usage."""
        return self.client is not self.upstream

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.client is self.upstream:
            return body
        if self.upstream is Dialect.ANTHROPIC:
            return anthropic_from_openai.request(body)
        return openai_from_anthropic.request(body)

    def response(self, body: dict[str, Any], created: int) -> dict[str, Any]:
        if self.client is self.upstream:
            return body
        if self.upstream is Dialect.ANTHROPIC:
            return anthropic_from_openai.response(body, created)
        return openai_from_anthropic.response(body)

    def stream(self, created: int, include_usage: bool, model: str = "") -> StreamTranslator | None:
        """A fresh state machine per response; None when the stream is forwarded unchanged."""
        if self.client is self.upstream:
            return None
        if self.upstream is Dialect.ANTHROPIC:
            return AnthropicToOpenAIStream(created=created, include_usage=include_usage, model=model)
        return OpenAIToAnthropicStream(model=model)

    def error(self, status: int, body: bytes) -> bytes:
        return translate_error(status, body, self.upstream, self.client)


def chat_translation(route_type: RouteType, provider: ProviderSpec) -> ChatTranslation | None:
    """The plan for a chat route type; None for route types that are not chat (no body translation)."""
    client = _CLIENT_DIALECT.get(route_type)
    if client is None:
        return None
    return ChatTranslation(client=client, upstream=provider.chat_dialect)
