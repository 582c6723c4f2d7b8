"""The README's first command: `fastgw demo` serves the demo config against the fake provider,
even when started from a directory holding a checkout (children must import the installed
package, not a `fastgw/` folder in the working directory), from the config shipped in the
package, and fails clearly when the fake provider cannot have its port."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.e2e.procs import http_status, wait_until

DEMO_PORTS = (3000, 4010, 15000, 15020, 15021)


def _busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _need_free_demo_ports() -> None:
    busy = [p for p in DEMO_PORTS if _busy(p)]
    if busy:
        if IN_CI:
            pytest.fail(f"the demo's ports are taken: {busy}")
        pytest.skip(f"the demo's ports are taken: {busy}")


def test_demo_serves_llm_requests(tmp_path: Path) -> None:
    _need_free_demo_ports()
    decoy = tmp_path / "fastgw"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('a checkout without its C extension')\n")
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-c", "from fastgw.cli import main; main()", "demo", "-w", "1"],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # "ready" is announced only once the gateway answers (and the fake provider owns its port)
        wait_until(lambda: b"demo ready" in log.read_bytes(), timeout=60, what="demo ready")
        assert http_status("http://127.0.0.1:15021/healthz/ready", 2) == 200
        req = urllib.request.Request(
            "http://127.0.0.1:3000/anthropic/v1/messages",
            data=json.dumps(
                {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}
            ).encode(),
            headers={"content-type": "application/json"},
        )
        doc = json.loads(urllib.request.urlopen(req, timeout=10).read())
        assert doc["type"] == "message" and doc["content"][0]["type"] == "text"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "demo ready: OpenAI clients http://127.0.0.1:3000/openai/v1" in text
    # the demo listens on loopback only (DEMO_HOST / --host opens it up, as the image does)
    assert "listening on 127.0.0.1:3000" in text
    assert "0.0.0.0:" not in text
    assert not _busy(3000) and not _busy(4010)


def test_demo_fails_clearly_when_the_fake_provider_port_is_taken(tmp_path: Path) -> None:
    """A port held by another program must not give a "ready" demo whose requests hang there."""
    _need_free_demo_ports()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAITs of other tests
        holder.bind(("127.0.0.1", 4010))
        holder.listen()  # accepts connections into its backlog and never answers
        proc = subprocess.run(
            [sys.executable, "-P", "-m", "fastgw", "demo", "-w", "1"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "could not listen on 127.0.0.1:4010" in out and "Address already in use" in out, out
    assert "demo ready" not in out and "fastgw started" not in out, out
    assert not _busy(3000)


def test_the_packaged_demo_config_is_the_checkout_one() -> None:
    from fastgw.devtools.demo import FAKE_PORT, example_config

    root = Path(__file__).resolve().parents[2]
    for name in ("demo.yaml", "minimal.yaml", "llm.yaml", "seeds/004-model-failover.yaml"):
        assert example_config(name).read_bytes() == (root / "configs" / name).read_bytes()
    assert f"hostOverride: 127.0.0.1:{FAKE_PORT}" in example_config("demo.yaml").read_text()
