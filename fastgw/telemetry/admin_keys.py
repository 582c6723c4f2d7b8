"""`/keys` on the admin listener: virtual API keys (`config.virtualKeys`).

    POST   /keys                 {name, metadata?, budgets?: [{name?, window, tokens?, usd?}]}
                                 -> 201 the record and `key` (shown this once)
    GET    /keys                 -> {"keys": [record + spend per budget]}
    GET    /keys/<id>            -> the record and its spend
    DELETE /keys/<id>            -> 204 (the key stops working at once)
    POST   /keys/<id>/rotate     -> a new `key` for the same record and spend
    POST   /keys/<id>/disable, /keys/<id>/enable

The admin listener is on 127.0.0.1 by default and has no authentication of its own: whoever can
reach it can mint keys (bind it to a private address)."""

from __future__ import annotations

from typing import Any

import orjson
from redis.exceptions import RedisError

from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from fastgw.redis_limits.vkeys import BadKeyRequest
from fastgw.redis_limits.vkeys_admin import KeyAdmin, KeyNotFound

_JSON = [(b"content-type", b"application/json")]
#: the largest POST body read
MAX_BODY = 64 * 1024


async def serve(admin: KeyAdmin | None, req: Request, writer: ResponseWriter) -> None:
    if admin is None:
        return _answer(writer, 404, {"error": "virtual keys are not configured (config.virtualKeys)"})
    parts = req.path.decode("latin-1").strip("/").split("/")
    method = req.method
    try:
        if parts == ["keys"] and method == b"GET":
            return _answer(writer, 200, {"keys": await admin.list()})
        if parts == ["keys"] and method == b"POST":
            return _answer(writer, 201, await admin.create(await _body(req)))
        if len(parts) == 2 and method == b"GET":
            return _answer(writer, 200, await admin.get(parts[1]))
        if len(parts) == 2 and method == b"DELETE":
            await admin.get(parts[1])  # 404 for an unknown id
            await admin.delete(parts[1])
            writer.respond(204, [], b"")
            return None
        if len(parts) == 3 and method == b"POST" and parts[2] == "rotate":
            return _answer(writer, 200, await admin.rotate(parts[1]))
        if len(parts) == 3 and method == b"POST" and parts[2] in ("disable", "enable"):
            return _answer(writer, 200, await admin.set_disabled(parts[1], parts[2] == "disable"))
        return _answer(writer, 405 if len(parts) <= 3 else 404, {"error": "no such operation"})
    except BadKeyRequest as exc:
        return _answer(writer, 400, {"error": str(exc)})
    except KeyNotFound:
        return _answer(writer, 404, {"error": "no such key"})
    except (RedisError, OSError, TimeoutError) as exc:
        return _answer(writer, 503, {"error": f"the key store is unavailable ({type(exc).__name__})"})


async def _body(req: Request) -> Any:
    data = await req.body.read_all()
    if len(data) > MAX_BODY:
        raise BadKeyRequest("body too large")
    try:
        return orjson.loads(data or b"{}")
    except orjson.JSONDecodeError:
        raise BadKeyRequest("body is not JSON") from None


def _answer(writer: ResponseWriter, status: int, body: Any) -> None:
    writer.respond(status, _JSON, orjson.dumps(body))
