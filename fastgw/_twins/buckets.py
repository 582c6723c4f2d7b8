"""Pure-Python twin of the shared-memory token buckets (native/bucket_core.h, native/buckets.c).

Same region layout, same hashing, same table and reclaim rules, same arithmetic. Python has no
compare-and-swap on shared memory, so every operation runs under a process-shared semaphore
(multiprocessing.Lock) created with the table; that makes the twin correct across forked processes
and threads (no holder counts or structure lock are needed under it), and slow. A twin and a C
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

MAGIC: Final = 0x3230544B42574746  # b"FGWBKT02" read as a little-endian u64
VERSION: Final = 2
# magic, version, nslots, seed | lock, used, cursor, reclaimed (see fgw_bkt_header)
HEADER: Final = struct.Struct("=QQQQ32xQQQQ32x")
SLOT: Final = struct.Struct("=QQqqqqIIq64s")  # see fgw_bkt_slot
WORD: Final = struct.Struct("=Q")
VCLOCK: Final = struct.Struct("=q")
BASE_OFFSET: Final = 40
VCLOCK_OFFSET: Final = 56
USED_OFFSET: Final = 72
CURSOR_OFFSET: Final = 80
RECLAIMED_OFFSET: Final = 88
KEY_MAX: Final = 64
MAX_SLOTS: Final = 1 << 24
AMOUNT_MAX: Final = 1 << 53
CLOCK_MAX: Final = 1 << 62
EMPTY, WRITING, READY, RECLAIMING, FREE = 0, 1, 2, 3, 4
STATE_BITS: Final = 7
HOLDERS: Final = ((1 << 21) - 1) << 3
GEN_SHIFT: Final = 24
GEN_ONE: Final = 1 << GEN_SHIFT
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


def _ns(seconds: float, what: str, lo_ns: int) -> int:
    s = float(seconds)
    ns = math.floor(s * 1e9 + 0.5) if math.isfinite(s) else -1
    if not lo_ns <= ns <= 4e18:
        raise ValueError(f"{what} must be between {'1ns' if lo_ns else '0'} and ~126 years")
    return ns


class BucketHandle:
    """A bucket's identity (key, spec) and where it was last found; see fastgw.native."""

    __slots__ = ("_gen", "_index", "_key", "interval_ns", "max_tokens", "tokens_per_fill")

    def __init__(self, key: bytes, max_tokens: int, tokens_per_fill: int, fill_interval_s: float) -> None:
        if not isinstance(key, bytes):
            raise TypeError("bucket key must be bytes")
        if len(key) > KEY_MAX:
            raise ValueError(f"bucket key is {len(key)} bytes, the limit is {KEY_MAX} (digest longer keys)")
        self.max_tokens = _amount(max_tokens, "max_tokens", 1, AMOUNT_MAX)
        self.tokens_per_fill = _amount(tokens_per_fill, "tokens_per_fill", 1, AMOUNT_MAX)
        self.interval_ns = _ns(fill_interval_s, "fill_interval_s", 1)
        if self.tokens_per_fill > self.interval_ns:
            raise ValueError("tokens_per_fill must not exceed one token per nanosecond of fill_interval")
        self._key = key
        self._index = -1
        self._gen = 0

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def index(self) -> int:
        return self._index

    @property
    def generation(self) -> int:
        return self._gen

    def __repr__(self) -> str:
        return f"<BucketHandle index={self._index} generation={self._gen}>"


class _Bucket:
    """The arithmetic's view of one bucket: spec, fill epochs' start, and where vclock lives."""

    __slots__ = ("base_ns", "interval_ns", "max_tokens", "offset", "tokens_per_fill")

    def __init__(self, h: BucketHandle, base_ns: int, offset: int) -> None:
        self.max_tokens = h.max_tokens
        self.tokens_per_fill = h.tokens_per_fill
        self.interval_ns = h.interval_ns
        self.base_ns = base_ns
        self.offset = offset  # of vclock; -1 for a key without a bucket (read as a new one)

    def filled(self, now_ns: int) -> tuple[int, int]:
        epoch = (now_ns - self.base_ns) // self.interval_ns if now_ns > self.base_ns else 0
        return epoch, epoch * self.tokens_per_fill

    def tokens(self, filled: int, vclock: int) -> int:
        return min(self.max_tokens, filled - vclock)

    def seconds_to_epoch(self, epoch: int, now_ns: int) -> float:
        return (self.base_ns + epoch * self.interval_ns - max(now_ns, self.base_ns)) / 1e9


