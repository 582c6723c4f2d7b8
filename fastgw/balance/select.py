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
from collections.abc import Callable, Sequence
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
    """One choice (its `value`: a provider target, a backend) with its slot in the shared table.
    `pending` is this worker's count of its requests in flight (each forked worker has its copy)."""

    __slots__ = ("name", "offset", "pending", "rule", "value", "weight")

    def __init__(self, name: str, value: T, offset: int, weight: float = 1.0, rule: HealthRule = DEFAULT_RULE) -> None:
        self.name = name
        self.value = value
        self.offset = offset
        self.weight = weight
        self.rule = rule
        self.pending = 0

    def __repr__(self) -> str:
        return f"Endpoint({self.name!r})"


class Balancer(Generic[T]):
    """Priority tiers of endpoints over one shared health table."""

    __slots__ = ("_clock", "_random", "endpoints", "table", "tiers")

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
        self._clock = clock
        self._random = rng if rng is not None else random.Random()

    def now(self) -> float:
        return self._clock()

    # -- selection ------------------------------------------------------------------------------
    def pick(self, tried: Sequence[Endpoint[T]] = ()) -> Endpoint[T]:
        table = self.table
        now = self._clock()
        soonest: Endpoint[T] | None = None
        soonest_at = 0.0
        for tier in self.tiers:
            cands: list[Endpoint[T]] = []
            for ep in tier:
                if tried and ep in tried:
                    continue
                until = table.get(ep.offset, EVICTED_UNTIL)
                if until:
                    if until > now:
                        if soonest is None or until < soonest_at:
                            soonest, soonest_at = ep, until
                        continue
                    self._restore(ep)
                cands.append(ep)
            if cands:
                return cands[0] if len(cands) == 1 else self._two_choices(cands)
        if soonest is not None:
            return soonest
        # every endpoint was tried by this request: start over among them
        return self.pick()

    def _two_choices(self, cands: list[Endpoint[T]]) -> Endpoint[T]:
        a, b = self._random.choices(cands, [ep.weight for ep in cands], k=2)
        if a is b:
            return a
        return b if self._score(b) > self._score(a) else a

    def _score(self, ep: Endpoint[T]) -> float:
        table = self.table
        health = table.get(ep.offset, HEALTH)
        latency = table.get(ep.offset, LATENCY)
        return health / (1.0 + latency * (1.0 + PENDING_WEIGHT * ep.pending))

    def _restore(self, ep: Endpoint[T]) -> None:
        """The eviction is over: the endpoint comes back with its rule's restoreHealth."""
        table = self.table
        table.put(ep.offset, HEALTH, table.get(ep.offset, RESTORE))
        table.put(ep.offset, EVICTED_UNTIL, 0.0)
        table.put(ep.offset, CONSECUTIVE, 0.0)

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
        table = self.table
        off = ep.offset
        if latency is not None and latency >= 0:
            old = table.get(off, LATENCY)
            table.put(off, LATENCY, latency if old == 0 else old + ALPHA * (latency - old))
        rule = ep.rule
        health = table.get(off, HEALTH)
        if not rule.is_unhealthy(ctx, status, fields):
            if health < 1.0:
                table.put(off, HEALTH, health + ALPHA * (1.0 - health))
            if table.get(off, CONSECUTIVE):
                table.put(off, CONSECUTIVE, 0.0)
            if table.get(off, TIMES_EJECTED) and not table.get(off, EVICTED_UNTIL):
                table.put(off, TIMES_EJECTED, 0.0)
            return False
        health -= ALPHA * health
        table.put(off, HEALTH, health)
        failures = table.get(off, CONSECUTIVE) + 1
        threshold = rule.health_threshold
        if failures < rule.consecutive_failures or (threshold is not None and health > threshold):
            table.put(off, CONSECUTIVE, failures)
            return True
        times = table.get(off, TIMES_EJECTED)
        seconds = rule.eviction(status, fields, times, time.time())
        table.put(off, RESTORE, rule.restore_health)
        table.put(off, TIMES_EJECTED, times + 1)
        table.put(off, CONSECUTIVE, 0.0)
        table.put(off, EVICTED_UNTIL, self._clock() + seconds)
        return True

    def evicted(self, ep: Endpoint[T]) -> bool:
        return self.table.get(ep.offset, EVICTED_UNTIL) > self._clock()
