"""An ext_authz HTTP service for the end-to-end tests. The `x-mode` request header picks what it
does: allow (200 with identity headers), deny (403 with a JSON body), hang (never answers in
time), die (drops the connection without answering). It records every check it received.
Run: python -m tests.e2e.authz_service PORT"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

CHECKS: web.AppKey[list[dict[str, object]]] = web.AppKey("checks", list)


async def check(req: web.Request) -> web.StreamResponse:
    body = await req.read()
    req.app[CHECKS].append(
        {
            "method": req.method,
            "path": req.path_qs,
            "headers": {k.lower(): v for k, v in req.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
    )
    mode = req.headers.get("x-mode", "allow")
    if mode == "allow":
        return web.Response(
            text="ok", headers={"x-user": "alice", "x-tenant": "acme", "x-authz-secret": "authz-canary-777"}
        )
    if mode == "deny":
        return web.json_response({"denied": True, "why": "policy"}, status=403)
    if mode == "unauthorized":
        return web.Response(status=401, text="who are you")
    if mode == "hang":
        await asyncio.sleep(30)
        return web.Response(text="late")
    assert mode == "die"
    assert req.transport is not None
    req.transport.abort()
    await asyncio.sleep(1)
    return web.Response(text="never sent")


async def checks(req: web.Request) -> web.StreamResponse:
    return web.json_response(req.app[CHECKS])


def app() -> web.Application:
    a = web.Application()
    a[CHECKS] = []
    a.router.add_get("/_checks", checks)
    a.router.add_route("*", "/{tail:.*}", check)
    return a


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
