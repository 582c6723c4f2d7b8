"""An OpenAI-compatible upstream whose next answers are scripted, for failover tests.

`POST /_mode` with a body such as `503` sets how every following provider request is answered:
`ok` (a chat.completion), `401`, `403`, `500`, `503`, `429` (no reset time), `429-retry-after`
(`Retry-After: 1`), `429-retry-after-ms` (`retry-after-ms: 800`), `hang` (never answers), `reset`
(closes the connection before any answer), `reset-mid-body` (a 200 head and half its body, then
a close). `GET /_count` answers how many provider requests arrived. A closed port is "refuse".
Run: python -m tests.e2e.scripted_upstream PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

_ERRORS = {"401": "Unauthorized", "403": "Forbidden", "500": "Internal Server Error", "503": "Service Unavailable"}


class Scripted:
    def __init__(self) -> None:
        self.mode = "ok"
        self.count = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head[:-4].decode("latin-1").split("\r\n")
                _, target, _ = lines[0].split(" ", 2)
                fields = {n.strip().lower(): v.strip() for n, v in (ln.split(":", 1) for ln in lines[1:])}
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                if target == "/_mode":
                    self.mode = body.decode().strip()
                    _answer(writer, 200, b"ok")
                    continue
                if target == "/_count":
                    _answer(writer, 200, str(self.count).encode())
                    continue
                self.count += 1
                if not await self._provider(writer, body):
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _provider(self, writer: asyncio.StreamWriter, body: bytes) -> bool:
        """Answer one provider request; False when the connection must end."""
        mode = self.mode
        if mode == "hang":
            await asyncio.sleep(60)
            return False
        if mode == "reset":
            return False
        if mode in _ERRORS:
            _answer(writer, int(mode), json.dumps({"error": {"message": _ERRORS[mode], "type": "x"}}).encode())
            return True
        if mode.startswith("429"):
            extra = {"429-retry-after": "retry-after: 1\r\n", "429-retry-after-ms": "retry-after-ms: 800\r\n"}
            _answer(writer, 429, b'{"error":{"message":"slow down","type":"rate_limit"}}', extra.get(mode, ""))
            return True
        try:
            model = json.loads(body).get("model") or "scripted"
        except ValueError:
            model = "scripted"
        answer = json.dumps(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "scripted"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        ).encode()
        if mode == "reset-mid-body":
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(answer)
            )
            writer.write(answer[: len(answer) // 2])
            await writer.drain()
            return False
        _answer(writer, 200, answer)
        return True


def _answer(writer: asyncio.StreamWriter, status: int, body: bytes, extra: str = "") -> None:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    writer.write(head.encode() + body)


async def main(port: int) -> None:
    scripted = Scripted()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
