"""extAuthz: ask an external service whether a request may proceed (Envoy's ext_authz HTTP
service contract, agentgateway's `protocol: {http: {...}}`).

The check is the client's request line (method; path, or the `path` expression) with the
configured request headers (`includeRequestHeaders`, default `authorization`) and the
`addRequestHeaders` values, and the body when `includeRequestBody` asks for it, sent through the
worker's upstream pool. A 2xx answer allows: the headers named in `includeResponseHeaders` are
copied onto the request, and `metadata` (CEL over the check's `response`) becomes `extauthz.*`.
Any other answer denies with the service's status, body and content type (or a redirect, with
`redirect`). A service that cannot be reached or does not answer in time is `failureMode`: deny
(403, the default), `{denyWithStatus: N}`, or allow. Allowed decisions may be cached by a CEL key.
The service's answer headers are never logged; the check request carries the client's
credentials only when the config names them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from fastgw.cel import NO_VALUE, Expression, vars_of
from fastgw.config.upstream import origin as upstream_origin
from fastgw.config.upstream import split_host_port
from fastgw.errors import DENIED, GatewayError, PayloadTooLarge
from fastgw.http.headers import Headers
from fastgw.policies.body import buffer_body
from fastgw.policies.denial import forbidden
from fastgw.policies.kind import PolicyKind, Site
from fastgw.policies.transformations import compile_expression, value_bytes
from fastgw.upstream.client import request_head, send
from fastgw.upstream.connection import Exchange
from fastgw.upstream.origin import Origin

if TYPE_CHECKING:
    from fastgw.config.schema_policies import ExtAuthz as ExtAuthzSpec
    from fastgw.context import RequestContext

__all__ = ["ExtAuthz", "build"]

TIMEOUT: Final = 2.0
MAX_ANSWER: Final = 64 * 1024
_CACHE_DEFAULT: Final = 1024
_BAD_FIELD: Final = frozenset(b"\r\n\0")


class _Collect(Exchange):
    """The check's answer, whole (bounded: a larger body is cut at MAX_ANSWER)."""

    __slots__ = ("body", "headers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.headers: Headers = []
        self.body = bytearray()

    def on_head(self, status: int, headers: Headers) -> None:
        self.headers = headers

    def on_body(self, chunk: bytes) -> None:
        room = MAX_ANSWER - len(self.body)
        if room > 0:
            self.body += chunk[:room]


@dataclass(slots=True)
class ExtAuthz:
    name = "extAuthz"
    origin: Origin
    host: bytes
    include: frozenset[bytes]
    add: tuple[tuple[bytes, Expression], ...]
    path: Expression | None
    copy: frozenset[bytes]
    metadata: tuple[tuple[str, Expression], ...]
    redirect: Expression | None
    failure: int | None  # None: allow; else the status denied with
    body_limit: int | None  # None: no body sent
    partial: bool
    cache_key: tuple[Expression, ...]
    cache_ttl: Expression | None
    cache_max: int
    timeout: float = TIMEOUT
    llm: bool = False
    _cache: dict[tuple[Any, ...], tuple[float, Headers, dict[str, Any]]] = field(default_factory=dict)

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        key = self._key(ctx)
        if key is not None:
            hit = self._cache.get(key)
            if hit is not None:
                expires, copied, meta = hit
                if time.monotonic() < expires:
                    self._allow(ctx, copied, meta)
                    return None
                del self._cache[key]
        return self._check(ctx, key)

    def _key(self, ctx: RequestContext) -> tuple[Any, ...] | None:
        if not self.cache_key:
            return None
        v = vars_of(ctx)
        values = tuple(e.eval(v) for e in self.cache_key)
        if any(x is NO_VALUE or isinstance(x, list | dict) for x in values):
            return None
        return values

    async def _check(self, ctx: RequestContext, key: tuple[Any, ...] | None) -> None:
        req = ctx.request
        v = vars_of(ctx)
        body = b""
        if self.body_limit is not None:
            whole = await buffer_body(ctx)
            if len(whole) > self.body_limit and not self.partial:
                raise PayloadTooLarge(f"request body exceeds the {self.body_limit} bytes ext_authz may see")
            body = whole[: self.body_limit]
        target = req.path + (b"?" + req.query if req.query else b"")
        if self.path is not None:
            value = value_bytes(self.path.eval(v))
            if value is not None and value.startswith(b"/") and _BAD_FIELD.isdisjoint(value) and b" " not in value:
                target = value
        headers: Headers = [(b"host", self.host)]
        headers += [(n, val) for n, val in req.headers if n in self.include]
        for name, expr in self.add:
            value = value_bytes(expr.eval(v))
            if value is not None and _BAD_FIELD.isdisjoint(value):
                headers.append((name, value))
        headers.append((b"content-length", str(len(body)).encode()))
        ex = _Collect(ctx.worker.loop)
        try:
            async with asyncio.timeout(self.timeout):
                await send(ctx.worker.pool, self.origin, request_head(req.method, target, headers), body, ex, None)
        except (GatewayError, TimeoutError, OSError):
            if self.failure is None:
                return  # failureMode: allow
            raise forbidden(ctx, self.llm, "authorization service unavailable", self.failure) from None
        if 200 <= ex.status < 300:
            copied = [(n, val) for n, val in ex.headers if n in self.copy]
            meta = self._metadata(ctx, ex)
            self._allow(ctx, copied, meta)
            if key is not None:
                self._remember(ctx, key, copied, meta)
            return
        self._deny(ctx, ex)

    def _metadata(self, ctx: RequestContext, ex: _Collect) -> dict[str, Any]:
        if not self.metadata:
            return {}
        v = vars_of(ctx)
        # the expressions read the check's answer as `response`
        v.set("response", {"code": ex.status, "headers": _header_map(ex.headers)})
        try:
            return {k: val for k, e in self.metadata if (val := e.eval(v)) is not NO_VALUE}
        finally:
            v.changed("response")

    def _allow(self, ctx: RequestContext, copied: Headers, meta: dict[str, Any]) -> None:
        req = ctx.request
        if copied:
            names = {n for n, _ in copied}
            req.headers = [(n, val) for n, val in req.headers if n not in names] + copied
        v = vars_of(ctx)
        if meta:
            v.set("extauthz", meta)
        if copied:
            v.changed("request")

    def _deny(self, ctx: RequestContext, ex: _Collect) -> None:
        ctx.reason = DENIED
        if self.redirect is not None:
            location = value_bytes(self.redirect.eval(vars_of(ctx)))
            if location is not None and _BAD_FIELD.isdisjoint(location):
                ctx.respond(302, [(b"location", location)], b"")
                return
        ctype = next((val for n, val in ex.headers if n == b"content-type"), b"text/plain")
        ctx.respond(ex.status if 300 <= ex.status <= 599 else 403, [(b"content-type", ctype)], bytes(ex.body))

    def _remember(self, ctx: RequestContext, key: tuple[Any, ...], copied: Headers, meta: dict[str, Any]) -> None:
        ttl = 0.0
        if self.cache_ttl is not None:
            value = self.cache_ttl.eval(vars_of(ctx))
            if isinstance(value, timedelta):
                ttl = value.total_seconds()
            elif isinstance(value, int | float) and not isinstance(value, bool):
                ttl = float(value)
        if ttl <= 0:
            return
        cache = self._cache
        if len(cache) >= self.cache_max:
            del cache[next(iter(cache))]
        cache[key] = (time.monotonic() + ttl, copied, meta)


def _header_map(headers: Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, val in headers:
        name = n.decode("latin-1")
        text = val.decode("utf-8", "replace")
        out[name] = f"{out[name]},{text}" if name in out else text
    return out


def build(spec: ExtAuthzSpec, site: Site) -> ExtAuthz | None:
    path, errors = site.path, site.errors
    llm = site.llm
    if spec.host is None:
        errors.append(f"{path}.backend: not supported yet: named backends (use host)")
        return None
    protocol = spec.protocol
    if protocol is None or protocol.http is None:
        errors.append(f"{path}.protocol: not supported yet: gRPC ext_authz (use protocol: {{http: {{}}}})")
        return None
    timeout = TIMEOUT
    if spec.policies is not None:
        pol = spec.policies
        if (
            pol.http is not None
            and pol.http.request_timeout is not None
            and not any(
                getattr(pol, k) is not None
                for k in ("request_header_modifier", "transformations", "backend_tls", "backend_auth", "tcp")
            )
        ):
            timeout = pol.http.request_timeout
        else:
            errors.append(
                f"{path}.policies: not supported yet: ext_authz transport policies (only http.requestTimeout)"
            )
    http = protocol.http
    origin = upstream_origin(*split_host_port(spec.host), None)
    add = []
    for name, src in http.add_request_headers.items():
        expr = compile_expression(src, f"{path}.protocol.http.addRequestHeaders.{name}", errors)
        if expr is not None:
            add.append((name.lower().encode(), expr))
    metadata = []
    for name, src in http.metadata.items():
        expr = compile_expression(src, f"{path}.protocol.http.metadata.{name}", errors)
        if expr is not None:
            metadata.append((name, expr))
    fm = spec.failure_mode
    failure: int | None = 403 if fm == "deny" else None if fm == "allow" else fm.deny_with_status
    body = spec.include_request_body
    cache = spec.cache
    cache_key: list[Expression] = []
    cache_ttl = None
    if cache is not None:
        for i, src in enumerate(cache.key):
            expr = compile_expression(src, f"{path}.cache.key[{i}]", errors)
            if expr is not None:
                cache_key.append(expr)
        cache_ttl = compile_expression(cache.ttl or 'duration("60s")', f"{path}.cache.ttl", errors)
    include = spec.include_request_headers or ["authorization"]
    return ExtAuthz(
        origin=origin,
        host=origin.authority.encode(),
        include=frozenset(h.lower().encode() for h in include),
        add=tuple(add),
        path=compile_expression(http.path, f"{path}.protocol.http.path", errors) if http.path else None,
        copy=frozenset(h.lower().encode() for h in http.include_response_headers),
        metadata=tuple(metadata),
        redirect=compile_expression(http.redirect, f"{path}.protocol.http.redirect", errors) if http.redirect else None,
        failure=failure,
        body_limit=body.max_request_bytes if body is not None else None,
        partial=body.allow_partial_message if body is not None else False,
        cache_key=tuple(cache_key),
        cache_ttl=cache_ttl,
        cache_max=(cache.max_entries or _CACHE_DEFAULT) if cache is not None else _CACHE_DEFAULT,
        timeout=timeout,
        llm=llm,
    )


KIND: Final[PolicyKind[ExtAuthzSpec]] = PolicyKind(
    "extAuthz", lambda p: p.ext_authz, build, listener=lambda p: p.ext_authz
)
