"""jwtAuth: validate a bearer JWT (RFC 7519) against trusted issuers' keys; its claims become
`jwt.*` for CEL.

Modes (agentgateway): `strict` needs a valid token; `optional` (the default) checks a token when
one is sent; `permissive` never rejects (an invalid token is as good as none). A rejected
request gets 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1; a
missing token in strict mode gets a bare `Bearer` challenge) and never reaches the backend.

Verification (PyJWT, signatures by `cryptography`): the token's header `alg` must be one the
selected key allows (so `none`, and HMAC with a public key, find no key); `exp`/`nbf` with a 60 s
leeway; `iss` the provider's; `aud` one of its audiences when configured; the required claims
present (default `exp`). A verified token is kept per worker until it expires, so a client that
sends the same token again costs a dict lookup, not a signature check. The token is taken off
the request before it goes upstream unless the route's `backendAuth: {passthrough: {}}` forwards
it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import jwt

from fastgw.cel import vars_of
from fastgw.config.schema_base import FileOrUrl
from fastgw.policies.credentials import BEARER, Location, location_of
from fastgw.policies.denial import unauthorized
from fastgw.policies.jwks import JwksError, KeySet, RemoteKeySet, parse_key_set
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import JwtAuth as JwtAuthSpec
    from fastgw.config.schema_policies import JwtProvider as JwtProviderSpec
    from fastgw.context import RequestContext

__all__ = ["JwtAuth", "build"]

LEEWAY: Final = 60
MAX_TOKEN: Final = 16 * 1024
_CACHE_MAX: Final = 1024
_INVALID: Final = b'Bearer error="invalid_token"'
_MISSING: Final = b"Bearer"
_ENFORCED_CLAIMS: Final = frozenset({"exp", "nbf", "iat", "iss", "aud", "sub", "jti"})


class _Invalid(Exception):
    """A token that does not verify; the message is fixed text (never token content)."""


@dataclass(slots=True)
class Provider:
    issuer: str
    audiences: tuple[str, ...] | None
    required: tuple[str, ...]
    keys: KeySet | None = None
    remote: RemoteKeySet | None = None

    def key_set(self) -> KeySet | None:
        return self.keys if self.remote is None else self.remote.keys


@dataclass(slots=True)
class JwtAuth:
    name = "jwtAuth"
    mode: str
    providers: tuple[Provider, ...]
    location: Location = BEARER
    #: the token goes upstream (`backendAuth: {passthrough: {}}`)
    passthrough: bool = False
    llm: bool = False
    _cache: dict[bytes, tuple[dict[str, Any], float]] = field(default_factory=dict)

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        req = ctx.request
        token = self.location.read(req)
        if token is None:
            if self.mode == "strict":
                raise unauthorized(ctx, self.llm, "no bearer token", _MISSING)
            return None
        cached = self._cache.get(token)
        if cached is not None:
            claims, expires = cached
            if time.time() < expires:
                self._accept(ctx, claims)
                return None
            del self._cache[token]
        try:
            provider, header = self._select(token)
            keys = provider.key_set()
            kid = header.get("kid")
            remote = provider.remote
            if remote is not None and remote.wants_fetch(kid if isinstance(kid, str) else None):
                return self._after_fetch(ctx, token, provider, header)
            claims = self._verify(token, provider, header, keys)
        except _Invalid as exc:
            self._reject(ctx, str(exc))
            return None
        self._remember(token, claims)
        self._accept(ctx, claims)
        return None

    async def _after_fetch(self, ctx: RequestContext, token: bytes, provider: Provider, header: dict[str, Any]) -> None:
        remote = provider.remote
        assert remote is not None
        await remote.refresh()
        try:
            claims = self._verify(token, provider, header, remote.keys)
        except _Invalid as exc:
            self._reject(ctx, str(exc))
            return
        self._remember(token, claims)
        self._accept(ctx, claims)

    def _reject(self, ctx: RequestContext, why: str) -> None:
        if self.mode == "permissive":
            if not self.passthrough:  # not verified, and still the client's credential
                self.location.remove(ctx.request)
            return None
        raise unauthorized(ctx, self.llm, why, _INVALID)

    def _accept(self, ctx: RequestContext, claims: dict[str, Any]) -> None:
        vars_of(ctx).set("jwt", claims)
        if not self.passthrough:
            self.location.remove(ctx.request)

    def _remember(self, token: bytes, claims: dict[str, Any]) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or "nbf" in claims:
            return  # a token without an expiry, or not valid yet at some point, is checked each time
        cache = self._cache
        if len(cache) >= _CACHE_MAX:
            del cache[next(iter(cache))]  # the oldest entry
        cache[token] = (claims, float(exp) + LEEWAY)

    def _select(self, token: bytes) -> tuple[Provider, dict[str, Any]]:
        """The provider whose issuer the token names, and the token's header."""
        if len(token) > MAX_TOKEN:
            raise _Invalid("token too large")
        try:
            header = jwt.get_unverified_header(token)
            providers = self.providers
            if len(providers) == 1:
                return providers[0], header
            payload = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _Invalid("malformed token") from None
        iss = payload.get("iss")
        for p in providers:
            if p.issuer == iss:
                return p, header
        raise _Invalid("untrusted issuer")

    @staticmethod
    def _verify(token: bytes, provider: Provider, header: dict[str, Any], keys: KeySet | None) -> dict[str, Any]:
        if keys is None:
            raise _Invalid("signing keys unavailable")
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str) or alg == "none":
            raise _Invalid("algorithm not allowed")
        candidates = keys.candidates(kid if isinstance(kid, str) else None, alg)
        if not candidates:
            raise _Invalid("no key for this token")
        last = "invalid signature"
        for key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key=key.key,
                    algorithms=[alg],
                    issuer=provider.issuer,
                    audience=list(provider.audiences) if provider.audiences is not None else None,
                    leeway=LEEWAY,
                    options={"require": list(provider.required), "verify_aud": provider.audiences is not None},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                last = _why(exc)
                break
            return claims
        raise _Invalid(last)


