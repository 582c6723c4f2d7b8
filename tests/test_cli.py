"""The command line as a user meets it: `--version`, `-h` on every command, one help style."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from fastgw import __version__


def fastgw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastgw", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag(flag: str) -> None:
    done = fastgw(flag)
    assert done.returncode == 0 and done.stdout == f"fastgw {__version__}\n"
    assert fastgw("version").stdout == done.stdout


@pytest.mark.parametrize("command", ["", "serve", "validate", "demo", "version", "fake-provider"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_in_one_style(command: str, flag: str) -> None:
    done = fastgw(*([command] if command else []), flag)
    assert done.returncode == 0, done.stderr
    name = f"fastgw {command}" if command else "fastgw"
    assert done.stdout.startswith(f"Usage: {name} [OPTIONS]"), done.stdout
    assert re.search(r"^  -h, --help +Show this message and exit\.$", done.stdout, re.M), done.stdout


def test_fake_provider_help_lists_its_options() -> None:
    out = fastgw("fake-provider", "--help").stdout
    for option in ("--host", "--port", "--token-latency", "--ttft", "--error-rate", "--require-key", "--tokens"):
        assert option in out


def test_every_command_is_listed_with_a_whole_short_help() -> None:
    out = fastgw("-h").stdout
    for command in ("demo", "fake-provider", "serve", "validate", "version"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(command + " "))
        assert not line.rstrip().endswith("..."), line


def test_usage_errors_name_the_option() -> None:
    bad_level = fastgw("serve", "-f", "x.yaml", "--log-level", "loud")
    assert bad_level.returncode == 2 and "--log-level" in bad_level.stderr and "'loud'" in bad_level.stderr
    bad_duration = fastgw("fake-provider", "--ttft", "5")
    assert bad_duration.returncode == 2 and "--ttft" in bad_duration.stderr and "needs a unit" in bad_duration.stderr


def test_fake_provider_on_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = fastgw("fake-provider", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
