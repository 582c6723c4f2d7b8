"""apiKey: authenticate clients by API key; the key's metadata becomes `apiKey.*` for CEL.

Keys are held by a `KeyStore` (the config's static list today; keys created at run time plug in
behind the same `lookup`). A presented key is hashed (SHA-256) and found by its digest, then
compared with `hmac.compare_digest`, so neither a key nor its length is learned from timing; a
`keyHash` entry is the same digest written in the config, so the key itself need not be.
Modes as jwtAuth: strict needs a key, optional (the default) checks one when sent, permissive
never rejects. The key is taken off the request before it goes upstream.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from fastgw.cel import vars_of
from fastgw.policies.credentials import BEARER, Location, location_of
from fastgw.policies.denial import unauthorized
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import ApiKeys as ApiKeysSpec
    from fastgw.context import RequestContext

__all__ = ["ApiKey", "KeyEntry", "KeyStore", "StaticKeys", "build"]


@dataclass(frozen=True, slots=True)
class KeyEntry:
    digest: bytes
    #: `apiKey.*` (a plain dict, as CEL maps are; never changed once built)
    metadata: dict[str, Any]


class KeyStore(Protocol):
    def lookup(self, key: bytes) -> KeyEntry | None: ...


class StaticKeys:
    """The keys listed in the config, by SHA-256 digest."""

    __slots__ = ("_by_digest",)

    def __init__(self, entries: list[KeyEntry]) -> None:
        self._by_digest = {e.digest: e for e in entries}

    def lookup(self, key: bytes) -> KeyEntry | None:
        digest = hashlib.sha256(key).digest()
        entry = self._by_digest.get(digest)
        if entry is None or not hmac.compare_digest(entry.digest, digest):
            return None
        return entry


@dataclass(frozen=True, slots=True)
class ApiKey:
    name = "apiKey"
    mode: str
    store: KeyStore
    location: Location = BEARER
    llm: bool = False

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        key = self.location.read(ctx.request)
        if key is None:
            if self.mode == "strict":
                raise unauthorized(ctx, self.llm, "no API key", self._challenge())
            return None
        entry = self.store.lookup(key)
        if entry is None:
            if self.mode == "permissive":
                self.location.remove(ctx.request)  # an unknown key still never goes upstream
                return None
            raise unauthorized(ctx, self.llm, "invalid API key", self._challenge())
        vars_of(ctx).set("apiKey", entry.metadata)
        self.location.remove(ctx.request)
        return None

    def _challenge(self) -> bytes:
        loc = self.location
        if loc.kind == "header" and loc.name == b"authorization" and loc.prefix:
            return loc.prefix.strip()
        return b'ApiKey realm="fastgw"'


def build(spec: ApiKeysSpec, site: Site) -> ApiKey | None:
    path, errors = site.path, site.errors
    llm = site.llm
    if spec.location is not None and spec.location.expression is not None:
        errors.append(f"{path}.location.expression: not supported yet: expression locations")
        return None
    entries: list[KeyEntry] = []
    for i, k in enumerate(spec.keys):
        if k.allowed_models is not None:
            errors.append(f"{path}.keys[{i}].allowedModels: not supported yet: allowedModels")
        digest = _digest(k.key, k.key_hash, f"{path}.keys[{i}]", errors)
        if digest is not None:
            entries.append(KeyEntry(digest, dict(k.metadata or {})))
    if len({e.digest for e in entries}) != len(entries):
        errors.append(f"{path}.keys: the same key is listed twice")
    return ApiKey(spec.mode, StaticKeys(entries), location_of(spec.location), llm)


def _digest(key: str | None, key_hash: str | None, path: str, errors: list[str]) -> bytes | None:
    if key is not None:
        if not key:
            errors.append(f"{path}.key: must not be empty")
            return None
        return hashlib.sha256(key.encode()).digest()
    assert key_hash is not None
    algo, _, hexdigest = key_hash.partition(":")
    try:
        digest = bytes.fromhex(hexdigest)
    except ValueError:
        digest = b""
    if algo != "sha256" or len(digest) != 32:
        errors.append(f'{path}.keyHash: expected "sha256:<64 hex digits>"')
        return None
    return digest


KIND: Final[PolicyKind[ApiKeysSpec]] = PolicyKind("apiKey", lambda p: p.api_key, build, listener=lambda p: p.api_key)
