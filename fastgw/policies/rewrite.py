"""urlRewrite: change the path (prefix or full) and the authority sent upstream."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fastgw.policies.kind import PolicyKind, Site

if TYPE_CHECKING:
    from fastgw.config.schema_policies import UrlRewrite as UrlRewriteSpec
    from fastgw.context import RequestContext


@dataclass(frozen=True, slots=True)
class UrlRewrite:
    name = "urlRewrite"
    prefix: bytes | None = None
    full: bytes | None = None
    authority: bytes | None = None  # a full "host[:port]" replacement
    keep_authority: bool = False  # `authority: none`
    port: bytes | None = None  # `authority: {port: N}`: the client's host with another port

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None:
        if self.full is not None:
            ctx.path = self.full
        elif self.prefix is not None and ctx.matched_prefix is not None:
            ctx.path = rewrite_prefix(ctx.path, ctx.matched_prefix, self.prefix)
        if self.authority is not None:
            ctx.upstream_authority = self.authority
        elif self.port is not None:
            ctx.upstream_authority = ctx.request.host_name + b":" + self.port
        elif self.keep_authority:
            ctx.upstream_authority = ctx.request.host
        return None


def rewrite_prefix(path: bytes, matched: bytes, replacement: bytes) -> bytes:
    """Replace the matched path prefix; the result always starts with '/'."""
    m = matched.rstrip(b"/")
    if not path.startswith(m):
        return path
    rest = path[len(m) :]
    new = replacement.rstrip(b"/") + rest if rest else (replacement or b"/")
    if not new.startswith(b"/"):
        new = b"/" + new
    return new


def build(spec: UrlRewriteSpec, site: Site) -> UrlRewrite:
    prefix = full = authority = port = None
    keep = False
    if spec.path is not None:
        if spec.path.full is not None:
            full = spec.path.full.encode()
        elif spec.path.prefix is not None:
            prefix = spec.path.prefix.encode()
    a = spec.authority
    if a == "none":
        keep = True
    elif a is not None and a != "auto":
        if a.full is not None:
            authority = a.full.encode()
        elif a.host is not None:
            authority = a.host.encode()
        elif a.port is not None:
            port = str(a.port).encode()
    return UrlRewrite(prefix=prefix, full=full, authority=authority, keep_authority=keep, port=port)


KIND: Final[PolicyKind[UrlRewriteSpec]] = PolicyKind("urlRewrite", lambda p: p.url_rewrite, build)
