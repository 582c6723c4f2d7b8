"""localRateLimit: token buckets shared by every worker of this instance (shared memory).

agentgateway semantics: a list of buckets that must all pass. `type: requests` takes one token per
request. `type: tokens` admits a request while the bucket is not empty and, once the response is
done, charges the LLM tokens it used (input + output), saturating at zero — so a token budget is
enforced on the request after the one that exhausted it. Rejections are 429 `rate limit exceeded`
with `x-ratelimit-limit/-remaining/-reset` and `retry-after`; admitted responses carry the most
constrained bucket's `x-ratelimit-*` headers.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastgw.errors import RateLimited
from fastgw.http.headers import Headers
from fastgw.native import BucketTable

if TYPE_CHECKING:
    from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class Bucket:
    handle: int
    max_tokens: int
    tokens: bool  # `type: tokens`


@dataclass(frozen=True, slots=True)
class LocalRateLimit:
    name = "localRateLimit"
    table: BucketTable
    buckets: tuple[Bucket, ...]

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        table = self.table
        taken: list[Bucket] = []
        for b in self.buckets:
            ok = table.remaining(b.handle) > 0 if b.tokens else table.try_take(b.handle, 1)
            if not ok:
                for t in taken:
                    table.give_back(t.handle, 1)
                raise RateLimited(headers=self._headers(b, rejected=True))
            if not b.tokens:
                taken.append(b)
        ctx.add_response_headers(self._headers(self._tightest(), rejected=False))
        if any(b.tokens for b in self.buckets):
            settle = _Settlement(self)
            ctx.add_finish_hook(settle)
            ctx.reserve_tokens = settle.reserve
        return None

    def take_all(self, n: int) -> None:
        """Withdraw n from every tokens bucket, or from none (429)."""
        table = self.table
        taken: list[Bucket] = []
        for b in self.buckets:
            if not b.tokens:
                continue
            if not table.try_take(b.handle, n):
                for t in taken:
                    table.give_back(t.handle, n)
                raise RateLimited(headers=self._headers(b, rejected=True))
            taken.append(b)

    def settle(self, used: int, reserved: int) -> None:
        """Charge what the response used beyond the reservation (saturating at zero, as
        agentgateway does), or give back what was reserved and not used."""
        delta = used - reserved
        for b in self.buckets:
            if b.tokens:
                if delta > 0:
                    self.table.charge(b.handle, delta, 0)
                elif delta < 0:
                    self.table.give_back(b.handle, -delta)

    def _tightest(self) -> Bucket:
        table = self.table
        return min(self.buckets, key=lambda b: table.remaining(b.handle) / b.max_tokens)

    def _headers(self, b: Bucket, rejected: bool) -> Headers:
        table = self.table
        remaining = max(0, table.remaining(b.handle))
        reset = max(1, math.ceil(table.time_to_refill(b.handle)))
        out: Headers = [
            (b"x-ratelimit-limit", str(b.max_tokens).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if rejected:
            out.append((b"retry-after", str(reset).encode()))
        return out


class _Settlement:
    """One request's token accounting: an optional up-front reservation, settled at finish."""

    __slots__ = ("limit", "reserved")

    def __init__(self, limit: LocalRateLimit) -> None:
        self.limit = limit
        self.reserved = 0

    def reserve(self, n: int) -> None:
        if n > 0:
            self.limit.take_all(n)
            self.reserved += n

    def __call__(self, ctx: RequestContext) -> None:
        usage = ctx.usage
        used = usage.input_tokens + usage.output_tokens if usage is not None else 0
        if used > 0 or self.reserved:
            self.limit.settle(used, self.reserved)
