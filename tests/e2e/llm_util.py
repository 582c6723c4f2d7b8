"""Helpers for the LLM end-to-end tests: the bundled fake provider as a real process, and what it recorded."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.procs import Proc, free_port, port_open, wait_until

CLIENT_KEY = "sk-client-must-not-leak"


class FakeProvider(Proc):
    """`python -m fastgw.devtools.fake_provider --port P`."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "fastgw.devtools.fake_provider", "--port", str(self.port), *args]
        super().__init__(argv, tmp / f"fake-{self.port}.log")
        wait_until(lambda: port_open(self.port), what="fake provider")

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://{self.authority}/_fake/requests", timeout=5) as r:
            data: list[dict[str, Any]] = json.loads(r.read())
        return data

    def clear(self) -> None:
        req = urllib.request.Request(f"http://{self.authority}/_fake/requests", method="DELETE")
        with urllib.request.urlopen(req, timeout=5):
            pass

    def last(self) -> dict[str, Any]:
        """The one request received since the last clear(), with lowercase header names."""
        got = self.requests()
        assert len(got) == 1, f"expected one upstream request, got {[g['path'] for g in got]}"
        self.clear()
        return received(got[0])


def received(item: dict[str, Any]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in item["headers"]:
        assert name.lower() not in headers, f"duplicate header {name}"
        headers[name.lower()] = value
    return {**item, "headers": headers}


def assert_no_client_key(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        assert CLIENT_KEY not in value, f"client credential forwarded in {name}"
