"""A plain HTTP upstream for end-to-end tests (not an LLM provider): echoes requests, streams,
stalls, fails on demand, and records what it received. Run: python -m tests.e2e.echo_upstream PORT"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

RECORD: web.AppKey[list[dict[str, object]]] = web.AppKey("record", list)


async def echo(req: web.Request) -> web.StreamResponse:
    body = await req.read()
    req.app[RECORD].append({"path": req.path_qs, "method": req.method, "len": len(body)})
    return web.json_response(
        {
            "method": req.method,
            "path": req.path,
            "query": req.query_string,
            "headers": {k.lower(): v for k, v in req.headers.items()},
            "body": body.decode("utf-8", "replace"),
        },
        headers={"x-upstream": "echo", "connection": "keep-alive"},
    )


async def stream(req: web.Request) -> web.StreamResponse:
    n = int(req.query.get("n", "5"))
    delay = float(req.query.get("delay", "0.05"))
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(req)
    for i in range(n):
        await resp.write(f"data: {i}\n\n".encode())
        await asyncio.sleep(delay)
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def slow(req: web.Request) -> web.StreamResponse:
    try:
        await asyncio.sleep(float(req.query.get("delay", "5")))
    except asyncio.CancelledError:
        req.app[RECORD].append({"path": req.path_qs, "cancelled": True})
        raise
    return web.Response(text="slow done")


FLAKY: web.AppKey[dict[str, int]] = web.AppKey("flaky", dict)


async def flaky(req: web.Request) -> web.StreamResponse:
    """Fails the first `fail` requests of a `key` with 503, then answers 200 with the body length."""
    body = await req.read()
    key = req.query["key"]
    seen = req.app[FLAKY][key] = req.app[FLAKY].get(key, 0) + 1
    if seen <= int(req.query.get("fail", "1")):
        return web.Response(status=503, text=f"try {seen} failed")
    return web.json_response({"tries": seen, "len": len(body)})


async def status(req: web.Request) -> web.StreamResponse:
    return web.Response(status=int(req.match_info["code"]), text="status")


async def big(req: web.Request) -> web.StreamResponse:
    size = int(req.query.get("size", str(1 << 20)))
    return web.Response(body=b"x" * size)


async def records(req: web.Request) -> web.StreamResponse:
    return web.json_response(req.app[RECORD])


def app() -> web.Application:
    a = web.Application(client_max_size=64 << 20)
    a[RECORD] = []
    a[FLAKY] = {}
    a.router.add_get("/_records", records)
    a.router.add_get("/stream", stream)
    a.router.add_get("/slow", slow)
    a.router.add_route("*", "/status/{code}", status)
    a.router.add_get("/big", big)
    a.router.add_route("*", "/flaky", flaky)
    a.router.add_route("*", "/{tail:.*}", echo)
    return a


if __name__ == "__main__":
    ssl_ctx = None
    if len(sys.argv) > 3:  # PORT CERT KEY: serve HTTPS
        import ssl

        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    web.run_app(
        app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
        handler_cancellation=True,
        ssl_context=ssl_ctx,
    )
