"""The fake provider as a child process, for end-to-end tests: start it on a free port, wait until it
answers, read what it received, stop it.

    with fake_provider_process("--require-key", "sk-test") as fake:
        ...  # point the gateway at fake.host_port, then assert on fake.requests()
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

_READY_PREFIX = "fake provider listening on http://"


@dataclasses.dataclass
class FakeProcess:
    process: subprocess.Popen[str]
    host: str
    port: int
    stderr: IO[str]

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host_port}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One control request; the JSON answer decoded (None when empty)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers={"content-type": "application/json"})
            response = connection.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        finally:
            connection.close()

    def requests(self) -> list[dict[str, Any]]:
        """Every provider request received since the last clear(), oldest first."""
        status, data = self.call("GET", "/_fake/requests")
        if status != 200 or not isinstance(data, list):
            raise RuntimeError(f"GET /_fake/requests answered {status}")
        return data

    def clear(self) -> None:
        self.call("DELETE", "/_fake/requests")

    def fail_next(self, status: int, count: int = 1) -> None:
        self.call("POST", "/_fake/fail-next", {"status": status, "count": count})

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then SIGKILL after `timeout`; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()
        return self.process.returncode


def _read_announcement(process: subprocess.Popen[str], stderr: IO[str], deadline: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr.seek(0)
                raise RuntimeError(f"fake provider exited with {process.returncode}: {stderr.read().strip()}")
            if selector.select(timeout=0.05):
                line = process.stdout.readline()
                if line.startswith(_READY_PREFIX):
                    return line.strip().removeprefix(_READY_PREFIX)
    raise RuntimeError("fake provider did not announce its port in time")


def start_fake_provider(*args: str, host: str = "127.0.0.1", timeout: float = 20) -> FakeProcess:
    """Start `python -m fastgw.devtools.fake_provider ARGS` on a kernel-chosen port and return once
    `GET /_fake/health` answers 200. Readiness is polled, never slept for."""
    argv = [sys.executable, "-m", "fastgw.devtools.fake_provider", "--host", host, "--port", "0", *args]
    # stderr goes to a file, not a pipe: a long test session must never block the server on a full pipe.
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (owned by the returned FakeProcess)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    deadline = time.monotonic() + timeout
    try:
        bound_host, _, port = _read_announcement(process, stderr, deadline).rpartition(":")
        fake = FakeProcess(process, bound_host, int(port), stderr)
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if fake.call("GET", "/_fake/health")[0] == 200:
                    return fake
            time.sleep(0.02)
        raise RuntimeError("fake provider never answered /_fake/health")
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        stderr.close()
        raise


@contextlib.contextmanager
def fake_provider_process(*args: str, host: str = "127.0.0.1", timeout: float = 20) -> Iterator[FakeProcess]:
    fake = start_fake_provider(*args, host=host, timeout=timeout)
    try:
        yield fake
    finally:
        fake.stop()
