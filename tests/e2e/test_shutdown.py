"""Stopping with real processes: SIGTERM stops listening first, the drain deadline's cut requests
are logged, and workers do not outlive a killed supervisor."""

from __future__ import annotations

import http.client
import os
import signal
import socketserver
import threading
from pathlib import Path

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, http_status, wait_until
from tests.e2e.test_reload import refused


def gateway(tmp: Path, upstream: Upstream, **process: object) -> Gateway:
    port = free_port()
    routes: list[dict[str, object]] = [{"backends": [{"host": f"127.0.0.1:{upstream.port}"}]}]
    g = Gateway(tmp, bind_config(port, routes, config=dict(process)), workers=2)
    g.port = port  # type: ignore[attr-defined]
    return g


def test_sigterm_refuses_new_connections_while_inflight_requests_finish(tmp: Path, upstream: Upstream) -> None:
    """Issue 11: during the drain the kernel kept accepting connections no worker would serve."""
    g = gateway(tmp, upstream)
    port = g.port  # type: ignore[attr-defined]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/stream?n=50&delay=0.1")  # 5 s: the drain outlasts the checks below
        r = conn.getresponse()
        first = r.read1(65536)
        assert first.startswith(b"data: 0")
        g.signal(signal.SIGTERM)
        # readiness is a management socket: it keeps answering, 503, during the drain
        wait_until(lambda: http_status(g.ready_url, 1) == 503, timeout=10, what="readiness 503")
        wait_until(lambda: refused(port), timeout=10, what="new connections to be refused")
        assert http_status(g.ready_url, 1) == 503
        rest = r.read()
        assert (first + rest).endswith(b"data: [DONE]\n\n"), "the in-flight stream finishes"
        assert g.proc.wait(30) == 0
    finally:
        conn.close()
        g.stop()


class HoldingUpstream(socketserver.ThreadingTCPServer):
    """An upstream that never finishes: `/hold` gets no answer, `/stream` its head and one chunk.
    `arrived` counts the requests it has (so the test knows they are in flight)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.arrived = threading.Semaphore(0)
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), self.Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            server = self.server
            assert isinstance(server, HoldingUpstream)
            line = self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            if b"/stream" in line:
                self.wfile.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
                self.wfile.flush()
            server.arrived.release()
            server.release.wait(60)

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


def test_requests_cut_by_the_drain_timeout_are_logged(tmp: Path) -> None:
    """Issue 11: a request cut at the drain deadline left no access-log line."""
    held = HoldingUpstream()
    port = free_port()
    routes: list[dict[str, object]] = [{"backends": [{"host": f"127.0.0.1:{held.port}"}]}]
    g = Gateway(tmp, bind_config(port, routes, config={"http": {"drainTimeout": "1s"}}), workers=1)
    outcomes: list[str] = []

    def call(path: str) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            outcomes.append(f"{path} answered {r.status}")
        except Exception as exc:  # the cut is the expected outcome
            outcomes.append(f"{path} cut: {exc!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=call, args=(p,)) for p in ("/hold", "/stream")]
    try:
        for t in threads:
            t.start()
        for _ in threads:
            assert held.arrived.acquire(timeout=15), "the requests reach the upstream"
        g.signal(signal.SIGTERM)
        assert g.proc.wait(30) == 0
        for t in threads:
            t.join(10)
        out = g.output()
        for path in ("/hold", "/stream"):
            lines = [line for line in out.splitlines() if "\trequest " in line and f"http.path={path}" in line]
            assert len(lines) == 1, (path, out[-3000:])
            assert "reason=drain_timeout" in lines[0], lines[0]
        assert sorted(o.split(" ")[1] for o in outcomes) == ["cut:", "cut:"], outcomes
    finally:
        g.stop()
        held.close()


def test_workers_exit_when_the_supervisor_is_killed(tmp: Path, upstream: Upstream) -> None:
    """Issue 11: workers orphaned by a SIGKILLed supervisor kept serving, readiness 'ready'."""
    g = gateway(tmp, upstream)
    pids = g.worker_pids()
    assert len(pids) == 2
    try:
        g.proc.kill()
        g.proc.wait(10)
        wait_until(lambda: not any(_alive(p) for p in pids), timeout=15, what="the orphaned workers to exit")
        assert refused(g.port), "nothing listens once the workers are gone"  # type: ignore[attr-defined]
        assert refused(g.ready_port)
        assert "the supervisor (pid" in g.output() and "is gone; draining and exiting" in g.output()
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        g.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_killed_supervisor_leaves_the_ports_free_for_a_new_instance(tmp: Path, upstream: Upstream) -> None:
    g = gateway(tmp, upstream)
    pids = g.worker_pids()
    try:
        g.proc.kill()
        g.proc.wait(10)
        wait_until(lambda: refused(g.ready_port), timeout=15, what="the orphans to close their listeners")
        port: int = g.port  # type: ignore[attr-defined]
        again = Gateway(tmp, bind_config(port, [{"policies": {"directResponse": {"status": 200}}}]), workers=1)
        assert again.stop() == 0, "a new instance takes the addresses at once"
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        g.stop()
