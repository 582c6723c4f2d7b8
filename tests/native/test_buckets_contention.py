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

from fastgw.native_errors import BucketTableFull

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
    handles = [(0, 0)] * len(keys)
    _start_together(start_ns)
    for i in order:
        h = table.bucket(keys[i], 10, 1, 60.0)
        handles[i] = (h.index, h.generation)
    out.send(handles)


def test_concurrent_inserts_of_the_same_keys_agree(impl: ModuleType) -> None:
    """Workers creating the same dynamic buckets at once get one slot per key, the same everywhere."""
    keys = [f"user-{i}".encode() for i in range(3000)]
    table = impl.BucketTable.create(4096)
    results = _run_children(_insert_keys, lambda i: (table, keys, i))
    assert all(r == results[0] for r in results)
    assert len(set(results[0])) == len(keys)
    assert table.used == len(keys)
    assert [(h.index, h.generation) for h in (table.bucket(k, 10, 1, 60.0) for k in keys)] == results[0]


# ---- many keys, a table smaller than the set of keys, and a sweeper freeing slots all along ----

KEYS = 24
SLOTS = 24
INTERVAL_NS = 20_000_000


def _capacity(k: int) -> int:
    return 2 + k % 4  # keys of different specs share slots over time


def _take_many_keys(start_ns: int, table: Any, impl: ModuleType, until_ns: int, seed: int, out: Connection) -> None:
    """Random keys, each through this process's own handle; reports admissions per key and the
    takes that found the table full."""
    admitted = [0] * KEYS
    full = [0]

    def run(slot: int) -> None:
        rng = random.Random(seed * 100 + slot)
        handles = [impl.BucketHandle(b"key-%d" % k, _capacity(k), _capacity(k), INTERVAL_NS / 1e9) for k in range(KEYS)]
        while time.monotonic_ns() < until_ns:
            k = rng.randrange(KEYS)
            try:
                if table.try_take(handles[k], 1):
                    admitted[k] += 1
            except BucketTableFull:
                full[0] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    _start_together(start_ns)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send((admitted, full[0]))


def _sweep_all_along(start_ns: int, table: Any, impl: ModuleType, until_ns: int, seed: int, out: Connection) -> None:
    freed = 0
    _start_together(start_ns)
    while time.monotonic_ns() < until_ns:
        freed += table.sweep(7, 0.0)  # any full bucket, a few slots at a time
    out.send(([0] * KEYS, -freed))


def test_takes_on_many_keys_with_reclaim_never_over_admit(impl: ModuleType) -> None:
    """A bucket is freed only when full and no taker is inside it, and a taker whose slot went to
    another key finds or makes its own: per key, admissions never exceed what its buckets could
    give (the capacity once, then a refill per interval: a reclaimed bucket was full, so making it
    again adds nothing). The takers keep every key drained, so the bound is nearly reached."""
    table = impl.BucketTable.create(SLOTS)
    t0 = time.monotonic_ns()
    until = t0 + 300_000_000 + 1_500_000_000

    def args_for(i: int) -> tuple[Any, ...]:
        return (table, impl, until, i)

    ctx = multiprocessing.get_context("fork")
    start_ns = t0 + 300_000_000
    pipes, procs = [], []
    for i in range(PROCS + 1):
        recv, send = ctx.Pipe(duplex=False)
        target = _sweep_all_along if i == PROCS else _take_many_keys
        p = ctx.Process(target=target, args=(start_ns, *args_for(i), send))
        p.start()
        send.close()
        pipes.append(recv)
        procs.append(p)
    results = []
    for recv in pipes:
        assert recv.poll(DEADLINE_S), "a process did not report in time"
        results.append(recv.recv())
    for p in procs:
        p.join(DEADLINE_S)
        assert p.exitcode == 0
    # no bucket exists before the takers start, and a key has one bucket at a time
    window = time.monotonic_ns() - start_ns
    per_key = [sum(r[0][k] for r in results) for k in range(KEYS)]
    fills = window // INTERVAL_NS
    for k, n in enumerate(per_key):
        assert n <= _capacity(k) * (1 + fills), (k, n, fills)
    freed = -results[-1][1]
    assert freed > 0 and table.reclaimed >= freed
    assert sum(per_key) > KEYS  # buckets were made, taken from, freed and made again
    assert table.used <= SLOTS
