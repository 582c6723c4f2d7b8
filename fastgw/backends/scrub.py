"""The backend credential scrubbed from upstream error bodies before they reach the client.

Some providers and proxies echo the request's headers in an error body ("invalid header
Authorization: Bearer sk-..."): relayed as is, the gateway's key would reach every client. Error
answers are held whole anyway (they are small and bounded), so one `bytes.replace` per form of the
key is all it costs, and only on error statuses. The forms are worked out once, at config load.
"""

from __future__ import annotations

import zlib
from typing import Final

import orjson

REDACTED: Final = b"[redacted]"
# A shorter key would match ordinary text in a body; no provider issues keys this short.
_MIN_KEY: Final = 8
_BEARER: Final = b"bearer "


def secret_forms(value: bytes) -> tuple[bytes, ...]:
    """The byte strings to scrub for a credential header's value: the key itself (which also covers
    `Bearer <key>` and any other text around it) and its JSON-escaped spellings."""
    key = value[len(_BEARER) :] if value[: len(_BEARER)].lower() == _BEARER else value
    key = key.strip()
    if len(key) < _MIN_KEY:
        return ()
    forms = [key]
    for escaped in (orjson.dumps(key.decode("latin-1"))[1:-1], key.replace(b"/", b"\\/")):
        if escaped not in forms:
            forms.append(escaped)
    return tuple(forms)


def scrub(body: bytes, secrets: tuple[bytes, ...]) -> bytes:
    """`body` with every form of the credential replaced."""
    for secret in secrets:
        if secret in body:
            body = body.replace(secret, REDACTED)
    return body


def scrub_encoded(body: bytes, secrets: tuple[bytes, ...], encoding: bytes, limit: int) -> tuple[bytes, bool]:
    """(the body to send, whether it is now unencoded). A gzip or deflate body (a passthrough
    request may ask for one) is decoded, up to `limit` bytes, to be scrubbed, and sent decoded;
    a body in a coding the gateway cannot read is replaced by a note rather than relayed unread."""
    coding = encoding.strip().lower()
    if not secrets:
        return body, False
    if not coding or coding == b"identity":
        return scrub(body, secrets), False
    if coding in (b"gzip", b"x-gzip", b"deflate"):
        # wbits 47: gzip or zlib header, detected; a raw deflate stream (some servers) needs -15
        for wbits in (47, -15):
            inflater = zlib.decompressobj(wbits)
            try:
                plain = inflater.decompress(body, limit)
            except zlib.error:
                continue
            if not inflater.unconsumed_tail:
                return scrub(plain, secrets), True
            break
    return b"upstream error body in a content coding the gateway cannot inspect", True
