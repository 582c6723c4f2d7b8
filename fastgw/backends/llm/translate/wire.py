"""Shared wire constants for the translators: SSE framing, stop/finish reason maps, usage blocks."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from fastgw.telemetry.usage import Usage

DONE: Final = b"data: [DONE]\n\n"
DONE_PAYLOAD: Final = b"[DONE]"

# Anthropic stop_reason -> OpenAI finish_reason (agentgateway messages.rs).
FINISH_FROM_STOP: Final[Mapping[str, str]] = MappingProxyType(
    {
        "end_turn": "stop",
        "max_tokens": "length",
        "stop_sequence": "stop",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        "pause_turn": "stop",
        "model_context_window_exceeded": "length",
    }
)

# OpenAI finish_reason -> Anthropic stop_reason. content_filter differs between a whole response
# ("end_turn") and a stream ("refusal"), as agentgateway does.
STOP_FROM_FINISH: Final[Mapping[str, str]] = MappingProxyType(
    {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "function_call": "tool_use",
        "content_filter": "end_turn",
    }
)
STREAM_STOP_FROM_FINISH: Final[Mapping[str, str]] = MappingProxyType({**STOP_FROM_FINISH, "content_filter": "refusal"})


def openai_event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def anthropic_event(name: bytes, payload: Any) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def openai_usage_block(usage: Usage) -> dict[str, Any]:
    """OpenAI ``usage`` for a normalized record: prompt_tokens includes cached tokens (OpenAI convention)."""
    details: dict[str, int] = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        details["cache_write_tokens"] = usage.cache_write_tokens
    prompt = usage.input_tokens
    completion = usage.output_tokens
    block: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }
    if usage.reasoning_tokens:
        block["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return block


def anthropic_usage_block(usage: Usage) -> dict[str, int]:
    """Anthropic ``usage``: input_tokens excludes cache reads and writes (Anthropic convention)."""
    return {
        "input_tokens": usage.uncached_input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def parse_arguments(arguments: Any) -> Any:
    """OpenAI tool-call ``arguments`` (a JSON string) as an Anthropic ``input``.

    Empty becomes ``{}`` because Anthropic requires an object; malformed JSON is kept verbatim rather
    than "fixed", so the provider reports the problem instead of the gateway hiding it.
    """
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()
