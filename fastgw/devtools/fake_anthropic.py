"""Anthropic wire format of the fake provider: messages (JSON and SSE, text, tool_use, thinking,
prompt-cache usage) and count_tokens."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from fastgw.devtools.fake_answer import (
    Answer,
    ToolSpec,
    as_mapping,
    build_answer,
    count_words,
    input_tokens,
    last_turn,
    mentioned_tool,
    signature,
    stop_list,
    strings_in,
)
from fastgw.devtools.fake_control import FakeState, control_of, error_response, parse_object, state_of
from fastgw.devtools.fake_stream import Pacer, SseWriter, StreamCut, cut_json

_STOP_REASON = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool": "tool_use",
    "stop_sequence": "stop_sequence",
}


def _tool_specs(tools: Any) -> list[ToolSpec]:
    # Server tools (web_search, ...) carry no input_schema: the fake never "calls" them.
    return [
        ToolSpec(tool["name"], tool.get("input_schema"))
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, dict) and isinstance(tool.get("name"), str) and "input_schema" in tool
    ]


def _chosen_tool(body: dict[str, Any], prompt: str, after_tool_result: bool) -> ToolSpec | None:
    """`any` -> the first tool, `tool` -> the named one, `auto` -> a tool the last user message names
    (never right after a tool_result, so agent loops terminate)."""
    specs = _tool_specs(body.get("tools"))
    choice = as_mapping(body.get("tool_choice"))
    kind = choice.get("type", "auto")
    if not specs or kind == "none":
        return None
    if kind == "any":
        return specs[0]
    if kind == "tool":
        return next((spec for spec in specs if spec.name == choice.get("name")), None)
    return None if after_tool_result else mentioned_tool(specs, prompt)


def _prompt_units(body: dict[str, Any]) -> list[Any]:
    """The prompt in Anthropic's cache order (tools, system, messages), one unit per cacheable block."""
    units: list[Any] = []
    tools = body.get("tools")
    units.extend(tools if isinstance(tools, list) else [])
    system = body.get("system")
    units.extend(system if isinstance(system, list) else [system] if system is not None else [])
    for message in body.get("messages") or []:
        message_map = as_mapping(message)
        units.append(message_map.get("role"))
        content = message_map.get("content")
        units.extend(content if isinstance(content, list) else [content])
    return units


def _cached_prefix(state: FakeState, body: dict[str, Any], total: int) -> tuple[int, bool]:
    """(tokens of the prefix up to the last cache_control breakpoint, whether it was cached before).
    A top-level `cache_control` (automatic caching) marks the whole prompt."""
    units = _prompt_units(body)
    if isinstance(body.get("cache_control"), dict):
        last = len(units) - 1
    else:
        marked = [i for i, unit in enumerate(units) if isinstance(unit, dict) and "cache_control" in unit]
        if not marked:
            return 0, False
        last = marked[-1]
    prefix = units[: last + 1]
    tokens = min(total, count_words(strings_in(prefix)))
    key = hashlib.sha256(orjson.dumps(prefix, option=orjson.OPT_SORT_KEYS)).digest()
    return tokens, state.prompt_cache.lookup(key)


