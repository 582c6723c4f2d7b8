"""Fixtures the end-to-end modules share: a scratch folder per module, and the plain echo
upstream (tests/e2e/echo_upstream.py, a real process) that `host:` routes point at. A module that
needs another upstream defines its own `upstream`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import Upstream


@pytest.fixture(scope="module")
def tmp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the module's configs and logs (named after the module)."""
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))


@pytest.fixture(scope="module")
def upstream(tmp: Path) -> Iterator[Upstream]:
    up = Upstream(tmp)
    yield up
    up.stop()
