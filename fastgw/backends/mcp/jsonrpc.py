"""JSON-RPC 2.0 as MCP uses it: checking what a client sent, and the error objects we answer with."""

from __future__ import annotations

from typing import Any, Final

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
#: implementation-defined server errors (-32000..-32099): a target failed or is unreachable
TARGET_ERROR: Final = -32000
#: the request was refused by mcpAuthorization
FORBIDDEN: Final = -32001
#: a session id that is not ours (forged, altered, expired, never issued)
SESSION_NOT_FOUND: Final = -32001

Message = dict[str, Any]
Id = str | int | None


def error(id_: Id, code: int, message: str, data: Any = None) -> Message:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


def result(id_: Id, value: Any) -> Message:
    return {"jsonrpc": "2.0", "id": id_, "result": value}


def kind(msg: Message) -> str:
    """ "request", "notification" or "response" for a message `problem` accepted."""
    if "method" in msg:
        return "request" if "id" in msg else "notification"
    return "response"


def problem(msg: object) -> str | None:
    """Why `msg` is not a JSON-RPC 2.0 message (None when it is one)."""
    if not isinstance(msg, dict):
        return "a JSON-RPC message must be an object"
    if msg.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if "id" in msg:
        id_ = msg["id"]
        if isinstance(id_, bool) or (not isinstance(id_, str | int) and id_ is not None):
            return "id must be a string or a number"
    if "method" in msg:
        if not isinstance(msg["method"], str):
            return "method must be a string"
        params = msg.get("params")
        if params is not None and not isinstance(params, dict):
            return "params must be an object"
        if "id" in msg and msg["id"] is None:
            return "a request id must not be null"
        return None
    if "id" not in msg:
        return "a message needs a method or an id"
    if ("result" in msg) == ("error" in msg):
        return "a response carries exactly one of result and error"
    return None
