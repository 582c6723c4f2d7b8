"""Anthropic Messages client (e.g. Claude Code) in front of an OpenAI-compatible provider.

``request`` turns an Anthropic body into an OpenAI chat-completions body; ``response`` turns the OpenAI
reply back into an Anthropic message. The stream counterpart is ``openai_from_anthropic_stream``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from fastgw.backends.llm.translate.errors import MALFORMED, InvalidRequestBody
from fastgw.backends.llm.translate.wire import (
    STOP_FROM_FINISH,
    anthropic_usage_block,
    dumps_str,
    parse_arguments,
)
from fastgw.backends.llm.usage import usage_from_openai
from fastgw.errors import UpstreamProtocolError

_COPIED: Final = ("temperature", "top_p", "stream")
_TOOL_CHOICE: Final[Mapping[str, str]] = MappingProxyType({"auto": "auto", "any": "required", "none": "none"})
# Chat-completions models that reject reasoning_effort (no reasoning support); o-series and gpt-5+ accept it.
_NO_REASONING_PREFIXES: Final = ("gpt-3", "gpt-4")
_EFFORT_BY_BUDGET: Final = ((2048, "low"), (8192, "medium"))


def request(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI chat-completions body for an Anthropic Messages body. ``body`` is not modified.

    Raises InvalidRequestBody when the body is JSON but not a Messages request.
    """
    try:
        return _request(body)
    except MALFORMED as exc:
        raise InvalidRequestBody(f"malformed messages request: {exc}") from None


def _request(body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model") or ""
    messages: list[dict[str, Any]] = []
    system = _system(body.get("system"))
    if system is not None:
        messages.append(system)
    for message in body.get("messages") or ():
        _message(message, messages)
    out: dict[str, Any] = {"model": model, "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_completion_tokens"] = body["max_tokens"]
    for key in _COPIED:
        value = body.get(key)
        if value is not None:
            out[key] = value
    if body.get("stream") is True:
        # Token accounting needs real numbers; the translated stream never shows this chunk as such.
        out["stream_options"] = {"include_usage": True}
    stop = body.get("stop_sequences")
    if stop:
        out["stop"] = list(stop)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    _tools(body, out)
    effort = _reasoning_effort(body)
    if effort is not None and not model.startswith(_NO_REASONING_PREFIXES):
        out["reasoning_effort"] = effort
    _output_format(body.get("output_config"), out)
    return out


def _system(system: Any) -> dict[str, Any] | None:
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    parts = [{"type": "text", "text": b.get("text", "")} for b in system or () if b.get("type") == "text"]
    return {"role": "system", "content": parts} if parts else None


def _message(message: dict[str, Any], out: list[dict[str, Any]]) -> None:
    role = message.get("role")
    content = message.get("content")
    if isinstance(content, str):
        out.append({"role": role, "content": content})
    elif role == "assistant":
        _assistant(content or (), out)
    else:
        _user(content or (), out)


def _user(blocks: Any, out: list[dict[str, Any]]) -> None:
    parts: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": image_url(block.get("source") or {})}})
        elif kind == "tool_result":
            # OpenAI wants each result as its own tool message directly after the assistant turn.
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id", ""),
                    "content": _tool_result_content(block.get("content")),
                }
            )
    if parts:
        out.append({"role": "user", "content": parts})


def image_url(source: dict[str, Any]) -> str:
    """OpenAI image URL for an Anthropic image source; base64 becomes a ``data:`` URL."""
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    return str(source.get("url", ""))


def _tool_result_content(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    # Tool messages take only text; images inside a result have no chat-completions equivalent.
    return [{"type": "text", "text": b.get("text", "")} for b in content if b.get("type") == "text"]


def _assistant(blocks: Any, out: list[dict[str, Any]]) -> None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": dumps_str(block.get("input", {})),
                    },
                }
            )
        # thinking / redacted_thinking carry Anthropic signatures that mean nothing to OpenAI.
    # One string, not parts: many OpenAI-compatible servers accept only string assistant content.
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if texts or calls:
        out.append(message)


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    tools = []
    for tool in body.get("tools") or ():
        # Server tools (web_search_*, bash_*, ...) carry a versioned type; only custom tools translate.
        if tool.get("type") not in (None, "custom"):
            continue
        function: dict[str, Any] = {"name": tool.get("name", "")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        tools.append({"type": "function", "function": function})
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
    elif isinstance(kind, str) and kind in _TOOL_CHOICE:
        out["tool_choice"] = _TOOL_CHOICE[kind]
    if choice.get("disable_parallel_tool_use") is not None and tools:
        out["parallel_tool_calls"] = not choice["disable_parallel_tool_use"]


def _reasoning_effort(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        return effort if isinstance(effort, str) else "high"
    if kind != "enabled":
        return None
    budget = thinking.get("budget_tokens") or 0
    for limit, effort in _EFFORT_BY_BUDGET:
        if budget <= limit:
            return effort
    return "high"


def _output_format(config: Any, out: dict[str, Any]) -> None:
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "structured_output", "schema": fmt.get("schema") or {}},
        }


def response(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic message for an OpenAI chat.completion (first choice).

    Raises UpstreamProtocolError when the body is not a chat.completion.
    """
    try:
        return _response(body)
    except MALFORMED as exc:
        raise UpstreamProtocolError(f"malformed chat completion: {exc}") from None


def _response(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    choice: dict[str, Any] = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content") or message.get("refusal")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    return {
        "id": body.get("id", ""),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": STOP_FROM_FINISH.get(finish, "end_turn") if finish else None,
        "stop_sequence": None,
        "usage": anthropic_usage_block(usage_from_openai(body.get("usage"))),
    }
