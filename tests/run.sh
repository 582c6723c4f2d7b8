#!/usr/bin/env bash
# The one command that installs everything the test suite needs and runs it: the linters, the type
# checker and the tests. Works on a fresh Debian/Ubuntu machine as root (missing system packages
# come from apt) and in CI (.ci/run sets CI=true). Usage: tests/run.sh [pytest args...]
#
# Python packages go into .venv in the checkout (created on the first run, reused after; PYTHON
# picks the interpreter that creates it, python3 by default), never into the system's python.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
ci=$(echo "${CI:-}" | tr '[:upper:]' '[:lower:]')

install() {  # apt packages, as root; anyone else is told what to install
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: missing $*: install them (as root: apt-get install $*)" >&2
    exit 1
  fi
  echo "installing: $*"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v "$python" >/dev/null 2>&1 || install python3
# System packages the tests need: a C compiler and the Python headers (the C extension is built
# on install), venv support, and openssl (a TLS test makes a throwaway certificate).
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
"$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
[ -x .venv/bin/python ] || "$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] || install "${missing[@]}"

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# The MCP tests also drive the gateway with the 1.x line of the official Python SDK, which cannot
# share .venv with the 2.x line: it has a venv of its own (tests/e2e/test_mcp_sdk1.py).
[ -x .venv-mcp1/bin/python ] || "$python" -m venv .venv-mcp1
.venv-mcp1/bin/python -m pip install -q --disable-pip-version-check 'mcp>=1.9,<2'

# The coding agents tests/e2e/test_agents.py drives (Codex CLI, Claude Code), pinned in
# tests/e2e/agents.txt, go into .cache/agents in the checkout (again when the pins change). CI
# gets npm from apt when it has none; elsewhere those tests skip without it.
if ! command -v npm >/dev/null 2>&1 && { [ "$ci" = true ] || [ "$ci" = 1 ] || [ "$ci" = yes ]; }; then
  install nodejs npm
fi
if command -v npm >/dev/null 2>&1 && ! cmp -s tests/e2e/agents.txt .cache/agents/pinned.txt; then
  echo "installing the coding agents: $(tr '\n' ' ' < tests/e2e/agents.txt)"
  # shellcheck disable=SC2046 # one package spec per line
  npm install --no-audit --no-fund --loglevel=error --prefix .cache/agents $(cat tests/e2e/agents.txt)
  cp tests/e2e/agents.txt .cache/agents/pinned.txt
fi

# The Docker image test (tests/docker) needs an engine; in CI one is started when none is running
# (elsewhere that test skips without one, and fails in CI).
if [ "$ci" = true ] || [ "$ci" = 1 ] || [ "$ci" = yes ]; then
  if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    bash tests/docker/engine.sh
  fi
  # promtool (Debian package prometheus) checks /metrics and the compose stack's Prometheus config
  # and queries; elsewhere those checks skip without it
  command -v promtool >/dev/null 2>&1 || install prometheus
fi

echo "== ruff"
.venv/bin/python -m ruff check fastgw tests bench
.venv/bin/python -m ruff format --check fastgw tests bench
echo "== mypy"
.venv/bin/python -m mypy
echo "== import-linter"
.venv/bin/lint-imports
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
