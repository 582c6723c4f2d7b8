"""README's SDK snippets run as written (only the port changed) against the demo config, with the
official openai and anthropic SDKs, through a real gateway to the fake provider."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastgw.devtools.fake_process import FakeProcess, fake_provider_process
from tests.e2e.procs import ROOT, Gateway, free_port

SNIPPET = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)


def _retarget(node: Any, authority: str) -> Any:
    if isinstance(node, dict):
        return {k: _retarget(v, authority) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v, authority) for v in node]
    return authority if node == "127.0.0.1:4010" else node


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("readme")
    with fake_provider_process() as fake:
        yield from _gateway(tmp, fake)


def _gateway(tmp: Path, fake: FakeProcess) -> Iterator[int]:
    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    config.pop("config")  # the test picks the management ports
    config = _retarget(config, fake.host_port)
    port = free_port()
    config["binds"][0]["port"] = port
    gateway = Gateway(tmp, config, workers=1)
    try:
        yield port
    finally:
        gateway.stop()


def test_readme_has_the_two_sdk_snippets() -> None:
    snippets = SNIPPET.findall((ROOT / "README.md").read_text())
    assert len(snippets) == 2
    assert "from openai import OpenAI" in snippets[0] and "from anthropic import Anthropic" in snippets[1]


@pytest.mark.parametrize("index", [0, 1], ids=["openai", "anthropic"])
def test_readme_sdk_snippet_runs(demo: int, index: int) -> None:
    code = SNIPPET.findall((ROOT / "README.md").read_text())[index]
    assert "http://127.0.0.1:3000/" in code
    done = subprocess.run(
        [sys.executable, "-c", code.replace("127.0.0.1:3000", f"127.0.0.1:{demo}")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Hello!"), done.stdout  # the fake provider echoes the prompt first


YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.M | re.S)


def test_readme_config_examples_compile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every YAML example in README is a config fastgw accepts (none relies on a refused key)."""
    from fastgw.config.compile import load_runtime

    for name in ("UPSTREAM_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "TEAM_A_KEY"):
        monkeypatch.setenv(name, "sk-readme")
    htpasswd = tmp_path / "htpasswd"  # the file the README's basicAuth example names
    htpasswd.write_text("alice:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n")
    blocks = YAML_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 3
    for text in blocks:
        assert load_runtime("README.md", text.replace("/etc/fastgw/htpasswd", str(htpasswd))).binds
