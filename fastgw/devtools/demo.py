"""`fastgw demo`: the bundled fake provider plus the gateway on the packaged `demo.yaml`.

The order matters for a clear first run: the fake provider must own its port before the gateway
starts (a port held by something else would make every demo request hang behind a "ready"
gateway), and "ready" is printed only once the gateway's readiness endpoint answers 200.
Children run with `-P` so a `fastgw/` folder in the working directory never shadows the
installed package.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.resources import as_file, files
from pathlib import Path

import click

FAKE_PORT = 4010
"""The fake provider's port; `demo.yaml` sends the `ai` backends to 127.0.0.1:4010."""
DEMO_HOST_ENV = "DEMO_HOST"
"""demo.yaml reads the management listeners' address from this variable (default 127.0.0.1)."""
_READY_PREFIX = "fake provider listening on http://"
_START_TIMEOUT = 60.0


def example_config(name: str) -> Path:
    """A config shipped with the package (`fastgw/configs/`, the same files as the checkout's
    `configs/`), as a real file path."""
    resource = files("fastgw").joinpath("configs", name)
    if not resource.is_file():
        raise click.ClickException(f"packaged config {name} not found (is the package installed completely?)")
    with as_file(resource) as path:  # a plain path for an installed package or a checkout
        return Path(path)


def run(workers: int, host: str) -> int:
    """Start both processes, wait until the gateway is ready, serve until SIGINT/SIGTERM."""
    from fastgw.config.compile import CompileError, load_runtime
    from fastgw.config.load import ConfigError

    config = example_config("demo.yaml")
    os.environ[DEMO_HOST_ENV] = host  # read by demo.yaml here and in both children
    try:
        runtime = load_runtime(str(config))
    except (ConfigError, CompileError) as exc:
        raise click.ClickException(f"invalid demo config:\n{exc}") from None
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    fake = subprocess.Popen(
        [sys.executable, "-P", "-m", "fastgw", "fake-provider", "--host", "127.0.0.1", "--port", str(FAKE_PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    gateway: subprocess.Popen[bytes] | None = None
    try:
        if not _fake_listening(fake, stopping):
            if stopping:
                return 0
            raise click.ClickException(
                f"the fake provider could not listen on 127.0.0.1:{FAKE_PORT} (see its error above); "
                f"free port {FAKE_PORT} and run `fastgw demo` again"
            )
        gateway = subprocess.Popen(
            [sys.executable, "-P", "-m", "fastgw", "serve", "-w", str(workers), "-f", str(config)]
        )
        ready = runtime.addresses.readiness
        if ready is not None and _gateway_ready(gateway, ready, stopping):
            base = f"http://127.0.0.1:{runtime.binds[0].port}"
            click.echo(
                f"demo ready: OpenAI clients {base}/openai/v1, Anthropic clients {base}/anthropic "
                f"(fake provider on 127.0.0.1:{FAKE_PORT}); Ctrl-C stops both",
                err=True,
            )
        while gateway.poll() is None:
            if stopping:
                gateway.send_signal(signal.SIGTERM)  # the gateway drains, then exits
                stopping.clear()
            time.sleep(0.1)
        return gateway.returncode
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait()
        fake.terminate()
        fake.wait()
        if fake.stdout is not None:
            fake.stdout.close()


def _fake_listening(fake: subprocess.Popen[str], stopping: list[int]) -> bool:
    """Whether the fake provider announced its port (False if it exited or a stop was asked)."""
    assert fake.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(fake.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and not stopping:
            if selector.select(timeout=0.1):
                line = fake.stdout.readline()
                if line.startswith(_READY_PREFIX):
                    return True
                if not line:  # EOF: it exited (its error went to our stderr)
                    fake.wait()
                    return False
    return False


def _gateway_ready(gateway: subprocess.Popen[bytes], address: str, stopping: list[int]) -> bool:
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "", "[::]"):
        host = "127.0.0.1"
    url = f"http://{host}:{port}/healthz/ready"
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and not stopping and gateway.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False
