"""Twin of native/json.c: some members of a small JSON object, read without decoding it.

The contract (what the native function vouches for, and when it answers None) is in the comment at
the top of native/json.c; tests/native/test_json_native.py checks that the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

_WS: Final = re.compile(rb"[ \t\n\r]*")
# the escapes orjson.dumps itself writes for these characters, and nothing else
_STRING: Final = re.compile(rb'"(?:[^"\\\x00-\x1f]|\\["\\nrtbf])*"')
_INTEGER: Final = re.compile(rb"-?(?:0|[1-9][0-9]*)")
_LITERALS: Final = (b"true", b"false", b"null")
_MAX_DEPTH: Final = 64

_T = TypeVar("_T")


class _Unsure(Exception):
    pass


def _ws(data: bytes, i: int) -> int:
    m = _WS.match(data, i)
    return m.end() if m is not None else i


def _string(data: bytes, i: int) -> int:
    m = _STRING.match(data, i)
    if m is None:
        raise _Unsure
    return m.end()


def _object(data: bytes, i: int, depth: int, names: tuple[bytes, ...], found: list[tuple[int, int] | None]) -> int:
    if depth >= _MAX_DEPTH or data[i : i + 1] != b"{":
        raise _Unsure
    i = _ws(data, i + 1)
    if data[i : i + 1] == b"}":
        return i + 1
    while True:
        if data[i : i + 1] != b'"':
            raise _Unsure
        end = _string(data, i)
        key = data[i + 1 : end - 1]
        i = _ws(data, end)
        if data[i : i + 1] != b":":
            raise _Unsure
        start = i = _ws(data, i + 1)
        i = _value(data, i, depth + 1)
        for k, name in enumerate(names):
            if name == key:
                found[k] = (start, i)
        i, closed = _after_item(data, i, b"}")
        if closed:
            return i


def _after_item(data: bytes, i: int, close: bytes) -> tuple[int, bool]:
    """After an array item or an object member: (past `close`, True), or (past the comma and the
    white space after it, False)."""
    i = _ws(data, i)
    nxt = data[i : i + 1]
    if nxt == close:
        return i + 1, True
    if nxt != b",":
        raise _Unsure
    return _ws(data, i + 1), False


def _value(data: bytes, i: int, depth: int) -> int:
    c = data[i : i + 1]
    if c == b'"':
        return _string(data, i)
    if c == b"{":
        return _object(data, i, depth, (), [])
    if c == b"[":
        if depth >= _MAX_DEPTH:
            raise _Unsure
        i = _ws(data, i + 1)
        if data[i : i + 1] == b"]":
            return i + 1
        while True:
            i, closed = _after_item(data, _value(data, i, depth + 1), b"]")
            if closed:
                return i
    for lit in _LITERALS:
        if data.startswith(lit, i):
            return i + len(lit)
    m = _INTEGER.match(data, i)
    if m is None or m.end() - i > 15 or data[m.end() : m.end() + 1] in (b".", b"e", b"E"):
        raise _Unsure
    return m.end()


def json_get(data: bytes, outer: bytes, names: tuple[bytes, ...]) -> tuple[bytes | None, ...] | None:
    if type(data) is not bytes or type(outer) is not bytes or type(names) is not tuple:
        raise TypeError("json_get(data: bytes, outer: bytes, names: tuple[bytes, ...])")
    if len(names) > 8:
        raise ValueError("json_get: at most 8 names")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found: list[tuple[int, int] | None] = [None] * len(names)
    try:
        if outer:
            spans: list[tuple[int, int] | None] = [None]
            i = _object(data, _ws(data, 0), 0, (outer,), spans)
            if _ws(data, i) != len(data) or spans[0] is None:
                return None
            start, end = spans[0]
            if data[start : start + 1] != b"{":
                return None
            inner = data[:end]  # (offsets stay those of data)
            _object(inner, start, 1, names, found)
        else:
            i = _object(data, _ws(data, 0), 0, names, found)
            if _ws(data, i) != len(data):
                return None
    except _Unsure:
        return None
    return tuple(None if span is None else data[span[0] : span[1]] for span in found)


_OPENAI_COUNTS: Final = (
    b"prompt_tokens",
    b"completion_tokens",
    b"prompt_tokens_details",
    b"completion_tokens_details",
)
_ANTHROPIC_COUNTS: Final = (
    b"input_tokens",
    b"output_tokens",
    b"cache_read_input_tokens",
    b"cache_creation_input_tokens",
)


def _members(raw: bytes | None, names: tuple[bytes, ...]) -> tuple[bytes | None, ...] | None:
    """The members of a value json_get vouched for: all None when it is absent or null, None
    when it is not an object."""
    if raw is None or raw == b"null":
        return (None,) * len(names)
    if not raw.startswith(b"{"):
        return None
    return json_get(raw, b"", names)


def _count(raw: bytes | None) -> int | None:
    """An integer member (absent and null count 0); None for another type."""
    if raw is None or raw == b"null":
        return 0
    return int(raw) if _INTEGER.fullmatch(raw) else None


def body_usage(
    data: bytes, anthropic: bool, make: Callable[[int, int, int, int, int], _T]
) -> tuple[_T | None, str | None] | None:
    if type(data) is not bytes:
        raise TypeError("body_usage(data: bytes, anthropic: bool, make: Callable)")
    top = json_get(data, b"", (b"model", b"usage"))
    if top is None:
        return None
    model_raw, usage_raw = top
    if model_raw is not None and model_raw != b"null" and (not model_raw.startswith(b'"') or b"\\" in model_raw):
        return None
    counts = _members(usage_raw, _ANTHROPIC_COUNTS if anthropic else _OPENAI_COUNTS)
    if counts is None:
        return None
    if anthropic:
        values = [_count(raw) for raw in counts]
        if None in values:
            return None
        uncached, output, read, write = cast(list[int], values)
        numbers = [uncached + read + write, output, read, write, 0]
    else:
        prompt = _members(counts[2], (b"cached_tokens", b"cache_write_tokens"))
        completion = _members(counts[3], (b"reasoning_tokens",))
        if prompt is None or completion is None:
            return None
        values = [_count(raw) for raw in (counts[0], counts[1], *prompt, *completion)]
        if None in values:
            return None
        numbers = cast(list[int], values)
    has_usage = usage_raw is not None and usage_raw != b"null"
    model = None if model_raw is None or model_raw == b"null" else model_raw[1:-1].decode()
    return (make(*numbers) if has_usage else None), model


_MESSAGE: Final = (b"id", b"model", b"content", b"stop_reason", b"usage", b"service_tier")


def _one_object(raw: bytes) -> bytes | None:
    """The one element of a vouched-for array when it is an object, else None."""
    if not raw.startswith(b"["):
        return None
    i = _ws(raw, 1)
    if raw[i : i + 1] != b"{":
        return None
    end = _value(raw, i, 1)
    j = _ws(raw, end)
    return raw[i:end] if j + 1 == len(raw) and raw[j:] == b"]" else None


def _lenient(raw: bytes | None) -> int:
    """A count as usage_from_anthropic reads it: an int, or 0 for anything else."""
    return int(raw) if raw is not None and _INTEGER.fullmatch(raw) else 0


def text_message(
    data: bytes, created: int, finish: dict[bytes | None, bytes], make: Callable[[int, int, int, int, int], _T]
) -> tuple[bytes, _T, str | None] | None:
    if type(data) is not bytes or type(created) is not int or type(finish) is not dict:
        raise TypeError("text_message(data: bytes, created: int, finish: dict, make: Callable)")
    top = json_get(data, b"", _MESSAGE)
    if top is None:
        return None
    id_, model, content, stop, usage, tier = top
    if (id_ is not None and not id_.startswith(b'"')) or (model is not None and not model.startswith(b'"')):
        return None
    block = _one_object(content) if content is not None else None
    if block is None:
        return None
    kind, text = cast(tuple[bytes | None, bytes | None], json_get(block, b"", (b"type", b"text")))
    if kind != b'"text"' or (text is not None and not text.startswith(b'"')):
        return None
    reason = None
    if stop is not None and stop not in (b"null", b'""'):
        if not stop.startswith(b'"'):
            return None
        reason = finish.get(stop, finish.get(None))
        if type(reason) is not bytes:
            raise ValueError("text_message: finish needs bytes values and a None default")
    if tier == b"null":
        tier = None
    if tier is not None and not tier.startswith(b'"'):
        return None
    counts = json_get(usage, b"", _ANTHROPIC_COUNTS) if usage is not None and usage.startswith(b"{") else None
    uncached, output, read, write = (_lenient(raw) for raw in counts or (None, None, None, None))
    if model is not None and b"\\" in model:
        return None
    total = uncached + read + write
    out = [
        b'{"id":',
        id_ or b'""',
        b',"object":"chat.completion","created":%d,"model":' % created,
        model or b'""',
        b',"choices":[{"index":0,"message":{"role":"assistant","content":',
        text or b'""',
        b'},"logprobs":null,"finish_reason":',
        reason or b"null",
        b'}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d' % (total, output, total + output),
        b',"prompt_tokens_details":{"cached_tokens":%d' % read,
        b',"cache_write_tokens":%d}}' % write if write else b"}}",
        b',"service_tier":' + tier if tier is not None else b"",
        b"}",
    ]
    return b"".join(out), make(total, output, read, write, 0), None if model is None else model[1:-1].decode()


def delta_chunks(
    events: list[Any],
    start: int,
    name: str,
    outer: bytes,
    kind: bytes,
    member: bytes,
    prefix: bytes,
    head: bytes,
    tail: bytes,
) -> tuple[bytes, int]:
    out: list[bytes] = []
    i = max(start, 0)
    while i < len(events):
        ev = events[i]
        if ev[0] != name:
            break
        got = json_get(ev[1], outer, (b"type", member))
        if got is None or got[0] != kind or got[1] is None or got[1][:1] != b'"':
            break
        out += (prefix, head, got[1], tail)
        i += 1
    return b"".join(out), i
