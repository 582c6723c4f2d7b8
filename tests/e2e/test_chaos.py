"""Chaos, bounded: two providers in two tiers, the primary killed (SIGKILL) and restarted on its port
again and again while 8 clients send through 4 workers. No client request may fail while the
backup is healthy, and traffic returns to the primary once it stays up."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import openai

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, Proc, free_port, port_open, wait_until

KEY = "sk-chaos"
CHAOS_SECONDS = 8.0
CLIENTS = 8


def _start_primary(tmp: Path, port: int, n: int) -> Proc:
    argv = [sys.executable, "-m", "fastgw.devtools.fake_provider", "--port", str(port), "--require-key", KEY]
    proc = Proc(argv, tmp / f"primary-{n}.log")
    wait_until(lambda: port_open(port), what="primary provider")
    return proc


def test_killing_the_primary_fails_no_client_request(tmp_path: Path) -> None:
    backup = FakeProvider(tmp_path, "--require-key", KEY)
    primary_port = free_port()
    primary = _start_primary(tmp_path, primary_port, 0)

    def provider(name: str, authority: str, model: str) -> dict[str, object]:
        return {
            "name": name,
            "provider": {"openAI": {"model": model}},
            "hostOverride": authority,
            "backendAuth": {"key": KEY},
            "policies": {"health": {"eviction": {"duration": "1s"}}},
        }

    route = {
        "name": "chaos",
        "policies": {
            "retry": {"attempts": 1, "codes": [429, 500, 502, 503, 504]},
            "timeout": {"backendRequestTimeout": "3s"},
        },
        "backends": [
            {
                "ai": {
                    "groups": [
                        {"providers": [provider("primary", f"127.0.0.1:{primary_port}", "primary-model")]},
                        {"providers": [provider("backup", backup.authority, "backup-model")]},
                    ]
                }
            }
        ],
    }
    port = free_port()
    gw = Gateway(tmp_path, {"binds": [{"port": port, "listeners": [{"routes": [route]}]}]}, workers=4)
    failures: list[str] = []
    served: dict[str, int] = {"primary-model": 0, "backup-model": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=20)
        while not stop.is_set():
            try:
                got = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "chaos"}])
                with lock:
                    served[got.model] += 1
            except Exception as exc:  # every failure is the test's failure, whatever its kind
                with lock:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + CHAOS_SECONDS
        n = 0
        while time.monotonic() < end:
            time.sleep(1.0)
            primary.signal(signal.SIGKILL)
            primary.proc.wait(5)
            time.sleep(1.0)
            n += 1
            primary = _start_primary(tmp_path, primary_port, n)
        stop.set()
        for t in threads:
            t.join(30)
        assert not failures, failures[:5]
        assert served["backup-model"] > 0, served
        # the primary stays up now: once its eviction ends, the first tier serves again
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        deadline = time.monotonic() + 20
        streak = 0
        while streak < 10:
            assert time.monotonic() < deadline, "traffic never returned to the primary"
            got = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "back?"}])
            streak = streak + 1 if got.model == "primary-model" else 0
    finally:
        stop.set()
        gw.stop()
        primary.stop()
        backup.stop()
