"""Pure-Python twin of the incremental SSE scanner (native/sse.c), and its executable specification.

Rules: WHATWG HTML, section 9.2.6 "Interpreting an event stream". A line ends at LF, CR or CRLF (a
CRLF may be split across chunks); a blank line dispatches the block; ':' starts a comment; a field
line is `name: value` (one leading space of the value is dropped) or a bare `name` with an empty
value. `data` lines are joined with LF, `event` names the event ("message" when absent), `id` sets the
last event ID (ignored when it contains NUL; it persists across events), `retry` must be ASCII digits.
A block without data lines fires nothing (counted in empty_blocks). A leading UTF-8 BOM is skipped.

max_event_size bounds the bytes of one block's non-comment lines (terminators excluded) including
the unfinished line, so memory is bounded and the limit trips at the same place for every chunking;
comment lines are dropped as they arrive and never held. After SSEEventTooLarge the scanner refuses
further input (the stream cannot be resynchronised); the error's `events` are the events the failing
feed() finished before the oversized one. Event data stays raw bytes; event names and ids
are decoded as UTF-8 with replacement, as the spec decodes the whole stream.
"""

from __future__ import annotations

import operator
import re
from typing import Final, NamedTuple

from fastgw.native_errors import SSEEventTooLarge

_EOL: Final = re.compile(rb"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"


class SSEEvent(NamedTuple):
    event: str
    data: bytes
    id: str | None
    retry: int | None


class SSEScanner:
    __slots__ = (
        "_block_lines",
        "_block_retry",
        "_block_size",
        "_bom_seen",
        "_committed_id",
        "_data",
        "_empty_blocks",
        "_event",
        "_failed",
        "_id",
        "_in_comment",
        "_line",
        "_max",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, max_event_size: int = 1 << 20) -> None:
        self._max = operator.index(max_event_size)
        if self._max < 1:
            raise ValueError("max_event_size must be positive")
        self._line = bytearray()
        self._data = bytearray()
        self._event = b""
        self._id = b""
        self._committed_id: str | None = None
        self._retry: int | None = None
        self._block_retry: int | None = None
        self._block_size = 0
        self._block_lines = False
        self._empty_blocks = 0
        self._in_comment = False
        self._skip_lf = False
        self._bom_seen = 0
        self._failed = False

    @property
    def last_event_id(self) -> str | None:
        """The id to resume from (Last-Event-ID): the id buffer as of the last blank line."""
        return self._committed_id

    @property
    def retry(self) -> int | None:
        return self._retry

    @property
    def empty_blocks(self) -> int:
        return self._empty_blocks

    @property
    def pending(self) -> int:
        return self._block_size + len(self._line)

    @property
    def max_event_size(self) -> int:
        return self._max

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[SSEEvent]:
        if self._failed:
            self._too_large()
        buf = bytes(chunk)
        end = len(buf)
        p = 0
        if self._bom_seen >= 0:
            while p < end and self._bom_seen < 3 and buf[p] == _BOM[self._bom_seen]:
                p += 1
                self._bom_seen += 1
            if self._bom_seen == 3:
                self._bom_seen = -1
            elif p < end:  # not a BOM after all: the matched bytes start the first line
                seen, self._bom_seen = self._bom_seen, -1
                self._hold(_BOM[:seen])
        if self._skip_lf and p < end:
            self._skip_lf = False
            if buf[p] == 0x0A:
                p += 1
        out: list[SSEEvent] = []
        try:
            self._scan(buf, p, end, out)
        except SSEEventTooLarge as exc:
            exc.events = list(out)
            raise
        return out

    def _scan(self, buf: bytes, p: int, end: int, out: list[SSEEvent]) -> None:
        while p < end:
            m = _EOL.search(buf, p)
            if m is None:
                self._hold(buf[p:])
                break
            if self._in_comment:
                self._in_comment = False
            elif self._line:
                self._line += buf[p : m.start()]
                line = bytes(self._line)
                self._line.clear()
                self._process(line, out)
            else:
                self._process(buf[p : m.start()], out)
            p = m.end()
            if p == end and buf[p - 1] == 0x0D:
                self._skip_lf = True

    def close(self) -> list[SSEEvent]:
        """End of stream. The spec discards an unfinished event, so this always returns []."""
        self._reset_block()
        self._line.clear()
        self._in_comment = False
        self._skip_lf = False
        return []

    def _too_large(self) -> None:
        self._failed = True
        raise SSEEventTooLarge(f"SSE event larger than max_event_size ({self._max} bytes)")

    def _hold(self, piece: bytes) -> None:
        if not piece or self._in_comment:
            return
        if not self._line and piece[0] == 0x3A:
            self._in_comment = True
            self._block_lines = True
            return
        if self._block_size + len(self._line) + len(piece) > self._max:
            self._too_large()
        self._line += piece

    def _reset_block(self) -> None:
        self._data.clear()
        self._event = b""
        self._block_size = 0
        self._block_lines = False
        self._block_retry = None

    def _process(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(out)
            return
        self._block_lines = True
        if line[0] == 0x3A:
            return
        self._block_size += len(line)
        if self._block_size > self._max:
            self._too_large()
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data += value
            self._data.append(0x0A)
        elif field == b"event":
            self._event = value
        elif field == b"id":
            if b"\0" not in value:
                self._id = value
        elif field == b"retry" and value.isdigit():  # bytes.isdigit: ASCII digits only
            self._retry = self._block_retry = int(value)

    def _dispatch(self, out: list[SSEEvent]) -> None:
        # spec, dispatch step 1: every blank line commits the last event ID buffer, data or not
        self._committed_id = self._id.decode("utf-8", "replace") if self._id else None
        if not self._data:
            if self._block_lines:
                self._empty_blocks += 1
            self._reset_block()
            return
        out.append(
            SSEEvent(
                self._event.decode("utf-8", "replace") if self._event else "message",
                bytes(self._data[:-1]),
                self._committed_id,
                self._block_retry,
            )
        )
        self._reset_block()
