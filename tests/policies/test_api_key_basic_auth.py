"""apiKey and basicAuth on real keys and htpasswd files with real hashes (bcrypt from the bcrypt
package, apr1 from `openssl passwd -apr1`, {SHA} from hashlib)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fastgw.cel import vars_of
from fastgw.config.schema_policies import ApiKeys, BasicAuth
from fastgw.context import RequestContext
from fastgw.errors import Unauthorized
from fastgw.http.request import Request
from fastgw.policies import api_key, basic_auth
from fastgw.policies.htpasswd import HtpasswdError, apr1, parse
from fastgw.policies.kind import Site
from tests.auth_keys import htpasswd_apr1, htpasswd_bcrypt, htpasswd_sha

KEY_A = "sk-team-a-0123456789"
KEY_B = "sk-team-b-9876543210"


def ctx_with(*headers: tuple[bytes, bytes], query: bytes = b"") -> RequestContext:
    req = Request(b"GET", b"/x", b"/x", query, b"1.1", list(headers), b"gw", "127.0.0.1:1", 0.0, None, b"127.0.0.1")
    return RequestContext(None, None, req, None)  # type: ignore[arg-type]


def keys_policy(mode: str = "strict", **extra: Any) -> api_key.ApiKey:
    doc = {
        "mode": mode,
        "keys": [
            {"key": KEY_A, "metadata": {"team": "a", "name": "Team A"}},
            {"keyHash": "sha256:" + hashlib.sha256(KEY_B.encode()).hexdigest(), "metadata": {"team": "b"}},
        ],
        **extra,
    }
    errors: list[str] = []
    p = api_key.build(msgspec.convert(doc, ApiKeys), Site("apiKey", errors, llm=False))
    assert p is not None and not errors, errors
    return p


def test_api_keys_inline_and_hashed() -> None:
    p = keys_policy()
    for key, team in ((KEY_A, "a"), (KEY_B, "b")):
        ctx = ctx_with((b"authorization", b"Bearer " + key.encode()), (b"x-keep", b"1"))
        assert p.on_request(ctx) is None
        assert vars_of(ctx).get("apiKey")["team"] == team
        assert ctx.request.headers == [(b"x-keep", b"1")]  # the key does not go upstream


@pytest.mark.parametrize(
    "headers",
    [
        (),
        ((b"authorization", b"Bearer sk-wrong"),),
        ((b"authorization", b"Bearer " + KEY_A.encode() + b"x"),),
        ((b"authorization", b"Bearer " + KEY_A[:-1].encode()),),
        ((b"authorization", b"Basic " + base64.b64encode(KEY_A.encode())),),
        ((b"authorization", b"Bearer"),),
        ((b"authorization", b"\xff\xfe"),),
    ],
    ids=["missing", "unknown", "longer", "shorter", "basic scheme", "empty", "binary"],
)
def test_api_key_rejections(headers: tuple[tuple[bytes, bytes], ...]) -> None:
    with pytest.raises(Unauthorized) as info:
        keys_policy().on_request(ctx_with(*headers))
    assert info.value.status == 401
    assert (b"www-authenticate", b"Bearer") in info.value.extra_headers
    assert KEY_A not in info.value.message


def test_api_key_modes_and_locations() -> None:
    assert keys_policy("optional").on_request(ctx_with()) is None
    with pytest.raises(Unauthorized):
        keys_policy("optional").on_request(ctx_with((b"authorization", b"Bearer nope")))
    assert keys_policy("permissive").on_request(ctx_with((b"authorization", b"Bearer nope"))) is None
    p = keys_policy(location={"header": {"name": "x-api-key"}})
    ctx = ctx_with((b"x-api-key", KEY_A.encode()))
    assert p.on_request(ctx) is None and ctx.request.headers == []
    with pytest.raises(Unauthorized) as info:
        p.on_request(ctx_with())
    assert (b"www-authenticate", b'ApiKey realm="fastgw"') in info.value.extra_headers
    q = keys_policy(location={"queryParameter": {"name": "key"}})
    ctx = ctx_with(query=b"key=" + KEY_A.encode() + b"&x=1")
    assert q.on_request(ctx) is None and ctx.request.query == b"x=1"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"keys": [{"keyHash": "md5:abc"}]}, 'expected "sha256:<64 hex digits>"'),
        ({"keys": [{"keyHash": "sha256:zz"}]}, 'expected "sha256:<64 hex digits>"'),
        ({"keys": [{"key": "a"}, {"key": "a"}]}, "the same key is listed twice"),
        ({"keys": [{"key": "a", "allowedModels": ["gpt-*"]}]}, "not supported yet: allowedModels"),
    ],
)
def test_api_key_config_errors(doc: dict[str, Any], message: str) -> None:
    errors: list[str] = []
    api_key.build(msgspec.convert(doc, ApiKeys), Site("p.apiKey", errors, llm=False))
    assert any(message in e for e in errors), errors


# -- basicAuth -----------------------------------------------------------------------------------
def test_apr1_matches_openssl() -> None:
    line = htpasswd_apr1("u", "secret")
    assert line == "u:" + apr1(b"secret", b"q1w2e3r4")
    assert line == "u:$apr1$q1w2e3r4$SXKfhrdCZigvQUqULBhhk."


def basic_policy(text: str, mode: str = "strict", realm: str | None = "team") -> basic_auth.BasicAuth:
    doc: dict[str, Any] = {"htpasswd": text, "mode": mode}
    if realm is not None:
        doc["realm"] = realm
    errors: list[str] = []
    p = basic_auth.build(msgspec.convert(doc, BasicAuth), Site("basicAuth", errors, llm=False))
    assert p is not None and not errors, errors
    return p


def basic(user: str, password: str) -> tuple[bytes, bytes]:
    return (b"authorization", b"Basic " + base64.b64encode(f"{user}:{password}".encode()))


def check(p: basic_auth.BasicAuth, ctx: RequestContext) -> None:
    pending = p.on_request(ctx)
    if pending is not None:
        asyncio.run(pending)  # type: ignore[arg-type]


HTPASSWD = "\n".join(
    [
        "# users",
        htpasswd_bcrypt("bea", "b-pass"),
        htpasswd_apr1("april", "a-pass"),
        htpasswd_sha("sha", "s-pass"),
        htpasswd_bcrypt("ünï", "pässwörd"),
    ]
)


@pytest.mark.parametrize(
    ("user", "password"), [("bea", "b-pass"), ("april", "a-pass"), ("sha", "s-pass"), ("ünï", "pässwörd")]
)
def test_each_hash_kind(user: str, password: str) -> None:
    p = basic_policy(HTPASSWD)
    ctx = ctx_with(basic(user, password), (b"x-keep", b"1"))
    check(p, ctx)
    assert vars_of(ctx).get("basicAuth") == {"username": user}
    assert ctx.request.headers == [(b"x-keep", b"1")]
    with pytest.raises(Unauthorized) as info:
        check(p, ctx_with(basic(user, password + "x")))
    assert (b"www-authenticate", b'Basic realm="team"') in info.value.extra_headers
    assert password not in info.value.message


@pytest.mark.parametrize(
    "value",
    [
        b"Basic",
        b"Basic !!!",
        b"Basic " + base64.b64encode(b"nocolon"),
        b"Basic " + base64.b64encode(b"\xff:x"),
        b"Bearer x",
    ],
)
def test_malformed_basic_credentials(value: bytes) -> None:
    with pytest.raises(Unauthorized):
        check(basic_policy(HTPASSWD), ctx_with((b"authorization", value)))


def test_unknown_user_and_modes() -> None:
    with pytest.raises(Unauthorized):
        check(basic_policy(HTPASSWD), ctx_with(basic("nobody", "x")))
    with pytest.raises(Unauthorized) as info:
        check(basic_policy(HTPASSWD, realm=None), ctx_with())
    assert (b"www-authenticate", b'Basic realm="fastgw"') in info.value.extra_headers
    check(basic_policy(HTPASSWD, mode="optional"), ctx_with())


def test_bcrypt_success_is_remembered() -> None:
    p = basic_policy(HTPASSWD)
    check(p, ctx_with(basic("bea", "b-pass")))
    assert p.on_request(ctx_with(basic("bea", "b-pass"))) is None  # no second bcrypt round
    pending = p.on_request(ctx_with(basic("bea", "wrong")))
    assert pending is not None  # a different password is checked
    with pytest.raises(Unauthorized):
        asyncio.run(pending)  # type: ignore[arg-type]


def test_htpasswd_file(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(HTPASSWD)
    errors: list[str] = []
    p = basic_auth.build(msgspec.convert({"htpasswd": {"file": str(path)}}, BasicAuth), Site("b", errors, llm=False))
    assert p is not None and not errors
    check(p, ctx_with(basic("sha", "s-pass")))
    basic_auth.build(
        msgspec.convert({"htpasswd": {"file": str(tmp_path / "none")}}, BasicAuth), Site("b", errors, llm=False)
    )
    assert errors == ["b.htpasswd.file: cannot read: No such file or directory"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user:plaintext", "line 1: unsupported hash"),
        ("user:abJnggxhB/yWI", "line 1: unsupported hash"),
        ("nocolon", "line 1: expected user:hash"),
        ("u:$2y$10$short", "line 1: malformed bcrypt hash"),
        ("u:{SHA}notbase64!", "line 1: malformed {SHA} hash"),
        ("u:$apr1$x$y", "line 1: malformed apr1 hash"),
        ("", "no users"),
    ],
)
def test_bad_htpasswd(text: str, message: str) -> None:
    with pytest.raises(HtpasswdError) as info:
        parse(text)
    assert message in str(info.value)
    assert "plaintext" not in str(info.value)
