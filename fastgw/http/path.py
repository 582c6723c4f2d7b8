"""Request path normalization: the path routes match and upstreams receive.

A route that guards `/admin` must not be bypassed by `/%61dmin` or `/x/../admin`, and a prefix
rewrite must never forward `/base/../secret`. So, before routing (as Envoy's `normalize_path`,
`merge_slashes` and `path_with_escaped_slashes_action` do):

1. percent-encodings: `%XX` of an unreserved character (ALPHA, DIGIT, `-._~`) is decoded, every
   other one is kept with its hex digits upper-cased (RFC 3986 §2.3, §6.2.2.1-2); a `%` not
   followed by two hex digits is refused (400). `%2F` and `%5C` (an encoded slash or backslash) are
   never decoded: they are kept, or refused with `rejectEscapedSlashes`;
2. dot segments are removed (RFC 3986 §5.2.4: `/a/./b/../c` -> `/a/c`; `..` never climbs above
   the root);
3. runs of `/` become one with `mergeSlashes` (off by default: `//` is significant to RFC 3986).

The query is never touched. The caller skips all of this for a path with no `%`, no `/.` and (with
`mergeSlashes`) no `//`: nothing above can change such a path.
"""

from __future__ import annotations

import re

from fastgw.errors import BadRequest

# RFC 3986 §2.3
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPED_SLASHES = frozenset((0x2F, 0x5C))
_SLASHES = re.compile(rb"/{2,}")


def needs_normalizing(path: bytes, merge_slashes: bool) -> bool:
    """Whether `normalize_path` could change `path` (the hot path's cheap test)."""
    return b"%" in path or b"/." in path or (merge_slashes and b"//" in path)


def normalize_path(path: bytes, merge_slashes: bool = False, reject_escaped_slashes: bool = False) -> bytes:
    """The normalized form of an origin-form path (it starts with `/`); BadRequest when it has a
    malformed percent-encoding, or an encoded slash with `reject_escaped_slashes`."""
    if b"%" in path:
        path = _percent(path, reject_escaped_slashes)
    if b"/." in path:
        path = remove_dot_segments(path)
    if merge_slashes and b"//" in path:
        path = _SLASHES.sub(b"/", path)
    return path


def _percent(path: bytes, reject_escaped_slashes: bool) -> bytes:
    pieces = path.split(b"%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if len(piece) < 2 or piece[0] not in _HEX or piece[1] not in _HEX:
            raise BadRequest("malformed percent-encoding in the request path")
        octet = int(piece[:2], 16)
        if octet in _UNRESERVED:
            out += (bytes((octet,)), piece[2:])
        elif octet in _ESCAPED_SLASHES and reject_escaped_slashes:
            raise BadRequest("encoded slash in the request path")
        else:
            out += (b"%", piece[:2].upper(), piece[2:])
    return b"".join(out)


def remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 §5.2.4 for an absolute path, one pass over its segments (the RFC's buffer-moving
    loop is quadratic on long paths of `./`)."""
    segments = path.split(b"/")  # segments[0] is the empty text before the leading "/"
    out: list[bytes] = []
    for seg in segments[1:-1]:
        if seg == b"..":
            if out:
                out.pop()
        elif seg != b".":
            out.append(seg)
    last = segments[-1]
    if last == b"..":
        if out:
            out.pop()
        out.append(b"")  # "/a/b/.." -> "/a/": the path ends in a directory
    elif last == b".":
        out.append(b"")
    else:
        out.append(last)
    return b"/" + b"/".join(out)
