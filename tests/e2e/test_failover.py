"""Failover end to end: seed 004's model-failover config as shipped, the official OpenAI SDK as the
client, two fake providers as real processes (Anthropic with a wrong key, OpenAI with the right one)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, Upstream, free_port, wait_until

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
                    "name": "router",
                    "routing": {
                        "conditional": {
                            "targets": [
                                {
                                    "when": "has(llmRequest.max_tokens) && llmRequest.max_tokens > 1000",
                                    "model": "claude",
                                },
                                {"model": "gpt"},
                            ]
                        }
                    },
                },
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
        assert listed == {"gpt", "resilient", "backwards", "router"}  # the internal model is not listed
        # conditional: the first target whose `when` holds over the body, else the last
        got = client.chat.completions.create(model="router", messages=[{"role": "user", "content": "c"}])
        assert got.model == "gpt-4o-mini"
        with pytest.raises(openai.AuthenticationError):  # claude (its wrong key), chosen by max_tokens
            client.chat.completions.create(model="router", max_tokens=2000, messages=[{"role": "user", "content": "c"}])
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


# -- scripted failures -------------------------------------------------------------------------------
BACKUP_MODEL = "backup-model"


def _provider(name: str, authority: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": {"openAI": {"model": extra.pop("model", None)} if "model" in extra else {}},
        "hostOverride": authority,
        "backendAuth": {"key": OPENAI_KEY},
        **extra,
    }


def _two_tiers(first: dict[str, Any], oai: FakeProvider) -> dict[str, Any]:
    backup = _provider("backup", oai.authority, model=BACKUP_MODEL)
    return {"ai": {"groups": [{"providers": [first]}, {"providers": [backup]}]}}


@pytest.fixture(scope="module")
def scripted(tmp: Path) -> Iterator[Upstream]:
    up = Upstream(tmp, "tests.e2e.scripted_upstream")
    yield up
    up.stop()


def _set_mode(up: Upstream, mode: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{up.url}/_mode", data=mode.encode(), method="POST"), timeout=5)


def _count(up: Upstream) -> int:
    return int(urllib.request.urlopen(f"{up.url}/_count", timeout=5).read())


@pytest.fixture(scope="module")
def scripted_gw(
    tmp: Path, scripted: Upstream, providers: tuple[FakeProvider, FakeProvider]
) -> Iterator[tuple[Gateway, int]]:
    _, oai = providers
    codes = [401, 403, 429, 500, 503]
    short = {"health": {"eviction": {"duration": "2s"}}}
    routes = [
        {
            "name": "short",
            "matches": [{"path": {"pathPrefix": "/short"}}],
            "policies": {
                "retry": {"attempts": 1, "codes": codes},
                "timeout": {"backendRequestTimeout": "1s"},
                "urlRewrite": {"path": {"prefix": ""}},
            },
            "backends": [_two_tiers(_provider("s", f"127.0.0.1:{scripted.port}", policies=short), oai)],
        },
        {
            "name": "plain",
            "matches": [{"path": {"pathPrefix": "/plain"}}],
            "policies": {"retry": {"attempts": 1, "codes": codes}, "urlRewrite": {"path": {"prefix": ""}}},
            "backends": [_two_tiers(_provider("s", f"127.0.0.1:{scripted.port}"), oai)],
        },
        {
            "name": "firstbyte",
            "matches": [{"path": {"pathPrefix": "/firstbyte"}}],
            "policies": {"retry": {"attempts": 1, "codes": codes}, "urlRewrite": {"path": {"prefix": ""}}},
            "backends": [_two_tiers(_provider("s", f"127.0.0.1:{scripted.port}"), oai)],
        },
        {
            "name": "refused",
            "matches": [{"path": {"pathPrefix": "/refused"}}],
            "policies": {"retry": {"attempts": 1, "codes": codes}, "urlRewrite": {"path": {"prefix": ""}}},
            "backends": [_two_tiers(_provider("s", f"127.0.0.1:{free_port()}"), oai)],
        },
        {
            "name": "cond",
            "matches": [{"path": {"pathPrefix": "/cond"}}],
            "policies": {
                "retry": {
                    "attempts": 1,
                    "codes": [],
                    "condition": "response.code == 401",
                    "precondition": '!("x-no-retry" in request.headers)',
                },
                "urlRewrite": {"path": {"prefix": ""}},
            },
            "backends": [_two_tiers(_provider("s", f"127.0.0.1:{scripted.port}"), oai)],
        },
    ]
    port = free_port()
    cfg = {
        "config": {"backend": {"firstByteTimeout": "1s"}},
        "binds": [{"port": port, "listeners": [{"routes": routes}]}],
    }
    gw = Gateway(tmp, cfg, workers=2)
    yield gw, port
    gw.stop()


def _ask(port: int, prefix: str, stream: bool = False, **kw: Any) -> str:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/{prefix}/v1", api_key="k", max_retries=0)
    if stream:
        chunks = list(
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True, **kw)
        )
        return chunks[0].model
    return client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], **kw).model


def _until_scripted_serves(port: int, prefix: str) -> None:
    deadline = time.monotonic() + 10
    while _ask(port, prefix) == BACKUP_MODEL:
        assert time.monotonic() < deadline, "the evicted provider never came back"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("mode", "evicts"),
    [
        ("401", False),
        ("403", False),
        ("500", True),
        ("503", True),
        ("429", True),
        ("hang", True),
        ("reset", True),
        ("reset-mid-body", True),
    ],
)
def test_every_failure_is_served_by_the_backup_and_the_unhealthy_ones_evict(
    scripted_gw: tuple[Gateway, int], scripted: Upstream, mode: str, evicts: bool
) -> None:
    _, port = scripted_gw
    _set_mode(scripted, "ok")
    _until_scripted_serves(port, "short")
    _set_mode(scripted, mode)
    try:
        before = _count(scripted)
        assert _ask(port, "short") == BACKUP_MODEL
        # one try on the failing provider, then the backup (a reset on a reused keep-alive
        # connection is indistinguishable from a stale one: the upstream client tries a new
        # connection once, upstream/client.py)
        tried = _count(scripted) - before
        assert tried == 1 or (mode == "reset" and tried == 2), tried
        # the other worker too: the eviction is the instance's (each request may land on either)
        for _ in range(3):
            assert _ask(port, "short") == BACKUP_MODEL
        assert _count(scripted) == (before + tried if evicts else before + 4)
    finally:
        _set_mode(scripted, "ok")
    _until_scripted_serves(port, "short")  # the eviction (2 s) ends: traffic returns


def test_streams_and_large_bodies_are_retried_before_any_byte_reaches_the_client(
    scripted_gw: tuple[Gateway, int], scripted: Upstream, providers: tuple[FakeProvider, FakeProvider]
) -> None:
    _, port = scripted_gw
    _, oai = providers
    _set_mode(scripted, "ok")
    _until_scripted_serves(port, "short")
    _set_mode(scripted, "403")  # (not evicting: every request tries the scripted provider first)
    try:
        assert _ask(port, "short", stream=True) == BACKUP_MODEL
        oai.clear()
        big = "word " * 100_000  # 500 KB: retried whole (agentgateway stops retrying at 64 KiB)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/short/v1", api_key="k", max_retries=0)
        got = client.chat.completions.create(model="m", messages=[{"role": "user", "content": big}])
        assert got.model == BACKUP_MODEL
        sent = json.loads(oai.requests()[-1]["body"])
        assert sent["messages"][0]["content"] == big
    finally:
        _set_mode(scripted, "ok")


def test_429_is_evicted_for_the_time_the_provider_gives(scripted_gw: tuple[Gateway, int], scripted: Upstream) -> None:
    _, port = scripted_gw
    for mode, seconds in (("429-retry-after", 1.0), ("429-retry-after-ms", 0.8)):
        _set_mode(scripted, "ok")
        _until_scripted_serves(port, "plain")
        _set_mode(scripted, mode)
        assert _ask(port, "plain") == BACKUP_MODEL
        evicted_at = time.monotonic()
        _set_mode(scripted, "ok")
        before = _count(scripted)
        while time.monotonic() - evicted_at < seconds - 0.3:
            assert _ask(port, "plain") == BACKUP_MODEL
        assert _count(scripted) == before
        _until_scripted_serves(port, "plain")
        assert time.monotonic() - evicted_at < seconds + 2.5  # not the 3 s default


def test_a_stream_whose_head_never_comes_fails_over_at_the_first_byte_timeout(
    scripted_gw: tuple[Gateway, int], scripted: Upstream
) -> None:
    _, port = scripted_gw
    _set_mode(scripted, "hang")
    try:
        start = time.monotonic()
        assert _ask(port, "firstbyte", stream=True) == BACKUP_MODEL  # no request timeout is configured
        assert time.monotonic() - start < 8
    finally:
        _set_mode(scripted, "ok")


def test_refused_connections_fail_over(scripted_gw: tuple[Gateway, int]) -> None:
    _, port = scripted_gw
    for _ in range(5):
        assert _ask(port, "refused") == BACKUP_MODEL


def test_retry_condition_and_precondition(scripted_gw: tuple[Gateway, int], scripted: Upstream) -> None:
    _, port = scripted_gw
    _set_mode(scripted, "401")
    try:
        assert _ask(port, "cond") == BACKUP_MODEL  # retried: the condition holds for a 401
        with pytest.raises(openai.AuthenticationError):
            _ask(port, "cond", extra_headers={"x-no-retry": "1"})  # the precondition forbids it
    finally:
        _set_mode(scripted, "ok")


def test_host_backends_with_a_health_policy_fail_over_and_evict(tmp: Path, scripted: Upstream) -> None:
    import httpx2 as httpx

    echo = Upstream(tmp)
    port = free_port()
    health = {"health": {"eviction": {"duration": "30s"}}}
    route = {
        "name": "hosts",
        "policies": {"retry": {"attempts": 1, "codes": [503]}},
        "backends": [
            {"host": f"127.0.0.1:{scripted.port}", "policies": health},
            {"host": f"127.0.0.1:{echo.port}"},
        ],
    }
    gw = Gateway(tmp, {"binds": [{"port": port, "listeners": [{"routes": [route]}]}]}, workers=2)
    _set_mode(scripted, "503")
    try:
        before = _count(scripted)
        for i in range(8):
            r = httpx.post(f"http://127.0.0.1:{port}/echo/{i}", content=b"x" * 100)
            assert r.status_code == 200, r.text
        assert _count(scripted) - before <= 1  # tried at most once, then evicted for every worker
    finally:
        _set_mode(scripted, "ok")
        gw.stop()
        echo.stop()
