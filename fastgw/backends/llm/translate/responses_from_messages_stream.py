"""Anthropic Messages SSE events -> the Responses API event stream, incrementally.

Feed one parsed SSE event at a time; each call returns the client bytes (maybe ``b""``).
``message_start`` opens the response (``response.created``), text and thinking deltas go to a
message or reasoning item, each ``tool_use`` block is a function call item whose
``input_json_delta`` pieces are its argument deltas, ``content_block_stop`` closes the item,
``message_delta`` brings the stop reason and the final usage, ``message_stop`` (or ``finish`` when
the stream ends without it) sends ``response.completed``. An upstream ``error`` event becomes the
Responses ``error`` event. Unknown events and blocks are skipped; a malformed event raises
``UpstreamProtocolError``.
"""

from __future__ import annotations

from typing import Any

import orjson

from fastgw.backends.llm.translate.errors import MALFORMED
from fastgw.backends.llm.translate.responses_events import ResponsesEmitter
from fastgw.backends.llm.translate.responses_from_messages import INCOMPLETE_FROM_STOP
from fastgw.backends.llm.usage import update_from_anthropic
from fastgw.errors import UpstreamProtocolError
from fastgw.native import SSEEvent
from fastgw.telemetry.usage import Usage


class ResponsesFromMessagesStream:
    """State machine for one streamed answer. ``created`` is injected so output is reproducible."""

    __slots__ = ("_blocks", "_emitter", "has_usage", "stop_reason", "usage", "usage_final")

    def __init__(self, created: int, model: str = "", namespaces: frozenset[str] = frozenset()) -> None:
        self._emitter = ResponsesEmitter(created, model, namespaces)
        self.usage = Usage()
        self.has_usage = False
        #: message_delta brought the final counts (message_start's output count is a placeholder)
        self.usage_final = False
        self.stop_reason: str | None = None
        # content block index -> "tool" | "text" | "thinking"
        self._blocks: dict[int, str] = {}

    @property
    def model(self) -> str:
        return self._emitter.model

    def feed_events(self, events: list[SSEEvent]) -> bytes:
        return b"".join([self.feed(ev.event, ev.data) for ev in events])

    def feed(self, event: str, data: bytes) -> bytes:
        if event == "ping" or self._emitter.finished:
            return b""
        try:
            payload = orjson.loads(data)
            return self._feed(event, payload)
        except UpstreamProtocolError:
            raise
        except (orjson.JSONDecodeError, *MALFORMED) as exc:
            raise UpstreamProtocolError(f"malformed Anthropic stream event {event!r}: {exc}") from None

    def _feed(self, event: str, payload: Any) -> bytes:
        emitter = self._emitter
        if event == "content_block_delta":
            delta = payload["delta"]
            kind = delta.get("type")
            if kind == "text_delta":
                return emitter.text(delta.get("text") or "")
            if kind == "input_json_delta":
                return emitter.tool_arguments(payload.get("index"), delta.get("partial_json") or "")
            if kind == "thinking_delta":
                return emitter.reasoning(delta.get("thinking") or "")
            return b""
        if event == "content_block_start":
            block = payload["content_block"]
            kind = block.get("type")
            index = payload.get("index")
            if kind == "tool_use" or kind == "server_tool_use":
                self._blocks[index] = "tool"
                out = emitter.tool_start(index, block.get("id") or "", block.get("name") or "")
                given = block.get("input")
                if isinstance(given, dict) and given:
                    out += emitter.tool_arguments(index, orjson.dumps(given).decode())
                return out
            return b""
        if event == "content_block_stop":
            index = payload.get("index")
            return emitter.tool_done(index) if self._blocks.get(index) == "tool" else b""
        if event == "message_start":
            message = payload["message"]
            self._usage(message.get("usage"))
            return emitter.start(str(message.get("id") or ""), str(message.get("model") or ""))
        if event == "message_delta":
            stop = (payload.get("delta") or {}).get("stop_reason")
            if isinstance(stop, str):
                self.stop_reason = stop
            usage = payload.get("usage")
            self._usage(usage)
            self.usage_final = self.usage_final or isinstance(usage, dict)
            return b""
        if event == "message_stop":
            return self.finish()
        if event == "error":
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            return emitter.error(str(error.get("type") or "api_error"), str(error.get("message") or "provider error"))
        return b""

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            update_from_anthropic(self.usage, usage)
            self.has_usage = True

    def finish(self) -> bytes:
        """``response.completed`` (or ``.incomplete``) unless sent already or the stream failed."""
        emitter = self._emitter
        if emitter.finished:
            return b""
        stop = self.stop_reason
        incomplete = INCOMPLETE_FROM_STOP.get(stop) if stop is not None else None
        return emitter.finish(self.usage if self.has_usage else None, incomplete)
