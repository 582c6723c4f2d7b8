#!/usr/bin/env bash
# Make a Docker engine usable for tests/docker on a Debian machine, as root, when none is running:
# install Debian's docker.io, start dockerd, and make sure the Dockerfile's base image
# (python:3.11-slim) exists — pulled when a registry answers, otherwise built locally from Debian
# packages (a debootstrap root filesystem plus Debian's Python 3.11, pip, venv and headers).
# Without a registry the engine has no bridge network either: containers then run with
# `--network host` (tests/docker/test_image.py picks that mode by itself). Idempotent.
#   tests/docker/engine.sh          set up, or check
#   tests/docker/engine.sh stop     stop the dockerd this script started
set -euo pipefail
state=/tmp/fastgw-docker-engine
mkdir -p "$state"
base=python:3.11-slim

if [ "${1:-}" = stop ]; then
  if [ -f "$state/dockerd.pid" ] && kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$state/dockerd.pid")" && echo "dockerd stopped"
  fi
  exit 0
fi

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "engine.sh: no usable Docker engine, and starting one needs root" >&2
    exit 1
  fi
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    dockerd --bridge=none --iptables=false >"$state/dockerd.log" 2>&1 &
    echo $! >"$state/dockerd.pid"
    for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start: $state/dockerd.log" >&2; exit 1; }
    echo "dockerd started (pid $(cat "$state/dockerd.pid"))"
  fi
fi

if ! docker image inspect "$base" >/dev/null 2>&1 && ! timeout 120 docker pull -q "$base" >/dev/null 2>&1; then
  echo "no registry answered for $base: building a stand-in from Debian packages"
  if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
    rm -rf "$state/rootfs"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$state/rootfs" >"$state/debootstrap.log" 2>&1
    tar -C "$state/rootfs" -c . | docker import - local/debian:bookworm >/dev/null
    rm -rf "$state/rootfs"
  fi
  ctx=$(mktemp -d)
  # The host's CA bundle, so pip in the image trusts the same package registry the host reaches.
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca.crt"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM local/debian:bookworm
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv python3-dev \
    && ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/pip3 /usr/local/bin/pip \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED && rm -rf /var/lib/apt/lists/*
COPY ca.crt /etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
DOCKERFILE
  docker build --network host -q -t "$base" "$ctx" >/dev/null
  rm -rf "$ctx"
  echo "built $base (stand-in)"
fi
echo "docker ready"
