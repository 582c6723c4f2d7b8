"""An origin at its connection limit (`config.backend.maxConnectionsPerOrigin`): a request that
finds no connection free within the connect timeout gets a 503 with the reason, in the client's
dialect, instead of queueing forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.backends.inproc import InProcGateway, until
from tests.backends.provider import Provider
from tests.backends.test_client_abort import body, config, slow


@pytest.fixture
async def env() -> AsyncIterator[tuple[Provider, InProcGateway]]:
    provider = Provider(slow)
    await provider.start()
    text = config(provider.port).replace(
        "binds:", "config:\n  backend: {maxConnectionsPerOrigin: 1, connectTimeout: 300ms}\nbinds:", 1
    )
    gw = InProcGateway(text)
    yield provider, gw
    gw.close()
    await provider.aclose()


@pytest.mark.parametrize(
    ("path", "dialect"),
    [("/oa/v1/chat/completions", "openai"), ("/an/v1/messages", "anthropic"), ("/plain/x", "plain")],
)
async def test_no_free_connection_within_the_connect_timeout_is_a_503(
    env: tuple[Provider, InProcGateway], path: str, dialect: str
) -> None:
    provider, gw = env
    busy = gw.client()
    busy.send(b"POST", b"/oa/v1/other", body("/oa/v1/other", False))  # holds the origin's one connection
    await until(lambda: provider.requests, "the first request to reach the provider")
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await gw.request(path, body(path, False), timeout=5)
    assert resp.status == 503
    assert loop.time() - start >= 0.25
    if dialect == "openai":
        error = orjson.loads(resp.body)["error"]
        assert error["code"] == "upstream_pool_timeout" and "stayed busy" in error["message"]
    elif dialect == "anthropic":
        error = orjson.loads(resp.body)
        assert error["type"] == "error" and error["error"]["type"] == "overloaded_error"
    else:
        assert b"stayed busy" in resp.body
    assert "reason=upstream_pool_timeout" in gw.log_lines()[-1]
    assert len(provider.requests) == 1, "the waiting request never reached the provider"
    busy.reset()
