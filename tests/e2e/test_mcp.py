"""MCP through the gateway, end to end: the official SDK as the client, real MCP servers written
with the same SDK as targets (stdio children the gateway starts, streamable-HTTP servers)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest
import yaml
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitResult

from tests.e2e.mcp_util import HttpServer, client, sse_client_of, stdio_target
from tests.e2e.procs import ROOT, Gateway, bind_config, free_port, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp")


@pytest.fixture(scope="module")
def remote(tmp: Path) -> Iterator[HttpServer]:
    server = HttpServer(tmp, "remote")
    yield server
    server.stop()


def _text(result: Any) -> str:
    assert not result.is_error, result
    return str(result.content[0].text)


def test_seed_mcp_endpoint_with_a_local_stdio_server(tmp: Path) -> None:
    """configs/seeds/004-mcp-endpoint.yaml as written, its `uvx` target replaced by the test server."""
    cfg = yaml.safe_load((ROOT / "configs/seeds/004-mcp-endpoint.yaml").read_text())
    port = free_port()
    cfg["binds"][0]["port"] = port
    backend = cfg["binds"][0]["listeners"][0]["routes"][0]["backends"][0]["mcp"]
    backend["targets"] = [stdio_target("kubernetes")]
    gw = Gateway(tmp, cfg)
    try:

        async def run() -> None:
            async with client(f"http://127.0.0.1:{port}/mcp") as c:
                names = [t.name for t in (await c.list_tools()).tools]
                assert "echo" in names and "whoami" in names  # one target: no prefix
                assert _text(await c.call_tool("whoami", {})) == "kubernetes"
                assert _text(await c.call_tool("add", {"a": 2, "b": 3})) == "5"

        asyncio.run(run())
        # a browser client (MCP Inspector) passes the seed's CORS policy
        pre = httpx.options(
            f"http://127.0.0.1:{port}/mcp",
            headers={
                "origin": "http://localhost:6274",
                "access-control-request-method": "POST",
                "access-control-request-headers": "mcp-protocol-version,content-type",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "*"
        assert "stderr" not in gw.output() or "mcp target kubernetes" in gw.output()
        assert "mcp target kubernetes: kubernetes starting on stdio" in gw.output()  # stderr, logged by name
    finally:
        gw.stop()


def test_the_mcp_block_with_cors_and_children_stopped_on_reload_and_shutdown(tmp: Path) -> None:
    """The top-level `mcp:` block on its own port; a browser client's CORS needs (the session id
    sent and read); the stdio children end with their workers (reload, shutdown), and a session
    outlives a reload."""
    port = free_port()
    cors = {"allowOrigins": ["http://localhost:6274"], "allowHeaders": ["content-type"], "allowMethods": ["*"]}
    cfg = {"mcp": {"port": port, "targets": [stdio_target("only")], "policies": {"cors": cors}}}
    gw = Gateway(tmp, cfg, workers=1)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        sid = _initialize(url, origin="http://localhost:6274")
        r = _post(url, b'{"jsonrpc":"2.0","id":2,"method":"ping"}', sid, origin="http://localhost:6274")
        assert r.headers["access-control-allow-origin"] == "http://localhost:6274"
        assert "mcp-session-id" in r.headers["access-control-expose-headers"].lower()
        pre = httpx.options(
            url,
            headers={
                "origin": "http://localhost:6274",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,mcp-session-id,mcp-protocol-version",
            },
        )
        assert "mcp-session-id" in pre.headers["access-control-allow-headers"].lower()
        call = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"pid","arguments":{}}}'
        r = _post(url, call, sid)
        first = int(r.json()["result"]["content"][0]["text"])
        assert Path(f"/proc/{first}").exists()
        # a client holding the session's GET stream: the old worker ends it when it drains
        # (rather than holding the reload for the whole drain timeout)
        stream_headers = {"accept": "text/event-stream", "mcp-session-id": sid}
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(lambda: httpx.get(url, headers=stream_headers, timeout=60).status_code)
            time.sleep(0.5)
            gw.signal(signal.SIGHUP)
            assert held.result(timeout=15) == 200
        wait_until(lambda: not Path(f"/proc/{first}").exists(), timeout=15, what="the child to stop on reload")
        r = _post(url, call, sid)  # the same session, served by the new generation
        child = int(r.json()["result"]["content"][0]["text"])
        assert child != first
    finally:
        gw.stop()
    wait_until(lambda: not Path(f"/proc/{child}").exists(), what="the stdio child to stop with the gateway")


def test_failure_mode_and_dns_rebinding_protection(tmp: Path) -> None:
    """A target that cannot start: failClosed (the default) fails initialize with a JSON-RPC
    error; failOpen serves the session without it. dnsRebindingProtection refuses a foreign Host."""
    port = free_port()
    broken = {"name": "broken", "stdio": {"cmd": "/nonexistent/mcp-server"}}
    routes = [
        {
            "name": "guarded",
            "matches": [{"path": {"pathPrefix": "/guarded"}}],
            "backends": [{"mcp": {"targets": [stdio_target("good")], "dnsRebindingProtection": True}}],
        },
        {
            "name": "closed",
            "matches": [{"path": {"pathPrefix": "/closed"}}],
            "backends": [{"mcp": {"targets": [stdio_target("good"), broken]}}],
        },
        {"name": "open", "backends": [{"mcp": {"targets": [stdio_target("good"), broken], "failureMode": "failOpen"}}]},
    ]
    gw = Gateway(tmp, bind_config(port, routes), workers=1)
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        guarded = f"http://127.0.0.1:{port}/guarded/mcp"
        assert _post(guarded, orjson.dumps(init), host="attacker.example").status_code == 403
        assert _post(guarded, orjson.dumps(init), origin="http://attacker.example").status_code == 403
        assert _post(guarded, orjson.dumps(init), origin="http://localhost:6274").status_code == 200
        r = _post(f"http://127.0.0.1:{port}/closed/mcp", orjson.dumps(init))
        assert r.status_code == 200 and "target broken" in r.json()["error"]["message"]
        assert "mcp-session-id" not in r.headers

        async def run() -> None:
            async with client(f"http://127.0.0.1:{port}/mcp") as c:
                assert {t.name for t in (await c.list_tools()).tools} >= {"good_echo", "good_whoami"}
                assert _text(await c.call_tool("good_whoami", {})) == "good"

        asyncio.run(run())
        assert "mcp target broken: cannot start" in gw.output()
    finally:
        gw.stop()


def test_stateless_mode(tmp: Path, remote: HttpServer) -> None:
    """statefulMode stateless: no session id is issued; each request opens throw-away upstream
    sessions (the HTTP target's ended again by DELETE)."""
    port = free_port()
    targets = [stdio_target("local"), {"name": "remote", "mcp": {"host": remote.url}}]
    cfg = bind_config(port, [{"backends": [{"mcp": {"targets": targets, "statefulMode": "stateless"}}]}])
    gw = Gateway(tmp, cfg, workers=2)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        r = _post(url, orjson.dumps(init))
        assert r.status_code == 200 and "mcp-session-id" not in r.headers
        assert "tools" in r.json()["result"]["capabilities"]

        async def run() -> None:
            async with client(url, fresh=True) as c:
                assert {"local_echo", "remote_echo"} <= {t.name for t in (await c.list_tools()).tools}
                for i in range(4):
                    assert _text(await c.call_tool("remote_echo", {"text": f"x{i}"})) == f"x{i}"
                    assert _text(await c.call_tool("local_whoami", {})) == "local"

        asyncio.run(run())
        assert httpx.get(url, headers={"accept": "text/event-stream"}).status_code == 405
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def multiplexed(tmp: Path, remote: HttpServer) -> Iterator[str]:
    port = free_port()
    route = {
        "backends": [{"mcp": {"targets": [stdio_target("local"), {"name": "remote", "mcp": {"host": remote.url}}]}}]
    }
    gw = Gateway(tmp, bind_config(port, [route]), workers=4)
    yield f"http://127.0.0.1:{port}/mcp"
    gw.stop()


def test_two_servers_multiplexed_through_four_workers_on_fresh_connections(multiplexed: str) -> None:
    async def run() -> None:
        async with client(multiplexed, fresh=True) as c:
            assert c.server_info is not None and c.server_info.name == "fastgw"
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"local_echo", "local_pid", "remote_echo", "remote_whoami"} <= tools
            assert _text(await c.call_tool("remote_whoami", {})) == "remote"
            assert _text(await c.call_tool("local_whoami", {})) == "local"
            pids = set()
            for i in range(12):
                assert _text(await c.call_tool("local_add", {"a": i, "b": 1})) == str(i + 1)
                assert _text(await c.call_tool("remote_echo", {"text": f"m{i}"})) == f"m{i}"
                pids.add(_text(await c.call_tool("local_pid", {})))
            # every worker runs its own stdio child: several pids = several workers served the session
            assert len(pids) >= 2, pids
            prompts = {p.name for p in (await c.list_prompts()).prompts}
            assert prompts == {"local_greet", "remote_greet"}
            got = await c.get_prompt("remote_greet", {"who": "ann"})
            assert "Hello ann from remote" in got.messages[0].content.text  # type: ignore[union-attr]
            uris = {str(r.uri) for r in (await c.list_resources()).resources}
            assert uris == {"local+info://about", "remote+info://about"}
            read = await c.read_resource("remote+memo://k1")
            assert read.contents[0].text == "remote memo k1"  # type: ignore[union-attr]

    asyncio.run(run())


