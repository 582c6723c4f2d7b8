"""localRateLimit's answers on a real shared table: what x-ratelimit-reset and retry-after say, and
what a request whose bucket finds the table full gets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fastgw.errors import RateLimited
from fastgw.native import BucketHandle, BucketTable
from fastgw.policies.ratelimit_local import Bucket, LocalRateLimit


class Metrics:
    """Records what the policy counts (the worker's telemetry.metrics.Metrics in production)."""

    def __init__(self) -> None:
        self.table_full: list[bool] = []

    def rate_limit_table_full(self, allowed: bool) -> None:
        self.table_full.append(allowed)


class Ctx:
    """The parts of a RequestContext the policy uses."""

    def __init__(self) -> None:
        self.worker = SimpleNamespace(metrics=Metrics())
        self.headers: list[tuple[bytes, bytes]] = []
        self.hooks: list[Any] = []
        self.reserve_tokens: Any = None
        self.usage: Any = None

    def add_response_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers += headers

    def add_finish_hook(self, hook: Any) -> None:
        self.hooks.append(hook)


def limit(table: BucketTable, *specs: tuple[str, int, int, float, bool], fail_open: bool = False) -> LocalRateLimit:
    buckets = tuple(
        Bucket(BucketHandle(key.encode(), mt, pf, interval), mt, tokens) for key, mt, pf, interval, tokens in specs
    )
    return LocalRateLimit(table, buckets, fail_open=fail_open)


def admitted(policy: LocalRateLimit) -> dict[bytes, bytes]:
    ctx = Ctx()
    assert policy.on_request(ctx) is None  # type: ignore[arg-type]
    return dict(ctx.headers)


def denied(policy: LocalRateLimit, ctx: Ctx | None = None) -> dict[bytes, bytes]:
    with pytest.raises(RateLimited) as info:
        policy.on_request(ctx or Ctx())  # type: ignore[arg-type]
    return dict(info.value.extra_headers)


def test_reset_is_the_next_fill_of_a_full_bucket_too() -> None:
    """A token budget of 1 per 100 s, full before its first call: the next fill is ~100 s away (the
    seed's `x-ratelimit-reset: 1` was the bucket being full, not a fill a second away)."""
    policy = limit(BucketTable.create(8), ("tokens", 1, 1, 100.0, True))
    headers = admitted(policy)
    assert headers[b"x-ratelimit-remaining"] == b"1"
    assert headers[b"x-ratelimit-reset"] == b"100"


def test_a_denied_request_is_told_the_next_fill_and_when_to_retry() -> None:
    policy = limit(BucketTable.create(8), ("requests", 1, 1, 100.0, False))
    assert admitted(policy)[b"x-ratelimit-reset"] == b"100"
    headers = denied(policy)
    assert headers[b"x-ratelimit-remaining"] == b"0"
    assert headers[b"x-ratelimit-reset"] == b"100"  # rounded up, never 0 while denied
    assert headers[b"retry-after"] == b"100"


def test_retry_after_waits_for_every_bucket_the_request_needs() -> None:
    """Turned away by a bucket refilling in 10 s while another one is empty for 100 s: retrying in
    10 s would be turned away again."""
    policy = limit(BucketTable.create(8), ("fast", 1, 1, 10.0, False), ("slow", 1, 1, 100.0, False))
    admitted(policy)
    headers = denied(policy)
    assert headers[b"x-ratelimit-reset"] == b"10"  # the bucket that said no
    assert headers[b"retry-after"] == b"100"


def test_a_reservation_waits_for_as_many_fills_as_it_needs() -> None:
    table = BucketTable.create(8)
    policy = limit(table, ("budget", 10, 2, 100.0, True))
    assert table.charge(policy.buckets[0].handle, 10, 0) == 0
    metrics = Metrics()
    with pytest.raises(RateLimited) as info:
        policy.take_all(6, metrics)  # type: ignore[arg-type]
    headers = dict(info.value.extra_headers)
    assert headers[b"x-ratelimit-reset"] == b"100"
    assert headers[b"retry-after"] == b"300"  # three fills of 2
    with pytest.raises(RateLimited) as info:
        policy.take_all(11, metrics)  # type: ignore[arg-type]
    headers = dict(info.value.extra_headers)
    assert b"retry-after" not in headers  # more than the bucket ever holds: waiting never helps
    assert headers[b"x-ratelimit-reset"] == b"100"


def _full_table() -> BucketTable:
    table = BucketTable.create(1)
    other = table.bucket(b"someone else", 5, 1, 3600.0)
    assert table.try_take(other)  # not full: its slot cannot be reclaimed
    return table


def test_a_full_table_fails_closed_by_default_and_counts_it() -> None:
    policy = limit(_full_table(), ("requests", 5, 1, 1.0, False))
    ctx = Ctx()
    headers = denied(policy, ctx)
    assert b"x-ratelimit-limit" not in headers and b"retry-after" not in headers  # no bucket to tell of
    assert ctx.worker.metrics.table_full == [False]


def test_a_full_table_fails_open_when_configured_and_counts_it() -> None:
    table = _full_table()
    policy = limit(table, ("a", 5, 1, 1.0, False), ("b", 1, 1, 3600.0, False), fail_open=True)
    ctx = Ctx()
    assert policy.on_request(ctx) is None  # type: ignore[arg-type]
    assert ctx.worker.metrics.table_full == [True, True]
    assert table.used == 1


def test_tokens_taken_before_a_full_table_denial_are_given_back() -> None:
    table = BucketTable.create(2)
    other = table.bucket(b"someone else", 5, 1, 3600.0)
    assert table.try_take(other)
    policy = limit(table, ("first", 3, 1, 3600.0, False), ("second", 3, 1, 3600.0, False))
    denied(policy)
    assert table.remaining(policy.buckets[0].handle) == 3
