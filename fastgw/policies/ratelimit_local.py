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

_INPUT = "gen_ai.usage.input_tokens"
_OUTPUT = "gen_ai.usage.output_tokens"


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
        ctx.extra_response_headers += self._headers(self._tightest(), rejected=False)
        if any(b.tokens for b in self.buckets):
            ctx.finish_hooks.append(self._settle)
        return None

    def _settle(self, ctx: RequestContext) -> None:
        """Charge the tokens the response used (agentgateway: saturating at zero)."""
        fields = ctx.log_fields or {}
        used = int(fields.get(_INPUT, 0) or 0) + int(fields.get(_OUTPUT, 0) or 0)  # type: ignore[call-overload]
        if used <= 0:
            return
        for b in self.buckets:
            if b.tokens:
                self.table.charge(b.handle, used, 0)

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
