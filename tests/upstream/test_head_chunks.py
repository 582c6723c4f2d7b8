"""An upstream response head split across reads anywhere (byte by byte, random chunks, after an
interim 1xx head) reaches the exchange whole: the connection keeps the bytes of the head until the
parser reports it complete, then splits it in one native call."""

from __future__ import annotations

import asyncio
import random

import pytest

from fastgw.http.headers import Headers
from fastgw.upstream.connection import Exchange, UpstreamConnection
from fastgw.upstream.origin import Origin
from tests.http.fakes import FakeTransport

RESPONSE = (
    b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nServer: up\r\nContent-Type: application/json\r\nX-Long:  one two\r\n"
    b'Content-Length: 11\r\nConnection: keep-alive\r\n\r\n{"ok":true}'
)


class Owner:
    def __init__(self) -> None:
        self.released: list[UpstreamConnection] = []

    def connection_closed(self, conn: UpstreamConnection) -> None:
        pass

    def release(self, conn: UpstreamConnection) -> None:
        self.released.append(conn)


class Collect(Exchange):
    def __init__(self) -> None:
        super().__init__(asyncio.get_running_loop())
        self.heads: list[tuple[int, Headers]] = []
        self.body = b""

    def on_head(self, status: int, headers: Headers) -> None:
        self.heads.append((status, headers))

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk


def _chunkings() -> list[list[bytes]]:
    rng = random.Random(7)
    out = [[RESPONSE], [bytes([b]) for b in RESPONSE]]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(RESPONSE)), rng.randint(1, 12)))
        out.append([RESPONSE[a:b] for a, b in zip([0, *cuts], [*cuts, len(RESPONSE)], strict=True)])
    return out


@pytest.mark.parametrize("chunks", _chunkings())
async def test_a_head_split_anywhere_arrives_whole(chunks: list[bytes]) -> None:
    owner = Owner()
    conn = UpstreamConnection(owner, Origin("127.0.0.1", 1))
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(2):  # the same connection serves a second exchange the same way
        ex = Collect()
        conn.start(ex, b"GET / HTTP/1.1\r\nhost: up\r\n\r\n", None)
        for chunk in chunks:
            conn.data_received(chunk)
        assert ex.finished and ex.error is None
        assert ex.heads == [
            (
                200,
                [
                    (b"server", b"up"),
                    (b"content-type", b"application/json"),
                    (b"x-long", b"one two"),
                    (b"content-length", b"11"),
                    (b"connection", b"keep-alive"),
                ],
            )
        ]
        assert (ex.length, ex.connection) == (11, b"keep-alive")
        assert ex.body == b'{"ok":true}'
    assert owner.released == [conn, conn]
