from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator

import pytest

from tests.http.fakes import ClockLoop

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """The path of an executable the test needs; a skip locally, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture
def clock_loop() -> Iterator[ClockLoop]:
    loop = ClockLoop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)