def test_server_requests_are_relayed_and_answered_from_any_worker(multiplexed: str) -> None:
    """A target's elicitation request reaches the calling client; its answer, POSTed on a new
    connection (so often to another worker), reaches the target that asked."""
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"reply": f"yes to {params.message}"})

    async def run() -> None:
        async with client(multiplexed, fresh=True, elicitation_callback=elicit) as c:
            for i in range(3):
                for target in ("local", "remote"):
                    got = _text(await c.call_tool(f"{target}_ask", {"question": f"q{i}"}))
                    assert got == f"{target} got yes to q{i}"

    asyncio.run(run())
    assert len(asked) == 6


def test_legacy_sse_transport_with_posts_reaching_other_workers(multiplexed: str) -> None:
    url = multiplexed.removesuffix("/mcp") + "/sse"

    async def run() -> None:
        async with sse_client_of(url, fresh=True) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"local_echo", "remote_echo"} <= tools
            for i in range(8):  # most POSTs land on a worker that does not hold the stream
                assert _text(await c.call_tool("remote_echo", {"text": f"s{i}"})) == f"s{i}"
                assert _text(await c.call_tool("local_add", {"a": i, "b": 2})) == str(i + 2)
            seen: list[tuple[float, float | None, str | None]] = []
            result = await c.call_tool("local_slow", {"steps": 2}, progress_callback=_recorder(seen))
            assert _text(result).endswith("done after 2") and [s[0] for s in seen] == [1.0, 2.0]

    asyncio.run(run())
    r = _post(url + "?sessionId=1.abc.0000", b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    assert r.status_code == 404


def test_sse_target_through_four_workers(tmp: Path) -> None:
    """A target on the legacy SSE transport: each worker opens its own upstream connection for a
    session it has not seen (stateless re-initialization)."""
    legacy = HttpServer(tmp, "legacy", "sse")
    port = free_port()
    target = {"name": "legacy", "sse": {"host": "127.0.0.1", "port": legacy.port, "path": "/sse"}}
    gw = Gateway(tmp, bind_config(port, [{"backends": [{"mcp": {"targets": [target]}}]}]), workers=4)
    try:

        async def run() -> None:
            async with client(f"http://127.0.0.1:{port}/mcp", fresh=True) as c:
                assert "echo" in {t.name for t in (await c.list_tools()).tools}
                for i in range(6):
                    assert _text(await c.call_tool("echo", {"text": f"e{i}"})) == f"e{i}"
                seen: list[tuple[float, float | None, str | None]] = []
                result = await c.call_tool("slow", {"steps": 2}, progress_callback=_recorder(seen))
                assert _text(result) == "legacy done after 2" and [s[0] for s in seen] == [1.0, 2.0]

        asyncio.run(run())
    finally:
        gw.stop()
        legacy.stop()


def test_progress_notifications_are_relayed(multiplexed: str) -> None:
    async def run() -> None:
        async with client(multiplexed) as c:
            for tool in ("local_slow", "remote_slow"):
                seen: list[tuple[float, float | None, str | None]] = []
                progress = _recorder(seen)
                result = await c.call_tool(tool, {"steps": 3}, progress_callback=progress)
                assert _text(result).endswith("done after 3")
                assert [s[0] for s in seen] == [1.0, 2.0, 3.0], (tool, seen)

    asyncio.run(run())


def test_mcp_authorization_filters_lists_and_denies_calls_and_telemetry_names_them(tmp: Path) -> None:
    port = free_port()
    mcp = {
        "targets": [
            stdio_target("a"),
            {**stdio_target("b"), "tools": {"exclude": ["crash", "garbage"]}},
        ]
    }
    policies = {
        "apiKey": {"keys": [{"key": "sk-alice", "metadata": {"user": "alice"}}, {"key": "sk-bob"}]},
        "mcpAuthorization": {
            "rules": [
                'mcp.tool.name == "echo"',
                'apiKey.user == "alice" && mcp.tool.name == "add"',
                "has(mcp.prompt.name)",
                "has(mcp.resource.name)",
            ]
        },
    }
    gw = Gateway(tmp, bind_config(port, [{"backends": [{"mcp": mcp}], "policies": policies}]), workers=1)
    url = f"http://127.0.0.1:{port}/mcp"
    try:

        async def run(key: str) -> set[str]:
            async with client(url, headers={"authorization": f"Bearer {key}"}) as c:
                tools = {t.name for t in (await c.list_tools()).tools}
                assert _text(await c.call_tool("a_echo", {"text": "ok"})) == "ok"
                with pytest.raises(MCPError, match="Forbidden"):
                    await c.call_tool("b_whoami", {})
                with pytest.raises(MCPError, match="Unknown tool"):
                    await c.call_tool("b_crash", {})  # excluded: not offered at all
                return tools

        assert asyncio.run(run("sk-alice")) == {"a_echo", "a_add", "b_echo", "b_add"}
        assert asyncio.run(run("sk-bob")) == {"a_echo", "b_echo"}
        sid = _initialize(url, authorization="Bearer sk-bob")
        call = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a_add","arguments":{"a":1,"b":2}}}'
        r = _post(url, call, sid, authorization="Bearer sk-bob")
        assert r.json()["error"]["code"] == -32001 and "a_add" in r.json()["error"]["message"]

        def logged() -> bool:
            out = gw.output()
            return "mcp.method.name=tools/call mcp.target=a mcp.resource.type=tool gen_ai.tool.name=echo" in out

        wait_until(logged, what="the access log's MCP fields")
        out = gw.output()
        assert "mcp.error.code=-32001" in out and "mcp.session.id=" in out
        assert sid not in out  # the id lets its holder act in the session: only a digest is logged

        def counted() -> bool:
            text = httpx.get(f"http://127.0.0.1:{gw.stats_port}/metrics").text
            want = ('method="tools/call"', 'resource="echo"', 'resource_type="tool"', 'server="a"')
            return any(
                line.startswith("agentgateway_mcp_requests_total{") and all(w in line for w in want)
                for line in text.splitlines()
            )

        wait_until(counted, what="agentgateway_mcp_requests_total")
    finally:
        gw.stop()


def _recorder(seen: list[tuple[float, float | None, str | None]]) -> Any:
    async def progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, total, message))

    return progress


