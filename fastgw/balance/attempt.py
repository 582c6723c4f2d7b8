"""One try on a chosen endpoint, its outcome reported to the balancer (any backend kind)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from fastgw.balance.select import Balancer, Endpoint
from fastgw.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout, UpstreamTooLarge

if TYPE_CHECKING:
    from fastgw.context import RequestContext

T = TypeVar("T")

#: failures of the attempt itself (no usable answer came): the endpoint is unhealthy
_UPSTREAM_FAILURES = (UpstreamConnectError, UpstreamTimeout, UpstreamProtocolError)


def choose(ctx: RequestContext, balancer: Balancer[T]) -> Endpoint[T]:
    """The endpoint for this try (never one the request tried while another is left)."""
    ep = balancer.pick(ctx.tried)
    ctx.tried = (*ctx.tried, ep)
    return ep


async def attempt(
    ctx: RequestContext, balancer: Balancer[T], ep: Endpoint[T], run: Callable[[], Awaitable[None]]
) -> None:
    """`run()` sends the request to `ep`; the answer's head (the exchanges record it on `ctx`) or
    the failure is reported to `balancer`. A client that left reports nothing."""
    ctx.upstream_status = 0
    ctx.upstream_fields = None
    ep.pending += 1
    start = time.monotonic()
    try:
        await run()
    except _UPSTREAM_FAILURES as err:
        if not isinstance(err, UpstreamTooLarge):
            # a failure after the head (a reset mid-body) still says the endpoint is unwell
            balancer.report(ep, 0, ctx.upstream_fields or (), None, ctx)
        raise
    else:
        status = ctx.upstream_status
        if status:
            balancer.report(ep, status, ctx.upstream_fields or (), ctx.upstream_head_at - start, ctx)
    finally:
        ep.pending -= 1
