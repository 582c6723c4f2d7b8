"""Virtual API keys: created at run time through `fastgw keys` (the admin API), stored hashed in a
real redis-server, used with the official OpenAI SDK against the fake provider, their budgets
charged after each response and enforced before the next, across two gateway instances."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, bind_config, free_port, wait_until
from tests.redis_server import RedisServer

MESSAGES: Any = [{"role": "user", "content": "Hello there, how are you today?"}]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, list[Gateway], list[int]]]:
    tmp = tmp_path_factory.mktemp("vkeys")
    server = RedisServer(tmp)
    fake = FakeProvider(tmp)
    route = {
        "policies": {"apiKey": {"mode": "strict", "virtualKeys": True}, "backendAuth": {"key": "sk-upstream"}},
        "backends": [{"ai": {"name": "oai", "provider": {"openAI": {}}, "hostOverride": fake.authority}}],
    }
    store = {"redis": {"url": server.url, "commandTimeout": "500ms", "connectTimeout": "500ms"}}
    ports = [free_port(), free_port()]
    gateways = [Gateway(tmp, {"config": {"virtualKeys": store}, **bind_config(p, [route])}, workers=2) for p in ports]
    yield server, gateways, ports
    for g in gateways:
        g.stop()
    fake.stop()
    server.stop()


def keys_cli(g: Gateway, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fastgw", "keys", *args, "--admin", f"127.0.0.1:{g.admin_port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def client(port: int, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)


def test_a_key_with_a_token_budget_across_instances(env: tuple[RedisServer, list[Gateway], list[int]]) -> None:
    server, (g1, g2), (p1, p2) = env
    key_id, key = keys_cli(g1, "create", "team-red", "--meta", "team=red", "--budget", "daily@1d:tokens=40").split()
    # the key itself is not stored: only its SHA-256
    r = redis.Redis.from_url(server.url)
    stored = b"".join(k + b"".join(v for v in r.hgetall(k).values()) for k in r.keys("*"))
    r.close()
    assert key.encode() not in stored and key_id.encode() in stored
    first = client(p1, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert first.usage is not None
    used = first.usage.prompt_tokens + first.usage.completion_tokens

    def spent() -> int:
        (record,) = [k for k in json.loads(keys_cli(g2, "list", "--json")) if k["id"] == key_id]
        return int(record["budgets"][0]["spentTokens"])

    wait_until(lambda: spent() == used, timeout=5, what="the charge")
    n = 1
    while n * used < 40:  # the other instance sees the same budget
        client(p2, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        n += 1
        wait_until(lambda: spent() == n * used, timeout=5, what="the charge")  # noqa: B023
    with pytest.raises(openai.RateLimitError) as info:
        client(p1, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "budget 'daily'" in info.value.message and "tokens per 1d" in info.value.message
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 86400
    # spend by key and model, with the model's price from the built-in table
    text = metrics(g1) + metrics(g2)
    assert 'fastgw_virtual_key_tokens_total{key="team-red",model="gpt-4o-mini' in text
    assert 'fastgw_virtual_key_cost_usd_total{key="team-red"' in text
    listing = keys_cli(g1, "list")
    assert f"{key_id}\tteam-red\tactive\tdaily: {n * used}/40 tokens, $" in listing


def test_usd_total_budget_is_403_and_rotate_disable_revoke(env: tuple[RedisServer, list[Gateway], list[int]]) -> None:
    _, (g1, _), (p1, p2) = env
    key_id, key = keys_cli(g1, "create", "tiny", "--budget", "total:usd=0.000001").split()
    client(p1, key).chat.completions.create(model="gpt-4o", messages=MESSAGES)

    def refused() -> bool:
        try:
            client(p2, key).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        except openai.PermissionDeniedError:
            return True
        return False

    wait_until(refused, timeout=5, what="the budget spent")  # the charge lands after the response
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(p2, key).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "budget 'total'" in info.value.message and "USD in total" in info.value.message

    other_id, other = keys_cli(g1, "create", "rotating").split()
    assert client(p1, other).chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
    new = keys_cli(g1, "rotate", other_id).strip()
    with pytest.raises(openai.AuthenticationError):
        client(p1, other).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert client(p2, new).chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
    keys_cli(g1, "disable", other_id)
    with pytest.raises(openai.AuthenticationError) as denied:
        client(p2, new).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "disabled" in denied.value.message
    keys_cli(g1, "enable", other_id)
    assert client(p2, new).chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
    keys_cli(g1, "revoke", other_id)
    with pytest.raises(openai.AuthenticationError):
        client(p1, new).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert key_id in keys_cli(g1, "list") and other_id not in keys_cli(g1, "list")


def test_admin_api_refuses_bad_input(env: tuple[RedisServer, list[Gateway], list[int]]) -> None:
    _, (g1, _), _ = env
    for body, message in (
        (b"[1]", "expected a JSON object"),
        (b"{", "body is not JSON"),
        (b'{"name": "x", "budgets": [{"window": "2d", "tokens": 1}]}', "budgets[0].window"),
        (b'{"name": "x", "allowedModels": ["gpt-*"]}', "allowedModels: not supported yet"),
        (b'{"name": ""}', "name:"),
    ):
        status, answer = admin(g1, "POST", "/keys", body)
        assert status == 400 and message in answer["error"], (body, answer)
    assert admin(g1, "GET", "/keys/nope")[0] == 404
    assert admin(g1, "DELETE", "/keys/nope")[0] == 404


def admin(g: Gateway, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    c = http.client.HTTPConnection("127.0.0.1", g.admin_port, timeout=10)
    try:
        c.request(method, path, body=body, headers={"content-type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None
    finally:
        c.close()


def metrics(g: Gateway) -> str:
    c = http.client.HTTPConnection("127.0.0.1", g.stats_port, timeout=5)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def test_without_config_virtual_keys_the_policy_is_refused(tmp_path: Path) -> None:
    from fastgw.config.compile import load_runtime
    from fastgw.config.errors import ConfigError

    text = (
        "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends: [{host: '127.0.0.1:1'}]\n"
        "      policies:\n        apiKey: {virtualKeys: true}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_runtime("c.yaml", text)
    assert "c.yaml:7" in str(info.value) and "needs config.virtualKeys" in str(info.value)


def test_config_keys_carry_budgets_without_redis(tmp_path: Path) -> None:
    """No Redis: a key of the config with a token budget, kept in shared memory by the workers."""
    fake = FakeProvider(tmp_path)
    port = free_port()
    keys = [
        {
            "key": "sk-team-a",
            "metadata": {"name": "team-a"},
            "budgets": [{"name": "hourly", "window": "1h", "tokens": 30}],
        }
    ]
    route = {
        "policies": {"apiKey": {"mode": "strict", "keys": keys}, "backendAuth": {"key": "sk-upstream"}},
        "backends": [{"ai": {"name": "oai", "provider": {"openAI": {}}, "hostOverride": fake.authority}}],
    }
    g = Gateway(tmp_path, bind_config(port, [route]), workers=2)
    try:
        c = client(port, "sk-team-a")
        spent = 0
        while spent < 30:
            answer = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert answer.usage is not None
            spent += answer.usage.prompt_tokens + answer.usage.completion_tokens
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert "budget 'hourly'" in info.value.message and "tokens per 1h" in info.value.message
        assert 1 <= int(info.value.response.headers["retry-after"]) <= 3600
        wait_until(lambda: 'fastgw_virtual_key_tokens_total{key="team-a"' in metrics(g), timeout=5, what="spend")
    finally:
        g.stop()
        fake.stop()
