"""A real gateway's output: with `--log-format json` every line (supervisor, workers, access log,
multi-line errors) is one JSON object; in text every record starts with the same time format and
level spelling as the access log."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
LEVELS = {"trace", "debug", "info", "warn", "error"}


def _exercise(tmp_path: Path, fmt: str) -> str:
    """Requests, a worker killed, a reload refused with a multi-line error, then a stop."""
    up = Upstream(tmp_path)
    port = free_port()
    config = bind_config(port, [{"backends": [{"host": f"127.0.0.1:{up.port}"}]}])
    g = Gateway(tmp_path, config, workers=2, extra_args=["--log-format", fmt, "--log-level", "info"])
    try:
        for _ in range(3):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/x")
            assert c.getresponse().status == 200
            c.close()
        wait_until(lambda: g.output().count("http.status") >= 3, timeout=10, what="access log")
        os.kill(g.worker_pids()[0], signal.SIGKILL)
        wait_until(lambda: "replacing it" in g.output(), timeout=20, what="respawn warning")
        bad = bind_config(port, [{"backends": [{"host": "nohost"}]}], extra=1)
        g.write_config(bad)  # two problems: a multi-line error message
        g.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in g.output(), timeout=20, what="refused reload")
    finally:
        assert g.stop() == 0
        up.stop()
    return g.log_path.read_text(errors="replace")


def test_json_log_format_is_one_object_per_line(tmp_path: Path) -> None:
    out = _exercise(tmp_path, "json")
    docs = []
    for line in out.splitlines():
        try:
            docs.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON object: {line!r}")
    assert all(isinstance(d, dict) for d in docs)
    assert {d["level"] for d in docs} <= LEVELS
    assert all(TIME.match(d["time"]) for d in docs)
    scopes = {d["scope"] for d in docs}
    assert {"request", "fastgw.supervisor"} <= scopes
    (refused,) = [d for d in docs if d.get("message", "").startswith("reload failed")]
    assert refused["level"] == "error" and refused["message"].count("\n") >= 2  # both problems, one object
    assert any(d["level"] == "warn" and "replacing it" in d.get("message", "") for d in docs)
    assert sum(1 for d in docs if d["scope"] == "request") >= 3


def test_text_log_format_has_one_time_format_and_level_spelling(tmp_path: Path) -> None:
    out = _exercise(tmp_path, "text")
    records = [line for line in out.splitlines() if line and not line.startswith("\t")]
    assert records
    for line in records:
        stamp, level, scope, _rest = line.split("\t", 3) if line.count("\t") >= 3 else (*line.split("\t"), "")[:4]
        assert TIME.match(stamp), line
        assert level in LEVELS, line
        assert scope, line
    assert any("\tinfo\trequest " in line for line in records)
    assert any("\twarn\tfastgw.supervisor\t" in line and "replacing it" in line for line in records)
    assert any("\terror\tfastgw.supervisor\treload failed" in line for line in records)


def test_json_log_format_covers_a_refused_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("binds:\n- port: 0\n  listeners: []\nextra: 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "fastgw", "serve", "--log-format", "json", "-f", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    docs = [json.loads(line) for line in done.stderr.splitlines()]
    (doc,) = docs
    assert doc["level"] == "error" and TIME.match(doc["time"])
    assert doc["message"].startswith("invalid config:\n") and doc["message"].count(str(bad)) == 2
