"""Pacing and delivery for the fake provider: token latency, time to first token, SSE framing, and
the injected mid-stream cut (`x-fake-fail-after-tokens`)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from fastgw.devtools.fake_control import Control


class StreamCut(Exception):
    """Raised once the requested number of tokens went out; the caller closes the connection."""


class Pacer:
    """Sleeps like a model: `ttft` before the first token, `token_latency` before each next one."""

    __slots__ = ("_control", "emitted")

    def __init__(self, control: Control) -> None:
        self._control = control
        self.emitted = 0

    async def before_token(self) -> None:
        delay = self._control.ttft if self.emitted == 0 else self._control.token_latency
        if delay > 0:
            await asyncio.sleep(delay)

    def after_token(self) -> None:
        self.emitted += 1
        fail_after = self._control.fail_after
        if fail_after is not None and self.emitted >= fail_after:
            raise StreamCut

    async def whole_answer(self, tokens: int) -> None:
        """A non-streamed answer still takes as long as generating every token."""
        total = self._control.ttft + max(0, tokens - 1) * self._control.token_latency
        if total > 0:
            await asyncio.sleep(total)


class SseWriter:
    """One text/event-stream response; `event` set gives Anthropic framing, None gives OpenAI's."""

    __slots__ = ("_request", "_response")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})

    async def start(self) -> None:
        await self._response.prepare(self._request)

    async def send(self, data: object, event: str | None = None) -> None:
        payload = orjson.dumps(data)
        head = b"event: " + event.encode() + b"\n" if event is not None else b""
        await self._response.write(head + b"data: " + payload + b"\n\n")

    async def send_raw(self, chunk: bytes) -> None:
        await self._response.write(chunk)

    async def finish(self) -> web.StreamResponse:
        await self._response.write_eof()
        return self._response

    def cut(self) -> web.StreamResponse:
        """Close the connection without the terminating chunk: the client sees a truncated body."""
        transport = self._request.transport
        if transport is not None:
            transport.close()
        return self._response


async def cut_json(request: web.Request, body: bytes) -> web.StreamResponse:
    """Announce the whole JSON body, send half of it, then close: a mid-body failure."""
    response = web.StreamResponse(headers={"content-type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        transport.close()
    return response
