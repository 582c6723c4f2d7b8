"""Helpers for the MCP tests: target configs for the test server, an SDK client on fresh connections."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.procs import Proc, free_port, port_open, wait_until


def stdio_target(name: str) -> dict[str, Any]:
    return {"name": name, "stdio": {"cmd": sys.executable, "args": ["-m", "tests.e2e.mcp_server", name, "stdio"]}}


class HttpServer(Proc):
    """The test server on streamable HTTP (`/mcp`) or SSE (`/sse`) on a free port."""

    def __init__(self, tmp: Path, name: str, transport: str = "streamable-http") -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "tests.e2e.mcp_server", name, transport, str(self.port)]
        super().__init__(args, tmp / f"mcp-{name}-{self.port}.log")
        wait_until(lambda: port_open(self.port), timeout=30, what=f"mcp server {name}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@asynccontextmanager
async def client(
    url: str, fresh: bool = False, headers: dict[str, str] | None = None, **kwargs: Any
) -> AsyncIterator[Client]:
    """The official SDK's client; `fresh`: every HTTP request on a new connection (`Connection:
    close`), so the kernel hands them to any of the gateway's workers."""
    headers = {**(headers or {}), **({"connection": "close"} if fresh else {})}
    timeout = httpx.Timeout(30.0, read=60.0)
    async with (
        httpx.AsyncClient(headers=headers, timeout=timeout) as http,
        Client(_Transport(url, http), **kwargs) as c,
    ):
        yield c


@asynccontextmanager
async def sse_client_of(url: str, fresh: bool = False, **kwargs: Any) -> AsyncIterator[Client]:
    """The SDK's client on the legacy HTTP+SSE transport (`url` ends in /sse); `fresh`: every POST
    on a new connection, so most reach a worker other than the one holding the stream."""
    headers = {"connection": "close"} if fresh else {}
    async with Client(_SseTransport(url, headers), **kwargs) as c:
        yield c


class _SseTransport:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._cm = sse_client(url, headers=headers, timeout=30)

    async def __aenter__(self) -> Any:
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        return await self._cm.__aexit__(*exc)


class _Transport:
    """A streamable-HTTP transport on a given httpx client (the SDK's `Transport` shape)."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self._cm = streamable_http_client(url, http_client=http)

    async def __aenter__(self) -> Any:
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        return await self._cm.__aexit__(*exc)
