#!/usr/bin/env python3
"""What a rate limit costs at 1 worker: req/s and p99 of plain proxying with no limit, a local
limit (shared memory), a Redis limit (exact: a script per request, batched per loop turn) and a
Redis limit with leases (a script per 100 requests). The limits are never reached: this measures
the check, not the refusals. Needs wrk, nginx (the canned upstream) and redis-server.

    python bench/ratelimit_bench.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench_load import run_wrk
from bench_services import CHAT_PATH, canned_upstream, fastgw, find_tools, free_port, http_call, plain_backend

BIG = "{maxTokens: 1000000000, tokensPerFill: 1000000000, fillInterval: 1s}"


def policies(redis_url: str) -> dict[str, str]:
    entry = "entries: [{key: k, value: '\"all\"'}]"
    return {
        "no limit": "",
        "local limit": f"{{localRateLimit: [{BIG}]}}",
        "redis exact": (
            f"{{remoteRateLimit: {{redis: {{url: '{redis_url}'}}, descriptors: [{{{entry}, limit: {BIG}}}]}}}}"
        ),
        "redis leased": (
            f"{{remoteRateLimit: {{redis: {{url: '{redis_url}'}},"
            f" descriptors: [{{{entry}, limit: {BIG}, lease: {{size: 100, ttl: 100ms}}}}]}}}}"
        ),
    }


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=workdir,
    )
    try:
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _cpu_seconds(port: int) -> float:
    """CPU time (user + system) of the fastgw processes serving `port` (supervisor and worker)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if f"-{port}.yaml".encode() not in cmdline:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="runs per target (the median is shown)")
    args = parser.parse_args()
    args.loadgen_cores = None
    tools = find_tools()
    command = [sys.executable, "-m", "fastgw"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with canned_upstream(tools, workdir, "") as up, redis_server(workdir) as url:
            for name, pol in policies(url).items():
                with fastgw(command, workdir, 1, plain_backend(up.openai_json), "", None, pol) as port:
                    status, body = http_call(port, body=b"{}", timeout=10)
                    assert status == 200, (name, status, body[:200])
                    runs = []
                    for _ in range(args.rounds):
                        cpu = _cpu_seconds(port)
                        load = run_wrk(tools, args, f"http://127.0.0.1:{port}{CHAT_PATH}", False, args.seconds)
                        runs.append((load, (_cpu_seconds(port) - cpu) / max(1, load.requests) * 1e6))
                    runs.sort(key=lambda r: r[0].rps)
                    mid, us = runs[len(runs) // 2]
                    rows.append((name, mid.rps, mid.p99_ms, mid.errors, us))
    base = rows[0]
    print("| target | req/s | vs no limit | gateway CPU us/req | p99 ms | p99 added ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, rps, p99, errors, us in rows:
        print(f"| {name} | {rps:.0f} | {rps / base[1]:.2f} | {us:.0f} | {p99:.2f} | {p99 - base[2]:+.2f} | {errors} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