def _post(url: str, body: bytes, session: str | None = None, **headers: str) -> httpx.Response:
    h = {"content-type": "application/json", "accept": "application/json, text/event-stream", **headers}
    if session is not None:
        h["mcp-session-id"] = session
    return httpx.post(url, content=body, headers=h, timeout=30)


def _initialize(url: str, **headers: str) -> str:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    r = _post(url, orjson.dumps(init), **headers)
    assert r.status_code == 200
    assert r.json()["result"]["protocolVersion"] == "2025-03-26"
    return r.headers["mcp-session-id"]


def test_bad_input_gets_the_specified_errors(multiplexed: str) -> None:
    url = multiplexed
    sid = _initialize(url)
    r = _post(url, b"{not json", sid)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    r = _post(url, b'{"jsonrpc":"1.0","id":1,"method":"ping"}', sid)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = _post(url, b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', sid)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = _post(url, b'{"jsonrpc":"2.0","id":7,"method":"no/such"}', sid)
    assert r.status_code == 200 and r.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32601, "message": "Method not found: no/such"},
    }
    r = _post(url, b'{"jsonrpc":"2.0","id":8,"method":"ping"}')  # no session
    assert r.status_code == 400
    forged = sid[:-4] + ("AAAA" if not sid.endswith("AAAA") else "BBBB")
    r = _post(url, b'{"jsonrpc":"2.0","id":9,"method":"ping"}', forged)
    assert r.status_code == 404 and r.json()["error"]["code"] == -32001
    r = _post(url, b'{"jsonrpc":"2.0","id":9,"method":"ping"}', "never-issued")
    assert r.status_code == 404
    big = b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"local_echo","arguments":{"text":"'
    r = _post(url, big + b"x" * (10 << 20) + b'"}}}', sid)
    assert r.status_code == 413
    r = _post(url, b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"nobody_echo"}}', sid)
    assert r.json()["error"]["code"] == -32602
    # the session still works after all that
    r = _post(url, b'{"jsonrpc":"2.0","id":12,"method":"ping"}', sid)
    assert r.status_code == 200 and r.json() == {"jsonrpc": "2.0", "id": 12, "result": {}}


