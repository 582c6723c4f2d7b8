"""A tiny incremental SSE parser for tests (the gateway's real scanner lives in fastgw.native).

Follows the WHATWG event-stream rules the providers rely on: lines end in LF, CRLF or CR; ``data``
lines of one event are joined with LF; a blank line dispatches; ``:`` lines are comments.
"""

from __future__ import annotations

from collections.abc import Iterable


class SseParser:
    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = False
        self._buffer += chunk
        events: list[tuple[str, bytes]] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return events
            end, width = cut
            if width == 1 and self._buffer[end : end + 1] == b"\r" and end + 1 == len(self._buffer):
                # A trailing CR may be the first half of CRLF split across chunks.
                self._pending_cr = True
            line, self._buffer = self._buffer[:end], self._buffer[end + width :]
            self._line(line, events)

    def _line(self, line: bytes, events: list[tuple[str, bytes]]) -> None:
        if not line:
            if self._data:
                events.append((self._event, b"\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line.startswith(b":"):
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode()


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r")
    if cr != -1 and (lf == -1 or cr < lf):
        return cr, 2 if buffer[cr + 1 : cr + 2] == b"\n" else 1
    if lf != -1:
        return lf, 1
    return None


def parse_all(chunks: Iterable[bytes]) -> list[tuple[str, bytes]]:
    parser = SseParser()
    events: list[tuple[str, bytes]] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events
