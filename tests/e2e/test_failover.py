"""Failover end to end: seed 004's model-failover config as shipped, the official OpenAI SDK as the
client, two fake providers as real processes (Anthropic with a wrong key, OpenAI with the right one)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "configs" / "seeds" / "004-model-failover.yaml"
OPENAI_KEY = "sk-openai-right"
ENV = {"ANTHROPIC_API_KEY": "fdsfdsfsd", "OPENAI_API_KEY": OPENAI_KEY}


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("failover")


@pytest.fixture(scope="module")
def providers(tmp: Path) -> Iterator[tuple[FakeProvider, FakeProvider]]:
    anthropic = FakeProvider(tmp, "--require-key", "sk-ant-the-real-one")
    oai = FakeProvider(tmp, "--require-key", OPENAI_KEY)
    yield anthropic, oai
    anthropic.stop()
    oai.stop()


def _seed_config(anthropic: FakeProvider, oai: FakeProvider, port: int) -> dict[str, Any]:
    """The seed file verbatim, but for its port and the providers' addresses (the fakes)."""
    cfg: dict[str, Any] = yaml.safe_load(SEED.read_text())
    cfg["binds"][0]["port"] = port
    entries = cfg["binds"][0]["listeners"][0]["routes"][0]["backends"][0]["ai"]["groups"][0]["providers"]
    assert [e["name"] for e in entries] == ["primary-model", "second-model"]
    entries[0]["hostOverride"] = anthropic.authority
    entries[1]["hostOverride"] = oai.authority
    return cfg


@pytest.fixture(scope="module")
def seed_gw(tmp: Path, providers: tuple[FakeProvider, FakeProvider]) -> Iterator[tuple[Gateway, int]]:
    port = free_port()
    gw = Gateway(tmp, _seed_config(*providers, port), workers=2, env=ENV)
    yield gw, port
    gw.stop()


def test_seed_004_every_request_is_answered_by_openai(
    seed_gw: tuple[Gateway, int], providers: tuple[FakeProvider, FakeProvider]
) -> None:
    gw, port = seed_gw
    anthropic, oai = providers
    anthropic.clear()
    oai.clear()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/failover/ai/v1", api_key="client-key", max_retries=0)
    n = 0
    # 12 requests, more until one went to Anthropic first (P2C draws both providers; bounded)
    while n < 12 or (n < 60 and not anthropic.requests()):
        i = n
        n += 1
        got = client.chat.completions.create(model="", messages=[{"role": "user", "content": f"Testing failover {i}"}])
        assert got.model == "gpt-5"  # the provider that answered, its configured model
        assert got.choices[0].message.content and got.choices[0].message.content.startswith(f"Testing failover {i}")
        assert got.usage is not None and got.usage.prompt_tokens > 0 and got.usage.completion_tokens > 0
    up = oai.requests()
    assert len(up) == n  # one OpenAI try per request: none was retried on the provider that failed it
    assert all(r["path"] == "/v1/chat/completions" for r in up)
    tried_first = anthropic.requests()
    assert tried_first
    # each request to the wrong-keyed Anthropic was tried once, translated to its dialect, and
    # retried on OpenAI (announced with x-retry-attempt)
    assert all(r["path"] == "/v1/messages" for r in tried_first)
    retried = [dict((k.lower(), v) for k, v in r["headers"]).get("x-retry-attempt") for r in up]
    assert retried.count("1") == len(tried_first)
    assert set(retried) <= {None, "1"}
    # the access log names the provider that answered and the try; the retries are counted
    if True:

        def logged() -> bool:
            lines = [ln for ln in gw.output().splitlines() if "retry.attempt=1" in ln]
            return len(lines) >= len(tried_first)

        wait_until(logged, timeout=5, what="retried requests logged")
        line = next(ln for ln in gw.output().splitlines() if "retry.attempt=1" in ln)
        assert "gen_ai.provider.name=openai" in line and "http.status=200" in line, line
        assert f"endpoint={oai.authority}" in line, line

        def counted() -> bool:
            text = urllib.request.urlopen(f"http://127.0.0.1:{gw.stats_port}/metrics", timeout=5).read().decode()
            total = sum(
                float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith("agentgateway_retries_total{")
            )
            return total >= len(tried_first)

        wait_until(counted, timeout=5, what="agentgateway_retries_total")


def test_seed_004_streamed_answers_come_translated_from_openai(
    seed_gw: tuple[Gateway, int], providers: tuple[FakeProvider, FakeProvider]
) -> None:
    _, port = seed_gw
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/failover/ai/v1", api_key="client-key", max_retries=0)
    for i in range(6):
        stream = client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": f"stream {i}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.startswith(f"stream {i}")
        assert {c.model for c in chunks} == {"gpt-5"}
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def _fail_next(provider: FakeProvider, status: int, count: int) -> None:
    req = urllib.request.Request(
        f"http://{provider.authority}/_fake/fail-next",
        data=json.dumps({"status": status, "count": count}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def test_llm_block_virtual_failover_model(tmp: Path, providers: tuple[FakeProvider, FakeProvider]) -> None:
    anthropic, oai = providers
    port = free_port()
    cfg = {
        "llm": {
            "port": port,
            "models": [
                {
                    "name": "claude",
                    "provider": "anthropic",
                    "visibility": "internal",
                    "params": {"model": "claude-haiku-4-5", "apiKey": "wrong", "hostOverride": anthropic.authority},
                },
                {
                    "name": "gpt",
                    "provider": "openAI",
                    "params": {"model": "gpt-4o-mini", "apiKey": OPENAI_KEY, "hostOverride": oai.authority},
                    "health": {"unhealthyExpression": "response.code >= 500", "eviction": {"duration": "30s"}},
                },
            ],
            "virtualModels": [
                {
                    "name": "resilient",
                    "routing": {
                        "failover": {"targets": [{"model": "claude", "priority": 0}, {"model": "gpt", "priority": 1}]}
                    },
                },
                {
                    "name": "backwards",
                    "routing": {
                        "failover": {"targets": [{"model": "gpt", "priority": 0}, {"model": "claude", "priority": 1}]}
                    },
                },
            ],
        }
    }
    gw = Gateway(tmp, cfg, workers=2)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="client-key", max_retries=0)
        listed = {m.id for m in client.models.list()}
        assert listed == {"gpt", "resilient", "backwards"}  # the internal model is not listed
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
        anthropic.clear()
        oai.clear()
        for i in range(4):
            got = client.chat.completions.create(model="resilient", messages=[{"role": "user", "content": f"v{i}"}])
            assert got.model == "gpt-4o-mini" and got.choices[0].message.content
        # the first tier's 401 moves each request on within it (a 401 does not evict by default)
        assert len(anthropic.requests()) == 4 and len(oai.requests()) == 4
        # a 5xx evicts gpt (its health policy: 30 s) for every worker: "backwards" then starts at claude
        oai.clear()
        _fail_next(oai, 503, 1)
        with pytest.raises(openai.AuthenticationError):  # gpt's 503, then claude's 401: the last answer
            client.chat.completions.create(model="backwards", messages=[{"role": "user", "content": "e"}])
        oai.clear()
        anthropic.clear()
        for _ in range(4):
            got = client.chat.completions.create(model="backwards", messages=[{"role": "user", "content": "e"}])
            assert got.model == "gpt-4o-mini"
        assert len(anthropic.requests()) == 4
        # gpt is tried only once claude failed (evicted, but the only target left untried)
        assert len(oai.requests()) == 4
        for r in oai.requests():
            assert dict((k.lower(), v) for k, v in r["headers"])["x-retry-attempt"] == "1"
    finally:
        gw.stop()