def _why(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "invalid audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "invalid issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing required claim {exc.claim}"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed"
    if isinstance(exc, jwt.DecodeError):
        return "malformed token"
    return "invalid token"


# -- config -> policy ------------------------------------------------------------------------------
def build(spec: JwtAuthSpec, site: Site) -> JwtAuth | None:
    path, errors = site.path, site.errors
    llm = site.llm
    passthrough = site.passthrough
    if spec.location is not None and spec.location.expression is not None:
        errors.append(f"{path}.location.expression: not supported yet: expression locations")
        return None
    providers: list[Provider] = []
    if spec.providers is not None:
        for i, p in enumerate(spec.providers):
            provider = _provider(p, f"{path}.providers[{i}]", errors)
            if provider is not None:
                providers.append(provider)
    elif spec.issuer is not None and spec.jwks is not None:
        opts = spec.jwt_validation_options
        provider = _provider_of(
            spec.issuer, spec.audiences, spec.jwks, opts.required_claims if opts else ["exp"], path, errors
        )
        if provider is not None:
            providers.append(provider)
    if not providers:
        return None
    return JwtAuth(
        mode=spec.mode,
        providers=tuple(providers),
        location=location_of(spec.location),
        passthrough=passthrough,
        llm=llm,
    )


def _provider(p: JwtProviderSpec, path: str, errors: list[str]) -> Provider | None:
    opts = p.jwt_validation_options
    return _provider_of(p.issuer, p.audiences, p.jwks, opts.required_claims if opts else ["exp"], path, errors)


def _provider_of(
    issuer: str,
    audiences: Sequence[str] | None,
    jwks: str | FileOrUrl,
    required: Sequence[str],
    path: str,
    errors: list[str],
) -> Provider | None:
    unknown = [c for c in required if c not in _ENFORCED_CLAIMS]
    if unknown:
        errors.append(f"{path}.jwtValidationOptions.requiredClaims: unknown claim {unknown[0]!r}")
    provider = Provider(issuer, tuple(audiences) if audiences is not None else None, tuple(required))
    if isinstance(jwks, FileOrUrl) and jwks.url is not None:
        if not jwks.url.startswith(("http://", "https://")):
            errors.append(f"{path}.jwks.url: must be an http:// or https:// URL")
            return None
        provider.remote = RemoteKeySet(jwks.url)
        return provider
    try:
        if isinstance(jwks, FileOrUrl):
            assert jwks.file is not None
            with open(jwks.file, "rb") as fh:
                provider.keys = parse_key_set(fh.read())
        else:
            provider.keys = parse_key_set(jwks)
    except OSError as exc:
        errors.append(f"{path}.jwks.file: cannot read: {exc.strerror}")
        return None
    except JwksError as exc:
        errors.append(f"{path}.jwks: {exc}")
        return None
    return provider


KIND: Final[PolicyKind[JwtAuthSpec]] = PolicyKind("jwtAuth", lambda p: p.jwt_auth, build, listener=lambda p: p.jwt_auth)
