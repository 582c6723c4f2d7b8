"""The management listeners served by every worker: readiness (`/healthz/ready`), stats
(`/metrics`, `/stats/prometheus`) and admin (`/config_dump`, `/healthz`, `/keys`: admin_keys.py)."""

from __future__ import annotations

import orjson

from fastgw.http.connection import Handler
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from fastgw.process.status import StatusRegion
from fastgw.redis_limits.vkeys_admin import KeyAdmin
from fastgw.runtime import Runtime
from fastgw.telemetry import admin_keys, metrics
from fastgw.telemetry.metrics import Metrics

_TEXT = [(b"content-type", b"text/plain")]
_JSON = [(b"content-type", b"application/json")]
_PROM = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]


def readiness_handler(status: StatusRegion) -> Handler:
    async def handle(req: Request, writer: ResponseWriter) -> None:
        if req.path != b"/healthz/ready":
            writer.respond(404, _TEXT, b"not found\n")
        elif status.ready:
            writer.respond(200, _TEXT, b"ready\n")
        else:
            writer.respond(503, _TEXT, b"not ready\n")

    return handle


def stats_handler(own: Metrics) -> Handler:
    async def handle(req: Request, writer: ResponseWriter) -> None:
        if req.path in (b"/metrics", b"/stats/prometheus"):
            own.flush()  # this worker's last second too
            writer.respond(200, _PROM, metrics.render())
        else:
            writer.respond(404, _TEXT, b"not found\n")

    return handle


def admin_handler(runtime: Runtime, status: StatusRegion) -> Handler:
    keys: list[KeyAdmin] = []  # made on the first /keys request, in the worker

    async def handle(req: Request, writer: ResponseWriter) -> None:
        if req.path == b"/keys" or req.path.startswith(b"/keys/"):
            if not keys and runtime.virtual_keys is not None:
                keys.append(KeyAdmin(runtime.virtual_keys))
            await admin_keys.serve(keys[0] if keys else None, req, writer)
        elif req.path == b"/config_dump":
            writer.respond(200, _JSON, orjson.dumps(runtime.dump, option=orjson.OPT_INDENT_2))
        elif req.path in (b"/healthz", b"/healthz/ready"):
            code = 200 if status.ready else 503
            writer.respond(code, _TEXT, b"ready\n" if code == 200 else b"not ready\n")
        else:
            writer.respond(404, _TEXT, b"not found\n")

    return handle
