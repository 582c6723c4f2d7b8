"""extAuthz through the real gateway against a real local authorization service that allows,
denies, hangs and dies; and listener-level policies inherited by routes."""

from __future__ import annotations

import http.client
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.auth_keys import ISSUER, jwks, rsa_key
from tests.e2e.procs import Gateway, Upstream, free_port, wait_until


def call(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def checks(authz: Upstream) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{authz.url}/_checks", timeout=5) as r:
        out: list[dict[str, Any]] = json.loads(r.read())
    return out


def ext(authz: Upstream, **extra: Any) -> dict[str, Any]:
    return {
        "host": f"127.0.0.1:{authz.port}",
        "protocol": {
            "http": {
                "includeResponseHeaders": ["x-user"],
                "addRequestHeaders": {"x-original-path": "request.path"},
                "metadata": {"user": 'response.headers["x-user"]', "tenant": 'response.headers["x-tenant"]'},
            }
        },
        "includeRequestHeaders": ["authorization", "x-mode"],
        "policies": {"http": {"requestTimeout": "500ms"}},
        **extra,
    }


def test_ext_authz_allow_deny_hang_die(tmp_path: Path) -> None:
    authz = Upstream(tmp_path, "tests.e2e.authz_service")
    up = Upstream(tmp_path)
    port = free_port()

    def route(prefix: str, **extra: Any) -> dict[str, Any]:
        return {
            "matches": [{"path": {"pathPrefix": prefix}}],
            "policies": {
                "extAuthz": ext(authz, **extra),
                "transformations": {
                    "request": {"set": {"x-ext-user": "extauthz.user", "x-ext-tenant": "extauthz.tenant"}}
                },
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        }

    cfg = {
        "binds": [
            {
                "port": port,
                "listeners": [
                    {
                        "routes": [
                            route("/deny-mode"),
                            route("/allow-mode", failureMode="allow"),
                            route("/status-mode", failureMode={"denyWithStatus": 503}),
                            route("/body", includeRequestBody={"maxRequestBytes": 8}),
                            route("/cached", cache={"key": ['request.headers["x-mode"]'], "ttl": 'duration("60s")'}),
                        ]
                    }
                ],
            }
        ]
    }
    g = Gateway(tmp_path, cfg, workers=2)
    try:
        status, _, data = call(port, "GET", "/deny-mode/a?x=1", {"x-mode": "allow", "authorization": "Bearer t"})
        assert status == 200, data
        seen = json.loads(data)["headers"]
        assert seen["x-user"] == "alice"  # copied from the check's answer
        assert "x-authz-secret" not in seen and "x-tenant" not in seen  # only the named ones
        assert seen["x-ext-user"] == "alice" and seen["x-ext-tenant"] == "acme"  # extauthz.* metadata
        got = checks(authz)[-1]
        assert got["method"] == "GET" and got["path"] == "/deny-mode/a?x=1"
        assert got["headers"]["authorization"] == "Bearer t" and got["headers"]["x-original-path"] == "/deny-mode/a"
        assert got["headers"]["content-length"] == "0" and got["body"] == ""

        status, headers, data = call(port, "GET", "/deny-mode/a", {"x-mode": "deny"})
        assert (status, json.loads(data)) == (403, {"denied": True, "why": "policy"})
        assert headers["content-type"].startswith("application/json")
        assert call(port, "GET", "/deny-mode/a", {"x-mode": "unauthorized"})[:3:2] == (401, b"who are you")

        # the service hangs: the check times out (500 ms) and failureMode decides
        assert call(port, "GET", "/deny-mode/a", {"x-mode": "hang"})[0] == 403
        status, _, data = call(port, "GET", "/allow-mode/a", {"x-mode": "hang"})
        assert status == 200 and "x-ext-user" not in json.loads(data)["headers"]
        assert call(port, "GET", "/status-mode/a", {"x-mode": "hang"})[0] == 503
        # the service drops the connection
        assert call(port, "GET", "/deny-mode/a", {"x-mode": "die"})[0] == 403
        assert call(port, "GET", "/allow-mode/a", {"x-mode": "die"})[0] == 200

        # the body, up to maxRequestBytes; a larger one is refused unless partial messages are allowed
        status, _, data = call(port, "POST", "/body/a", {"x-mode": "allow"}, b"12345678")
        assert status == 200 and json.loads(data)["body"] == "12345678"  # the backend still gets it all
        assert checks(authz)[-1]["body"] == "12345678"
        assert call(port, "POST", "/body/a", {"x-mode": "allow"}, b"123456789")[0] == 413

        # cached allow decisions: the service is asked once per key per worker
        before = len(checks(authz))
        for _ in range(6):
            assert call(port, "GET", "/cached/a", {"x-mode": "allow"})[0] == 200
        assert len(checks(authz)) - before <= 2

        # the service is gone (process stopped): connection refused is a failure too
        authz.stop()
        assert call(port, "GET", "/deny-mode/a", {"x-mode": "allow"})[0] == 403
        assert call(port, "GET", "/allow-mode/a", {"x-mode": "allow"})[0] == 200
        assert call(port, "GET", "/status-mode/a", {"x-mode": "allow"})[0] == 503
        wait_until(lambda: g.output().count("http.status") >= 14, timeout=10, what="access log")
        assert "authz-canary-777" not in g.output()
    finally:
        g.stop()
        up.stop()
        authz.stop()


def test_listener_policies_are_inherited(tmp_path: Path) -> None:
    key = rsa_key("k1")
    up = Upstream(tmp_path)
    port = free_port()
    cfg = {
        "binds": [
            {
                "port": port,
                "listeners": [
                    {
                        "policies": {
                            "jwtAuth": {"mode": "strict", "issuer": ISSUER, "jwks": jwks(key)},
                            "authorization": {"rules": [{"deny": 'request.headers["x-deny"] == "listener"'}]},
                        },
                        "routes": [
                            {
                                "name": "inherits",
                                "matches": [{"path": {"pathPrefix": "/a"}}],
                                "policies": {"authorization": {"rules": [{"deny": 'jwt.sub == "mallory"'}]}},
                                "backends": [{"host": f"127.0.0.1:{up.port}"}],
                            },
                            {
                                "name": "own-auth",
                                "matches": [{"path": {"pathPrefix": "/b"}}],
                                "policies": {"apiKey": {"mode": "strict", "keys": [{"key": "k-b"}]}},
                                "backends": [{"host": f"127.0.0.1:{up.port}"}],
                            },
                            {
                                "name": "bare",
                                "matches": [{"path": {"pathPrefix": "/c"}}],
                                "backends": [{"host": f"127.0.0.1:{up.port}"}],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    g = Gateway(tmp_path, cfg, workers=2)
    try:
        alice = {"authorization": f"Bearer {key.token()}"}
        mallory = {"authorization": f"Bearer {key.token(sub='mallory')}"}
        for prefix in ("/a", "/c"):
            assert call(port, "GET", f"{prefix}/x")[0] == 401  # the listener's jwtAuth
            assert call(port, "GET", f"{prefix}/x", alice)[0] == 200
            assert call(port, "GET", f"{prefix}/x", {**alice, "x-deny": "listener"})[0] == 403  # listener rule
        assert call(port, "GET", "/a/x", mallory)[0] == 403  # the route's rule, accumulated
        assert call(port, "GET", "/c/x", mallory)[0] == 200
        # a route with its own authentication policy still runs the listener's jwtAuth (a different kind)
        assert call(port, "GET", "/b/x", {"authorization": "Bearer k-b"})[0] == 401
    finally:
        g.stop()
        up.stop()
