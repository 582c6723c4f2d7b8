"""Backend keys never appear in logs, metrics, error bodies or the config dump."""

from __future__ import annotations

import http.client
import urllib.request
from pathlib import Path

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until

SECRET = "sk-live-super-secret-0123456789"
INLINE_SECRET = "sk-inline-header-secret-9876"


def test_backend_keys_never_leak(tmp_path: Path) -> None:
    up = Upstream(tmp_path)
    port = free_port()
    routes = [
        {
            "name": "plain",
            "matches": [{"path": {"pathPrefix": "/plain"}}],
            "policies": {"backendAuth": {"key": "${UPSTREAM_KEY}"}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "headers",
            "matches": [{"path": {"pathPrefix": "/headers"}}],
            "policies": {
                "requestHeaderModifier": {
                    "set": {"authorization": "Bearer ${UPSTREAM_KEY}"},
                    "add": {"x-api-key": INLINE_SECRET},
                }
            },
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
        {
            "name": "llm",
            "matches": [{"path": {"pathPrefix": "/llm"}}],
            "policies": {"backendAuth": {"key": "${UPSTREAM_KEY}"}, "urlRewrite": {"path": {"prefix": ""}}},
            "backends": [
                {"ai": {"name": "dead", "provider": {"openAI": {}}, "hostOverride": f"127.0.0.1:{free_port()}"}}
            ],
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=1, env={"UPSTREAM_KEY": SECRET})
    try:
        bodies = []
        for method, path, body in (
            ("GET", "/plain/x", None),
            ("GET", "/headers/x", None),
            ("POST", "/llm/v1/chat/completions", b'{"model":"m","messages":[]}'),  # 502 from the dead provider
            ("POST", "/llm/v1/chat/completions", b"{not json"),  # 400
        ):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request(method, path, body=body, headers={"content-type": "application/json"})
            r = c.getresponse()
            bodies.append(r.read() + str(r.getheaders()).encode())
            c.close()
        # the upstream did get the keys (the features work)...
        assert SECRET in bodies[0].decode()
        assert SECRET in bodies[1].decode() and INLINE_SECRET in bodies[1].decode()
        # ...but none of the gateway's own answers, dumps, metrics or logs carry them
        for b in bodies[2:]:
            assert SECRET.encode() not in b
        dump = urllib.request.urlopen(f"http://127.0.0.1:{g.admin_port}/config_dump").read()
        assert SECRET.encode() not in dump and INLINE_SECRET.encode() not in dump and b"<redacted>" in dump
        assert b"null" not in dump
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics").read()
        assert SECRET.encode() not in metrics
        wait_until(lambda: g.output().count("http.status") >= 4, timeout=5, what="access log")
        assert SECRET not in g.output() and INLINE_SECRET not in g.output()
    finally:
        g.stop()
        up.stop()
