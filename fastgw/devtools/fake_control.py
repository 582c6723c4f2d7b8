"""Shared state of the fake LLM provider: options, per-request control headers, provider-format
errors, the request recorder and the prompt-cache ledger."""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import random
import re
import time
from collections.abc import Mapping
from typing import Any, Literal, cast

import orjson
from aiohttp import web

Dialect = Literal["openai", "anthropic"]

MAX_TOKENS = 100_000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m)?\s*$")
_UNIT_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclasses.dataclass(frozen=True, slots=True)
class FakeOptions:
    token_latency: float = 0.0
    """Seconds between two output tokens (streamed or not: a JSON answer waits for all of them)."""
    ttft: float = 0.0
    """Seconds before the first token."""
    error_rate: float = 0.0
    """Fraction of requests answered 500 (OpenAI paths) or 529 (Anthropic paths)."""
    require_key: str | None = None
    default_tokens: int = 20
    record_limit: int = 1000
    models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-6", "claude-haiku-4-5")
    embedding_dimensions: int = 8
    seed: int | None = None


class ControlError(ValueError):
    """A malformed `x-fake-*` header: answered 400 in the provider's format."""


def parse_duration(text: str) -> float:
    """`5ms`, `1.5s`, `250us`, `1m` or `0` -> seconds. A bare non-zero number is refused as ambiguous."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 5ms, 1s)")
    value = float(match.group(1))
    unit = match.group(2)
    if unit is None:
        if value != 0:
            raise ValueError(f"duration {text!r} needs a unit (us, ms, s, m)")
        return 0.0
    return value * _UNIT_SECONDS[unit]


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ControlError(f"header {name}: not a number: {raw!r}") from None
    if value < 0:
        raise ControlError(f"header {name}: negative: {raw!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Control:
    """What one request asked of the fake, from the options and its `x-fake-*` headers."""

    status: int | None
    token_latency: float
    ttft: float
    tokens: int
    fail_after: int | None
    no_usage: bool

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], options: FakeOptions) -> Control:
        status = _header_number(headers, "x-fake-status")
        if status is not None and not (400 <= status <= 599 and status.is_integer()):
            raise ControlError(f"header x-fake-status: expected an error status 400-599, got {status}")
        latency_ms = _header_number(headers, "x-fake-token-latency-ms")
        ttft_ms = _header_number(headers, "x-fake-ttft-ms")
        tokens = _header_number(headers, "x-fake-tokens")
        if tokens is not None and tokens > MAX_TOKENS:
            raise ControlError(f"header x-fake-tokens: at most {MAX_TOKENS}")
        fail_after = _header_number(headers, "x-fake-fail-after-tokens")
        return cls(
            status=None if status is None else int(status),
            token_latency=options.token_latency if latency_ms is None else latency_ms / 1000,
            ttft=options.ttft if ttft_ms is None else ttft_ms / 1000,
            tokens=options.default_tokens if tokens is None else int(tokens),
            fail_after=None if fail_after is None else int(fail_after),
            no_usage=headers.get("x-fake-no-usage", "0").strip().lower() in ("1", "true", "yes"),
        )


_OPENAI_TYPES = {401: "invalid_request_error", 429: "requests"}
_OPENAI_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_response(
    dialect: Dialect, status: int, message: str, *, param: str | None = None, retry_after: str | None = None
) -> web.Response:
    """An error in the provider's own wire format (OpenAI `{"error": {...}}`, Anthropic
    `{"type": "error", ...}`)."""
    if dialect == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        request_id = "req_fake" + hashlib.sha256(f"{time.time_ns()}".encode()).hexdigest()[:20]
        payload: dict[str, Any] = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }
        headers = {"request-id": request_id}
    else:
        kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        payload = {"error": {"message": message, "type": kind, "param": param, "code": _OPENAI_CODES.get(status)}}
        headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers)


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: float

    def to_json(self) -> dict[str, Any]:
        try:
            text: str | None = self.body.decode()
        except UnicodeDecodeError:
            text = None
        try:
            parsed: Any = orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            parsed = None
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(pair) for pair in self.headers],
            "body": text,
            "body_b64": base64.b64encode(self.body).decode(),
            "json": parsed,
            "received_at": self.received_at,
        }


class Recorder:
    """A bounded ring of the requests received, newest last."""

    def __init__(self, limit: int) -> None:
        self._items: collections.deque[RecordedRequest] = collections.deque(maxlen=limit)

    def add(self, item: RecordedRequest) -> None:
        self._items.append(item)

    def clear(self) -> None:
        self._items.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self._items]


class PromptCache:
    """Anthropic prompt caching as a client sees it: the first request with a given cached prefix
    writes it (cache_creation_input_tokens), later ones read it (cache_read_input_tokens)."""

    def __init__(self, limit: int = 4096) -> None:
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._limit = limit

    def lookup(self, prefix_key: bytes) -> bool:
        """True when the prefix was cached already; records it either way."""
        if prefix_key in self._seen:
            self._seen.move_to_end(prefix_key)
            return True
        self._seen[prefix_key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return False


class ResponseStore:
    """Stored responses (``store`` is true by default), bounded, oldest dropped first."""

    def __init__(self, limit: int = 1000) -> None:
        self._items: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._limit = limit

    def put(self, response: dict[str, Any], items: list[Any]) -> None:
        self._items[response["id"]] = {"response": response, "items": items}
        if len(self._items) > self._limit:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> dict[str, Any] | None:
        return self._items.get(response_id)

    def delete(self, response_id: str) -> bool:
        return self._items.pop(response_id, None) is not None


class FakeState:
    """Everything one fake-provider app holds between requests (no module-level state)."""

    def __init__(self, options: FakeOptions) -> None:
        self.options = options
        self.recorder = Recorder(options.record_limit)
        self.prompt_cache = PromptCache()
        self.responses = ResponseStore()
        self.rng = random.Random(options.seed)
        self.queued_failures: collections.deque[int] = collections.deque()
        self._counter = 0

    def next_id(self, prefix: str, body: bytes) -> str:
        self._counter += 1
        digest = hashlib.sha256(body + self._counter.to_bytes(8, "little")).hexdigest()
        return prefix + digest[:24]


STATE_KEY = web.AppKey("fastgw_fake_state", FakeState)
_CONTROL_KEY = "fastgw_fake_control"


def state_of(request: web.Request) -> FakeState:
    return request.app[STATE_KEY]


def set_control(request: web.Request, control: Control) -> None:
    request[_CONTROL_KEY] = control


def control_of(request: web.Request) -> Control:
    return cast(Control, request[_CONTROL_KEY])


def parse_object(body: bytes, dialect: Dialect) -> dict[str, Any] | web.Response:
    """The request body as a JSON object, or the provider's 400 answer."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error_response(dialect, 400, f"request body is not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        return error_response(dialect, 400, "request body must be a JSON object")
    return parsed
