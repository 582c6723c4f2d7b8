"""Random operation sequences on an explicit clock: both implementations agree with a naive token
bucket (refill applied at each access) step by step."""

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw import native
from fastgw.native_errors import BucketTableFull

C = native.implementation("native")
PY = native.implementation("python")
T0 = 5 * 10**12


@dataclass
class NaiveBucket:
    max_tokens: int
    per_fill: int
    interval_ns: int
    tokens: int
    epoch: int = 0

    def refill(self, now: int) -> None:
        e = (now - T0) // self.interval_ns
        if e > self.epoch:
            self.tokens = min(self.max_tokens, self.tokens + (e - self.epoch) * self.per_fill)
            self.epoch = e

    def apply(self, op: str, n: int, floor: int, now: int) -> object:
        self.refill(now)
        if op == "take":
            ok = self.tokens >= n
            if ok:
                self.tokens -= n
            return ok
        if op == "give":
            self.tokens = min(self.max_tokens, self.tokens + n)
            return None
        if op == "charge":
            left = self.tokens - n
            self.tokens = left if left >= floor else min(self.tokens, floor)
            return self.tokens
        return self.tokens  # remaining


def _real(table: Any, h: int, op: str, n: int, floor: int, now: int) -> object:
    if op == "take":
        return table.try_take(h, n, now)
    if op == "give":
        return table.give_back(h, n, now)
    if op == "charge":
        return table.charge(h, n, floor, now)
    return table.remaining(h, now)


