"""OpenAI Responses API of the fake provider: ``POST /v1/responses`` (JSON and the ``response.*``
event stream), stored responses (``GET``/``DELETE /v1/responses/{id}``, ``POST .../cancel``),
``previous_response_id`` and ``POST /v1/responses/compact``.

The answer follows the same rules as chat completions (``fake_answer.py``): the last user message
(or function call output) is echoed, a function tool is called when ``tool_choice`` asks for it or
the last user message names it (never right after a tool result).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from fastgw.devtools.fake_answer import (
    Answer,
    ToolSpec,
    build_answer,
    count_words,
    mentioned_tool,
    strings_in,
)
from fastgw.devtools.fake_control import control_of, error_response, parse_object, state_of
from fastgw.devtools.fake_stream import Pacer, SseWriter, StreamCut, cut_json


def _input_items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return value if isinstance(value, list) else []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def last_turn(items: list[Any]) -> tuple[str, bool]:
    """The last user message's text or function call output, and whether it is a tool result."""
    for item in reversed(items):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call_output":
            output = item.get("output")
            return (output if isinstance(output, str) else _text(output)), True
        if item.get("role") == "user" and item.get("type", "message") == "message":
            return _text(item.get("content")), False
    return "", False


def _tools(body: dict[str, Any]) -> list[ToolSpec]:
    tools = body.get("tools")
    return [
        ToolSpec(tool["name"], tool.get("parameters"))
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str)
    ]


def _chosen_tool(body: dict[str, Any], prompt: str, after_result: bool) -> ToolSpec | None:
    specs = _tools(body)
    choice = body.get("tool_choice", "auto")
    if not specs or choice == "none":
        return None
    if choice == "required":
        return specs[0]
    if isinstance(choice, dict):
        return next((spec for spec in specs if spec.name == choice.get("name")), None)
    return None if after_result else mentioned_tool(specs, prompt)


def _input_tokens(body: dict[str, Any], history: list[Any]) -> int:
    """The token rule of ``fake_answer`` over ``input``, ``instructions`` and ``tools`` (and the
    stored conversation a ``previous_response_id`` continues)."""
    parts = [history, body.get("input"), body.get("instructions"), body.get("tools")]
    return max(1, count_words(list(strings_in(parts))))


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "input_tokens": answer.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": answer.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.input_tokens + answer.output_tokens,
    }


