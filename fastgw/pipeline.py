"""The request's life, top to bottom: route -> request policies (in policies.REGISTRY order) -> backend
(with the route's timeout and retries) -> complete (settle: token settlement, metrics, access log;
then end the response). Errors are raised anywhere below and rendered here, once, in the client's
dialect; every way a request ends goes through RequestContext's completion contract.

`dispatch` runs synchronously for as long as nothing needs awaiting. A plain proxied request
whose body is complete and whose upstream has an idle connection never needs a task: the
backend starts it (`Backend.start_fast`) and the upstream connection's callbacks complete it. Anything else returns a
coroutine that the connection runs as the request's task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial

from fastgw.context import RequestContext
from fastgw.errors import GatewayError, GatewayTimeout, RouteNotFound, ServiceUnavailable
from fastgw.http.connection import Dispatcher
from fastgw.http.request import ClientDisconnected, Request
from fastgw.http.response import ResponseWriter
from fastgw.policies.retry import allows
from fastgw.routing import PREFIX
from fastgw.runtime import Backend, BindRuntime, RouteRuntime
from fastgw.worker_state import WorkerState

log = logging.getLogger("fastgw.pipeline")


def dispatcher(worker: WorkerState, bind: BindRuntime) -> Dispatcher:
    """What serves `bind`'s requests in `worker` (a partial, not a closure: one Python frame less
    on every request)."""
    return partial(dispatch, worker, bind)


def dispatch(worker: WorkerState, bind: BindRuntime, req: Request, writer: ResponseWriter) -> Awaitable[None] | None:
    ctx = RequestContext(worker, bind, req, writer)
    try:
        routes = bind.routes
        entry = routes.always or routes.match(req.host_name.lower(), req.method, req.path, req.headers, req.query)
        if entry is None:
            raise RouteNotFound()
        route = ctx.route = entry.route
        if entry.match.path_kind == PREFIX:
            ctx.matched_prefix = entry.match.path
        forwarded = route.forwarded  # the listener's X-Forwarded-* rule; None when it changes nothing
        if forwarded is not None:
            forwarded.apply(req)
        policies = route.policies
        for i in range(len(policies)):
            pending = policies[i].on_request(ctx)
            if pending is not None:
                return _serve(ctx, route, pending, i + 1)
            if writer.started:  # the policy answered (CORS preflight, direct response, ...)
                ctx.complete()
                return None
        chosen = None
        if route.fast and req.body.complete:
            chosen = route.pick()
            if chosen is not None and chosen.start_fast(ctx):
                return None
        return _serve(ctx, route, None, len(policies), chosen)
    except GatewayError as err:
        ctx.fail(err)
        ctx.complete()
        return None
    except Exception:
        ctx.settle()  # recorded; the connection answers 500
        raise


async def _serve(
    ctx: RequestContext,
    route: RouteRuntime,
    pending: Awaitable[None] | None,
    next_policy: int,
    chosen: Backend | None = None,
) -> None:
    """The rest of the request as a task; `chosen` is a backend dispatch already picked."""
    writer = ctx.writer
    try:
        if pending is not None:
            await pending
            for policy in route.policies[next_policy:]:
                if writer.started:  # a policy answered (e.g. a direct response)
                    break
                p = policy.on_request(ctx)
                if p is not None:
                    await p
        if writer.started:
            pass  # a policy answered
        elif route.request_timeout is None:
            await _call_backend(ctx, route, chosen)
        else:
            try:
                async with asyncio.timeout(route.request_timeout):
                    await _call_backend(ctx, route, chosen)
            except TimeoutError:
                raise GatewayTimeout() from None
    except GatewayError as err:
        ctx.fail(err)
    except ClientDisconnected:
        ctx.abandon()
        return
    except asyncio.CancelledError:
        # the connection cancels a request's task only when its client has gone away (a lost
        # connection, or a FIN with the request in flight)
        ctx.abandon()
        raise
    except BaseException:
        ctx.settle()  # recorded; the connection answers 500
        raise
    ctx.complete()


async def _call_backend(ctx: RequestContext, route: RouteRuntime, chosen: Backend | None = None) -> None:
    """One try, or `retry.attempts` more when the route has a retry policy. Each try picks a
    backend again. A retryable answer is held back from the client (never a second head), and the
    body is kept in memory for replay (it is bounded by the body limit)."""
    retry = route.retry
    if retry is not None and retry.precondition is not None and not allows(retry.precondition, ctx):
        retry = None
    if retry is None:
        backend = chosen if chosen is not None else route.pick()
        if backend is None:
            raise ServiceUnavailable()
        await backend.serve(ctx)
        return
    if ctx.body_bytes is None:  # a policy may have buffered (or rewritten) it already
        ctx.body_bytes = await ctx.request.body.read_all()
    for attempt in range(retry.attempts + 1):
        last = attempt == retry.attempts
        backend = route.pick()
        if backend is None:
            raise ServiceUnavailable()
        ctx.retry_hold = frozenset() if last else retry.codes
        ctx.retry_when = None if last else retry.when
        ctx.held = False
        ctx.attempt = attempt
        try:
            await backend.serve(ctx)
        except GatewayError as err:
            if last or not err.retryable or ctx.writer.started:
                raise
        else:
            if not ctx.held:
                return
        if retry.backoff:
            await asyncio.sleep(retry.backoff)
