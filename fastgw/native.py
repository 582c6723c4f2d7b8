"""The one importer of the C extension fastgw._native and of its pure-Python twins.

The implementation is chosen once, at import: the C extension, or the twins in fastgw._twins when
the environment variable FASTGW_NO_NATIVE=1 is set. A missing extension is an import error, never a
silent fallback. Both implementations raise the classes of fastgw.native_errors. Sections below:
one per concern (buckets, SSE; tokens are added by their own section). native/README.md has the
design, memory layout and figures.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING, Final, Literal

from fastgw.native_errors import BucketTableFull, SSEEventTooLarge

ImplementationName = Literal["native", "python"]

IMPLEMENTATION: Final[ImplementationName] = "python" if os.environ.get("FASTGW_NO_NATIVE") == "1" else "native"


def implementation(name: ImplementationName) -> ModuleType:
    """The namespace of one implementation (for tests and benchmarks that compare both)."""
    return importlib.import_module("fastgw._native" if name == "native" else "fastgw._twins")


_impl: Final = implementation(IMPLEMENTATION)

# ---------------------------------------------------------------------------------------------------
# Shared-memory token buckets (native/bucket_core.h, native/buckets.c; twin: fastgw/_twins/buckets.py)
#
#   table = BucketTable.create(slots)            # once, in the supervisor before the first fork; reloads
#                                                # keep using it. Fixed capacity.
#   h = table.bucket(key, max_tokens, tokens_per_fill, fill_interval_s)   # find or insert, any process
#   h = BucketHandle(key, max_tokens, tokens_per_fill, fill_interval_s)   # or: found on first use
#   table.try_take(h, n=1) -> bool; table.give_back(h, n); table.charge(h, n, floor) -> remaining
#   table.remaining(h) -> int; table.time_to_refill(h) -> s (> 0); table.time_until(h, n) -> s (inf: never)
#   table.limits(h) -> (max_tokens, tokens_per_fill, fill_interval_s); table.slots; table.used
#   table.sweep(max_slots=None, min_idle_s=0.0) -> buckets reclaimed; table.reclaimed
#
# A bucket's identity is (key, spec): the same key and spec after a reload finds the same bucket
# (limits are not reset); a changed spec gets a fresh, full bucket in a new slot. sweep() frees the
# slots of buckets that are full (for min_idle_s at least): a full bucket is what a new one would
# be, so reclaiming changes no limit. A handle whose slot was reclaimed is found (or, by an
# operation that takes tokens, made) again inside the next operation; a key without a bucket reads
# as a full one. BucketTableFull is raised when a bucket must be made and no slot is left even
# after reclaiming every full bucket. Every op takes an optional now_ns (CLOCK_MONOTONIC ns).
# ---------------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from fastgw._twins.buckets import BucketHandle, BucketTable
else:
    BucketTable = _impl.BucketTable
    BucketHandle = _impl.BucketHandle

BUCKET_KEY_MAX: Final = 64


def bucket_key(*parts: bytes) -> bytes:
    """A fixed-size table key for a dynamic identity (route, policy, API key, user...).

    Digesting keeps secrets such as API keys out of the shared region and any identity within the
    64-byte key limit; length prefixes keep (b"a", b"bc") and (b"ab", b"c") apart.
    """
    h = hashlib.blake2b(digest_size=32)
    for p in parts:
        h.update(len(p).to_bytes(4, "little"))
        h.update(p)
    return h.digest()


# ---------------------------------------------------------------------------------------------------
# Incremental SSE scanner (native/sse.c; twin and rule summary: fastgw/_twins/sse.py)
#
#   scanner = SSEScanner(max_event_size=1 << 20)     # one per stream
#   for ev in scanner.feed(chunk): ev.event, ev.data (bytes), ev.id, ev.retry
#   scanner.close() -> []                             # spec: an unfinished event at EOF is discarded
#   scanner.pending / .empty_blocks / .last_event_id / .retry
#
# SSEEvent is a 4-tuple subclass (a struct sequence in C, a NamedTuple in the twin); the two compare
# equal field by field. SSEEventTooLarge (a ValueError) ends the stream; its `events` are the ones the
# failing feed() finished before the oversized event.
# ---------------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from fastgw._twins.sse import SSEEvent, SSEScanner
else:
    SSEEvent = _impl.SSEEvent
    SSEScanner = _impl.SSEScanner

# ---------------------------------------------------------------------------------------------------
# HTTP message heads and the access-log line (native/http.c; twin: fastgw/_twins/http.py)
#
#   head_fields(buf, start) -> (fields, end, length, connection, content_type)  # split an accepted head
#   request_fields(fields, max_bytes, max_count) -> (problem, host, length, te, connection, expect,
#                                                    forwarded)
#                                                        # normalize a request's fields in place
#   request_head(method, target, fields, skip) -> bytes  # start line + kept fields + empty line
#   proxy_request_head(method, target, host, fields, skip, skip_prefix, extra, length, defaults) -> bytes
#                                         # host first, then kept fields, extra, unwritten defaults, framing
#   field_lines(fields, skip) -> bytes                   # "name: value\r\n" of the kept fields
#   access_line(now, prefix, endpoint, client, method, host, path, http11, status, tail, ms) -> bytes
#   log_fields(fields) -> bytes                          # " key=value" of a dict of log fields
# ---------------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from fastgw._twins.http import (
        access_line,
        field_lines,
        head_fields,
        log_fields,
        proxy_request_head,
        request_fields,
        request_head,
    )
else:
    log_fields = _impl.log_fields
    proxy_request_head = _impl.proxy_request_head
    head_fields = _impl.head_fields
    request_fields = _impl.request_fields
    request_head = _impl.request_head
    field_lines = _impl.field_lines
    access_line = _impl.access_line

# ---------------------------------------------------------------------------------------------------
# Members of a small JSON object, read without decoding it (native/json.c; twin: fastgw/_twins/json.py)
#
#   json_get(data, outer, names) -> the raw bytes of data[outer][name] (outer b"": top level) for
#                                   each name, or None when it cannot vouch a strict decoder agrees
#   body_usage(data, anthropic, make) -> (make(input, output, cache_read, cache_write, reasoning)
#                                   or None, model) of a whole answer, or None when it cannot vouch
#   text_message(data, created, finish, make) -> (chat.completion bytes, usage, model) of an
#                                   Anthropic message of one text block, or None when it cannot vouch
#   delta_chunks(events, start, name, outer, kind, member, prefix, head, tail) -> (chunks, end)
#                                   a run of string-delta SSE events written as translated chunks
# ---------------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from fastgw._twins.json import body_usage, delta_chunks, json_get, text_message
else:
    text_message = _impl.text_message
    body_usage = _impl.body_usage
    delta_chunks = _impl.delta_chunks
    json_get = _impl.json_get


__all__ = [
    "BUCKET_KEY_MAX",
    "IMPLEMENTATION",
    "BucketHandle",
    "BucketTable",
    "BucketTableFull",
    "SSEEvent",
    "SSEEventTooLarge",
    "SSEScanner",
    "access_line",
    "body_usage",
    "bucket_key",
    "delta_chunks",
    "field_lines",
    "head_fields",
    "implementation",
    "json_get",
    "log_fields",
    "proxy_request_head",
    "request_fields",
    "request_head",
    "text_message",
]


# ---------------------------------------------------------------------------------------------------
# Token counting (native/tokens.c and tokens_*.h; twin: fastgw/_twins/tokens.py; API: fastgw/tokens/__init__.py)
#
#   fastgw.tokens.Vocabulary.load(path, "cl100k_base").count(text) / .stream().feed(delta)
#   fastgw.tokens.estimate_tokens(text)          # no rank file needed
# ---------------------------------------------------------------------------------------------------


def native_tokens() -> ModuleType | None:
    """The extension for fastgw.tokens, or None when the twins are selected (FASTGW_NO_NATIVE=1)."""
    return _impl if IMPLEMENTATION == "native" else None
