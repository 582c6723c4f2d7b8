"""Chat Completions answer -> Responses API ``response`` object (whole, not streamed).

The first choice's reasoning (``reasoning_content``/``reasoning``, as vLLM and Ollama send it)
becomes a ``reasoning`` item, its content a ``message`` item, each tool call a ``function_call``
item (``call_id`` = the call's id). ``finish_reason`` ``length`` makes the response ``incomplete``
(``max_output_tokens``), ``content_filter`` too (``content_filter``). The stream counterpart is
``responses_from_chat_stream``.
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
from fastgw.backends.llm.usage import usage_from_openai
from fastgw.errors import UpstreamProtocolError
from fastgw.telemetry.usage import Usage

INCOMPLETE_FROM_FINISH: Final[Mapping[str, str]] = MappingProxyType(
    {"length": "max_output_tokens", "content_filter": "content_filter"}
)
REASONING_KEYS: Final = ("reasoning_content", "reasoning")


def response(
    body: dict[str, Any], created: int, namespaces: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], Usage]:
    """The Responses object for a chat completion and its normalized usage.

    Raises UpstreamProtocolError when the body is not a chat completion.
    """
    try:
        return _response(body, created, namespaces)
    except MALFORMED as exc:
        raise UpstreamProtocolError(f"malformed chat completion: {exc}") from None


def _response(body: dict[str, Any], created: int, namespaces: frozenset[str]) -> tuple[dict[str, Any], Usage]:
    rid = response_id(str(body.get("id") or "gateway"))
    base = rid[5:]
    choices = body.get("choices") or []
    choice = choices[0] if choices else {}
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    for key in REASONING_KEYS:
        reasoning = message.get(key)
        if isinstance(reasoning, str) and reasoning:
            output.append(reasoning_item(f"rs_{base}_{len(output)}", reasoning))
            break
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    if isinstance(content, str) and content:
        output.append(message_item(f"msg_{base}_{len(output)}", content))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments")
        output.append(
            function_call_item(
                f"fc_{base}_{len(output)}",
                call.get("id") or "",
                function.get("name") or "",
                arguments if isinstance(arguments, str) and arguments else "{}",
                True,
                namespaces,
            )
        )
    usage = usage_from_openai(body.get("usage"))
    finish = choice.get("finish_reason")
    incomplete = INCOMPLETE_FROM_FINISH.get(finish) if isinstance(finish, str) else None
    model = body.get("model")
    created_at = body.get("created")
    return (
        response_object(
            rid,
            model if isinstance(model, str) else "",
            created_at if isinstance(created_at, int) else created,
            output,
            usage,
            incomplete,
        ),
        usage,
    )
