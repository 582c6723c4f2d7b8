"""Token usage: one normalized record, extracted from OpenAI (chat and Responses) and Anthropic
responses and streams.

Normalization (agentgateway ``llm.inputTokens``): ``input_tokens`` counts every prompt token, cached or not.
OpenAI's ``prompt_tokens`` already does; Anthropic's ``input_tokens`` excludes cache reads and writes, so
those are added back. ``cache_read_tokens``/``cache_write_tokens`` are subsets of ``input_tokens`` and
``reasoning_tokens`` is a subset of ``output_tokens``.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
import orjson

from fastgw.backends.llm.types import (
    ANTHROPIC_RESPONSE_VIEW_DECODER,
    OPENAI_RESPONSE_VIEW_DECODER,
    AnthropicUsageView,
    OpenAIUsageView,
)
from fastgw.errors import Dialect
from fastgw.native import body_usage
from fastgw.telemetry.usage import Usage


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def usage_from_openai(usage: Any) -> Usage:
    """From an OpenAI ``usage`` object (dict); missing or null fields count as 0."""
    if not isinstance(usage, dict):
        return Usage()
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = completion if isinstance(completion, dict) else {}
    return Usage(
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        cache_read_tokens=_int(prompt.get("cached_tokens")),
        cache_write_tokens=_int(prompt.get("cache_write_tokens")),
        reasoning_tokens=_int(completion.get("reasoning_tokens")),
    )


def usage_from_anthropic(usage: Any) -> Usage:
    """From an Anthropic ``usage`` object (dict)."""
    if not isinstance(usage, dict):
        return Usage()
    # update_from_anthropic applied to a zero record, spelled out (a whole response's hot path)
    get = usage.get
    uncached = get("input_tokens")
    read = get("cache_read_input_tokens")
    write = get("cache_creation_input_tokens")
    output = get("output_tokens")
    read = read if type(read) is int else 0
    write = write if type(write) is int else 0
    return Usage(
        input_tokens=(uncached if type(uncached) is int else 0) + read + write,
        output_tokens=output if type(output) is int else 0,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def usage_from_responses(usage: Any) -> Usage:
    """From a Responses API ``usage`` object: ``input_tokens`` already counts cached ones (OpenAI's
    convention), ``input_tokens_details.cached_tokens`` and ``output_tokens_details.reasoning_tokens``
    are subsets."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("input_tokens_details")
    output = usage.get("output_tokens_details")
    details = details if isinstance(details, dict) else {}
    output = output if isinstance(output, dict) else {}
    return Usage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=_int(details.get("cached_tokens")),
        cache_write_tokens=_int(details.get("cache_write_tokens")),
        reasoning_tokens=_int(output.get("reasoning_tokens")),
    )


def usage_in(dialect: Dialect, usage: Any) -> Usage:
    """A ``usage`` object of ``dialect``'s answers, normalized."""
    if dialect is Dialect.ANTHROPIC:
        return usage_from_anthropic(usage)
    if dialect is Dialect.RESPONSES:
        return usage_from_responses(usage)
    return usage_from_openai(usage)


def update_from_anthropic(target: Usage, usage: dict[str, Any]) -> None:
    """Merge an Anthropic usage object into ``target``; fields absent or null keep their old value.

    ``message_delta`` carries cumulative counts, so a present field replaces rather than adds.
    """
    uncached = usage.get("input_tokens")
    read = usage.get("cache_read_input_tokens")
    write = usage.get("cache_creation_input_tokens")
    output = usage.get("output_tokens")
    if type(uncached) is int or type(read) is int or type(write) is int:
        if type(uncached) is not int:
            uncached = target.uncached_input_tokens
        if type(read) is int:
            target.cache_read_tokens = read
        if type(write) is int:
            target.cache_write_tokens = write
        target.input_tokens = uncached + target.cache_read_tokens + target.cache_write_tokens
    if type(output) is int:
        target.output_tokens = output


