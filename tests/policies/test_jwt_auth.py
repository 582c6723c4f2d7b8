"""jwtAuth on real tokens: every key type, every forged-token vector, every mode, bad input."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import msgspec
import pytest

from fastgw.cel import vars_of
from fastgw.config.schema_policies import JwtAuth as JwtAuthSpec
from fastgw.context import RequestContext
from fastgw.errors import Dialect, Unauthorized, render
from fastgw.http.request import Request
from fastgw.policies import jwt_auth
from fastgw.policies.jwks import MAX_KEYS, JwksError, parse_key_set
from fastgw.policies.kind import Site
from tests.auth_keys import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    b64url,
    ec_key,
    ed25519_key,
    hmac_key,
    jwks,
    raw_token,
    rsa_key,
    unsigned_token,
)

RSA = rsa_key()
PS = rsa_key("ps-1", "PS256")
EC = ec_key()
ED = ed25519_key()
HS = hmac_key()
ALL = (RSA, PS, EC, ED, HS)


def policy(mode: str = "strict", keys: tuple[SigningKey, ...] = ALL, **spec: Any) -> jwt_auth.JwtAuth:
    doc = {"mode": mode, "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": jwks(*keys), **spec}
    errors: list[str] = []
    built = jwt_auth.build(msgspec.convert(doc, JwtAuthSpec), Site("jwtAuth", errors, llm=False, passthrough=False))
    assert not errors and built is not None, errors
    return built


def ctx_with(authorization: bytes | None, path: bytes = b"/x") -> RequestContext:
    headers = [(b"host", b"gw"), (b"x-other", b"1")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    req = Request(b"GET", path, path, b"", b"1.1", headers, b"gw", "127.0.0.1:1000", 0.0, None, b"127.0.0.1")
    return RequestContext(None, None, req, None)  # type: ignore[arg-type]


def run(p: jwt_auth.JwtAuth, token: str | bytes | None) -> RequestContext:
    value = None if token is None else b"Bearer " + (token.encode() if isinstance(token, str) else token)
    ctx = ctx_with(value)
    assert p.on_request(ctx) is None  # inline keys: never awaits
    return ctx


def rejected(p: jwt_auth.JwtAuth, token: str | bytes | None) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        run(p, token)
    return info.value


@pytest.mark.parametrize("key", ALL, ids=lambda k: k.alg)
def test_valid_token_of_each_key_type(key: SigningKey) -> None:
    ctx = run(policy(), key.token(email="a@example.com"))
    claims = vars_of(ctx).get("jwt")
    assert claims["sub"] == "alice" and claims["email"] == "a@example.com"
    # the token is not forwarded upstream
    assert all(n != b"authorization" for n, _ in ctx.request.headers)
    assert (b"x-other", b"1") in ctx.request.headers


def now() -> int:
    return int(time.time())


def claims_bytes() -> bytes:
    return json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now() + 600}).encode()


def confused(key: SigningKey) -> str:
    """Algorithm confusion: HMAC keyed with the server's public key (which an attacker has)."""
    return raw_token({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, claims_bytes(), key.public_pem())


FORGED = {
    "alg none": lambda: unsigned_token({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now() + 60}),
    "alg none with kid": lambda: unsigned_token({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 60}, kid=RSA.kid),
    "HS256 signed with the RSA public key": lambda: confused(RSA),
    "HS256 signed with the EC public key": lambda: confused(EC),
    "HS256 signed with the RSA JWK text": lambda: raw_token(
        {"alg": "HS256", "kid": RSA.kid}, claims_bytes(), json.dumps(RSA.jwk).encode()
    ),
    "wrong issuer": lambda: RSA.token(iss="https://evil.test"),
    "wrong audience": lambda: RSA.token(aud="other-api"),
    "no audience": lambda: RSA.token(aud=None),
    "bad signature": lambda: RSA.token()[:-4] + ("AAAA" if not RSA.token().endswith("AAAA") else "BBBB"),
    "signed by another key with the same kid": lambda: rsa_key(RSA.kid).token(),
    "expired": lambda: RSA.token(exp=now() - 3600),
    "not yet valid": lambda: RSA.token(nbf=now() + 3600),
    "missing exp": lambda: RSA.token(exp=None),
    "unknown kid": lambda: rsa_key("nobody").token(),
    "HMAC with the wrong secret": lambda: hmac_key(HS.kid, b"x" * 40).token(),
    "header alg differs from the key's (PS key, RS alg)": lambda: SigningKey(PS.kid, "RS256", PS.private, {}).token(),
}


@pytest.mark.parametrize("make", FORGED.values(), ids=list(FORGED))
def test_forged_tokens_are_rejected(make: Any) -> None:
    err = rejected(policy(), make())
    assert err.status == 401
    assert (b"www-authenticate", b'Bearer error="invalid_token"') in err.extra_headers


def test_expiry_leeway_is_small() -> None:
    p = policy()
    run(p, RSA.token(exp=now() - 30))  # within the 60 s leeway
    rejected(p, RSA.token(exp=now() - 120))


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer ",
        b"Bearer",
        b"Bearer not-a-jwt",
        b"Bearer a.b.c",
        b"Bearer ....",
        b"Bearer " + b"\xff\xfe" * 10,
        b"Bearer " + b"A" * 100_000,
        b"Bearer " + b".".join([b"e30"] * 3),
    ],
    ids=["empty", "no space", "garbage", "abc", "dots", "binary", "100KB", "empty json"],
)
def test_malformed_authorization_headers(value: bytes) -> None:
    ctx = ctx_with(value)
    with pytest.raises(Unauthorized) as info:
        policy().on_request(ctx)
    assert info.value.status == 401
    assert value[7:30] not in info.value.message.encode() or not value[7:30]


