"""OpenAI chat-completions client in front of an Anthropic Messages provider: request and whole response.

``request`` turns an OpenAI body into an Anthropic body; ``response`` turns the Anthropic reply back
(``encoded_response`` from and to bytes, natively for the common reply).
The stream counterpart is ``anthropic_from_openai_stream``. Fields Anthropic does not know are dropped
on purpose: the Messages API rejects unknown top-level fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from fastgw.backends.llm.translate.errors import MALFORMED, InvalidRequestBody
from fastgw.backends.llm.translate.wire import (
    FINISH_FROM_STOP,
    dumps_str,
    openai_usage_block,
    parse_arguments,
)
from fastgw.backends.llm.usage import usage_from_anthropic
from fastgw.errors import UpstreamProtocolError
from fastgw.native import text_message
from fastgw.telemetry.usage import Usage

DEFAULT_MAX_TOKENS: Final = 4096  # Anthropic requires max_tokens; OpenAI clients often omit it.
MIN_THINKING_BUDGET: Final = 1024  # Anthropic's documented minimum budget_tokens.
# reasoning_effort -> thinking budget; "none"/"minimal" turn thinking off.
THINKING_BUDGETS: Final[Mapping[str, int]] = MappingProxyType({"low": 1024, "medium": 4096, "high": 16384})
# Fields with the same name and meaning on both APIs (top_k is a common OpenAI-compatible extension).
_COPIED: Final = ("temperature", "top_p", "top_k", "stream")
_COPIED_KEYS: Final = frozenset(_COPIED)
# Keys read only after the messages and the copied fields: when a body has none of them (the common
# case) the request is complete at that point.
_OPTIONAL_KEYS: Final = frozenset(
    {
        "stop",
        "user",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "thinking",
        "thinking_budget_tokens",
        "reasoning_effort",
        "response_format",
    }
)
_FINISH_FROM_STOP: Final = dict(FINISH_FROM_STOP)  # a plain dict: faster lookups than the proxy
# the same as encoded JSON strings, and the default under None (native.text_message's form)
_FINISH_RAW: Final = {orjson.dumps(k): orjson.dumps(v) for k, v in FINISH_FROM_STOP.items()} | {None: b'"stop"'}
_TOOL_CHOICE: Final[Mapping[str, str]] = MappingProxyType({"auto": "auto", "required": "any", "none": "none"})


def request(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic Messages body for an OpenAI chat-completions body. ``body`` is not modified.

    Raises InvalidRequestBody when the body is JSON but not a chat-completions request.
    """
    try:
        return _request(body)
    except MALFORMED as exc:
        raise InvalidRequestBody(f"malformed chat completions request: {exc}") from None


def _request(body: dict[str, Any]) -> dict[str, Any]:
    get = body.get
    system, messages = _messages(get("messages"))
    out: dict[str, Any] = {"model": get("model") or ""}
    max_tokens = get("max_completion_tokens") or get("max_tokens") or DEFAULT_MAX_TOKENS
    out["max_tokens"] = max_tokens
    if system:
        out["system"] = system
    out["messages"] = messages
    if not _COPIED_KEYS.isdisjoint(body):
        for key in _COPIED:
            value = get(key)
            if value is not None:
                out[key] = value
    if _OPTIONAL_KEYS.isdisjoint(body):
        # the common shape (no stop, user, tools, thinking or response_format): nothing else applies,
        # but the thinking budget arithmetic still rejects a max_tokens that is not a number
        if type(max_tokens) is not int:
            _thinking(body, out, max_tokens)
        return out
    stop = get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    user = get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    _tools(body, out)
    _thinking(body, out, max_tokens)
    _response_format(get("response_format"), out)
    return out


