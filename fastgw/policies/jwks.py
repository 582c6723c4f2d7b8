"""JSON Web Key Sets (RFC 7517 §5) for jwtAuth: parsed and bounded once, fetched from a URL in the
worker and kept.

A set given inline or as `{file}` is parsed at config load (its errors are config errors). A
`{url}` set is fetched by the worker on first use, kept for `REFRESH` and refetched then, or
sooner when a token names a `kid` the set does not have (at most once per `MISS_INTERVAL`, so a
client cannot make the gateway hammer the identity provider). A failed fetch keeps serving the
keys it had. Every fetch is bounded in time and size, and a set is bounded in keys.

Error messages never quote a key: a JWK can be a shared secret (`kty: oct`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import jwt
import orjson

log = logging.getLogger("fastgw.jwks")

MAX_KEYS: Final = 256
MAX_BYTES: Final = 512 * 1024
FETCH_TIMEOUT: Final = 5.0
REFRESH: Final = 300.0
MISS_INTERVAL: Final = 30.0

# the algorithms a key may verify, by key type (a key's own `alg` narrows this to one); HMAC is
# only ever allowed for `oct` keys, so a token signed "HS256" with a public key as the secret
# (algorithm confusion) finds no key
_RSA: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC: Final = {"P-256": frozenset({"ES256"}), "P-384": frozenset({"ES384"}), "P-521": frozenset({"ES512"})}
_OKP: Final = {"Ed25519": frozenset({"EdDSA"}), "Ed448": frozenset({"EdDSA"})}
_OCT: Final = frozenset({"HS256", "HS384", "HS512"})


class JwksError(ValueError):
    """A key set that cannot be used (the message names what is wrong, never a key)."""


@dataclass(frozen=True, slots=True)
class Key:
    kid: str | None
    algorithms: frozenset[str]
    key: Any  # a cryptography public key, or bytes for an HMAC secret


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[Key, ...]

    def candidates(self, kid: str | None, alg: str) -> list[Key]:
        """Keys that may verify a token with this header: the one with its `kid` (any key when
        the token names none), allowing its `alg`."""
        return [k for k in self.keys if (kid is None or k.kid == kid) and alg in k.algorithms]

    def has_kid(self, kid: str) -> bool:
        return any(k.kid == kid for k in self.keys)


def parse_key_set(text: str | bytes) -> KeySet:
    """A JWKS document (`{"keys": [...]}`, or one JWK) -> its usable keys; JwksError otherwise."""
    if len(text) > MAX_BYTES:
        raise JwksError(f"JWKS larger than {MAX_BYTES} bytes")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise JwksError("JWKS is not valid JSON") from None
    if isinstance(doc, dict) and "keys" in doc:
        items = doc["keys"]
    elif isinstance(doc, dict) and "kty" in doc:
        items = [doc]
    else:
        raise JwksError('JWKS must be an object with "keys" (or one JWK)')
    if not isinstance(items, list):
        raise JwksError('JWKS "keys" must be a list')
    if len(items) > MAX_KEYS:
        raise JwksError(f"JWKS has {len(items)} keys (at most {MAX_KEYS})")
    keys = tuple(_keys(items))
    if not keys:
        raise JwksError("JWKS has no usable signing key")
    return KeySet(keys)


def _keys(items: Iterable[Any]) -> Iterable[Key]:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise JwksError(f"JWKS key {i} is not an object")
        if item.get("use", "sig") != "sig":
            continue  # an encryption key never verifies a signature (RFC 7517 §4.2)
        algorithms = _algorithms(item)
        if not algorithms:
            raise JwksError(f"JWKS key {i}: unsupported key type or algorithm")
        try:
            parsed = jwt.PyJWK(item).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            raise JwksError(f"JWKS key {i}: invalid key material") from None
        kid = item.get("kid")
        yield Key(kid if isinstance(kid, str) else None, algorithms, parsed)


def _algorithms(item: Mapping[str, Any]) -> frozenset[str]:
    kty = item.get("kty")
    if kty == "RSA":
        allowed = _RSA
    elif kty == "EC":
        allowed = _EC.get(item.get("crv", ""), frozenset())
    elif kty == "OKP":
        allowed = _OKP.get(item.get("crv", ""), frozenset())
    elif kty == "oct":
        allowed = _OCT
    else:
        return frozenset()
    alg = item.get("alg")
    if alg is None:
        return allowed
    return frozenset({alg}) & allowed


class RemoteKeySet:
    """A `{url}` key set, per worker: fetched on first use, refreshed, refetched on a miss."""

    __slots__ = ("_fetched_at", "_inflight", "_last_attempt", "_last_miss", "_task", "keys", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: KeySet | None = None
        self._fetched_at = 0.0
        self._last_attempt = -MISS_INTERVAL
        self._last_miss = -MISS_INTERVAL
        self._inflight: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def wants_fetch(self, kid: str | None) -> bool:
        """Whether a token with this `kid` must wait for a fetch: one is under way, there are no
        keys yet, or the token's kid is unknown. Fetches for a missing set or for unknown kids
        happen at most once per MISS_INTERVAL each (so a failing or hostile source is asked no
        more often; meanwhile the keys held are used). A set older than REFRESH is refetched in
        the background while its keys keep serving."""
        if self._inflight is not None:
            return True
        keys = self.keys
        now = time.monotonic()
        if keys is None:
            return now - self._last_attempt >= MISS_INTERVAL
        if now - self._fetched_at >= REFRESH and now - self._last_attempt >= MISS_INTERVAL:
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        if kid is not None and not keys.has_kid(kid) and now - self._last_miss >= MISS_INTERVAL:
            self._last_miss = now
            return True
        return False

    async def refresh(self) -> None:
        """Fetch the set (one fetch at a time; concurrent callers wait for it). A failure keeps
        the keys held before and is logged without the response body."""
        inflight = self._inflight
        if inflight is not None:
            await asyncio.shield(inflight)
            return
        fut = self._inflight = asyncio.get_running_loop().create_future()
        self._last_attempt = time.monotonic()
        try:
            self.keys = parse_key_set(await _fetch(self.url))
            self._fetched_at = time.monotonic()
        except (JwksError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("jwks %s: fetch failed (%s); %s", self.url, _why(exc), _keeping(self.keys))
        finally:
            self._inflight = None
            fut.set_result(None)


def _why(exc: BaseException) -> str:
    if isinstance(exc, JwksError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {FETCH_TIMEOUT:g}s"
    return type(exc).__name__


def _keeping(keys: KeySet | None) -> str:
    return "keeping the keys fetched before" if keys is not None else "no keys yet: tokens are rejected"


async def _fetch(url: str) -> bytes:
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers={"accept": "application/json"}) as resp,
    ):
        if resp.status != 200:
            raise JwksError(f"HTTP status {resp.status}")
        data = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            data += chunk
            if len(data) > MAX_BYTES:
                raise JwksError(f"JWKS larger than {MAX_BYTES} bytes")
        return bytes(data)