def test_basic_scheme_is_no_bearer_token() -> None:
    ctx = ctx_with(b"Basic dXNlcjpwYXNz")
    with pytest.raises(Unauthorized) as info:
        policy().on_request(ctx)
    assert (b"www-authenticate", b"Bearer") in info.value.extra_headers


def test_non_utf8_claims() -> None:
    token = raw_token({"alg": "HS256", "kid": HS.kid, "typ": "JWT"}, b'{"sub":"\xff\xfe","exp":9999999999}', HS.private)
    err = rejected(policy(), token)
    assert err.message == "authentication failure: malformed token"


def test_modes() -> None:
    bad = RSA.token(exp=now() - 3600)
    # strict: a token is required
    assert (b"www-authenticate", b"Bearer") in rejected(policy("strict"), None).extra_headers
    # optional: none is fine, a bad one is not
    assert vars_of(run(policy("optional"), None)).get("jwt") == {}
    rejected(policy("optional"), bad)
    # permissive: never rejects, a bad token sets no claims (and is not forwarded either)
    ctx = run(policy("permissive"), bad)
    assert vars_of(ctx).get("jwt") == {}
    assert all(n != b"authorization" for n, _ in ctx.request.headers)
    assert vars_of(run(policy("permissive"), RSA.token())).get("jwt")["sub"] == "alice"


def test_multi_provider_form_picks_by_issuer() -> None:
    other = rsa_key("other-1")
    doc = {
        "mode": "strict",
        "providers": [
            {"issuer": ISSUER, "audiences": [AUDIENCE], "jwks": jwks(RSA)},
            {"issuer": "https://second.test", "jwks": jwks(other)},
        ],
    }
    p = jwt_auth.build(msgspec.convert(doc, JwtAuthSpec), Site("j", [], llm=False, passthrough=False))
    assert p is not None
    assert vars_of(run(p, other.token(iss="https://second.test", aud=None))).get("jwt")["iss"] == "https://second.test"
    assert vars_of(run(p, RSA.token())).get("jwt")["iss"] == ISSUER
    rejected(p, other.token())  # the first issuer's name, the second's key
    rejected(p, RSA.token(iss="https://third.test"))


def test_required_claims_and_passthrough() -> None:
    p = policy(jwtValidationOptions={"requiredClaims": ["exp", "sub", "jti"]})
    rejected(p, RSA.token())  # no jti
    run(p, RSA.token(jti="1"))
    keep = jwt_auth.build(
        msgspec.convert({"issuer": ISSUER, "jwks": jwks(RSA)}, JwtAuthSpec), Site("j", [], llm=False, passthrough=True)
    )
    assert keep is not None
    token = RSA.token()
    ctx = run(keep, token)
    assert (b"authorization", b"Bearer " + token.encode()) in ctx.request.headers


