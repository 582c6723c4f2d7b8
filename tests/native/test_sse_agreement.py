"""Property tests: for random streams and random chunkings, the C scanner, the twin and the one-shot
feed all produce the same events, state and size-limit errors."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw import native
from fastgw.native_errors import SSEEventTooLarge

C = native.implementation("native")
PY = native.implementation("python")

_value = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")) | st.sampled_from(
    [b"", b" ", b"  x", b": y", b"1500", b"a\x00b", b"\xef\xbb\xbf", "é€😀".encode()]
)
_name = st.sampled_from([b"data", b"event", b"id", b"retry", b"", b"Data", b"foo", b"dat"])
_line = st.one_of(
    st.builds(lambda n, v: n + b":" + v, _name, _value),
    st.builds(lambda n, v: n + b": " + v, _name, _value),
    _name,
    st.builds(lambda v: b":" + v, _value),
    st.just(b""),
)
_eol = st.sampled_from([b"\n", b"\r", b"\r\n"])
_stream = st.builds(
    lambda bom, lines, tail: bom + b"".join(line + eol for line, eol in lines) + tail,
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb", b"\xef"]),
    st.lists(st.tuples(_line, _eol), max_size=40),
    _value,
)
_raw = st.binary(max_size=300)


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]


def _run(impl: Any, chunks: list[bytes], limit: int = 1 << 20) -> tuple[list[tuple[Any, ...]], bool, tuple[Any, ...]]:
    s = impl.SSEScanner(limit)
    events: list[tuple[Any, ...]] = []
    try:
        for c in chunks:
            events.extend(tuple(e) for e in s.feed(c))
    except SSEEventTooLarge as exc:
        # the events finished in the failing feed before the oversized one come with the error
        events.extend(tuple(e) for e in exc.events)
        return events, True, ()
    return events, False, (s.last_event_id, s.retry, s.empty_blocks, s.pending)


@settings(max_examples=400, deadline=None)
@given(stream=_stream | _raw, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_chunking_and_implementation_do_not_matter(stream: bytes, cuts: list[int]) -> None:
    whole = _run(C, [stream])
    assert _run(PY, [stream]) == whole
    chunks = _split(stream, cuts)
    assert _run(C, chunks) == whole
    assert _run(PY, chunks) == whole


@settings(max_examples=300, deadline=None)
@given(stream=_stream, cuts=st.lists(st.integers(min_value=0), max_size=12), limit=st.integers(1, 40))
def test_size_limit_trips_in_the_same_event_for_every_chunking(stream: bytes, cuts: list[int], limit: int) -> None:
    reference, _, _ = _run(C, [stream])
    whole = _run(C, [stream], limit)
    assert _run(PY, [stream], limit) == whole
    chunks = _split(stream, cuts)
    chunked = _run(C, chunks, limit)
    assert _run(PY, chunks, limit) == chunked
    # the error happens whatever the chunking, after the same events: every event finished
    # before the oversized one, none lost with the read that tripped the limit
    assert chunked == whole
    if whole[1]:
        assert whole[0] == reference[: len(whole[0])]


@settings(max_examples=100, deadline=None)
@given(stream=_stream)
def test_byte_by_byte(stream: bytes) -> None:
    chunks = [stream[i : i + 1] for i in range(len(stream))]
    assert _run(C, chunks) == _run(PY, chunks) == _run(C, [stream])
