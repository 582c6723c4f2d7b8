"""Bounded client load for the process tests: threads sending requests until told to stop (or a
deadline passes), counting every answer and every failure. Two shapes: keep-alive clients
(`KeepAliveLoad`, http.client) and clients opening a fresh connection per request (`FreshLoad`,
raw sockets: cheap enough to reach tens of thousands of requests in seconds on a loaded machine)."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter


class _Load:
    def __init__(self, port: int, clients: int, max_seconds: float) -> None:
        self.port = port
        self.max_seconds = max_seconds
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        #: the values of the `x-config` response header seen (which config answered)
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        raise NotImplementedError

    def _count(self, status: int, config: str) -> None:
        with self._lock:
            if status == 200:
                self.ok += 1
                self.seen[config] += 1
            else:
                self.failures.append(f"status {status}")

    def _fail(self, what: str) -> None:
        with self._lock:
            self.failures.append(what)

    def wait_ok(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` more requests succeeded (a stall is a failure of its own)."""
        target = self.ok + count
        deadline = time.monotonic() + timeout
        while self.ok < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"load stalled at {self.ok} answers; failures: {self.failures[:5]}")
            time.sleep(0.02)

    def __enter__(self) -> _Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


class KeepAliveLoad(_Load):
    """Keep-alive clients posting a small JSON body, reconnecting when the gateway closes."""

    def __init__(self, port: int, clients: int = 8, max_seconds: float = 60.0) -> None:
        super().__init__(port, clients, max_seconds)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                conn.request("POST", "/load", body=b'{"x": 1}', headers={"content-type": "application/json"})
                r = conn.getresponse()
                r.read()
                self._count(r.status, r.getheader("x-config") or "")
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
            except Exception as exc:  # every failure counts
                self._fail(repr(exc))
                conn.close()


class FreshLoad(_Load):
    """Clients opening a new connection for every request (`connection: close`) and reading the
    whole answer; a connection closed or reset without a complete response is a failure."""

    REQUEST = b"GET /fresh HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"

    def __init__(self, port: int, clients: int = 4, max_seconds: float = 60.0) -> None:
        super().__init__(port, clients, max_seconds)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    s.sendall(self.REQUEST)
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
            except OSError as exc:
                self._fail(f"{exc!r} before a complete response")
                continue
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            self._fail(f"connection closed after {len(data)} bytes without a complete response head")
            return
        lines = head.split(b"\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        length = fields.get(b"content-length")
        if length is not None and len(body) != int(length):
            self._fail(f"body cut at {len(body)} of {int(length)} bytes")
            return
        self._count(int(lines[0].split()[1]), fields.get(b"x-config", b"").decode())
