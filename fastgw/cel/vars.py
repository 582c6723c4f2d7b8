"""The variables a request's expressions read, built lazily (agentgateway's names, schema/cel.md).

`Vars` is made on a request's first evaluation and kept on its context (`vars_of`). Each root
(`request`, `source`, `jwt`, `apiKey`, `basicAuth`, `extauthz`, `metadata`, `llm`, `response`,
`backend`) is a small view over the request that computes a field only when an expression reads
it: a rule on `request.method` never builds a header map, never parses a body. Authentication
policies set `jwt`, `apiKey`, `basicAuth` and `extauthz` as plain dicts once they have verified
something. The engine (for what fastgw's evaluator does not cover) gets plain values converted
from these views, only for the roots and `request` parts its expressions read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import cel
import orjson

from fastgw.cel.functions import FUNCTIONS

if TYPE_CHECKING:
    from fastgw.context import RequestContext
    from fastgw.http.request import Request

__all__ = ["ROOTS", "LazyMap", "Vars", "vars_of"]

#: the variable names agentgateway defines (what an expression may read)
ROOTS = frozenset(
    {
        "request",
        "response",
        "source",
        "jwt",
        "apiKey",
        "basicAuth",
        "extauthz",
        "llm",
        "backend",
        "metadata",
        "mcp",
        "llmRequest",
    }
)
# roots an authentication or transformation policy fills; absent, they are empty maps, so that
# `jwt.sub` on a request without a token is "no value" and `has(jwt.sub)` is false
_SET_ROOTS = frozenset({"jwt", "apiKey", "basicAuth", "extauthz", "metadata", "mcp", "llmRequest"})
_MISSING = object()
_FUNCTIONS = dict(FUNCTIONS)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


class LazyMap:
    """A CEL map whose values are computed on first read. Subclasses define `keys()` and
    `compute(key)` (returning `_MISSING` for an absent key)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def keys(self) -> Iterator[str]:
        raise NotImplementedError

    def compute(self, key: str) -> Any:
        raise NotImplementedError

    def get(self, key: str, default: Any = None) -> Any:
        cache = self._cache
        if key in cache:
            value = cache[key]
        else:
            value = cache[key] = self.compute(key)
        return default if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def __len__(self) -> int:
        return sum(1 for k in self.keys() if k in self)

    def plain(self, parts: frozenset[str] | None = None) -> dict[str, Any]:
        """The engine's form: a dict of plain values (only `parts`, when given)."""
        out: dict[str, Any] = {}
        for k in self.keys():
            if parts is not None and k not in parts:
                continue
            v = self.get(k, _MISSING)
            if v is not _MISSING:
                out[k] = plain(v)
        return out


def plain(value: Any) -> Any:
    if isinstance(value, LazyMap):
        return value.plain()
    return value


class HeaderMap(LazyMap):
    """`request.headers` / `response.headers`: lowercase names; repeated fields joined with ","
    (RFC 9110 §5.3)."""

    __slots__ = ("_headers",)

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__()
        self._headers = headers

    def keys(self) -> Iterator[str]:
        seen: set[bytes] = set()
        for n, _ in self._headers:
            if n not in seen:
                seen.add(n)
                yield _text(n)

    def compute(self, key: str) -> Any:
        return header_value(self._headers, key.lower().encode("utf-8", "replace"))


def header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> Any:
    """The field `name` (lowercase) as CEL sees it, or MISSING."""
    found: bytes | None = None
    more: list[bytes] | None = None
    for n, v in headers:
        if n == name:
            if found is None:
                found = v
            elif more is None:
                more = [found, v]
            else:
                more.append(v)
    if found is None:
        return _MISSING
    return _text(found) if more is None else ",".join(_text(v) for v in more)


