"""Local answer for ``/v1/messages/count_tokens`` when the provider cannot count.

Claude Code calls count_tokens constantly, so an OpenAI-backed route must still answer. The text is
gathered here; the tokenizer is a callable passed in (tiktoken, or the native counter later). The
per-message overheads follow OpenAI's chat accounting (+3 per message, +3 priming), as agentgateway does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

_PER_MESSAGE: Final = 3
_PRIMING: Final = 3


def count_tokens_text(body: dict[str, Any]) -> list[str]:
    """The texts to count in an Anthropic count_tokens (or messages) request, one per message/unit.

    Includes the system prompt, text/thinking blocks, tool_use inputs and tool_result contents (as
    their text), and each tool's name, description and JSON input schema. Images are not counted.
    """
    texts: list[str] = []
    system = body.get("system")
    if system:
        texts.append(system if isinstance(system, str) else _blocks_text(system))
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        texts.append(content if isinstance(content, str) else _blocks_text(content or ()))
    # a Responses API request: `instructions` and the `input` string or items
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        texts.append(instructions)
    given = body.get("input")
    if isinstance(given, str):
        texts.append(given)
    elif isinstance(given, list):
        texts.extend(_item_text(item) for item in given if isinstance(item, dict))
    for tool in body.get("tools") or ():
        parts = [str(tool.get("name", "")), str(tool.get("description", ""))]
        schema = tool.get("input_schema", tool.get("parameters"))
        if schema is not None:
            parts.append(orjson.dumps(schema).decode())
        texts.append("\n".join(parts))
    return texts


def _item_text(item: dict[str, Any]) -> str:
    """The text of one Responses input item: a message's text parts, a call's name and arguments,
    a call output."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    parts = [item.get(key) for key in ("name", "arguments", "output")]
    return "".join(p for p in parts if isinstance(p, str))


def _blocks_text(blocks: Any) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            out.append(block.get("text", ""))
        elif kind == "thinking":
            out.append(block.get("thinking", ""))
        elif kind == "tool_use":
            out.append(block.get("name", "") + orjson.dumps(block.get("input", {})).decode())
        elif kind == "tool_result":
            content = block.get("content")
            out.append(content if isinstance(content, str) else _blocks_text(content or ()))
    return "\n".join(out)


def estimate_input_tokens(body: dict[str, Any], count: Callable[[str], int]) -> int:
    """Estimated prompt tokens of an Anthropic request using the ``count`` tokenizer."""
    texts = count_tokens_text(body)
    return sum(count(t) for t in texts) + _PER_MESSAGE * len(texts) + _PRIMING


def count_tokens_response(input_tokens: int) -> bytes:
    """The body Anthropic's count_tokens endpoint returns."""
    return b'{"input_tokens":' + str(input_tokens).encode() + b"}"
