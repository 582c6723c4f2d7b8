"""One worker's request path in this process, for fast tests of whole exchanges: the real
pipeline, backends, pool and upstream connections (real sockets to a local test server); the
client side is an HttpConnection on a fake transport, one per request."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from typing import Any

from fastgw.config.compile import load_runtime
from fastgw.http.connection import HttpConnection, ServerState
from fastgw.http.errors import api_error
from fastgw.native import SSEScanner
from fastgw.pipeline import dispatcher
from fastgw.telemetry.access_log import AccessLog
from fastgw.worker_state import WorkerState
from tests.http.fakes import FakeTransport, Response, parse_responses


class Client:
    """One client connection on a fake transport."""

    def __init__(self, state: ServerState) -> None:
        self.conn = HttpConnection(state)
        self.transport = FakeTransport()
        self.conn.connection_made(self.transport)  # type: ignore[arg-type]

    def send(self, method: bytes, path: bytes, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        self.conn.data_received(
            b"%s %s HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
            % (method, path, len(body), extra, body)
        )

    def responses(self) -> list[Response]:
        return parse_responses(bytes(self.transport.out))

    def done(self) -> bool:
        got = self.responses()
        return (bool(got) and got[0].complete) or self.transport.closed

    def reset(self) -> None:
        """The client resets the connection (what SO_LINGER 0 then close does)."""
        self.conn.connection_lost(ConnectionResetError())


class InProcGateway:
    """`fastgw serve` on `config` (YAML text) minus the process and the listening socket; the
    access log is written to a pipe the test can read."""

    def __init__(self, config: str) -> None:
        runtime = load_runtime("inproc.yaml", config)
        self.runtime = runtime
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.worker = WorkerState(runtime, 0, AccessLog(True, "text", fd=self._log.fileno()))
        self.states = [ServerState(dispatcher(self.worker, b), api_error, runtime.limits) for b in runtime.binds]

    def client(self, bind: int = 0) -> Client:
        return Client(self.states[bind])

    async def request(
        self,
        path: str,
        body: bytes | Any = b"",
        *,
        method: bytes = b"POST",
        headers: dict[str, str] | None = None,
        bind: int = 0,
        timeout: float = 10.0,
    ) -> Response:
        client = self.client(bind)
        client.send(method, path.encode(), body, headers)
        await until(client.done, f"the answer to {path}", timeout)
        return client.responses()[0]

    def log_lines(self) -> list[str]:
        """The access log so far, one line per finished request."""
        self.worker.access_log.flush()
        return os.pread(self._log.fileno(), 1 << 24, 0).decode(errors="replace").splitlines()

    def close(self) -> None:
        self.worker.access_log.flush()
        self.worker.close()
        self._log.close()


async def until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def sse_events(body: bytes) -> list[tuple[str, bytes]]:
    """(event, data) of every event of an SSE body (the unfinished tail is not an event)."""
    return [(ev.event, ev.data) for ev in SSEScanner().feed(body)]
