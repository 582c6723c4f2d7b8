"""The legacy HTTP+SSE transport downstream (MCP 2024-11-05): `GET …/sse` opens the session's
stream, whose first event names the endpoint the client POSTs its messages to (`…/sse?sessionId=`);
every answer goes on the stream.

The stream is held by one worker, but the client's POSTs may reach any worker (the kernel spreads
connections). The session therefore lives on the worker holding the stream, and a POST that
arrives elsewhere is handed to it over a local channel: each worker that holds legacy streams
listens on an abstract unix socket named after the instance and its pid; the session id names the
pid and is signed, and every frame on the channel is signed with the instance key (any local
process can connect to an abstract socket).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Final

log = logging.getLogger("fastgw.mcp")

_FRAME: Final = struct.Struct("!I")
_MAC_BYTES: Final = 16
#: a forwarded message (the POST body) is bounded by the backend's message limit
MAX_FRAME: Final = 8 << 20

Deliver = Callable[[str, bytes], Awaitable[bool]]


class Channel:
    """One worker's end: a listening socket for messages other workers forward to its streams."""

    __slots__ = ("_deliver", "_key", "_name", "_server")

    def __init__(self, key: bytes, scope: str, deliver: Deliver) -> None:
        self._key = key
        self._deliver = deliver
        self._name = _address(key, scope, os.getpid())
        self._server: asyncio.AbstractServer | None = None

    async def listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_unix_server(self._accept, path=self._name)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ok = False
        try:
            head = await reader.readexactly(_FRAME.size)
            (n,) = _FRAME.unpack(head)
            if n <= MAX_FRAME:
                payload = await reader.readexactly(n)
                mac, rest = payload[:_MAC_BYTES], payload[_MAC_BYTES:]
                if hmac.compare_digest(mac, _mac(self._key, rest)):
                    sid_len = rest[0]
                    ok = await self._deliver(rest[1 : 1 + sid_len].decode("ascii"), rest[1 + sid_len :])
            writer.write(b"1" if ok else b"0")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, UnicodeDecodeError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


async def forward(key: bytes, scope: str, pid: int, session_id: str, body: bytes) -> bool:
    """Hand a POSTed message to the worker `pid` holding the session's stream; False when that
    worker is gone or has no such stream."""
    sid = session_id.encode("ascii")
    rest = bytes([len(sid)]) + sid + body
    payload = _mac(key, rest) + rest
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        # connected here, not by open_unix_connection: uvloop refuses abstract addresses there
        await asyncio.get_running_loop().sock_connect(sock, _address(key, scope, pid))
        reader, writer = await asyncio.open_unix_connection(sock=sock)
    except OSError:
        sock.close()
        return False
    try:
        writer.write(_FRAME.pack(len(payload)) + payload)
        await writer.drain()
        return await reader.read(1) == b"1"
    except ConnectionError:
        return False
    finally:
        writer.close()


def siblings(key: bytes, scope: str) -> list[int]:
    """The pids of the other workers of this instance listening on a channel (Linux: the abstract
    unix sockets in /proc/net/unix)."""
    prefix = _address(key, scope, 0)[1:].rsplit("/", 1)[0] + "/"
    mine = os.getpid()
    pids: list[int] = []
    try:
        with open("/proc/net/unix", encoding="latin-1") as table:
            for line in table:
                name = line.rstrip("\n").rsplit(" ", 1)[-1]
                tail = name[len(prefix) + 1 :]
                if name.startswith("@" + prefix) and tail.isdigit() and int(tail) != mine:
                    pids.append(int(tail))
    except OSError:
        return []
    return sorted(set(pids))


def new_session_id(key: bytes) -> str:
    """`<pid hex>.<random>.<mac>`: which worker holds the stream, unguessable, signed."""
    body = f"{os.getpid():x}.{os.urandom(12).hex()}"
    return f"{body}.{_mac(key, body.encode()).hex()}"


def session_owner(key: bytes, session_id: str) -> int | None:
    """The pid of the worker holding the session's stream, for an id this instance signed."""
    body, _, mac = session_id.rpartition(".")
    if len(session_id) > 128 or not body:
        return None
    try:
        if not hmac.compare_digest(bytes.fromhex(mac), _mac(key, body.encode())):
            return None
        return int(body.split(".", 1)[0], 16)
    except (ValueError, UnicodeEncodeError):
        return None


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:_MAC_BYTES]


def _address(key: bytes, scope: str, pid: int) -> str:
    # abstract namespace (leading NUL): nothing on disk to clean up, gone with the process
    tag = hashlib.sha256(key + scope.encode()).hexdigest()[:16]
    return f"\0fastgw-mcp/{tag}/{pid}"
