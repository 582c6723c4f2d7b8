"""Random operation sequences on an explicit clock: both implementations agree with a naive token
bucket (refill applied at each access) step by step."""

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw import native

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
        if model.tokens < max_tokens:
            wait = (T0 + (model.epoch + 1) * interval_ns - now) / 1e9
            assert [t.time_to_refill(h, now) for (t, _), h in zip(tables, handles, strict=True)] == [
                wait,
                wait,
            ]
