"""The test-only SSE parser the chunking tests rely on."""

from __future__ import annotations

from tests.backends.llm.sse_util import SseParser, parse_all


def test_line_endings_comments_and_multiline_data() -> None:
    raw = b": comment\r\nevent: a\rdata: 1\ndata:2\r\n\r\nid: 7\ndata: x\n\nevent: empty\n\n"
    assert parse_all([raw]) == [("a", b"1\n2"), ("", b"x")]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    # The lone CR already ends the blank line; the LF that follows completes that CRLF, not a new line.
    assert parser.feed(b"\n\r") == [("", b"a")]
    assert parser.feed(b"\ndata: b\n\n") == [("", b"b")]
