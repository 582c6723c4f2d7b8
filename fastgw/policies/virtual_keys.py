"""apiKey with `virtualKeys: true`: a key not in the config is looked up in Redis
(`config.virtualKeys`, see `redis_limits/vkeys.py`), its budgets checked before the request and
charged after the response.

One script call per request reads the key's record and spend (batched with the worker's other
Redis calls). An unknown or disabled key is what an unknown config key is (401, or let through
unauthenticated in permissive mode). A spent budget refuses the request naming the budget: 429
with `retry-after` (the window's end) for a windowed budget, 403 for a `total` one (waiting will
not help). Redis unreachable: 503 (keys cannot be checked; no failOpen for authentication).
After the response the tokens (input + output) and their cost (the model's price, when the
price table knows the model; otherwise logged once per model and counted, the tokens still
charged) are added to every budget of the key, and to `fastgw_virtual_key_*` metrics.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from fastgw.cel import vars_of
from fastgw.errors import Forbidden, RateLimited, ServiceUnavailable
from fastgw.policies.denial import _dialect, unauthorized
from fastgw.redis_limits.link import RedisFailed, RedisLink, RedisSpec
from fastgw.redis_limits.prices import Price, PriceTable
from fastgw.redis_limits.vkeys import CHARGE, READ, KeyView, VirtualKeyStore

if TYPE_CHECKING:
    from fastgw.config.schema_process import VirtualKeys
    from fastgw.context import RequestContext
    from fastgw.policies.api_key import ApiKey

log = logging.getLogger("fastgw.keys")

__all__ = ["KeysUnavailable", "check", "virtual_key_store"]


def virtual_key_store(spec: VirtualKeys) -> VirtualKeyStore:
    r = spec.redis
    redis = RedisSpec(
        url=r.url,
        connect_timeout=r.connect_timeout,
        command_timeout=r.command_timeout,
        max_connections=r.max_connections,
        breaker_failures=r.breaker_failures,
        breaker_open_for=r.breaker_open_for,
    )
    prices = {
        name: Price(
            p.input,
            p.output,
            p.input if p.cache_read is None else p.cache_read,
            p.input if p.cache_write is None else p.cache_write,
        )
        for name, p in spec.prices.items()
    }
    prefix = r.key_prefix.encode() if r.key_prefix != "fastgw:rl:" else b"fastgw:vk:"
    return VirtualKeyStore(redis, prefix, PriceTable(prices))


class KeysUnavailable(ServiceUnavailable):
    reason = "api_keys_unavailable"
    text = "API keys cannot be checked right now"


async def check(policy: ApiKey, ctx: RequestContext, key: bytes) -> None:
    store = policy.virtual
    assert store is not None
    link = ctx.worker.redis_link(store.redis)
    if not link.available:
        _dialect(ctx, policy.llm)
        raise KeysUnavailable()
    rkey = store.key_of(key)
    try:
        view = KeyView.of(await link.call(READ, rkey, ()))
    except (RedisFailed, ValueError, TypeError):
        _dialect(ctx, policy.llm)
        raise KeysUnavailable() from None
    if view is None or view.record.get("disabled"):
        if policy.mode == "permissive":
            policy.location.remove(ctx.request)
            return
        why = "invalid API key" if view is None else "API key disabled"
        raise unauthorized(ctx, policy.llm, why, policy.challenge())
    spent = view.exhausted()
    if spent is not None:
        _dialect(ctx, policy.llm)
        if spent.reset_ms == 0:
            err: Exception = Forbidden(spent.message())
        else:
            retry = str(max(1, math.ceil(spent.reset_ms / 1000))).encode()
            err = RateLimited(spent.message(), headers=[(b"retry-after", retry)])
        raise err
    record = view.record
    vars_of(ctx).set("apiKey", {"name": record["name"], "id": record.get("id", ""), **record.get("metadata", {})})
    policy.location.remove(ctx.request)
    ctx.add_finish_hook(_Charge(link, store, rkey, view))


class _Charge:
    __slots__ = ("link", "rkey", "store", "view")

    def __init__(self, link: RedisLink, store: VirtualKeyStore, rkey: bytes, view: KeyView) -> None:
        self.link = link
        self.store = store
        self.rkey = rkey
        self.view = view

    def __call__(self, ctx: RequestContext) -> None:
        usage = ctx.usage
        if usage is None:
            return
        tokens = usage.input_tokens + usage.output_tokens
        if tokens <= 0:
            return
        call = ctx.llm
        model = (call.response_model or call.request_model or "") if call is not None else ""
        price = self.store.prices.find(model) if model else None
        usd = 0.0
        if price is not None:
            usd = price.usd(
                usage.uncached_input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens
            )
        else:
            ctx.worker.metrics.remote_rate_limit("price_unknown")
            if self.link.note_once(f"price:{model}"):
                log.warning("no price for model %r: its tokens are counted, its cost is not", model[:100])
        ctx.worker.metrics.key_spend(self.view.record["name"], model, tokens, usd)
        self.link.fire(CHARGE, self.rkey, self.view.charge_args(tokens, round(usd * 1_000_000)))
