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
from fastgw.policies.key_budgets import KeyServices, LocalBudget, build_budgets, enforce
from fastgw.policies.kind import PolicyKind, Site
from fastgw.redis_limits.prices import PriceTable

if TYPE_CHECKING:
    from fastgw.config.schema_policies import ApiKeys as ApiKeysSpec
    from fastgw.context import RequestContext
    from fastgw.redis_limits.vkeys import VirtualKeyStore

__all__ = ["ApiKey", "KeyEntry", "KeyStore", "StaticKeys", "build"]


@dataclass(frozen=True, slots=True)
class KeyEntry:
    digest: bytes
    #: `apiKey.*` (a plain dict, as CEL maps are; never changed once built)
    metadata: dict[str, Any]
    #: the key's budgets, in the instance's shared memory (policies/key_budgets.py)
    budgets: tuple[LocalBudget, ...] = ()


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
    #: `virtualKeys: true`: keys created at run time, looked up in Redis (policies/virtual_keys.py)
    virtual: VirtualKeyStore | None = None
    services: KeyServices | None = None

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        key = self.location.read(ctx.request)
        if key is None:
            if self.mode == "strict":
                raise unauthorized(ctx, self.llm, "no API key", self.challenge())
            return None
        entry = self.store.lookup(key)
        if entry is None:
            if self.virtual is not None:
                from fastgw.policies import virtual_keys

                return virtual_keys.check(self, ctx, key)
            if self.mode == "permissive":
                self.location.remove(ctx.request)  # an unknown key still never goes upstream
                return None
            raise unauthorized(ctx, self.llm, "invalid API key", self.challenge())
        vars_of(ctx).set("apiKey", entry.metadata)
        self.location.remove(ctx.request)
        if entry.budgets and self.services is not None:
            label = str(entry.metadata.get("name") or f"sha256:{entry.digest.hex()[:12]}")
            enforce(ctx, entry.budgets, self.services, label, self.llm)
        return None

    def challenge(self) -> bytes:
        loc = self.location
        if loc.kind == "header" and loc.name == b"authorization" and loc.prefix:
            return loc.prefix.strip()
        return b'ApiKey realm="fastgw"'


def build(spec: ApiKeysSpec, site: Site) -> ApiKey | None:
    path, errors = site.path, site.errors
    llm = site.llm
    services = site.keys or KeyServices(None, PriceTable())
    virtual = services.virtual
    if spec.location is not None and spec.location.expression is not None:
        errors.append(f"{path}.location.expression: not supported yet: expression locations")
        return None
    entries: list[KeyEntry] = []
    for i, k in enumerate(spec.keys):
        if k.allowed_models is not None:
            errors.append(f"{path}.keys[{i}].allowedModels: not supported yet: allowedModels")
        digest = _digest(k.key, k.key_hash, f"{path}.keys[{i}]", errors)
        if digest is not None:
            budgets = build_budgets(digest, k.budgets or [], f"{path}.keys[{i}].budgets", errors)
            entries.append(KeyEntry(digest, dict(k.metadata or {}), budgets))
    if len({e.digest for e in entries}) != len(entries):
        errors.append(f"{path}.keys: the same key is listed twice")
    if spec.virtual_keys and virtual is None:
        errors.append(f"{path}.virtualKeys: needs config.virtualKeys (the Redis that holds the keys)")
    store = virtual if spec.virtual_keys else None
    return ApiKey(spec.mode, StaticKeys(entries), location_of(spec.location), llm, store, services)


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
