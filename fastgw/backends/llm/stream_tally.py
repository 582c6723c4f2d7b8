"""Output tokens of a chat stream, counted as it passes, for when the provider's own count is
missing: an OpenAI-compatible server that ignores `include_usage`, a stream the client abandoned
or the provider cut before its final usage.

Memory is bounded whatever the stream's length: the events are held (by reference) until about
`BATCH` bytes of stream have passed, then their text is counted with the gateway's tokenizer (the
native streaming counter) and dropped. A stream whose provider reports usage at the end, the usual
case, never counts anything unless it is long; counting a batch takes a fraction of a millisecond,
so the loop is never held for long.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

import orjson

from fastgw.errors import Dialect
from fastgw.tokens.tokenizer import Tokenizer

# bytes of stream held before their text is counted and the events dropped
BATCH: Final = 64 * 1024

_OPENAI_TEXT: Final = ("content", "reasoning_content", "reasoning")
_ANTHROPIC_TEXT: Final = ("text", "thinking", "partial_json")


class _Counter(Protocol):
    def feed(self, text: str) -> None: ...
    def total(self) -> int: ...


class StreamTally:
    """The running output token count of one chat stream (OpenAI chunks, Anthropic or Responses events)."""

    __slots__ = ("_count", "_dialect", "_held", "_size", "_tokenizer")

    def __init__(self, dialect: Dialect, tokenizer: Tokenizer) -> None:
        self._dialect = dialect
        self._tokenizer = tokenizer
        self._held: list[Any] = []
        self._size = 0
        self._count: _Counter | None = None  # the tokenizer's stream, made on the first count

    def add(self, events: Sequence[Any], size: int) -> None:
        """The events (SSEEvent: name, data, ...) of `size` bytes of stream."""
        self._held += events
        self._size += size
        if self._size > BATCH:
            self._flush()

    def output_tokens(self) -> int:
        """Tokens of the text streamed so far."""
        self._flush()
        count = self._count
        return count.total() if count is not None else 0

    def _flush(self) -> None:
        held = self._held
        self._held = []
        self._size = 0
        dialect = self._dialect
        if dialect is Dialect.ANTHROPIC:
            texts = anthropic_texts(held)
        elif dialect is Dialect.RESPONSES:
            texts = responses_texts(held)
        else:
            texts = openai_texts(held)
        if texts:
            count = self._count
            if count is None:
                count = self._count = self._tokenizer.stream()
            count.feed("".join(texts))


def openai_texts(events: Sequence[Any]) -> list[str]:
    """The generated text of OpenAI chat chunks: content, reasoning and tool calls."""
    texts: list[str] = []
    for ev in events:
        data = ev[1]
        if not data.startswith(b"{"):
            continue  # [DONE]
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        choices = chunk.get("choices") if type(chunk) is dict else None
        if type(choices) is not list:
            continue
        for choice in choices:
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is not dict:
                continue
            for key in _OPENAI_TEXT:
                text = delta.get(key)
                if type(text) is str:
                    texts.append(text)
            calls = delta.get("tool_calls")
            if type(calls) is list:
                for call in calls:
                    function = call.get("function") if type(call) is dict else None
                    if type(function) is dict:
                        for key in ("name", "arguments"):
                            text = function.get(key)
                            if type(text) is str:
                                texts.append(text)
    return texts


def anthropic_texts(events: Sequence[Any]) -> list[str]:
    """The generated text of Anthropic message events: text, thinking and tool input deltas, and
    the names of the tools called."""
    texts: list[str] = []
    for ev in events:
        name = ev[0]
        if name != "content_block_delta" and name != "content_block_start":
            continue
        try:
            payload = orjson.loads(ev[1])
        except orjson.JSONDecodeError:
            continue
        if type(payload) is not dict:
            continue
        part = payload.get("delta") if name == "content_block_delta" else payload.get("content_block")
        if type(part) is not dict:
            continue
        for key in _ANTHROPIC_TEXT if name == "content_block_delta" else ("name",):
            text = part.get(key)
            if type(text) is str:
                texts.append(text)
    return texts


# the Responses events whose `delta` is generated text (answer, reasoning, tool-call arguments)
_RESPONSES_DELTAS: Final = frozenset(
    {
        "response.output_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.function_call_arguments.delta",
        "response.refusal.delta",
    }
)


def responses_texts(events: Sequence[Any]) -> list[str]:
    """The generated text of Responses API events (picked by event name, then parsed)."""
    texts: list[str] = []
    for ev in events:
        if ev[0] not in _RESPONSES_DELTAS:
            continue
        try:
            payload = orjson.loads(ev[1])
        except orjson.JSONDecodeError:
            continue
        delta = payload.get("delta") if type(payload) is dict else None
        if type(delta) is str:
            texts.append(delta)
    return texts
