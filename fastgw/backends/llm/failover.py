"""An ``ai`` backend over several providers: ``groups`` (priority tiers), and the ``llm:`` block's
failover/weighted virtual models, all on one `Balancer`.

Each try (the pipeline's retry loop calls ``serve`` once per try) picks a provider again, never
one this request already tried while another is available, and serves the request with that
provider's target: its route plan decides the translation, so an OpenAI client failing over from
Anthropic to OpenAI gets OpenAI's answer as is, and the usage, the response model and
``gen_ai.provider.name`` are those of the provider that answered. The outcome (status, response
fields, time to the response head) goes to the balancer, which keeps the instance's shared health.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastgw.backends.llm.backend import serve_target
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.target import Target
from fastgw.backends.llm.types import RequestView
from fastgw.balance.attempt import attempt as attempt_on
from fastgw.balance.attempt import choose
from fastgw.balance.select import Balancer, Endpoint
from fastgw.context import RequestContext
from fastgw.errors import GatewayError

#: the answers a virtual model (the `llm:` block, which has no retry policy) moves on from to its
#: next target: a credential the provider refuses, rate limits, server errors
VIRTUAL_FAILOVER_CODES = frozenset({401, 403, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class FailoverAi:
    """Providers in priority tiers, load-balanced inside a tier."""

    name: str
    balancer: Balancer[Target]

    def start_fast(self, ctx: RequestContext) -> bool:
        return False  # selection, eviction and retries run on the request's task

    async def serve(self, ctx: RequestContext) -> None:
        ep = self.choose(ctx)
        target = ep.value
        await attempt(ctx, self.balancer, ep, target.routes.resolve(ctx.path.decode("latin-1")))

    def choose(self, ctx: RequestContext) -> Endpoint[Target]:
        return choose(ctx, self.balancer)


async def attempt(
    ctx: RequestContext,
    balancer: Balancer[Target],
    ep: Endpoint[Target],
    route_type: RouteType | None,
    body: bytes | None = None,
    view: RequestView | None = None,
) -> None:
    """One try with ``ep``'s target; its outcome is reported to ``balancer``."""
    await attempt_on(ctx, balancer, ep, lambda: serve_target(ctx, ep.value, route_type, body, view))


async def serve_virtual(
    ctx: RequestContext, balancer: Balancer[Target], route_type: RouteType | None, body: bytes, view: RequestView
) -> None:
    """A virtual model of the `llm:` block: up to one try per target, each picked again (never one
    already tried), an answer in VIRTUAL_FAILOVER_CODES or a failed connection moving on to the next
    while one is left; nothing is retried once the client has a byte of the answer."""
    tries = len(balancer.endpoints)
    for n in range(tries):
        last = n == tries - 1
        ctx.retry_hold = frozenset() if last else VIRTUAL_FAILOVER_CODES
        ctx.held = False
        ctx.attempt = n
        ep = choose(ctx, balancer)
        try:
            await attempt(ctx, balancer, ep, route_type, body, view)
        except GatewayError as err:
            if last or not err.retryable or ctx.writer.started:
                raise
        else:
            if not ctx.held:
                return
