"""A plain HTTP/1.1 upstream for end-to-end tests that need a request exactly as it arrived (the
target undecoded, every field line in order) and the moment its connection was closed.

Every request is recorded (`GET /_records` answers the list as JSON). `/slow...` is never
answered: the server waits up to 10 s for the connection to end and records when it did
(`closed_at`, time.monotonic(), one clock for every process on the machine).
Run: python -m tests.e2e.raw_upstream PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

Record = dict[str, object]


class RawUpstream:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                fields = [[n.strip().lower(), v.strip()] for n, v in (line.split(":", 1) for line in lines[1:])]
                length = next((int(v) for n, v in fields if n == "content-length"), 0)
                await reader.readexactly(length)
                if target == "/_records":
                    _answer(writer, json.dumps(self.records).encode())
                    continue
                record: Record = {"method": method, "target": target, "fields": fields}
                self.records.append(record)
                if target.startswith("/slow"):
                    await self._until_closed(reader, record)
                    return
                _answer(writer, b"ok")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _until_closed(self, reader: asyncio.StreamReader, record: Record) -> None:
        try:
            await asyncio.wait_for(reader.read(1), 10)  # b"" at EOF; a reset raises
        except ConnectionError:
            pass
        except TimeoutError:
            return
        record["closed_at"] = time.monotonic()


def _answer(writer: asyncio.StreamWriter, body: bytes) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))


async def main(port: int) -> None:
    upstream = RawUpstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