def _from_openai_view(view: OpenAIUsageView) -> Usage:
    prompt = view.prompt_tokens_details
    completion = view.completion_tokens_details
    return Usage(
        input_tokens=view.prompt_tokens or 0,
        output_tokens=view.completion_tokens or 0,
        cache_read_tokens=(prompt.cached_tokens or 0) if prompt else 0,
        cache_write_tokens=(prompt.cache_write_tokens or 0) if prompt else 0,
        reasoning_tokens=(completion.reasoning_tokens or 0) if completion else 0,
    )


def _from_anthropic_view(view: AnthropicUsageView) -> Usage:
    read = view.cache_read_input_tokens or 0
    write = view.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=(view.input_tokens or 0) + read + write,
        output_tokens=view.output_tokens or 0,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def openai_body_usage(body: bytes) -> tuple[Usage | None, str | None]:
    """(usage, model) of a non-streaming OpenAI response body; (None, None) if it is not JSON."""
    got = body_usage(body, False, Usage)  # (read natively when it can vouch for the answer)
    if got is not None:
        return got
    try:
        view = OPENAI_RESPONSE_VIEW_DECODER.decode(body)
    except msgspec.DecodeError:
        return None, None
    usage = view.usage
    return (_from_openai_view(usage) if usage else None), view.model


def anthropic_body_usage(body: bytes) -> tuple[Usage | None, str | None]:
    """(usage, model) of a non-streaming Anthropic response body; (None, None) if it is not JSON."""
    got = body_usage(body, True, Usage)
    if got is not None:
        return got
    try:
        view = ANTHROPIC_RESPONSE_VIEW_DECODER.decode(body)
    except msgspec.DecodeError:
        return None, None
    usage = view.usage
    return (_from_anthropic_view(usage) if usage else None), view.model


def responses_body_usage(body: bytes) -> tuple[Usage | None, str | None]:
    """(usage, model) of a non-streaming Responses API answer (a ``response`` object)."""
    value = _loads_dict(body)
    if not value:
        return None, None
    model = value.get("model")
    usage = value.get("usage")
    return (usage_from_responses(usage) if isinstance(usage, dict) else None), (
        model if isinstance(model, str) else None
    )


def body_usage_in(dialect: Dialect, body: bytes) -> tuple[Usage | None, str | None]:
    """(usage, model) of a non-streaming answer in ``dialect``."""
    if dialect is Dialect.ANTHROPIC:
        return anthropic_body_usage(body)
    if dialect is Dialect.RESPONSES:
        return responses_body_usage(body)
    return openai_body_usage(body)


# the ends of a large same-format answer kept to read its usage and model (BodyEnds)
_ENDS_HEAD: Final = 4 * 1024
_ENDS_TAIL: Final = 64 * 1024
_MODEL_MEMBER: Final = re.compile(rb'"model"\s*:\s*("(?:[^"\\]|\\.)*")')


class BodyEnds:
    """The start and the end of a same-format answer too large to hold, streamed through to the
    client: its usage is near the end (OpenAI and Anthropic both write it last) and its model near
    the start, so bounded memory is enough to read both, whatever the answer's size."""

    __slots__ = ("_head", "_tail", "_tail_size", "_whole")

    def __init__(self) -> None:
        self._head = b""
        self._tail: list[bytes] = []
        self._tail_size = 0
        self._whole = True  # nothing dropped yet: the tail is the whole body

    def add(self, chunk: bytes) -> None:
        if len(self._head) < _ENDS_HEAD:
            self._head += chunk[: _ENDS_HEAD - len(self._head)]
        tail = self._tail
        tail.append(chunk)
        self._tail_size += len(chunk)
        while len(tail) > 1 and self._tail_size - len(tail[0]) >= _ENDS_TAIL:
            self._tail_size -= len(tail.pop(0))
            self._whole = False

    def usage(self, dialect: Dialect) -> tuple[Usage | None, str | None]:
        """(usage, model) of the answer, as far as its ends tell."""
        body = b"".join(self._tail)
        if self._whole:
            return body_usage_in(dialect, body)
        usage: Usage | None = None
        # the last one: the answer's own, not one inside its content
        found = max(_USAGE_OBJECT.finditer(body), key=lambda m: m.start(), default=None)
        if found is not None:
            member = _object_at(body, found.end() - 1)
            if member is not None:
                usage = usage_in(dialect, _loads_dict(member))
        model: str | None = None
        named = _MODEL_MEMBER.search(self._head)
        if named is not None:
            try:
                text = orjson.loads(named.group(1))
            except orjson.JSONDecodeError:
                text = None
            model = text if isinstance(text, str) else None
        return usage, model


