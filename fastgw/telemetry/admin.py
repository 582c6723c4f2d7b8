"""The management listeners served by every worker: readiness (`/healthz/ready`), stats
(`/metrics`, `/stats/prometheus`) and admin (`/config_dump`, `/healthz`, `/keys`: admin_keys.py)."""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson

from fastgw.http.connection import Handler
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from fastgw.process.status import StatusRegion
from fastgw.redis_limits.vkeys_admin import KeyAdmin
from fastgw.runtime import Runtime
from fastgw.telemetry import admin_keys, metrics
from fastgw.telemetry.log_control import LevelSpecError, LogControl
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
            writer.respond(200, _PROM, metrics.render(own.removed))
        else:
            writer.respond(404, _TEXT, b"not found\n")

    return handle


def admin_handler(runtime: Runtime, status: StatusRegion, control: LogControl | None = None) -> Handler:
    keys: list[KeyAdmin] = []  # made on the first /keys request, in the worker

    async def handle(req: Request, writer: ResponseWriter) -> None:
        if req.path == b"/logging" and control is not None:
            _logging(req, writer, control)
        elif req.path == b"/keys" or req.path.startswith(b"/keys/"):
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


def _logging(req: Request, writer: ResponseWriter, control: LogControl) -> None:
    """`GET /logging`: the level in force; `POST /logging?level=<spec>`: set it in every worker
    (agentgateway's spec: `debug`, `info,fastgw.http=debug`)."""
    if req.method == b"GET":
        writer.respond(200, _TEXT, f"level={control.level}\n".encode())
        return
    if req.method != b"POST":
        writer.respond(405, [*_TEXT, (b"allow", b"GET, POST")], b"use GET or POST\n")
        return
    spec = parse_qs(req.query.decode("latin-1")).get("level", [""])[0]
    if not spec:
        writer.respond(400, _TEXT, b"give the level: POST /logging?level=debug\n")
        return
    try:
        control.set(spec)
    except LevelSpecError as exc:
        writer.respond(400, _TEXT, f"{exc}\n".encode())
        return
    writer.respond(200, _TEXT, f"level={spec} (every worker within a second)\n".encode())
