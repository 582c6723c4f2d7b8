"""The `llm:` block end to end, and every shipped config with an `ai` backend served for real."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest
import yaml

from tests.e2e.llm_util import CLIENT_KEY, FakeProvider, assert_no_client_key
from tests.e2e.procs import ROOT, Gateway, free_port

OPENAI_KEY = "sk-llm-openai"
ANTHROPIC_KEY = "sk-llm-anthropic"


@pytest.fixture(scope="module")
def fake(tmp: Path) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp)
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def _clean(fake: FakeProvider) -> None:
    fake.clear()


@pytest.fixture(scope="module")
def base(tmp: Path, fake: FakeProvider) -> Iterator[str]:
    port = free_port()
    url = f"http://{fake.authority}"
    llm = {
        "port": port,
        "providers": [
            {"name": "shared", "provider": "openai", "params": {"apiKey": OPENAI_KEY, "baseUrl": f"{url}/v1"}}
        ],
        "models": [
            {"name": "gpt-*", "provider": "openai", "params": {"apiKey": OPENAI_KEY, "baseUrl": f"{url}/v1"}},
            {
                "name": "claude-haiku",
                "provider": "anthropic",
                "params": {"model": "claude-real", "apiKey": ANTHROPIC_KEY, "baseUrl": url},
            },
            {
                "name": "local/*",
                "provider": {"reference": "shared"},
                "params": {"model": "llama3"},
                "defaults": {"temperature": 0.5},
                "overrides": {"seed": 7},
            },
        ],
    }
    gw = Gateway(tmp, {"llm": llm}, workers=1)
    yield f"http://127.0.0.1:{port}"
    gw.stop()


def test_models_are_listed_locally(base: str, fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=CLIENT_KEY, max_retries=0)
    # the patterns (gpt-*, local/*) route models but are not models: only concrete names are listed
    assert [m.id for m in client.models.list().data] == ["claude-haiku"]
    assert client.models.retrieve("claude-haiku").id == "claude-haiku"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-*")
    body: Any = info.value.body
    assert body["message"] == "The model `gpt-*` does not exist or you do not have access to it."
    assert fake.requests() == []


def test_unknown_model_is_openai_model_not_found(base: str, fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=CLIENT_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="mystery", messages=[{"role": "user", "content": "x"}])
    body: Any = info.value.body
    assert body["code"] == "model_not_found" and body["type"] == "invalid_request_error"
    assert body["message"] == "The model `mystery` does not exist or you do not have access to it."
    r = httpx.post(f"{base}/v1/messages", json={"model": "nope", "max_tokens": 1, "messages": []})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert "`nope`" in r.json()["error"]["message"]
    assert fake.requests() == []


def test_openai_model_by_wildcard(base: str, fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=CLIENT_KEY, max_retries=0)
    resp = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "wild"}])
    assert resp.choices[0].message.content.startswith("wild")  # type: ignore[union-attr]
    up = fake.last()
    assert up["path"] == "/v1/chat/completions" and up["json"]["model"] == "gpt-4o"
    assert up["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert_no_client_key(up["headers"])
    emb = client.embeddings.create(model="gpt-embed", input="hi")
    assert emb.data
    assert fake.last()["path"] == "/v1/embeddings"


def test_anthropic_model_from_both_sdks(base: str, fake: FakeProvider) -> None:
    msg = anthropic.Anthropic(base_url=base, api_key=CLIENT_KEY, max_retries=0).messages.create(
        model="claude-haiku", max_tokens=20, messages=[{"role": "user", "content": "native"}]
    )
    assert msg.content[0].text.startswith("native")  # type: ignore[union-attr]
    up = fake.last()
    assert up["path"] == "/v1/messages" and up["json"]["model"] == "claude-real"
    assert up["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert_no_client_key(up["headers"])
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=CLIENT_KEY, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="claude-haiku", messages=[{"role": "user", "content": "translated"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("translated")
    assert fake.last()["path"] == "/v1/messages"


def test_count_tokens_forwarded_or_local(base: str, fake: FakeProvider) -> None:
    client = anthropic.Anthropic(base_url=base, api_key=CLIENT_KEY, max_retries=0)
    messages: Any = [{"role": "user", "content": "a b c d"}]
    assert client.messages.count_tokens(model="claude-haiku", messages=messages).input_tokens > 0
    assert fake.last()["path"] == "/v1/messages/count_tokens"
    assert client.messages.count_tokens(model="gpt-4o", messages=messages).input_tokens >= 4
    assert fake.requests() == []


def test_provider_reference_defaults_and_overrides(base: str, fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=CLIENT_KEY, max_retries=0)
    client.chat.completions.create(model="local/small", messages=[{"role": "user", "content": "ref"}])
    body = fake.last()["json"]
    assert body["model"] == "llama3" and body["temperature"] == 0.5 and body["seed"] == 7


# -- shipped configs -----------------------------------------------------------------------------------
def _ai_configs() -> list[Path]:
    files = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "configs" / "seeds").glob("*.yaml"))
    return [f for f in files if "ai:" in f.read_text()]


def _point_at(node: Any, authority: str) -> None:
    """Every ai provider entry is sent to the fake provider."""
    if isinstance(node, dict):
        if "provider" in node and isinstance(node["provider"], dict):
            node["hostOverride"] = authority
        for value in node.values():
            _point_at(value, authority)
    elif isinstance(node, list):
        for value in node:
            _point_at(value, authority)


# Process-level features (tracing, custom log/metric fields) belong to other issues: a config may be
# refused for them only, and the served copy leaves the `config:` block out.
_OTHER_ISSUES = ("config.tracing", "config.metrics", "config.logging")


ENV = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}


@pytest.mark.parametrize("path", _ai_configs(), ids=lambda p: p.name)
def test_shipped_ai_config_validates_and_serves(path: Path, tmp: Path, fake: FakeProvider) -> None:
    check = subprocess.run(
        [sys.executable, "-m", "fastgw", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    problems = [ln for ln in (check.stdout + check.stderr).splitlines() if ": ok" not in ln and ln.strip()]
    assert all(any(k in ln for k in _OTHER_ISSUES) for ln in problems), problems
    cfg = yaml.safe_load(path.read_text())
    cfg.pop("config", None)  # fixed management ports and tracing belong to the original
    _point_at(cfg["binds"], fake.authority)
    port = free_port()
    cfg["binds"][0]["port"] = port
    route = cfg["binds"][0]["listeners"][0]["routes"][0]
    prefix = "/"
    for match in route.get("matches") or []:
        prefix = match.get("path", {}).get("pathPrefix", prefix)
    gw = Gateway(tmp, cfg, workers=1, env=ENV)
    try:
        url = f"http://127.0.0.1:{port}{prefix.rstrip('/')}/v1/chat/completions"
        r = httpx.post(
            url,
            json={"model": "", "messages": [{"role": "user", "content": "seeded"}]},
            headers={"authorization": f"Bearer {CLIENT_KEY}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"].startswith("seeded")
        up = fake.last()
        assert up["path"] in ("/v1/chat/completions", "/v1/messages")
        keys = (up["headers"].get("authorization", ""), up["headers"].get("x-api-key", ""))
        assert any(k.endswith((OPENAI_KEY, ANTHROPIC_KEY, "demo-key")) for k in keys), up["headers"]
        assert_no_client_key(up["headers"])
    finally:
        gw.stop()


def test_seed_token_rate_limit_is_charged_with_llm_usage(tmp: Path, fake: FakeProvider) -> None:
    """Seed 004: a 1-token budget admits the first request, charges its real usage, refuses the next."""
    cfg = yaml.safe_load((ROOT / "configs" / "seeds" / "004-local-rate-limit-openai.yaml").read_text())
    _point_at(cfg["binds"], fake.authority)
    port = free_port()
    cfg["binds"][0]["port"] = port
    gw = Gateway(tmp, cfg, workers=2, env=ENV)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=CLIENT_KEY, max_retries=0)
        first = client.chat.completions.create(model="", messages=[{"role": "user", "content": "budget"}])
        assert first.usage is not None and first.usage.total_tokens > 1
        up = fake.last()
        assert up["json"]["model"] == "gpt-3.5-turbo"
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="", messages=[{"role": "user", "content": "again"}])
        assert fake.requests() == []
    finally:
        gw.stop()


def test_tokenize_reserves_prompt_tokens_before_sending(tmp: Path, fake: FakeProvider) -> None:
    """`tokenize: true`: the prompt is counted locally and withdrawn up front, so a prompt larger
    than what is left is refused without reaching the provider; the real usage settles after."""
    port = free_port()
    cfg = {
        "binds": [
            {
                "port": port,
                "listeners": [
                    {
                        "routes": [
                            {
                                "backends": [
                                    {
                                        "ai": {
                                            "name": "openai",
                                            "provider": {"openAI": {"model": "gpt-4o-mini"}},
                                            "hostOverride": fake.authority,
                                            "tokenize": True,
                                        }
                                    }
                                ],
                                "policies": {
                                    "backendAuth": {"key": OPENAI_KEY},
                                    "localRateLimit": [
                                        {"maxTokens": 200, "tokensPerFill": 1, "fillInterval": "100s", "type": "tokens"}
                                    ],
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }
    gw = Gateway(tmp, cfg, workers=1)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=CLIENT_KEY, max_retries=0)
        # ~300 prompt tokens: more than the whole budget, refused before the provider sees it
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="", messages=[{"role": "user", "content": "word " * 300}])
        assert fake.requests() == []
        small = client.chat.completions.create(model="", messages=[{"role": "user", "content": "hello there"}])
        assert small.usage is not None
        used = small.usage.prompt_tokens + small.usage.completion_tokens
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "", "messages": [{"role": "user", "content": "hi"}]},
        )
        # the bucket holds 200 minus what the first admitted request really used (+ this reservation)
        remaining = int(r.headers["x-ratelimit-remaining"])
        assert 200 - used - 10 <= remaining <= 200 - used
    finally:
        gw.stop()
