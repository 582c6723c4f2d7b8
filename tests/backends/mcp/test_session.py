"""The sealed session id: what one worker issues every other opens; nothing else opens."""

from __future__ import annotations

import pytest

from fastgw.backends.mcp.session import SessionCodec, SessionState, parse_key

STATE = SessionState(
    version="2025-06-18", targets={"local": "", "remote": "abc123"}, capabilities={"roots": {}}, issued=1000.0
)


def test_an_id_opens_to_its_state_with_the_same_key() -> None:
    key = bytes(range(32))
    sid = SessionCodec(key).seal(STATE)
    assert all(0x21 <= ord(c) <= 0x7E for c in sid)  # visible ASCII, as the spec requires
    assert "abc123" not in sid  # the upstream session id is not shown to the client
    assert SessionCodec(key).open(sid, now=1001.0) == STATE


def test_forged_altered_foreign_and_expired_ids_do_not_open() -> None:
    codec = SessionCodec(bytes(32), ttl=60)
    sid = codec.seal(STATE)
    flipped = sid[:10] + ("A" if sid[10] != "A" else "B") + sid[11:]
    for bad in ("", "x", "never-issued", flipped, sid[:-2], "A" * 5000, "é" * 40):
        assert codec.open(bad, now=1001.0) is None, bad
    assert SessionCodec(bytes([1]) * 32).open(sid, now=1001.0) is None
    assert codec.open(sid, now=1000.0 + 61) is None


def test_session_key_must_be_32_bytes_of_hex() -> None:
    assert parse_key("00" * 32) == bytes(32)
    with pytest.raises(ValueError, match="32 bytes"):
        parse_key("00" * 16)
    with pytest.raises(ValueError):
        parse_key("zz" * 32)
