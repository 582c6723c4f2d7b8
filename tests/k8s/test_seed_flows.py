"""The seeds' curl flows, end to end: each seed's manifests rendered by `fastgw k8s render` (the
providers pointed at the bundled fake provider with --provider-host, the listener port moved to a
free one with --port-map), then served by a real `fastgw serve`. The fake provider answers 401
unless it gets the key the Secret names, so every flow also proves the key got there (and that the
client's own key did not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest
import yaml

from tests.e2e.llm_util import CLIENT_KEY, FakeProvider
from tests.e2e.procs import Gateway, free_port
from tests.k8s.util import SEED_CASES, SEEDS, render_cli

KEY = "sk-ant-from-the-secret"
# the seeds' request bodies, as their curl commands send them
ISTIO_PROMPT = {
    "model": "claude-sonnet-4-5",
    "messages": [
        {"role": "system", "content": "You are a skilled cloud-native network engineer."},
        {"role": "user", "content": "Write me a paragraph containing the best way to think about Istio Ambient Mesh"},
    ],
}
EXPLAIN_PROMPT = {"model": "", "messages": [{"role": "user", "content": "Explain how AI works in simple terms."}]}


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("k8s-flows")


@pytest.fixture(scope="module")
def fake(tmp: Path) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp, "--require-key", KEY)
    yield proc
    proc.stop()


class Served:
    def __init__(self, gateway: Gateway, port: int) -> None:
        self.gateway = gateway
        self.base = f"http://127.0.0.1:{port}"

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return httpx.post(self.base + path, json=body, headers=headers, timeout=30)


def serve(
    case: str, tmp: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, listener_port: int, *extra: str
) -> Served:
    port = free_port()
    files = [a for f in SEED_CASES[case] for a in ("-f", f)]
    run = render_cli(
        monkeypatch,
        SEEDS,
        *files,
        "--provider-host",
        fake.authority,
        "--port-map",
        f"{listener_port}={port}",
        *extra,
    )
    assert run.code == 0, run.stderr
    config = yaml.safe_load(run.stdout)
    env = {"ANTHROPIC_API_KEY": KEY}
    if "--secrets-dir" in extra:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # the gateway must not need it
        env = {}
    return Served(Gateway(tmp, config, workers=1, env=env), port)


@pytest.fixture
def started(tmp: Path) -> Iterator[list[Gateway]]:
    gateways: list[Gateway] = []
    yield gateways
    for g in gateways:
        g.stop()


def upstream_call(fake: FakeProvider) -> dict[str, Any]:
    got = fake.requests()
    fake.clear()
    assert len(got) == 1, [g["path"] for g in got]
    headers = {k.lower(): v for k, v in got[0]["headers"]}
    assert headers.get("x-api-key") == KEY
    assert CLIENT_KEY not in json.dumps(got[0]["headers"])
    return {**got[0], "headers": headers}


@pytest.mark.parametrize("case", ["000", "001"])
def test_rate_limited_claude_seed(
    case: str, tmp: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, started: list[Gateway]
) -> None:
    """Seeds 000/001: /anthropic rewritten to /v1/chat/completions, Claude answers in OpenAI format;
    the TrafficPolicy's 1-token bucket makes the second call a 429."""
    fake.clear()
    s = serve(case, tmp, fake, monkeypatch, 8080)
    started.append(s.gateway)
    first = s.post("/anthropic", ISTIO_PROMPT, **{"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["message"]["content"]
    assert body["usage"]["prompt_tokens"] > 0
    seen = upstream_call(fake)
    assert seen["path"] == "/v1/messages"  # translated to Anthropic's Messages API
    sent = json.loads(seen["body"])
    assert sent["model"] == "claude-3-5-haiku-latest"  # the Backend's model wins over the client's
    assert sent["system"] == "You are a skilled cloud-native network engineer."
    second = s.post("/anthropic", ISTIO_PROMPT, **{"x-api-key": CLIENT_KEY})
    assert second.status_code == 429
    assert "rate limit exceeded" in second.text
    assert fake.requests() == []  # the limited call never reached the provider


def test_claude_connection_seed_003(
    tmp: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, started: list[Gateway]
) -> None:
    fake.clear()
    s = serve("003", tmp, fake, monkeypatch, 8080)
    started.append(s.gateway)
    prompt = {k: v for k, v in ISTIO_PROMPT.items() if k != "model"}  # seed 003's curl sends no model
    r = s.post("/anthropic", prompt, **{"anthropic-version": "2023-06-01"})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "chat.completion"
    assert r.json()["model"] == "claude-sonnet-4-5-20250929"
    assert json.loads(upstream_call(fake)["body"])["model"] == "claude-sonnet-4-5-20250929"
    # the seed's MCP route names another Gateway: not rendered, so its paths are not served
    assert httpx.get(s.base + "/sse", timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("case", "served", "not_served"),
    [
        ("002", ["/v1/messages", "/v1/chat/completions", "/anthropic"], []),
        ("002-chat", ["/v1/chat/completions"], ["/v1/messages", "/anthropic"]),
        ("002-anthropic", ["/anthropic"], ["/v1/messages", "/v1/chat/completions"]),
    ],
)
def test_anthropic_guide_seed_002_routes(
    case: str,
    served: list[str],
    not_served: list[str],
    tmp: Path,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    started: list[Gateway],
) -> None:
    """Seed 002: each of the guide's HTTPRoutes; with no `routes` policy every path is treated as
    chat completions, so the guide's OpenAI-shaped bodies get OpenAI-shaped answers."""
    fake.clear()
    s = serve(case, tmp, fake, monkeypatch, 80)
    started.append(s.gateway)
    for path in served:
        r = s.post(path, EXPLAIN_PROMPT)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["object"] == "chat.completion" and r.json()["model"] == "claude-haiku-4-5-20251001"
        assert upstream_call(fake)["path"] == "/v1/messages"
    for path in not_served:
        assert s.post(path, EXPLAIN_PROMPT).status_code == 404, path
    assert fake.requests() == []


def test_claude_code_through_the_passthrough_route(
    tmp: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, started: list[Gateway]
) -> None:
    """Seed 002, "Connect to Claude CLI": Claude Code's Messages calls (streamed and not) are handled
    as Messages with any model, and its other paths pass through to the provider."""
    fake.clear()
    s = serve("002-claude-code", tmp, fake, monkeypatch, 80)
    started.append(s.gateway)
    client = anthropic.Anthropic(base_url=s.base, api_key=CLIENT_KEY, max_retries=0)
    msg = client.messages.create(
        model="claude-opus-4-1", max_tokens=64, messages=[{"role": "user", "content": "What is a credit card"}]
    )
    assert msg.type == "message" and msg.content[0].type == "text" and msg.content[0].text
    seen = upstream_call(fake)
    assert seen["path"] == "/v1/messages" and json.loads(seen["body"])["model"] == "claude-opus-4-1"
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text and stream.get_final_message().usage.output_tokens > 0
    upstream_call(fake)
    # the '*': Passthrough route: Claude Code's other endpoints reach the provider unchanged
    count = client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    assert count.input_tokens > 0
    assert upstream_call(fake)["path"] == "/v1/messages/count_tokens"
    models = httpx.get(
        s.base + "/v1/models", headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}, timeout=10
    )
    assert models.status_code == 200 and models.json()["data"]
    assert upstream_call(fake)["path"] == "/v1/models"


def test_secrets_dir_run_reads_the_key_from_a_file(
    tmp: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, started: list[Gateway]
) -> None:
    """--secrets-dir: the gateway runs without the variable; the key comes from the 0600 file."""
    fake.clear()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)  # what the seed's heredoc would have expanded
    s = serve("003", tmp, fake, monkeypatch, 8080, "--secrets-dir", str(tmp / "secrets"))
    assert "ANTHROPIC_API_KEY" not in s.gateway.config_path.read_text()
    started.append(s.gateway)
    r = s.post("/anthropic", EXPLAIN_PROMPT)
    assert r.status_code == 200, r.text
    upstream_call(fake)
