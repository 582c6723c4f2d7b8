"""Command line: thin click wrappers around process/, config/ and devtools/."""

from __future__ import annotations

import click

from fastgw import __version__


@click.group()
def main() -> None:
    """fastgw: a high-throughput AI gateway."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"fastgw {__version__}")
