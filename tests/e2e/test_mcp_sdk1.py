"""Clients on the official SDK's 1.x line through the gateway (its own venv, `.venv-mcp1`, made by
tests/run.sh: 1.x and 2.x cannot share one)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.e2e.mcp_util import HttpServer, stdio_target
from tests.e2e.procs import ROOT, Gateway, bind_config, free_port

pytestmark = pytest.mark.timeout(180)
PYTHON1 = ROOT / ".venv-mcp1" / "bin" / "python"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PYTHON1.exists():
        if IN_CI:
            pytest.fail(".venv-mcp1 (the mcp 1.x client) is required in CI: tests/run.sh makes it")
        pytest.skip(".venv-mcp1 missing: run tests/run.sh once")
    tmp = tmp_path_factory.mktemp("mcp1")
    remote = HttpServer(tmp, "remote")
    port = free_port()
    targets = [stdio_target("local"), {"name": "remote", "mcp": {"host": remote.url}}]
    gw = Gateway(tmp, bind_config(port, [{"backends": [{"mcp": {"targets": targets}}]}]), workers=2)
    yield f"http://127.0.0.1:{port}"
    gw.stop()
    remote.stop()


def _run(url: str, transport: str, tool: str) -> dict[str, object]:
    out = subprocess.run(
        [str(PYTHON1), str(Path(__file__).with_name("mcp1_client.py")), url, transport, tool],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("transport", "path", "tool"),
    [
        ("streamable-http", "/mcp", "local_echo"),
        ("streamable-http", "/mcp", "remote_echo"),
        ("sse", "/sse", "local_echo"),
        ("sse", "/sse", "remote_echo"),
    ],
)
def test_sdk1_clients(gateway: str, transport: str, path: str, tool: str) -> None:
    seen = _run(f"{gateway}{path}", transport, tool)
    assert seen["server"] == "fastgw"
    assert seen["version"] == "2025-06-18" or str(seen["version"]) >= "2025-06-18"
    assert {"local_echo", "remote_echo", "local_slow"} <= set(seen["tools"])  # type: ignore[arg-type]
    assert seen["echo"] == "from 1.x"
    assert str(seen["slow"]).endswith("done after 2")
    assert seen["progress"] == [1.0, 2.0]
