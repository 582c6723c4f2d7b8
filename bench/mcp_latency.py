#!/usr/bin/env python3
"""Added latency of the MCP gateway per tools/call: the same call sent straight to a streamable-HTTP
MCP server (the official SDK's server, tests/e2e/mcp_server.py) and through fastgw (1 worker) in
front of it, sequentially on one keep-alive connection, after warm-up. Also a stdio target behind
the gateway (no direct counterpart: the figure is the whole call).

    python bench/mcp_latency.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.mcp_util import HttpServer, stdio_target  # noqa: E402
from tests.e2e.procs import Gateway, bind_config, free_port  # noqa: E402

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def timings(url: str, tool: str, calls: int) -> list[float]:
    with httpx.Client(timeout=30) as http:
        r = http.post(url, content=orjson.dumps(INIT), headers=HEADERS)
        r.raise_for_status()
        h = {**HEADERS, "mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        http.post(url, content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}', headers=h)
        out = []
        for i in range(calls + calls // 10):
            body = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": i + 1,
                    "method": "tools/call",
                    "params": {"name": tool, "arguments": {"text": "x"}},
                }
            )
            t0 = time.perf_counter()
            r = http.post(url, content=body, headers=h)
            assert b"x" in r.content and r.status_code == 200, r.content
            out.append(time.perf_counter() - t0)
        return out[calls // 10 :]  # the first tenth is warm-up


def q(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] * 1000 if p < 100 else max(values) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    server = HttpServer(tmp, "remote")
    port = free_port()
    targets = [{"name": "remote", "mcp": {"host": server.url}}]
    gw = Gateway(tmp, bind_config(port, [{"backends": [{"mcp": {"targets": targets}}]}]), workers=1)
    sport = free_port()
    gws = Gateway(tmp, bind_config(sport, [{"backends": [{"mcp": {"targets": [stdio_target("local")]}}]}]), workers=1)
    try:
        # alternating blocks, so the machine's background load falls on every path alike
        direct: list[float] = []
        via: list[float] = []
        stdio: list[float] = []
        block = max(10, args.calls // 10)
        for _ in range(args.calls // block):
            direct += timings(server.url, "echo", block)
            via += timings(f"http://127.0.0.1:{port}/mcp", "echo", block)
            stdio += timings(f"http://127.0.0.1:{sport}/mcp", "echo", block)
    finally:
        gw.stop()
        gws.stop()
        server.stop()
    print(f"tools/call, {args.calls} sequential calls each (ms)")
    print("path                     p50     p99")
    for name, t in (
        ("direct (HTTP server)", direct),
        ("via fastgw (HTTP target)", via),
        ("via fastgw (stdio target)", stdio),
    ):
        print(f"{name:<25}{q(t, 50):7.2f} {q(t, 99):7.2f}")
    print(f"added by fastgw: p50 {q(via, 50) - q(direct, 50):.2f} ms, p99 {q(via, 99) - q(direct, 99):.2f} ms")


if __name__ == "__main__":
    main()
