"""Micro benchmark of fastgw._native against its pure-Python twins (not a test).

    python bench/native_bench.py [--seconds 0.5]

Prints ops/s of the token bucket operations and MB/s of SSE scanning over recorded-shape OpenAI
and Anthropic transcripts (tests/native/data), each fed in network-sized chunks. Single thread,
same process, best of several rounds. native/README.md quotes its figures.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from fastgw import native

DATA = Path(__file__).resolve().parent.parent / "tests" / "native" / "data"


def rate(fn: Callable[[int], int], seconds: float) -> float:
    """Best items/second of fn(n) (which does n items and returns how many it did) over 3 rounds."""
    n = 100
    while True:  # calibrate so one round lasts about `seconds`
        t = time.perf_counter()
        fn(n)
        took = time.perf_counter() - t
        if took > seconds / 10:
            n = max(1, int(n * seconds / took))
            break
        n *= 4
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        done = fn(n)
        best = max(best, done / (time.perf_counter() - t))
    return best


def bucket_benches(impl_name: native.ImplementationName, seconds: float) -> dict[str, float]:
    impl = native.implementation(impl_name)
    table = impl.BucketTable.create(4096)
    h = table.bucket(b"route0/policy0", 1 << 40, 1 << 20, 1.0)
    keys = [native.bucket_key(b"route0", f"user-{i}".encode()) for i in range(1000)]
    for k in keys:
        table.bucket(k, 100, 10, 1.0)

    def take(n: int) -> int:
        try_take = table.try_take
        for _ in range(n):
            try_take(h, 1)
        return n

    def take_refused(n: int) -> int:
        try_take = table.try_take
        for _ in range(n):
            try_take(h, 1 << 50)
        return n

    def lookup(n: int) -> int:
        bucket = table.bucket
        for i in range(n):
            bucket(keys[i % 1000], 100, 10, 1.0)
        return n

    return {
        "try_take (admitted)": rate(take, seconds),
        "try_take (refused)": rate(take_refused, seconds),
        "bucket() lookup, 1000 keys": rate(lookup, seconds),
    }


def contended_take(impl_name: native.ImplementationName, procs: int, per_proc: int) -> float:
    """Total try_take/s of `procs` forked processes hammering one shared bucket."""
    table = native.implementation(impl_name).BucketTable.create(16)
    h = table.bucket(b"shared", 1 << 40, 1, 3600.0)
    t = time.perf_counter()
    pids = []
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:
            try_take = table.try_take
            for _ in range(per_proc):
                try_take(h, 1)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    took = time.perf_counter() - t
    assert table.remaining(h) == (1 << 40) - procs * per_proc
    return procs * per_proc / took


def sse_bench(impl_name: native.ImplementationName, stream: bytes, chunk: int, seconds: float) -> tuple[float, float]:
    impl = native.implementation(impl_name)
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    counter = impl.SSEScanner()
    events_per_stream = sum(len(counter.feed(c)) for c in chunks)

    def scan(n: int) -> int:
        for _ in range(n):
            s = impl.SSEScanner()
            feed = s.feed
            for c in chunks:
                feed(c)
        return n

    streams_per_s = rate(scan, seconds)
    return streams_per_s * len(stream) / 1e6, streams_per_s * events_per_stream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="target duration of one round")
    args = ap.parse_args()
    print("token buckets (ops/s, single thread)")
    results = {name: bucket_benches(name, args.seconds) for name in ("native", "python")}
    for op in results["native"]:
        c, py = results["native"][op], results["python"][op]
        print(f"  {op:28s} native {c:>12,.0f}   twin {py:>10,.0f}   x{c / py:,.0f}")
    for procs in (1, 2, 4):
        c = contended_take("native", procs, 2_000_000)
        py = contended_take("python", procs, 50_000)
        print(f"  {f'try_take, {procs} processes':28s} native {c:>12,.0f}   twin {py:>10,.0f}   x{c / py:,.0f}")
    print("SSE scanning (MB/s and events/s, single thread)")
    for name in ("openai_chat.sse", "anthropic_messages.sse"):
        stream = (DATA / name).read_bytes() * 20
        for chunk in (256, 4096, 65536):
            c_mb, c_ev = sse_bench("native", stream, chunk, args.seconds)
            p_mb, p_ev = sse_bench("python", stream, chunk, args.seconds)
            print(
                f"  {name:24s} chunks {chunk:>6}B  native {c_mb:7.1f} MB/s {c_ev:>11,.0f} ev/s"
                f"   twin {p_mb:6.1f} MB/s {p_ev:>9,.0f} ev/s   x{c_mb / p_mb:.1f}"
            )


if __name__ == "__main__":
    main()
