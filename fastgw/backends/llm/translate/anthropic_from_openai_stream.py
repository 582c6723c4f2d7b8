"""Anthropic Messages SSE events -> OpenAI ``chat.completion.chunk`` stream, incrementally.

Feed one parsed SSE event at a time (event name, data bytes); each call returns the bytes to write to
the client, possibly ``b""``. Chunk boundaries of the upstream byte stream never matter here: the SSE
scanner in front of this hands over whole events.

Choices: the first chunk carries ``delta.role`` (as OpenAI sends it); with ``include_usage`` the usage
arrives as a separate ``choices: []`` chunk after the finish chunk, exactly like OpenAI, and is omitted
otherwise (the gateway still reads ``.usage``). An upstream ``error`` event becomes one OpenAI error
chunk and the stream then ends without ``[DONE]``. Unknown event and delta types are skipped (the API
grows); a malformed event raises ``UpstreamProtocolError`` so the caller can end the stream with one
error event.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from fastgw.backends.llm.translate.errors import MALFORMED, openai_error_object_from_anthropic
from fastgw.backends.llm.translate.wire import DONE, FINISH_FROM_STOP, openai_event, openai_usage_block
from fastgw.backends.llm.usage import update_from_anthropic
from fastgw.errors import UpstreamProtocolError
from fastgw.native import SSEEvent, delta_chunks, json_get
from fastgw.telemetry.usage import Usage

_CHUNK_MIDDLE: Final = b',"logprobs":null,"finish_reason":'
_CHUNK_END: Final = b"}]}\n\n"
_EMPTY_ARGS: Final = b'{"tool_calls":[{"index":%d,"function":{"arguments":"{}"}}]}'
_DELTA_MEMBERS: Final = (b"type", b"text", b"thinking")
# a text delta's chunk: prefix, _TEXT_START, the JSON string, _TEXT_END
_TEXT_START: Final = b'{"content":'
_TEXT_END: Final = b"}" + _CHUNK_MIDDLE + b"null" + _CHUNK_END


class AnthropicFromOpenAIStream:
    """State machine for one streamed response. ``created`` is injected so output is reproducible."""

    __slots__ = (
        "_blocks",
        "_errored",
        "_prefix",
        "_tool_count",
        "created",
        "has_usage",
        "id",
        "include_usage",
        "model",
        "stop_reason",
        "usage",
        "usage_final",
    )

    def __init__(self, created: int, include_usage: bool = False, model: str = "") -> None:
        self.created = created
        self.include_usage = include_usage
        self.model = model
        self.id = ""
        self.usage = Usage()
        self.has_usage = False
        #: message_delta brought the final counts (message_start's output count is a placeholder)
        self.usage_final = False
        self.stop_reason: str | None = None
        # content block index -> [tool index, arguments streamed?]; text/thinking blocks are absent.
        self._blocks: dict[int, list[Any]] = {}
        self._tool_count = 0
        self._errored = False
        self._prefix = b""

    def feed_events(self, events: list[SSEEvent]) -> bytes:
        """Client bytes for the events of one upstream read: ``feed`` for each, except that a run of
        text deltas (nearly all of a stream) becomes its chunks in one native call, each delta's JSON
        string copied as is (delta_chunks vouches orjson would decode the event and re-encode the
        string to the same bytes)."""
        out: list[bytes] = []
        i = 0
        n = len(events)
        while i < n:
            prefix = self._prefix
            if prefix:  # (set by message_start's chunk: the id and model are known)
                chunks, i = delta_chunks(
                    events, i, "content_block_delta", b"delta", b'"text_delta"', b"text", prefix, _TEXT_START, _TEXT_END
                )
                if chunks:
                    out.append(chunks)
                if i >= n:
                    break
            ev = events[i]
            i += 1
            piece = self.feed(ev.event, ev.data)
            if piece:
                out.append(piece)
        return b"".join(out)

    def feed(self, event: str, data: bytes) -> bytes:
        """Client bytes for one upstream event; raises UpstreamProtocolError on a malformed event."""
        if event == "ping":
            return b""
        if event == "content_block_delta":
            # nearly every event: a text (or thinking) delta whose JSON string goes into the chunk
            # as is, never decoded (json_get vouches it is what orjson.dumps would write)
            got = json_get(data, b"delta", _DELTA_MEMBERS)
            if got is not None:
                kind, text, thinking = got
                if kind == b'"text_delta"' and text is not None and text[:1] == b'"':
                    return self._chunk(b'{"content":' + text + b"}")
                if kind == b'"thinking_delta"' and thinking is not None and thinking[:1] == b'"':
                    return self._chunk(b'{"reasoning_content":' + thinking + b"}")
        try:
            return self._feed(event, orjson.loads(data))
        except MALFORMED as exc:
            raise UpstreamProtocolError(f"malformed Anthropic stream event {event!r}: {exc}") from None

    def _feed(self, event: str, payload: dict[str, Any]) -> bytes:
        kind = event or payload.get("type", "")
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "content_block_stop":
            return self._block_stop(payload)
        if kind == "message_start":
            return self._message_start(payload.get("message") or {})
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "error":
            self._errored = True
            error = payload.get("error")
            return openai_event(openai_error_object_from_anthropic(error if isinstance(error, dict) else {}))
        return b""

    def finish(self) -> bytes:
        """End of the upstream stream: the ``[DONE]`` sentinel unless an error event ended it."""
        return b"" if self._errored else DONE

    def _chunk(self, delta: bytes, finish_reason: bytes = b"null") -> bytes:
        if not self._prefix:
            self._prefix = (
                b'data: {"id":'
                + orjson.dumps(self.id)
                + b',"object":"chat.completion.chunk","created":'
                + str(self.created).encode()
                + b',"model":'
                + orjson.dumps(self.model)
                + b',"system_fingerprint":null,"choices":[{"index":0,"delta":'
            )
        return self._prefix + delta + _CHUNK_MIDDLE + finish_reason + _CHUNK_END

    def _message_start(self, message: dict[str, Any]) -> bytes:
        self.id = message.get("id") or self.id
        self.model = message.get("model") or self.model
        usage = message.get("usage")
        if isinstance(usage, dict):
            update_from_anthropic(self.usage, usage)
            self.has_usage = True
        return self._chunk(b'{"role":"assistant","content":""}')

    def _block_start(self, payload: dict[str, Any]) -> bytes:
        block = payload.get("content_block") or {}
        if block.get("type") not in ("tool_use", "server_tool_use"):
            return b""
        tool_index = self._tool_count
        self._tool_count += 1
        self._blocks[payload.get("index", 0)] = [tool_index, False]
        call = {
            "index": tool_index,
            "id": block.get("id", ""),
            "type": "function",
            "function": {"name": block.get("name", ""), "arguments": ""},
        }
        return self._chunk(orjson.dumps({"tool_calls": [call]}))

    def _delta(self, payload: dict[str, Any]) -> bytes:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return self._chunk(b'{"content":' + orjson.dumps(delta.get("text", "")) + b"}")
        if kind == "thinking_delta":
            return self._chunk(b'{"reasoning_content":' + orjson.dumps(delta.get("thinking", "")) + b"}")
        if kind == "input_json_delta":
            partial = delta.get("partial_json", "")
            state = self._blocks.get(payload.get("index", 0))
            if not partial or state is None:
                return b""
            state[1] = True
            call = {"index": state[0], "function": {"arguments": partial}}
            return self._chunk(orjson.dumps({"tool_calls": [call]}))
        return b""  # signature_delta, citations_delta: nothing to say in chat completions

    def _block_stop(self, payload: dict[str, Any]) -> bytes:
        state = self._blocks.pop(payload.get("index", 0), None)
        if state is None or state[1]:
            return b""
        # A tool called with no arguments never streams input_json; OpenAI clients expect an object.
        return self._chunk(_EMPTY_ARGS % state[0])

    def _message_delta(self, payload: dict[str, Any]) -> bytes:
        usage = payload.get("usage")
        if isinstance(usage, dict):
            update_from_anthropic(self.usage, usage)
            self.has_usage = self.usage_final = True
        stop_reason = (payload.get("delta") or {}).get("stop_reason")
        self.stop_reason = stop_reason
        finish = FINISH_FROM_STOP.get(stop_reason, "stop") if stop_reason else "stop"
        out = self._chunk(b"{}", orjson.dumps(finish))
        if self.include_usage:
            out += openai_event(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": openai_usage_block(self.usage),
                }
            )
        return out
