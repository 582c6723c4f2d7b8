"""urlRewrite: change the path (prefix or full) and the authority sent upstream."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
