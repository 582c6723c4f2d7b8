"""Choosing an endpoint (an LLM provider, a backend) among priority tiers, and learning from the answer.

`Balancer.pick` takes the first tier that has an active (not evicted) endpoint the request has not
tried yet; inside it, power of two choices: two weighted random draws, the higher
`health / (1 + latency x (1 + 0.1 x pending))` wins (agentgateway's score: health and latency are
EWMAs shared by the instance's workers, pending is this worker's requests in flight). When every
untried endpoint is evicted, the one whose eviction ends first is taken rather than refusing; only
when every endpoint was tried does a retry go back to one that failed this request.

`Balancer.report` folds an attempt's outcome into the endpoint's shared record
(`table.HealthTable`): health EWMA towards 1 or 0, latency EWMA of the time to the response
head, consecutive failures, and the eviction the endpoint's `HealthRule` asks for.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from fastgw.balance.health import DEFAULT_RULE, Fields, HealthRule
from fastgw.balance.table import CONSECUTIVE, EVICTED_UNTIL, HEALTH, LATENCY, RESTORE, TIMES_EJECTED, HealthTable

if TYPE_CHECKING:
    from fastgw.context import RequestContext

T = TypeVar("T")

#: weight of a new observation in the health and latency EWMAs
ALPHA: Final = 0.3
#: pending requests' weight in the score (agentgateway's 0.1)
PENDING_WEIGHT: Final = 0.1


class Endpoint(Generic[T]):
    """One choice (its `value`: a provider target, a backend) with its slot in the shared table
    (`base`: the slot's first word). `pending` is this worker's count of its requests in flight
    (each forked worker has its copy)."""

    __slots__ = ("base", "name", "pending", "rule", "value", "weight")

    def __init__(self, name: str, value: T, base: int, weight: float = 1.0, rule: HealthRule = DEFAULT_RULE) -> None:
        self.name = name
        self.value = value
        self.base = base
        self.weight = weight
        self.rule = rule
        self.pending = 0

    @property
    def offset(self) -> int:
        return self.base

    def __repr__(self) -> str:
        return f"Endpoint({self.name!r})"


class Balancer(Generic[T]):
    """Priority tiers of endpoints over one shared health table."""

    __slots__ = ("_clock", "_cum", "_random", "_words", "endpoints", "table", "tiers")

    def __init__(
        self,
        tiers: Sequence[Sequence[Endpoint[T]]],
        table: HealthTable,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.tiers = tuple(tuple(t) for t in tiers if t)
        self.endpoints = tuple(ep for tier in self.tiers for ep in tier)
        self.table = table
        self._words = table.words
        self._clock = clock
        # (the module's generator by default: Python reseeds it in every forked worker, so the
        # workers do not all draw the same endpoints)
        self._random = rng.random if rng is not None else random.random
        #: per tier: the cumulative weights of its endpoints, None when they are all equal
        self._cum = {
            id(tier): None if len({ep.weight for ep in tier}) == 1 else list(accumulate(ep.weight for ep in tier))
            for tier in self.tiers
        }

    def now(self) -> float:
        return self._clock()

    # -- selection ------------------------------------------------------------------------------
    def pick(self, tried: Sequence[Endpoint[T]] = ()) -> Endpoint[T]:
        words = self._words
        now = 0.0  # read only when an endpoint has an eviction time
        soonest: Endpoint[T] | None = None
        soonest_at = 0.0
        for tier in self.tiers:
            whole = True  # every endpoint of the tier is a candidate (the common case)
            for ep in tier:
                until = words[ep.base + EVICTED_UNTIL]
                if until:
                    if not now:
                        now = self._clock()
                    if until > now:
                        whole = False
                        break
                    self._restore(ep)
                if tried and ep in tried:
                    whole = False
                    break
            if whole:
                return tier[0] if len(tier) == 1 else self._two_choices(tier, self._cum[id(tier)])
            if not now:
                now = self._clock()
            cands: list[Endpoint[T]] = []
            for ep in tier:
                if tried and ep in tried:
                    continue
                until = words[ep.base + EVICTED_UNTIL]
                if until:
                    if until > now:
                        if soonest is None or until < soonest_at:
                            soonest, soonest_at = ep, until
                        continue
                    self._restore(ep)
                cands.append(ep)
            if len(cands) > 1:
                cum = self._cum[id(tier)]  # (weights again, over the candidates left)
                return self._two_choices(cands, None if cum is None else list(accumulate(ep.weight for ep in cands)))
            if cands:
                return cands[0]
        if soonest is not None:
            return soonest
        # every endpoint was tried by this request: start over among them
        return self.pick()

    def _two_choices(self, cands: Sequence[Endpoint[T]], cum: list[float] | None) -> Endpoint[T]:
        """`cum`: the candidates' cumulative weights (None: all weigh the same)."""
        r = self._random
        n = len(cands)
        if cum is not None:
            total = cum[-1]
            a = cands[min(bisect(cum, r() * total), n - 1)]
            b = cands[min(bisect(cum, r() * total), n - 1)]
        else:
            a = cands[int(r() * n)]
            b = cands[int(r() * n)]
        if a is b:
            return a
        words = self._words
        # score = health / (1 + latency x (1 + 0.1 x pending))
        sa = words[a.base + HEALTH] / (1.0 + words[a.base + LATENCY] * (1.0 + PENDING_WEIGHT * a.pending))
        sb = words[b.base + HEALTH] / (1.0 + words[b.base + LATENCY] * (1.0 + PENDING_WEIGHT * b.pending))
        return b if sb > sa else a

    def _restore(self, ep: Endpoint[T]) -> None:
        """The eviction is over: the endpoint comes back with its rule's restoreHealth."""
        words = self._words
        base = ep.base
        words[base + HEALTH] = words[base + RESTORE]
        words[base + EVICTED_UNTIL] = 0.0
        words[base + CONSECUTIVE] = 0.0

    # -- outcomes ---------------------------------------------------------------------------------
    def report(
        self,
        ep: Endpoint[T],
        status: int,
        fields: Fields = (),
        latency: float | None = None,
        ctx: RequestContext | None = None,
    ) -> bool:
        """One attempt's outcome: `status` 0 when no response head came (connect error, reset,
        timeout). True when it was unhealthy."""
        words = self._words
        base = ep.base
        if latency is not None and latency >= 0:
            old = words[base + LATENCY]
            words[base + LATENCY] = latency if old == 0 else old + ALPHA * (latency - old)
        rule = ep.rule
        health = words[base + HEALTH]
        if rule.unhealthy is None:  # the default rule, inlined (HealthRule.is_unhealthy)
            unhealthy = status == 0 or status >= 500 or status == 429
        else:
            unhealthy = rule.is_unhealthy(ctx, status, fields)
        if not unhealthy:
            if health < 1.0:
                words[base + HEALTH] = health + ALPHA * (1.0 - health)
            if words[base + CONSECUTIVE]:
                words[base + CONSECUTIVE] = 0.0
            if words[base + TIMES_EJECTED] and not words[base + EVICTED_UNTIL]:
                words[base + TIMES_EJECTED] = 0.0
            return False
        health -= ALPHA * health
        words[base + HEALTH] = health
        failures = words[base + CONSECUTIVE] + 1
        threshold = rule.health_threshold
        if failures < rule.consecutive_failures or (threshold is not None and health > threshold):
            words[base + CONSECUTIVE] = failures
            return True
        times = words[base + TIMES_EJECTED]
        seconds = rule.eviction(status, fields, times, time.time())
        words[base + RESTORE] = rule.restore_health
        words[base + TIMES_EJECTED] = times + 1
        words[base + CONSECUTIVE] = 0.0
        words[base + EVICTED_UNTIL] = self._clock() + seconds
        return True

    def evicted(self, ep: Endpoint[T]) -> bool:
        return self._words[ep.base + EVICTED_UNTIL] > self._clock()
