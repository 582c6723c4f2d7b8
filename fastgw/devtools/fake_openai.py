"""OpenAI wire format of the fake provider: chat completions (JSON and SSE) and embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
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
    stop_list,
)
from fastgw.devtools.fake_control import control_of, error_response, parse_object, state_of
from fastgw.devtools.fake_stream import Pacer, SseWriter, StreamCut, cut_json

_FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls", "stop_sequence": "stop"}
_FINGERPRINT = "fp_fastgw_fake"


def _tool_specs(tools: Any) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for tool in tools if isinstance(tools, list) else []:
        function = as_mapping(as_mapping(tool).get("function"))
        if isinstance(function.get("name"), str):
            specs.append(ToolSpec(function["name"], function.get("parameters")))
    return specs


def _chosen_tool(body: dict[str, Any], prompt: str, after_tool_result: bool) -> ToolSpec | None:
    """`required` -> the first tool, a named function -> that one, `auto` -> a tool whose name the
    last user message mentions (never right after a tool result, so agent loops terminate)."""
    specs = _tool_specs(body.get("tools"))
    choice = body.get("tool_choice", "auto")
    if not specs or choice == "none":
        return None
    if choice == "required":
        return specs[0]
    if isinstance(choice, dict):
        name = as_mapping(choice.get("function")).get("name")
        return next((spec for spec in specs if spec.name == name), None)
    return None if after_tool_result else mentioned_tool(specs, prompt)


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _message(answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.tool is not None:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": answer.tool.id,
                "type": "function",
                "function": {"name": answer.tool.name, "arguments": answer.tool.arguments},
            }
        ]
    return message


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    control = control_of(request)
    raw = await request.read()
    body = parse_object(raw, "openai")
    if isinstance(body, web.Response):
        return body
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response("openai", 400, "'messages' must be a non-empty array", param="messages")
    model = body.get("model")
    if not isinstance(model, str):
        return error_response("openai", 400, "you must provide a model parameter", param="model")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    prompt, after_result = last_turn(messages)
    answer = build_answer(
        prompt=prompt,
        tool=_chosen_tool(body, prompt, after_result),
        tool_id=state.next_id("call_", raw),
        tokens=control.tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stops=stop_list(body.get("stop")),
        thinking=False,
        input_tokens=input_tokens(body),
    )
    head = {
        "id": state.next_id("chatcmpl-", raw),
        "created": int(time.time()),
        "model": model or "fake-model",
        "system_fingerprint": _FINGERPRINT,
    }
    if body.get("stream") is True:
        include_usage = as_mapping(body.get("stream_options")).get("include_usage") is True
        return await _stream(request, answer, head, include_usage and not control.no_usage)
    pacer = Pacer(control)
    await pacer.whole_answer(answer.output_tokens)
    payload: dict[str, Any] = {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": _message(answer),
                "logprobs": None,
                "finish_reason": _FINISH[answer.finish],
            }
        ],
    }
    if not control.no_usage:
        payload["usage"] = _usage(answer)
    encoded = orjson.dumps(payload)
    if control.fail_after is not None:
        return await cut_json(request, encoded)
    return web.Response(body=encoded, content_type="application/json")


async def _stream(
    request: web.Request, answer: Answer, head: dict[str, Any], include_usage: bool
) -> web.StreamResponse:
    writer = SseWriter(request)
    pacer = Pacer(control_of(request))
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "object": "chat.completion.chunk", "choices": [choice], **extra}

    await writer.start()
    try:
        if answer.tool is not None:
            call = {
                "index": 0,
                "id": answer.tool.id,
                "type": "function",
                "function": {"name": answer.tool.name, "arguments": ""},
            }
            await writer.send(chunk({"role": "assistant", "content": None, "tool_calls": [call]}))
            for piece in answer.tool.pieces:
                await pacer.before_token()
                await writer.send(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
                pacer.after_token()
        else:
            await writer.send(chunk({"role": "assistant", "content": "", "refusal": None}))
            for piece in answer.pieces:
                await pacer.before_token()
                await writer.send(chunk({"content": piece}))
                pacer.after_token()
    except StreamCut:
        return writer.cut()
    await writer.send(chunk({}, _FINISH[answer.finish]))
    if include_usage:
        await writer.send({**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage(answer)})
    await writer.send_raw(b"data: [DONE]\n\n")
    return await writer.finish()


def _embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector derived from the text's SHA-256 stream: equal inputs give equal vectors."""
    raw = b""
    block = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(text.encode() + block.to_bytes(4, "little")).digest()
        block += 1
    values = [(int.from_bytes(raw[i * 4 : i * 4 + 4], "little") / 0xFFFFFFFF) * 2 - 1 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


async def embeddings(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    body = parse_object(await request.read(), "openai")
    if isinstance(body, web.Response):
        return body
    model = body.get("model")
    if not isinstance(model, str):
        return error_response("openai", 400, "you must provide a model parameter", param="model")
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        inputs: list[str] = [raw_input]
    elif isinstance(raw_input, list) and raw_input and all(isinstance(i, int) for i in raw_input):
        inputs = [orjson.dumps(raw_input).decode()]  # one input given as token ids
    elif isinstance(raw_input, list) and raw_input:
        # Token-id inputs ([[1, 2], [3]]) are embedded by their textual form.
        inputs = [item if isinstance(item, str) else orjson.dumps(item).decode() for item in raw_input]
    else:
        return error_response("openai", 400, "'input' must be a string or a non-empty array", param="input")
    dimensions = body.get("dimensions")
    size = dimensions if isinstance(dimensions, int) and dimensions > 0 else state.options.embedding_dimensions
    as_base64 = body.get("encoding_format") == "base64"
    data: list[dict[str, Any]] = []
    for index, text in enumerate(inputs):
        vector = _embedding(text, size)
        encoded: Any = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = max(1, count_words(inputs))
    payload = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return web.Response(body=orjson.dumps(payload), content_type="application/json")