def _output_item(answer: Answer, item_id: str, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    if answer.tool is not None:
        return {
            "type": "function_call",
            "id": item_id,
            "call_id": answer.tool.id,
            "name": answer.tool.name,
            "arguments": answer.tool.arguments if done else "",
            "status": status,
        }
    content = [{"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}] if done else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


async def create(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    control = control_of(request)
    raw = await request.read()
    body = parse_object(raw, "openai")
    if isinstance(body, web.Response):
        return body
    model = body.get("model")
    if not isinstance(model, str):
        return error_response("openai", 400, "Missing required parameter: 'model'.", param="model")
    items = _input_items(body.get("input"))
    history: list[Any] = []
    previous = body.get("previous_response_id")
    store = state.responses
    if previous is not None:
        found = store.get(previous) if isinstance(previous, str) else None
        if found is None:
            return error_response(
                "openai", 404, f"Previous response with id '{previous}' not found.", param="previous_response_id"
            )
        history = found["items"] + found["response"]["output"]
    prompt, after_result = last_turn(items)
    max_tokens = body.get("max_output_tokens")
    answer = build_answer(
        prompt=prompt,
        tool=_chosen_tool(body, prompt, after_result),
        tool_id=state.next_id("call_", raw),
        tokens=control.tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stops=[],
        thinking=False,
        input_tokens=_input_tokens(body, history),
    )
    incomplete = answer.finish == "length"
    response: dict[str, Any] = {
        "id": state.next_id("resp_", raw),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": max_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": previous,
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None,
        "metadata": body.get("metadata") or {},
    }
    item_id = state.next_id("fc_" if answer.tool is not None else "msg_", raw)
    done = {
        **response,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "output": [_output_item(answer, item_id, True)],
        "usage": None if control.no_usage else _usage(answer),
    }
    if body.get("store", True) is not False:
        store.put(done, history + items)
    if body.get("stream") is True:
        return await _stream(request, answer, response, done, item_id)
    await Pacer(control).whole_answer(answer.output_tokens)
    encoded = orjson.dumps(done)
    if control.fail_after is not None:
        return await cut_json(request, encoded)
    return web.Response(body=encoded, content_type="application/json")


class _Events:
    """Numbers the events of one stream (``sequence_number``) and writes them named by their type."""

    def __init__(self, writer: SseWriter) -> None:
        self.writer = writer
        self.sequence = 0

    async def send(self, kind: str, **fields: Any) -> None:
        await self.writer.send({"type": kind, "sequence_number": self.sequence, **fields}, kind)
        self.sequence += 1


async def _stream(
    request: web.Request, answer: Answer, response: dict[str, Any], done: dict[str, Any], item_id: str
) -> web.StreamResponse:
    writer = SseWriter(request)
    pacer = Pacer(control_of(request))
    events = _Events(writer)
    await writer.start()
    await events.send("response.created", response=response)
    await events.send("response.in_progress", response=response)
    place = {"item_id": item_id, "output_index": 0}
    await events.send("response.output_item.added", output_index=0, item=_output_item(answer, item_id, False))
    try:
        if answer.tool is not None:
            for piece in answer.tool.pieces:
                await pacer.before_token()
                await events.send("response.function_call_arguments.delta", **place, delta=piece)
                pacer.after_token()
            await events.send("response.function_call_arguments.done", **place, arguments=answer.tool.arguments)
        else:
            part = {"type": "output_text", "text": "", "annotations": []}
            await events.send("response.content_part.added", **place, content_index=0, part=part)
            for piece in answer.pieces:
                await pacer.before_token()
                await events.send("response.output_text.delta", **place, content_index=0, delta=piece, logprobs=[])
                pacer.after_token()
            await events.send("response.output_text.done", **place, content_index=0, text=answer.text, logprobs=[])
            await events.send(
                "response.content_part.done", **place, content_index=0, part={**part, "text": answer.text}
            )
    except StreamCut:
        return writer.cut()
    await events.send("response.output_item.done", output_index=0, item=done["output"][0])
    final = "response.incomplete" if done["status"] == "incomplete" else "response.completed"
    await events.send(final, response=done)
    return await writer.finish()


async def retrieve(request: web.Request) -> web.StreamResponse:
    found = state_of(request).responses.get(request.match_info["response_id"])
    if found is None:
        return _not_found(request.match_info["response_id"])
    return web.json_response(found["response"], dumps=lambda v: orjson.dumps(v).decode())


async def delete(request: web.Request) -> web.StreamResponse:
    response_id = request.match_info["response_id"]
    if not state_of(request).responses.delete(response_id):
        return _not_found(response_id)
    return web.json_response({"id": response_id, "object": "response.deleted", "deleted": True})


async def cancel(request: web.Request) -> web.StreamResponse:
    # only background responses can be cancelled; the fake has none running, as OpenAI says then
    found = state_of(request).responses.get(request.match_info["response_id"])
    if found is None:
        return _not_found(request.match_info["response_id"])
    return error_response("openai", 400, "Cannot cancel a synchronous response.")


async def compact(request: web.Request) -> web.StreamResponse:
    """A compaction: the conversation's items summed up as one user message."""
    state = state_of(request)
    raw = await request.read()
    body = parse_object(raw, "openai")
    if isinstance(body, web.Response):
        return body
    items = _input_items(body.get("input"))
    words = count_words(list(strings_in(items)))
    summary = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": f"summary of {words} words"}],
    }
    payload = {
        "id": state.next_id("resp_", raw),
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [summary],
        "usage": {
            "input_tokens": max(1, words),
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 4,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": max(1, words) + 4,
        },
    }
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


def _not_found(response_id: str) -> web.Response:
    return error_response("openai", 404, f"Response with id '{response_id}' not found.")