def _object_at(data: bytes, start: int) -> bytes | None:
    """The JSON object starting at `start` (a `{`), up to its matching brace, or None if it is
    not complete in `data`."""
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(data)):
        c = data[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return data[start : i + 1]
    return None


# Cheap pre-filter: most chunks say `"usage":null` or nothing; only an object is worth a JSON parse.
_USAGE_OBJECT: Final = re.compile(rb'"usage"\s*:\s*\{')
_DONE: Final = b"[DONE]"


class OpenAIStreamSniffer:
    """Reads usage and model from an OpenAI chunk stream that is forwarded unchanged.

    ``observe`` returns whether the event should reach the client: always True unless
    ``drop_usage_chunk`` is set (the gateway forced ``include_usage`` on a client that did not ask for it)
    and the event is the usage-only chunk (``choices: []``).
    """

    __slots__ = ("_first", "drop_usage_chunk", "model", "usage")

    def __init__(self, drop_usage_chunk: bool = False) -> None:
        self.drop_usage_chunk = drop_usage_chunk
        self.usage: Usage | None = None
        self.model: str | None = None
        self._first = True

    def observe(self, event: str, data: bytes) -> bool:
        if self._first and data != _DONE:
            self._first = False
            chunk = _loads_dict(data)
            model = chunk.get("model")
            if isinstance(model, str):
                self.model = model
            return self._take_usage(chunk) if _USAGE_OBJECT.search(data) else True
        if _USAGE_OBJECT.search(data) is None:
            return True
        return self._take_usage(_loads_dict(data))

    def _take_usage(self, chunk: dict[str, Any]) -> bool:
        usage = chunk.get("usage")
        if not isinstance(usage, dict):
            return True
        self.usage = usage_from_openai(usage)
        return not (self.drop_usage_chunk and not chunk.get("choices"))


class AnthropicStreamSniffer:
    """Reads usage and model from an Anthropic event stream that is forwarded unchanged.

    Only ``message_start`` and ``message_delta`` are parsed; content deltas are skipped by event name.
    ``final`` says message_delta brought the final counts (message_start's output count is a placeholder).
    """

    __slots__ = ("final", "model", "stop_reason", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.final = False

    def observe(self, event: str, data: bytes) -> bool:
        if event == "message_start":
            message = _loads_dict(data).get("message")
            if isinstance(message, dict):
                model = message.get("model")
                self.model = model if isinstance(model, str) else self.model
                self._merge(message.get("usage"))
        elif event == "message_delta":
            payload = _loads_dict(data)
            delta = payload.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            usage = payload.get("usage")
            self._merge(usage)
            self.final = self.final or isinstance(usage, dict)
        return True

    def _merge(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        if self.usage is None:
            self.usage = Usage()
        update_from_anthropic(self.usage, usage)


# the Responses stream events that carry the final response object (with its usage)
_RESPONSE_FINAL: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesStreamSniffer:
    """Reads usage and model from a Responses API event stream forwarded unchanged: the model from
    ``response.created``, the usage from the terminal ``response.completed`` (or ``.incomplete``,
    ``.failed``) event's response object. Every other event is skipped by name."""

    __slots__ = ("final", "model", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model: str | None = None
        self.final = False

    def observe(self, event: str, data: bytes) -> bool:
        if event == "response.created" or event in _RESPONSE_FINAL:
            response = _loads_dict(data).get("response")
            if isinstance(response, dict):
                model = response.get("model")
                self.model = model if isinstance(model, str) else self.model
                usage = response.get("usage")
                if isinstance(usage, dict):
                    self.usage = usage_from_responses(usage)
                    self.final = True
        return True


def _loads_dict(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
