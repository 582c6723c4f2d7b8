"""The per-request access log line, in agentgateway's key names and order.

Text: `<RFC3339 time>\tinfo\trequest gateway=bind/3000 listener=listener0 ... duration=3ms`
(the time format and level spelling of every other log line: `telemetry/logs.py`)
JSON: `{"level":"info","time":"...","scope":"request","gateway":"bind/3000",...}`
Lines are buffered and flushed at most every 200 ms (and at shutdown) so logging costs one
write syscall per batch, not per request. Values are never secrets: headers are not logged.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import orjson

from fastgw.errors import UPSTREAM
from fastgw.native import access_line, log_fields
from fastgw.telemetry import genai
from fastgw.telemetry.logs import utc_seconds

if TYPE_CHECKING:
    from fastgw.context import RequestContext

_FLUSH_BYTES = 64 * 1024


class AccessLog:
    __slots__ = (
        "_buf",
        "_fd",
        "_genai",
        "_json",
        "_prefixes",
        "_second",
        "_size",
        "_stamp",
        "_timer",
        "enabled",
    )

    def __init__(self, enabled: bool, fmt: str, fd: int = 1) -> None:
        self.enabled = enabled
        self._json = fmt == "json"
        self._fd = fd
        self._buf: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""
        # the route part of a text line, formatted once per route (the Runtime never changes
        # inside a worker, so route identity is stable)
        self._prefixes: dict[int, bytes] = {}
        self._genai = genai.LogText()

    def _time(self) -> str:
        now = time.time()
        sec = int(now)
        if sec != self._second:
            self._second = sec
            self._stamp = utc_seconds(sec)
        return f"{self._stamp}.{min(999_999, int((now - sec) * 1_000_000)):06d}Z"

    def record(self, ctx: RequestContext) -> None:
        if not self.enabled:
            return
        if self._json:
            fields = fields_of(ctx)
            line = orjson.dumps({"level": "info", "time": self._time(), "scope": "request", **fields}) + b"\n"
        else:
            line = self._text_line(ctx)
        self._buf.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(0.2, self.flush)
            except RuntimeError:
                self.flush()

    def _text_line(self, ctx: RequestContext) -> bytes:
        """The text line (one native call on the hot path); same keys and order as fields_of()."""
        req = ctx.request
        route = ctx.route
        head = self._prefixes.get(id(route)) if route is not None else None
        if head is None:
            head = self._prefix(ctx)
        call = ctx.llm
        tail = b"" if call is None else self._genai.of(call, ctx.usage)
        if ctx.mcp is not None:
            tail += log_fields(ctx.mcp.log_fields())
        if ctx.error is not None:
            tail += log_fields({"error": ctx.error.message, "reason": ctx.error.reason})
        elif ctx.reason is not UPSTREAM:
            tail += log_fields({"reason": ctx.reason.label})
        return access_line(
            time.time(),
            head,
            ctx.endpoint.encode(),
            req.client.encode(),
            req.method,
            req.host,
            req.path,
            req.version == b"1.1",
            ctx.writer.status,
            tail,
            int((ctx.worker.loop.time() - req.start) * 1000),
        )

    def _prefix(self, ctx: RequestContext) -> bytes:
        route = ctx.route
        if route is None:
            return f"gateway={ctx.bind.name}".encode()
        text = f"gateway={ctx.bind.name} listener={route.listener} route_rule={route.rule} route={route.name}".encode()
        self._prefixes[id(route)] = text
        return text

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buf:
            return
        data = b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        try:
            while data:
                n = os.write(self._fd, data)
                data = data[n:]
        except BlockingIOError:
            pass  # a stuck log reader must not stall the proxy: drop the batch
        except OSError:
            self.enabled = False


def fields_of(ctx: RequestContext) -> dict[str, object]:
    """The access-log fields, in agentgateway's order, omitting absent ones."""
    req = ctx.request
    route = ctx.route
    f: dict[str, object] = {"gateway": ctx.bind.name}
    if route is not None:
        f["listener"] = route.listener
        f["route_rule"] = route.rule
        f["route"] = route.name
    if ctx.endpoint:
        f["endpoint"] = ctx.endpoint
    f["src.addr"] = req.client
    f["http.method"] = req.method.decode("latin-1")
    f["http.host"] = req.host.decode("latin-1")
    f["http.path"] = req.path.decode("latin-1")
    f["http.version"] = "HTTP/1.1" if req.version == b"1.1" else "HTTP/1.0"
    f["http.status"] = ctx.writer.status
    if ctx.llm is not None:
        f.update(genai.fields(ctx.llm, ctx.usage))
    if ctx.mcp is not None:
        f.update(ctx.mcp.log_fields())
    if ctx.error is not None:
        f["error"] = ctx.error.message
        f["reason"] = ctx.error.reason
    elif ctx.reason is not UPSTREAM:
        f["reason"] = ctx.reason.label
    f["duration"] = f"{int((asyncio.get_running_loop().time() - req.start) * 1000)}ms"
    return f
