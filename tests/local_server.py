"""A local asyncio TCP server for in-process tests: subclasses answer in `handle`."""

from __future__ import annotations

import asyncio


class LocalServer:
    """Listens on 127.0.0.1 on a free port once `start()` has run; `handle` serves one connection."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])
