"""Processes of a benchmark run: the canned nginx upstream, nginx as a proxy, fastgw, the fake
provider; pinning, readiness, ports and config rendering."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CANNED = BENCH / "nginx" / "canned"
WRK_SCRIPT = BENCH / "wrk" / "post_1k.lua"
K6_SCRIPT = BENCH / "k6" / "post_1k.js"
PLAIN_TARGETS = ("direct", "fake", "fastgw1", "fastgw2", "fastgw1-cel", "nginx", "relay", "relay-parse")
CHAT_PATH = "/v1/chat/completions"


def request_body(stream: bool) -> bytes:
    """The same 1 KiB body as bench/wrk/post_1k.lua and bench/k6/post_1k.js."""
    head = '{"model":"gpt-4o-mini",' + ('"stream":true,"stream_options":{"include_usage":true},' if stream else "")
    head += '"messages":[{"role":"user","content":"'
    tail = '"}]}'
    filler = ("lorem ipsum dolor sit amet " * 64)[: 1024 - len(head) - len(tail)]
    return (head + filler + tail).encode()


@dataclasses.dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the service's own process group (it was started in a new session,
        so this reaches its forked workers and nothing else)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_service(name: str, argv: list[str], workdir: Path) -> Service:
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        # cwd is the scratch dir: `python -m fastgw` from a checkout would import that checkout first.
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir)
    return Service(name, process, log)


def pinned(cores: str | None, argv: list[str], taskset: str | None) -> list[str]:
    return [taskset, "-c", cores, *argv] if taskset and cores else argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_call(
    port: int, method: str = "POST", path: str = CHAT_PATH, body: bytes | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answers_200(port: int) -> bool:
    return http_call(port, body=b"{}")[0] == 200


def wait_ready(service: Service, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited ({service.process.returncode}): {service.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if probe():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} not ready after {timeout:.0f}s: {service.log_tail()}")


def render(template: Path, workdir: Path, values: dict[str, str]) -> Path:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    unfilled = re.search(r"^[^#\n]*(@[A-Z_]+@)", text, re.MULTILINE)
    if unfilled:
        raise RuntimeError(f"{template.name}: unfilled marker {unfilled.group(1)}")
    out = workdir / template.name
    out.write_text(text)
    return out


@dataclasses.dataclass(frozen=True)
class Tools:
    wrk: str | None
    k6: str | None
    nginx: str | None
    taskset: str | None


def find_tools() -> Tools:
    beside_python = Path(sys.executable).parent / "k6"
    k6 = shutil.which("k6") or (str(beside_python) if beside_python.exists() else None)
    return Tools(shutil.which("wrk"), k6, shutil.which("nginx"), shutil.which("taskset"))


def nginx_string(path: Path) -> str:
    """A canned file as the inside of a single-quoted nginx string (its parser turns `\\n` back
    into a newline; `$` would be read as a variable, so it is refused)."""
    text = path.read_text()
    if "$" in text:
        raise RuntimeError(f"{path.name}: '$' cannot be inlined in an nginx string")
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


@dataclasses.dataclass(frozen=True)
class Upstream:
    openai_json: int
    openai_sse: int
    anthropic_json: int
    anthropic_sse: int


@contextlib.contextmanager
def canned_upstream(tools: Tools, workdir: Path, cores: str) -> Iterator[Upstream]:
    assert tools.nginx is not None
    ports = Upstream(free_port(), free_port(), free_port(), free_port())
    conf = render(
        BENCH / "nginx" / "upstream.conf",
        workdir,
        {
            "PREFIX": str(workdir),
            "CANNED": str(CANNED),
            "PORT_OPENAI_JSON": str(ports.openai_json),
            "PORT_OPENAI_SSE": str(ports.openai_sse),
            "PORT_ANTHROPIC_JSON": str(ports.anthropic_json),
            "PORT_ANTHROPIC_SSE": str(ports.anthropic_sse),
            "BODY_OPENAI_JSON": nginx_string(CANNED / "openai_chat.json"),
            "BODY_ANTHROPIC_JSON": nginx_string(CANNED / "anthropic_messages.json"),
        },
    )
    service = start_service(
        "upstream-nginx",
        pinned(cores, [tools.nginx, "-c", str(conf), "-p", str(workdir)], tools.taskset),
        workdir,
    )
    try:
        files = ("openai_chat.json", "openai_chat.sse", "anthropic_messages.json", "anthropic_messages.sse")
        for port, name in zip(dataclasses.astuple(ports), files, strict=True):
            wait_ready(service, partial(answers_200, port), 15)
            if http_call(port, body=b"{}")[1] != (CANNED / name).read_bytes():
                raise RuntimeError(f"upstream nginx: port {port} does not serve {name} byte for byte")
        yield ports
    finally:
        service.stop()


@contextlib.contextmanager
def nginx_proxy(tools: Tools, workdir: Path, upstream_port: int, cores: str) -> Iterator[int]:
    assert tools.nginx is not None
    port = free_port()
    conf = render(
        BENCH / "nginx" / "proxy.conf",
        workdir,
        {"PREFIX": str(workdir), "PORT": str(port), "UPSTREAM_PORT": str(upstream_port)},
    )
    service = start_service(
        "proxy-nginx",
        pinned(cores, [tools.nginx, "-c", str(conf), "-p", str(workdir)], tools.taskset),
        workdir,
    )
    try:
        wait_ready(service, partial(answers_200, port), 15)
        yield port
    finally:
        service.stop()


def fastgw_config(port: int, backend: str, readiness: int, stats: int, admin: int, policies: str = "") -> str:
    route = f"    - policies: {policies}\n      backends:\n" if policies else "    - backends:\n"
    return (
        "config:\n"
        f"  readinessAddr: 127.0.0.1:{readiness}\n"
        f"  statsAddr: 127.0.0.1:{stats}\n"
        f"  adminAddr: 127.0.0.1:{admin}\n"
        "binds:\n"
        f"- port: {port}\n"
        "  listeners:\n"
        "  - routes:\n"
        f"{route}"
        f"      - {backend}\n"
    )


def plain_backend(upstream_port: int) -> str:
    return f"host: 127.0.0.1:{upstream_port}"


def ai_backend(provider: str, upstream_port: int) -> str:
    return f'ai: {{name: bench, provider: {{{provider}: {{}}}}, hostOverride: "127.0.0.1:{upstream_port}"}}'


@contextlib.contextmanager
def fastgw(
    command: list[str],
    workdir: Path,
    workers: int,
    backend: str,
    cores: str,
    taskset: str | None,
    policies: str = "",
) -> Iterator[int]:
    port, readiness, stats, admin = free_port(), free_port(), free_port(), free_port()
    config = workdir / f"fastgw-{workers}w-{port}.yaml"
    config.write_text(fastgw_config(port, backend, readiness, stats, admin, policies))
    argv = pinned(cores, [*command, "serve", "-w", str(workers), "-f", str(config)], taskset)
    service = start_service(f"fastgw-{workers}w-{port}", argv, workdir)

    def ready() -> bool:
        # Readiness is the contract; the proxy port is the fallback while /healthz/ready is missing.
        try:
            return http_call(readiness, "GET", "/healthz/ready", timeout=1)[0] == 200
        except ConnectionRefusedError:
            return http_call(port, body=b"{}", timeout=2)[0] < 500

    try:
        wait_ready(service, ready, 30)
        yield port
    finally:
        service.stop()


@contextlib.contextmanager
def fake_provider(workdir: Path, cores: str, taskset: str | None) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "fastgw.devtools.fake_provider", "--host", "127.0.0.1", "--port", str(port)]
    service = start_service("fake-provider", pinned(cores, argv, taskset), workdir)
    try:
        wait_ready(service, lambda: http_call(port, "GET", "/_fake/health")[0] == 200, 20)
        yield port
    finally:
        service.stop()


@contextlib.contextmanager
def relay_floor(workdir: Path, upstream_port: int, parse: bool, cores: str, taskset: str | None) -> Iterator[int]:
    """bench/relay_floor.py: a TCP relay on uvloop that does no HTTP work (the Python floor)."""
    port = free_port()
    argv = [
        sys.executable,
        str(BENCH / "relay_floor.py"),
        "--port",
        str(port),
        "--upstream",
        f"127.0.0.1:{upstream_port}",
    ]
    if parse:
        argv.append("--parse")
    service = start_service(f"relay-floor-{port}", pinned(cores, argv, taskset), workdir)
    try:
        wait_ready(service, partial(answers_200, port), 15)
        yield port
    finally:
        service.stop()
