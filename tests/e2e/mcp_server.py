"""A real MCP server written with the official SDK (2.x `MCPServer`), for the gateway's tests.

    python -m tests.e2e.mcp_server NAME stdio
    python -m tests.e2e.mcp_server NAME streamable-http PORT
    python -m tests.e2e.mcp_server NAME sse PORT

Tools: `echo`, `add`, `whoami` (the server's name), `pid`, `ask` (elicits an answer), `slow`
(reports progress, logs), `crash` (the process exits mid-call), `garbage` (stdio: prints a line
that is not JSON first).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel


class Answer(BaseModel):
    reply: str


def build(name: str) -> MCPServer:
    server = MCPServer(name, instructions=f"{name} server for fastgw tests")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def whoami() -> str:
        """The server's name."""
        return name

    @server.tool()
    def pid() -> int:
        """The server process's id (each gateway worker runs its own stdio child)."""
        return os.getpid()

    @server.tool()
    async def slow(steps: int, ctx: Context) -> str:
        """Report progress `steps` times, then answer."""
        for i in range(steps):
            await ctx.report_progress(i + 1, steps, f"step {i + 1}")
            await ctx.info(f"{name} step {i + 1}")
            await asyncio.sleep(0.01)
        return f"{name} done after {steps}"

    @server.tool()
    async def ask(question: str, ctx: Context) -> str:
        """Ask the client (an elicitation request relayed through the gateway) and echo the answer."""
        result = await ctx.elicit(question, Answer)
        if result.action != "accept" or result.data is None:
            return f"{name} got {result.action}"
        return f"{name} got {result.data.reply}"

    @server.tool()
    def crash() -> str:
        """Exit the process in the middle of the call."""
        os._exit(3)

    @server.tool()
    def garbage() -> str:
        """Print a line that is not JSON-RPC on stdout, then answer."""
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        return "after garbage"

    @server.prompt()
    def greet(who: str) -> str:
        """A greeting prompt."""
        return f"Hello {who} from {name}"

    @server.resource("memo://{key}")
    def memo(key: str) -> str:
        """A templated resource."""
        return f"{name} memo {key}"

    @server.resource("info://about")
    def about() -> str:
        """A fixed resource."""
        return f"about {name}"

    return server


def main() -> None:
    name, transport = sys.argv[1], sys.argv[2]
    server = build(name)
    if transport == "stdio":
        print(f"{name} starting on stdio", file=sys.stderr, flush=True)
        server.run("stdio")
    elif transport == "streamable-http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]))
    else:
        server.run("sse", host="127.0.0.1", port=int(sys.argv[3]))


if __name__ == "__main__":
    main()