def _messages(raw: Any) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in raw or ():
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            if type(content) is str:
                if content.strip():
                    out.append({"role": "user", "content": [{"type": "text", "text": content}]})
            else:
                _append(out, "user", _user_blocks(content))
        elif role == "assistant":
            _append(out, "assistant", _assistant_blocks(content, message.get("tool_calls")))
        elif role == "system" or role == "developer":
            text = _joined_text(content)
            if text:
                system.append(text)
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id") or "",
                "content": _tool_result_content(content),
            }
            # Results of parallel calls must share one user turn right after the tool_use turn.
            if out and out[-1]["role"] == "user" and out[-1]["content"][-1].get("type") == "tool_result":
                out[-1]["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
        elif role == "function":
            _append(out, "user", _user_blocks(content))
    return "\n".join(system), out


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if blocks:
        out.append({"role": role, "content": blocks})


def _joined_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _text_block(part: dict[str, Any], text: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    cache_control = part.get("cache_control")
    if cache_control is not None:
        block["cache_control"] = cache_control
    return block


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text":
            text = part.get("text") or ""
            if text.strip():
                blocks.append(_text_block(part, text))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            blocks.append(image_block(url))
        # input_audio and file parts have no Messages equivalent and are dropped.
    return blocks


def image_block(url: str) -> dict[str, Any]:
    """Anthropic image block for an OpenAI image URL; ``data:`` URLs become inline base64."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";", 1)[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(content: Any, tool_calls: Any) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    else:
        for part in content or ():
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if text:
                blocks.append(_text_block(part, text))
    for call in tool_calls or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name") or "",
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result_content(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content or ""
    return _user_blocks(content)


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    tools = [_tool(t["function"]) for t in body.get("tools") or () if t.get("type") == "function" and t.get("function")]
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    mapped: dict[str, Any] | None = None
    if isinstance(choice, str):
        preset = _TOOL_CHOICE.get(choice)
        mapped = {"type": preset} if preset else None
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        mapped = {"type": "tool", "name": name} if name else None
    if body.get("parallel_tool_calls") is False and tools:
        mapped = mapped or {"type": "auto"}
        if mapped["type"] != "none":
            mapped["disable_parallel_tool_use"] = True
    if mapped is not None:
        out["tool_choice"] = mapped


def _tool(function: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": function.get("name", "")}
    if function.get("description"):
        tool["description"] = function["description"]
    tool["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return tool


def _thinking(body: dict[str, Any], out: dict[str, Any], max_tokens: int) -> None:
    native = body.get("thinking")
    if isinstance(native, dict):
        out["thinking"] = native
        return
    budget = body.get("thinking_budget_tokens")
    if not isinstance(budget, int):
        budget = THINKING_BUDGETS.get(body.get("reasoning_effort") or "", 0)
    budget = min(budget, max_tokens - 1)
    # Anthropic rejects thinking together with a tool_choice that forces tool use.
    forced = out.get("tool_choice", {}).get("type") in ("any", "tool")
    if budget < MIN_THINKING_BUDGET or forced:
        return
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    # Extended thinking rejects a modified temperature/top_k; dropping them beats a certain 400.
    out.pop("temperature", None)
    out.pop("top_k", None)


def _response_format(fmt: Any, out: dict[str, Any]) -> None:
    if not isinstance(fmt, dict):
        return
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    elif kind == "json_object":
        out["output_config"] = {
            "format": {"type": "json_schema", "schema": {"type": "object", "additionalProperties": True}}
        }


def response(body: dict[str, Any], created: int) -> dict[str, Any]:
    """OpenAI chat.completion for an Anthropic message; ``created`` is injected (unix seconds).

    Raises UpstreamProtocolError when the body is not an Anthropic message.
    """
    return response_and_usage(body, created)[0]


def response_and_usage(body: dict[str, Any], created: int) -> tuple[dict[str, Any], Usage]:
    """``response`` and the message's normalized usage (the one its ``usage`` block shows)."""
    try:
        return _response(body, created)
    except MALFORMED as exc:
        raise UpstreamProtocolError(f"malformed Anthropic message: {exc}") from None


def encoded_response(body: bytes, created: int) -> tuple[bytes, Usage, str | None]:
    """``response`` of an encoded Anthropic message, encoded (orjson), with its usage and model.

    The common message, one text block, is translated natively without being decoded
    (``native.text_message``: byte for byte what ``response`` and orjson write, for every message
    it answers); any other is decoded and translated here. Raises ValueError (orjson's
    JSONDecodeError, UpstreamProtocolError) when the body is not a JSON Anthropic message.
    """
    got = text_message(body, created, _FINISH_RAW, Usage)
    if got is not None:
        return got
    data = orjson.loads(body)
    out, usage = response_and_usage(data, created)
    model = data.get("model")  # (a dict: response_and_usage refused anything else)
    return orjson.dumps(out), usage, model if isinstance(model, str) else None


def _response(body: dict[str, Any], created: int) -> tuple[dict[str, Any], Usage]:
    get = body.get
    content = get("content")
    block = content[0] if type(content) is list and len(content) == 1 else None
    if type(block) is dict and block.get("type") == "text" and type(text := block.get("text", "")) is str:
        # the common answer: one text block
        message: dict[str, Any] = {"role": "assistant", "content": text}
    else:
        message = _message(content)
    stop_reason = get("stop_reason")
    usage = usage_from_anthropic(get("usage"))
    out: dict[str, Any] = {
        "id": get("id", ""),
        "object": "chat.completion",
        "created": created,
        "model": get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _FINISH_FROM_STOP.get(stop_reason, "stop") if stop_reason else None,
            }
        ],
        "usage": openai_usage_block(usage),
    }
    service_tier = get("service_tier")
    if service_tier is not None:
        out["service_tier"] = service_tier
    return out, usage


def _message(content: Any) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use" or kind == "server_tool_use":
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": dumps_str(block.get("input", {})),
                    },
                }
            )
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    return message
