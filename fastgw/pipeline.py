"""The request's life, top to bottom: route -> request policies (in policies.ORDER) -> backend
(with the route's timeout and retries) -> access log. Errors are raised anywhere below and
rendered here, once, in the client's dialect."""

from __future__ import annotations

import asyncio

from fastgw.context import RequestContext
from fastgw.errors import GatewayError, GatewayTimeout, RouteNotFound, ServiceUnavailable
from fastgw.http.request import ClientDisconnected, Request
from fastgw.http.response import ResponseWriter
from fastgw.routing import PREFIX
from fastgw.runtime import BindRuntime
from fastgw.worker_state import WorkerState


async def handle(worker: WorkerState, bind: BindRuntime, req: Request, writer: ResponseWriter) -> None:
    ctx = RequestContext(worker, bind, req, writer)
    try:
        entry = bind.routes.match(req.host_name.lower(), req.method, req.path, req.headers, req.query)
        if entry is None:
            raise RouteNotFound()
        route = ctx.route = entry.route
        if entry.match.path_kind == PREFIX:
            ctx.matched_prefix = entry.match.path
        for policy in route.policies:
            pending = policy.on_request(ctx)
            if pending is not None:
                await pending
            if writer.started:  # the policy answered (CORS preflight, direct response, ...)
                return
        backend = route.pick()
        if backend is None:
            raise ServiceUnavailable()
        if route.request_timeout is None:
            await backend.serve(ctx)
        else:
            try:
                async with asyncio.timeout(route.request_timeout):
                    await backend.serve(ctx)
            except TimeoutError:
                raise GatewayTimeout() from None
    except GatewayError as err:
        ctx.fail(err)
    except ClientDisconnected:
        ctx.reason = "client_disconnected"
        writer.abort()
    finally:
        for hook in ctx.finish_hooks:
            hook(ctx)
        worker.access_log.record(ctx)
