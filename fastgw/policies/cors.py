"""CORS (Fetch standard): answer preflights here, add CORS headers to allowed responses.

Everything that can be is computed at build time (Starlette's approach); per request we only
compare the Origin and copy prebuilt header pairs.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec

from fastgw.errors import CORS_RESPONSE
from fastgw.http.headers import Headers
from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import Cors as CorsSpec
    from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class Cors:
    name = "cors"
    any_origin: bool
    origins: frozenset[bytes]
    allow_methods: bytes | None
    any_method: bool
    allow_headers: bytes | None
    any_header: bool
    expose_headers: bytes | None
    allow_credentials: bool
    max_age: bytes | None

    @classmethod
    def of(cls, spec: CorsSpec) -> Cors:
        origins, methods, headers = spec.allow_origins, spec.allow_methods, spec.allow_headers
        max_age = spec.max_age
        return cls(
            any_origin="*" in origins,
            origins=frozenset(o.encode() for o in origins if o != "*"),
            allow_methods=", ".join(m for m in methods if m != "*").encode() or None,
            any_method="*" in methods,
            allow_headers=", ".join(h for h in headers if h != "*").encode() or None,
            any_header="*" in headers,
            expose_headers=", ".join(spec.expose_headers).encode() or None,
            allow_credentials=spec.allow_credentials,
            max_age=str(int(max_age)).encode() if max_age is not None else None,
        )

    def _allowed(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def _origin_value(self, origin: bytes) -> bytes:
        # with credentials the literal "*" is not allowed by browsers: echo the origin
        return b"*" if self.any_origin and not self.allow_credentials else origin

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        req = ctx.request
        origin = req.header(b"origin")
        if origin is None:
            return None
        if not self._allowed(origin):
            # not allowed: preflights are answered without CORS headers and never forwarded
            if req.method == b"OPTIONS" and req.header(b"access-control-request-method") is not None:
                ctx.reason = CORS_RESPONSE
                ctx.respond(200, [], b"")
            return None
        if req.method == b"OPTIONS" and req.header(b"access-control-request-method") is not None:
            ctx.reason = CORS_RESPONSE
            ctx.respond(200, self._preflight(origin, req.header(b"access-control-request-headers")), b"")
            return None
        extra: Headers = [(b"access-control-allow-origin", self._origin_value(origin))]
        if self.allow_credentials:
            extra.append((b"access-control-allow-credentials", b"true"))
        if self.expose_headers is not None:
            extra.append((b"access-control-expose-headers", self.expose_headers))
        if not self.any_origin or self.allow_credentials:
            extra.append((b"vary", b"Origin"))
        ctx.add_response_headers(extra)
        return None

    def _preflight(self, origin: bytes, requested_headers: bytes | None) -> Headers:
        out: Headers = [(b"access-control-allow-origin", self._origin_value(origin))]
        if self.any_method:
            out.append((b"access-control-allow-methods", b"*"))
        elif self.allow_methods is not None:
            out.append((b"access-control-allow-methods", self.allow_methods))
        if self.any_header:
            out.append((b"access-control-allow-headers", requested_headers or b"*"))
        elif self.allow_headers is not None:
            out.append((b"access-control-allow-headers", self.allow_headers))
        if self.allow_credentials:
            out.append((b"access-control-allow-credentials", b"true"))
        if self.max_age is not None:
            out.append((b"access-control-max-age", self.max_age))
        if not self.any_origin or self.allow_credentials:
            out.append((b"vary", b"Origin"))
        return out


#: request fields a browser MCP client sends (MCP Inspector): allowed on MCP routes
MCP_HEADERS: Final = ("mcp-session-id", "mcp-protocol-version", "last-event-id")


def build(spec: CorsSpec, site: Site) -> Cors:
    if site.mcp:
        # the session id must be sent and read by browser clients, whatever the policy lists
        allow = [*spec.allow_headers, *(h for h in MCP_HEADERS if h not in {a.lower() for a in spec.allow_headers})]
        expose = list(spec.expose_headers)
        if "mcp-session-id" not in {e.lower() for e in expose}:
            expose.append("mcp-session-id")
        spec = msgspec.structs.replace(spec, allow_headers=allow, expose_headers=expose)
    return Cors.of(spec)


KIND: Final[PolicyKind[CorsSpec]] = PolicyKind("cors", lambda p: p.cors, build, listener=lambda p: p.cors)
