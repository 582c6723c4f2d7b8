"""`host:` backends of a route that carry a `health` policy: one weighted tier on a `Balancer`
(power of two choices on the shared health and latency, unhealthy backends evicted; a retry
never re-picks a backend that failed the request while another is left). Routes without one keep
the plain weighted split (`RouteRuntime.pick`)."""

from __future__ import annotations

from dataclasses import dataclass

from fastgw.backends.http import HttpBackend
from fastgw.balance.attempt import attempt, choose
from fastgw.balance.select import Balancer
from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class BalancedHttp:
    name: str
    balancer: Balancer[HttpBackend]

    def start_fast(self, ctx: RequestContext) -> bool:
        return False  # selection, eviction and retries run on the request's task

    async def serve(self, ctx: RequestContext) -> None:
        ep = choose(ctx, self.balancer)
        await attempt(ctx, self.balancer, ep, lambda: ep.value.serve(ctx))
