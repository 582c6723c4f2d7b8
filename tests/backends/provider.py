"""A scriptable local LLM provider for in-process tests: real sockets, keep-alive, and an answer
chosen per request (`answer` returns the whole response bytes, or writes them itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tests.local_server import LocalServer

OPENAI_ANSWER = (
    b'{"id":"c1","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'
)
ANTHROPIC_ANSWER = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text",'
    b'"text":"hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}'
)
EMBEDDINGS_ANSWER = b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"model":"e"}'
COUNT_ANSWER = b'{"input_tokens":3}'


def http_response(status: int, body: bytes, ctype: bytes = b"application/json", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        ctype,
        len(body),
        extra,
        body,
    )


def default_answer(path: bytes) -> bytes:
    """A plausible answer for every route type."""
    if path.endswith(b"/count_tokens"):
        return http_response(200, COUNT_ANSWER)
    if path.endswith(b"/messages"):
        return http_response(200, ANTHROPIC_ANSWER)
    if path.endswith(b"/embeddings"):
        return http_response(200, EMBEDDINGS_ANSWER)
    return http_response(200, OPENAI_ANSWER)


Request = tuple[bytes, bytes, bytes]  # (head, path, body)
Answer = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bytes | None]]


class Provider(LocalServer):
    """Answers each request with `await answer(request, reader, writer)`: the response bytes to write, or
    None when the answer wrote (or withheld) them itself. Records what it received and when each
    connection ended."""

    def __init__(self, answer: Answer | None = None) -> None:
        super().__init__()
        self.answer = answer
        self.requests: list[Request] = []
        self.connections = 0
        self.closed_at: list[float] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        loop = asyncio.get_running_loop()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                length = 0
                chunked = False
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    elif name.lower() == b"transfer-encoding":
                        chunked = True
                body = await (_read_chunked(reader) if chunked else reader.readexactly(length))
                request = (head, path, body)
                self.requests.append(request)
                out = await self.answer(request, reader, writer) if self.answer is not None else default_answer(path)
                if out is not None:
                    writer.write(out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed_at.append(loop.time())
            writer.close()

    def close(self) -> None:
        super().close()
        for writer in self.writers:
            writer.close()

    async def aclose(self) -> None:
        """Close, and let every connection's handler see its end."""
        self.close()
        for _ in range(20):
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += await reader.readexactly(size)
        await reader.readexactly(2)
