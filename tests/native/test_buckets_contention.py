"""Real processes x threads racing on one shared bucket: the admitted count is exact, never more.

The table is created before fork, exactly as the supervisor does; each child process runs several
threads that hammer the same bucket and reports its counts through a pipe.
"""

import multiprocessing
import random
import threading
import time
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

PROCS = 4
THREADS = 3
DEADLINE_S = 60.0


def _start_together(start_ns: int) -> None:
    """Children are forked one after another; spinning to a common instant makes them overlap."""
    while time.monotonic_ns() < start_ns:
        pass


def _hammer_takes(start_ns: int, table: Any, h: int, attempts: int, until_ns: int, out: Connection) -> None:
    """try_take(h) `attempts` times per thread, or until the monotonic clock passes until_ns."""
    admitted = [0] * THREADS

    def run(slot: int) -> None:
        done = 0
        while done < attempts or time.monotonic_ns() < until_ns:
            if table.try_take(h):
                admitted[slot] += 1
            done += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    _start_together(start_ns)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send(sum(admitted))


def _hammer_mixed(start_ns: int, table: Any, h: int, attempts: int, seed: int, out: Connection) -> None:
    """Takes, gives back and charges at random; reports the net amount drawn from the bucket."""
    drawn = [0] * THREADS

    def run(slot: int) -> None:
        rng = random.Random(seed * 100 + slot)
        held = 0
        for _ in range(attempts):
            n = rng.randint(1, 5)
            op = rng.random()
            if op < 0.6:
                if table.try_take(h, n):
                    held += n
            elif op < 0.9:
                back = min(held, n)
                table.give_back(h, back)
                held -= back
            else:
                table.charge(h, n, -(10**9))
                drawn[slot] += n
        drawn[slot] += held

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    _start_together(start_ns)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send(sum(drawn))


def _run_children(target: Any, args_for: Any) -> list[Any]:
    ctx = multiprocessing.get_context("fork")
    start_ns = time.monotonic_ns() + 300_000_000
    pipes, procs = [], []
    for i in range(PROCS):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=target, args=(start_ns, *args_for(i), send))
        p.start()
        send.close()
        pipes.append(recv)
        procs.append(p)
    results = []
    for recv in pipes:
        assert recv.poll(DEADLINE_S), "a hammering process did not report in time"
        results.append(recv.recv())
    for p in procs:
        p.join(DEADLINE_S)
        assert p.exitcode == 0
    return results


def _attempts(impl: ModuleType) -> int:
    return 3000 if impl.__name__ == "fastgw._native" else 400  # the twin serialises on a semaphore


def test_admits_exactly_the_capacity_without_refills(impl: ModuleType) -> None:
    attempts = _attempts(impl)
    capacity = PROCS * THREADS * attempts // 3  # two thirds of the attempts must be refused
    table = impl.BucketTable.create(64)
    h = table.bucket(b"shared", capacity, 1, 3600.0)  # no fill lands during the test
    admitted = _run_children(_hammer_takes, lambda i: (table, h, attempts, 0))
    assert sum(admitted) == capacity
    assert table.remaining(h) == 0


def test_take_give_charge_conserve_tokens(impl: ModuleType) -> None:
    attempts = _attempts(impl)
    capacity = 10**6  # large enough that give_back never hits the cap and charges never the floor
    table = impl.BucketTable.create(64)
    h = table.bucket(b"shared", capacity, 1, 3600.0)
    drawn = _run_children(_hammer_mixed, lambda i: (table, h, attempts, i))
    assert sum(drawn) > 0
    assert table.remaining(h) == capacity - sum(drawn)


def test_refills_over_a_window_never_over_admit(impl: ModuleType) -> None:
    capacity, per_fill, interval_ns = 20, 10, 50_000_000
    table = impl.BucketTable.create(64)
    base = time.monotonic_ns()
    h = table.bucket(b"shared", capacity, per_fill, interval_ns / 1e9, base)
    window_end = base + 16 * interval_ns
    admitted = sum(_run_children(_hammer_takes, lambda i: (table, h, 0, window_end)))
    fills = (time.monotonic_ns() - base) // interval_ns
    assert admitted <= capacity + per_fill * fills
    assert admitted >= capacity + per_fill * 3  # refills did land while the processes were hammering


def _insert_keys(start_ns: int, table: Any, keys: list[bytes], seed: int, out: Connection) -> None:
    order = list(range(len(keys)))
    random.Random(seed).shuffle(order)
    handles = [0] * len(keys)
    _start_together(start_ns)
    for i in order:
        handles[i] = table.bucket(keys[i], 10, 1, 60.0)
    out.send(handles)


def test_concurrent_inserts_of_the_same_keys_agree(impl: ModuleType) -> None:
    """Workers creating the same dynamic buckets at once get one slot per key, the same everywhere."""
    keys = [f"user-{i}".encode() for i in range(3000)]
    table = impl.BucketTable.create(4096)
    results = _run_children(_insert_keys, lambda i: (table, keys, i))
    assert all(r == results[0] for r in results)
    assert len(set(results[0])) == len(keys)
    assert table.used == len(keys)
    assert [table.bucket(k, 10, 1, 60.0) for k in keys] == results[0]
