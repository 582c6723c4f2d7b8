#!/usr/bin/env python3
"""The per-request cost of provider selection (issue 14): `Balancer.pick` + `Balancer.report` (a
healthy answer with its latency) for 3 providers in one tier, against the 1-provider case (which
the compiler serves without a balancer at all). In process, no sockets.

    python bench/balance_bench.py            # medians of 7 runs of 100k requests, ns per request
    perf stat -e instructions -- python bench/balance_bench.py --only 3 --runs 1 --n 1000000
                                             # instructions: subtract a --only 0 run (the loop alone)
"""

from __future__ import annotations

import argparse
import statistics
import time

from fastgw.balance.select import Balancer, Endpoint
from fastgw.balance.table import HealthTable


def _balancer(n: int) -> Balancer[str]:
    table = HealthTable(16)
    keep: set[int] = set()
    tier = [Endpoint(f"p{i}", f"p{i}", table.slot_for(f"p{i}", keep)) for i in range(n)]
    return Balancer([tier], table)


def run(n_providers: int, requests: int) -> float:
    """ns per request: pick, then report a 200 with a latency."""
    if n_providers == 0:  # the loop alone
        start = time.perf_counter_ns()
        for _ in range(requests):
            pass
        return (time.perf_counter_ns() - start) / requests
    b = _balancer(n_providers)
    pick, report = b.pick, b.report
    start = time.perf_counter_ns()
    for _ in range(requests):
        ep = pick(())
        report(ep, 200, (), 0.05)
    return (time.perf_counter_ns() - start) / requests


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000, help="requests per run")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", type=int, default=None, help="providers (0: the empty loop)")
    args = ap.parse_args()
    for providers in [args.only] if args.only is not None else [0, 1, 3]:
        times = [run(providers, args.n) for _ in range(args.runs)]
        print(f"{providers} provider(s): median {statistics.median(times):.0f} ns/request (min {min(times):.0f})")


if __name__ == "__main__":
    main()
