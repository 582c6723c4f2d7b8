"""The downstream `Mcp-Session-Id`: the session's state sealed into the id itself.

The kernel spreads a client's connections over the workers (and a load balancer over instances),
so any worker must be able to serve any session without asking another one. The id therefore
carries what a worker needs, sealed with AES-256-GCM (authenticated: a forged or altered id does
not open; encrypted: the upstream session ids inside are not shown to the client):

- the protocol version the client negotiated,
- per target, the upstream session id (streamable-HTTP targets) or nothing (stdio and SSE targets
  are re-initialized by each worker that first sees the session; see ARCHITECTURE.md),
- the client's capabilities that matter upstream (sampling, elicitation, roots),
- when it was issued (ids older than the session lifetime are refused).

The key is `config.session.key` (32 bytes, hex) when set, so several instances accept each
other's ids; otherwise a random key made when this module is first imported, which happens in the
supervisor before it forks, so every worker of the instance (and every worker it respawns, and
every reload) holds the same one.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass
from typing import Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: made once per instance, before the workers fork (see the module docstring)
INSTANCE_KEY: Final = os.urandom(32)
_AAD: Final = b"fastgw-mcp-session-v1"
#: an id longer than this is not one of ours (a bound before any decoding work)
MAX_ID_CHARS: Final = 4096


@dataclass(frozen=True, slots=True)
class SessionState:
    version: str
    #: target name -> upstream session id ("" when the target keeps none, e.g. stdio)
    targets: dict[str, str]
    #: client capabilities forwarded to targets a worker initializes again
    capabilities: dict[str, object]
    issued: float


class SessionCodec:
    __slots__ = ("_aead", "key", "ttl")

    def __init__(self, key: bytes = INSTANCE_KEY, ttl: float = 1800.0) -> None:
        self.key = key
        self._aead = AESGCM(key)
        self.ttl = ttl

    def seal(self, state: SessionState) -> str:
        payload = orjson.dumps([state.version, state.targets, state.capabilities, int(state.issued)])
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, payload, _AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, session_id: str, now: float | None = None) -> SessionState | None:
        """The state of an id this instance (or one sharing its key) issued; None for anything
        else: malformed, forged, altered or expired."""
        if not session_id or len(session_id) > MAX_ID_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(session_id + "=" * (-len(session_id) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 12 + 16:
            return None
        try:
            payload = self._aead.decrypt(raw[:12], raw[12:], _AAD)
            version, targets, caps, issued = orjson.loads(payload)
        except (InvalidTag, ValueError, TypeError):
            return None
        if (now if now is not None else time.time()) - issued > self.ttl:
            return None
        return SessionState(version=version, targets=targets, capabilities=caps, issued=float(issued))


def parse_key(hex_key: str) -> bytes:
    """`config.session.key`: 32 bytes as 64 hex digits (`openssl rand -hex 32`)."""
    key = bytes.fromhex(hex_key.strip())
    if len(key) != 32:
        raise ValueError(f"must be 32 bytes (64 hex digits), got {len(key)} bytes")
    return key
