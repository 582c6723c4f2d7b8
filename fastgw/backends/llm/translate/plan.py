"""Which translation a chat request needs: chosen once per (route type, provider), then reused.

The backend asks ``chat_translation`` at config-compile time and keeps the result; per request it
calls the plan's methods and never branches on formats itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol

import orjson

from fastgw.backends.llm.providers import ProviderSpec
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.translate import (
    anthropic_from_openai,
    chat_from_responses,
    messages_from_responses,
    openai_from_anthropic,
    responses_from_chat,
    responses_from_messages,
)
from fastgw.backends.llm.translate.anthropic_from_openai_stream import AnthropicFromOpenAIStream
from fastgw.backends.llm.translate.errors import translate_error
from fastgw.backends.llm.translate.openai_from_anthropic_stream import OpenAIFromAnthropicStream
from fastgw.backends.llm.translate.responses_from_chat_stream import ResponsesFromChatStream
from fastgw.backends.llm.translate.responses_from_messages_stream import ResponsesFromMessagesStream
from fastgw.backends.llm.usage import usage_from_openai
from fastgw.errors import Dialect, UpstreamProtocolError
from fastgw.native import SSEEvent
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
    def usage_final(self) -> bool:
        """The usage is the provider's final count (not a first one, such as message_start's)."""
        ...

    @property
    def model(self) -> str: ...

    def feed(self, event: str, data: bytes) -> bytes: ...

    def feed_events(self, events: list[SSEEvent]) -> bytes: ...

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
            return AnthropicFromOpenAIStream(created=created, include_usage=include_usage, model=model)
        return OpenAIFromAnthropicStream(model=model)

    def error(self, status: int, body: bytes) -> bytes:
        return translate_error(status, body, self.upstream, self.client)


def chat_translation(route_type: RouteType, provider: ProviderSpec) -> ChatTranslation | None:
    """The plan for a chat route type; None for route types that are not chat (no body translation)."""
    client = _CLIENT_DIALECT.get(route_type)
    if client is None:
        return None
    return ChatTranslation(client=client, upstream=provider.chat_dialect)


# -- per (client dialect, upstream dialect): what the backend calls when the two differ ------------
def translate_request(client: Dialect, upstream: Dialect, body: dict[str, Any]) -> dict[str, Any]:
    """The request in the provider's format; raises InvalidRequestBody (a 400 for the client)."""
    if client is Dialect.RESPONSES:
        if upstream is Dialect.ANTHROPIC:
            return messages_from_responses.request(body)
        return chat_from_responses.request(body)
    if upstream is Dialect.ANTHROPIC:
        return anthropic_from_openai.request(body)
    return openai_from_anthropic.request(body)


def translate_response(
    client: Dialect, upstream: Dialect, body: bytes, created: int, namespaces: frozenset[str] = frozenset()
) -> tuple[bytes, Usage | None, str | None]:
    """A whole 2xx answer in the client's format, with its usage and model; raises ValueError
    (orjson's JSONDecodeError, UpstreamProtocolError) when it is not the JSON it claims.
    ``namespaces``: a Responses request's namespace tools (``chat_from_responses.tool_namespaces``)."""
    if upstream is Dialect.ANTHROPIC and client is Dialect.OPENAI:
        return anthropic_from_openai.encoded_response(body, created)
    data: Any = orjson.loads(body)
    if type(data) is not dict:
        raise UpstreamProtocolError("provider answer is not a JSON object")
    model = data.get("model")
    if client is Dialect.RESPONSES:
        if upstream is Dialect.ANTHROPIC:
            out, usage = responses_from_messages.response(data, created, namespaces)
        else:
            out, usage = responses_from_chat.response(data, created, namespaces)
        return orjson.dumps(out), usage, model if isinstance(model, str) else None
    encoded = orjson.dumps(openai_from_anthropic.response(data))
    return encoded, usage_from_openai(data.get("usage")), model if isinstance(model, str) else None


def stream_translator(
    client: Dialect,
    upstream: Dialect,
    created: int,
    include_usage: bool,
    model: str,
    namespaces: frozenset[str] = frozenset(),
) -> StreamTranslator:
    """A fresh stream state machine from the provider's events to the client's."""
    if client is Dialect.RESPONSES:
        if upstream is Dialect.ANTHROPIC:
            return ResponsesFromMessagesStream(created, model, namespaces)
        return ResponsesFromChatStream(created, model, namespaces)
    if upstream is Dialect.ANTHROPIC:
        return AnthropicFromOpenAIStream(created=created, include_usage=include_usage, model=model)
    return OpenAIFromAnthropicStream(model=model)
