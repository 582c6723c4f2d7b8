"""Pure-Python twin of the shared-memory token buckets (native/bucket_core.h, native/buckets.c).

Same region layout, same hashing, same arithmetic. Python has no compare-and-swap on shared memory,
so every operation runs under a process-shared semaphore (multiprocessing.Lock) created with the
table; that makes the twin correct across forked processes and threads, and slow. A twin and a C
table must not operate on one region at the same time: the C side does not take the semaphore.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import operator
import os
import struct
import time
from typing import Final

from fastgw.native_errors import BucketTableFull

MAGIC: Final = 0x3130544B42574746  # b"FGWBKT01" read as a little-endian u64
VERSION: Final = 1
HEADER: Final = struct.Struct("=QQQQQ24x")  # magic, version, nslots, seed, used
SLOT: Final = struct.Struct("=QQqqqqIIq64s")  # see fgw_bkt_slot
SLOT_STATE: Final = struct.Struct("=Q")
VCLOCK: Final = struct.Struct("=q")
VCLOCK_OFFSET: Final = 56
KEY_MAX: Final = 64
MAX_SLOTS: Final = 1 << 24
AMOUNT_MAX: Final = 1 << 53
CLOCK_MAX: Final = 1 << 62
EMPTY, WRITING, READY = 0, 1, 2
_MASK: Final = (1 << 64) - 1


def region_size(slots: int) -> int:
    return HEADER.size + slots * SLOT.size


def key_hash(seed: int, key: bytes) -> int:
    h = 0xCBF29CE484222325 ^ seed
    for b in key:
        h = ((h ^ b) * 0x100000001B3) & _MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & _MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & _MASK
    return h ^ (h >> 31)


def _amount(value: int, what: str, lo: int, hi: int) -> int:
    v = operator.index(value)
    if not lo <= v <= hi:
        raise ValueError(f"{what} must be in [{lo}, {hi}]")
    return v


class _Slot:
    """An unpacked READY slot: the immutable spec and where its vclock lives."""

    __slots__ = ("base_ns", "interval_ns", "max_tokens", "offset", "tokens_per_fill")

    def __init__(self, offset: int, max_tokens: int, tokens_per_fill: int, interval_ns: int, base_ns: int):
        self.offset = offset
        self.max_tokens = max_tokens
        self.tokens_per_fill = tokens_per_fill
        self.interval_ns = interval_ns
        self.base_ns = base_ns

    def filled(self, now_ns: int) -> tuple[int, int]:
        epoch = (now_ns - self.base_ns) // self.interval_ns if now_ns > self.base_ns else 0
        return epoch, epoch * self.tokens_per_fill

    def tokens(self, filled: int, vclock: int) -> int:
        return min(self.max_tokens, filled - vclock)


class BucketTable:
    """Token buckets in a shared region; see fastgw.native.BucketTable for the contract."""

    __slots__ = ("_buf", "_lock", "_nslots", "_region", "_seed")

    def __init__(self, buffer: mmap.mmap | bytearray | memoryview) -> None:
        buf = memoryview(buffer).cast("B")
        if buf.readonly:
            raise TypeError("bucket region must be writable")
        if len(buf) < HEADER.size:
            raise ValueError("buffer is not a formatted bucket region (see BucketTable.create)")
        magic, version, nslots, seed, _ = HEADER.unpack_from(buf)
        if magic != MAGIC or version != VERSION or not 0 < nslots <= MAX_SLOTS or len(buf) < region_size(nslots):
            raise ValueError("buffer is not a formatted bucket region (see BucketTable.create)")
        self._region = buffer
        self._buf = buf
        self._nslots: int = nslots
        self._seed: int = seed
        # the fork context unlinks the semaphore at once: no name to leak, no resource tracker process
        self._lock = multiprocessing.get_context("fork").Lock()

    @classmethod
    def create(cls, slots: int, seed: int | None = None) -> BucketTable:
        slots = _amount(slots, "slots", 1, MAX_SLOTS)
        seed = int.from_bytes(os.urandom(8), "little") if seed is None else seed & _MASK
        region = mmap.mmap(-1, region_size(slots))  # anonymous, MAP_SHARED: forks share it
        HEADER.pack_into(region, 0, MAGIC, VERSION, slots, seed, 0)
        return cls(region)

    @property
    def region(self) -> mmap.mmap | bytearray | memoryview:
        return self._region

    @property
    def slots(self) -> int:
        return self._nslots

    @property
    def used(self) -> int:
        return int(HEADER.unpack_from(self._buf)[4])

    def bucket(
        self,
        key: bytes,
        max_tokens: int,
        tokens_per_fill: int,
        fill_interval_s: float,
        now_ns: int | None = None,
    ) -> int:
        if not isinstance(key, bytes):
            raise TypeError("bucket key must be bytes")
        if len(key) > KEY_MAX:
            raise ValueError(f"bucket key is {len(key)} bytes, the limit is {KEY_MAX} (digest longer keys)")
        max_tokens = _amount(max_tokens, "max_tokens", 1, AMOUNT_MAX)
        tokens_per_fill = _amount(tokens_per_fill, "tokens_per_fill", 1, AMOUNT_MAX)
        ns = math.floor(float(fill_interval_s) * 1e9 + 0.5) if math.isfinite(fill_interval_s) else 0
        if not 1 <= ns <= 4e18:
            raise ValueError("fill_interval_s must be between 1ns and ~126 years")
        if tokens_per_fill > ns:
            raise ValueError("tokens_per_fill must not exceed one token per nanosecond of fill_interval")
        h = key_hash(self._seed, key)
        now = self._now(now_ns)
        with self._lock:
            for probe in range(self._nslots):
                i = (h + probe) % self._nslots
                off = HEADER.size + i * SLOT.size
                state, shash, smax, spf, sint, _, klen, _, _, skey = SLOT.unpack_from(self._buf, off)
                if state == EMPTY:
                    SLOT.pack_into(
                        self._buf, off, READY, h, max_tokens, tokens_per_fill, ns, now,
                        len(key), 0, -max_tokens, key,
                    )  # fmt: skip
                    HEADER.pack_into(self._buf, 0, MAGIC, VERSION, self._nslots, self._seed, self.used + 1)
                    return i
                if (shash, smax, spf, sint, skey[:klen]) == (h, max_tokens, tokens_per_fill, ns, key):
                    return i
        raise BucketTableFull(f"all {self._nslots} bucket slots are taken")

    def _slot(self, h: int) -> _Slot:
        i = operator.index(h)
        if not 0 <= i < self._nslots:
            raise ValueError("bucket handle out of range")
        off = HEADER.size + i * SLOT.size
        state, _, smax, spf, sint, sbase, _, _, _, _ = SLOT.unpack_from(self._buf, off)
        if state != READY:
            raise ValueError("bucket handle does not name a bucket")
        return _Slot(off + VCLOCK_OFFSET, smax, spf, sint, sbase)

    def _vclock(self, s: _Slot) -> int:
        return int(VCLOCK.unpack_from(self._buf, s.offset)[0])

    def _store(self, s: _Slot, filled: int, level: int) -> None:
        VCLOCK.pack_into(self._buf, s.offset, filled - level)

    @staticmethod
    def _now(now_ns: int | None) -> int:
        return time.monotonic_ns() if now_ns is None else _amount(now_ns, "now_ns", 0, CLOCK_MAX)

    def try_take(self, h: int, n: int = 1, now_ns: int | None = None) -> bool:
        s = self._slot(h)
        n = _amount(n, "n", 0, AMOUNT_MAX)
        _, filled = s.filled(self._now(now_ns))
        with self._lock:
            tok = s.tokens(filled, self._vclock(s))
            if tok < n:
                return False
            self._store(s, filled, tok - n)
            return True

    def give_back(self, h: int, n: int, now_ns: int | None = None) -> None:
        s = self._slot(h)
        n = _amount(n, "n", 0, AMOUNT_MAX)
        _, filled = s.filled(self._now(now_ns))
        with self._lock:
            self._store(s, filled, min(s.max_tokens, s.tokens(filled, self._vclock(s)) + n))

    def charge(self, h: int, n: int, floor: int, now_ns: int | None = None) -> int:
        s = self._slot(h)
        n = _amount(n, "n", 0, AMOUNT_MAX)
        floor = _amount(floor, "floor", -AMOUNT_MAX, 0)
        _, filled = s.filled(self._now(now_ns))
        with self._lock:
            tok = s.tokens(filled, self._vclock(s))
            left = tok - n
            if left < floor:
                left = min(tok, floor)
            self._store(s, filled, left)
            return left

    def remaining(self, h: int, now_ns: int | None = None) -> int:
        s = self._slot(h)
        _, filled = s.filled(self._now(now_ns))
        with self._lock:
            return s.tokens(filled, self._vclock(s))

    def time_to_refill(self, h: int, now_ns: int | None = None) -> float:
        s = self._slot(h)
        now = self._now(now_ns)
        epoch, filled = s.filled(now)
        with self._lock:
            tok = s.tokens(filled, self._vclock(s))
        if tok >= s.max_tokens:
            return 0.0
        return (s.base_ns + (epoch + 1) * s.interval_ns - max(now, s.base_ns)) / 1e9

    def time_until(self, h: int, n: int, now_ns: int | None = None) -> float:
        s = self._slot(h)
        n = _amount(n, "n", 0, AMOUNT_MAX)
        now = self._now(now_ns)
        epoch, filled = s.filled(now)
        with self._lock:
            tok = s.tokens(filled, self._vclock(s))
        if tok >= n:
            return 0.0
        if n > s.max_tokens:
            return math.inf
        fills = -((tok - n) // s.tokens_per_fill)
        return (s.base_ns + (epoch + fills) * s.interval_ns - max(now, s.base_ns)) / 1e9

    def limits(self, h: int) -> tuple[int, int, float]:
        s = self._slot(h)
        return s.max_tokens, s.tokens_per_fill, s.interval_ns / 1e9
