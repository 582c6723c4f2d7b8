"""remoteRateLimit with `redis:`: descriptors whose CEL entries name a bucket (or window) kept in
Redis, shared by every worker of every instance that uses that Redis.

A descriptor's bucket is named by the policy's `domain` and the descriptor's entries (key and
value), as an RLS service names its limits: two routes, or two instances, with the same
descriptor share one limit. The name is hashed (SHA-256, 32 hex digits inside a `{hash tag}`), so a
10 KB header value costs Redis a 50-byte key and every key of a bucket lands on one cluster slot.
An entry whose expression yields nothing leaves the request unlimited by that descriptor
(counted: `no_key`).

`type: requests` takes the request's cost (1, or the `cost` expression) atomically, all or
nothing; several descriptors must all allow it, and those that did are given back when another
refuses. `type: tokens` admits while the budget is not exhausted and charges the LLM tokens used
(input + output, or `cost` evaluated after the response) once the response is done, as
agentgateway does (a budget is enforced on the request after the one that spent it).

Failures (timeout, connection, garbage, breaker open) follow `failureMode`: failOpen admits,
failClosed answers 503 "rate limit service unavailable" (agentgateway: 500 "rate limit failed";
503 says the failure is temporary, so SDKs retry with back-off). Every decision is counted in
`fastgw_remote_ratelimit_events{event}`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastgw.cel import NO_VALUE, CelSyntaxError, Expression, vars_of
from fastgw.errors import Dialect, RateLimited, ServiceUnavailable, dialect_for_path
from fastgw.http.headers import Headers
from fastgw.policies.kind import PolicyKind, Site
from fastgw.redis_limits.link import RedisFailed, RedisLink, RedisSpec, Reply
from fastgw.redis_limits.scripts import BUCKET_SCRIPT, WINDOW_SCRIPT, Script

if TYPE_CHECKING:
    from fastgw.cel.vars import Vars
    from fastgw.config.schema_policies import RemoteRateLimit as RemoteRateLimitSpec
    from fastgw.context import RequestContext
    from fastgw.telemetry.metrics import Metrics

__all__ = [
    "BUCKET_SCRIPT",
    "KIND",
    "WINDOW_SCRIPT",
    "LeaseSpec",
    "RateLimitUnavailable",
    "RemoteDescriptor",
    "RemoteRateLimit",
    "build",
]


class RateLimitUnavailable(ServiceUnavailable):
    reason = "rate_limit_unavailable"
    text = "rate limit service unavailable"


@dataclass(frozen=True, slots=True)
class LeaseSpec:
    size: int
    ttl: float


@dataclass(frozen=True, slots=True)
class RemoteDescriptor:
    #: what names the bucket before the values: domain, kind, entry keys
    name: bytes
    entries: tuple[Expression, ...]
    tokens: bool
    cost: Expression | None
    script: Script
    #: the script's three limit numbers: (maxTokens, tokensPerFill, ms) or (limit, sliding, ms)
    params: tuple[int, int, int]
    #: x-ratelimit-limit
    limit: int
    lease: LeaseSpec | None = None

    def key(self, variables: Vars, prefix: bytes) -> bytes | None:
        h = hashlib.sha256(self.name)
        for expr in self.entries:
            value = expr.eval(variables)
            if value is NO_VALUE or value is None:
                return None
            h.update(b"\0")
            h.update(_text(value))
        return prefix + b"{" + h.hexdigest()[:32].encode() + b"}"


def _text(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


@dataclass(frozen=True, slots=True)
class RemoteRateLimit:
    name = "remoteRateLimit"
    redis: RedisSpec
    prefix: bytes
    descriptors: tuple[RemoteDescriptor, ...]
    fail_open: bool = False
    client_dialect: bool = False

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        worker = ctx.worker
        metrics = worker.metrics
        variables = vars_of(ctx)
        calls: list[_Call] = []
        for d in self.descriptors:
            key = d.key(variables, self.prefix)
            if key is None:
                metrics.remote_rate_limit("no_key")
                continue
            cost = 1
            if d.cost is not None and not d.tokens:
                cost = _cost(d.cost.eval(variables), metrics)
            calls.append((d, key, cost))
        if not calls:
            return None
        link: RedisLink = worker.redis_link(self.redis)
        if not link.available:
            metrics.remote_rate_limit("breaker_open")
            self._unchecked(ctx)
            return None
        local = True
        for d, key, cost in calls:
            if d.lease is None or not _take_leased(link, key, cost, worker.loop.time()):
                local = False
                break
        if local:
            metrics.remote_rate_limit("lease_local")
            return None
        return self._check(ctx, link, calls)

    async def _check(self, ctx: RequestContext, link: RedisLink, calls: list[_Call]) -> None:
        metrics = ctx.worker.metrics
        now = ctx.worker.loop.time
        replies: list[Reply | None] = []
        failed: RedisFailed | None = None
        for d, key, cost in calls:
            try:
                if d.lease is not None:
                    replies.append(await _leased(link, d, key, cost, now))
                else:
                    op = b"c" if d.tokens else b"t"
                    replies.append(await link.call(d.script, key, (op, cost, *d.params, b"")))
            except RedisFailed as exc:
                failed = exc
                replies.append(None)
        denied = [(d, r) for (d, _, _), r in zip(calls, replies, strict=True) if r is not None and not r[0]]
        if denied:
            for (d, key, cost), r in zip(calls, replies, strict=True):
                if r is not None and r[0] and not d.tokens:
                    link.fire(d.script, key, (b"g", cost, *d.params, b""))
            metrics.remote_rate_limit("denied")
            self._dialect(ctx)
            raise _rejected(denied)
        if failed is not None:
            self._unchecked(ctx)
        else:
            metrics.remote_rate_limit("allowed")
        shown = [(d, r) for (d, _, _), r in zip(calls, replies, strict=True) if r is not None]
        if shown:
            d, r = min(shown, key=lambda dr: dr[1][1] / dr[0].limit)
            ctx.add_response_headers(_headers(d.limit, r))
        tokens = [(d, key) for d, key, _ in calls if d.tokens]
        if tokens:
            ctx.add_finish_hook(_Charge(link, tokens))

    def _unchecked(self, ctx: RequestContext) -> None:
        """The limit could not be checked: failureMode decides (counted)."""
        metrics = ctx.worker.metrics
        if self.fail_open:
            metrics.remote_rate_limit("fail_open")
            return
        metrics.remote_rate_limit("fail_closed")
        self._dialect(ctx)
        raise RateLimitUnavailable()

    def _dialect(self, ctx: RequestContext) -> None:
        if self.client_dialect and ctx.dialect is Dialect.PLAIN:
            ctx.dialect = dialect_for_path(ctx.request.path)


#: a descriptor, its bucket's key for this request, the request's cost
_Call = tuple[RemoteDescriptor, bytes, int]


def _take_leased(link: RedisLink, key: bytes, cost: int, now: float) -> bool:
    lease = link.leases.get(key)
    if lease is None or lease.left < cost or now >= lease.expires:
        return False
    lease.left -= cost
    return True


async def _leased(link: RedisLink, d: RemoteDescriptor, key: bytes, cost: int, now: Any) -> Reply:
    """Admit from this worker's lease for `key`, fetching a new one (once for all the requests
    waiting) when it is used up or stale; what a stale lease has left goes back to Redis. A
    request that waited for a fetch takes from it whatever the clock says: `ttl` bounds how long
    unused tokens are held, not how long a busy loop takes to hand them out."""
    spec = d.lease
    assert spec is not None
    lease = link.lease(key)
    for _ in range(3):
        if lease.refill is not None:
            reply = await lease.refill
            if reply[0] == 0:
                return reply
            if lease.left >= cost:
                lease.left -= cost
                return [1, lease.left, reply[2], 0]
            continue
        if lease.left and now() >= lease.expires:
            link.fire(d.script, key, (b"g", lease.left, *d.params, b""))
            lease.left = 0
        if lease.left >= cost:
            lease.left -= cost
            return [1, lease.left, 0, 0]
        refill = lease.refill = link.call(d.script, key, (b"l", max(spec.size, cost), *d.params, b""))
        try:
            reply = await refill
        finally:
            lease.refill = None
        if reply[0] == 0:
            return reply
        lease.left += reply[0]
        lease.expires = now() + spec.ttl
        if lease.left >= cost:
            lease.left -= cost
            return [1, lease.left, reply[2], 0]
    # other requests kept taking the fresh leases first: this one asks Redis for itself
    return await link.call(d.script, key, (b"t", cost, *d.params, b""))


class _Charge:
    """After the response: charge the tokens it used to each `type: tokens` bucket."""

    __slots__ = ("link", "tokens")

    def __init__(self, link: RedisLink, tokens: list[tuple[RemoteDescriptor, bytes]]) -> None:
        self.link = link
        self.tokens = tokens

    def __call__(self, ctx: RequestContext) -> None:
        usage = ctx.usage
        for d, key in self.tokens:
            if d.cost is not None:
                used = _cost(d.cost.eval(vars_of(ctx)), ctx.worker.metrics, default=0)
            else:
                used = usage.input_tokens + usage.output_tokens if usage is not None else 0
            if used > 0:
                self.link.fire(d.script, key, (b"h", used, *d.params, b""))


def _cost(value: Any, metrics: Metrics, default: int = 1) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and math.isfinite(value):
        return math.ceil(value)
    metrics.remote_rate_limit("bad_cost")
    return default


def _headers(limit: int, reply: Reply) -> Headers:
    return [
        (b"x-ratelimit-limit", str(limit).encode()),
        (b"x-ratelimit-remaining", str(max(0, reply[1])).encode()),
        (b"x-ratelimit-reset", str(max(1, math.ceil(reply[2] / 1000))).encode()),
    ]


def _rejected(denied: list[tuple[RemoteDescriptor, Reply]]) -> RateLimited:
    d, r = denied[0]
    headers = _headers(d.limit, r)
    waits = [x[3] for _, x in denied]
    if all(w >= 0 for w in waits):
        # RFC 9110 §10.2.3: delay-seconds, at least 1
        headers.append((b"retry-after", str(max(1, math.ceil(max(waits) / 1000))).encode()))
    return RateLimited(headers=headers)


def build(spec: RemoteRateLimitSpec, site: Site) -> RemoteRateLimit | None:
    """The policy of a `remoteRateLimit` with `redis:` (the other forms are refused by support.py)."""
    path, errors = site.path, site.errors
    r = spec.redis
    if r is None:
        return None
    redis = RedisSpec(
        url=r.url,
        connect_timeout=r.connect_timeout,
        command_timeout=r.command_timeout,
        max_connections=r.max_connections,
        breaker_failures=r.breaker_failures,
        breaker_open_for=r.breaker_open_for,
    )
    domain = (spec.domain or "").encode()
    descriptors = []
    for i, d in enumerate(spec.descriptors):
        where = f"{path}.descriptors[{i}]"
        entries = []
        for j, entry in enumerate(d.entries):
            try:
                entries.append(Expression.compile(entry.value))
            except CelSyntaxError as exc:
                errors.append(f"{where}.entries[{j}].value: {exc}")
        cost = None
        if d.cost is not None:
            try:
                cost = Expression.compile(d.cost)
            except CelSyntaxError as exc:
                errors.append(f"{where}.cost: {exc}")
        if d.limit is not None:
            b = d.limit
            script, params, limit = BUCKET_SCRIPT, (b.max_tokens, b.tokens_per_fill, _ms(b.fill_interval)), b.max_tokens
            kind = b"bucket"
        elif d.window is not None:
            w = d.window
            script, params, limit = WINDOW_SCRIPT, (w.limit, int(w.sliding), _ms(w.size)), w.limit
            kind = b"sliding" if w.sliding else b"window"
        else:
            continue  # the schema reported it
        # the bucket's name: domain, what it counts and how, the entry keys (values follow per request)
        name = b"\0".join([domain, d.type.encode(), kind, *(e.key.encode() for e in d.entries)])
        lease = LeaseSpec(d.lease.size, d.lease.ttl) if d.lease is not None else None
        descriptors.append(
            RemoteDescriptor(name, tuple(entries), d.type == "tokens", cost, script, params, limit, lease)
        )
    return RemoteRateLimit(
        redis,
        r.key_prefix.encode(),
        tuple(descriptors),
        fail_open=spec.failure_mode in ("failOpen", "FailOpen"),
        client_dialect=spec.dialect == "client",
    )


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


KIND: Final[PolicyKind[RemoteRateLimitSpec]] = PolicyKind("remoteRateLimit", lambda p: p.remote_rate_limit, build)