def test_other_locations() -> None:
    p = policy(location={"queryParameter": {"name": "access_token"}})
    token = RSA.token()
    req = Request(b"GET", b"/x", b"/x", f"a=1&access_token={token}&b=2".encode(), b"1.1", [], b"gw", "h:1", 0.0)
    ctx = RequestContext(None, None, req, None)  # type: ignore[arg-type]
    assert p.on_request(ctx) is None
    assert req.query == b"a=1&b=2"
    c = policy(location={"cookie": {"name": "session"}})
    req = Request(b"GET", b"/x", b"/x", b"", b"1.1", [(b"cookie", f"a=1; session={token}".encode())], b"gw", "h:1", 0.0)
    ctx = RequestContext(None, None, req, None)  # type: ignore[arg-type]
    assert c.on_request(ctx) is None
    assert req.headers == [(b"cookie", b"a=1")]


def test_llm_route_answers_in_the_clients_dialect() -> None:
    doc = {"mode": "strict", "issuer": ISSUER, "jwks": jwks(RSA)}
    p = jwt_auth.build(msgspec.convert(doc, JwtAuthSpec), Site("j", [], llm=True, passthrough=False))
    assert p is not None
    for path, dialect in ((b"/v1/chat/completions", Dialect.OPENAI), (b"/v1/messages", Dialect.ANTHROPIC)):
        ctx = ctx_with(None, path)
        with pytest.raises(Unauthorized) as info:
            p.on_request(ctx)
        assert ctx.dialect is dialect
        body = json.loads(render(info.value, ctx.dialect)[1])
        assert body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json", "JWKS is not valid JSON"),
        ("[1, 2]", 'JWKS must be an object with "keys"'),
        ('{"keys": {}}', '"keys" must be a list'),
        (json.dumps({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}] * (MAX_KEYS + 1)}), "at most"),
        ('{"keys": [{"kty": "XYZ"}]}', "unsupported key type"),
        ('{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}', "invalid key material"),
        ('{"keys": []}', "no usable signing key"),
    ],
)
def test_bad_key_sets(doc: str, message: str) -> None:
    with pytest.raises(JwksError) as info:
        parse_key_set(doc)
    assert message in str(info.value)


def test_ten_thousand_key_set_is_a_config_error() -> None:
    doc = {"keys": [dict(RSA.jwk, kid=f"k{i}") for i in range(10_000)]}
    errors: list[str] = []
    spec = msgspec.convert({"issuer": ISSUER, "jwks": json.dumps(doc)}, JwtAuthSpec)
    assert jwt_auth.build(spec, Site("p.jwtAuth", errors, llm=False, passthrough=False)) is None
    assert errors == ["p.jwtAuth.jwks: JWKS larger than 524288 bytes"]  # bounded before it is parsed


def test_hmac_secret_never_in_errors() -> None:
    secret = b"super-secret-hmac-material-0123456789"
    bad = {"keys": [{"kty": "oct", "k": b64url(secret), "alg": "RS256"}]}  # HMAC key claiming RSA
    with pytest.raises(JwksError) as info:
        parse_key_set(json.dumps(bad))
    assert b64url(secret) not in str(info.value) and base64.b64encode(secret).decode() not in str(info.value)


def test_verified_tokens_are_cached_until_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    p = policy()
    exp = now() + 600
    token = RSA.token(exp=exp)
    run(p, token)
    assert p._cache[token.encode()][1] == exp + jwt_auth.LEEWAY
    short = RSA.token(exp=now() - 30)  # valid within the leeway
    run(p, short)
    # once the cached entry's time is up, the token is verified again (and now fails)
    p._cache[short.encode()] = (p._cache[short.encode()][0], time.time() - 1)
    monkeypatch.setattr(jwt_auth, "LEEWAY", 0)
    rejected(p, short)
    assert short.encode() not in p._cache
