"""The process model with real processes: respawn, reload under load, bad reloads, drain."""

from __future__ import annotations

import http.client
import os
import signal
import time
from pathlib import Path

from tests.e2e.load import KeepAliveLoad
from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, http_status, wait_until


def make(tmp: Path, upstream: Upstream, workers: int = 2, header: str = "v1", **kw: object) -> Gateway:
    port = free_port()
    routes = [
        {
            "policies": {"responseHeaderModifier": {"set": {"x-config": header}}},
            "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
        }
    ]
    g = Gateway(tmp, bind_config(port, routes, **kw), workers=workers)
    g.port = port  # type: ignore[attr-defined]
    return g


def get(port: int, path: str = "/x", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_killed_worker_is_replaced_within_a_second(tmp: Path, upstream: Upstream) -> None:
    g = make(tmp, upstream, workers=2)
    try:
        pids = g.worker_pids()
        assert len(pids) == 2
        os.kill(pids[0], signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(
            lambda: len(set(g.worker_pids()) - set(pids)) == 1 and len(g.worker_pids()) == 2,
            timeout=5,
            what="replacement worker",
        )
        assert time.monotonic() - t0 < 1.0
        g.wait_ready(5)
        assert get(g.port)[0] == 200  # type: ignore[attr-defined]
    finally:
        assert g.stop() == 0


def test_sighup_reload_under_load_fails_no_request(tmp: Path, upstream: Upstream) -> None:
    g = make(tmp, upstream, workers=2, header="v1")
    try:
        old_pids = set(g.worker_pids())
        with KeepAliveLoad(g.port) as load:  # type: ignore[attr-defined]
            wait_until(lambda: load.ok > 200, what="load to start")
            cfg = bind_config(
                g.port,  # type: ignore[attr-defined]
                [
                    {
                        "policies": {"responseHeaderModifier": {"set": {"x-config": "v2"}}},
                        "backends": [{"host": f"127.0.0.1:{upstream.port}"}],
                    }
                ],
                config={
                    "readinessAddr": f"127.0.0.1:{g.ready_port}",
                    "statsAddr": f"127.0.0.1:{g.stats_port}",
                    "adminAddr": f"127.0.0.1:{g.admin_port}",
                },
            )
            g.write_config(cfg)
            g.signal(signal.SIGHUP)
            wait_until(
                lambda: "v2" in load.seen and not (set(g.worker_pids()) & old_pids),
                timeout=30,
                what="the new generation to serve and the old one to exit",
            )
            before = load.ok
            wait_until(lambda: load.ok > before + 200, what="load after the reload")
        assert load.failures == [], load.failures[:5]
        assert {"v1", "v2"} <= set(load.seen)
        assert get(g.port)[1]["x-config"] == "v2"  # type: ignore[attr-defined]
    finally:
        assert g.stop() == 0


def test_bad_config_on_reload_keeps_the_old_config(tmp: Path, upstream: Upstream) -> None:
    g = make(tmp, upstream, workers=1, header="good")
    try:
        pids = g.worker_pids()
        good = g.config_path.read_text()
        g.config_path.write_text(good + "\n  bogus: [unclosed\n")
        g.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in g.output(), what="the reload error in the log")
        assert str(g.config_path) in g.output()
        g.config_path.write_text(good.replace("backends:", "backendz:"))
        g.signal(signal.SIGHUP)
        wait_until(lambda: g.output().count("reload failed") >= 2, what="the second reload error")
        out = g.output()
        assert "backendz" in out and f"{g.config_path}:" in out
        assert g.worker_pids() == pids
        status, headers, _ = get(g.port)  # type: ignore[attr-defined]
        assert status == 200 and headers["x-config"] == "good"
    finally:
        assert g.stop() == 0


def test_invalid_config_at_start_exits_nonzero_with_location(tmp: Path) -> None:
    import subprocess
    import sys

    bad = tmp / "bad.yaml"
    bad.write_text("binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - host: nohostport\n")
    r = subprocess.run(
        [sys.executable, "-m", "fastgw", "serve", "-f", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode != 0
    assert f"{bad}:6:" in r.stderr and "host" in r.stderr


def test_sigterm_drains_an_inflight_stream_then_exits_zero(tmp: Path, upstream: Upstream) -> None:
    g = make(tmp, upstream, workers=2)
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=20)  # type: ignore[attr-defined]
    conn.request("GET", "/stream?n=10&delay=0.2")
    r = conn.getresponse()
    first = r.read1(65536)
    assert first.startswith(b"data: 0")
    g.signal(signal.SIGTERM)

    # readiness fails at once, and no new connection is accepted for long
    def not_ready() -> bool:
        try:
            return http_status(g.ready_url, 0.5) == 503
        except OSError:
            return True  # refused is "not ready" too

    wait_until(not_ready, timeout=2, what="readiness to fail")
    rest = r.read()
    assert (first + rest).endswith(b"data: [DONE]\n\n"), "the in-flight stream must finish"
    g.proc.wait(20)
    assert g.proc.returncode == 0
    g.stop()


def test_crash_looping_worker_backs_off(tmp: Path, upstream: Upstream) -> None:
    g = make(tmp, upstream, workers=1)
    try:
        spawned = 0
        seen: set[int] = set()
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            for pid in g.worker_pids():
                if pid not in seen:
                    seen.add(pid)
                    spawned += 1
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.01)
        assert spawned < 15, f"{spawned} workers in 3 s: no back-off"
        assert "crash-looping" in g.output()
        assert g.proc.poll() is None, "the supervisor keeps running"
    finally:
        g.stop()


def test_config_from_stdin_and_watch_reload(tmp: Path, upstream: Upstream) -> None:
    import subprocess
    import sys

    import yaml

    port, ready = free_port(), free_port()
    cfg = bind_config(
        port,
        [{"backends": [{"host": f"127.0.0.1:{upstream.port}"}]}],
        config={"readinessAddr": f"127.0.0.1:{ready}", "statsAddr": "off", "adminAddr": "off"},
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "fastgw", "serve", "-w", "1", "-f", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert p.stdin is not None
        p.stdin.write(yaml.safe_dump(cfg).encode())
        p.stdin.close()
        wait_until(lambda: http_status(f"http://127.0.0.1:{ready}/healthz/ready") == 200, what="stdin config")
        assert get(port)[0] == 200
    finally:
        p.terminate()
        assert p.wait(20) == 0

    g = Gateway(
        tmp,
        bind_config(free_port(), [{"backends": [{"host": f"127.0.0.1:{upstream.port}"}]}]),
        workers=1,
        extra_args=["--watch"],
    )
    try:
        port = int(g.config_path.read_text().split("port: ")[1].split()[0])
        assert "x-watched" not in get(port)[1]
        text = g.config_path.read_text().replace(
            "- backends:", "- policies:\n        responseHeaderModifier: {set: {x-watched: 'yes'}}\n      backends:"
        )
        g.config_path.write_text(text)
        wait_until(lambda: get(port)[1].get("x-watched") == "yes", timeout=15, what="--watch reload")
    finally:
        assert g.stop() == 0


def test_port_in_use_halts_with_a_clear_message(tmp: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        cfg = tmp / "busy.yaml"
        cfg.write_text(
            f"config: {{statsAddr: 'off', adminAddr: 'off', readinessAddr: 'off'}}\n"
            f"binds:\n- port: {port}\n  listeners:\n  - routes:\n    - backends: [{{host: '127.0.0.1:1'}}]\n"
        )
        r = subprocess.run(
            [sys.executable, "-m", "fastgw", "serve", "-f", str(cfg)], capture_output=True, text=True, timeout=30
        )
    assert r.returncode == 3
    assert f"cannot listen on 0.0.0.0:{port}" in r.stderr


def test_slow_client_pauses_the_upstream_instead_of_buffering(tmp: Path, upstream: Upstream) -> None:
    import socket

    g = make(tmp, upstream, workers=1)
    try:
        (pid,) = g.worker_pids()

        def rss_mb() -> float:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
            return 0.0

        base = rss_mb()
        with socket.create_connection(("127.0.0.1", g.port)) as s:  # type: ignore[attr-defined]
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET /big?size=100000000 HTTP/1.1\r\nHost: a\r\n\r\n")
            got = len(s.recv(65536))
            time.sleep(2.0)  # the client stops reading; 100 MB are waiting upstream
            grown = rss_mb() - base
            assert grown < 40, f"the worker buffered {grown:.0f} MB for a slow client"
            s.settimeout(10)
            while got < 5_000_000:
                chunk = s.recv(1 << 20)
                assert chunk
                got += len(chunk)
    finally:
        g.stop()
