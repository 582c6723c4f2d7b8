"""A client on the official Python SDK's 1.x line (run with .venv-mcp1's python, not the test
venv's 2.x): connects to URL over TRANSPORT (streamable-http or sse), prints one JSON line of what
it saw. Kept free of fastgw and test imports: that venv has only `mcp` 1.x.

    .venv-mcp1/bin/python tests/e2e/mcp1_client.py URL TRANSPORT TOOL
"""

import asyncio
import json
import sys

import mcp
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client


async def main(url: str, transport: str, tool: str) -> None:
    progress = []

    async def on_progress(p, total, message):  # type: ignore[no-untyped-def]
        progress.append(p)

    connect = streamablehttp_client(url) if transport == "streamable-http" else sse_client(url)
    async with connect as streams, ClientSession(streams[0], streams[1]) as session:
        init = await session.initialize()
        tools = await session.list_tools()
        echo = await session.call_tool(tool, {"text": "from 1.x"})
        slow_tool = tool.replace("echo", "slow")
        slow = await session.call_tool(slow_tool, {"steps": 2}, progress_callback=on_progress)
        print(
            json.dumps(
                {
                    "sdk": mcp.__name__,
                    "version": init.protocolVersion,
                    "server": init.serverInfo.name,
                    "tools": sorted(t.name for t in tools.tools),
                    "echo": echo.content[0].text,
                    "slow": slow.content[0].text,
                    "progress": progress,
                }
            )
        )


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
