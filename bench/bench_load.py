"""Load generators: wrk (closed loop and paced fixed rate) and k6 (constant arrival rate)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

from bench_services import K6_SCRIPT, WRK_SCRIPT, Tools, pinned


@dataclasses.dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    requests: int
    errors: int


@dataclasses.dataclass(frozen=True)
class Fixed:
    target_rate: int
    achieved_rate: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    failed: float
    dropped: int


def _wrk(
    tools: Tools,
    args: argparse.Namespace,
    url: str,
    stream: bool,
    seconds: float,
    pace_ms: float,
    connections: int,
) -> dict[str, float]:
    assert tools.wrk is not None
    wrk = [
        tools.wrk,
        "-t",
        str(args.threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "-s",
        str(WRK_SCRIPT),
    ]
    argv = pinned(args.loadgen_cores, [*wrk, url], tools.taskset)
    env = {**os.environ, "BENCH_STREAM": "1" if stream else "0", "BENCH_PACE_MS": f"{pace_ms:g}"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data: dict[str, float] = json.loads(line.removeprefix("BENCH_JSON "))
    data["errors"] = sum(data[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def run_wrk(tools: Tools, args: argparse.Namespace, url: str, stream: bool, seconds: float) -> Load:
    data = _wrk(tools, args, url, stream, seconds, 0, args.connections)
    return Load(
        rps=data["rps"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        requests=int(data["requests"]),
        errors=int(data["errors"]),
    )


def run_wrk_paced(tools: Tools, args: argparse.Namespace, url: str, stream: bool) -> Fixed:
    """Fixed rate with wrk: Poisson arrivals from paced connections (see bench/wrk/post_1k.lua)."""
    connections = args.fixed_connections
    data = _wrk(tools, args, url, stream, args.fixed_duration, connections * 1000 / args.rate, connections)
    return Fixed(
        target_rate=args.rate,
        achieved_rate=data["rps"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        failed=data["errors"] / max(1.0, data["requests"]),
        dropped=0,
    )


def run_k6(tools: Tools, args: argparse.Namespace, url: str, stream: bool, workdir: Path) -> Fixed:
    assert tools.k6 is not None
    summary = workdir / f"k6-{time.monotonic_ns()}.json"
    env_args = {
        "TARGET": url,
        "RATE": str(args.rate),
        "DURATION": f"{args.fixed_duration:g}s",
        "SCENARIO": "sse" if stream else "json",
        "SUMMARY_FILE": str(summary),
        "VUS": str(args.connections),
    }
    argv = [tools.k6, "run", "--quiet", "--no-color", "--no-usage-report"]
    for key, value in env_args.items():
        argv += ["-e", f"{key}={value}"]
    argv = pinned(args.loadgen_cores, [*argv, str(K6_SCRIPT)], tools.taskset)
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=args.fixed_duration + 120, check=False, cwd=workdir
    )
    if not summary.exists():
        raise RuntimeError(f"k6 failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    metrics = json.loads(summary.read_text())["metrics"]
    duration = metrics["http_req_duration"]["values"]
    dropped = metrics.get("dropped_iterations", {}).get("values", {}).get("count", 0)
    return Fixed(
        target_rate=args.rate,
        achieved_rate=metrics["http_reqs"]["values"]["rate"],
        p50_ms=duration["p(50)"],
        p99_ms=duration["p(99)"],
        mean_ms=duration["avg"],
        failed=metrics["http_req_failed"]["values"]["rate"],
        dropped=int(dropped),
    )
