"""Command line: thin click wrappers around process/, config/ and devtools/."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from fastgw import __version__

if TYPE_CHECKING:
    from fastgw.policies.ratelimit_local import SharedBuckets
    from fastgw.runtime import Runtime

LOG_LEVELS = click.Choice(["trace", "debug", "info", "warn", "warning", "error"], case_sensitive=False)


def _log_levels(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`info`, or per logger `info,fastgw.http=debug`; checked here so a typo is a usage error."""
    if value is not None:
        from fastgw.config.log_levels import LevelSpecError, parse_levels

        try:
            parse_levels(value)
        except LevelSpecError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _loader(path: str, text: str | None, buckets: SharedBuckets | None = None) -> Callable[[], Runtime]:
    """A callable building the Runtime from the file (re-read on every reload)."""
    from fastgw.config.compile import load_runtime

    def load() -> Runtime:
        return load_runtime(path, text, buckets)

    return load


class _Commands(click.Group):
    """The CLI's commands; `fake-provider` (aiohttp) is imported only when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "fake-provider"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "fake-provider":
            from fastgw.devtools.fake_provider import command

            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fastgw", message="%(prog)s %(version)s")
def main() -> None:
    """fastgw: a high-throughput AI gateway (agentgateway's config format)."""


@main.command(short_help="Run the gateway on a config file.")
@click.option("-f", "--file", "path", required=True, help="Config file (YAML or JSON); '-' reads stdin.")
@click.option("-w", "--workers", type=click.IntRange(1, 250), default=None, help="Worker processes [CPU count].")
@click.option(
    "--log-level",
    callback=_log_levels,
    default=None,
    metavar="LEVEL",
    help="trace|debug|info|warn|error, or per logger: info,fastgw.http=debug [config, else info].",
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None, help="Log format.")
@click.option("--watch", is_flag=True, help="Reload when the config file changes.")
def serve(path: str, workers: int | None, log_level: str | None, log_format: str | None, watch: bool) -> None:
    """Run the gateway: a supervisor and N worker processes."""
    from fastgw.config.compile import CompileError
    from fastgw.config.load import ConfigError
    from fastgw.policies.ratelimit_local import SharedBuckets
    from fastgw.process.exits import EXIT_CONFIG
    from fastgw.process.supervisor import Supervisor
    from fastgw.telemetry import logs

    logs.setup(log_level or "info", log_format or "text")  # until the config says otherwise
    text = sys.stdin.read() if path == "-" else None
    # the table is made by the first load, before any fork: every worker (and every reload)
    # shares the same buckets
    load = _loader(path, text, SharedBuckets())
    try:
        runtime = load()
    except (ConfigError, CompileError) as exc:
        if log_format == "json":
            logging.getLogger("fastgw").error("invalid config:\n%s", exc)
        else:
            click.echo(f"fastgw: invalid config:\n{exc}", err=True)
        sys.exit(EXIT_CONFIG)
    logs.setup(log_level or runtime.log.level, log_format or runtime.log.format)
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


@main.command(short_help="Check a config file; print every error.")
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


@main.command(short_help="The gateway in front of the fake provider (no API key).")
@click.option("-w", "--workers", type=click.IntRange(1, 250), default=2, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address every demo listener binds (0.0.0.0 in a container).",
)
def demo(workers: int, host: str) -> None:
    """Start the fake provider and the gateway on the packaged demo.yaml (no API key needed)."""
    from fastgw.devtools.demo import run

    sys.exit(run(workers, host))


def _add_k8s() -> None:
    from fastgw.k8s.cli import k8s

    main.add_command(k8s)


_add_k8s()


def _add_keys() -> None:
    from fastgw.keys_cli import keys

    main.add_command(keys)


_add_keys()
