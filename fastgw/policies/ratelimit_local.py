"""localRateLimit: token buckets shared by every worker of this instance (shared memory).

agentgateway semantics: a list of buckets that must all pass. `type: requests` takes one token per
request. `type: tokens` admits a request while the bucket is not empty and, once the response is
done, charges the LLM tokens it used (input + output), saturating at zero — so a token budget is
enforced on the request after the one that exhausted it. Rejections are 429 `rate limit exceeded`
with `x-ratelimit-limit/-remaining/-reset` and `retry-after`; admitted responses carry the most
constrained bucket's `x-ratelimit-*` headers.

`x-ratelimit-reset` is agentgateway's "seconds until next refill": fills land every fillInterval
from the bucket's creation, so it is the seconds to the next of them, rounded up (never 0).
`retry-after` is the seconds until every bucket has the tokens the denied request needs, rounded up
(left out when a bucket can never hold that many).

The buckets live in one table per instance (`config.localRateLimit.maxBuckets` slots). Each worker
sweeps part of it once a second: a bucket that has been full for a while is what a new bucket
would be, so its slot is freed and the bucket made again on its next use. When a bucket cannot get
a slot (the table holds that many buckets that are not full), `config.localRateLimit.failureMode`
decides, and the decision is counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from fastgw.errors import RateLimited
from fastgw.http.headers import Headers
from fastgw.native import BucketHandle, BucketTable, bucket_key
from fastgw.native_errors import BucketTableFull
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import LocalRateLimit as LocalRateLimitSpec
    from fastgw.context import RequestContext
    from fastgw.telemetry.metrics import Metrics

#: a full bucket is reclaimed by the periodic sweep once it has been full this long: long enough
#: that a bucket in steady use is not freed and made again between two requests
RECLAIM_IDLE_S: Final = 1.0
#: slots one worker's sweep looks at each second (at least; a sixteenth of a larger table), so a
#: few workers walk a default table in a second or two
SWEEP_SLOTS: Final = 4096


@dataclass(frozen=True, slots=True)
class Bucket:
    handle: BucketHandle  # per process: found again after its slot was reclaimed
    max_tokens: int
    tokens: bool  # `type: tokens`


@dataclass(frozen=True, slots=True)
class LocalRateLimit:
    name = "localRateLimit"
    table: BucketTable
    buckets: tuple[Bucket, ...]
    #: `config.localRateLimit.failureMode: failOpen`: a bucket without a slot does not limit
    fail_open: bool = False
    has_tokens: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_tokens", any(b.tokens for b in self.buckets))

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        table = self.table
        taken: list[Bucket] = []
        for b in self.buckets:
            try:
                ok = table.remaining(b.handle) > 0 if b.tokens else table.try_take(b.handle, 1)
            except BucketTableFull:
                if self._without_slot(ctx.worker.metrics):
                    continue
                self._give_back(taken, 1)
                raise RateLimited() from None  # no bucket, so no x-ratelimit-* to tell
            if not ok:
                self._give_back(taken, 1)
                raise self._rejected(b, 1, 1)
            if not b.tokens:
                taken.append(b)
        ctx.add_response_headers(self._headers(self._tightest()))
        if self.has_tokens:
            settle = _Settlement(self, ctx.worker.metrics)
            ctx.add_finish_hook(settle)
            ctx.reserve_tokens = settle.reserve
        return None

    def take_all(self, n: int, metrics: Metrics) -> None:
        """Withdraw n from every tokens bucket, or from none (429)."""
        table = self.table
        taken: list[Bucket] = []
        for b in self.buckets:
            if not b.tokens:
                continue
            try:
                ok = table.try_take(b.handle, n)
            except BucketTableFull:
                if self._without_slot(metrics):
                    continue
                self._give_back(taken, n)
                raise RateLimited() from None
            if not ok:
                self._give_back(taken, n)
                raise self._rejected(b, n, 0)
            taken.append(b)

    def settle(self, used: int, reserved: int, metrics: Metrics) -> None:
        """Charge what the response used beyond the reservation (saturating at zero, as
        agentgateway does), or give back what was reserved and not used."""
        delta = used - reserved
        for b in self.buckets:
            if b.tokens:
                if delta > 0:
                    try:
                        self.table.charge(b.handle, delta, 0)
                    except BucketTableFull:
                        metrics.rate_limit_table_full(allowed=True)  # the request is over
                elif delta < 0:
                    self.table.give_back(b.handle, -delta)

    def _give_back(self, taken: list[Bucket], n: int) -> None:
        for t in taken:
            self.table.give_back(t.handle, n)

    def _without_slot(self, metrics: Metrics) -> bool:
        """A bucket that could not get a slot: the configured decision, counted."""
        metrics.rate_limit_table_full(allowed=self.fail_open)
        return self.fail_open

    def _tightest(self) -> Bucket:
        buckets = self.buckets
        if len(buckets) == 1:
            return buckets[0]
        table = self.table
        return min(buckets, key=lambda b: table.remaining(b.handle) / b.max_tokens)

    def _headers(self, b: Bucket, now: int | None = None) -> Headers:
        table = self.table
        remaining = max(0, table.remaining(b.handle, now))
        # > 0: the next fill is always ahead (rounded up, never 0)
        reset = math.ceil(table.time_to_refill(b.handle, now))
        return [
            (b"x-ratelimit-limit", str(b.max_tokens).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]

    def _rejected(self, denied: Bucket, tokens_need: int, requests_need: int) -> RateLimited:
        """The 429 for a request `denied` turned away: that bucket's x-ratelimit-*, and retry-after
        from every bucket (what each needs for this request: `tokens_need` from a tokens bucket,
        `requests_need` from a requests one), all at one instant."""
        table = self.table
        now = time.monotonic_ns()
        headers = self._headers(denied, now)
        wait = max(table.time_until(b.handle, tokens_need if b.tokens else requests_need, now) for b in self.buckets)
        if wait != math.inf:
            # RFC 9110 §10.2.3: delay-seconds; at least 1 (a fill may have landed since the denial)
            headers.append((b"retry-after", str(max(1, math.ceil(wait))).encode()))
        return RateLimited(headers=headers)


class _Settlement:
    """One request's token accounting: an optional up-front reservation, settled at finish."""

    __slots__ = ("limit", "metrics", "reserved")

    def __init__(self, limit: LocalRateLimit, metrics: Metrics) -> None:
        self.limit = limit
        self.metrics = metrics
        self.reserved = 0

    def reserve(self, n: int) -> None:
        if n > 0:
            self.limit.take_all(n, self.metrics)
            self.reserved += n

    def __call__(self, ctx: RequestContext) -> None:
        usage = ctx.usage
        used = usage.input_tokens + usage.output_tokens if usage is not None else 0
        if used > 0 or self.reserved:
            self.limit.settle(used, self.reserved, self.metrics)