def _validate(body: dict[str, Any], *, needs_max_tokens: bool) -> web.Response | None:
    if not isinstance(body.get("model"), str):
        return error_response("anthropic", 400, "model: Field required")
    if needs_max_tokens and not isinstance(body.get("max_tokens"), int):
        return error_response("anthropic", 400, "max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response("anthropic", 400, "messages: Field required (a non-empty list)")
    thinking = as_mapping(body.get("thinking"))
    if needs_max_tokens and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return error_response("anthropic", 400, "thinking.enabled.budget_tokens: Input should be >= 1024")
        if budget >= body["max_tokens"]:
            return error_response("anthropic", 400, "`max_tokens` must be greater than `thinking.budget_tokens`")
    return None


async def messages(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    control = control_of(request)
    raw = await request.read()
    body = parse_object(raw, "anthropic")
    if isinstance(body, web.Response):
        return body
    invalid = _validate(body, needs_max_tokens=True)
    if invalid is not None:
        return invalid
    total = input_tokens(body)
    prefix, was_cached = _cached_prefix(state, body, total)
    prompt, after_result = last_turn(body["messages"])
    answer = build_answer(
        prompt=prompt,
        tool=_chosen_tool(body, prompt, after_result),
        tool_id=state.next_id("toolu_", raw),
        tokens=control.tokens,
        max_tokens=body["max_tokens"],
        stops=stop_list(body.get("stop_sequences")),
        thinking=as_mapping(body.get("thinking")).get("type") in ("enabled", "adaptive"),
        input_tokens=total - prefix,
    )
    usage = {
        "input_tokens": answer.input_tokens,
        "cache_creation_input_tokens": 0 if was_cached else prefix,
        "cache_read_input_tokens": prefix if was_cached else 0,
        "output_tokens": answer.output_tokens,
        "service_tier": "standard",
    }
    message_id = state.next_id("msg_", raw)
    model = body["model"] or "fake-model"
    if body.get("stream") is True:
        return await _stream(request, answer, message_id, model, None if control.no_usage else usage)
    await Pacer(control).whole_answer(answer.output_tokens)
    payload: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(answer),
        "stop_reason": _STOP_REASON[answer.finish],
        "stop_sequence": answer.stop_sequence,
    }
    if not control.no_usage:
        payload["usage"] = usage
    encoded = orjson.dumps(payload)
    if control.fail_after is not None:
        return await cut_json(request, encoded)
    return web.Response(body=encoded, content_type="application/json")


def _content(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.thinking:
        blocks.append(
            {
                "type": "thinking",
                "thinking": answer.thinking_text,
                "signature": signature(answer.thinking_text),
            }
        )
    if answer.tool is not None:
        blocks.append(
            {
                "type": "tool_use",
                "id": answer.tool.id,
                "name": answer.tool.name,
                "input": orjson.loads(answer.tool.arguments),
            }
        )
    else:
        blocks.append({"type": "text", "text": answer.text})
    return blocks


async def _stream(
    request: web.Request, answer: Answer, message_id: str, model: str, usage: dict[str, Any] | None
) -> web.StreamResponse:
    writer = SseWriter(request)
    pacer = Pacer(control_of(request))
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    if usage is not None:
        # message_start reports the input side and a provisional output count, as the API does.
        message["usage"] = {**usage, "output_tokens": 1}
    await writer.start()
    await writer.send({"type": "message_start", "message": message}, "message_start")
    await writer.send({"type": "ping"}, "ping")
    index = 0

    async def block(start: dict[str, Any], deltas: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
        await writer.send(
            {"type": "content_block_start", "index": index, "content_block": start}, "content_block_start"
        )
        for delta in deltas:
            await pacer.before_token()
            await writer.send({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
            pacer.after_token()
        for delta in after:
            await writer.send({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
        await writer.send({"type": "content_block_stop", "index": index}, "content_block_stop")

    try:
        if answer.thinking:
            await block(
                {"type": "thinking", "thinking": "", "signature": ""},
                [{"type": "thinking_delta", "thinking": piece} for piece in answer.thinking],
                [{"type": "signature_delta", "signature": signature(answer.thinking_text)}],
            )
            index += 1
        if answer.tool is not None:
            start = {"type": "tool_use", "id": answer.tool.id, "name": answer.tool.name, "input": {}}
            await block(start, [{"type": "input_json_delta", "partial_json": p} for p in answer.tool.pieces], [])
        else:
            await block({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in answer.pieces], [])
    except StreamCut:
        return writer.cut()
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": _STOP_REASON[answer.finish], "stop_sequence": answer.stop_sequence},
    }
    if usage is not None:
        delta["usage"] = usage
    await writer.send(delta, "message_delta")
    await writer.send({"type": "message_stop"}, "message_stop")
    return await writer.finish()


async def count_tokens(request: web.Request) -> web.StreamResponse:
    body = parse_object(await request.read(), "anthropic")
    if isinstance(body, web.Response):
        return body
    invalid = _validate(body, needs_max_tokens=False)
    if invalid is not None:
        return invalid
    return web.Response(body=orjson.dumps({"input_tokens": input_tokens(body)}), content_type="application/json")
