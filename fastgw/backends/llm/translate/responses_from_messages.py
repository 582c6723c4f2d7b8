"""Anthropic Messages answer -> Responses API ``response`` object (whole, not streamed).

Text blocks become one ``message`` item each, ``tool_use`` blocks ``function_call`` items
(``call_id`` = the tool_use id, arguments = the input as JSON), ``thinking`` blocks ``reasoning``
items with the thinking as summary text. ``stop_reason`` ``max_tokens`` (and a full context
window) make the response ``incomplete`` with reason ``max_output_tokens``; ``refusal`` with reason
``content_filter``. The stream counterpart is ``responses_from_messages_stream``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from fastgw.backends.llm.translate.errors import MALFORMED
from fastgw.backends.llm.translate.responses_events import (
    function_call_item,
    message_item,
    reasoning_item,
    response_id,
    response_object,
)
from fastgw.backends.llm.translate.wire import dumps_str
from fastgw.backends.llm.usage import usage_from_anthropic
from fastgw.errors import UpstreamProtocolError
from fastgw.telemetry.usage import Usage

# Anthropic stop_reason -> Responses incomplete_details.reason (absent: completed)
INCOMPLETE_FROM_STOP: Final[Mapping[str, str]] = MappingProxyType(
    {
        "max_tokens": "max_output_tokens",
        "model_context_window_exceeded": "max_output_tokens",
        "refusal": "content_filter",
    }
)


def response(
    body: dict[str, Any], created: int, namespaces: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], Usage]:
    """The Responses object for an Anthropic message and the message's normalized usage.

    Raises UpstreamProtocolError when the body is not an Anthropic message.
    """
    try:
        return _response(body, created, namespaces)
    except MALFORMED as exc:
        raise UpstreamProtocolError(f"malformed Anthropic message: {exc}") from None


def _response(body: dict[str, Any], created: int, namespaces: frozenset[str]) -> tuple[dict[str, Any], Usage]:
    rid = response_id(str(body.get("id") or "gateway"))
    base = rid[5:]
    output: list[dict[str, Any]] = []
    for block in body.get("content") or ():
        kind = block.get("type")
        index = len(output)
        if kind == "text":
            output.append(message_item(f"msg_{base}_{index}", block.get("text") or ""))
        elif kind == "tool_use" or kind == "server_tool_use":
            arguments = dumps_str(block.get("input") or {})
            output.append(
                function_call_item(
                    f"fc_{base}_{index}", block.get("id") or "", block.get("name") or "", arguments, True, namespaces
                )
            )
        elif kind == "thinking":
            output.append(reasoning_item(f"rs_{base}_{index}", block.get("thinking") or ""))
    usage = usage_from_anthropic(body.get("usage"))
    stop = body.get("stop_reason")
    incomplete = INCOMPLETE_FROM_STOP.get(stop) if isinstance(stop, str) else None
    model = body.get("model")
    return response_object(rid, model if isinstance(model, str) else "", created, output, usage, incomplete), usage
