"""The project's Dockerfile, built as it is (once per session; the engine caches its layers),
serves real requests through its default command: the demo, gateway and fake provider in one
container. Under CI=true a missing or stopped Docker engine is a failure, never a skip
(tests/run.sh starts one with tests/docker/engine.sh)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastgw import __version__
from tests.conftest import IN_CI
from tests.e2e.procs import free_port, http_status

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "fastgw:test"
DEMO_PORTS = (3000, 4010, 15000, 15020, 15021)
# The first test pays for the image build (pip compiles the C extension in the container): minutes
# on a busy two-core machine, past the suite's default 180 s per test.
pytestmark = pytest.mark.timeout(1200)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (tests/docker/engine.sh starts an engine)")
    pytest.skip(reason)


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def image() -> str:
    if shutil.which("docker") is None:
        _unavailable("docker is not installed")
    if _docker("info").returncode != 0:
        _unavailable("no Docker engine is running")
    # --network host: an engine without a bridge network (no registry machines) builds this way too
    build = _docker("build", "--network", "host", "-t", IMAGE, str(ROOT), timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


def _bridge() -> bool:
    """Whether the engine can publish ports (-p); engines without a bridge run on the host network."""
    return _docker("network", "inspect", "bridge").returncode == 0


def _busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _network_args() -> list[str]:
    return [] if _bridge() else ["--network", "host"]


@pytest.fixture
def demo_container(image: str) -> Iterator[tuple[str, int, int]]:
    """The image's default command, running: (container id, gateway port, readiness port)."""
    if _bridge():
        web, ready = free_port(), free_port()
        args = ["-p", f"127.0.0.1:{web}:3000", "-p", f"127.0.0.1:{ready}:15021"]
    else:
        busy = [p for p in DEMO_PORTS if _busy(p)]
        if busy:
            if IN_CI:
                pytest.fail(f"the demo's ports are taken on the host network: {busy}")
            pytest.skip(f"the demo's ports are taken on the host network: {busy}")
        web, ready, args = 3000, 15021, ["--network", "host"]
    started = _docker("run", "-d", *args, image)
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = _docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip()
            assert state == "true", _docker("logs", container).stderr[-3000:]
            # ready once the gateway answers readiness and the demo has said so (it polls
            # readiness itself, so its line may come a moment after the port first answers 200)
            try:
                if (
                    http_status(f"http://127.0.0.1:{ready}/healthz/ready", 1) == 200
                    and "demo ready" in _docker("logs", container).stderr
                ):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the container never became ready:\n" + _docker("logs", container).stderr[-3000:])
        yield container, web, ready
    finally:
        _docker("rm", "-f", container)


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as answer:
        doc = json.loads(answer.read())
    assert isinstance(doc, dict)
    return doc


def test_default_command_serves_the_demo(demo_container: tuple[str, int, int]) -> None:
    container, web, _ready = demo_container
    message = _post(
        f"http://127.0.0.1:{web}/anthropic/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]},
    )
    assert message["type"] == "message" and message["content"][0]["text"].startswith("Hello")  # type: ignore[index]
    chat = _post(
        f"http://127.0.0.1:{web}/openai/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi there"}]},
    )
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["content"].startswith("Hi there")  # type: ignore[index]
    stopped = _docker("stop", "-t", "40", container, timeout=90)
    assert stopped.returncode == 0, stopped.stderr
    code = _docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip()
    logs = _docker("logs", container)
    assert code == "0", logs.stderr[-3000:]
    assert "demo ready" in logs.stderr and "fastgw stopped" in logs.stderr


def test_version_and_user(image: str) -> None:
    version = _docker("run", "--rm", *_network_args(), image, "--version")
    assert version.returncode == 0 and version.stdout == f"fastgw {__version__}\n", version.stderr
    user = _docker("run", "--rm", *_network_args(), "--entrypoint", "id", image, "-u")
    assert user.stdout.strip() == "10001"