def test_protocol_versions_and_cancellation(multiplexed: str) -> None:
    url = multiplexed
    for version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "1999-01-01"):
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        got = _post(url, orjson.dumps(init)).json()["result"]["protocolVersion"]
        assert got == (version if version != "1999-01-01" else "2025-11-25")
    sid = _initialize(url)
    with ThreadPoolExecutor(1) as pool:
        for target in ("local", "remote"):
            call = {
                "jsonrpc": "2.0",
                "id": f"long-{target}",
                "method": "tools/call",
                "params": {"name": f"{target}_slow", "arguments": {"steps": 3000}},
            }
            started = time.monotonic()
            pending = pool.submit(_post, url, orjson.dumps(call), sid)
            time.sleep(0.5)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": f"long-{target}"}}
            assert _post(url, orjson.dumps(cancel), sid).status_code == 202
            r = pending.result(timeout=20)
            assert time.monotonic() - started < 20  # 3000 steps take 30 s: the call was cut short
            if target == "local":  # fastgw held the call: it answers it as cancelled
                assert "cancelled" in r.text.lower()


def test_a_target_crashing_mid_call_fails_that_call_only(multiplexed: str) -> None:
    async def run() -> None:
        async with client(multiplexed) as c, client(multiplexed) as other:
            with pytest.raises(MCPError, match="target local: the process exited"):
                await c.call_tool("local_crash", {})
            # the other session, and the crashed one, go on (the child is started again)
            assert _text(await other.call_tool("remote_echo", {"text": "fine"})) == "fine"
            assert _text(await c.call_tool("local_echo", {"text": "again"})) == "again"
            garbage = await c.call_tool("local_garbage", {})
            assert _text(garbage) == "after garbage"  # a non-JSON stdout line is skipped and logged

    asyncio.run(run())
