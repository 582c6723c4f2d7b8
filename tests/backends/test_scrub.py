"""The forms of a backend credential scrubbed from error bodies, and bodies in content codings."""

from __future__ import annotations

import gzip
import zlib

from fastgw.backends.scrub import REDACTED, scrub, scrub_encoded, secret_forms

KEY = b"sk-abc/def+ghi=0123"


def test_the_key_is_found_in_every_form_it_was_sent_in() -> None:
    forms = secret_forms(b"Bearer " + KEY)
    assert forms == secret_forms(KEY) == secret_forms(b"bearer " + KEY)
    body = b'{"m":"auth Bearer sk-abc/def+ghi=0123, x-api-key sk-abc\\/def+ghi=0123"}'
    assert scrub(body, forms) == b'{"m":"auth Bearer ' + REDACTED + b", x-api-key " + REDACTED + b'"}'


def test_a_key_too_short_to_be_one_is_not_scrubbed() -> None:
    assert secret_forms(b"Bearer x") == ()
    assert scrub(b"x marks the spot", secret_forms(b"x")) == b"x marks the spot"


def test_compressed_bodies_are_decoded_to_be_scrubbed() -> None:
    forms = secret_forms(KEY)
    plain = b"echo: " + KEY
    for encoding, packed in (
        (b"gzip", gzip.compress(plain)),
        (b"deflate", zlib.compress(plain)),
        (b"deflate", zlib.compress(plain)[2:-4]),  # a raw deflate stream, as some servers send
    ):
        assert scrub_encoded(packed, forms, encoding, 1 << 20) == (b"echo: " + REDACTED, True)
    body, decoded = scrub_encoded(b"\x00brotli?", forms, b"br", 1 << 20)
    assert decoded and KEY not in body and b"cannot inspect" in body
    assert scrub_encoded(b"\x00brotli?", (), b"br", 1 << 20) == (b"\x00brotli?", False)  # no key to hide


def test_decoding_is_bounded() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))
    body, decoded = scrub_encoded(bomb, secret_forms(KEY), b"gzip", 1 << 20)
    assert decoded and len(body) < 1 << 20
