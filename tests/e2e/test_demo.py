"""The README's first command: `fastgw demo` serves the demo config against the fake provider,
even when started from a directory holding a checkout (children must import the installed
package, not a `fastgw/` folder in the working directory)."""

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


def test_demo_serves_llm_requests(tmp_path: Path) -> None:
    busy = [p for p in DEMO_PORTS if _busy(p)]
    if busy:
        if IN_CI:
            pytest.fail(f"the demo's ports are taken: {busy}")
        pytest.skip(f"the demo's ports are taken: {busy}")
    decoy = tmp_path / "fastgw"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('a checkout without its C extension')\n")
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", "from fastgw.cli import main; main()", "demo", "-w", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: http_status("http://127.0.0.1:15021/healthz/ready", 0.5) == 200, timeout=20, what="demo")
        wait_until(lambda: _busy(4010), timeout=10, what="fake provider")
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
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
