"""remoteRateLimit `type: tokens` through a real gateway, the fake provider and the official
OpenAI SDK: admitted while the budget lasts, the response's real usage charged after it, the
next request refused in the SDK's own error shape."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
import redis

from tests.e2e.llm_util import CLIENT_KEY, FakeProvider
from tests.e2e.procs import Gateway, bind_config, free_port, wait_until
from tests.redis_server import RedisServer


def test_tokens_are_charged_after_the_response_and_enforced_on_the_next(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    fake = FakeProvider(tmp_path)
    port = free_port()
    rrl = {
        "redis": {"url": server.url, "commandTimeout": "500ms", "connectTimeout": "500ms"},
        "dialect": "client",
        "descriptors": [
            {
                "entries": [{"key": "team", "value": 'request.headers["x-team"]'}],
                "type": "tokens",
                "window": {"limit": 30, "size": "1h"},
            }
        ],
    }
    route = {
        "policies": {"remoteRateLimit": rrl, "backendAuth": {"key": "sk-upstream"}},
        "backends": [{"ai": {"name": "oai", "provider": {"openAI": {}}, "hostOverride": fake.authority}}],
    }
    g = Gateway(tmp_path, bind_config(port, [route]), workers=2)
    r = redis.Redis.from_url(server.url)
    try:
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key=CLIENT_KEY,
            max_retries=0,
            default_headers={"x-team": "red"},
        )
        messages = [{"role": "user", "content": "Hello there, how are you today?"}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        assert first.usage is not None
        used = first.usage.prompt_tokens + first.usage.completion_tokens
        # charged after the response (fire and forget): the window's count becomes the usage
        (key,) = r.keys("*")
        wait_until(lambda: int(r.hget(key, "c") or 0) == used, timeout=5, what="the charge")
        while int(r.hget(key, "c") or 0) < 30:  # spend the rest of the budget
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
            wait_until(lambda: int(r.hget(key, "c") or 0) % used == 0, timeout=5, what="the charge")
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        assert info.value.response.headers["x-ratelimit-remaining"] == "0"
        assert "retry-after" in info.value.response.headers
        # another team has its own budget
        other = client.with_options(default_headers={"x-team": "blue"})
        assert other.chat.completions.create(model="gpt-4o-mini", messages=messages).choices  # type: ignore[arg-type]
    finally:
        r.close()
        g.stop()
        fake.stop()
        server.stop()
