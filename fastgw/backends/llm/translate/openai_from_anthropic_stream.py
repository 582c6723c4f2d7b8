"""OpenAI ``chat.completion.chunk`` stream -> Anthropic Messages SSE events, incrementally.

Feed one parsed SSE event at a time (data bytes; OpenAI sends no event names); each call returns the
bytes to write to the client, possibly ``b""``.

Block rules: Anthropic content blocks never interleave, so opening a text, thinking or tool block
closes the open one. OpenAI streams parallel tool calls one after another; a fragment that arrives for
an already closed tool block is still sent with that block's index (SDK accumulators key on the index).
Arguments that arrive before the tool's name are held until the block can open.
A malformed chunk raises ``UpstreamProtocolError``.
``finish_reason`` is held until the usage chunk (the request forced ``include_usage``), then
``message_delta`` + ``message_stop`` are emitted; ``[DONE]`` or ``finish()`` force the same flush for
servers that never send usage.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from fastgw.backends.llm.translate.errors import MALFORMED, anthropic_error, anthropic_error_object_from_openai
from fastgw.backends.llm.translate.wire import (
    DONE_PAYLOAD,
    STREAM_STOP_FROM_FINISH,
    anthropic_event,
    anthropic_usage_block,
)
from fastgw.backends.llm.usage import usage_from_openai
from fastgw.errors import UpstreamProtocolError
from fastgw.native import SSEEvent
from fastgw.telemetry.usage import Usage

_DELTA_HEAD: Final = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT: Final = b',"delta":{"type":"text_delta","text":'
_THINKING: Final = b',"delta":{"type":"thinking_delta","thinking":'
_JSON: Final = b',"delta":{"type":"input_json_delta","partial_json":'
_DELTA_END: Final = b"}}\n\n"
_STOP_HEAD: Final = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
_STOP_END: Final = b"}\n\n"
_MESSAGE_STOP: Final = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


class OpenAIFromAnthropicStream:
    """State machine for one streamed response; ``usage`` and ``model`` are readable at any time."""

    __slots__ = (
        "_done",
        "_errored",
        "_finish",
        "_next_block",
        "_open_block",
        "_open_kind",
        "_pending_args",
        "_tool_ids",
        "_tools",
        "has_usage",
        "id",
        "model",
        "usage",
    )

    def __init__(self, model: str = "", message_id: str = "") -> None:
        self.model = model
        self.id = message_id
        self.usage = Usage()
        self.has_usage = False
        self._finish: str | None = None
        self._next_block = 0
        self._open_kind = ""  # "", "text", "thinking" or "tool"
        self._open_block = -1
        self._tools: dict[int, int] = {}  # OpenAI tool index -> content block index
        self._tool_ids: dict[int, str] = {}
        self._pending_args: dict[int, list[str]] = {}
        self._done = False
        self._errored = False

    @property
    def usage_final(self) -> bool:
        """OpenAI chunks bring usage once, final."""
        return self.has_usage

    def feed_events(self, events: list[SSEEvent]) -> bytes:
        """Client bytes for the events of one upstream read."""
        return b"".join([self.feed(ev.event, ev.data) for ev in events])

    def feed(self, event: str, data: bytes) -> bytes:
        if self._done or self._errored:
            return b""
        if data == DONE_PAYLOAD:
            return self.finish()
        try:
            return self._feed(orjson.loads(data))
        except MALFORMED as exc:
            raise UpstreamProtocolError(f"malformed chat completion chunk: {exc}") from None

    def _feed(self, chunk: dict[str, Any]) -> bytes:
        error = chunk.get("error")
        if isinstance(error, dict):
            self._errored = True
            return anthropic_event(b"error", anthropic_error_object_from_openai(500, error))
        out: list[bytes] = []
        if not self.id:
            self._start(chunk, out)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage)
            self.has_usage = True
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                self._choice(choice, out)
        if self._finish is not None and self.has_usage:
            self._end(out)
        return b"".join(out)

    def finish(self) -> bytes:
        """End of the upstream stream: flush the message if it never completed."""
        if self._done or self._errored:
            return b""
        out: list[bytes] = []
        if not self.id:
            self._errored = True
            error = anthropic_error(502, "upstream stream ended before any data", "api_error")
            return anthropic_event(b"error", error)
        self._end(out)
        return b"".join(out)

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self.id = str(chunk.get("id") or "msg_gateway")
        self.model = str(chunk.get("model") or self.model)
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(anthropic_event(b"message_start", {"type": "message_start", "message": message}))

    def _choice(self, choice: dict[str, Any], out: list[bytes]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._open_kind != "thinking":
                self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            out.append(_delta(self._open_block, _THINKING, reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            if self._open_kind != "text":
                self._open("text", {"type": "text", "text": ""}, out)
            out.append(_delta(self._open_block, _TEXT, content))
        for call in delta.get("tool_calls") or ():
            self._tool_call(call, out)
        finish = choice.get("finish_reason")
        if finish:
            self._finish = STREAM_STOP_FROM_FINISH.get(finish, "end_turn")

    def _open(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        self._close(out)
        self._open_kind = kind
        self._open_block = self._next_block
        self._next_block += 1
        event = {"type": "content_block_start", "index": self._open_block, "content_block": block}
        out.append(anthropic_event(b"content_block_start", event))

    def _close(self, out: list[bytes]) -> None:
        if self._open_kind:
            out.append(_STOP_HEAD + str(self._open_block).encode() + _STOP_END)
            self._open_kind = ""

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        arguments = function.get("arguments") or ""
        block = self._tools.get(index)
        if block is None:
            if call.get("id"):
                self._tool_ids[index] = call["id"]
            name = function.get("name")
            if not name:
                if arguments:
                    self._pending_args.setdefault(index, []).append(arguments)
                return
            tool = {
                "type": "tool_use",
                "id": self._tool_ids.get(index) or f"tool_call_{index}",
                "name": name,
                "input": {},
            }
            self._open("tool", tool, out)
            block = self._tools[index] = self._open_block
            held = self._pending_args.pop(index, None)
            if held:
                arguments = "".join(held) + arguments
        if arguments:
            out.append(_delta(block, _JSON, arguments))

    def _end(self, out: list[bytes]) -> None:
        self._close(out)
        payload = {
            "type": "message_delta",
            "delta": {"stop_reason": self._finish or "end_turn", "stop_sequence": None},
            "usage": anthropic_usage_block(self.usage),
        }
        out.append(anthropic_event(b"message_delta", payload))
        out.append(_MESSAGE_STOP)
        self._done = True


def _delta(index: int, kind: bytes, text: str) -> bytes:
    return _DELTA_HEAD + str(index).encode() + kind + orjson.dumps(text) + _DELTA_END
