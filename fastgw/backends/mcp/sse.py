"""Server-sent events as MCP carries them: parsing an upstream stream, framing a downstream one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson


@dataclass(slots=True)
class Event:
    event: str = "message"
    data: str = ""
    id: str | None = None


async def events(lines: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Events of an SSE stream given as lines (WHATWG HTML §9.2.6: `data:` lines joined by
    newlines, comments and unknown fields ignored, an event ends at a blank line)."""
    ev = Event()
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                ev.data = "\n".join(data)
                yield ev
            ev, data = Event(), []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            ev.event = value
        elif field == "id":
            ev.id = value
    if data:
        ev.data = "\n".join(data)
        yield ev


def frame(message: object, event_id: str | None = None, event: str | None = None) -> bytes:
    """One SSE event carrying a JSON-RPC message (or, with `event`, a plain text payload)."""
    head = b""
    if event_id is not None:
        head += b"id: " + event_id.encode() + b"\n"
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
        return head + b"data: " + str(message).encode() + b"\n\n"
    return head + b"event: message\ndata: " + orjson.dumps(message) + b"\n\n"
