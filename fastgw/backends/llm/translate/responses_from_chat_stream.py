"""Chat Completions chunks -> the Responses API event stream, incrementally.

The first chunk opens the response; ``delta.content`` goes to a message item, ``reasoning_content``
(or ``reasoning``) to a reasoning item, each ``tool_calls[].index`` is a function call item whose
``function.arguments`` pieces are its argument deltas. The finish reason and the usage chunk (the
request asked for ``include_usage``) are kept until ``[DONE]`` (or ``finish`` when the stream ends
without it), which sends ``response.completed`` / ``.incomplete``. An error chunk
(``{"error": ...}``) becomes the Responses ``error`` event. A malformed chunk raises
``UpstreamProtocolError``.
"""

from __future__ import annotations

from typing import Any

import orjson

from fastgw.backends.llm.translate.errors import MALFORMED
from fastgw.backends.llm.translate.responses_events import ResponsesEmitter
from fastgw.backends.llm.translate.responses_from_chat import INCOMPLETE_FROM_FINISH, REASONING_KEYS
from fastgw.backends.llm.translate.wire import DONE_PAYLOAD
from fastgw.backends.llm.usage import usage_from_openai
from fastgw.errors import UpstreamProtocolError
from fastgw.native import SSEEvent
from fastgw.telemetry.usage import Usage


class ResponsesFromChatStream:
    """State machine for one streamed answer. ``created`` is injected so output is reproducible."""

    __slots__ = ("_emitter", "finish_reason", "has_usage", "usage", "usage_final")

    def __init__(self, created: int, model: str = "", namespaces: frozenset[str] = frozenset()) -> None:
        self._emitter = ResponsesEmitter(created, model, namespaces)
        self.usage = Usage()
        self.has_usage = False
        self.usage_final = False
        self.finish_reason: str | None = None

    @property
    def model(self) -> str:
        return self._emitter.model

    def feed_events(self, events: list[SSEEvent]) -> bytes:
        return b"".join([self.feed(ev.event, ev.data) for ev in events])

    def feed(self, event: str, data: bytes) -> bytes:
        if self._emitter.finished:
            return b""
        if data == DONE_PAYLOAD:
            return self.finish()
        try:
            return self._feed(orjson.loads(data))
        except UpstreamProtocolError:
            raise
        except (orjson.JSONDecodeError, *MALFORMED) as exc:
            raise UpstreamProtocolError(f"malformed chat completion chunk: {exc}") from None

    def _feed(self, chunk: Any) -> bytes:
        emitter = self._emitter
        error = chunk.get("error")
        if error is not None:
            error = error if isinstance(error, dict) else {"message": str(error)}
            code = error.get("code") or error.get("type") or "api_error"
            return emitter.error(str(code), str(error.get("message") or "provider error"))
        out = emitter.start(str(chunk.get("id") or ""), str(chunk.get("model") or ""))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage)
            self.has_usage = self.usage_final = True
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            for key in REASONING_KEYS:
                text = delta.get(key)
                if isinstance(text, str) and text:
                    out += emitter.reasoning(text)
                    break
            text = delta.get("content")
            if isinstance(text, str) and text:
                out += emitter.text(text)
            for call in delta.get("tool_calls") or ():
                key = call.get("index", 0)
                function = call.get("function") or {}
                if not emitter.has_tool(key):
                    call_id = call.get("id") or f"call_{key}"
                    out += emitter.tool_start(key, call_id, function.get("name") or "")
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    out += emitter.tool_arguments(key, arguments)
            finish = choice.get("finish_reason")
            if isinstance(finish, str):
                self.finish_reason = finish
        return out

    def finish(self) -> bytes:
        emitter = self._emitter
        if emitter.finished:
            return b""
        finish = self.finish_reason
        incomplete = INCOMPLETE_FROM_FINISH.get(finish) if finish is not None else None
        return emitter.finish(self.usage if self.has_usage else None, incomplete)
