"""Header constants, the hop-by-hop rule, cached status lines and the Date header."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1: connection-specific fields a proxy must not forward (plus the legacy
# keep-alive / proxy-connection ones every proxy strips, and `te`/`trailer`/`upgrade`).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"host",
        b"content-length",
        b"expect",
    }
)


# never passed on from an upstream response head: hop-by-hop and framing fields, and Date (ours is sent)
RESPONSE_DROP = HOP_BY_HOP | {b"date"}
# `Connection:` values that nominate nothing beyond the hop-by-hop fields (the usual ones)
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})


def response_skip(connection: bytes | None) -> frozenset[bytes]:
    """The fields of an upstream response head not to forward, given its `Connection:` value."""
    if connection is None or connection in _PLAIN_CONNECTION:
        return RESPONSE_DROP
    nominated = connection_tokens(connection) - RESPONSE_DROP
    return RESPONSE_DROP | nominated if nominated else RESPONSE_DROP


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


STATUS_LINES: dict[int, bytes] = {code: _status_line(code) for code in range(100, 600)}


def status_line(code: int) -> bytes:
    line = STATUS_LINES.get(code)
    return line if line is not None else f"HTTP/1.1 {code} \r\n".encode()


def connection_tokens(value: bytes) -> set[bytes]:
    """The lowercased option names of a `Connection:` header value."""
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


def strip_hop_by_hop(headers: Headers, nominated: set[bytes] | None) -> Headers:
    """Drop hop-by-hop fields and the ones nominated by `Connection:` (names are lowercase)."""
    if nominated:
        return [(n, v) for n, v in headers if n not in HOP_BY_HOP and n not in nominated]
    return [(n, v) for n, v in headers if n not in HOP_BY_HOP]


class DateCache:
    """The `date:` header line, formatted at most once a second (RFC 9110 §6.6.1)."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._line
