"""Command line: thin click wrappers around process/, config/ and devtools/."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fastgw import __version__

if TYPE_CHECKING:
    from fastgw.policies.ratelimit_local import SharedBuckets
    from fastgw.runtime import Runtime

LOG_LEVELS = click.Choice(["trace", "debug", "info", "warn", "warning", "error"], case_sensitive=False)


def _setup_logging(level: str, fmt: str) -> None:
    lvl = {"trace": "DEBUG", "warn": "WARNING"}.get(level.lower(), level.upper())
    if fmt == "json":
        f = '{"level":"%(levelname)s","time":"%(asctime)s","scope":"%(name)s","message":"%(message)s"}'
    else:
        f = "%(asctime)s\t%(levelname)s\t%(name)s\t%(message)s"
    logging.basicConfig(level=lvl, format=f, stream=sys.stderr)


def _loader(path: str, text: str | None, buckets: SharedBuckets | None = None) -> Callable[[], Runtime]:
    """A callable building the Runtime from the file (re-read on every reload)."""
    from fastgw.config.compile import load_runtime

    def load() -> Runtime:
        return load_runtime(path, text, buckets)

    return load


@click.group()
def main() -> None:
    """fastgw: a high-throughput AI gateway."""


@main.command()
@click.option("-f", "--file", "path", required=True, help="Config file (YAML or JSON); '-' reads stdin.")
@click.option("-w", "--workers", type=click.IntRange(1, 250), default=None, help="Worker processes [CPU count].")
@click.option("--log-level", type=LOG_LEVELS, default=None, help="Log level [config, else info].")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None, help="Log format.")
@click.option("--watch", is_flag=True, help="Reload when the config file changes.")
def serve(path: str, workers: int | None, log_level: str | None, log_format: str | None, watch: bool) -> None:
    """Run the gateway: a supervisor and N worker processes."""
    from fastgw.config.compile import CompileError
    from fastgw.config.load import ConfigError
    from fastgw.policies.ratelimit_local import SharedBuckets
    from fastgw.process.supervisor import Supervisor

    text = sys.stdin.read() if path == "-" else None
    # the table is made by the first load, before any fork: every worker (and every reload)
    # shares the same buckets
    load = _loader(path, text, SharedBuckets())
    try:
        runtime = load()
    except (ConfigError, CompileError) as exc:
        click.echo(f"fastgw: invalid config:\n{exc}", err=True)
        sys.exit(2)
    _setup_logging(log_level or runtime.log.level, log_format or runtime.log.format)
    if log_format or log_level:
        from dataclasses import replace

        base = load

        def load_with_overrides() -> Runtime:
            rt = base()
            return replace(rt, log=replace(rt.log, format=log_format or rt.log.format))

        load = load_with_overrides
    from fastgw.telemetry import metrics

    n = workers or runtime.workers or os.cpu_count() or 1  # -w, then config.workerThreads
    own_dir = not os.environ.get(metrics.ENV)
    metrics_dir = metrics.prepare_dir()  # before any fork: workers share it
    sup = Supervisor(load, n, watch=path if watch and path != "-" else None)
    try:
        code = sup.run()
    finally:
        if own_dir:
            metrics.remove_dir(metrics_dir)
    sys.exit(code)


@main.command()
@click.option("-f", "--file", "path", required=True, help="Config file; '-' reads stdin.")
def validate(path: str) -> None:
    """Check a config file; print every error and exit non-zero if there are any."""
    from fastgw.config.compile import CompileError
    from fastgw.config.load import ConfigError

    text = sys.stdin.read() if path == "-" else None
    try:
        _loader(path, text)()
    except (ConfigError, CompileError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{path}: ok")


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"fastgw {__version__}")


@main.command(
    "fake-provider",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def fake_provider(args: tuple[str, ...]) -> None:
    """Run the bundled fake LLM provider (OpenAI + Anthropic wire formats); --help lists options:
    --host, --port, --token-latency 5ms, --ttft 200ms, --error-rate 0.1, --require-key K, --tokens N."""
    from fastgw.devtools.fake_provider import main as fake_main

    fake_main(list(args))


@main.command()
@click.option("-w", "--workers", type=click.IntRange(1, 250), default=2, show_default=True)
def demo(workers: int) -> None:
    """Start the fake provider and the gateway on configs/demo.yaml (no API key needed)."""
    config = Path("configs/demo.yaml")
    if not config.exists():
        config = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
    if not config.exists():
        raise click.ClickException(f"demo config not found at {config}")
    import signal

    # -P: never import a checkout from the working directory instead of the installed package
    fake = subprocess.Popen([sys.executable, "-P", "-m", "fastgw", "fake-provider", "--port", "4010"])
    click.echo("fake provider on 127.0.0.1:4010; gateway on :3000 (see README for curl examples)", err=True)
    gateway = subprocess.Popen([sys.executable, "-P", "-m", "fastgw", "serve", "-w", str(workers), "-f", str(config)])

    def stop(signum: int, _frame: object) -> None:
        gateway.send_signal(signal.SIGTERM)  # the gateway drains, then exits

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = gateway.wait()
    finally:
        fake.terminate()
        fake.wait()
    sys.exit(code)


def _add_k8s() -> None:
    from fastgw.k8s.cli import k8s

    main.add_command(k8s)


_add_k8s()
