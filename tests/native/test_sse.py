"""The SSE scanner against the WHATWG event-stream rules, each case fed whole, byte by byte and split
at every point; plus size limits, end of stream and the provider transcripts."""

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fastgw import native
from fastgw.native_errors import SSEEventTooLarge

DATA = Path(__file__).parent / "data"

Ev = tuple[str, bytes, str | None, int | None]

CASES: list[tuple[str, bytes, list[Ev]]] = [
    ("lf", b"data: hi\n\n", [("message", b"hi", None, None)]),
    ("crlf", b"data: hi\r\n\r\n", [("message", b"hi", None, None)]),
    ("cr", b"data: hi\r\rdata: two\r\r", [("message", b"hi", None, None), ("message", b"two", None, None)]),
    ("mixed", b"data: a\r\ndata: b\rdata: c\n\r\n", [("message", b"a\nb\nc", None, None)]),
    ("cr then lf is one terminator", b"data: a\r\n\n", [("message", b"a", None, None)]),
    ("lf then cr is two", b"data: a\n\r", [("message", b"a", None, None)]),
    ("spec: stock ticker", b"data: YHOO\ndata: +2\ndata: 10\n\n", [("message", b"YHOO\n+2\n10", None, None)]),
    (
        "spec: ids and spaces",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
        [
            ("message", b"first event", "1", None),
            ("message", b"second event", None, None),
            ("message", b" third event", None, None),
        ],
    ),
    (
        "spec: bare data lines",
        b"data\n\ndata\ndata\n\ndata:",
        [("message", b"", None, None), ("message", b"\n", None, None)],
    ),
    ("spec: one space stripped", b"data:test\n\ndata: test\n\n", [("message", b"test", None, None)] * 2),
    (
        "event names and reset",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        [("a", b"1", None, None), ("message", b"2", None, None)],
    ),
    ("last event field wins", b"event: a\nevent: b\ndata: x\n\n", [("b", b"x", None, None)]),
    ("empty event field", b"event:\ndata: x\n\n", [("message", b"x", None, None)]),
    (
        "id persists",
        b"id: 7\ndata: a\n\ndata: b\n\n",
        [("message", b"a", "7", None), ("message", b"b", "7", None)],
    ),
    (
        "id with NUL ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [("message", b"a", "1", None), ("message", b"b", "1", None)],
    ),
    ("id set by a block without data", b"id: 9\n\ndata: a\n\n", [("message", b"a", "9", None)]),
    (
        "retry",
        b"retry: 1500\ndata: a\n\ndata: b\n\n",
        [("message", b"a", None, 1500), ("message", b"b", None, None)],
    ),
    (
        "bad retry ignored",
        b"retry: 15x\ndata: a\n\nretry:\ndata: b\n\nretry: -1\ndata: c\n\n",
        [("message", b"a", None, None), ("message", b"b", None, None), ("message", b"c", None, None)],
    ),
    (
        "huge retry",
        b"retry: 123456789012345678901234567890\ndata: a\n\n",
        [("message", b"a", None, 123456789012345678901234567890)],
    ),
    ("comments", b":c\ndata: a\n: c2\ndata: b\n:\n\n", [("message", b"a\nb", None, None)]),
    (
        "unknown and case-sensitive fields",
        b"Data: no\nfoo: bar\ndata : no\ndata: yes\n\n",
        [("message", b"yes", None, None)],
    ),
    ("colon in value", b"data: a: b:c\n\n", [("message", b"a: b:c", None, None)]),
    ("bom", b"\xef\xbb\xbfdata: a\n\n", [("message", b"a", None, None)]),
    ("only one bom", b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", [("message", b"b", None, None)]),
    ("bom prefix is content", b"\xef\xbbdata: a\n\n\xef\xbb\xbfdata: b\n\n", []),
    ("binary data kept raw", b"data: \xff\x00\xfe\n\n", [("message", b"\xff\x00\xfe", None, None)]),
    ("bad utf-8 event name", b"event: \xffx\ndata: a\n\n", [("\ufffdx", b"a", None, None)]),
    ("unfinished event discarded", b"data: a\n\ndata: b\n", [("message", b"a", None, None)]),
    ("no data, no event", b"event: ping\n\nretry: 5\n\n: keepalive\n\n\n\n", []),
]


def chunkings(stream: bytes) -> list[list[bytes]]:
    whole = [[stream], [stream[i : i + 1] for i in range(len(stream))]]
    return whole + [[stream[:i], stream[i:]] for i in range(1, len(stream))]


def as_tuples(events: list[Any]) -> list[Ev]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


@pytest.mark.parametrize(("name", "stream", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rules_in_every_chunking(impl: ModuleType, name: str, stream: bytes, expected: list[Ev]) -> None:
    for chunks in chunkings(stream):
        s = impl.SSEScanner()
        events = [e for c in chunks for e in s.feed(c)]
        assert as_tuples(events) == expected, (name, chunks)
        assert s.close() == []


def test_event_objects(impl: ModuleType) -> None:
    (ev,) = impl.SSEScanner().feed(b"event: e\nid: 3\nretry: 4\ndata: d\n\n")
    assert (ev.event, ev.data, ev.id, ev.retry) == ("e", b"d", "3", 4)
    assert ev == ("e", b"d", "3", 4)
    with pytest.raises((AttributeError, TypeError)):
        ev.data = b"x"
    assert isinstance(ev, tuple)
    (twin,) = (
        native.implementation("python" if impl.__name__ == "fastgw._native" else "native")
        .SSEScanner()
        .feed(b"event: e\nid: 3\nretry: 4\ndata: d\n\n")
    )
    assert twin == ev


def test_scanner_state_attributes(impl: ModuleType) -> None:
    s = impl.SSEScanner(max_event_size=100)
    assert (s.last_event_id, s.retry, s.empty_blocks, s.pending, s.max_event_size) == (None, None, 0, 0, 100)
    assert s.feed(b"id: x\nretry: 30\n\n: ping\n\ndata: ab") == []
    assert (s.last_event_id, s.retry, s.empty_blocks) == ("x", 30, 2)
    assert s.pending == 8  # the unfinished `data: ab` line
    assert s.close() == []  # spec: discarded at end of stream
    assert s.pending == 0
    assert s.feed(b"data: c\n\n") == [("message", b"c", "x", None)]  # the last event ID survives
    assert s.feed(b"id: y\ndata: d\n") == []
    assert s.last_event_id == "x"  # an id counts for resuming only once its block has ended
    assert s.feed(b"\n") == [("message", b"d", "y", None)]
    assert s.last_event_id == "y"


def test_feed_accepts_buffers(impl: ModuleType) -> None:
    s = impl.SSEScanner()
    assert s.feed(bytearray(b"data: a\n")) == []
    assert as_tuples(s.feed(memoryview(b"\ndata: b\n\n"))) == [
        ("message", b"a", None, None),
        ("message", b"b", None, None),
    ]
    with pytest.raises(TypeError):
        s.feed("data: str\n\n")


def test_size_limit_counts_field_lines_of_one_event(impl: ModuleType) -> None:
    s = impl.SSEScanner(max_event_size=10)
    assert as_tuples(s.feed(b"data: 1234\n\n")) == [("message", b"1234", None, None)]  # exactly 10 bytes
    assert as_tuples(s.feed(b"data:1\ndata\n\n")) == [("message", b"1\n", None, None)]  # 6 + 4
    assert s.feed(b": a comment far longer than ten bytes\ndata: ok\n\n") == [("message", b"ok", None, None)]
    with pytest.raises(SSEEventTooLarge, match="max_event_size"):
        s.feed(b"data: 12\ndata: 3\n\n")
    with pytest.raises(SSEEventTooLarge):  # the scanner cannot resynchronise
        s.feed(b"data: 1\n\n")
    assert issubclass(SSEEventTooLarge, ValueError)


def test_events_finished_before_an_oversized_one_are_delivered_with_the_error(impl: ModuleType) -> None:
    """One read may finish some events and then start one past the limit: the finished ones
    (usage, the answer's last words) still reach the caller, on the error."""
    s = impl.SSEScanner(max_event_size=16)
    with pytest.raises(SSEEventTooLarge) as info:
        s.feed(b"data: a\n\nevent: x\ndata: b\n\ndata: " + b"y" * 40 + b"\n\n")
    assert as_tuples(info.value.events) == [("message", b"a", None, None), ("x", b"b", None, None)]
    with pytest.raises(SSEEventTooLarge) as info:  # refused from then on, with nothing new
        s.feed(b"data: c\n\n")
    assert info.value.events == []


def test_size_limit_trips_on_an_unfinished_line(impl: ModuleType) -> None:
    s = impl.SSEScanner(max_event_size=64)
    s.feed(b"data: " + b"x" * 50)
    with pytest.raises(SSEEventTooLarge):
        s.feed(b"x" * 50)  # no line end yet, but holding it would pass the limit


def test_rejects_bad_limits(impl: ModuleType) -> None:
    with pytest.raises(ValueError):
        impl.SSEScanner(0)
    with pytest.raises(TypeError):
        impl.SSEScanner(1.5)


def test_openai_transcript(impl: ModuleType) -> None:
    stream = (DATA / "openai_chat.sse").read_bytes()
    for size in (1, 7, 64, 1000, len(stream)):
        s = impl.SSEScanner()
        events = [e for i in range(0, len(stream), size) for e in s.feed(stream[i : i + size])]
        assert len(events) == 52 and events[-1].data == b"[DONE]"
        assert {e.event for e in events} == {"message"}
        payloads = [json.loads(e.data) for e in events[:-1]]
        assert "".join(p["choices"][0]["delta"]["content"] for p in payloads[:-1]) == "".join(
            f" word{i}" for i in range(1, 50)
        )
        assert payloads[-1]["usage"]["completion_tokens"] == 50


def test_anthropic_transcript(impl: ModuleType) -> None:
    stream = (DATA / "anthropic_messages.sse").read_bytes()
    for size in (1, 7, 64, 1000, len(stream)):
        s = impl.SSEScanner()
        events = [e for i in range(0, len(stream), size) for e in s.feed(stream[i : i + size])]
        assert len(events) == 3 + 50 + 3
        assert [e.event for e in events[:3]] == ["message_start", "content_block_start", "ping"]
        assert all(json.loads(e.data)["type"] == e.event for e in events)
        assert events[-1].event == "message_stop"
