"""Send one request through the pool: pick a connection, write head and body, wait for the
response to be pushed into its Exchange. Retries once, transparently, when a reused keep-alive
connection turns out to have been closed by the upstream before it answered anything."""

from __future__ import annotations

from fastgw.errors import UpstreamConnectError
from fastgw.http.request import Body
from fastgw.native import request_head as native_request_head
from fastgw.upstream.connection import Exchange, UpstreamConnection
from fastgw.upstream.origin import Origin
from fastgw.upstream.pool import Pool


async def send(
    pool: Pool,
    origin: Origin,
    head: bytes,
    body: Body | bytes,
    exchange: Exchange,
    timeout: float | None,
    *,
    chunked: bool = False,
    head_timeout: float | None = None,
) -> None:
    """`head` ends with the blank line. A `Body` still arriving is streamed (chunk-framed when
    `chunked`), with backpressure; bytes are sent with the head in one write."""
    if not isinstance(body, bytes) and not body.complete:
        await body.fill(body.high_water)
    for attempt in (0, 1):
        idle = pool.take_idle(origin)
        if idle is not None:
            conn, reused = idle, True
        else:
            conn, reused = await pool.acquire(origin)
        try:
            if isinstance(body, bytes):
                conn.start(exchange, head + body if body else head, timeout, head_timeout)
            elif body.complete and body.error is None:
                data = body.take()
                if chunked:
                    data = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)) if data else b"0\r\n\r\n"
                conn.start(exchange, head + data, timeout, head_timeout)
            else:
                conn.start(exchange, head, timeout, head_timeout)
                await _stream_body(conn, body, chunked)
            await exchange.wait()
            return
        except UpstreamConnectError:
            replayable = isinstance(body, bytes) or not body.consumed
            if attempt == 0 and reused and exchange.status == 0 and not exchange.got_bytes and replayable:
                exchange.reset()
                continue
            raise
        except BaseException:
            # cancelled (client went away) or failed mid-way: this connection's state is unknown
            if conn.exchange is exchange or conn.writing:
                conn.exchange = None
                conn.abort()
            if not exchange.finished:
                exchange.finished = True
                exchange.on_cancel()
            raise


async def _stream_body(conn: UpstreamConnection, body: Body, chunked: bool) -> None:
    conn.writing = True
    try:
        while True:
            chunk = await body.next_chunk()
            if not chunk:
                if chunked:
                    conn.write(b"0\r\n\r\n")
                break
            conn.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if conn.write_paused:
                await conn.drain()
            if conn.closed:
                break
    finally:
        conn.writing = False


def request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """Start line, every field of `headers`, empty line (written by native.request_head)."""
    return native_request_head(method, target, headers, None)


__all__ = ["request_head", "send"]