class SharedBuckets:
    """The instance's bucket table: made by the first config load (in the supervisor, before any
    fork) with that config's size, then kept by every reload so that limits survive reloads."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: BucketTable | None = None

    def get(self, slots: int) -> BucketTable:
        if self.table is None:
            self.table = BucketTable.create(slots)
        return self.table


def sweep(table: BucketTable) -> int:
    """A worker's periodic share of reclaiming idle full buckets (see RECLAIM_IDLE_S)."""
    if table.used == 0:  # nothing to reclaim; an instance without limits never touches the table
        return 0
    return table.sweep(max(SWEEP_SLOTS, table.slots // 16), RECLAIM_IDLE_S)


def build(specs: list[LocalRateLimitSpec], site: Site) -> LocalRateLimit | None:
    if site.buckets is None:
        site.error("no rate-limit table to hold the buckets")
        return None
    buckets = []
    for i, spec in enumerate(specs):
        key = bucket_key(b"localRateLimit", site.identity.encode(), str(i).encode())
        try:
            # found (or made) in the table on first use in each worker; a reload's same key and
            # spec find the same bucket, so limits are not reset
            h = BucketHandle(key, spec.max_tokens, spec.tokens_per_fill, spec.fill_interval)
        except ValueError as exc:
            site.errors.append(f"{site.path}[{i}]: {exc}")
            continue
        buckets.append(Bucket(handle=h, max_tokens=spec.max_tokens, tokens=spec.type == "tokens"))
    return LocalRateLimit(site.buckets, tuple(buckets), fail_open=site.fail_open) if specs else None


KIND: Final[PolicyKind[list[LocalRateLimitSpec]]] = PolicyKind("localRateLimit", lambda p: p.local_rate_limit, build)
