"""The markdown report of a run: the table, the ratios and the conditions it was measured in."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import subprocess
import time
from pathlib import Path

from bench_load import Fixed, Load
from bench_services import Tools


@dataclasses.dataclass
class Row:
    group: str
    name: str
    cores: str
    baseline: str | None
    load: Load | None = None
    fixed: Fixed | None = None
    note: str = ""
    #: busy CPU time of the row's cores per request during the measured runs (µs)
    cpu_us: float | None = None
    #: the same at the fixed --cpu-rate (interleaved runs): the cost at equal load
    cpu_at_rate_us: float | None = None


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row], rate: int, cpu_rate: int = 0) -> str:
    by_name = {row.name: row for row in rows}
    head = (
        f"| scenario | target | cores | req/s | p50 ms | p99 ms | @{rate}/s p50 ms | @{rate}/s p99 ms "
        f"| @{rate}/s mean ms | added p99 ms | added mean ms | CPU µs/req | CPU µs/req @{cpu_rate}/s "
        "| errors (load / fixed) | note |"
    )
    lines = [head, "|" + "---|" * 15]
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
            f"| {_f(row.cpu_us, 1)} | {_f(row.cpu_at_rate_us, 1)} | {errors} | {row.note} |"
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
    cost = {(row.group, row.name): row.cpu_at_rate_us for row in rows if row.cpu_at_rate_us}

    def inverse(label: str, top: tuple[str, str], bottom: tuple[str, str], target: str) -> None:
        # throughput ratios at equal cost: top / bottom = cost(bottom) / cost(top)
        if top in cost and bottom in cost:
            lines.append(
                f"- {label}, from CPU per request at the fixed rate: {cost[bottom] / cost[top]:.2f} ({target})"
            )

    plain = ("plain 1 KiB POST", "fastgw 1w")
    inverse("fastgw 1w / nginx 1w", plain, ("plain 1 KiB POST", "nginx 1w"), "target >= 0.5")
    inverse("json: LLM passthrough / plain", ("llm json", "fastgw 1w OpenAI->OpenAI"), plain, "target >= 0.8")
    for mode in ("json", "sse"):
        inverse(
            f"{mode}: translation / passthrough",
            (f"llm {mode}", "fastgw 1w OpenAI->Anthropic"),
            (f"llm {mode}", "fastgw 1w OpenAI->OpenAI"),
            "target >= 0.75",
        )
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


def _cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per CPU, from the cpuN lines of /proc/stat."""
    times = []
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            fields = [int(v) for v in values]
            idle = fields[3] + fields[4]  # idle + iowait
            times.append((sum(fields) - idle, sum(fields)))
    return times


def cores_of(spec: str) -> list[int]:
    """CPU numbers of a taskset list such as "0", "0-1" or "0,2"."""
    out: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        out += range(int(low), int(high or low) + 1)
    return out


def busy_seconds(cores: list[int]) -> float | None:
    """Busy CPU seconds so far of `cores` (user, system, irq, softirq...; from /proc/stat)."""
    try:
        times = _cpu_times()
        hz = os.sysconf("SC_CLK_TCK")
        return sum(times[c][0] for c in cores) / hz
    except (OSError, ValueError, IndexError):
        return None


def background_busy(seconds: float = 2.0) -> list[float] | None:
    """The busy fraction of each CPU while this runner is idle: anything else running on the box
    lands on the pinned cores too and skews every figure."""
    try:
        before = _cpu_times()
        time.sleep(seconds)
        after = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return [(b1 - b0) / max(1, t1 - t0) for (b0, t0), (b1, t1) in zip(before, after, strict=True)]


def busy_note(busy: list[float] | None) -> str:
    if busy is None:
        return "n/a"
    return ", ".join(f"cpu{index} {fraction:.0%}" for index, fraction in enumerate(busy))


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
    trials = (
        f"median of {args.interleave} interleaved rounds (every target started first, measured in turn), "
        if getattr(args, "interleave", 0)
        else f"median of {args.repeat} trial(s), "
    )
    return (
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {cpu} ({os.cpu_count()} CPUs); "
        f"Python {platform.python_version()}; {version([tools.nginx or 'nginx', '-v'])}; "
        f"{version([tools.wrk or 'wrk', '-v'])}; k6 {version([tools.k6 or 'k6', 'version'])}; "
        f"{args.connections} connections, {args.threads} wrk thread(s), warm-up {args.warmup:g}s, "
        + trials
        + f"measured {args.duration:g}s, fixed rate {args.rate}/s for {args.fixed_duration:g}s "
        f"({args.fixed_tool}); "
        f"proxy on cores {args.proxy_cores}, load generator + upstream on cores {args.loadgen_cores}"
    )
