"""Small msgspec "view" Structs for the LLM hot path.

A view decodes only the fields the gateway decides on; the original bytes are what gets forwarded, so
unknown fields survive. Views never forbid unknown fields. Translation works on plain dicts instead
(``orjson.loads``) for the same reason.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import msgspec


class WireFormat(StrEnum):
    """A concrete request/response format on the wire (agentgateway ``InputFormat``)."""

    COMPLETIONS = "completions"
    MESSAGES = "messages"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    ANTHROPIC_TOKEN_COUNT = "anthropicTokenCount"
    MODELS = "models"
    REALTIME = "realtime"
    RERANK = "rerank"


class StreamOptionsView(msgspec.Struct, gc=False):
    include_usage: bool | None = None


class RequestView(msgspec.Struct, gc=False):
    """What routing, rate limiting and translation choice need from an OpenAI or Anthropic request body."""

    model: str | None = None
    stream: bool | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stream_options: StreamOptionsView | None = None

    @property
    def is_stream(self) -> bool:
        return self.stream is True

    @property
    def wants_usage(self) -> bool:
        """True when an OpenAI streaming client itself asked for the final usage chunk."""
        options = self.stream_options
        return options is not None and options.include_usage is True


class PromptTokensDetailsView(msgspec.Struct, gc=False):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class CompletionTokensDetailsView(msgspec.Struct, gc=False):
    reasoning_tokens: int | None = None


class OpenAIUsageView(msgspec.Struct, gc=False):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetailsView | None = None
    completion_tokens_details: CompletionTokensDetailsView | None = None


class AnthropicUsageView(msgspec.Struct, gc=False):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class OpenAIResponseView(msgspec.Struct, gc=False):
    model: str | None = None
    usage: OpenAIUsageView | None = None


class AnthropicResponseView(msgspec.Struct, gc=False):
    model: str | None = None
    usage: AnthropicUsageView | None = None


REQUEST_VIEW_DECODER: Final = msgspec.json.Decoder(RequestView)
OPENAI_RESPONSE_VIEW_DECODER: Final = msgspec.json.Decoder(OpenAIResponseView)
ANTHROPIC_RESPONSE_VIEW_DECODER: Final = msgspec.json.Decoder(AnthropicResponseView)


def decode_request_view(body: bytes) -> RequestView:
    """Decode the view of a request body; raises ``msgspec.DecodeError`` (a ValueError) on bad JSON."""
    return REQUEST_VIEW_DECODER.decode(body)
