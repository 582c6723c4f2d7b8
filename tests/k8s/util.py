"""Helpers for the Kubernetes tests: the seed manifests, golden files, `fastgw k8s render` in-process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from fastgw.cli import main

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "seeds"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# each case: the seed manifest files (in apply order), as a reader of the seed would apply them
SEED_CASES: dict[str, list[str]] = {
    "000": ["000.yaml"],
    "001": ["001.yaml"],
    "002": ["002-gateway.yaml", "002.yaml"],
    "002-chat": ["002-gateway.yaml", "002.yaml", "002-route-chat.yaml"],
    "002-anthropic": ["002-gateway.yaml", "002.yaml", "002-route-anthropic.yaml"],
    "002-claude-code": ["002-gateway.yaml", "002.yaml", "002-claude-code.yaml"],
    "003": ["003.yaml"],
}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def render_cli(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> Run:
    """`fastgw k8s render ARGS` run in `cwd` (so diagnostics name files as the user typed them)."""
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, ["k8s", "render", *args], catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual)
        return
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text()
    assert actual == expected, f"{path} differs; run with UPDATE_GOLDEN=1 and review the diff"
