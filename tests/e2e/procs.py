"""Starting real processes for end-to-end tests: the gateway and upstreams. Readiness is
always polled, never slept on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


_HANDED_OUT: set[int] = set()  # this test process's ports so far: the kernel may offer one twice


def free_port() -> int:
    """A port free now and never handed out before by this process (a gateway's ports are taken
    one after another before it starts: two of them must not be the same)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_until(predicate: object, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Proc:
    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})}
        )

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


class Upstream(Proc):
    def __init__(self, tmp: Path, module: str = "tests.e2e.echo_upstream", extra: list[str] | None = None) -> None:
        self.port = free_port()
        super().__init__([sys.executable, "-m", module, str(self.port), *(extra or [])], tmp / f"up-{self.port}.log")
        wait_until(lambda: port_open(self.port), what=f"upstream {module}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Gateway(Proc):
    """`fastgw serve` on a config dict; the management ports are chosen here."""

    def __init__(
        self,
        tmp: Path,
        config: dict[str, object],
        workers: int = 2,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.ready_port = free_port()
        self.stats_port = free_port()
        self.admin_port = free_port()
        cfg = dict(config)
        proc_cfg = dict(cfg.get("config") or {})  # type: ignore[call-overload]
        proc_cfg.setdefault("readinessAddr", f"127.0.0.1:{self.ready_port}")
        proc_cfg.setdefault("statsAddr", f"127.0.0.1:{self.stats_port}")
        proc_cfg.setdefault("adminAddr", f"127.0.0.1:{self.admin_port}")
        cfg["config"] = proc_cfg
        self.config_path = tmp / f"gw-{self.ready_port}.yaml"
        self.write_config(cfg)
        args = [sys.executable, "-m", "fastgw", "serve", "-w", str(workers), "-f", str(self.config_path)]
        super().__init__(args + (extra_args or []), tmp / f"gw-{self.ready_port}.log", env)
        self.wait_ready()

    def write_config(self, cfg: dict[str, object]) -> None:
        # whole or not at all: a reload may read the file at any moment (coalesced, --watch)
        tmp = self.config_path.with_name(self.config_path.name + ".tmp")
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
        os.replace(tmp, self.config_path)

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.ready_port}/healthz/ready"

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.output()}")
            return http_status(self.ready_url, 0.5) == 200

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except RuntimeError:
                raise
            except Exception:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"gateway not ready:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]


def bind_config(port: int, routes: list[dict[str, object]], **extra: object) -> dict[str, object]:
    return {**extra, "binds": [{"port": port, "listeners": [{"routes": routes}]}]}
