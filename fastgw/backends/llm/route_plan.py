"""What a (provider target, route type) pair means for a request, decided once at config load.

The request path then costs one dict lookup instead of a dozen small decisions: the client's dialect
(and so the error renderer), whether the body is read, translated or forwarded untouched, the
upstream path and what such a request is for the access log and the token metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Final

from fastgw.backends.llm.providers import ProviderSpec
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.types import WireFormat
from fastgw.errors import Dialect
from fastgw.telemetry.genai import GenAiKind


class Action(IntEnum):
    """What serve_target does with a request."""

    SEND = 0  # read the body, maybe edit/translate it, send it to the provider's endpoint
    RAW = 1  # forward as received (passthrough, detect, realtime, ...)
    MODELS_501 = 2  # binds mode: `models` is not implemented (agentgateway answers 501)
    COUNT_LOCALLY = 3  # count_tokens on a provider that cannot count
    NOT_SERVED = 4  # the provider has no endpoint for this route type


_ANTHROPIC_CLIENT: Final = frozenset({RouteType.MESSAGES, RouteType.ANTHROPIC_TOKEN_COUNT})
_CHAT: Final = frozenset({RouteType.COMPLETIONS, RouteType.MESSAGES, RouteType.RESPONSES})
_RAW_TYPES: Final = frozenset(
    {
        RouteType.PASSTHROUGH,
        RouteType.DETECT,
        RouteType.REALTIME,
        RouteType.GENERATE_CONTENT,
        RouteType.GEMINI_COUNT_TOKENS,
        RouteType.RERANK,
    }
)
_OPERATION: Final[Mapping[RouteType, str]] = MappingProxyType(
    {
        RouteType.COMPLETIONS: "chat",
        RouteType.MESSAGES: "chat",
        RouteType.RESPONSES: "chat",
        RouteType.EMBEDDINGS: "embeddings",
        RouteType.ANTHROPIC_TOKEN_COUNT: "count_tokens",
    }
)
_ANTHROPIC_FORMATS: Final = frozenset({WireFormat.MESSAGES, WireFormat.ANTHROPIC_TOKEN_COUNT})


def format_dialect(wire: WireFormat | None) -> Dialect:
    """The dialect a provider answers in for a wire format (its bodies, streams and errors)."""
    if wire in _ANTHROPIC_FORMATS:
        return Dialect.ANTHROPIC
    if wire is WireFormat.RESPONSES:
        return Dialect.RESPONSES
    return Dialect.OPENAI


@dataclass(frozen=True, slots=True)
class RoutePlan:
    route_type: RouteType
    action: Action
    #: the client's dialect (its errors are rendered in it)
    client: Dialect
    upstream: Dialect
    chat: bool
    #: the client's and the provider's chat formats differ: translate body, response, stream, errors
    translate: bool
    #: the provider path for this route type; None keeps the client's
    path: bytes | None
    #: what such a request is for the access log and the token metrics
    genai: GenAiKind
    #: an OpenAI chat request sent as is: a stream whose client did not ask for usage gets
    #: `stream_options.include_usage` added (token accounting needs real numbers)
    forces_usage: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "forces_usage", self.chat and not self.translate and self.upstream is Dialect.OPENAI)


def client_dialect(route_type: RouteType | None, spec: ProviderSpec) -> Dialect:
    if route_type in _ANTHROPIC_CLIENT:
        return Dialect.ANTHROPIC
    if route_type is RouteType.RESPONSES:
        return Dialect.RESPONSES
    if route_type is None or route_type in _RAW_TYPES:
        return spec.chat_dialect
    return Dialect.OPENAI


def route_plan(spec: ProviderSpec, route_type: RouteType, path: bytes | None) -> RoutePlan:
    client = client_dialect(route_type, spec)
    upstream_format = spec.formats.get(route_type)
    upstream = format_dialect(upstream_format)
    chat = route_type in _CHAT
    if route_type is RouteType.MODELS:
        action = Action.MODELS_501
    elif route_type in _RAW_TYPES:
        action = Action.RAW
    elif upstream_format is None:
        action = Action.COUNT_LOCALLY if route_type is RouteType.ANTHROPIC_TOKEN_COUNT else Action.NOT_SERVED
    else:
        action = Action.SEND
    genai = GenAiKind(
        _OPERATION.get(route_type, str(route_type)),
        spec.telemetry_name,
        input_only=route_type is RouteType.ANTHROPIC_TOKEN_COUNT,
    )
    return RoutePlan(
        route_type=route_type,
        action=action,
        client=client,
        upstream=upstream,
        chat=chat,
        translate=chat and client is not upstream,
        path=path,
        genai=genai,
    )
