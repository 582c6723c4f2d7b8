"""CEL and the authentication policies end to end, through the real multi-worker gateway: every
expression variable reaches an expression (request transformations put them in headers the
echo upstream reports; response transformations carry the LLM call's), authorization rules over
each identity, 403 in the client's dialect, and no credential in any answer, log, metric or dump."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.auth_keys import ISSUER, htpasswd_apr1, htpasswd_bcrypt, htpasswd_sha, jwks, rsa_key
from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until

API_KEY = "sk-team-a-canary-4242424242"
PASSWORD = "pw-canary-313131"


def call(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def literal(text: str) -> str:
    """A config value written so that `$` survives the config's ${VAR} expansion."""
    return text.replace("$", "$$")


def echoed(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(data)
    return out


def test_every_variable_reaches_an_expression(tmp_path: Path) -> None:
    key = rsa_key("k1")
    up = Upstream(tmp_path)
    fake = FakeProvider(tmp_path)
    port = free_port()
    show = {
        "x-method": "request.method",
        "x-path": "request.path",
        "x-host": "request.host",
        "x-uri": "request.uri",
        "x-paq": "request.pathAndQuery",
        "x-team": 'request.headers["x-team"]',
        "x-body-model": "json(request.body).model",
        "x-src": "source.address",
        "x-src-port": "string(source.port)",
        "x-sub": "jwt.sub",
        "x-groups": "jwt.groups",
        "x-api-team": "apiKey.team",
        "x-basic-user": "basicAuth.username",
        "x-absent": "jwt.nothing",
        "x-default": 'default(jwt.nothing, "anon")',
        "x-meta": "metadata.tier",
    }
    routes = [
        {
            "name": "jwt",
            "matches": [{"path": {"pathPrefix": "/jwt"}}],
            "policies": {
                "jwtAuth": {"mode": "strict", "issuer": ISSUER, "jwks": jwks(key)},
                "transformations": {"request": {"set": show, "metadata": {"tier": '"gold"'}}},
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "key",
            "matches": [{"path": {"pathPrefix": "/key"}}],
            "policies": {
                "apiKey": {"mode": "strict", "keys": [{"key": API_KEY, "metadata": {"team": "a"}}]},
                "transformations": {"request": {"set": show}},
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "basic",
            "matches": [{"path": {"pathPrefix": "/basic"}}],
            "policies": {
                "basicAuth": {"mode": "strict", "htpasswd": literal(htpasswd_bcrypt("bea", PASSWORD)), "realm": "r"},
                "transformations": {"request": {"set": show}},
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "llm",
            "matches": [{"path": {"pathPrefix": "/v1"}}],
            "policies": {
                "transformations": {
                    "response": {
                        "set": {
                            "x-req-model": "llm.requestModel",
                            "x-resp-model": "llm.response_model",
                            "x-in": "string(llm.inputTokens)",
                            "x-out": "string(llm.output_tokens)",
                            "x-total": "string(llm.totalTokens)",
                            "x-provider": "llm.provider",
                            "x-code": "string(response.code)",
                            "x-backend": "backend.type",
                            "x-upstream-ctype": 'response.headers["content-type"]',
                        }
                    }
                },
            },
            "backends": [{"ai": {"name": "fake", "provider": {"openAI": {}}, "hostOverride": fake.authority}}],
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:
        body = b'{"model": "m-1", "x": 1}'
        for _ in range(4):  # both workers
            token = key.token(groups=["eng", "llm"])
            status, _, data = call(
                port,
                "POST",
                "/jwt/a?q=1",
                {"authorization": f"Bearer {token}", "x-team": "blue", "content-type": "application/json"},
                body,
            )
            assert status == 200, data
            seen = echoed(data)
            h = seen["headers"]
            assert seen["body"] == body.decode()  # the buffered body still goes upstream whole
            assert "authorization" not in h
            assert h["x-method"] == "POST" and h["x-path"] == "/jwt/a" and h["x-paq"] == "/jwt/a?q=1"
            assert h["x-host"] == f"127.0.0.1:{port}" and h["x-uri"] == f"http://127.0.0.1:{port}/jwt/a?q=1"
            assert h["x-team"] == "blue" and h["x-body-model"] == "m-1"
            assert h["x-src"] == "127.0.0.1" and 0 < int(h["x-src-port"]) < 65536
            assert h["x-sub"] == "alice" and json.loads(h["x-groups"]) == ["eng", "llm"]
            assert "x-api-team" not in h and "x-basic-user" not in h and "x-absent" not in h
            assert h["x-default"] == "anon" and h["x-meta"] == "gold"

        status, _, data = call(port, "GET", "/key/b", {"authorization": f"Bearer {API_KEY}"})
        assert status == 200, data
        h = echoed(data)["headers"]
        assert h["x-api-team"] == "a" and "x-sub" not in h and "authorization" not in h

        basic = base64.b64encode(f"bea:{PASSWORD}".encode()).decode()
        status, _, data = call(port, "GET", "/basic/c", {"authorization": f"Basic {basic}"})
        assert status == 200, data
        h = echoed(data)["headers"]
        assert h["x-basic-user"] == "bea" and "authorization" not in h

        status, headers, data = call(
            port,
            "POST",
            "/v1/chat/completions",
            {"content-type": "application/json"},
            json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode(),
        )
        assert status == 200, data
        assert headers["x-req-model"] == "gpt-4o-mini"
        assert headers["x-provider"] == "openai" and headers["x-code"] == "200" and headers["x-backend"] == "ai"
        # the answer's model and token counts are read from its body, after the head has gone
        # out: a response-head expression has no value for them (log fields, evaluated at the
        # request's end, have; tests/cel/test_cel_vars.py::test_llm_variables_both_spellings)
        assert not {"x-resp-model", "x-in", "x-out", "x-total"} & headers.keys()
        assert headers["x-upstream-ctype"].startswith("application/json")
    finally:
        g.stop()
        up.stop()
        fake.stop()


def test_authorization_rules_and_dialects(tmp_path: Path) -> None:
    key = rsa_key("k1")
    up = Upstream(tmp_path)
    fake = FakeProvider(tmp_path)
    port = free_port()
    users = "\n".join(
        [htpasswd_bcrypt("bea", PASSWORD), htpasswd_apr1("april", PASSWORD), htpasswd_sha("sha", PASSWORD)]
    )
    routes = [
        {
            "name": "rules",
            "matches": [{"path": {"pathPrefix": "/api"}}],
            "policies": {
                "jwtAuth": {"mode": "optional", "issuer": ISSUER, "jwks": jwks(key)},
                "authorization": {
                    "rules": [
                        'jwt.groups.exists(g, g == "eng")',  # an allow
                        {"allow": 'request.headers["x-break-glass"] == "yes"'},
                        {"deny": 'request.path.startsWith("/api/admin") && !("admin" in jwt.groups)'},
                        {"require": 'cidr("127.0.0.0/8").containsIP(source.address)'},
                        {"deny": 'json(request.body).model == "forbidden-model"'},
                    ]
                },
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "basic",
            "matches": [{"path": {"pathPrefix": "/team"}}],
            "policies": {
                "basicAuth": {"mode": "strict", "htpasswd": literal(users)},
                "authorization": {"rules": ['basicAuth.username in ["bea", "april"]']},
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "llm",
            "matches": [{"path": {"pathPrefix": "/v1"}}],
            "policies": {
                "apiKey": {"mode": "strict", "keys": [{"key": API_KEY, "metadata": {"tier": "free"}}]},
                "authorization": {"rules": [{"require": 'apiKey.tier == "paid"'}]},
            },
            "backends": [{"ai": {"name": "fake", "provider": {"openAI": {}}, "hostOverride": fake.authority}}],
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:

        def bearer(**claims: Any) -> dict[str, str]:
            return {"authorization": f"Bearer {key.token(**claims)}"}

        assert call(port, "GET", "/api/x", bearer(groups=["eng"]))[0] == 200
        status, _, data = call(port, "GET", "/api/x", bearer(groups=["ops"]))
        assert (status, data) == (403, b"authorization failed")
        assert call(port, "GET", "/api/x")[0] == 403  # no token: the allow rules have no value
        assert call(port, "GET", "/api/x", {"x-break-glass": "yes"})[0] == 200
        assert call(port, "GET", "/api/admin/x", bearer(groups=["eng"]))[0] == 403
        assert call(port, "GET", "/api/admin/x", bearer(groups=["eng", "admin"]))[0] == 200
        bad = json.dumps({"model": "forbidden-model"}).encode()
        assert (
            call(port, "POST", "/api/x", {**bearer(groups=["eng"]), "content-type": "application/json"}, bad)[0] == 403
        )
        ok = json.dumps({"model": "fine"}).encode()
        status, _, data = call(port, "POST", "/api/x", {**bearer(groups=["eng"]), "content-type": "a/j"}, ok)
        assert status == 200 and echoed(data)["body"] == ok.decode()
        # a body that is not JSON: the deny rule has no value, so it does not deny
        assert call(port, "POST", "/api/x", bearer(groups=["eng"]), b"\xff not json")[0] == 200

        for user, expect in (("bea", 200), ("april", 200), ("sha", 403)):
            basic = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
            assert call(port, "GET", "/team/x", {"authorization": f"Basic {basic}"})[0] == expect
        status, headers, _ = call(port, "GET", "/team/x")
        assert status == 401 and headers["www-authenticate"] == 'Basic realm="fastgw"'

        # LLM routes answer in the client's dialect
        chat = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
        status, _, data = call(port, "POST", "/v1/chat/completions", {"authorization": f"Bearer {API_KEY}"}, chat)
        assert status == 403 and json.loads(data)["error"]["type"] == "permission_error"
        assert json.loads(data)["error"]["code"] == "authorization"
        msg = json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).encode()
        status, _, data = call(port, "POST", "/v1/messages", {"x-api-key": "wrong"}, msg)
        assert status == 401 and json.loads(data) == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "authentication failure: no API key"},
        }
        assert fake.requests() == []  # nothing reached the provider
    finally:
        g.stop()
        up.stop()
        fake.stop()


def test_credentials_never_leak(tmp_path: Path) -> None:
    """The canaries: a JWT, an API key, a password, and the HMAC secret of the JWKS."""
    secret = b"hmac-canary-secret-5150515051505150"
    from tests.auth_keys import hmac_key

    hs = hmac_key("hs", secret)
    up = Upstream(tmp_path)
    port = free_port()
    users = htpasswd_bcrypt("bea", PASSWORD)
    routes = [
        {
            "matches": [{"path": {"pathPrefix": "/jwt"}}],
            "policies": {"jwtAuth": {"mode": "strict", "issuer": ISSUER, "jwks": jwks(hs)}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "matches": [{"path": {"pathPrefix": "/key"}}],
            "policies": {"apiKey": {"mode": "strict", "keys": [{"key": "${TEAM_KEY}", "metadata": {"team": "a"}}]}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "matches": [{"path": {"pathPrefix": "/basic"}}],
            "policies": {"basicAuth": {"htpasswd": literal(users), "mode": "strict"}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=1, env={"TEAM_KEY": API_KEY})
    try:
        token = hs.token()
        expired = hs.token(exp=1)
        basic_ok = base64.b64encode(f"bea:{PASSWORD}".encode()).decode()
        basic_bad = base64.b64encode(f"bea:{PASSWORD}x".encode()).decode()
        answers = []
        for path, auth, want in (
            ("/jwt/x", f"Bearer {token}", 200),
            ("/jwt/x", f"Bearer {expired}", 401),
            ("/key/x", f"Bearer {API_KEY}", 200),
            ("/key/x", f"Bearer {API_KEY}-wrong", 401),
            ("/basic/x", f"Basic {basic_ok}", 200),
            ("/basic/x", f"Basic {basic_bad}", 401),
        ):
            status, headers, data = call(port, "GET", path, {"authorization": auth})
            assert status == want, (path, data)
            answers.append(data + json.dumps(headers).encode())
        canaries = [token, expired, API_KEY, PASSWORD, basic_ok, basic_bad, secret.decode()]
        canaries.append(base64.urlsafe_b64encode(secret).rstrip(b"=").decode())
        canaries.append(hashlib.sha256(API_KEY.encode()).hexdigest())
        dump = urllib.request.urlopen(f"http://127.0.0.1:{g.admin_port}/config_dump").read().decode()
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics").read().decode()
        wait_until(lambda: g.output().count("http.status") >= 6, timeout=10, what="access log")
        log = g.output()
        for canary in canaries:
            for where, text in (("dump", dump), ("metrics", metrics), ("log", log)):
                assert canary not in text, (canary, where)
            for a in answers:
                assert canary.encode() not in a
    finally:
        g.stop()
        up.stop()


def test_direct_response_body_expression(tmp_path: Path) -> None:
    """`directResponse.bodyExpression` gives the body per request (it was ignored before)."""
    port = free_port()
    routes = [
        {
            "matches": [{"path": {"pathPrefix": "/hello"}}],
            "policies": {
                "directResponse": {
                    "status": 200,
                    "body": "fallback",
                    "bodyExpression": 'toJson({"hello": request.headers["x-name"], "path": request.path})',
                    "headers": {"content-type": "application/json"},
                }
            },
        },
        {
            "matches": [{"path": {"pathPrefix": "/echo-body"}}],
            "policies": {"directResponse": {"status": 201, "bodyExpression": "request.body"}},
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:
        status, headers, data = call(port, "GET", "/hello/x", {"x-name": "ada"})
        assert status == 200 and json.loads(data) == {"hello": "ada", "path": "/hello/x"}
        assert headers["content-type"] == "application/json"
        assert call(port, "GET", "/hello/x")[2] == b"fallback"  # no x-name: no value, the static body
        status, _, data = call(port, "POST", "/echo-body", {"content-type": "text/plain"}, b"round trip")
        assert (status, data) == (201, b"round trip")
    finally:
        g.stop()


def test_validate_reports_cel_errors_with_their_place(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.e2e.procs import ROOT

    path = tmp_path / "bad.yaml"
    path.write_text(
        "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies:\n"
        "        authorization:\n          rules:\n          - 'jwt.sub == '\n"
        "          - {deny: 'request.path.startsWith(\"/x\"'}\n"
        "        transformations: {request: {set: {x-a: '1 +'}}}\n"
        "      backends: [{host: '127.0.0.1:1'}]\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "fastgw", "validate", "-f", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert f"{path}:8: binds[0].listeners[0].routes[0].policies.authorization.rules[0]: invalid CEL: " in text
    assert f"{path}:9: binds[0].listeners[0].routes[0].policies.authorization.rules[1].deny: invalid CEL" in text
    assert "policies.transformations.request.set.x-a: invalid CEL: <input>:1:4: Syntax error" in text
