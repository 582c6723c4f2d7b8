"""The floor under any Python proxy on uvloop: a TCP relay that does no HTTP work at all.

    python bench/relay_floor.py --port P --upstream 127.0.0.1:U [--parse]

Each accepted client connection gets its own upstream connection; bytes are relayed both ways as
they arrive (an L4 proxy: correct for any protocol, keep-alive included). With `--parse`, both
directions are also fed through httptools parsers with the callbacks a proxy needs (url, headers,
body, message complete) that do nothing, which adds the parsing cost and nothing else.

bench/run.py runs it as the `relay floor` rows: what a proxy spends in the event loop and the
kernel per request when its own Python work is zero. No HTTP proxy written in Python on uvloop can
exceed it on the same box.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

import httptools
import uvloop


class _Sink:
    """httptools callbacks that do nothing (the parse cost alone)."""

    def on_url(self, url: bytes) -> None:
        pass

    def on_header(self, name: bytes, value: bytes) -> None:
        pass

    def on_headers_complete(self) -> None:
        pass

    def on_body(self, body: bytes) -> None:
        pass

    def on_message_complete(self) -> None:
        pass


class Upstream(asyncio.Protocol):
    def __init__(self, client: Client, parse: bool) -> None:
        self.client = client
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(_Sink()) if parse else None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed_data(data)
        self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.transport.close()


class Client(asyncio.Protocol):
    def __init__(self, upstream: tuple[str, int], parse: bool) -> None:
        self.upstream_addr = upstream
        self.parse = parse
        self.transport: Any = None
        self.upstream: Upstream | None = None
        self.queued: list[bytes] = []
        self.parser = httptools.HttpRequestParser(_Sink()) if parse else None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.upstream_addr
        _, up = await loop.create_connection(lambda: Upstream(self, self.parse), host, port)
        self.upstream = up
        for data in self.queued:
            up.transport.write(data)
        self.queued.clear()

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed_data(data)
        if self.upstream is None:
            self.queued.append(data)
        else:
            self.upstream.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()


async def serve(port: int, upstream: tuple[str, int], parse: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(upstream, parse), "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="host:port")
    ap.add_argument("--parse", action="store_true", help="also run both directions through httptools")
    args = ap.parse_args()
    host, _, port = args.upstream.rpartition(":")
    uvloop.run(serve(args.port, (host, int(port)), args.parse))


if __name__ == "__main__":
    main()