def _full_for(max_tokens: int, per_fill: int, interval_ns: int, base_ns: int, v: int, idle_ns: int, now: int) -> bool:
    """fgw_bkt_full_for: full now, and since the first epoch whose fills reached max for idle_ns."""
    epoch = (now - base_ns) // interval_ns if now > base_ns else 0
    if epoch * per_fill - v < max_tokens:
        return False
    if idle_ns <= 0:
        return True
    need = max_tokens + v
    first = 0 if need <= 0 else -(-need // per_fill)
    return now - (base_ns + first * interval_ns) >= idle_ns


class BucketTable:
    """Token buckets in a shared region; see fastgw.native.BucketTable for the contract."""

    __slots__ = ("_buf", "_lock", "_nslots", "_region", "_seed")

    def __init__(self, buffer: mmap.mmap | bytearray | memoryview) -> None:
        buf = memoryview(buffer).cast("B")
        if buf.readonly:
            raise TypeError("bucket region must be writable")
        if len(buf) < HEADER.size:
            raise ValueError("buffer is not a formatted bucket region (see BucketTable.create)")
        magic, version, nslots, seed, *_ = HEADER.unpack_from(buf)
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
        HEADER.pack_into(region, 0, MAGIC, VERSION, slots, seed, 0, 0, 0, 0)
        return cls(region)

    @property
    def region(self) -> mmap.mmap | bytearray | memoryview:
        return self._region

    @property
    def slots(self) -> int:
        return self._nslots

    @property
    def used(self) -> int:
        return self._word(USED_OFFSET)

    @property
    def reclaimed(self) -> int:
        return self._word(RECLAIMED_OFFSET)

    # -- the table (every method below runs under self._lock) -------------------------------------

    def _word(self, offset: int) -> int:
        return int(WORD.unpack_from(self._buf, offset)[0])

    def _add(self, offset: int, n: int) -> None:
        WORD.pack_into(self._buf, offset, (self._word(offset) + n) & _MASK)

    def _off(self, i: int) -> int:
        return HEADER.size + i * SLOT.size

    def _ctrl(self, i: int) -> int:
        return self._word(self._off(i))

    def _set_state(self, i: int, state: int, gen_add: int = 0) -> None:
        c = self._ctrl(i)
        WORD.pack_into(self._buf, self._off(i), (((c & ~STATE_BITS) + gen_add) & _MASK) | state)

    def _slot_shape(self, i: int) -> tuple[int, int, int, int, int]:
        """max_tokens, tokens_per_fill, interval_ns, base_ns, vclock"""
        _, _, smax, spf, sint, sbase, _, _, v, _ = SLOT.unpack_from(self._buf, self._off(i))
        return smax, spf, sint, sbase, v

    def _matches(self, i: int, h: BucketHandle, hash_: int) -> bool:
        _, shash, smax, spf, sint, _, klen, _, _, skey = SLOT.unpack_from(self._buf, self._off(i))
        return (shash, klen, smax, spf, sint, skey[:klen]) == (
            hash_,
            len(h.key),
            h.max_tokens,
            h.tokens_per_fill,
            h.interval_ns,
            h.key,
        )

    def _reclaim(self, i: int, idle_ns: int, now: int) -> int:
        c = self._ctrl(i)
        if c & STATE_BITS != READY or c & HOLDERS:
            return 0
        if not _full_for(*self._slot_shape(i), idle_ns, now):
            return 0
        self._set_state(i, FREE, GEN_ONE)
        self._add(USED_OFFSET, -1)
        self._add(RECLAIMED_OFFSET, 1)
        return 1

    def _repair(self, i: int, now: int) -> int:
        """A slot a dead C lock holder left WRITING or RECLAIMING (fgw_bkt_repair)."""
        state = self._ctrl(i) & STATE_BITS
        if state == WRITING:
            self._set_state(i, FREE, GEN_ONE)
            self._add(USED_OFFSET, -1)
        elif state == RECLAIMING:
            self._set_state(i, READY)
            return self._reclaim(i, 0, now)
        return 0

    def _sweep_locked(self, start: int, count: int, idle_ns: int, now: int) -> int:
        freed = 0
        for k in range(count):
            i = (start + k) % self._nslots
            state = self._ctrl(i) & STATE_BITS
            if state == READY:
                freed += self._reclaim(i, idle_ns, now)
            elif state in (WRITING, RECLAIMING):
                freed += self._repair(i, now)
        return freed

    def _trim(self) -> None:
        """FREE slots on no READY slot's probe chain become EMPTY again (fgw_bkt_trim)."""
        n = self._nslots
        reach = -1
        for step in range(2 * n):
            i = (2 * n - 1 - step) % n
            j = (i + 1) % n
            reach -= 1
            if self._ctrl(j) & STATE_BITS == READY:
                home = int(WORD.unpack_from(self._buf, self._off(j) + 8)[0]) % n
                reach = max(reach, (j - home) % n - 1)
            if step >= n and reach < 0 and self._ctrl(i) & STATE_BITS == FREE:
                self._set_state(i, EMPTY)

    def _claim(self, i: int, h: BucketHandle, hash_: int, now: int) -> None:
        self._set_state(i, WRITING)
        self._add(USED_OFFSET, 1)
        off = self._off(i)
        ctrl = self._ctrl(i)
        SLOT.pack_into(
            self._buf, off, ctrl, hash_, h.max_tokens, h.tokens_per_fill, h.interval_ns, now,
            len(h.key), 0, -h.max_tokens, h.key,
        )  # fmt: skip
        self._set_state(i, READY)
        h._index = i
        h._gen = self._ctrl(i) >> GEN_SHIFT

    def _place(self, h: BucketHandle, create: bool, now: int) -> bool:
        """fgw_bkt_place_locked: True when h names its bucket (found or made), False when it has
        none and create is False; BucketTableFull when no slot is left."""
        n = self._nslots
        hash_ = key_hash(self._seed, h.key)
        for attempt in range(2):
            cand = -1
            for probe in range(n):
                i = (hash_ + probe) % n
                state = self._ctrl(i) & STATE_BITS
                if state in (WRITING, RECLAIMING):
                    self._repair(i, now)
                    state = self._ctrl(i) & STATE_BITS
                if state == EMPTY:
                    if cand < 0:
                        cand = i
                    break
                if state == FREE:
                    if cand < 0:
                        cand = i
                elif self._matches(i, h, hash_):
                    h._index = i
                    h._gen = self._ctrl(i) >> GEN_SHIFT
                    return True
            if not create:
                return False
            if cand >= 0:
                self._claim(cand, h, hash_, now)
                return True
            if attempt > 0 or self._sweep_locked(0, n, 0, now) == 0:
                break
        raise BucketTableFull(f"all {n} bucket slots are taken")

    def _named(self, h: BucketHandle) -> bool:
        i = h._index
        if not 0 <= i < self._nslots:
            return False
        c = self._ctrl(i)
        return c & STATE_BITS == READY and c >> GEN_SHIFT == h._gen

    def _bucket(self, h: BucketHandle, create: bool, now: int) -> _Bucket | None:
        """h's bucket, found again when its slot was reclaimed; None for a key without one."""
        if not isinstance(h, BucketHandle):
            raise TypeError(f"expected a BucketHandle, not {type(h).__name__}")
        if not self._named(h) and not self._place(h, create, now):
            return None
        off = self._off(h._index)
        return _Bucket(h, int(VCLOCK.unpack_from(self._buf, off + BASE_OFFSET)[0]), off + VCLOCK_OFFSET)

    def _view(self, h: BucketHandle, now: int) -> tuple[_Bucket, int]:
        """For a read: the bucket and its vclock; a key without a bucket reads as a new one."""
        b = self._bucket(h, False, now)
        if b is None:
            return _Bucket(h, now, -1), -h.max_tokens
        return b, self._vclock(b)

    def _vclock(self, b: _Bucket) -> int:
        return int(VCLOCK.unpack_from(self._buf, b.offset)[0])

    def _store(self, b: _Bucket, filled: int, level: int) -> None:
        VCLOCK.pack_into(self._buf, b.offset, filled - level)

    @staticmethod
    def _now(now_ns: int | None) -> int:
        return time.monotonic_ns() if now_ns is None else _amount(now_ns, "now_ns", 0, CLOCK_MAX)

    # -- operations -------------------------------------------------------------------------------

    def bucket(
        self,
        key: bytes,
        max_tokens: int,
        tokens_per_fill: int,
        fill_interval_s: float,
        now_ns: int | None = None,
    ) -> BucketHandle:
        now = self._now(now_ns)
        h = BucketHandle(key, max_tokens, tokens_per_fill, fill_interval_s)
        with self._lock:
            self._place(h, True, now)
        return h

    def try_take(self, h: BucketHandle, n: int = 1, now_ns: int | None = None) -> bool:
        n = _amount(n, "n", 0, AMOUNT_MAX)
        now = self._now(now_ns)
        if n == 0:  # takes nothing, so makes no bucket: fits unless the bucket is in debt
            return self.remaining(h, now) >= 0
        with self._lock:
            b = self._bucket(h, True, now)
            assert b is not None
            _, filled = b.filled(now)
            tok = b.tokens(filled, self._vclock(b))
            if tok < n:
                return False
            self._store(b, filled, tok - n)
            return True

    def give_back(self, h: BucketHandle, n: int, now_ns: int | None = None) -> None:
        n = _amount(n, "n", 0, AMOUNT_MAX)
        now = self._now(now_ns)
        with self._lock:
            b = self._bucket(h, False, now)  # a key without a bucket is full already
            if b is None:
                return
            _, filled = b.filled(now)
            tok = b.tokens(filled, self._vclock(b))
            if n and tok < b.max_tokens:
                self._store(b, filled, min(b.max_tokens, tok + n))

    def charge(self, h: BucketHandle, n: int, floor: int, now_ns: int | None = None) -> int:
        n = _amount(n, "n", 0, AMOUNT_MAX)
        floor = _amount(floor, "floor", -AMOUNT_MAX, 0)
        now = self._now(now_ns)
        with self._lock:
            b = self._bucket(h, n > 0, now)
            if b is None:
                return h.max_tokens
            _, filled = b.filled(now)
            tok = b.tokens(filled, self._vclock(b))
            left = tok - n
            if left < floor:
                left = min(tok, floor)
            if left != tok:
                self._store(b, filled, left)
            return left

    def remaining(self, h: BucketHandle, now_ns: int | None = None) -> int:
        now = self._now(now_ns)
        with self._lock:
            b, v = self._view(h, now)
        return b.tokens(b.filled(now)[1], v)

    def time_to_refill(self, h: BucketHandle, now_ns: int | None = None) -> float:
        now = self._now(now_ns)
        with self._lock:
            b, _ = self._view(h, now)
        return b.seconds_to_epoch(b.filled(now)[0] + 1, now)

    def time_until(self, h: BucketHandle, n: int, now_ns: int | None = None) -> float:
        n = _amount(n, "n", 0, AMOUNT_MAX)
        now = self._now(now_ns)
        with self._lock:
            b, v = self._view(h, now)
        epoch, filled = b.filled(now)
        tok = b.tokens(filled, v)
        if tok >= n:
            return 0.0
        if n > b.max_tokens:
            return math.inf
        return b.seconds_to_epoch(epoch - ((tok - n) // b.tokens_per_fill), now)

    def limits(self, h: BucketHandle) -> tuple[int, int, float]:
        if not isinstance(h, BucketHandle):
            raise TypeError(f"expected a BucketHandle, not {type(h).__name__}")
        return h.max_tokens, h.tokens_per_fill, h.interval_ns / 1e9

    def sweep(self, max_slots: int | None = None, min_idle_s: float = 0.0, now_ns: int | None = None) -> int:
        n = self._nslots
        count = n if max_slots is None else min(n, _amount(max_slots, "max_slots", 0, MAX_SLOTS))
        idle = _ns(min_idle_s, "min_idle_s", 0)
        now = self._now(now_ns)
        with self._lock:
            start = self._word(CURSOR_OFFSET) % n
            freed = self._sweep_locked(start, count, idle, now)
            WORD.pack_into(self._buf, CURSOR_OFFSET, (start + count) % n)
            if start + count >= n:
                self._trim()
            return freed