_ops = st.lists(
    st.tuples(
        st.sampled_from(["take", "give", "charge", "remaining"]),
        st.integers(0, 40),
        st.integers(-60, 0),
        st.integers(0, 3 * 10**9),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    max_tokens=st.integers(1, 50),
    per_fill=st.integers(1, 20),
    interval_ms=st.integers(1, 2000),
    ops=_ops,
)
def test_matches_a_naive_bucket(
    max_tokens: int, per_fill: int, interval_ms: int, ops: list[tuple[str, int, int, int]]
) -> None:
    interval_ns = interval_ms * 10**6
    model = NaiveBucket(max_tokens, per_fill, interval_ns, max_tokens)
    tables = [(impl.BucketTable.create(4), impl) for impl in (C, PY)]
    handles = [t.bucket(b"k", max_tokens, per_fill, interval_ms / 1000, T0) for t, _ in tables]
    now = T0
    for op, n, floor, dt in ops:
        now += dt
        expected = model.apply(op, n, floor, now)
        for (t, _), h in zip(tables, handles, strict=True):
            assert _real(t, h, op, n, floor, now) == expected
            assert t.remaining(h, now) == model.tokens
        wait = (T0 + (model.epoch + 1) * interval_ns - now) / 1e9  # the next fill, full or not
        assert [t.time_to_refill(h, now) for (t, _), h in zip(tables, handles, strict=True)] == [wait, wait]


# ---- many keys in a small table, with reclaim -----------------------------------------------------


@dataclass
class ModelBucket:
    """A naive bucket that also knows since when it has been full (the reclaim rule's idle time)."""

    max_tokens: int
    per_fill: int
    interval_ns: int
    base: int
    tokens: int
    epoch: int = 0
    full_epoch: int = 0  # the epoch at whose start it last became full

    def refill(self, now: int) -> None:
        e = (now - self.base) // self.interval_ns if now > self.base else 0
        if e > self.epoch:
            if self.tokens < self.max_tokens:
                filled = min(self.max_tokens, self.tokens + (e - self.epoch) * self.per_fill)
                if filled == self.max_tokens:
                    self.full_epoch = self.epoch - ((self.tokens - self.max_tokens) // self.per_fill)
                self.tokens = filled
            self.epoch = e

    def set(self, tokens: int) -> None:
        if tokens == self.max_tokens and self.tokens < self.max_tokens:
            self.full_epoch = self.epoch
        self.tokens = tokens

    def idle_full(self, now: int, idle_ns: int) -> bool:
        self.refill(now)
        return self.tokens == self.max_tokens and now - (self.base + self.full_epoch * self.interval_ns) >= idle_ns


class ModelTable:
    """What the shared table promises, with no slots: reclaim is invisible except that a key without
    a bucket reads as a full one and gets a new one (fills counted afresh) when it next takes."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.live: dict[tuple[bytes, tuple[int, int, int]], ModelBucket] = {}
        self.reclaimed = 0

    def sweep(self, now: int, idle_ns: int) -> int:
        gone = [k for k, b in self.live.items() if b.idle_full(now, idle_ns)]
        for k in gone:
            del self.live[k]
        self.reclaimed += len(gone)
        return len(gone)

    def get(self, ident: tuple[bytes, tuple[int, int, int]], now: int, create: bool) -> ModelBucket | None:
        b = self.live.get(ident)
        if b is None and create:
            if len(self.live) == self.slots and self.sweep(now, 0) == 0:
                raise BucketTableFull
            mt, pf, interval = ident[1]
            b = self.live[ident] = ModelBucket(mt, pf, interval, now, mt)
        if b is not None:
            b.refill(now)
        return b

    def apply(self, ident: tuple[bytes, tuple[int, int, int]], op: str, n: int, floor: int, now: int) -> object:
        mt, _, interval = ident[1]
        if op == "take":
            b = self.get(ident, now, create=n > 0)
            tokens = mt if b is None else b.tokens
            ok = tokens >= n
            if ok and b is not None and n:
                b.set(tokens - n)
            return ok
        if op == "give":
            b = self.get(ident, now, create=False)
            if b is not None and n and b.tokens < b.max_tokens:
                b.set(min(b.max_tokens, b.tokens + n))
            return None
        if op == "charge":
            b = self.get(ident, now, create=n > 0)
            if b is None:
                return mt
            left = b.tokens - n
            if left < floor:
                left = min(b.tokens, floor)
            b.set(left)
            return left
        b = self.get(ident, now, create=False)
        if op == "remaining":
            return mt if b is None else b.tokens
        # time_to_refill: the next fill of the bucket, or of the one its next take would make
        if b is None:
            return interval / 1e9
        return (b.base + (b.epoch + 1) * b.interval_ns - max(now, b.base)) / 1e9


_SPECS = [(3, 1, 50 * 10**6), (5, 5, 200 * 10**6), (40, 7, 10**9)]
_KEYS = [b"a", b"b", b"c", b"d", b"e"]

_table_ops = st.lists(
    st.tuples(
        st.sampled_from(["take", "take", "give", "charge", "remaining", "time_to_refill", "sweep", "fresh"]),
        st.integers(0, len(_KEYS) - 1),
        st.integers(0, len(_SPECS) - 1),
        st.integers(0, 12),
        st.integers(-10, 0),
        st.sampled_from([0, 0, 10**6, 3 * 10**7, 2 * 10**8, 10**9]),
    ),
    max_size=80,
)


def _table_op(table: Any, h: Any, op: str, n: int, floor: int, now: int) -> object:
    if op == "time_to_refill":
        return table.time_to_refill(h, now)
    return _real(table, h, op, n, floor, now)


@settings(max_examples=300, deadline=None)
@given(slots=st.integers(1, 6), idle_ms=st.sampled_from([0, 40, 500]), ops=_table_ops)
def test_many_keys_with_reclaim_match_the_model(slots: int, idle_ms: int, ops: list[tuple[Any, ...]]) -> None:
    """Reclaim never changes what a bucket admits: C, twin and the model agree step by step, slot
    for slot (same seed, same probing), while sweeps free full buckets and keys come and go in a
    table smaller than the set of keys."""
    model = ModelTable(slots)
    tables = [impl.BucketTable.create(slots, 99) for impl in (C, PY)]
    handles: list[dict[tuple[bytes, tuple[int, int, int]], Any]] = [{}, {}]
    now = T0
    for op, k, s, n, floor, dt in ops:
        now += dt
        ident = (_KEYS[k], _SPECS[s])
        if op == "sweep":
            expected: object = model.sweep(now, idle_ms * 10**6)
            assert [t.sweep(None, idle_ms / 1000, now) for t in tables] == [expected, expected]
        else:
            if op == "fresh":  # a new handle (another worker's, a reload's) for the same bucket
                op = "remaining"
                for impl, hs in zip((C, PY), handles, strict=True):
                    hs[ident] = impl.BucketHandle(ident[0], ident[1][0], ident[1][1], ident[1][2] / 1e9)
            got = []
            for impl, t, hs in zip((C, PY), tables, handles, strict=True):
                h = hs.get(ident) or hs.setdefault(
                    ident, impl.BucketHandle(ident[0], ident[1][0], ident[1][1], ident[1][2] / 1e9)
                )
                try:
                    got.append(_table_op(t, h, op, n, floor, now))
                except BucketTableFull:
                    got.append(BucketTableFull)
            try:
                expected = model.apply(ident, op, n, floor, now)
            except BucketTableFull:
                expected = BucketTableFull
            assert got == [expected, expected], (op, ident)
        assert [t.used for t in tables] == [len(model.live)] * 2
        assert [t.reclaimed for t in tables] == [model.reclaimed] * 2
        placed = [{i: (h.index, h.generation) for i, h in hs.items()} for hs in handles]
        assert placed[0] == placed[1]
