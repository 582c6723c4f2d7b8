"""Listening addresses with real processes: one instance per port, `binds[].address`, and the
addresses logged at start and on reload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until
from tests.e2e.test_reload import get, refused


def routes(upstream: Upstream) -> list[dict[str, object]]:
    return [{"backends": [{"host": f"127.0.0.1:{upstream.port}"}]}]


def serve_once(cfg: Path, timeout: float = 30) -> tuple[int | None, str]:
    """`fastgw serve` expected to give up at start: its exit code (None if it kept running) and
    stderr. In its own session, so a gateway that does start is stopped whole, workers included."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastgw", "serve", "-w", "2", "-f", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stderr
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        return None, stderr


def test_a_second_instance_on_a_served_port_is_refused(tmp: Path, upstream: Upstream) -> None:
    """Issue 10: a second `fastgw serve` on the same port started silently and the kernel split
    the connections between the two (with a 1-token rate limit, 2 of 8 requests got 200)."""
    port = free_port()
    first = Gateway(tmp, bind_config(port, routes(upstream)), workers=2)
    try:
        cfg = tmp / "second.yaml"
        other = {"readinessAddr": f"127.0.0.1:{free_port()}", "statsAddr": "off", "adminAddr": "off"}
        cfg.write_text(yaml.safe_dump(bind_config(port, routes(upstream), config=other)))
        code, stderr = serve_once(cfg)
        assert code == 3, stderr
        expected = f"cannot listen on 0.0.0.0:{port}: address already in use by pid {first.proc.pid} ("
        assert expected in stderr, stderr
        assert "fastgw serve" in stderr.split(expected)[1].splitlines()[0]
        assert get(port)[0] == 200, "the first instance keeps serving"
    finally:
        assert first.stop() == 0


def test_instances_started_at_the_same_moment_get_the_port_once(tmp: Path, upstream: Upstream) -> None:
    port = free_port()
    procs = []
    for n in range(3):
        cfg = tmp / f"race-{port}-{n}.yaml"
        other = {"readinessAddr": f"127.0.0.1:{free_port()}", "statsAddr": "off", "adminAddr": "off"}
        cfg.write_text(yaml.safe_dump(bind_config(port, routes(upstream), config=other)))
        args = [sys.executable, "-m", "fastgw", "serve", "-w", "2", "-f", str(cfg)]
        procs.append(
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        )
    try:
        wait_until(lambda: sum(p.poll() is not None for p in procs) >= 2, timeout=60, what="two to give up")
        codes = sorted(p.returncode for p in procs if p.poll() is not None)
        assert codes == [3, 3]
        (winner,) = [p for p in procs if p.poll() is None]
        assert get(port)[0] == 200
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            finally:
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # whatever of its session is left
                except ProcessLookupError:
                    pass
    assert winner.returncode == 0


def test_a_bind_can_listen_on_loopback_only_and_addresses_are_logged(tmp: Path, upstream: Upstream) -> None:
    """Issue 10: the demo listened on every interface and nothing said where it listened."""
    port, added = free_port(), free_port()
    cfg = bind_config(port, routes(upstream))
    cfg["binds"][0]["address"] = "127.0.0.1"  # type: ignore[index]
    g = Gateway(tmp, cfg, workers=2)
    try:
        assert get(port)[0] == 200
        # 127.0.0.2 is this host too: only a listener on every interface would take it
        assert refused(port, "127.0.0.2")
        out = g.output()
        assert f"fastgw starting: config {g.config_path}, 2 worker(s)" in out
        assert f"listening on 127.0.0.1:{port} (bind/{port})" in out
        assert f"listening on 127.0.0.1:{g.ready_port} (readiness)" in out
        assert f"listening on 127.0.0.1:{g.stats_port} (stats)" in out
        assert f"listening on 127.0.0.1:{g.admin_port} (admin)" in out

        full = yaml.safe_load(g.config_path.read_text())
        full["binds"].append(bind_config(added, routes(upstream))["binds"][0])  # type: ignore[index]
        g.write_config(full)
        g.signal(signal.SIGHUP)
        wait_until(lambda: "reload complete" in g.output(), timeout=30, what="the reload")
        assert get(added)[0] == 200
        assert f"reloading config {g.config_path}: starting 2 new worker(s)" in g.output()
        assert f"listening on 0.0.0.0:{added} (bind/{added})" in g.output()

        full["binds"].pop()
        g.write_config(full)
        g.signal(signal.SIGHUP)
        wait_until(lambda: g.output().count("reload complete") == 2, timeout=30, what="the second reload")
        assert f"stopped listening on 0.0.0.0:{added}" in g.output()
        wait_until(lambda: refused(added), timeout=30, what="the removed bind to refuse connections")
    finally:
        assert g.stop() == 0


def test_readiness_port_held_by_another_process_is_refused_at_start(tmp: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        held = blocker.getsockname()[1]
        cfg = tmp / "ready-busy.yaml"
        cfg.write_text(
            f"config: {{statsAddr: 'off', adminAddr: 'off', readinessAddr: '127.0.0.1:{held}'}}\n"
            f"binds:\n- port: {free_port()}\n  listeners:\n  - routes:\n    - backends: [{{host: '127.0.0.1:1'}}]\n"
        )
        r = subprocess.run(
            [sys.executable, "-m", "fastgw", "serve", "-w", "1", "-f", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 3
    assert f"cannot listen on 127.0.0.1:{held}: address already in use by pid " in r.stderr, r.stderr
