"""Error bodies in the client's dialect: provider errors translated, gateway errors rendered.

OpenAI: ``{"error": {"message", "type", "param", "code"}}``.
Anthropic: ``{"type": "error", "error": {"type", "message"}}``.
The HTTP status is left to the caller: the provider's status passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from fastgw.errors import Dialect


class TranslationError(ValueError):
    """A body whose shape does not follow its API, found while translating it."""


class InvalidRequestBody(TranslationError):
    """The client's request body: render 400 ``invalid_request_error`` in the client's dialect."""


# What reading a malformed JSON document as a dict raises: .get on a list, iterating an int, ...
MALFORMED: Final = (AttributeError, TypeError, KeyError, ValueError)

# agentgateway's status -> type mapping for OpenAI-shaped errors (completions.rs translate_error).
_OPENAI_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "authentication_error",
        404: "not_found_error",
        413: "invalid_request_error",
        429: "rate_limit_error",
    }
)
# Anthropic's documented error types per status (docs "Errors").
_ANTHROPIC_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }
)
_STATUS_BY_ANTHROPIC_TYPE: Final[Mapping[str, int]] = MappingProxyType(
    {kind: status for status, kind in _ANTHROPIC_TYPES.items()}
)
_ANTHROPIC_TYPE_NAMES: Final = frozenset(_ANTHROPIC_TYPES.values())
_MAX_RAW_MESSAGE: Final = 512  # non-JSON upstream bodies (proxy HTML pages) are cut to this length


def openai_error_type(status: int) -> str:
    return _OPENAI_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")


def anthropic_error_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")


def status_for_anthropic_type(error_type: str) -> int:
    return _STATUS_BY_ANTHROPIC_TYPE.get(error_type, 500)


def openai_error(
    status: int,
    message: str,
    error_type: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": error_type or openai_error_type(status),
            "param": param,
            "code": code,
        }
    }


def anthropic_error(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type or anthropic_error_type(status), "message": message},
    }


def render_error(
    dialect: Dialect, status: int, message: str, error_type: str | None = None, code: str | None = None
) -> bytes:
    """The gateway's own error as a body in ``dialect`` (bad JSON 400, body too large 413, ...).

    ``error_type`` defaults from the status; ``code`` (e.g. ``model_not_found``) is OpenAI-only.
    """
    if dialect is Dialect.ANTHROPIC:
        return orjson.dumps(anthropic_error(status, message, error_type))
    return orjson.dumps(openai_error(status, message, error_type, code))  # (Responses: the same body)


def _raw_message(status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()[:_MAX_RAW_MESSAGE]
    return text or f"upstream returned status {status}"


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def openai_error_from_anthropic(status: int, body: bytes) -> bytes:
    """An Anthropic error body as an OpenAI one; the Anthropic type is kept as ``code``."""
    payload = _loads(body)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return orjson.dumps(openai_error(status, _raw_message(status, body)))
    kind = error.get("type")
    return orjson.dumps(
        openai_error(status, str(error.get("message", "")), code=kind if isinstance(kind, str) else None)
    )


def anthropic_error_from_openai(status: int, body: bytes) -> bytes:
    """An OpenAI error body as an Anthropic one; OpenAI types Anthropic also knows are kept."""
    payload = _loads(body)
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return orjson.dumps(anthropic_error_object_from_openai(status, error))
    message = error if isinstance(error, str) and error else _raw_message(status, body)
    return orjson.dumps(anthropic_error(status, message))


def anthropic_error_object_from_openai(status: int, error: dict[str, Any]) -> dict[str, Any]:
    kind = error.get("type")
    return anthropic_error(status, str(error.get("message", "")), kind if kind in _ANTHROPIC_TYPE_NAMES else None)


def openai_error_object_from_anthropic(error: dict[str, Any]) -> dict[str, Any]:
    """For a mid-stream Anthropic ``error`` event: status is inferred from the Anthropic type."""
    kind = error.get("type")
    kind = kind if isinstance(kind, str) else "api_error"
    return openai_error(status_for_anthropic_type(kind), str(error.get("message", "")), code=kind)


def translate_error(status: int, body: bytes, upstream: Dialect, client: Dialect) -> bytes:
    """A provider error body in the client's dialect; the same dialect returns ``body`` untouched
    (the Responses API's error body is OpenAI's)."""
    if upstream is Dialect.RESPONSES:
        upstream = Dialect.OPENAI
    if client is Dialect.RESPONSES:
        client = Dialect.OPENAI
    if upstream is client:
        return body
    if client is Dialect.OPENAI:
        return openai_error_from_anthropic(status, body)
    return anthropic_error_from_openai(status, body)
