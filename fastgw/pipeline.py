"""The request's life, top to bottom: route -> request policies (in policies.REGISTRY order) -> backend
(with the route's timeout and retries) -> finish (token settlement, metrics, access log).
Errors are raised anywhere below and rendered here, once, in the client's dialect.

`dispatch` runs synchronously for as long as nothing needs awaiting. A plain proxied request
whose body is complete and whose upstream has an idle connection never needs a task: the
backend starts it and the upstream connection's callbacks finish it. Anything else returns a
coroutine that the connection runs as the request's task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from fastgw.context import RequestContext
from fastgw.errors import GatewayError, GatewayTimeout, RouteNotFound, ServiceUnavailable
from fastgw.http.request import ClientDisconnected, Request
from fastgw.http.response import ResponseWriter
from fastgw.policies.retry import allows
from fastgw.routing import PREFIX
from fastgw.runtime import Backend, BindRuntime, RouteRuntime
from fastgw.worker_state import WorkerState

log = logging.getLogger("fastgw.pipeline")


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
                ctx.finish()
                return None
        chosen = None
        if route.fast and req.body.complete:
            chosen = route.pick()
            start = getattr(chosen, "start_fast", None)
            if start is not None and start(ctx):
                return None
        return _serve(ctx, route, None, len(policies), chosen)
    except GatewayError as err:
        ctx.fail(err)
        ctx.finish()
        return None
    except Exception:
        ctx.finish()
        raise


async def handle(worker: WorkerState, bind: BindRuntime, req: Request, writer: ResponseWriter) -> None:
    """The whole pipeline as one awaitable (tests and handlers that want a coroutine)."""
    pending = dispatch(worker, bind, req, writer)
    if pending is not None:
        await pending


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
                    return
                p = policy.on_request(ctx)
                if p is not None:
                    await p
            if writer.started:
                return
        if route.request_timeout is None:
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
        ctx.abandoned()
        writer.abort()
    except asyncio.CancelledError:
        # the connection cancels a request's task only when its client has gone away (a lost
        # connection, or a FIN with the request in flight)
        ctx.abandoned()
        raise
    finally:
        ctx.finish()


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
