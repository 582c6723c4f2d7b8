"""Budgets of the API keys listed in the config (`apiKey.keys[].budgets`), kept in the instance's
shared memory: no Redis needed, one instance. Each (budget, tokens|usd) is a bucket of the
instance's table (`native.BucketTable`) that holds the whole budget and is refilled whole once per
window, counted from the key's first use (`total`: never refilled). A request is refused while a
bucket is empty; the response's tokens and cost (micro-USD) are charged after it, saturating at
empty, as `localRateLimit`'s token buckets are. Keys created at run time keep their budgets in
Redis instead (`policies/virtual_keys.py`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastgw.errors import Forbidden, RateLimited
from fastgw.native import BucketHandle, BucketTable, bucket_key
from fastgw.native_errors import BucketTableFull
from fastgw.policies.denial import _dialect
from fastgw.redis_limits.prices import PriceTable
from fastgw.redis_limits.vkeys import Exhausted

if TYPE_CHECKING:
    from fastgw.config.schema_policies import KeyBudget
    from fastgw.context import RequestContext
    from fastgw.redis_limits.vkeys import VirtualKeyStore

__all__ = ["KeyServices", "LocalBudget", "build_budgets", "enforce"]

log = logging.getLogger("fastgw.keys")

_SECONDS = {"1h": 3600.0, "1d": 86400.0, "30d": 30 * 86400.0, "total": 100 * 365 * 86400.0}


@dataclass(frozen=True, slots=True)
class KeyServices:
    """What apiKey policies share: the instance's bucket table, the price table, the Redis store."""

    table: BucketTable | None
    prices: PriceTable
    virtual: VirtualKeyStore | None = None


@dataclass(frozen=True, slots=True)
class LocalBudget:
    name: str
    window: str
    usd: bool  # the bucket counts micro-USD, else tokens
    limit: int
    handle: BucketHandle


def build_budgets(digest: bytes, specs: list[KeyBudget], path: str, errors: list[str]) -> tuple[LocalBudget, ...]:
    out = []
    for i, b in enumerate(specs):
        for usd, limit in ((False, b.tokens), (True, None if b.usd is None else round(b.usd * 1_000_000))):
            if limit is None:
                continue
            key = bucket_key(b"apiKeyBudget", digest, f"{i}:{b.window}:{'usd' if usd else 'tokens'}".encode())
            try:
                handle = BucketHandle(key, limit, limit, _SECONDS[b.window])
            except ValueError as exc:
                errors.append(f"{path}[{i}]: {exc}")
                continue
            out.append(LocalBudget(b.name or b.window, b.window, usd, limit, handle))
    return tuple(out)


def enforce(
    ctx: RequestContext, budgets: tuple[LocalBudget, ...], services: KeyServices, label: str, llm: bool
) -> None:
    """Refuse the request if a budget is spent; charge the response to every budget after it."""
    table = services.table
    if table is None:
        return
    for b in budgets:
        try:
            left = table.remaining(b.handle)
        except BucketTableFull:
            ctx.worker.metrics.rate_limit_table_full(allowed=True)
            continue
        if left <= 0:
            _dialect(ctx, llm)
            spent = b.limit / 1_000_000 if b.usd else b.limit
            reset = 0 if b.window == "total" else table.time_until(b.handle, 1)
            ex = Exhausted(b.name, "usd" if b.usd else "tokens", spent, spent, b.window, int(reset * 1000))
            if b.window == "total":
                raise Forbidden(ex.message())
            retry = str(max(1, math.ceil(reset))).encode()
            raise RateLimited(ex.message(), headers=[(b"retry-after", retry)])
    ctx.add_finish_hook(_Charge(table, budgets, services.prices, label))


class _Charge:
    __slots__ = ("budgets", "label", "prices", "table")

    def __init__(self, table: BucketTable, budgets: tuple[LocalBudget, ...], prices: PriceTable, label: str) -> None:
        self.table = table
        self.budgets = budgets
        self.prices = prices
        self.label = label

    def __call__(self, ctx: RequestContext) -> None:
        usage = ctx.usage
        if usage is None or usage.input_tokens + usage.output_tokens <= 0:
            return
        tokens = usage.input_tokens + usage.output_tokens
        call = ctx.llm
        model = (call.response_model or call.request_model or "") if call is not None else ""
        price = self.prices.find(model) if model else None
        usd = 0.0
        if price is not None:
            usd = price.usd(
                usage.uncached_input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens
            )
        elif any(b.usd for b in self.budgets):
            ctx.worker.metrics.remote_rate_limit("price_unknown")
        ctx.worker.metrics.key_spend(self.label, model, tokens, usd)
        micro = round(usd * 1_000_000)
        for b in self.budgets:
            n = micro if b.usd else tokens
            if n > 0:
                try:
                    self.table.charge(b.handle, n, 0)
                except BucketTableFull:
                    ctx.worker.metrics.rate_limit_table_full(allowed=True)
