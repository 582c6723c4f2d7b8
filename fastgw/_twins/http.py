"""Twin of native/http.c: message-head splitting, head writing and the text access-log line.

The rules (and the contract both implementations keep) are in the comment at the top of
native/http.c; tests/native/test_http_native.py checks that the two agree.
"""

from __future__ import annotations

import time
from collections.abc import Set

_BLANKS = b" \t"
# str.isspace() of a latin-1 character, plus the two characters that break key=value parsing
_QUOTE_TRIGGERS = frozenset(b' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"=')


def head_fields(buf: bytes, start: int) -> tuple[list[tuple[bytes, bytes]], int, int, bytes | None, bytes]:
    if start < 0 or start > len(buf):
        raise ValueError("start out of range")
    fields: list[tuple[bytes, bytes]] = []
    length = -1
    chunked = False
    connection: bytes | None = None
    ctype = b""
    nl = buf.find(b"\n", start)  # the start line
    if nl < 0:
        raise ValueError("incomplete message head")
    p = nl + 1
    while True:
        nl = buf.find(b"\n", p)
        if nl < 0:
            raise ValueError("incomplete message head")
        line = buf[p:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        p = nl + 1
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            cont = line.strip(_BLANKS)
            if fields and cont:
                name, old = fields[-1]
                fields[-1] = (name, old + b" " + cont if old else cont)
            continue
        colon = line.find(b":")
        if colon < 0:
            continue
        name = line[:colon].rstrip(_BLANKS).lower()
        value = line[colon + 1 :].strip(_BLANKS)
        if name == b"content-length":
            length = int(value) if 0 < len(value) <= 18 and value.isdigit() else -1
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"connection":
            connection = value
        elif name == b"content-type":
            ctype = value
        fields.append((name, value))
    return fields, p, -2 if chunked else length, connection, ctype


def _join(old: bytes | None, value: bytes) -> bytes:
    return value if old is None else old + b", " + value


# RFC 3986 §2.3 unreserved and §2.2 sub-delims: a reg-name's characters besides "%" HH
_REG_NAME = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _valid_host(s: bytes) -> bool:
    n = len(s)
    i = 0
    if s[:1] == b"[":
        end = s.find(b"]")
        inner = s[1:end] if end > 0 else b""
        if end < 0 or b":" not in inner or any(c not in _HEX and c not in b":." for c in inner):
            return False
        i = end + 1
    else:
        while i < n and s[i] != 0x3A:
            c = s[i]
            if c == 0x25:
                if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                    return False
                i += 2
            elif c not in _REG_NAME:
                return False
            i += 1
        if i == 0:
            return False
    if i == n:
        return True
    port = s[i + 1 :]
    return s[i] == 0x3A and len(port) <= 5 and all(0x30 <= c <= 0x39 for c in port) and int(port or b"0") <= 65535


def request_fields(
    fields: list[tuple[bytes, bytes]], max_bytes: int, max_count: int
) -> tuple[int, bytes | None, int, bytes | None, bytes | None, bytes | None, bool]:
    host: bytes | None = None
    te: bytes | None = None
    connection: bytes | None = None
    expect: bytes | None = None
    length = -1
    problem = 0
    hosts = 0
    size = 0
    forwarded = False
    for i, (name, value) in enumerate(fields):
        size += len(name) + len(value) + 4
        if size > max_bytes:
            problem = 1
            break
        if i >= max_count:
            problem = 2
            break
        name = name.lower()
        value = value.rstrip(_BLANKS)
        fields[i] = (name, value)
        if name == b"host":
            hosts += 1
            if hosts == 1:
                host = value
        elif name == b"expect":
            expect = _join(expect, value)
        elif name == b"connection":
            connection = _join(connection, value)
        elif name == b"content-length":
            if not (0 < len(value) <= 18 and value.isdigit()):
                raise ValueError("invalid content-length")
            length = int(value)
        elif name == b"transfer-encoding":
            te = _join(te, value)
        if name == b"forwarded" or name.startswith(b"x-forwarded-"):
            forwarded = True
    if problem == 0 and hosts > 1:
        problem = 3
    if problem == 0 and host is not None and not _valid_host(host):
        problem = 4
    return problem, host, length, te, connection, expect, forwarded


def _lines(fields: list[tuple[bytes, bytes]], skip: Set[bytes] | None, prefix: bytes = b"") -> list[bytes]:
    parts: list[bytes] = []
    for name, value in fields:
        if (skip is None or name not in skip) and not (prefix and name.startswith(prefix)):
            parts += (name, b": ", value, b"\r\n")
    return parts


def request_head(method: bytes, target: bytes, fields: list[tuple[bytes, bytes]], skip: Set[bytes] | None) -> bytes:
    return b"".join([method, b" ", target, b" HTTP/1.1\r\n", *_lines(fields, skip), b"\r\n"])


def proxy_request_head(
    method: bytes,
    target: bytes,
    host: bytes,
    fields: list[tuple[bytes, bytes]],
    skip: Set[bytes] | None,
    skip_prefix: bytes,
    extra: list[tuple[bytes, bytes]],
    length: int,
    defaults: list[tuple[bytes, bytes]],
) -> bytes:
    written = {
        n for n, _ in fields if not (skip is not None and n in skip) and not (skip_prefix and n.startswith(skip_prefix))
    }
    written.update(n for n, _ in extra)
    added: list[tuple[bytes, bytes]] = []
    for name, value in defaults:
        if name not in written:
            written.add(name)
            added.append((name, value))
    if length >= 0:
        tail = b"content-length: %d\r\n" % length
    else:
        tail = b"transfer-encoding: chunked\r\n" if length == -2 else b""
    head = [
        method,
        b" ",
        target,
        b" HTTP/1.1\r\nhost: ",
        host,
        b"\r\n",
        *_lines(fields, skip, skip_prefix),
        *_lines(extra, None),
        *_lines(added, None),
        tail,
        b"\r\n",
    ]
    return b"".join(head)


def field_lines(fields: list[tuple[bytes, bytes]], skip: Set[bytes] | None) -> bytes:
    return b"".join(_lines(fields, skip))


def _value(v: bytes) -> bytes:
    if v and not any(c in _QUOTE_TRIGGERS for c in v):
        return v
    return b'"' + v.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n") + b'"'


def access_line(
    now: float,
    prefix: bytes,
    endpoint: bytes,
    client: bytes,
    method: bytes,
    host: bytes,
    path: bytes,
    http11: bool,
    status: int,
    tail: bytes,
    duration_ms: int,
) -> bytes:
    sec = int(now // 1)
    usec = min(999999, max(0, int((now - sec) * 1_000_000)))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()
    parts = [stamp, b".%06dZ\tinfo\trequest " % usec, prefix]
    if endpoint:
        parts += (b" endpoint=", endpoint)
    parts += (
        b" src.addr=",
        client,
        b" http.method=",
        method,
        b" http.host=",
        _value(host),
        b" http.path=",
        _value(path),
        b" http.version=HTTP/1.1 http.status=" if http11 else b" http.version=HTTP/1.0 http.status=",
        b"%d" % status,
        tail,
        b" duration=%dms\n" % duration_ms,
    )
    return b"".join(parts)


def log_fields(fields: dict[str, object]) -> bytes:
    parts: list[str] = []
    for key, value in fields.items():
        if type(value) is int:
            text = str(value)
        elif isinstance(value, str):
            if not value or any(c == '"' or c == "=" or c.isspace() for c in value):
                text = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
            else:
                text = value
        else:
            text = str(value)
        parts.append(f" {key}={text}")
    return "".join(parts).encode()
