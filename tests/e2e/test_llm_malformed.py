"""A sample of malformed request bodies through the real gateway (the in-process fuzz in
tests/backends/test_malformed_bodies.py covers the shapes at large): every one is a 400 in the
client's dialect, or is forwarded, and the gateway logs no error or traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, bind_config, free_port

ROUTES = {
    "/v1/chat/completions": "completions",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "anthropicTokenCount",
    "/v1/embeddings": "embeddings",
    "*": "passthrough",
}
BODIES = [
    b'{"model":"m","messages":"notalist"}',
    b'{"model":"m","messages":[{"role":"user","content":"x"}],"stop":1}',
    b'{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"s"}',
    b'{"model":"m","messages":[{"role":"user","content":"x"}],"tools":-1}',
    b'{"model":"m","x":' + b"[" * 1000 + b"]" * 1000 + b"}",
]
# the dialect of each path's errors (the passthrough path is answered by the provider)
PATHS = {
    "/v1/chat/completions": "openai",
    "/v1/embeddings": "openai",
    "/v1/messages": "anthropic",
    "/v1/messages/count_tokens": "anthropic",
}


@pytest.fixture(scope="module")
def fake(tmp: Path) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp: Path, fake: FakeProvider) -> Iterator[tuple[Gateway, int]]:
    def route(name: str, provider: str) -> dict[str, object]:
        return {
            "name": name,
            "matches": [{"path": {"pathPrefix": f"/{name}"}}],
            "policies": {"urlRewrite": {"path": {"prefix": ""}}, "ai": {"routes": ROUTES}},
            "backends": [{"ai": {"name": name, "provider": {provider: {}}, "hostOverride": fake.authority}}],
        }

    port = free_port()
    gw = Gateway(tmp, bind_config(port, [route("oa", "openAI"), route("an", "anthropic")]), workers=1)
    yield gw, port
    gw.stop()


@pytest.mark.parametrize("prefix", ["/oa", "/an"])
def test_malformed_bodies_are_client_errors(gateway: tuple[Gateway, int], prefix: str) -> None:
    gw, port = gateway
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for path in [*PATHS, "/v1/other"]:
            for body in BODIES:
                r = client.post(prefix + path, content=body, headers={"content-type": "application/json"})
                assert r.status_code < 500, (prefix + path, body[:80], r.status_code, r.text[:300])
                dialect = PATHS.get(path)
                if r.status_code == 400 and dialect is not None:
                    error = json.loads(r.content)
                    if dialect == "openai":
                        assert error["error"]["type"] == "invalid_request_error", r.text
                    else:
                        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error", r.text
    log = gw.output()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