class RequestMap(LazyMap):
    __slots__ = ("_ctx",)
    _KEYS = ("method", "path", "host", "scheme", "uri", "pathAndQuery", "version", "headers", "body")

    def __init__(self, ctx: RequestContext) -> None:
        super().__init__()
        self._ctx = ctx

    def keys(self) -> Iterator[str]:
        return iter(self._KEYS)

    def get(self, key: str, default: Any = None) -> Any:
        cache = self._cache
        if key in cache:
            return cache[key]
        if key == "body":  # not kept: read once the policy that needs it has buffered it
            body = self._ctx.body_bytes
            return default if body is None else body
        make = REQUEST_FIELDS.get(key)
        if make is None:
            return default
        value = cache[key] = make(self._ctx.request)
        return value

    def compute(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        return value


def _query(req: Request) -> bytes:
    return b"?" + req.query if req.query else b""


REQUEST_FIELDS: Mapping[str, Callable[[Request], Any]] = MappingProxyType(
    {
        "method": lambda req: req.method.decode("latin-1"),
        "path": lambda req: _text(req.path),
        "host": lambda req: _text(req.host),
        "scheme": lambda req: "http",
        "headers": lambda req: HeaderMap(req.headers),
        "pathAndQuery": lambda req: _text(req.path + _query(req)),
        "uri": lambda req: "http://" + _text(req.host + req.path + _query(req)),
        "version": lambda req: "HTTP/" + req.version.decode("latin-1"),
    }
)


def _source_address(req: Request) -> Any:
    return req.client_ip.decode("latin-1") if req.client_ip else _MISSING


def _source_port(req: Request) -> Any:
    _, sep, port = req.client.rpartition(":")
    return int(port) if sep and port.isdigit() else _MISSING


SOURCE_FIELDS: Mapping[str, Callable[[Request], Any]] = MappingProxyType(
    {"address": _source_address, "port": _source_port}
)
#: fields read straight off the request (fast.py reads them without making the root's map);
#: a getter returns MISSING for an absent value
DIRECT_FIELDS: Mapping[str, Mapping[str, Callable[[Request], Any]]] = MappingProxyType(
    {"request": REQUEST_FIELDS, "source": SOURCE_FIELDS}
)


class SourceMap(LazyMap):
    __slots__ = ("_ctx",)

    def __init__(self, ctx: RequestContext) -> None:
        super().__init__()
        self._ctx = ctx

    def keys(self) -> Iterator[str]:
        return iter(SOURCE_FIELDS)

    def compute(self, key: str) -> Any:
        getter = SOURCE_FIELDS.get(key)
        return getter(self._ctx.request) if getter is not None else _MISSING


class LlmMap(LazyMap):
    """`llm.*` from what the LLM backend records (ctx.llm, ctx.usage); agentgateway's older
    snake_case names resolve too. Not cached: the answer's fields arrive while the request runs."""

    __slots__ = ("_ctx",)
    _KEYS = (
        "requestModel",
        "responseModel",
        "provider",
        "streaming",
        "inputTokens",
        "outputTokens",
        "totalTokens",
        "cachedInputTokens",
        "cacheCreationInputTokens",
        "reasoningTokens",
        "prompt",
    )
    _ALIASES = {
        "request_model": "requestModel",
        "response_model": "responseModel",
        "input_tokens": "inputTokens",
        "output_tokens": "outputTokens",
        "total_tokens": "totalTokens",
        "cached_input_tokens": "cachedInputTokens",
        "reasoning_tokens": "reasoningTokens",
    }

    def __init__(self, ctx: RequestContext) -> None:
        super().__init__()
        self._ctx = ctx

    def keys(self) -> Iterator[str]:
        return iter(self._KEYS)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.compute(self._ALIASES.get(key, key))
        return default if value is _MISSING else value

    def compute(self, key: str) -> Any:
        ctx = self._ctx
        call = ctx.llm
        usage = ctx.usage
        if key == "requestModel":
            return call.request_model if call is not None and call.request_model else _MISSING
        if key == "responseModel":
            return call.response_model if call is not None and call.response_model else _MISSING
        if key == "provider":
            return call.kind.provider if call is not None else _MISSING
        if key == "streaming":
            return ctx.sse if call is not None else _MISSING
        if usage is not None:
            if key == "inputTokens":
                return usage.input_tokens
            if key == "outputTokens":
                return usage.output_tokens
            if key == "totalTokens":
                return usage.total_tokens
            if key == "cachedInputTokens":
                return usage.cache_read_tokens
            if key == "cacheCreationInputTokens":
                return usage.cache_write_tokens
            if key == "reasoningTokens":
                return usage.reasoning_tokens
        if key == "prompt" and call is not None:
            return _prompt(ctx.body_bytes)
        return _MISSING


def _prompt(body: bytes | None) -> Any:
    """`llm.prompt`: the request's messages as [{role, content}] (from the buffered body)."""
    if body is None:
        return _MISSING
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _MISSING
    if not isinstance(data, dict):
        return _MISSING
    out: list[dict[str, Any]] = []
    system = data.get("system")
    if isinstance(system, str):
        out.append({"role": "system", "content": system})
    for m in data.get("messages") or ():
        if isinstance(m, dict):
            out.append({"role": m.get("role"), "content": m.get("content")})
    return out


class ResponseMap(LazyMap):
    __slots__ = ("_ctx", "headers", "status")

    def __init__(self, ctx: RequestContext) -> None:
        super().__init__()
        self._ctx = ctx
        #: the response's fields and status while its head is being made (a response
        #: transformation), before the writer has them
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.status = 0

    def keys(self) -> Iterator[str]:
        return iter(("code", "headers"))

    def observe(self, status: int, headers: list[tuple[bytes, bytes]] | None) -> None:
        """An upstream answer's head, for the expressions judging it (retry, health), or None
        afterwards; each try's answer is read afresh."""
        self.status, self.headers = status, headers
        self._cache.clear()

    def get(self, key: str, default: Any = None) -> Any:
        value = self.compute(key)
        return default if value is _MISSING else value

    def compute(self, key: str) -> Any:
        if key == "code":
            ctx = self._ctx
            status = ctx.writer.status or self.status or (ctx.error.status if ctx.error is not None else 0)
            return status if status else _MISSING
        if key == "headers" and self.headers is not None:
            return HeaderMap(self.headers)
        return _MISSING


class BackendMap(LazyMap):
    __slots__ = ("_ctx",)

    def __init__(self, ctx: RequestContext) -> None:
        super().__init__()
        self._ctx = ctx

    def keys(self) -> Iterator[str]:
        return iter(("name", "type", "protocol"))

    def get(self, key: str, default: Any = None) -> Any:
        value = self.compute(key)
        return default if value is _MISSING else value

    def compute(self, key: str) -> Any:
        ctx = self._ctx
        if key == "name":
            return ctx.endpoint or _MISSING
        if key == "type":
            return "ai" if ctx.llm is not None else "static"
        if key == "protocol":
            return "llm" if ctx.llm is not None else "http"
        return _MISSING


class Vars:
    """One request's variables (the per-request tier of the expression layer)."""

    __slots__ = ("_engine", "_engine_roots", "_roots", "ctx")

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self._roots: dict[str, Any] = {}
        self._engine: cel.Context | None = None
        self._engine_roots: dict[str, frozenset[str] | None] = {}

    def get(self, name: str) -> Any:
        """The root `name` (its lazy view, or the map a policy set); `_MISSING` when unknown."""
        roots = self._roots
        value = roots.get(name, _MISSING)
        if value is _MISSING:
            value = roots[name] = self._make(name)
        return value

    def _make(self, name: str) -> Any:
        ctx = self.ctx
        if name == "request":
            return RequestMap(ctx)
        if name == "source":
            return SourceMap(ctx)
        if name == "llm":
            return LlmMap(ctx)
        if name == "response":
            return ResponseMap(ctx)
        if name == "backend":
            return BackendMap(ctx)
        if name in _SET_ROOTS:
            return {}
        return _MISSING

    def made(self) -> frozenset[str]:
        """The roots whose views or maps exist so far (what reading the expressions cost)."""
        return frozenset(self._roots)

    def set(self, name: str, value: Mapping[str, Any]) -> None:
        """A policy's result (`jwt` claims, `apiKey` metadata, `extauthz` metadata, ...)."""
        self._roots[name] = value
        self._engine_roots.pop(name, None)

    def changed(self, name: str) -> None:
        """The request (its headers or body) was edited: later reads see the edit."""
        self._roots.pop(name, None)
        self._engine_roots.pop(name, None)

    def is_set(self, name: str) -> bool:
        value = self._roots.get(name)
        return bool(value) and name in _SET_ROOTS

    @property
    def response(self) -> ResponseMap:
        r = self.get("response")
        assert isinstance(r, ResponseMap)
        return r

    def engine_context(self, needs: Mapping[str, frozenset[str] | None]) -> cel.Context:
        """The engine's context with the roots in `needs` converted (the `request` parts named).
        Kept for the request; roots that change while it runs (llm, response) are converted anew."""
        context = self._engine
        if context is None:
            context = self._engine = cel.Context({}, _FUNCTIONS)
        have = self._engine_roots
        for name, parts in needs.items():
            known = have.get(name, _MISSING)
            if known is not _MISSING and name not in ("llm", "response", "backend"):
                if known is None or (parts is not None and parts <= known):  # type: ignore[operator]
                    continue
                if parts is not None:
                    parts = parts | known  # type: ignore[operator]
            value = self.get(name)
            if value is _MISSING:
                continue
            if isinstance(value, LazyMap):
                value = value.plain(parts if name == "request" else None)
            context.add_variable(name, value)
            have[name] = parts if name == "request" else None
        return context


def vars_of(ctx: RequestContext) -> Vars:
    """The request's variables, made on first use and kept on its context."""
    v = ctx.vars
    if v is None:
        v = ctx.vars = Vars(ctx)
    return v


MISSING = _MISSING
