"""The Responses API side of a translation: the ``response`` object and its event stream, built from
what another API said (text, reasoning, function calls, usage, a stop reason).

Shared by ``responses_from_messages`` / ``responses_from_chat`` (whole answers) and their
``*_stream`` adapters, which call ``ResponsesEmitter`` once per upstream event. Pure: ids and the
creation time are parameters; item ids derive from the response id so golden files are stable.

The event sequence is the one OpenAI sends (docs "Streaming API responses"): ``response.created``,
``response.in_progress``, then per output item ``response.output_item.added``, its deltas
(``response.output_text.delta`` inside a ``content_part``, ``response.function_call_arguments.delta``,
``response.reasoning_summary_text.delta``), their ``.done`` events and ``response.output_item.done``;
finally ``response.completed`` (or ``response.incomplete``) carrying the whole response with its usage.
Every event has ``type`` and ``sequence_number`` and is framed with its type as the SSE event name.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from fastgw.backends.llm.translate.chat_from_responses import split_tool_name
from fastgw.telemetry.usage import Usage

_TEXT: Final = 0
_TOOL: Final = 1
_REASONING: Final = 2


def responses_usage_block(usage: Usage) -> dict[str, Any]:
    """A Responses ``usage`` object: input_tokens counts cached ones (OpenAI's convention)."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


_UPSTREAM_ID_PREFIXES: Final = ("msg_", "chatcmpl-")


def response_id(upstream_id: str) -> str:
    """``resp_`` and the provider's id without its own prefix (``msg_``, ``chatcmpl-``); item ids
    are made from what follows ``resp_``."""
    if upstream_id.startswith("resp_"):
        return upstream_id
    for prefix in _UPSTREAM_ID_PREFIXES:
        if upstream_id.startswith(prefix):
            return "resp_" + upstream_id[len(prefix) :]
    return "resp_" + upstream_id


def message_item(item_id: str, text: str, done: bool = True) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if done else []
    status = "completed" if done else "in_progress"
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def function_call_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    done: bool = True,
    namespaces: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A function call; a name flattened from a declared namespace tool gets its namespace back."""
    namespace, name = split_tool_name(name, namespaces)
    item = {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed" if done else "in_progress",
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def reasoning_item(item_id: str, text: str, done: bool = True) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if done and text else []
    return {"type": "reasoning", "id": item_id, "summary": summary}


def status_of(incomplete_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """(status, incomplete_details) for why generation stopped early, None when it did not."""
    if incomplete_reason is None:
        return "completed", None
    return "incomplete", {"reason": incomplete_reason}


def response_object(
    rid: str,
    model: str,
    created: int,
    output: list[dict[str, Any]],
    usage: Usage | None,
    incomplete_reason: str | None = None,
    in_progress: bool = False,
) -> dict[str, Any]:
    status, details = status_of(incomplete_reason)
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "in_progress" if in_progress else status,
        "error": None,
        "incomplete_details": None if in_progress else details,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": responses_usage_block(usage) if usage is not None else None,
    }


class _Item:
    __slots__ = ("call_id", "done", "index", "item_id", "kind", "name", "namespaces", "parts")

    def __init__(
        self,
        kind: int,
        item_id: str,
        index: int,
        call_id: str = "",
        name: str = "",
        namespaces: frozenset[str] = frozenset(),
    ) -> None:
        self.kind = kind
        self.namespaces = namespaces
        self.item_id = item_id
        self.index = index
        self.call_id = call_id
        self.name = name
        self.parts: list[str] = []
        self.done = False

    def payload(self, done: bool) -> dict[str, Any]:
        text = "".join(self.parts) if done else ""
        if self.kind == _TEXT:
            return message_item(self.item_id, text, done)
        if self.kind == _TOOL:
            arguments = (text or "{}") if done else ""
            return function_call_item(self.item_id, self.call_id, self.name, arguments, done, self.namespaces)
        return reasoning_item(self.item_id, text, done)


class ResponsesEmitter:
    """Writes one Responses event stream. Text and reasoning go to the item currently open for them
    (a new one when another item came in between); function calls are items keyed by the caller's
    key (a block index, a tool-call index), so interleaved argument deltas land on the right call."""

    __slots__ = (
        "_current",
        "_items",
        "_keyed",
        "_rid",
        "_sequence",
        "created",
        "finished",
        "model",
        "namespaces",
        "started",
    )

    def __init__(self, created: int, model: str = "", namespaces: frozenset[str] = frozenset()) -> None:
        self.created = created
        #: the request's namespace tools (function calls named `<namespace>__<name>` are split back)
        self.namespaces = namespaces
        self.model = model
        self._rid = ""
        self._sequence = 0
        self._items: list[_Item] = []
        self._keyed: dict[object, _Item] = {}
        self._current: _Item | None = None
        self.started = False
        self.finished = False

    @property
    def response_id(self) -> str:
        return self._rid

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def start(self, upstream_id: str, model: str) -> bytes:
        """``response.created`` and ``response.in_progress`` (once)."""
        if self.started:
            return b""
        self.started = True
        self._rid = response_id(upstream_id or "gateway")
        if model:
            self.model = model
        response = response_object(self._rid, self.model, self.created, [], None, in_progress=True)
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def _open(
        self, kind: int, prefix: str, key: object = None, call_id: str = "", name: str = ""
    ) -> tuple[_Item, bytes]:
        out = self._close_current()
        index = len(self._items)
        item = _Item(kind, f"{prefix}_{self._rid[5:]}_{index}", index, call_id, name, self.namespaces)
        self._items.append(item)
        if key is not None:
            self._keyed[key] = item
        else:
            self._current = item
        out += self._event("response.output_item.added", output_index=index, item=item.payload(False))
        if kind == _TEXT:
            part = {"type": "output_text", "text": "", "annotations": []}
            out += self._event(
                "response.content_part.added", item_id=item.item_id, output_index=index, content_index=0, part=part
            )
        elif kind == _REASONING:
            out += self._event(
                "response.reasoning_summary_part.added",
                item_id=item.item_id,
                output_index=index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        return item, out

    def _close_current(self) -> bytes:
        current = self._current
        self._current = None
        return self._close(current) if current is not None else b""

    def text(self, delta: str) -> bytes:
        out = b""
        item = self._current
        if item is None or item.kind != _TEXT:
            item, out = self._open(_TEXT, "msg")
        item.parts.append(delta)
        return out + self._event(
            "response.output_text.delta",
            item_id=item.item_id,
            output_index=item.index,
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def reasoning(self, delta: str) -> bytes:
        out = b""
        item = self._current
        if item is None or item.kind != _REASONING:
            item, out = self._open(_REASONING, "rs")
        item.parts.append(delta)
        return out + self._event(
            "response.reasoning_summary_text.delta",
            item_id=item.item_id,
            output_index=item.index,
            summary_index=0,
            delta=delta,
        )

    def tool_start(self, key: object, call_id: str, name: str) -> bytes:
        """Open a function call item under ``key`` (the text or reasoning item open is closed)."""
        _, out = self._open(_TOOL, "fc", key, call_id, name)
        return out

    def has_tool(self, key: object) -> bool:
        return key in self._keyed

    def tool_arguments(self, key: object, delta: str) -> bytes:
        item = self._keyed.get(key)
        if item is None or item.done or not delta:
            return b""
        item.parts.append(delta)
        return self._event(
            "response.function_call_arguments.delta", item_id=item.item_id, output_index=item.index, delta=delta
        )

    def tool_done(self, key: object) -> bytes:
        item = self._keyed.get(key)
        return self._close(item) if item is not None else b""

    def _close(self, item: _Item) -> bytes:
        if item.done:
            return b""
        item.done = True
        text = "".join(item.parts)
        where = {"item_id": item.item_id, "output_index": item.index}
        out = b""
        if item.kind == _TEXT:
            out += self._event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
            part = {"type": "output_text", "text": text, "annotations": []}
            out += self._event("response.content_part.done", **where, content_index=0, part=part)
        elif item.kind == _TOOL:
            out += self._event("response.function_call_arguments.done", **where, arguments=text or "{}")
        else:
            out += self._event("response.reasoning_summary_text.done", **where, summary_index=0, text=text)
            part = {"type": "summary_text", "text": text}
            out += self._event("response.reasoning_summary_part.done", **where, summary_index=0, part=part)
        return out + self._event("response.output_item.done", output_index=item.index, item=item.payload(True))

    def output(self) -> list[dict[str, Any]]:
        return [item.payload(True) for item in self._items]

    def finish(self, usage: Usage | None, incomplete_reason: str | None) -> bytes:
        """Close every open item, then ``response.completed`` (or ``.incomplete``) with the usage."""
        if self.finished:
            return b""
        out = self.start("", "")
        self.finished = True
        self._current = None
        for item in self._items:
            out += self._close(item)
        response = response_object(self._rid, self.model, self.created, self.output(), usage, incomplete_reason)
        kind = "response.incomplete" if incomplete_reason is not None else "response.completed"
        return out + self._event(kind, response=response)

    def error(self, code: str, message: str) -> bytes:
        """The stream's terminal ``error`` event (the provider failed mid-stream)."""
        if self.finished:
            return b""
        self.finished = True
        return self._event("error", code=code, message=message, param=None)
